"""Native libraries' start-up chatter kept off a long-running process's terminal.

MediaPipe (0.10.x) and TensorFlow Lite log from C++ straight to file descriptor 2: "Created TensorFlow Lite XNNPACK
delegate", absl's "All log messages before absl::InitializeLog()" and ``W0000 …]`` warnings, again for every face
tracker a session opens. absl's logger is not initialised by MediaPipe and ignores ``GLOG_minloglevel`` and
``TF_CPP_MIN_LOG_LEVEL``, and nothing Python can call reaches it, so the lines are filtered where they are
written: fd 2 becomes a pipe read by a thread that passes on everything but those informational lines (errors
included), while Python's own ``sys.stderr`` keeps writing to the terminal directly.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading

# absl/glog informational and warning lines ("I0000 00:00:1796664951.356609 9911 file.cc:114] ..."), and the two
# messages TensorFlow Lite and absl print once when the first graph starts. Errors (E…, F…) pass.
NATIVE_CHATTER = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+ +\d+ [\w.\-/]+:\d+\] "
    rb"|INFO: Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called)"
)


def filter_native_logs() -> threading.Thread:
    """Drop native libraries' informational lines from file descriptor 2 for the rest of the process; call once,
    at start, before the libraries load. Returns the thread that passes the other lines on."""
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    # Python's messages (tracebacks among them) go to the terminal itself: they never wait on the thread.
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = os.fdopen(os.dup(terminal), "w", buffering=1, encoding=encoding, errors="backslashreplace")
    thread = threading.Thread(target=_pass_on, args=(read_end, terminal), name="native-log-filter", daemon=True)
    thread.start()
    atexit.register(_restore, terminal, thread)
    return thread


def _restore(terminal: int, thread: threading.Thread) -> None:
    """At exit: fd 2 back to the terminal, which closes the pipe, and the lines still in it passed on."""
    os.dup2(terminal, 2)
    thread.join(timeout=5)


def _pass_on(read_end: int, terminal: int) -> None:
    with os.fdopen(read_end, "rb") as lines:
        for line in lines:
            if not NATIVE_CHATTER.match(line):
                os.write(terminal, line)


@contextlib.contextmanager
def native_logs_silenced(enabled: bool):
    """For a command that ends: send file descriptor 2 to /dev/null while the work runs (``enabled``); yields a
    stream to the real standard error.

    MediaPipe's and TensorFlow Lite's C++ code log start-up chatter straight to fd 2, which would bury the one
    ``error:`` line a user needs. Python's own messages are written after fd 2 is restored; progress goes to the
    yielded stream meanwhile.
    """
    if not enabled:
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    stream = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield stream
    finally:
        stream.close()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
