"""Mask refinement: GrabCut seeded by an automatic mask and a user's strokes, and soft alpha mattes along edges.

Region masks from landmarks and person segmentation are right in the large and wrong in the small (a strip of car
seat beside the face, a collar under the ear, a hard edge through wispy hair). GrabCut re-decides the uncertain
pixels by colour, from seeds the caller is sure of; alpha matting (closed-form, pymatting) then gives the edge band
fractional opacity, and the matte's foreground colours carry no background into a composite.

Both work on a crop around the region, at a reduced size: they are refinements of a few percent of the image, and
a 512² portrait must still edit in well under a second.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

GRABCUT_SIZE = 200  # longest side GrabCut runs at: colour models need few pixels, iterations cost per pixel
MATTE_SIZE = 256  # longest side of the crop the closed-form matte is solved at
_matting_lock = threading.Lock()  # numba-compiled kernels: the first call compiles, later calls share it


def mask_box(mask: np.ndarray, *, margin: int) -> tuple[slice, slice] | None:
    """The slices around ``mask``'s nonzero pixels, ``margin`` pixels wider, clipped to it (None when empty)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    height, width = mask.shape
    return (
        slice(max(0, ys.min() - margin), min(height, ys.max() + margin + 1)),
        slice(max(0, xs.min() - margin), min(width, xs.max() + margin + 1)),
    )


def grabcut_refine(
    image: np.ndarray,
    probable: np.ndarray,
    *,
    sure_foreground: np.ndarray | None = None,
    sure_background: np.ndarray | None = None,
    iterations: int = 4,
) -> np.ndarray:
    """Pixels GrabCut assigns to the foreground (bool H×W).

    ``probable`` (> 0.5) starts as probable foreground and everything else as probable background; pixels of
    ``sure_foreground`` and ``sure_background`` are fixed (a user's brush and eraser strokes, or what the landmarks
    make certain). Runs on a crop around the region at :data:`GRABCUT_SIZE`.
    """
    height, width = probable.shape
    fixed_fg = np.zeros((height, width), bool) if sure_foreground is None else sure_foreground > 0.5
    fixed_bg = np.zeros((height, width), bool) if sure_background is None else sure_background > 0.5
    candidate = (probable > 0.5) | fixed_fg
    box = mask_box(candidate, margin=max(4, int(0.08 * max(height, width))))
    if box is None:
        return np.zeros((height, width), bool)
    crop = (slice(box[0].start, box[0].stop), slice(box[1].start, box[1].stop))
    labels = np.full(candidate[crop].shape, cv2.GC_PR_BGD, np.uint8)
    labels[candidate[crop]] = cv2.GC_PR_FGD
    labels[fixed_bg[crop]] = cv2.GC_BGD
    labels[fixed_fg[crop]] = cv2.GC_FGD
    if not (labels == cv2.GC_FGD).any() and not (labels == cv2.GC_PR_FGD).any():
        return np.zeros((height, width), bool)
    crop_height, crop_width = labels.shape
    scale = min(1.0, GRABCUT_SIZE / max(crop_height, crop_width))
    small_size = (max(8, round(crop_width * scale)), max(8, round(crop_height * scale)))
    small = cv2.resize(image[crop], small_size, interpolation=cv2.INTER_AREA)
    small_labels = cv2.resize(labels, small_size, interpolation=cv2.INTER_NEAREST)
    if len(np.unique(small_labels % 2)) < 2:  # GrabCut needs both a foreground and a background sample
        result = candidate.copy()
        result[fixed_bg] = False
        return result
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation draws random numbers: the same input gives the same mask
    cv2.grabCut(
        np.ascontiguousarray(small), small_labels, None, background, foreground, iterations, cv2.GC_INIT_WITH_MASK
    )
    chosen = np.isin(small_labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    chosen = cv2.resize(chosen, (crop_width, crop_height), interpolation=cv2.INTER_LINEAR) > 0.5
    result = np.zeros((height, width), bool)
    result[crop] = chosen
    result |= fixed_fg
    result &= ~fixed_bg
    return result


def keep_connected(mask: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The connected parts of ``mask`` (bool) that touch ``anchor`` (bool): strays away from the region go."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask
    touching = np.unique(labels[anchor & mask])
    touching = touching[touching > 0]
    return np.isin(labels, touching)


def trimap(mask: np.ndarray, band: float) -> np.ndarray:
    """1 inside ``mask`` (bool) farther than ``band`` pixels from its edge, 0 outside as far, 0.5 in between."""
    radius = max(1, int(round(band)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    binary = mask.astype(np.uint8)
    inside = cv2.erode(binary, kernel) > 0
    outside = cv2.dilate(binary, kernel) == 0
    result = np.full(mask.shape, 0.5, np.float64)
    result[inside] = 1.0
    result[outside] = 0.0
    return result


def alpha_matte(image: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Soft opacity (float32 H×W in [0, 1]) for a trimap: closed-form matting of the unknown band.

    Solved on a crop around the band at :data:`MATTE_SIZE`; the known parts keep their 0 or 1.
    """
    unknown = (tri > 0) & (tri < 1)
    alpha = (tri >= 1).astype(np.float32)
    box = mask_box(unknown, margin=4)
    if box is None:
        return alpha
    crop_image, crop_tri = image[box], tri[box]
    if not (crop_tri >= 1).any() or not (crop_tri <= 0).any():
        alpha[unknown] = 0.5
        return alpha
    crop_height, crop_width = crop_tri.shape
    scale = min(1.0, MATTE_SIZE / max(crop_height, crop_width))
    size = (max(8, round(crop_width * scale)), max(8, round(crop_height * scale)))
    small = cv2.resize(crop_image, size, interpolation=cv2.INTER_AREA).astype(np.float64) / 255.0
    small_tri = cv2.resize(crop_tri, size, interpolation=cv2.INTER_NEAREST)
    solved = _solve_alpha(small, small_tri)
    solved = cv2.resize(solved.astype(np.float32), (crop_width, crop_height), interpolation=cv2.INTER_LINEAR)
    region = alpha[box]
    band = unknown[box]
    region[band] = np.clip(solved[band], 0.0, 1.0)
    return alpha


def _solve_alpha(image: np.ndarray, tri: np.ndarray) -> np.ndarray:
    import pymatting  # numba compiles its kernels at first import (once per installation, cached on disk)

    with _matting_lock:
        return pymatting.estimate_alpha_cf(image, tri)


def foreground_colours(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The colours of the matted object alone (RGB uint8), without the background that shows through its edge.

    Where ``alpha`` is fractional, an observed pixel is a mix of object and background; compositing it as it is
    carries the old background along as a halo. Estimated only where the edge is (multi-level, pymatting)."""
    # Only the outer edge: inside, a fractional opacity is scalp or skin showing through thin hair, not a mix
    # with the background.
    radius = max(2, int(round(0.01 * max(alpha.shape))))
    near_outside = cv2.dilate((alpha < 0.3).astype(np.uint8), np.ones((2 * radius + 1,) * 2, np.uint8)) > 0
    edge = (alpha > 0.02) & (alpha < 0.98) & near_outside
    box = mask_box(edge, margin=8)
    result = image.copy()
    if box is None:
        return result
    import pymatting

    crop = image[box].astype(np.float64) / 255.0
    with _matting_lock:
        foreground = pymatting.estimate_foreground_ml(crop, alpha[box].astype(np.float64), n_big_iterations=1)
    patch = result[box]
    band = edge[box]
    patch[band] = np.clip(np.rint(foreground[band] * 255.0), 0, 255).astype(np.uint8)
    return result


def warm_up() -> None:
    """Import pymatting now: numba compiles its kernels at the first import of an installation (about a minute on
    two cores, cached on disk afterwards), which should not land on a user's first edit."""
    import pymatting  # noqa: F401
