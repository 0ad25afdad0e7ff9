"""MediaPipe graphs shared by every thread: a small pool per kind, each graph used by one call at a time.

A graph is not thread-safe, and one that is dropped without ``close()`` never frees its memory (about 40 MB for a
face mesh, a face detector and a person segmenter together). The app runs handlers on dozens of worker threads and
every generation on a thread of its own, so graphs kept per thread grew with every thread that ever ran. A pool
lends an idle graph to a call, makes one when all are busy, and closes those beyond ``keep`` when they come back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, Protocol, TypeVar


class Graph(Protocol):
    def close(self) -> None: ...


G = TypeVar("G", bound=Graph)


class GraphPool(Generic[G]):
    """Graphs made by ``make``, lent one call at a time; at most ``keep`` wait idle between calls."""

    def __init__(self, make: Callable[[], G], *, keep: int = 4) -> None:
        if keep < 0:
            raise ValueError(f"keep must be at least 0, got {keep}")
        self.make = make
        self.keep = keep
        self._idle: list[G] = []
        self._lock = threading.Lock()

    @contextmanager
    def checkout(self) -> Iterator[G]:
        """A graph for this call alone, given back (or closed) when the ``with`` block ends. One that raised is
        closed rather than lent again: its state is unknown."""
        with self._lock:
            graph = self._idle.pop() if self._idle else None
        if graph is None:
            graph = self.make()
        try:
            yield graph
        except BaseException:
            graph.close()
            raise
        with self._lock:
            if len(self._idle) < self.keep:
                self._idle.append(graph)
                return
        graph.close()

    def idle(self) -> int:
        """Graphs waiting for a call now."""
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        """Close every idle graph (the next call makes a new one)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for graph in idle:
            graph.close()
