"""The classical engine's animator: the edited still warped along the retargeted landmarks, frame by frame.

One dense backward map per frame moves the face mesh; anchors on a ring around the head and on the border hold the
background still; a mouth interior is painted where the mouth opens wider than in the portrait.
"""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.masks import fill_polygons
from durian_core.types import PreparedInputs


def hair_ring_scale(prepared: PreparedInputs, *, minimum: float = 1.6) -> float:
    """Scale of the fixed anchor ring so that it encloses all hair and hats, old and new, with a margin.

    Hair cut by the ring would tear at it when the head turns: inside it stretches, outside it stays put.
    """
    masks = [mask for kind, mask in prepared.portrait_masks.items() if kind in ("hair", "hat")]
    masks += [attribute.aligned_mask for attribute in prepared.attributes if attribute.kind in ("hair", "hat")]
    if not masks:
        return minimum
    ys, xs = np.nonzero(np.maximum.reduce(masks) > 0.5)
    if len(xs) == 0:
        return minimum
    center = regions.face_center(prepared.portrait_landmarks)
    size = regions.face_size(prepared.portrait_landmarks)
    # The same ellipse proportions as the ring itself (align.head_ring).
    radius = np.sqrt(((xs - center[0]) / (0.5 * size)) ** 2 + ((ys - center[1]) / (0.55 * size)) ** 2)
    return float(round(max(minimum, np.percentile(radius, 98) * 1.15), 2))


class MouthFiller:
    """Paints a mouth interior (dark throat, a band of upper teeth) where the mouth opens past the portrait's."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.rest_gap = float(np.linalg.norm(landmarks[regions.LOWER_LIP_INNER] - landmarks[regions.UPPER_LIP_INNER]))
        self.size = regions.face_size(landmarks)
        lips = fill_polygons(image.shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5
        lip_colour = image[lips].mean(axis=0) if lips.any() else np.array([120, 60, 60], np.float32)
        self.throat = (lip_colour * 0.25).astype(np.float32)
        self.teeth = np.array([205, 200, 190], np.float32) * (0.5 + 0.5 * image.mean() / 255.0)

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        upper, lower = landmarks[regions.UPPER_LIP_INNER], landmarks[regions.LOWER_LIP_INNER]
        gap = float(np.linalg.norm(lower - upper))
        strength = np.clip((gap - self.rest_gap - 0.01 * self.size) / (0.03 * self.size), 0.0, 1.0)
        if strength <= 0:
            return frame
        inner = landmarks[list(regions.LIPS_INNER)]
        x0, y0 = np.floor(inner.min(axis=0) - 2).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0) + 3).astype(int)
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        local = inner - np.array([x0, y0], np.float32)
        mouth = fill_polygons((y1 - y0, x1 - x0), [local])
        mouth = cv2.GaussianBlur(mouth, (3, 3), 0.8)
        # Teeth: a band under the upper lip, a quarter of the opening deep.
        rows = np.arange(y0, y1, dtype=np.float32)[:, None] - (upper[1] + 1.0)
        teeth = np.clip(1.0 - rows / max(gap * 0.3, 1.0), 0.0, 1.0) * (rows > -2)
        colour = self.throat + (self.teeth - self.throat) * teeth[..., None]
        alpha = (mouth * strength)[..., None]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        out = frame.copy()
        out[y0:y1, x0:x1] = np.clip(patch * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)
        return out
