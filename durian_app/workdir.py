"""The app's own work folder: results and stored attribute layers, named by content, pruned by age."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from durian_core.cache import content_key
from durian_core.media import write_image

OUTPUT_MAX_AGE_S = 3600  # results and stored attribute layers older than this are deleted

_work_dir: Path | None = None
_work_dir_lock = threading.Lock()


def work_dir() -> Path:
    """The app's own temp folder (results, attribute layers); removed when the process exits."""
    global _work_dir
    with _work_dir_lock:
        if _work_dir is None:
            _work_dir = Path(tempfile.mkdtemp(prefix="durian-app-"))
            atexit.register(shutil.rmtree, _work_dir, ignore_errors=True)
        return _work_dir


def prune_work_dir(max_age_s: float = OUTPUT_MAX_AGE_S) -> None:
    """Delete old files so a long-running Space does not fill its disk (gradio keeps its own copies)."""
    cutoff = time.time() - max_age_s
    for path in work_dir().iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)


def store_png(array: np.ndarray) -> str:
    """Write an array into the work folder under its content hash (the same pixels are stored once), with fast
    PNG compression: these are previews, and a tweak of α waits for them.

    Safe for concurrent sessions storing the same pixels: the file is written under a name of its own and renamed
    into place, so the path holds a complete PNG or nothing; one already there is touched so pruning spares it.
    """
    path = work_dir() / f"{content_key(array)}.png"
    try:
        os.utime(path)
    except FileNotFoundError:
        write_image(array, path, png_compression=1)
    return str(path)
