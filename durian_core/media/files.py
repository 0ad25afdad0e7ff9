"""File checks shared by the image and video loaders, and atomic writes (a file appears complete or not at all)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from durian_core.config import MediaLimits
from durian_core.errors import DurianInputError

FILE_MODE = 0o644  # written images and videos: readable by the web server and other users


def existing_file(path: str | os.PathLike, *, what: str, limits: MediaLimits) -> Path:
    source = Path(os.fspath(path))
    if not source.exists():
        raise DurianInputError(f"{what} file not found: '{source}'")
    if source.is_dir():
        raise DurianInputError(
            f"expected {'an' if what[0] in 'aeiou' else 'a'} {what} file but '{source}' is a folder"
        )
    size = source.stat().st_size
    if size == 0:
        raise DurianInputError(f"{what} file '{source.name}' is empty (0 bytes)")
    if size > limits.max_file_bytes:
        raise DurianInputError(
            f"{what} file '{source.name}' is too large: {megabytes(size)}, limit is {megabytes(limits.max_file_bytes)}"
        )
    return source


def megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


@contextmanager
def atomic_target(target: Path, *, suffix: str | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".partial{suffix or target.suffix or '.tmp'}", dir=target.parent
    )
    os.close(handle)
    try:
        yield temporary
        # mkstemp makes the file private (0600); a result is for its reader, a web server or another user: 0644.
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character may be cut at the end of the sample.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
