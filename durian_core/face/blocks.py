"""Compression blocks: how blocky a decoded frame is, and the frame with its block edges smoothed away.

Heavily compressed video (and JPEG) is coded in 8×8 blocks; pushed hard, each block turns flat and its edges become
the strongest lines in the picture. Face and person models read those edges as structure: on a blocky frame the
person mask can vanish and the face mesh can slide. A slight blur removes the edges and leaves what the models
need; clean frames are left exactly as they are.
"""

from __future__ import annotations

import cv2
import numpy as np

BLOCK = 8  # the block side of JPEG, MPEG-1/2/4 and H.264's transform
BLOCKY = 1.45
"""Blockiness from which a picture is smoothed. Clean frames measure 0.95 to 1.1, a JPEG saved at quality 75 about
1.2 and at 30 about 1.5; H.264, whose loop filter hides its blocks, stays under 1.4 even when the picture is
smeared beyond use. Below this, smoothing cost the face mesh more detail than it removed block edges."""
DEBLOCK_SIGMA = 1.0
"""Gaussian σ in pixels (an eighth of a block): on the talking-face clip compressed at several levels it brought
the face mesh closest to its landmarks on the clean clip, and the person mask back where it had vanished."""


def blockiness(image: np.ndarray) -> float:
    """How much stronger the steps across the 8-pixel block grid are than the steps elsewhere, averaged over both
    directions: about 1 for a clean image, 1.2 to 2.5 for a heavily compressed one."""
    gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    gray = gray.astype(np.int16)
    # Every fourth row (column) tells the grid's columns (rows) as well as all of them, at a quarter of the cost.
    across_columns = np.abs(np.diff(gray[::4], axis=1)).mean(axis=0)
    across_rows = np.abs(np.diff(gray[:, ::4], axis=0)).mean(axis=1)
    ratios = []
    for steps in (across_columns, across_rows):
        if len(steps) < 2 * BLOCK:
            return 1.0
        across = steps[BLOCK - 1 :: BLOCK]
        within = np.delete(steps, np.s_[BLOCK - 1 :: BLOCK])
        ratios.append(float(across.mean()) / max(float(within.mean()), 1e-3))
    return float(np.mean(ratios))


def deblocked(image: np.ndarray, *, measured: float | None = None) -> np.ndarray:
    """``image`` with its block edges smoothed away when it is blocky (``measured``: its blockiness, when known
    already, e.g. averaged over a video's frames), else ``image`` itself."""
    level = blockiness(image) if measured is None else measured
    if level < BLOCKY:
        return image
    return cv2.GaussianBlur(image, (0, 0), DEBLOCK_SIGMA)
