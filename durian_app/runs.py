"""Generations that the page can stop: the core works in a thread while the handler keeps yielding progress."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import TypeVar

from durian_app.memory import release_free_memory
from durian_core.types import ProgressCallback

T = TypeVar("T")
STOP_POLL_S = 0.25  # how often a running generation checks whether the page stopped it


class GenerationStopped(Exception):
    """Raised inside the core's progress callback once the page has stopped the generation."""


def run_stoppable(
    work: Callable[[ProgressCallback], T],
    *,
    progress: Callable[..., object],
    show: Callable[[float, str], tuple],
    unchanged: tuple,
) -> Generator:
    """Run ``work(report)`` in a thread and return its result; meanwhile yield ``show(fraction, message)`` for each
    new progress report, and ``unchanged`` (outputs left as they are) in between.

    gradio stops a generator between two yields (the Stop button, a closed tab); closing this one makes the core's
    next progress report raise, so the work itself ends too instead of running on unseen.
    """
    stopped = threading.Event()
    outcome: queue.Queue = queue.Queue(maxsize=1)
    latest = [(0.0, "starting")]  # written by the worker, read here (item assignment is atomic)

    def report(fraction: float, message: str) -> None:
        if stopped.is_set():
            raise GenerationStopped(message)
        latest[0] = (fraction, message)
        progress(fraction, desc=message)

    def target() -> None:
        try:
            outcome.put((True, work(report)))
        except Exception as exc:  # handed to the handler's thread, which raises it there
            outcome.put((False, exc))
        finally:
            release_free_memory()  # what the generation freed, back to the system rather than kept by the allocator

    threading.Thread(target=target, name="durian-generate", daemon=True).start()
    shown = None
    try:
        while True:
            try:
                succeeded, value = outcome.get(timeout=STOP_POLL_S)
            except queue.Empty:
                current = latest[0]
                yield show(*current) if current != shown else unchanged
                shown = current
                continue
            if not succeeded:
                raise value
            return value
    finally:
        stopped.set()
