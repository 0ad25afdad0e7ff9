"""Hats cut by their image's edge, completed from their own texture before they are carried onto a portrait.

A hat photographed too close to the frame loses its crown to the top edge; carried as it is, it sits on the new
head with a straight cut across. The crown is completed as the dome it was: the visible sides are followed up as an
ellipse (fitted to them from the cut down to the hat's widest row) until they meet, filled with the hat's own rows
mirrored at the edge. Where that cannot look right (the top edge cuts the hat at its widest, or a side edge cuts it:
what lies beyond cannot be told from the photo) the hat is left as it is and :func:`cut_note` says which edge cuts
it.
"""

from __future__ import annotations

import cv2
import numpy as np

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


def complete_hat(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hat image, its mask and the wearer's landmarks, on a canvas grown past the top edge where it cuts the
    hat's crown and filled there (see the module); unchanged when the top edge does not cut it or completing the
    crown cannot look right."""
    if "top" in cut_edges(mask):
        completed = _complete_top(image, mask, landmarks)
        if completed is not None:
            return completed
    return image, mask, landmarks


def cut_note(mask: np.ndarray) -> str:
    """One line for the user when the hat's image cuts it where completing it cannot look right, else ""."""
    sides = [edge for edge in cut_edges(mask) if edge != "top"]
    if len(sides) == 2:
        return "the hat runs off both sides of its image, so its sides are cut where the image ends"
    if sides:
        return f"the {sides[0]} edge of the hat's image cuts it, so that side of it is missing"
    if "top" in cut_edges(mask) and _crown(_solid(mask)) is None:
        return "the top edge of the hat's image cuts it at its widest, so its crown is missing"
    return ""
