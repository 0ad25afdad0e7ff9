"""Hats cut by their image's edge, completed from their own texture before they are carried onto a portrait.

A hat photographed too close to the frame loses its crown to the top edge (or a side to a side edge); carried as it
is, it sits on the new head with a straight cut across. The crown is completed as the dome it was: the visible
sides are followed up as an ellipse (fitted to them from the cut down to the hat's widest row) until they meet,
filled with the hat's own rows mirrored at the edge. A side
cut off is the other side mirrored about the face's axis (a hat is symmetric). Where neither can look right (the
edge cuts the hat at its widest, or both sides are cut) the hat is left as it is and :func:`cut_note` says which edge
cuts it.
"""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.face import regions

CUT_SHARE = 0.04  # a hat is cut by an edge when its mask runs along this share of the hat's width there
WIDEST_SHARE = 0.97  # a top cut this wide of the hat's widest row cannot tell the crown's height


def _solid(mask: np.ndarray) -> np.ndarray:
    return mask > 0.5


def cut_edges(mask: np.ndarray) -> list[str]:
    """The image edges ("top", "left", "right") the hat's mask runs into."""
    solid = _solid(mask)
    if not solid.any():
        return []
    rows, columns = np.nonzero(solid)
    width = max(1, int(np.ptp(columns)) + 1)
    height = max(1, int(np.ptp(rows)) + 1)
    edges = []
    if solid[0].sum() > CUT_SHARE * width:
        edges.append("top")
    if solid[:, 0].sum() > CUT_SHARE * height:
        edges.append("left")
    if solid[:, -1].sum() > CUT_SHARE * height:
        edges.append("right")
    return edges


def _crown(solid: np.ndarray) -> tuple[float, np.ndarray] | None:
    """The dome a top-cut hat continues as: its centre column and the quadratic ``c`` whose ``c[0] + c[1]·y +
    c[2]·y²`` is the squared half width at row ``y`` (an ellipse's sides, fitted by least squares to the hat's sides
    from the cut down to its widest row); None when the cut is at the widest row or the sides do not close."""
    rows = np.nonzero(solid.any(axis=1))[0]
    spans = []
    for row in rows[: max(3, int(0.6 * len(rows)))]:
        columns = np.nonzero(solid[row])[0]
        spans.append((row, columns.min(), columns.max()))
    spans = np.array(spans, np.float64)
    half_widths = 0.5 * (spans[:, 2] - spans[:, 1] + 1)
    widest = int(np.argmax(half_widths))
    if widest < 2 or half_widths[0] >= WIDEST_SHARE * half_widths[widest]:
        return None
    quadratic = np.polynomial.polynomial.polyfit(spans[: widest + 1, 0], half_widths[: widest + 1] ** 2, 2)
    if quadratic[2] >= 0 or quadratic[0] <= 0:
        return None
    centre = float(np.median(0.5 * (spans[: widest + 1, 1] + spans[: widest + 1, 2])))
    return centre, quadratic


def _complete_top(image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray):
    crown = _crown(_solid(mask))
    if crown is None:
        return None
    centre, (c0, c1, c2) = crown
    # The dome's top: the row above the cut where its width closes.
    top = (-c1 + np.sqrt(max(c1 * c1 - 4.0 * c2 * c0, 0.0))) / (2.0 * c2)
    pad = min(int(np.ceil(-top)) + 2, image.shape[0])
    if pad < 2:
        return None
    # The hat's own rows, mirrored at the edge: its texture (knit, cloth, shading) carried on over the crown.
    image = cv2.copyMakeBorder(image, pad, 0, 0, 0, cv2.BORDER_REFLECT)
    mirrored = cv2.copyMakeBorder(mask.astype(np.float32), pad, 0, 0, 0, cv2.BORDER_REFLECT)
    rows = np.arange(image.shape[0], dtype=np.float64)[:, None] - pad
    columns = np.arange(image.shape[1], dtype=np.float64)[None, :]
    half_width = np.sqrt(np.maximum(c0 + c1 * rows + c2 * rows * rows, 0.0))
    dome = np.clip(half_width - np.abs(columns - centre) + 0.5, 0.0, 1.0)  # anti-aliased over a pixel
    completed = np.where(rows < 0, np.minimum(mirrored, dome), mirrored).astype(np.float32)
    return image, completed, landmarks + np.array([0.0, pad], np.float32)


def _complete_side(image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray, side: str):
    """The side of the hat beyond a left or right edge, as the other side mirrored about the face's axis."""
    axis = float(regions.face_center(landmarks)[0])
    width = image.shape[1]
    solid = _solid(mask)
    columns = np.nonzero(solid.any(axis=0))[0]
    if side == "left":
        reach = axis - 0.0
        far = columns.max() - axis
        pad = int(np.ceil(far - reach)) + 2
        if pad < 1:
            return None
        image = cv2.copyMakeBorder(image, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
        mask = cv2.copyMakeBorder(mask.astype(np.float32), 0, 0, pad, 0, cv2.BORDER_CONSTANT, value=0.0)
        axis += pad
        landmarks = landmarks + np.array([pad, 0.0], np.float32)
        missing = slice(0, pad)
    else:
        reach = (width - 1) - axis
        far = axis - columns.min()
        pad = int(np.ceil(far - reach)) + 2
        if pad < 1:
            return None
        image = cv2.copyMakeBorder(image, 0, 0, 0, pad, cv2.BORDER_REPLICATE)
        mask = cv2.copyMakeBorder(mask.astype(np.float32), 0, 0, 0, pad, cv2.BORDER_CONSTANT, value=0.0)
        missing = slice(image.shape[1] - pad, image.shape[1])
    # Mirror about the axis into the missing columns (and the column along the edge, which holds a cut).
    source = np.clip(np.round(2.0 * axis - np.arange(image.shape[1])[missing]).astype(int), 0, image.shape[1] - 1)
    image[:, missing] = image[:, source]
    mask[:, missing] = mask[:, source]
    return image, mask, landmarks


def complete_hat(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hat image, its mask and the wearer's landmarks, on a canvas grown past the edges that cut the hat and
    filled there (see the module); unchanged when no edge cuts it or completing cannot look right."""
    edges = cut_edges(mask)
    if "left" in edges and "right" in edges:
        return image, mask, landmarks
    for side in ("left", "right"):
        if side in edges:
            completed = _complete_side(image, mask, landmarks, side)
            if completed is not None:
                image, mask, landmarks = completed
    if "top" in edges:
        completed = _complete_top(image, mask, landmarks)
        if completed is not None:
            image, mask, landmarks = completed
    return image, mask, landmarks


def cut_note(mask: np.ndarray) -> str:
    """One line for the user when the hat's image cuts it where completing it cannot look right, else ""."""
    edges = cut_edges(mask)
    if "left" in edges and "right" in edges:
        return "the hat runs off both sides of its image, so its sides are cut where the image ends"
    if "top" in edges and _crown(_solid(mask)) is None:
        return "the top edge of the hat's image cuts it at its widest, so its crown is missing"
    return ""
