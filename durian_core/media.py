"""Image and video input/output: loading with validation, downscaling, and browser-playable mp4 writing.

Everything a user uploads passes through here first, so every refusal names the file and the problem in words
(``DurianInputError``). Images are read with Pillow; videos with the ffmpeg binary that moviepy bundles through
imageio-ffmpeg, and written with moviepy.
"""

from __future__ import annotations

import io
import logging
import math
import os
import re
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from moviepy import AudioFileClip, ImageSequenceClip
from PIL import Image, ImageOps, UnidentifiedImageError

from durian_core.config import MediaLimits
from durian_core.engines.base import DrivingVideo
from durian_core.errors import DurianInputError

ImageSource = str | os.PathLike | bytes | np.ndarray | Image.Image

_PROBE_TIMEOUT_S = 60.0  # ffmpeg answers in milliseconds on real files; this only bounds pathological input
_IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}


class _DropScaleNotice(logging.Filter):
    """imageio-ffmpeg warns whenever frames are read at another size than stored; load_video asks for exactly that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


logging.getLogger("imageio_ffmpeg").addFilter(_DropScaleNotice())


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image ready for the face pipeline: upright RGB, plus the transparency it came with."""

    rgb: np.ndarray  # H×W×3 uint8
    alpha: np.ndarray | None  # H×W float32 in [0, 1] when the input had transparency, else None
    source_name: str  # file name, or "<bytes>" / "<array>" / "<image>", for messages
    downscaled_from: tuple[int, int] | None  # original (width, height) when the image was downscaled


# --------------------------------------------------------------------------------------------------- images


def load_image(source: ImageSource, *, limits: MediaLimits = MediaLimits()) -> LoadedImage:
    """Load an image from a path, encoded bytes, an array or a Pillow image as upright RGB uint8.

    EXIF orientation is applied; grayscale, palette, CMYK and 16-bit inputs become RGB uint8; transparency is kept
    as ``alpha``. Images whose longest side exceeds ``limits.max_image_side`` are downscaled (Lanczos); images above
    ``limits.max_image_megapixels`` are refused before their pixels are decoded, as are images with a side below
    ``limits.min_image_side``.

    Raises:
        DurianInputError: the source is missing, empty, not an image, corrupt, too large or too small.
    """
    if isinstance(source, np.ndarray):
        rgb, alpha = _array_to_rgb_alpha(source, name="<array>")
        return _finish_image(rgb, alpha, name="<array>", limits=limits)
    opened, name = _open_image(source, limits=limits)
    owned = not isinstance(source, Image.Image)  # a caller's Pillow image is neither changed nor closed
    try:
        width, height = opened.size
        _check_megapixels(width, height, name=name, limits=limits)
        original = _upright_size(opened)
        if owned and max(width, height) > limits.max_image_side:
            # JPEG can decode straight at a reduced scale (1/2, 1/4, 1/8): much faster and lighter for phone photos.
            scale = limits.max_image_side / max(width, height)
            opened.draft(opened.mode, (math.ceil(width * scale), math.ceil(height * scale)))
        rgb, alpha = _pil_to_rgb_alpha(_decode_upright(opened, name=name))
    finally:
        if owned:
            # Multi-frame files (GIF, APNG, phone MPO JPEGs) keep their file open after decoding until closed.
            opened.close()
    return _finish_image(rgb, alpha, name=name, limits=limits, original_size=original)


def load_mask(source: ImageSource, *, size: tuple[int, int] | None = None) -> np.ndarray:
    """Load a mask as H×W float32 in [0, 1]: the alpha channel when the image has transparency, else its luminance.

    A brush layer exported with transparency (as Gradio's image editor does) gives its painted strokes; an opaque
    black-and-white PNG gives white as the masked region. ``size=(width, height)`` resizes it (bilinear) to match
    the image it belongs to.

    Raises:
        DurianInputError: the source cannot be read as an image, or ``size`` is not positive.
    """
    if isinstance(source, np.ndarray):
        mask = _array_to_mask(source)
    else:
        limits = MediaLimits()
        opened, name = _open_image(source, limits=limits)
        try:
            _check_megapixels(*opened.size, name=name, limits=limits)
            rgb, alpha = _pil_to_rgb_alpha(_decode_upright(opened, name=name))
        finally:
            if not isinstance(source, Image.Image):
                opened.close()
        mask = alpha if alpha is not None else _luminance(rgb)
    if size is not None:
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise DurianInputError(f"mask size must be positive, got {width}×{height}")
        if mask.shape != (height, width):
            resized = Image.fromarray(mask.astype(np.float32), mode="F").resize((width, height), Image.BILINEAR)
            mask = np.asarray(resized, dtype=np.float32)
    return np.clip(mask, 0.0, 1.0).astype(np.float32, copy=False)


def write_image(image: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an RGB (or grayscale, or RGBA) uint8 image; the format follows the suffix, PNG when there is none.

    The file appears complete or not at all: it is written under a temporary name and renamed.
    """
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = _to_uint8(array, name="<array>")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ValueError(f"write_image expects H×W, H×W×3 or H×W×4, got shape {array.shape}")
    target = Path(path)
    if target.suffix == "":
        target = target.with_suffix(".png")
    image_format = _IMAGE_SUFFIXES.get(target.suffix.lower())
    if image_format is None:
        raise ValueError(f"cannot write images as {target.suffix!r}; use one of {sorted(_IMAGE_SUFFIXES)}")
    pil = Image.fromarray(np.ascontiguousarray(array))
    if image_format == "JPEG" and pil.mode == "RGBA":
        pil = pil.convert("RGB")
    options = {"quality": 95} if image_format in ("JPEG", "WEBP") else {}
    with _atomic_target(target) as temporary:
        pil.save(temporary, format=image_format, **options)
    return target


def _open_image(source: ImageSource, *, limits: MediaLimits) -> tuple[Image.Image, str]:
    """Open lazily (header only) and name the source; decoding happens later, after the size checks."""
    if isinstance(source, Image.Image):
        return source, "<image>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
        if not data:
            raise DurianInputError("image data is empty (0 bytes)")
        if len(data) > limits.max_file_bytes:
            raise DurianInputError(
                f"image data is too large: {_megabytes(len(data))}, limit is {_megabytes(limits.max_file_bytes)}"
            )
        stream: io.BytesIO | Path = io.BytesIO(data)
        head = data[:512]
    elif isinstance(source, (str, os.PathLike)):
        path = _existing_file(source, what="image", limits=limits)
        name, stream = path.name, path
        with path.open("rb") as handle:
            head = handle.read(512)
    else:
        raise TypeError(f"cannot load an image from {type(source).__name__}")
    try:
        # Pillow warns between its own limit and twice it; our lower megapixel limit is checked right after open.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream), name
    except Image.DecompressionBombError as exc:
        # Pillow's own hard limit, reached before the size is known to us; its message holds the pixel count.
        pixels = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(pixels.group(1)) / 1e6:.0f} megapixels" if pixels else "a decompression bomb"
        raise DurianInputError(
            f"image too large: {size}, the limit is {limits.max_image_megapixels:g} megapixels ({name})"
        ) from exc
    except UnidentifiedImageError as exc:
        if _looks_like_text(head):
            raise DurianInputError(f"'{name}' is a text file, not an image") from exc
        raise DurianInputError(f"'{name}' is not an image format that can be read (PNG, JPEG, WebP, ...)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DurianInputError(f"cannot read image '{name}': {exc}") from exc


def _decode_upright(image: Image.Image, *, name: str) -> Image.Image:
    """Decode the pixels and apply the EXIF orientation, turning decoder failures into a clear error."""
    try:
        image.load()
        upright = ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DurianInputError(f"cannot read image '{name}': the file is truncated or corrupt ({exc})") from exc
    return upright if upright is not None else image


def _upright_size(image: Image.Image) -> tuple[int, int]:
    """(width, height) as the photo is meant to be seen: EXIF orientations 5-8 swap the sides."""
    width, height = image.size
    try:
        orientation = image.getexif().get(0x0112, 1)
    except (OSError, SyntaxError, ValueError):
        orientation = 1
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _pil_to_rgb_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Any Pillow mode to RGB uint8 plus alpha (float32) when the image carries transparency."""
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit (and 32-bit integer) grayscale: Pillow's own conversion to "L" clips instead of rescaling.
        values = np.asarray(image).astype(np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0
        gray = np.clip(np.round(values * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    has_alpha = "A" in image.getbands() or image.info.get("transparency") is not None
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"))
        alpha = rgba[:, :, 3]
        # A fully opaque alpha channel carries no mask; downstream code treats alpha as "the user cut this out".
        if alpha.min() == 255:
            return np.ascontiguousarray(rgba[:, :, :3]), None
        return np.ascontiguousarray(rgba[:, :, :3]), alpha.astype(np.float32) / 255.0
    return np.asarray(image.convert("RGB")), None


def _array_to_rgb_alpha(array: np.ndarray, *, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise DurianInputError(f"image array must be H×W, H×W×3 or H×W×4, got shape {array.shape}")
    if array.size == 0:
        raise DurianInputError("image array is empty")
    pixels = _to_uint8(array, name=name)
    if pixels.ndim == 2:
        return np.repeat(pixels[:, :, None], 3, axis=2), None
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3]
        rgb = np.ascontiguousarray(pixels[:, :, :3])
        return rgb, (None if alpha.min() == 255 else alpha.astype(np.float32) / 255.0)
    return np.ascontiguousarray(pixels), None


def _to_uint8(array: np.ndarray, *, name: str) -> np.ndarray:
    """uint8 as is; bool to 0/255; uint16 rescaled; floats read as [0, 1]; other integers as 0-255 values."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype == np.uint16:
        return np.round(array / 257.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise DurianInputError(f"image {name} contains NaN or infinite values")
        return np.clip(np.round(array * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        return np.clip(array, 0, 255).astype(np.uint8)
    raise DurianInputError(f"image {name} has unsupported pixel type {array.dtype}")


def _array_to_mask(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 4 and _to_uint8(array[:, :, 3], name="<mask>").min() < 255:
        return _to_uint8(array[:, :, 3], name="<mask>").astype(np.float32) / 255.0
    if array.ndim == 3 and array.shape[2] in (3, 4):
        return _luminance(_to_uint8(array[:, :, :3], name="<mask>"))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise DurianInputError(f"mask array must be H×W, H×W×3 or H×W×4, got shape {array.shape}")
    if np.issubdtype(array.dtype, np.floating):
        return np.nan_to_num(array.astype(np.float32), nan=0.0)
    return _to_uint8(array, name="<mask>").astype(np.float32) / 255.0


def _luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma, as Pillow's "L" conversion, in [0, 1]."""
    weights = np.array([0.299, 0.587, 0.114], np.float32)
    return (rgb.astype(np.float32) @ weights) / 255.0


def _finish_image(
    rgb: np.ndarray,
    alpha: np.ndarray | None,
    *,
    name: str,
    limits: MediaLimits,
    original_size: tuple[int, int] | None = None,
) -> LoadedImage:
    """Apply the size rules to decoded pixels: refuse tiny or absurd images, downscale large ones."""
    height, width = rgb.shape[:2]
    original = original_size or (width, height)
    _check_megapixels(*original, name=name, limits=limits)
    if min(original) < limits.min_image_side:
        raise DurianInputError(
            f"image too small: {original[0]}×{original[1]} pixels, need at least {limits.min_image_side} "
            f"on each side ({name})"
        )
    downscaled_from = None
    longest = max(original)
    if longest > limits.max_image_side:
        scale = limits.max_image_side / longest
        target = (max(1, round(original[0] * scale)), max(1, round(original[1] * scale)))
        if min(target) < limits.min_image_side:
            raise DurianInputError(
                f"image too narrow: {original[0]}×{original[1]} pixels would shrink to {target[0]}×{target[1]}, "
                f"need at least {limits.min_image_side} on each side ({name})"
            )
        if (width, height) != target:
            # reducing_gap first shrinks by an integer factor (box filter), then Lanczos: fast and alias-free.
            rgb = np.asarray(Image.fromarray(rgb).resize(target, Image.LANCZOS, reducing_gap=3.0))
            if alpha is not None:
                alpha = np.asarray(Image.fromarray(alpha, mode="F").resize(target, Image.BILINEAR), np.float32)
        downscaled_from = original
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if alpha is not None:
        alpha = np.clip(alpha, 0.0, 1.0).astype(np.float32, copy=False)
    return LoadedImage(rgb=rgb, alpha=alpha, source_name=name, downscaled_from=downscaled_from)


def _check_megapixels(width: int, height: int, *, name: str, limits: MediaLimits) -> None:
    megapixels = width * height / 1e6
    if megapixels > limits.max_image_megapixels:
        raise DurianInputError(
            f"image too large: {width}×{height} pixels ({megapixels:.0f} megapixels), the limit is "
            f"{limits.max_image_megapixels:g} megapixels ({name})"
        )


def _looks_like_text(head: bytes) -> bool:
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


# --------------------------------------------------------------------------------------------------- videos


@dataclass(frozen=True)
class _StreamInfo:
    """What ``ffmpeg -i`` says about a file's first video and audio streams."""

    has_video: bool
    width: int  # as displayed, after the rotation ffmpeg applies while decoding
    height: int
    fps: float
    duration: float | None
    codec: str | None
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    frames: int | None = None  # only when counted
    partial: bool = False  # only when counted: the data ends before the index says it should


def load_video(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    limits: MediaLimits = MediaLimits(),
) -> DrivingVideo:
    """Decode a driving video: RGB frames, frame rate, and the file itself as the audio source when it has sound.

    Clips longer than ``max_seconds`` (default ``limits.max_video_seconds``) are cut, and ``truncated_from`` gives
    the original duration; frames whose longest side exceeds ``limits.max_video_side`` are downscaled.

    Raises:
        DurianInputError: the file is missing, empty, not a video, corrupt, or has fewer than two frames.
    """
    source = _existing_file(path, what="video", limits=limits)
    name = source.name
    cap = limits.max_video_seconds if max_seconds is None else float(max_seconds)
    if not (cap > 0 and math.isfinite(cap)):
        raise DurianInputError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
    # Counting packets (a copy pass, no decoding) also reveals a file whose data stops early.
    info = _probe(source, name=name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{name}': the file has no video stream")
    if not info.fps > 0:
        raise DurianInputError(f"cannot read video '{name}': its frame rate is unknown")
    present_seconds = (info.frames or 0) / info.fps
    if info.partial and info.duration and present_seconds < min(cap, info.duration) - 0.5 / info.fps:
        # A cut-short download still decodes up to where it stops; a silently shorter animation would puzzle.
        raise DurianInputError(
            f"cannot read video '{name}': the file is truncated (its data stops after {present_seconds:.1f} s "
            f"of {info.duration:.1f} s); was the upload or recording cut short?"
        )

    output_params = ["-t", f"{cap:.6f}"]
    if max(info.width, info.height) > limits.max_video_side:
        # The scale factor does not depend on orientation, so it is right after ffmpeg's automatic rotation too.
        scale = limits.max_video_side / max(info.width, info.height)
        output_params += ["-vf", f"scale=trunc(iw*{scale:.9f}+0.5):trunc(ih*{scale:.9f}+0.5):flags=area"]
    # A guard against containers that misreport their duration: never decode more than the cap allows.
    max_frames = math.ceil(cap * info.fps) + 1
    frames: list[np.ndarray] = []
    # imageio-ffmpeg drains ffmpeg's stderr on a thread. moviepy's reader does not, and a corrupt stream that logs
    # more than a pipe buffer of decoder errors blocks it forever.
    reader = imageio_ffmpeg.read_frames(str(source), output_params=output_params)
    try:
        meta = next(reader)
        width, height = meta["size"]
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if len(frames) >= max_frames:
                break
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        # Frames decoded before a corrupt tail are kept; nothing decoded means the file is unusable.
        if not frames:
            raise DurianInputError(f"cannot read video '{name}': {_ffmpeg_reason(str(exc))}") from exc
    finally:
        reader.close()
    if not frames:
        raise DurianInputError(f"cannot read video '{name}': it contains no frames")
    if len(frames) < 2:
        raise DurianInputError(f"cannot use video '{name}': it has a single frame (is it a still image?)")
    truncated_from = None
    if info.duration is not None and info.duration > cap + 0.5 / info.fps:
        truncated_from = info.duration
    return DrivingVideo(
        frames=np.stack(frames),
        fps=float(info.fps),
        audio_path=os.fspath(path) if info.has_audio else None,
        truncated_from=truncated_from,
    )


def video_has_audio(path: str | os.PathLike) -> bool:
    """Whether the file has an audio stream.

    Raises:
        DurianInputError: the file is missing, empty or not a media file ffmpeg can open.
    """
    source = _existing_file(path, what="video", limits=MediaLimits())
    return _probe(source, name=source.name).has_audio


def probe_video(path: str | os.PathLike) -> dict:
    """Describe a video file: ``fps``, ``frames`` (counted), ``duration`` (s), ``width``, ``height``,
    ``has_audio``, plus ``codec``, ``pix_fmt`` and ``audio_codec``.

    Raises:
        DurianInputError: the file is missing, empty or not a media file with a video stream.
    """
    source = _existing_file(path, what="video", limits=MediaLimits())
    info = _probe(source, name=source.name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{source.name}': the file has no video stream")
    return {
        "fps": info.fps,
        "frames": info.frames,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "has_audio": info.has_audio,
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "audio_codec": info.audio_codec,
    }


def write_video(
    frames: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    audio_path: str | None = None,
) -> Path:
    """Write frames as an H.264 / yuv420p mp4 that browsers play, with the audio of ``audio_path`` when given.

    Odd frame sizes are padded by one edge pixel (yuv420p needs even sides). The audio is cut to the video's
    length. The file appears complete or not at all: it is written under a temporary name and renamed.

    Raises:
        DurianInputError: ``audio_path`` cannot be read as audio.
        ValueError: no frames, frames of different sizes, or a non-positive ``fps``.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be positive, got {fps}")
    sequence = _video_frames(frames)
    count = len(sequence)
    duration = count / fps
    target = Path(path)
    with (
        tempfile.TemporaryDirectory(prefix="durian-audio-") as audio_dir,
        _atomic_target(target, suffix=".mp4") as temporary,
    ):
        audio = None
        if audio_path is not None:
            # Probed first: moviepy's audio reader fails on garbage with errors that name nothing useful.
            audio_source = _existing_file(audio_path, what="audio", limits=MediaLimits())
            if not _probe(audio_source, name=audio_source.name, what="audio").has_audio:
                raise DurianInputError(f"cannot read audio '{audio_source.name}': the file has no audio track")
            audio = AudioFileClip(str(audio_source))
        clip = ImageSequenceClip(sequence, fps=fps)
        try:
            # moviepy writes int(duration·fps) frames and sums 1/fps per image for the duration, which can fall
            # a hair short of ``count``: a quarter frame of headroom keeps the last frame.
            clip = clip.with_duration((count + 0.25) / fps)
            if audio is not None:
                clip = clip.with_audio(audio.subclipped(0, min(audio.duration, duration)))
            clip.write_videofile(
                temporary,
                fps=fps,
                codec="libx264",
                preset="veryfast",
                audio_codec="aac",
                temp_audiofile_path=audio_dir,
                ffmpeg_params=["-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
                logger=None,
            )
        finally:
            clip.close()
            if audio is not None:
                audio.close()
    return target


def _video_frames(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Validate frames and pad odd sides by repeating the last row/column (yuv420p halves chroma resolution)."""
    if len(frames) == 0:
        raise ValueError("write_video needs at least one frame")
    first = np.asarray(frames[0])
    shape = first.shape
    if not (first.ndim == 2 or (first.ndim == 3 and first.shape[2] in (1, 3, 4))):
        raise ValueError(f"frames must be H×W or H×W×3, got shape {shape}")
    height, width = shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    sequence = []
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.shape != shape:
            raise ValueError(f"frame {index} has shape {frame.shape}, frame 0 has {shape}")
        rgb, _ = _array_to_rgb_alpha(frame, name=f"frame {index}")
        if pad[0][1] or pad[1][1]:
            rgb = np.pad(rgb, pad, mode="edge")
        sequence.append(np.ascontiguousarray(rgb))
    return sequence


def _probe(path: Path, *, name: str, what: str = "video", count_frames: bool = False) -> _StreamInfo:
    """Run ``ffmpeg -i`` (with a copy-to-null pass when counting frames) and parse what it prints."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    if count_frames:
        command += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=_PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DurianInputError(
            f"cannot read {what} '{name}': ffmpeg did not finish within {_PROBE_TIMEOUT_S:g} s"
        ) from exc
    text = result.stderr.decode("utf-8", errors="replace")
    if "Input #0" not in text:
        with path.open("rb") as handle:
            head = handle.read(512)
        raise DurianInputError(f"cannot read {what} '{name}': {_ffmpeg_reason(text, head=head, what=what)}")
    return _parse_ffmpeg_info(text, count_frames=count_frames)


_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): (.*)$", re.MULTILINE)
_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*:\s*(-?\d+)")
_FRAME_COUNT_RE = re.compile(r"frame=\s*(\d+)")


def _parse_ffmpeg_info(text: str, *, count_frames: bool) -> _StreamInfo:
    duration_match = _DURATION_RE.search(text)
    duration = None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    video: list[str] | None = None
    video_at = 0
    audio_codec = None
    has_audio = False
    for match in _STREAM_RE.finditer(text):
        kind, description = match.groups()
        parts = _split_top_level(description)
        if kind == "Video" and video is None and "attached pic" not in description:
            video, video_at = parts, match.end()
        elif kind == "Audio" and not has_audio:
            has_audio, audio_codec = True, parts[0].split()[0] if parts and parts[0] else None
    if video is None:
        return _StreamInfo(False, 0, 0, 0.0, duration, None, None, has_audio, audio_codec)
    codec = video[0].split()[0] if video[0] else None
    pix_fmt = None
    width = height = 0
    fps = tbr = 0.0
    for part in video[1:]:
        size = re.match(r"(\d+)x(\d+)", part)
        if size and not width:
            width, height = int(size.group(1)), int(size.group(2))
        elif part.endswith(" fps"):
            fps = _ffmpeg_number(part[:-4])
        elif part.endswith(" tbr"):
            tbr = _ffmpeg_number(part[:-4])
        elif pix_fmt is None and not width and re.match(r"[a-z0-9_]+", part):
            pix_fmt = re.match(r"[a-z0-9_]+", part).group(0)
    # Rotation side data follows the stream line; ffmpeg rotates while decoding, so ±90° swaps the sides.
    next_stream = text.find("Stream #", video_at)
    stream_block = text[video_at : next_stream if next_stream >= 0 else len(text)]
    rotation = _ROTATION_RE.search(stream_block)
    if rotation and round(abs(float(rotation.group(1) or rotation.group(2)))) % 180 == 90:
        width, height = height, width
    frames = None
    if count_frames:
        counts = _FRAME_COUNT_RE.findall(text)
        frames = int(counts[-1]) if counts else None
    partial = count_frames and "partial file" in text
    return _StreamInfo(
        True, width, height, fps or tbr, duration, codec, pix_fmt, has_audio, audio_codec, frames, partial
    )


def _split_top_level(description: str) -> list[str]:
    """Split on commas outside parentheses: ``yuv420p(tv, bt709)`` stays one part."""
    parts, depth, current = [], 0, []
    for char in description:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _ffmpeg_number(text: str) -> float:
    text = text.strip()
    factor = 1000.0 if text.endswith("k") else 1.0
    try:
        return float(text.rstrip("k")) * factor
    except ValueError:
        return 0.0


def _ffmpeg_reason(text: str, *, head: bytes = b"", what: str = "video") -> str:
    """The most telling line of an ffmpeg error log, in a form fit for a user."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any("moov atom not found" in line for line in lines) and head[4:8] in _MP4_BOX_TYPES:
        return "the file is incomplete (its index is missing; was the upload or recording cut short?)"
    if _looks_like_text(head):
        return f"it is a text file, not a {what}"
    if any("Invalid data found" in line or "moov atom not found" in line for line in lines):
        return f"not a {what} format ffmpeg can read (invalid data)"
    for line in reversed(lines):
        if not line.startswith("===") and "At least one output file" not in line:
            return re.sub(r"^\[[^\]]*\]\s*", "", line)[:200]
    return "ffmpeg could not decode it"


_MP4_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
"""The top-level boxes an mp4/mov file starts with: such a file without an index was cut short, not garbage."""


# --------------------------------------------------------------------------------------------------- files


def _existing_file(path: str | os.PathLike, *, what: str, limits: MediaLimits) -> Path:
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
            f"{what} file '{source.name}' is too large: {_megabytes(size)}, limit is "
            f"{_megabytes(limits.max_file_bytes)}"
        )
    return source


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


@contextmanager
def _atomic_target(target: Path, *, suffix: str | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".partial{suffix or target.suffix or '.tmp'}", dir=target.parent
    )
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
