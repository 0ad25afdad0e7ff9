"""Hair found from the image's own sure pixels: a per-image classifier on colour and strand texture.

No hair-segmentation model works offline, and no fixed colour rule holds across photos (blonde hair is the colour
of fair skin, dark hair the colour of a suit). What does hold: the crown above the forehead is hair (unless the
head is bald), the middle of the face is skin, what the person segmentation leaves out far from the person is
background, and the middle of the chest under the chin is neck and clothes. Those pixels train a small classifier,
on this image alone, over Lab colour and texture: hair is strands, a strong and coherent local orientation at a
fine scale, which skin, walls and cloth lack. Its verdict is then limited by position: hair is on this person,
hangs from the crown (past the jaw only beside the neck, joined to the crown's hair) and is never the face below
the brows.

Everything runs on a crop around the head resized so the face is :data:`WORK_FACE` pixels: features and verdicts
cost per pixel, and strands are a few pixels wide at that scale whatever the photo's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions

WORK_FACE = 128.0
"""Face size (pixels) the classifier works at."""
FINE_ENERGY = 6
"""Index of the fine-scale texture energy in :func:`pixel_features`."""


@dataclass(frozen=True)
class HeadCrop:
    """Where the work happens: a box of the image and the scale it is resized by."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the resized crop."""
        return max(8, round((self.x1 - self.x0) * self.scale)), max(8, round((self.y1 - self.y0) * self.scale))

    def take(self, picture: np.ndarray, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
        """The crop of an image-sized array, resized."""
        return cv2.resize(picture[self.y0 : self.y1, self.x0 : self.x1], self.size, interpolation=interpolation)

    def landmarks(self, landmarks: np.ndarray) -> np.ndarray:
        """Image-pixel landmarks in the resized crop's pixels."""
        return (landmarks - np.array([self.x0, self.y0], np.float32)) * self.scale

    def paste(self, small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A crop-sized float array back at the image's size (zero outside the box)."""
        out = np.zeros(shape, np.float32)
        out[self.y0 : self.y1, self.x0 : self.x1] = cv2.resize(
            small.astype(np.float32), (self.x1 - self.x0, self.y1 - self.y0), interpolation=cv2.INTER_LINEAR
        )
        return out


def head_crop(landmarks: np.ndarray, shape: tuple[int, int]) -> HeadCrop:
    """A box from a face size above the face's landmarks to two below (long hair), 1.3 beside, cut by the frame."""
    size = regions.face_size(landmarks)
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    x0, y0 = int(max(0, low[0] - 1.3 * size)), int(max(0, low[1] - 1.0 * size))
    x1, y1 = int(min(shape[1], high[0] + 1.3 * size)), int(min(shape[0], high[1] + 2.0 * size))
    return HeadCrop(x0, y0, max(x1, x0 + 1), max(y1, y0 + 1), min(1.0, WORK_FACE / size))


# -------------------------------------------------------------------------------------------------- features


def _structure(gray: np.ndarray, integration: float) -> tuple[np.ndarray, np.ndarray]:
    """Log energy of the structure tensor at one integration scale, and the log of its oriented part (what one
    orientation holds beyond the others: strands have much of it, noise and skin pores little)."""
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    xx = cv2.GaussianBlur(gx * gx, (0, 0), integration)
    yy = cv2.GaussianBlur(gy * gy, (0, 0), integration)
    xy = cv2.GaussianBlur(gx * gy, (0, 0), integration)
    energy = xx + yy
    spread = np.sqrt((xx - yy) ** 2 + 4 * xy * xy)  # the eigenvalues' difference: energy along one orientation
    return np.log1p(energy), np.log1p(spread)


def pixel_features(crop: np.ndarray) -> np.ndarray:
    """Per pixel (H×W×10): Lab colour, its mean around the pixel, and strand texture (the local orientation's energy
    and its oriented part, at a strand's scale and a lock's)."""
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    gray = cv2.GaussianBlur(lab[..., 0], (0, 0), 0.7)
    fine_energy, fine_oriented = _structure(gray, 1.5)
    coarse_energy, coarse_oriented = _structure(gray, 4.0)
    # The colour of the neighbourhood: a lock's mean colour is steadier than a strand's, and a patterned wall's mean
    # differs from hair's even where single pixels match.
    around = cv2.GaussianBlur(lab, (0, 0), 4.0)
    return np.dstack([lab, around, fine_energy, fine_oriented, coarse_energy, coarse_oriented])


# -------------------------------------------------------------------------------------------------- classifier


def _expand(features: np.ndarray) -> np.ndarray:
    """Features with their pairwise products: a logistic regression on these draws quadratic boundaries."""
    count = features.shape[1]
    rows, cols = np.triu_indices(count)
    return np.concatenate([features, features[:, rows] * features[:, cols], np.ones((len(features), 1))], axis=1)


@dataclass(frozen=True)
class HairClassifier:
    """A quadratic logistic regression over standardised features."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(hair) per row of ``features`` (the quadratic form evaluated as ``x·w + xᵀQx``, not expanded: a
        crop's pixels times the pairwise products would be tens of megabytes)."""
        count = features.shape[1]
        standard = ((features - self.mean) / self.scale).astype(np.float32)
        linear, pairs, bias = self.weights[:count], self.weights[count:-1], self.weights[-1]
        quadratic = np.zeros((count, count))
        quadratic[np.triu_indices(count)] = pairs
        logits = standard @ linear.astype(np.float32) + ((standard @ quadratic.astype(np.float32)) * standard).sum(1)
        return 1.0 / (1.0 + np.exp(-np.clip(logits + bias, -30, 30)))


def fit_classifier(hair: np.ndarray, other: np.ndarray, *, l2: float = 1.0, steps: int = 8) -> HairClassifier:
    """Fit on rows of hair and non-hair features (Newton's method, an L2 penalty, classes weighted equally)."""
    samples = np.concatenate([hair, other])
    labels = np.concatenate([np.ones(len(hair)), np.zeros(len(other))])
    weights_per_sample = np.concatenate([np.full(len(hair), 0.5 / len(hair)), np.full(len(other), 0.5 / len(other))])
    mean, scale = samples.mean(axis=0), samples.std(axis=0) + 1e-6
    design = _expand((samples - mean) / scale)
    weights = np.zeros(design.shape[1])
    penalty = l2 / len(samples) * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ weights, -30, 30)))
        gradient = design.T @ (weights_per_sample * (p - labels)) + penalty @ weights
        hessian = (design * (weights_per_sample * p * (1 - p))[:, None]).T @ design + penalty
        weights -= np.linalg.solve(hessian + 1e-9 * np.eye(len(weights)), gradient)
    return HairClassifier(mean, scale, weights)
