"""Motion retargeting: the driver's motion, relative to its first frame, applied to the portrait's own face.

Each driving frame is split into a rigid head motion (a similarity of the skull's landmarks relative to the first
frame) and an expression residual (what remains once that rigid motion is undone). The residual is carried into
the portrait's frame of reference (rotated and scaled by the first-frame alignment of driver to portrait) and
added to the portrait's landmarks; then the rigid motion, conjugated into the portrait's frame, moves the head.
The portrait keeps its face shape; only the motion is the driver's.
"""

from __future__ import annotations

import numpy as np

from durian_core.face import regions
from durian_core.face.align import apply_affine, invert_affine, similarity_transform


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """2×3 affine of ``outer ∘ inner``."""
    full_outer = np.vstack([outer, [0, 0, 1]])
    full_inner = np.vstack([inner, [0, 0, 1]])
    return (full_outer @ full_inner)[:2].astype(np.float32)


def _scale_similarity(matrix: np.ndarray, factor: float) -> np.ndarray:
    """Raise a similarity to the power ``factor`` (0 = identity, 1 = itself): scales angle, log-scale, shift."""
    if factor == 1.0:
        return matrix
    a, b = float(matrix[0, 0]), float(matrix[1, 0])
    scale, angle = np.hypot(a, b), np.arctan2(b, a)
    scale, angle = scale**factor, angle * factor
    linear = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return np.hstack([linear, factor * matrix[:, 2:3]]).astype(np.float32)


class Retargeter:
    """The driver's motion carried onto the portrait, one driving frame at a time (relative to the first one)."""

    def __init__(self, portrait_landmarks: np.ndarray, *, multiplier: float = 1.0) -> None:
        self.portrait = portrait_landmarks.astype(np.float32)
        self.multiplier = float(multiplier)
        self._first: np.ndarray | None = None

    def __call__(self, current: np.ndarray) -> np.ndarray:
        """The portrait's landmarks moving like ``current`` (478×2, the driver's) relative to the first frame."""
        if current.shape != self.portrait.shape:
            raise ValueError(
                f"driver landmarks of shape {current.shape} do not match portrait landmarks {self.portrait.shape}"
            )
        rigid = list(regions.RIGID)
        if self._first is None:
            self._first = current.astype(np.float32)
            # Driver's first frame → portrait: carries offsets measured on the driver into the portrait's frame.
            self._to_portrait = similarity_transform(self._first[rigid], self.portrait[rigid])
            self._from_portrait = invert_affine(self._to_portrait)
        first = self._first
        head = similarity_transform(first[rigid], current[rigid])
        # What the face does once the head motion is undone, in first-frame driver coordinates.
        residual = apply_affine(invert_affine(head), current) - first
        expression = self.portrait + self.multiplier * (residual @ self._to_portrait[:, :2].T)
        head_in_portrait = _compose(
            self._to_portrait, _compose(_scale_similarity(head, self.multiplier), self._from_portrait)
        )
        return apply_affine(head_in_portrait, expression)


def retarget_motion(
    portrait_landmarks: np.ndarray, driver_landmarks: np.ndarray, *, multiplier: float = 1.0
) -> np.ndarray:
    """The portrait's landmarks moving like the driver: F×478×2 float32 (frame 0 is the portrait itself).

    ``multiplier`` scales the motion (0 freezes the portrait, 1 copies the driver's amplitude).
    """
    if driver_landmarks.ndim != 3 or driver_landmarks.shape[1:] != portrait_landmarks.shape:
        raise ValueError(
            f"driver landmarks of shape {driver_landmarks.shape} do not match portrait landmarks "
            f"{portrait_landmarks.shape}"
        )
    retarget = Retargeter(portrait_landmarks, multiplier=multiplier)
    return np.stack([retarget(frame) for frame in driver_landmarks]).astype(np.float32)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap divided by face size, per frame (accepts 478×2 or F×478×2)."""
    points = landmarks[None] if landmarks.ndim == 2 else landmarks
    gap = np.linalg.norm(points[:, regions.LOWER_LIP_INNER] - points[:, regions.UPPER_LIP_INNER], axis=-1)
    sizes = np.array([regions.face_size(frame) for frame in points])
    opening = gap / sizes
    return opening[0] if landmarks.ndim == 2 else opening
