"""The app's own work folder: results and stored attribute layers, named by content, pruned by age."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from durian_core.cache import content_key
from durian_core.media import write_image

OUTPUT_MAX_AGE_S = 3600  # results and stored attribute layers older than this are deleted


class WorkDir:
    """A temp folder of the app's own (results, attribute layers), removed when the process exits.

    One per page: ``build_demo`` makes it and hands it to the handlers that write files. Only paths and the age
    limit are kept, so a handler shipped to another process (ZeroGPU) carries it along."""

    def __init__(self, path: Path | None = None, *, max_age_s: float = OUTPUT_MAX_AGE_S) -> None:
        if path is None:
            path = Path(tempfile.mkdtemp(prefix="durian-app-"))
            atexit.register(shutil.rmtree, path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_age_s = max_age_s

    def prune(self) -> None:
        """Delete old files so a long-running Space does not fill its disk (gradio keeps its own copies)."""
        cutoff = time.time() - self.max_age_s
        for path in self.path.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)

    def new_output(self, suffix: str) -> Path:
        """A fresh, unguessable path for a result (two sessions never share one)."""
        return self.path / f"durian-{uuid.uuid4().hex[:16]}{suffix}"

    def store_png(self, array: np.ndarray) -> str:
        """Write an array under its content hash (the same pixels are stored once), with fast PNG compression:
        these are previews, and a tweak of α waits for them.

        Safe for concurrent sessions storing the same pixels: the file is written under a name of its own and
        renamed into place, so the path holds a complete PNG or nothing; one already there is touched so pruning
        spares it.
        """
        path = self.path / f"{content_key(array)}.png"
        try:
            os.utime(path)
        except FileNotFoundError:
            write_image(array, path, png_compression=1)
        return str(path)
