"""Prepared inputs: everything both engines need that depends only on the uploads, computed once and cached.

Landmarks, attribute masks, attribute layers aligned onto the portrait, the driver's landmarks and the motion
retargeted onto the portrait are functions of the input images and video alone (plus the motion multiplier for
the retargeted motion), so a tweak of α, a weight, a seed or a guidance scale reuses them from the cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PreparedAttribute:
    """One attribute reference, analysed and aligned onto the portrait."""

    image: np.ndarray  # the attribute image, RGB uint8
    kind: str
    landmarks: np.ndarray  # 478×2 float32, pixels of ``image``
    mask: np.ndarray  # float32 in [0, 1], the attribute region on ``image`` (automatic ∪ user, or user alone)
    aligned_image: np.ndarray  # ``image`` warped onto the portrait's geometry, portrait-sized
    aligned_mask: np.ndarray  # ``mask`` warped the same way
    weight: float  # effective opacity: the reference's weight, times (1 − α) or α inside an interpolation
    name: str = ""


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """What the engines consume. Images are at the working resolution (longest side ``output_size``)."""

    portrait: np.ndarray  # RGB uint8
    portrait_landmarks: np.ndarray  # 478×2 float32
    portrait_masks: dict[str, np.ndarray]  # the portrait's own region per attribute kind requested
    attributes: tuple[PreparedAttribute, ...]
    interpolation: tuple[int, int, float] | None  # (first, second, α) indices into ``attributes``
    motion: np.ndarray | None  # F×478×2 float32: the portrait's landmarks moving like the driver
    fps: float | None
    audio_path: str | None

    @property
    def portrait_mask(self) -> np.ndarray:
        """``M_port``: the portrait's own attribute regions united with the aligned attribute masks.

        The union keeps none of the portrait's own hair (say) under the new one (the paper's aligned mask).
        """
        height, width = self.portrait.shape[:2]
        union = np.zeros((height, width), np.float32)
        for mask in self.portrait_masks.values():
            union = np.maximum(union, mask)
        for attribute in self.attributes:
            union = np.maximum(union, attribute.aligned_mask)
        return union
