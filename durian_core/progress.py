"""Progress in a terminal: a tqdm bar fed by the core's progress callbacks, drawn only when the stream is a terminal
(a pipe or a log file gets nothing)."""

from __future__ import annotations

from typing import TextIO

from tqdm import tqdm

PERCENT = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}"
"""A fraction of the work shows as a percentage and the time left."""
COUNT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}]"
"""A loop over items shows how many are done."""


class TerminalProgress:
    """A progress bar on ``stream`` (a terminal; nothing otherwise).

    Call it as a :data:`~durian_core.types.ProgressCallback` (``fraction`` in [0, 1] and a message) or, for a loop
    over items, call :meth:`item` as each one starts (``index`` of ``total`` and its name; ``unit`` names them). The
    bar ends its line when the work reaches its end, or at :meth:`close` (a ``with`` block closes it, complete when
    the block ran through).
    """

    def __init__(self, stream: TextIO, *, unit: str = "%") -> None:
        self._stream = stream
        self._unit = unit
        self._bar: tqdm | None = None  # drawn from the first report on
        self._closed = False

    def __call__(self, fraction: float, message: str) -> None:
        self._show(round(min(max(fraction, 0.0), 1.0) * 100), 100, message)

    def item(self, index: int, total: int, name: str) -> None:
        """Item ``index`` (from 0) of ``total`` starts."""
        self._show(index, total, name)

    def _show(self, done: int, total: int, message: str) -> None:
        if self._closed:
            return
        if self._bar is None:
            # disable=None: tqdm draws only when the stream is a terminal, so piped output stays clean.
            shape = PERCENT if self._unit == "%" else COUNT
            self._bar = tqdm(
                total=total, file=self._stream, disable=None, unit=self._unit, bar_format=shape, dynamic_ncols=True
            )
        self._bar.total = total
        self._bar.n = done
        self._bar.set_description_str(message, refresh=False)
        self._bar.refresh()
        if done >= total:
            self.close()

    def close(self, *, complete: bool = False) -> None:
        """End the bar's line (``complete``: first show all the work done)."""
        if self._bar is not None and not self._closed:
            if complete and not self._bar.disable:
                self._bar.n = self._bar.total
                self._bar.refresh()
            self._bar.close()
        self._closed = True

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(complete=kind is None)
