"""The old hair of a video's frames (or a camera frame) taken away under new hair: where each key frame's hair is
removed (:func:`removal_alpha`), carried to the frames between by the head's motion (:class:`OldHair`), and the fill
behind it healed to each frame's own colour (:func:`heal`)."""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.carry import Box, head_motion, support_box, warp_into
from durian_core.engines.hair_removal import remove_hair
from durian_core.face import regions
from durian_core.face.masks import face_oval, feather, protected_features, skin_region
from durian_core.types import PreparedInputs


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


CHANGED = 12.0
"""A pixel the editor's hair removal moved by more than this (8-bit levels, any channel) was part of the hole."""
FOREHEAD_RAMP = 0.08
"""Face sizes over which the removal fades out down the forehead."""


def removal_alpha(image: np.ndarray, own_hair: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Where an image's own hair (``own_hair``, its mask) is taken away (float32): what the editor's
    :func:`~durian_core.engines.hair_removal.remove_hair` changes (its hole reaches stray strands, the hair at the
    temples and a fringe's ends), and the hair itself a little widened, never the face's skin below the brows nor the
    brows and eyes. Over the forehead the edge is a ramp :data:`FOREHEAD_RAMP` face sizes long, so the refilled
    scalp, seen in another frame, runs into this frame's forehead without a line."""
    shape = own_hair.shape[:2]
    size = regions.face_size(landmarks)
    removed = remove_hair(image, own_hair, np.zeros(shape, np.float32), landmarks)
    changed = np.abs(removed.astype(np.int16) - image.astype(np.int16)).max(axis=-1) > CHANGED
    hole = cv2.dilate((own_hair > 0.1).astype(np.uint8), _disc(0.035 * size)) > 0
    hole &= ~(skin_region(landmarks, shape, forehead=False) > 0.5) & ~protected_features(landmarks, shape)
    # The editor's own hole keeps its own distance from the brows, closer than the widened hair's.
    clear = ~protected_features(landmarks, shape, margin=0.01)
    hole |= (cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.01 * size)) > 0) & clear
    distance = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 5)
    forehead = (face_oval(landmarks, shape) > 0.5) & clear
    forehead &= np.arange(shape[0])[:, None] < landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].max()
    ramp = np.where(forehead, np.clip(1.0 - distance / max(1.0, FOREHEAD_RAMP * size), 0.0, 1.0), 0.0)
    # Soft outside the hole only: inside, none of the old hair shows through.
    edge = np.maximum(hole.astype(np.float32), feather(hole.astype(np.float32), 0.015 * size))
    return np.maximum(edge, ramp.astype(np.float32))


HEAL_REACH = 0.1
"""Face sizes around the removed hair over which the fill takes on the frame's own colour (:func:`heal`)."""
HEAL_LIMIT = 48.0
"""The most (8-bit levels) the fill is moved towards the frame's colour."""


def heal(frame: np.ndarray, fill: np.ndarray, alpha: np.ndarray, *, size: float) -> np.ndarray:
    """``fill`` moved towards ``frame``'s colour around the hole ``alpha`` (both uint8), as a healing brush does:
    the difference between the two on a band just outside the hole, spread smoothly into it. The plate and the
    reference's scalp were seen in other frames, under other light; healed, they meet this frame without a seam.
    Computed at a quarter of the resolution: the correction is smooth anyway."""
    height, width = alpha.shape[:2]
    small = (max(1, width // 4), max(1, height // 4))
    hole = cv2.resize(alpha, small, interpolation=cv2.INTER_AREA) > 0.02
    reach = max(1.0, HEAL_REACH * size / 4)
    band = (cv2.dilate(hole.astype(np.uint8), _disc(reach)) > 0) & ~hole
    if not band.any():
        return fill
    shrink = lambda image: cv2.resize(image, small, interpolation=cv2.INTER_AREA).astype(np.float32)  # noqa: E731
    difference = (shrink(frame) - shrink(fill)) * band[..., None]
    weight = cv2.GaussianBlur(band.astype(np.float32), (0, 0), reach)
    spread = cv2.GaussianBlur(difference, (0, 0), reach) / np.maximum(weight, 1e-3)[..., None]
    spread = np.clip(spread, -HEAL_LIMIT, HEAL_LIMIT) * np.clip(weight * 8.0, 0.0, 1.0)[..., None]
    correction = cv2.resize(spread, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.add(fill, correction, dtype=cv2.CV_8U)


@dataclass(frozen=True, eq=False)
class HairKey:
    """The old hair on one key frame: where it is removed, in the key frame's own crop, and that crop's landmarks."""

    index: int  # the frame's index in its clip
    landmarks: np.ndarray  # 478×2 float32, pixels of ``alpha``
    alpha: np.ndarray  # float32 (:func:`removal_alpha`)

    @functools.cached_property
    def box(self) -> Box | None:
        return support_box(self.alpha)


@dataclass(frozen=True, eq=False)
class OldHair:
    """The old hair of a clip (or of one camera frame) and what lies behind it.

    ``keys`` are a few key frames' removal masks; a frame between two of them takes both, each carried by the
    head's motion from its key frame, weighed by how near it is. ``plate`` is what lies behind the person, at the
    frames' size and fixed in the frame: for a clip, built across its frames from what the moving person leaves
    uncovered.
    """

    keys: tuple[HairKey, ...]  # ordered by index, at least one
    plate: np.ndarray  # H×W×3 uint8

    def removal(self, index: int, landmarks: np.ndarray, box: Box) -> np.ndarray:
        """The removal's opacity at frame ``index`` with face ``landmarks``, over the frame's ``box`` (float32).

        Each of the two key frames around ``index`` counts fully over the half of the gap nearer to it and fades out
        over the other half, so midway the removal is the union of both (never half of each, which would leave the
        old hair showing at half strength) and no key frame appears or vanishes at once.
        """
        starts = [key.index for key in self.keys]
        after = bisect.bisect_right(starts, index)
        first = self.keys[max(0, after - 1)]
        mask = warp_into(first.alpha, head_motion(first.landmarks, landmarks), box)
        if after < len(self.keys) and first.index <= index:
            second = self.keys[after]
            share = (index - first.index) / max(1, second.index - first.index)
            if share > 0:
                later = warp_into(second.alpha, head_motion(second.landmarks, landmarks), box)
                mask = np.maximum(mask * min(1.0, 2.0 * (1.0 - share)), later * min(1.0, 2.0 * share))
        return mask

    def plate_at(self, shape: tuple[int, ...], box: Box) -> np.ndarray:
        """The plate over a frame's ``box`` (a frame of another size than the plate's gets it resized)."""
        plate = self.plate
        if plate.shape[:2] != shape[:2]:
            plate = cv2.resize(plate, shape[1::-1], interpolation=cv2.INTER_LINEAR)
        x0, y0, x1, y1 = box
        return np.ascontiguousarray(plate[y0:y1, x0:x1])


def reference_old_hair(prepared: PreparedInputs) -> OldHair:
    """The old hair of a single reference image: its own removal mask, and behind it the editor's refill of the
    reference (for the mirror, where no clip shows what lies behind the head)."""
    landmarks = prepared.portrait_landmarks
    own = prepared.own_hair if prepared.own_hair is not None else np.zeros(prepared.portrait.shape[:2], np.float32)
    removed = remove_hair(prepared.portrait, own, np.zeros_like(own), landmarks)
    key = HairKey(0, landmarks.astype(np.float32), removal_alpha(prepared.portrait, own, landmarks))
    return OldHair((key,), prepared.paste(removed))
