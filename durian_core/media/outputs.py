"""Where results go, checked before any work: a name the writer knows, a folder that exists or can be made, and
the right to write there. A result that cannot be written should fail in a second, not after a long render."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from durian_core.errors import DurianInputError
from durian_core.media.images import image_suffixes

VIDEO_SUFFIX = ".mp4"  # the one container the writer makes: H.264 in mp4 plays in every browser


def check_output_path(path: str | os.PathLike, *, video: bool) -> Path:
    """``path`` as a result file, once it is sure the result can be written there: an ``.mp4`` for a video, an
    image format Pillow writes for a still (:func:`~durian_core.media.images.image_suffixes`), in a folder that
    exists or can be made, where files can be created.

    Nothing is created: a missing folder is made when the result is written.

    Raises:
        DurianInputError: the name, the folder or the permissions would make writing the result fail.
    """
    target = Path(os.fspath(path)).expanduser()
    if target.is_dir():
        example = "out.mp4" if video else "out.png"
        raise DurianInputError(f"'{target}' is a folder: name a file in it, such as {target / example}")
    suffix = target.suffix.lower()
    if video and suffix != VIDEO_SUFFIX:
        raise DurianInputError(f"an animation is written as an .mp4 video; name it {target.with_suffix('.mp4').name}")
    if not video and suffix == VIDEO_SUFFIX:
        raise DurianInputError(
            f"'{target.name}' names a video but there is no driving video: add --driving VIDEO to animate, or name "
            f"an image such as {target.with_suffix('.png').name} for a still"
        )
    if not video and suffix not in image_suffixes():
        given = f"'{target.suffix}'" if target.suffix else "no extension"
        choices = image_suffixes(aliases=False)
        raise DurianInputError(f"cannot write a still with {given}: use {', '.join(choices[:-1])} or {choices[-1]}")
    check_output_folder(target.parent, create=False)
    return target


def check_output_folder(folder: str | os.PathLike, *, create: bool = True) -> Path:
    """``folder`` (made first when ``create``), once it is sure files can be written in it; without ``create``, a
    missing folder passes when it can be made.

    Raises:
        DurianInputError: a file stands where the folder (or one of its parents) should be, or the place is
            read-only or not ours.
    """
    folder = Path(os.fspath(folder)).expanduser()
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == folder:
            raise DurianInputError(f"cannot write in '{folder}': it is a file, not a folder")
        raise DurianInputError(f"cannot make the folder '{folder}': '{existing}' is a file, not a folder")
    if create and existing != folder:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DurianInputError(f"cannot make the folder '{folder}': {_reason(error)}") from error
        existing = folder
    # Trying is the only sure test: permission bits say nothing of read-only mounts, and root passes them all.
    try:
        handle, probe = tempfile.mkstemp(prefix=".durian-check-", dir=existing)
    except OSError as error:
        raise DurianInputError(f"cannot create files in '{existing}': {_reason(error)}") from error
    os.close(handle)
    os.unlink(probe)
    return folder


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()
