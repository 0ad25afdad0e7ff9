"""Where the engines work: a crop around the chosen face at the work size, and its paste-back into the full photo;
and the square crop at the diffusion model's resolution (:func:`face_crop`), pasted back by :func:`paste_back`.

A portrait keeps its own resolution (up to ``GenerationSettings.output_size``); the engines see only a rectangle
around the face, wide enough for hair, hats and the head's motion, scaled so its longest side is at most
``work_size``. Their frames go back into the full-size portrait with a feathered seam, so everything outside the
rectangle is the portrait's own pixels and a group photo keeps its other faces untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.align import apply_affine, invert_affine
from durian_core.face.masks import feather

CROP_FACES = 3.4
"""Crop side over face size: room for voluminous hair, a hat and the head turning within the crop."""
SEAM = 0.06
"""Width of the paste-back's feathered seam, as a fraction of the crop's shorter side."""


@dataclass(frozen=True)
class WorkCrop:
    """An axis-aligned rectangle of the full portrait (``x0, y0, x1, y1``, pixels) and the scale it works at."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float  # work pixels per portrait pixel (at most 1: a crop is never enlarged)
    full_size: tuple[int, int]  # (width, height) of the full portrait

    @property
    def work_size(self) -> tuple[int, int]:
        """(width, height) of the crop as the engines see it (even sides, for H.264)."""
        width = max(2, int(round((self.x1 - self.x0) * self.scale / 2)) * 2)
        height = max(2, int(round((self.y1 - self.y0) * self.scale / 2)) * 2)
        return width, height

    @property
    def is_whole(self) -> bool:
        """Whether the crop is the whole portrait at its own size (paste-back is then the identity)."""
        return (self.x0, self.y0, self.x1, self.y1) == (0, 0, *self.full_size) and self.work_size == self.full_size

    @property
    def resampled(self) -> bool:
        """Whether the crop is scaled on its way to the engines and back."""
        return self.work_size != (self.x1 - self.x0, self.y1 - self.y0)

    def cut(self, image: np.ndarray) -> np.ndarray:
        """The crop of a full-size image, at the work size."""
        part = image[self.y0 : self.y1, self.x0 : self.x1]
        size = self.work_size
        if part.shape[1::-1] == size:
            return np.ascontiguousarray(part)
        return cv2.resize(part, size, interpolation=cv2.INTER_AREA)

    def to_work(self, points: np.ndarray) -> np.ndarray:
        """Full-portrait pixel coordinates → work-crop pixel coordinates."""
        width, height = self.work_size
        factor = np.array([width / (self.x1 - self.x0), height / (self.y1 - self.y0)], np.float32)
        return ((points - np.array([self.x0, self.y0], np.float32)) * factor).astype(np.float32)

    def seam(self) -> np.ndarray:
        """The paste-back opacity over the crop's rectangle (float32, full-resolution rectangle size): 1 inside,
        falling to 0 at the sides that lie inside the portrait; the sides on the portrait's own border stay 1."""
        height, width = self.y1 - self.y0, self.x1 - self.x0
        band = max(1, int(round(SEAM * min(width, height))))
        ramp = np.clip((np.arange(max(width, height), dtype=np.float32) + 0.5) / band, 0, 1)
        across = np.ones(width, np.float32)
        down = np.ones(height, np.float32)
        full_width, full_height = self.full_size
        if self.x0 > 0:
            across = np.minimum(across, ramp[:width])
        if self.x1 < full_width:
            across = np.minimum(across, ramp[:width][::-1])
        if self.y0 > 0:
            down = np.minimum(down, ramp[:height])
        if self.y1 < full_height:
            down = np.minimum(down, ramp[:height][::-1])
        return (down[:, None] * across[None, :]).astype(np.float32)

    def paste(self, full: np.ndarray, frame: np.ndarray, *, seam: np.ndarray | None = None) -> np.ndarray:
        """``full`` (the portrait, or its edit) with the work-size ``frame`` put back into the crop's rectangle."""
        if self.is_whole:
            return frame
        width, height = self.x1 - self.x0, self.y1 - self.y0
        if self.full_size != (full.shape[1], full.shape[0]):
            raise ValueError(f"the crop belongs to a {self.full_size} portrait, got {full.shape[1::-1]}")
        if frame.shape[1::-1] != (width, height):
            frame = cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)
        alpha = self.seam() if seam is None else seam
        out = full.copy()
        region = out[self.y0 : self.y1, self.x0 : self.x1]
        # OpenCV's per-pixel weighted sum: a sixth of the time of the same sum in float32 numpy (it runs per frame).
        out[self.y0 : self.y1, self.x0 : self.x1] = cv2.blendLinear(
            np.ascontiguousarray(frame), region, alpha, 1 - alpha
        )
        return out


def work_crop(landmarks: np.ndarray, full_size: tuple[int, int], *, work_size: int) -> WorkCrop:
    """The rectangle around a face (``landmarks`` in full-portrait pixels) that the engines work on.

    A square of :data:`CROP_FACES` face sizes centred a little above the face (hair grows up), clipped to the
    portrait, scaled so its longest side is at most ``work_size``. A portrait no larger than that square is
    worked on whole.
    """
    width, height = full_size
    size = regions.face_size(landmarks)
    side = CROP_FACES * size
    centre = regions.face_center(landmarks) - np.array([0.0, 0.12 * side], np.float32)
    x0, y0 = int(np.floor(max(0.0, centre[0] - side / 2))), int(np.floor(max(0.0, centre[1] - side / 2)))
    x1, y1 = int(np.ceil(min(width, centre[0] + side / 2))), int(np.ceil(min(height, centre[1] + side / 2)))
    if x1 - x0 < 16 or y1 - y0 < 16:
        x0, y0, x1, y1 = 0, 0, width, height
    # Even sides, so a crop worked at its own scale is cut and pasted back without any resampling.
    if (x1 - x0) % 2:
        x1, x0 = (x1 - 1, x0) if x1 - x0 > 16 else (x1, x0)
    if (y1 - y0) % 2:
        y1, y0 = (y1 - 1, y0) if y1 - y0 > 16 else (y1, y0)
    scale = min(1.0, work_size / max(x1 - x0, y1 - y0))
    return WorkCrop(x0, y0, x1, y1, scale, (width, height))


# ----------------------------------------------------------------------- the diffusion model's square face crop

CROP_SCALE = 2.0
"""Crop side over face size: room for hair above and around the face, as in the paper's training crops."""


@dataclass(frozen=True)
class FaceCrop:
    """An axis-aligned square around a face, mapped to ``size``×``size`` pixels."""

    matrix: np.ndarray  # 2×3, source pixels → crop pixels
    size: int

    def warp(self, image: np.ndarray, *, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
        """Cut the crop out of ``image`` (RGB or a float mask) at the model resolution."""
        flags = cv2.INTER_AREA if self.matrix[0, 0] < 1 else cv2.INTER_LINEAR
        return cv2.warpAffine(image, self.matrix, (self.size, self.size), flags=flags, borderMode=border)

    def points(self, landmarks: np.ndarray) -> np.ndarray:
        return apply_affine(self.matrix, landmarks)


def face_crop(landmarks: np.ndarray, *, size: int, scale: float = CROP_SCALE) -> FaceCrop:
    """The square of side ``scale × face size`` centred on the face, a little above it so hair fits."""
    side = scale * regions.face_size(landmarks)
    center = regions.face_center(landmarks) - np.array([0.0, 0.1 * side], np.float32)
    factor = size / side
    offset = size / 2 - factor * center
    matrix = np.array([[factor, 0.0, offset[0]], [0.0, factor, offset[1]]], np.float32)
    return FaceCrop(matrix, size)


def paste_back(frames: np.ndarray, background: np.ndarray, crop: FaceCrop) -> np.ndarray:
    """Put generated crops back into ``background`` (the portrait), feathered over ~4% of the crop side."""
    height, width = background.shape[:2]
    inverse = invert_affine(crop.matrix)
    margin = max(1, crop.size // 25)
    square = np.zeros((crop.size, crop.size), np.float32)
    square[margin:-margin, margin:-margin] = 1.0
    square = feather(square, margin)
    alpha = cv2.warpAffine(square, inverse, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    out = np.empty((len(frames), height, width, 3), np.uint8)
    base = background.astype(np.float32)
    for index, frame in enumerate(frames):
        placed = cv2.warpAffine(
            frame, inverse, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        out[index] = np.clip(alpha * placed + (1 - alpha) * base + 0.5, 0, 255).astype(np.uint8)
    return out
