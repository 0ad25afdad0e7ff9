"""Stopping the app: SIGTERM (what Docker, systemd and a Space's restart send) ends it as Ctrl-C does.

By default SIGTERM kills the process where it stands: gradio's server never shuts down (so gradio's cached files
stay) and exit handlers never run (so the app's work folder stays). Handled here, it interrupts the main thread as
Ctrl-C would; once the app has cleaned up, the process ends by SIGTERM after all, so whoever sent it sees the exit
status of a terminated process (143 in a shell).
"""

from __future__ import annotations

import os
import signal
from types import FrameType


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives: a ``KeyboardInterrupt``, so that everything that stops
    cleanly on Ctrl-C (gradio's blocking loop among them) stops the same way."""


class TerminateLikeInterrupt:
    """A ``with`` block inside which SIGTERM raises :class:`Terminated` in the main thread.

    Only the main thread may install signal handlers; elsewhere (a test's worker thread) the block does nothing."""

    def __init__(self) -> None:
        self.received = False
        self._previous: object = None

    def __enter__(self) -> TerminateLikeInterrupt:
        try:
            self._previous = signal.signal(signal.SIGTERM, self._interrupt)
        except ValueError:  # not the main thread
            self._previous = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        raise Terminated()

    def end_if_terminated(self) -> None:
        """After cleaning up: if SIGTERM stopped the app, end the process by it (never returns then)."""
        if not self.received:
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
