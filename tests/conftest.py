"""Shared fixtures: real data that packages ship or the repository carries, an output folder to look at, and the
app served in this process. Plain helpers live in ``helpers.py``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import EXAMPLES, ROOT, UPLOAD_LIMIT, carphone_clip, served

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session", autouse=True)
def compiled_matting():
    """The matting kernels compile at their first import in a fresh environment (about a minute): once, up front,
    not inside a test with a timeout of its own."""
    from durian_core.face.matting import warm_up

    warm_up()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    """``test-output/`` at the repository root (or ``$DURIAN_TEST_OUTPUT``): pictures a person should look at."""
    path = Path(os.environ.get("DURIAN_TEST_OUTPUT", ROOT / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def carphone_path() -> Path:
    return carphone_clip()


@pytest.fixture(scope="session")
def carphone(carphone_path):
    from durian_core.media import load_video

    return load_video(carphone_path)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def _example(name: str) -> np.ndarray:
    from durian_core.media import load_image

    return load_image(EXAMPLES / name).rgb


@pytest.fixture(scope="session")
def obama() -> np.ndarray:
    return _example("portraits/obama.jpg")


@pytest.fixture(scope="session")
def biden() -> np.ndarray:
    return _example("portraits/biden.jpg")


@pytest.fixture(scope="session")
def example_attributes() -> dict[str, np.ndarray]:
    """One example attribute image per kind."""
    return {
        "hair": _example("portraits/biden.jpg"),
        "glasses": _example("attributes/glasses_obama.png"),
        "makeup": _example("attributes/makeup_biden.png"),
        "beard": _example("attributes/beard_biden.png"),
        "hat": _example("attributes/hat_obama.png"),
    }


@pytest.fixture(scope="module")
def single_thread():
    """Run a module's tiny models on one thread: several threads on a shared 2-core runner spin against each other
    (the durian tests took 174 s on two threads and 16 s on one)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def no_face_image() -> np.ndarray:
    """A smooth colour gradient: image-like, but with no face."""
    y, x = np.mgrid[0:256, 0:256]
    return np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8)


@dataclass(frozen=True)
class Served:
    """The app a test module talks to: its URL, and the built app (its settings, work folder and Live)."""

    url: str
    app: Any  # durian_app.demo.App


@pytest.fixture(scope="module")
def app_server():
    """The app, built with its default settings but a small upload limit and launched in this process on a free
    port, once per module."""
    from durian_app.demo import build_app
    from durian_app.settings import AppSettings

    app = build_app(AppSettings(max_upload_bytes=UPLOAD_LIMIT))
    with served(app) as url:
        yield Served(url, app)


def pytest_collection_modifyitems(config, items):
    """Skip ``gpu`` tests where CUDA is missing (CI never has it)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
