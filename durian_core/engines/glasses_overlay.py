"""Glasses as the classical engine lays them over a face: opaque frames and lenses that tint what shows through.

Frames and lenses are found in the attribute's own image (:func:`durian_core.face.glasses.find_glasses`), the
lenses' tint is measured against the cheek below them, and both are carried onto the portrait by the attribute's
warp; :class:`GlassesOverlay` applies them to a still or, moved rigidly with the head, to an animation's frames.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.align import fit_matrix, mesh_align
from durian_core.face.glasses import FoundGlasses, find_glasses
from durian_core.face.masks import (
    feather,
    fill_polygons,
    skin_region,
)
from durian_core.types import PreparedAttribute


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def glasses_layer(
    attribute: PreparedAttribute, landmarks: np.ndarray, *, lightness_gain: float, colour_shift: np.ndarray
) -> GlassesOverlay:
    """Glasses as glasses are: the frames opaque, the lenses a colour filter over the portrait's own eyes.

    Frames and lenses are found in the attribute's own image (:func:`glasses_parts`), where the rims are drawn at
    their own resolution, and carried onto the portrait (``landmarks``) by the attribute's warp, blurred first by as
    much as the face shrinks: found on the already shrunk image, a rim a few pixels wide came out as stairs and
    broken dots. The frames' own colour is re-lit as the other attributes are (lightness times ``lightness_gain``,
    a*b* moved by ``colour_shift``), and no frame covers the portrait's eyes.
    """
    frames, colour, lenses, tint = glasses_parts(attribute.image, attribute.mask, attribute.landmarks)
    parts = np.dstack([frames, lenses, colour.astype(np.float32)])
    scale = regions.face_size(landmarks) / max(regions.face_size(attribute.landmarks), 1e-6)
    if scale < 1.0:
        parts = cv2.GaussianBlur(parts, (0, 0), 0.5 * np.sqrt(1.0 / scale**2 - 1.0))
    size = attribute.aligned_image.shape[1::-1]
    carried = mesh_align(parts, attribute.landmarks, landmarks, size)
    if not attribute.fit.is_identity:
        # The user's nudge, as the aligned image took it.
        fit = attribute.fit
        nudge = fit_matrix(landmarks, dx=fit.dx, dy=fit.dy, scale=fit.scale, degrees=fit.degrees)
        carried = cv2.warpAffine(carried, nudge, size, flags=cv2.INTER_LINEAR, borderValue=0)
    frame_colour = _lab(np.clip(carried[..., 2:] + 0.5, 0, 255).astype(np.uint8))
    frame_colour[..., 0] *= lightness_gain
    frame_colour[..., 1:] += colour_shift
    eyes = fill_polygons(carried.shape[:2], [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]])
    eyes = feather(cv2.dilate(eyes, _disc(0.008 * regions.face_size(landmarks))), 0.006 * regions.face_size(landmarks))
    frame_alpha = np.clip(carried[..., 0], 0.0, 1.0) * (1.0 - eyes)
    return GlassesOverlay(_rgb(frame_colour), frame_alpha.astype(np.float32), np.clip(carried[..., 1], 0.0, 1.0), tint)


def glasses_parts(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The frames' opacity and colour, the lenses' opacity and the lenses' tint of glasses worn in an RGB ``image``
    (the glasses' ``mask``, the wearer's ``landmarks``).

    Frames are found by their shape (:func:`durian_core.face.glasses.find_glasses`), so thin, light and dark frames
    all come; the mask keeps them to the glasses' region (a user's eraser takes a part out). A lens's tint is, per
    channel, the lens's colour over the cheek just below it (the same skin seen with and without the lens); it is
    None (clear lenses) when no lens or cheek can be measured.
    """
    shape = mask.shape
    size = regions.face_size(landmarks)
    found = _found_glasses(image.tobytes(), image.shape, np.asarray(landmarks, np.float32).tobytes())
    region = feather((cv2.dilate((mask > 0.3).astype(np.uint8), _disc(0.01 * size)) > 0).astype(np.float32), 2.0)
    frame_alpha = found.frames * region
    lenses = found.lenses > 0.5
    lens_alpha = np.zeros(shape, np.float32)
    tint = None
    if lenses.sum() > 0.002 * lenses.size:
        eyes = fill_polygons(shape, [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]])
        rgb = image.astype(np.float32)
        lens_rows = np.nonzero(lenses.any(axis=1))[0]
        bottom = lens_rows.max()
        lower_lens = lenses & (np.arange(shape[0])[:, None] > bottom - 0.35 * (bottom - lens_rows.min()))
        lower_lens &= (cv2.dilate(eyes, _disc(0.03 * size)) < 0.5) & (found.frames < 0.05)
        below = np.zeros(shape, bool)
        below[bottom + int(0.03 * size) : bottom + int(0.08 * size)] = True
        cheek = below & lenses.any(axis=0)[None, :] & (skin_region(landmarks, shape) > 0) & (found.frames < 0.05)
        if lower_lens.sum() >= 16 and cheek.sum() >= 16:
            tint = np.median(rgb[lower_lens], axis=0) / np.maximum(np.median(rgb[cheek], axis=0), 1)
            tint = np.clip(tint, 0.15, 1.0).astype(np.float32)
            lens_alpha = feather(found.lenses * region, 0.004 * size)
    return frame_alpha.astype(np.float32), found.colour, lens_alpha, tint


@functools.lru_cache(maxsize=4)
def _found_glasses(image: bytes, shape: tuple[int, ...], landmarks: bytes) -> FoundGlasses:
    """:func:`find_glasses` on an image and landmarks given as bytes, kept for the last few: the still, every
    tweak's edit and the animator's overlay all ask for the same attribute's glasses."""
    return find_glasses(
        np.frombuffer(image, np.uint8).reshape(shape), np.frombuffer(landmarks, np.float32).reshape(-1, 2)
    )


@dataclass(frozen=True, eq=False)
class GlassesOverlay:
    """Glasses on top of a face: opaque frames, and lenses that tint whatever is seen through them."""

    frames: np.ndarray  # H×W×3 uint8, the frames' colour (re-lit)
    frame_alpha: np.ndarray  # H×W float32
    lens_alpha: np.ndarray  # H×W float32 (zeros for rimless glasses or an unknown tint)
    tint: np.ndarray | None  # per-channel factor of the lenses (None: clear)

    def apply(self, image: np.ndarray, *, weight: float = 1.0, matrix: np.ndarray | None = None) -> np.ndarray:
        """``image`` (uint8 or float32 RGB) seen through the glasses; ``matrix`` (2×3) moves them first (they are
        rigid: in an animation they follow the head's similarity, not the face's mesh)."""
        frames, frame_alpha, lens_alpha = self.frames, self.frame_alpha, self.lens_alpha
        if matrix is not None:
            size = image.shape[1::-1]
            warp = lambda layer: cv2.warpAffine(layer, matrix, size, flags=cv2.INTER_LINEAR)  # noqa: E731
            frames, frame_alpha, lens_alpha = warp(frames), warp(frame_alpha), warp(lens_alpha)
        out = image.astype(np.float32)
        if self.tint is not None:
            filter_ = 1.0 - (lens_alpha * weight)[..., None] * (1.0 - self.tint)
            out = out * filter_
        alpha = (frame_alpha * weight)[..., None]
        out = out * (1.0 - alpha) + frames.astype(np.float32) * alpha
        return out if image.dtype == np.float32 else np.clip(out + 0.5, 0, 255).astype(np.uint8)
