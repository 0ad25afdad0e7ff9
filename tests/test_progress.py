"""Terminal progress: a bar with the current step on a terminal, nothing in a pipe or a log file."""

from __future__ import annotations

import io

from durian_core.progress import TerminalProgress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_shows_the_percentage_and_the_step():
    stream = FakeTerminal()
    progress = TerminalProgress(stream)
    progress(0.0, "tracking the driver's face")
    progress(0.42, "animating frame 50 of 119")
    shown = stream.getvalue()
    assert "tracking the driver's face" in shown
    assert "42%" in shown and "animating frame 50 of 119" in shown
    progress(1.0, "done")
    assert "100%" in stream.getvalue() and stream.getvalue().endswith("\n")  # the bar ends its line when done


def test_items_are_counted_and_the_bar_closes_after_the_loop():
    stream = FakeTerminal()
    with TerminalProgress(stream, unit="video") as progress:
        for index, name in enumerate(["a.mp4", "b.mp4"]):
            progress.item(index, 2, name)
        assert "1/2" in stream.getvalue() and "b.mp4" in stream.getvalue()
    written = stream.getvalue()
    assert "2/2" in written and written.endswith("\n")  # the loop ran through: all done, the line ended
    progress.item(0, 2, "after the end")
    assert stream.getvalue() == written


def test_a_pipe_gets_nothing():
    stream = io.StringIO()
    progress = TerminalProgress(stream)
    progress(0.5, "animating")
    progress(1.0, "done")
    assert stream.getvalue() == ""
