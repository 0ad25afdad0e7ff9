"""Pixels carried from a reference image onto a frame by the head's motion: the head's similarity between two sets of
landmarks, the boxes a layer covers and lands on, and a warp computed over a frame's box only (the rest of a frame
is never touched)."""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.engines.animator import point_box
from durian_core.face import regions
from durian_core.face.align import apply_affine, similarity_transform

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)`` in pixels, end exclusive."""


def head_motion(reference: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The head's similarity (2×3) from the ``reference`` landmarks onto ``landmarks``, over the skull's points."""
    rigid = list(regions.RIGID)
    return similarity_transform(reference[rigid], landmarks[rigid])


def support_box(alpha: np.ndarray, *, threshold: float = 1.0 / 255) -> Box | None:
    """The box around the pixels of ``alpha`` above ``threshold`` (None when there are none)."""
    rows = np.flatnonzero(alpha.max(axis=1) > threshold)
    columns = np.flatnonzero(alpha.max(axis=0) > threshold)
    if len(rows) == 0:
        return None
    return int(columns[0]), int(rows[0]), int(columns[-1]) + 1, int(rows[-1]) + 1


def carried_box(box: Box, matrix: np.ndarray, shape: tuple[int, ...], *, margin: float = 2.0) -> Box | None:
    """Where ``box`` lands under the affine ``matrix``, ``margin`` pixels wider, clipped to an image of ``shape``."""
    x0, y0, x1, y1 = box
    corners = np.array([[x0, y0], [x1, y0], [x0, y1], [x1, y1]], np.float32)
    return point_box(apply_affine(matrix, corners), shape, margin=margin)


def union_box(boxes: list[Box | None]) -> Box | None:
    """The box around all the given boxes (None among them ignored; None when there are none)."""
    present = [box for box in boxes if box is not None]
    if not present:
        return None
    corners = np.array(present)
    return int(corners[:, 0].min()), int(corners[:, 1].min()), int(corners[:, 2].max()), int(corners[:, 3].max())


def warp_into(image: np.ndarray, matrix: np.ndarray, box: Box) -> np.ndarray:
    """``image`` moved by the affine ``matrix`` (its pixels → frame pixels), only the frame's ``box`` of it."""
    x0, y0, x1, y1 = box
    shifted = matrix.astype(np.float32).copy()
    shifted[:, 2] -= (x0, y0)
    return cv2.warpAffine(image, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def box_slices(inner: Box, outer: Box) -> tuple[slice, slice]:
    """The slices of ``outer``-relative pixels that ``inner`` covers."""
    return slice(inner[1] - outer[1], inner[3] - outer[1]), slice(inner[0] - outer[0], inner[2] - outer[0])
