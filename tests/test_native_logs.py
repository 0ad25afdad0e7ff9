"""MediaPipe's start-up chatter stays off a long-running process's terminal; errors and Python's messages do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from helpers import ROOT

SCRIPT = textwrap.dedent(
    """
    import os, sys
    {install}
    from skimage import data
    from durian_core.face.landmarks import detect_landmarks
    detect_landmarks(data.astronaut())
    os.write(2, b"E0000 00:00:1.0 1 calculator.cc:1] a native error\\n")
    print("a Python message", file=sys.stderr)
    """
)


def stderr_of(install: str) -> str:
    code = SCRIPT.format(install=install)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr


def test_mediapipe_start_up_lines_are_dropped_and_errors_kept():
    unfiltered = stderr_of("")
    assert "inference_feedback_manager" in unfiltered, "MediaPipe no longer logs at start-up: nothing to filter"

    filtered = stderr_of("from durian_core.native_logs import filter_native_logs; filter_native_logs()")
    for chatter in ("XNNPACK delegate", "absl::InitializeLog", "inference_feedback_manager", "W0000"):
        assert chatter not in filtered, filtered
    assert "a native error" in filtered, "native errors still reach the terminal"
    assert "a Python message" in filtered
