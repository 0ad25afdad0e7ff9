"""Geometry of the mask editor: the paintable layer and the fixed square canvas images sit in."""

from __future__ import annotations

import numpy as np

from durian_core.config import GenerationSettings
from durian_core.media import load_mask

# Attribute images are analysed at the default output size, so the core finds their landmarks and masks already
# cached when it prepares a request at that size.
WORKING_SIZE = GenerationSettings().work_size
MASK_COLOUR = (255, 64, 160)  # the mask layer's colour in the editor: visible on hair, skin and backgrounds
MASK_OPACITY = 0.55  # the layer's alpha where the mask is 1; the image stays visible underneath
EDITOR_FILL = 236  # grey around images that are not square, in the editor's square canvas


def mask_layer(mask: np.ndarray) -> np.ndarray:
    """A float mask as the editor's paintable RGBA layer."""
    layer = np.zeros((*mask.shape, 4), np.uint8)
    layer[..., :3] = MASK_COLOUR
    layer[..., 3] = np.round(np.clip(mask, 0, 1) * MASK_OPACITY * 255).astype(np.uint8)
    return layer


def square_offsets(shape: tuple[int, ...]) -> tuple[int, int]:
    """Where an image of ``shape`` sits, centred, in the editor's square canvas: (top, left)."""
    return (WORKING_SIZE - shape[0]) // 2, (WORKING_SIZE - shape[1]) // 2


def pad_square(array: np.ndarray, *, fill: int = 0) -> np.ndarray:
    """Centre an image in the editor's square canvas. The editor stretches layers to its canvas, so a canvas
    of one fixed square size is the only way the mask layer stays on the image for every aspect ratio."""
    top, left = square_offsets(array.shape)
    canvas = np.full((WORKING_SIZE, WORKING_SIZE, *array.shape[2:]), fill, array.dtype)
    canvas[top : top + array.shape[0], left : left + array.shape[1]] = array
    return canvas


def editor_mask(editor: dict | None, *, shape: tuple[int, ...]) -> np.ndarray | None:
    """The mask painted in the editor (its first layer's alpha) for an image of ``shape``; None if none."""
    layers = (editor or {}).get("layers") or []
    if not layers or layers[0] is None or np.asarray(layers[0]).ndim != 3:
        return None
    alpha = np.asarray(layers[0])[..., 3].astype(np.float32) / (255 * MASK_OPACITY)
    square = load_mask(np.clip(alpha, 0, 1), size=(WORKING_SIZE, WORKING_SIZE))
    top, left = square_offsets(shape)
    return np.ascontiguousarray(square[top : top + shape[0], left : left + shape[1]])
