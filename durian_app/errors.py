"""How the core's input errors reach the page: as ``gr.Error`` messages, never a traceback."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator
from typing import Any

import gradio as gr


def user_errors(handler: Callable) -> Callable:
    """Show the core's input errors (``ValueError``s with a message for people) as ``gr.Error`` on the page."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def generator_wrapper(*args: Any, **kwargs: Any) -> Generator:
            try:
                return (yield from handler(*args, **kwargs))
            except gr.Error:
                raise  # already worded for the page (and itself a ValueError)
            except ValueError as exc:
                raise gr.Error(str(exc)) from exc

        return generator_wrapper

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except gr.Error:
            raise  # already worded for the page (and itself a ValueError)
        except ValueError as exc:
            raise gr.Error(str(exc)) from exc

    return wrapper
