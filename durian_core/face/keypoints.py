"""Keypoint maps: colour-coded face contours rendered at any resolution, the diffusion engine's motion input."""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.face import regions

# (loop, RGB colour, closed): one colour per part so the guider can tell an eye from a lip.
CONTOURS: tuple[tuple[tuple[int, ...], tuple[int, int, int], bool], ...] = (
    (regions.FACE_OVAL, (255, 255, 255), True),
    (regions.RIGHT_BROW, (255, 128, 0), False),
    (regions.LEFT_BROW, (255, 200, 0), False),
    (regions.RIGHT_EYE, (0, 128, 255), True),
    (regions.LEFT_EYE, (0, 200, 255), True),
    (regions.RIGHT_IRIS, (0, 255, 128), True),
    (regions.LEFT_IRIS, (128, 255, 0), True),
    (regions.NOSE_BRIDGE + regions.NOSE_BOTTOM[2:3], (255, 0, 255), False),
    (regions.NOSE_BOTTOM, (200, 0, 255), False),
    (regions.LIPS_OUTER, (255, 0, 0), True),
    (regions.LIPS_INNER, (255, 0, 128), True),
)


def render_keypoint_map(
    landmarks: np.ndarray,
    size: tuple[int, int],
    *,
    source_size: tuple[int, int] | None = None,
    thickness: float | None = None,
) -> np.ndarray:
    """Draw the face contours of one 478×2 landmark set on black; ``size`` and ``source_size`` are (height, width).

    Landmarks are in pixels of ``source_size`` (default: ``size``) and are scaled to ``size``. Line width scales
    with the output so a 64² test map and a 512² map carry the same picture.
    """
    height, width = size
    source_height, source_width = source_size or size
    points = landmarks.astype(np.float32) * np.array([width / source_width, height / source_height], np.float32)
    canvas = np.zeros((height, width, 3), np.uint8)
    line = max(1, round(thickness if thickness is not None else max(height, width) / 256))
    for loop, colour, closed in CONTOURS:
        contour = np.round(points[list(loop)] * 16).astype(np.int32)
        cv2.polylines(canvas, [contour], closed, colour, line, lineType=cv2.LINE_AA, shift=4)
    return canvas


def render_keypoint_maps(
    motion: np.ndarray, size: tuple[int, int], *, source_size: tuple[int, int] | None = None
) -> np.ndarray:
    """Keypoint maps for every frame of an F×478×2 motion: F×H×W×3 uint8."""
    return np.stack([render_keypoint_map(frame, size, source_size=source_size) for frame in motion])
