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


def make_work_folder(parent: str | Path | None = None) -> Path:
    """A new folder of the app's own inside ``parent`` (made if missing; None: the system's temporary folder).

    Raises ``ValueError`` naming the folder and why when it cannot be made or written to: the app checks this
    before it serves, rather than failing on a user's first upload."""
    base = Path(tempfile.gettempdir() if parent is None else parent)
    try:
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="durian-app-", dir=base))
    except OSError as error:
        raise ValueError(f"cannot make the app's work folder in {base}: {error.strerror or error}") from None


class WorkDir:
    """A temp folder of the app's own (results, attribute layers), removed when the process exits.

    One per page: ``build_demo`` makes it (inside ``parent``) and hands it to the handlers that write files. Only
    paths and the age limit are kept, so a handler shipped to another process (ZeroGPU) carries it along. A folder
    given as ``path`` is the caller's: it is used, never removed."""

    def __init__(
        self, path: Path | None = None, *, parent: str | Path | None = None, max_age_s: float = OUTPUT_MAX_AGE_S
    ) -> None:
        self.owned = path is None
        if path is None:
            path = make_work_folder(parent)
            atexit.register(shutil.rmtree, path, ignore_errors=True)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_age_s = max_age_s

    def remove(self) -> None:
        """Delete the folder and everything in it, if the app made it (as at exit; for a stop that skips exit
        handlers, such as SIGTERM)."""
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)

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
