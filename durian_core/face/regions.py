"""Named groups of MediaPipe face-mesh landmark indices (478-point topology, irises included).

Loops are ordered so they can be drawn or filled as polygons. "Left"/"right" are the subject's.
"""

from __future__ import annotations

import numpy as np

NUM_LANDMARKS = 478

FACE_OVAL = (
    10,
    338,
    297,
    332,
    284,
    251,
    389,
    356,
    454,
    323,
    361,
    288,
    397,
    365,
    379,
    378,
    400,
    377,
    152,
    148,
    176,
    149,
    150,
    136,
    172,
    58,
    132,
    93,
    234,
    127,
    162,
    21,
    54,
    103,
    67,
    109,
)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
RIGHT_IRIS = (469, 470, 471, 472)
LEFT_IRIS = (474, 475, 476, 477)
NOSE_BRIDGE = (168, 6, 197, 195, 5, 4, 1)
NOSE_BOTTOM = (98, 97, 2, 326, 327)
RIGHT_CHEEK = 205
LEFT_CHEEK = 425

FOREHEAD_TOP = 10
CHIN = 152
NOSE_TIP = 1
UPPER_LIP_INNER = 13
LOWER_LIP_INNER = 14
RIGHT_TEMPLE, LEFT_TEMPLE = 127, 356
RIGHT_FACE_SIDE, LEFT_FACE_SIDE = 234, 454
RIGHT_EYE_OUTER, RIGHT_EYE_INNER = 33, 133
LEFT_EYE_OUTER, LEFT_EYE_INNER = 263, 362

# Points that move with the skull and barely with expression: used to separate head pose from expression.
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 33, 133, 362, 263, 127, 356, 234, 454, 21, 251, 54, 284, 109, 338)

# Jaw line from the right face side round the chin to the left: the lower half of the face oval.
JAW = (234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454)


WARP_EXTRA = (
    151, 9, 108, 337, 67, 297, 69, 299, 104, 333,  # forehead
    205, 425, 50, 280, 187, 411, 123, 352, 147, 376, 117, 346, 101, 330, 36, 266, 216, 436,  # cheeks
    129, 358, 49, 279, 64, 294, 168, 6,  # nose
    175, 199, 200, 18, 32, 262, 211, 431,  # chin
)  # fmt: skip


def _unique(*groups: tuple[int, ...]) -> tuple[int, ...]:
    seen: dict[int, None] = {}
    for group in groups:
        for index in group:
            seen.setdefault(index, None)
    return tuple(seen)


WARP_POINTS = _unique(
    FACE_OVAL, LIPS_OUTER, LIPS_INNER, RIGHT_EYE, LEFT_EYE, RIGHT_BROW, LEFT_BROW, RIGHT_IRIS, LEFT_IRIS,
    NOSE_BRIDGE, NOSE_BOTTOM, WARP_EXTRA,
)  # fmt: skip
"""The landmarks the animator's mesh moves: every contour that carries expression (lips, eyes, brows, the face
outline) and a sparse fill of cheeks, forehead, nose and chin; a third of the mesh's points, a third of its
triangles, and the same motion."""


def face_size(landmarks: np.ndarray) -> float:
    """A robust scale of the face in pixels: the larger of face width and forehead-to-chin height."""
    width = np.linalg.norm(landmarks[LEFT_FACE_SIDE] - landmarks[RIGHT_FACE_SIDE])
    height = np.linalg.norm(landmarks[CHIN] - landmarks[FOREHEAD_TOP])
    return float(max(width, height, 1.0))


def face_center(landmarks: np.ndarray) -> np.ndarray:
    """Mean of the face oval."""
    return landmarks[list(FACE_OVAL)].mean(axis=0)


def polygon(landmarks: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """The points of a loop as an int32 array that OpenCV's polygon functions accept (×16 for subpixel shift 4)."""
    return np.round(landmarks[list(indices)] * 16).astype(np.int32)
