"""Stopping cleanly when asked to: SIGTERM (what Docker, systemd and a Space's restart send) unwinds the work like
Ctrl-C, so every ``with`` block and ``finally`` runs: temporary files go, no partial result is left behind."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

TERMINATED_STATUS = 128 + signal.SIGTERM
"""The exit status of a process ended by SIGTERM, which is what a supervisor expects back (143)."""


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM). A ``KeyboardInterrupt``, so whatever cleans up after Ctrl-C cleans
    up after this too."""


def _raise_terminated(signum, frame) -> None:
    # Cleanup runs next and should not be cut short by a second SIGTERM: the supervisor's SIGKILL is the last word.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread instead of ending the process on
    the spot; the previous handler comes back afterwards. Elsewhere than in the main thread (where Python cannot
    install handlers) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
