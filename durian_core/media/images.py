"""Images in and out: loading with validation (EXIF orientation, every Pillow mode, size limits), masks, writing.

Every refusal names the file and the problem in words (``DurianInputError``).
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from durian_core.config import MediaLimits
from durian_core.errors import DurianInputError
from durian_core.media.files import atomic_target, existing_file, looks_like_text, megabytes

ImageSource = str | os.PathLike | bytes | np.ndarray | Image.Image

_PHOTO_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".webp": "WEBP",
    ".avif": "AVIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".jp2": "JPEG2000",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".tga": "TGA",
    ".qoi": "QOI",
}
"""The image formats a photo can sensibly be written as (Pillow also writes icons, PDFs, 1-bit bitmaps and
scientific formats, none of which suits a result), when this Pillow build can write them."""

_NO_ALPHA = {"JPEG", "PPM"}  # formats that cannot hold transparency: RGBA is written as RGB
_QUALITY = {"JPEG": 95, "WEBP": 95, "AVIF": 90}  # lossy formats: near-lossless for a result someone keeps


def image_suffixes(*, aliases: bool = True) -> tuple[str, ...]:
    """The suffixes :func:`write_image` accepts, ``.png`` first; without ``aliases``, one per format."""
    Image.init()
    found: dict[str, str] = {}
    for suffix, image_format in _PHOTO_FORMATS.items():
        if image_format in Image.SAVE and (aliases or image_format not in found.values()):
            found[suffix] = image_format
    return tuple(found)


@dataclass(frozen=True, eq=False)
class LoadedImage:
    """An image ready for the face pipeline: upright RGB, plus the transparency it came with."""

    rgb: np.ndarray  # H×W×3 uint8
    alpha: np.ndarray | None  # H×W float32 in [0, 1] when the input had transparency, else None
    source_name: str  # file name, or "<bytes>" / "<array>" / "<image>", for messages
    downscaled_from: tuple[int, int] | None  # original (width, height) when the image was downscaled


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
        rgb, alpha = array_to_rgb_alpha(source, name="<array>")
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


def write_image(image: np.ndarray, path: str | os.PathLike, *, png_compression: int = 6) -> Path:
    """Write an RGB (or grayscale, or RGBA) uint8 image; the format follows the suffix, PNG when there is none.

    The file appears complete or not at all: it is written under a temporary name and renamed.
    ``png_compression`` (0-9) trades size for time: 1 writes a 512² PNG about 3x faster than the default 6 and
    about 8 % larger, which suits previews shown once.
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
    if target.suffix.lower() not in image_suffixes():
        raise ValueError(f"cannot write images as {target.suffix!r}; use one of {', '.join(image_suffixes())}")
    image_format = _PHOTO_FORMATS[target.suffix.lower()]
    pil = Image.fromarray(np.ascontiguousarray(array))
    if image_format in _NO_ALPHA and pil.mode == "RGBA":
        pil = pil.convert("RGB")
    options = {"quality": _QUALITY[image_format]} if image_format in _QUALITY else {}
    if image_format == "PNG":
        options = {"compress_level": png_compression}
    with atomic_target(target) as temporary:
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
                f"image data is too large: {megabytes(len(data))}, limit is {megabytes(limits.max_file_bytes)}"
            )
        stream: io.BytesIO | Path = io.BytesIO(data)
        head = data[:512]
    elif isinstance(source, (str, os.PathLike)):
        path = existing_file(source, what="image", limits=limits)
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
        if looks_like_text(head):
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


def array_to_rgb_alpha(array: np.ndarray, *, name: str) -> tuple[np.ndarray, np.ndarray | None]:
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
