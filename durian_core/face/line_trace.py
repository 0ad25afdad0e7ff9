"""Thin lines found and traced across sample lines: how strongly a pixel stands out from both its sides in the same
direction (a line, where an edge between two regions does not), the cheapest path along a line through those
strengths (a dynamic programme), and the line matted against what lies on either side of it, with how surely each
stretch of the path is a line at all. :mod:`durian_core.face.glasses` traces frames with these.
"""

from __future__ import annotations

import numpy as np

CHANNEL_WEIGHTS = np.array([1.0, 2.0, 2.0], np.float32)  # Lab: a gold or tortoiseshell frame differs in hue
EVIDENCE_FLOOR = 1.5  # a stretch of a path is frame where it stands out this many times the zone's median strength
EVIDENCE_FULL = 3.0  # ... and surely frame from this many times on


def contrast(centre: np.ndarray, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """How much ``centre`` stands out from both neighbours in the same direction (Lab, weighted)."""
    product = (centre - before) * (centre - after)
    weighted = product[..., 0] * CHANNEL_WEIGHTS[0]
    weighted += product[..., 1] * CHANNEL_WEIGHTS[1] + product[..., 2] * CHANNEL_WEIGHTS[2]
    return np.sqrt(np.maximum(weighted, 0.0))


def line_strength(profiles: np.ndarray, scales: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Along each line (K×J×3 profiles), the line strength of every sample (the best of ``scales``: neighbours that
    far on either side) and that scale: a thin line scores its contrast, an edge between two regions nothing."""
    best = np.zeros(profiles.shape[:2], np.float32)
    chosen = np.full(profiles.shape[:2], scales[0], np.int32)
    for d in scales:
        padded = np.pad(profiles, ((0, 0), (d, d), (0, 0)), mode="edge")
        strength = contrast(profiles, padded[:, : -2 * d], padded[:, 2 * d :])
        better = strength > best
        best, chosen = np.where(better, strength, best), np.where(better, d, chosen)
    return best, chosen


def trace(unary: np.ndarray, valid: np.ndarray, *, reach: int, closed: bool, bend_cost: float = 0.5) -> np.ndarray:
    """The path (one sample index per line) maximising the summed ``unary`` over ``valid`` samples, moving at most
    ``reach`` samples from one line to the next at ``bend_cost`` per sample moved (Viterbi). A ``closed`` path
    (around an eye) is traced over two laps and read off the middle, so its two ends meet."""
    lines = len(unary)
    if closed:
        unary, valid = np.concatenate([unary, unary]), np.concatenate([valid, valid])
    scores = np.where(valid, unary, -1e6).astype(np.float64)
    count, width = scores.shape
    back = np.zeros((count, width), np.int32)
    total = scores[0].copy()
    index = np.arange(width)
    for k in range(1, count):
        best, arg = np.full(width, -np.inf), index.copy()
        for move in range(-reach, reach + 1):
            source = np.clip(index - move, 0, width - 1)
            candidate = np.where(source == index - move, total[source] - bend_cost * abs(move), -np.inf)
            better = candidate > best
            best, arg = np.where(better, candidate, best), np.where(better, source, arg)
        total, back[k] = best + scores[k], arg
    path = np.zeros(count, np.int32)
    path[-1] = int(np.argmax(total))
    for k in range(count - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    if not closed:
        return path
    half = lines // 2
    return np.roll(path[half : half + lines], half)


def matte(profiles: np.ndarray, path: np.ndarray, scale: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Along each line, the frame's opacity around the path (K×J) and its colour (K×3, Lab): each sample between the
    skin on either side (read just outside a window of the line's scale) projected onto the way from that skin to
    the frame's colour (the path's sample, steadied over neighbouring lines)."""
    lines, width = profiles.shape[:2]
    rows = np.arange(lines)
    # A frame's width changes slowly along it: the window follows the line scale's running median.
    found = np.pad(scale[rows, path], 4, mode="wrap")
    half = np.median(np.stack([found[shift : shift + lines] for shift in range(9)]), axis=0).astype(np.int64) + 1
    inner = np.clip(path - half - 1, 0, width - 1)
    outer = np.clip(path + half + 1, 0, width - 1)
    skin_in = 0.5 * (profiles[rows, inner] + profiles[rows, np.clip(inner - 1, 0, width - 1)])
    skin_out = 0.5 * (profiles[rows, outer] + profiles[rows, np.clip(outer + 1, 0, width - 1)])
    position = np.arange(width)[None, :]
    share = np.clip((position - inner[:, None]) / np.maximum(outer - inner, 1)[:, None], 0.0, 1.0)[..., None]
    skin = skin_in[:, None] * (1.0 - share) + skin_out[:, None] * share  # K×J×3
    window = np.abs(position - path[:, None]) <= half[:, None]
    # The line's centre is the path (a glare on the lens beside a dark rim is as far from the skin, but not frame).
    colour = profiles[rows, path]
    # A frame's colour changes slowly along it (a dark brow bar, then a light rim): a median over a few lines.
    colour = np.median(np.stack([np.roll(colour, shift, axis=0) for shift in range(-3, 4)]), axis=0)
    frame = colour[:, None, :] - skin
    projection = ((profiles - skin) * frame * CHANNEL_WEIGHTS).sum(-1) / np.maximum(
        (frame * frame * CHANNEL_WEIGHTS).sum(-1), 1.0
    )
    alpha = np.where(window, np.clip(projection, 0.0, 1.0), 0.0)
    # Only the run of frame through the path: a fold of skin beside it in the window is not frame.
    alpha *= run_through(alpha > 0.15, path)
    return steadied(alpha, path), colour.astype(np.float32)


def steadied(alpha: np.ndarray, path: np.ndarray) -> np.ndarray:
    """The frame along the lines as a band whose two edges and opacity change slowly from line to line (each the
    trimmed mean of nine neighbouring lines'), with anti-aliased edges: one line's run against the next made the rim
    ragged, and a lone long run stood out of it as a spike. The path runs along the frame's middle, so the band
    reaches about as far on either side of it: a run far longer on one side is the frame merged with something
    dark beside it (a brow above a rim), and is cut back."""
    lines, width = alpha.shape
    position = np.arange(width, dtype=np.float32)[None, :]
    solid = alpha > 0.5
    present = solid.any(axis=1)
    # Edges at half opacity, to a fraction of a sample from the neighbours' partial values.
    first = np.where(present, np.argmax(solid, axis=1), -1)
    last = np.where(present, width - 1 - np.argmax(solid[:, ::-1], axis=1), -1)
    opacity = np.where(present, alpha.max(axis=1), 0.0)

    def steady(values: np.ndarray) -> np.ndarray:
        padded = np.pad(values.astype(np.float32), 4, mode="wrap")
        window = np.sort(np.stack([padded[shift : shift + lines] for shift in range(9)]), axis=0)
        return window[2:7].mean(axis=0)

    keep = steady(present.astype(np.float32)) > 0.5
    low, high = steady(np.where(present, first, np.nan_to_num(first))), steady(last)
    below, above = np.maximum(path - low, 0.0), np.maximum(high - path, 0.0)
    low, high = path - np.minimum(below, 1.5 * above + 1.0), path + np.minimum(above, 1.5 * below + 1.0)
    low, high = np.where(keep, low, 0.0), np.where(keep, high, -1.0)
    band = np.clip(np.minimum(position - low[:, None] + 1.0, high[:, None] - position + 1.0), 0.0, 1.0)
    return (band * np.where(keep, steady(opacity), 0.0)[:, None]).astype(np.float32)


def run_through(inside: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Per line, the contiguous run of ``inside`` samples that holds (or touches) the path's sample."""
    width = inside.shape[1]
    position = np.arange(width)[None, :]
    before = np.where(~inside & (position < path[:, None]), position, -1).max(axis=1)
    after = np.where(~inside & (position > path[:, None]), position, width).min(axis=1)
    return (position > before[:, None]) & (position < after[:, None])


def evidence(strength: np.ndarray, path: np.ndarray, zone: float, *, closed: bool) -> np.ndarray:
    """How surely each line's path sample is frame (0 to 1), steadied over neighbouring lines."""
    along = strength[np.arange(len(path)), path] / max(zone, 1e-6)
    mode = "wrap" if closed else "edge"
    padded = np.pad(along, 2, mode=mode)
    steady = np.median(np.stack([padded[shift : shift + len(along)] for shift in range(5)]), axis=0)
    return np.clip((steady - EVIDENCE_FLOOR) / (EVIDENCE_FULL - EVIDENCE_FLOOR), 0.0, 1.0)
