"""The head a hair mask belongs to: hair kept to the person whose face it was found for, and hair completed where the
photo's edge cut the head off.

A hair mask made from colour and position can reach past the head (a lamp, a wall, the arm of someone behind, the
hair of the person beside); carried onto a portrait, such pieces land beside the head, and removed, they take the
background with them. And a head cut by the photo's top or side edge has no crown or no side: its hair, carried onto
a portrait framed with room around the head, ends in a straight line over a bare scalp.
"""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.align import head_centre
from durian_core.face.fill import skull_region
from durian_core.face.masks import face_oval, feather
from durian_core.face.texture import push_pull

HAIR_REACH_ABOVE = 0.7
"""How far (face sizes) hair may stand from its skull above the eyes: further off, what its mask holds is something
else (a lamp, a wall, another person's hair)."""
HAIR_REACH_BELOW = 1.6
"""The same below the eyes, where long hair hangs to the chest."""
HAIR_COLOUR_REACH = 0.3
"""Beyond this (face sizes) from the skull, the mask's pixels must also have the colour of the hair at the head."""


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def head_hair(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray, *, others: tuple[np.ndarray, ...] = ()
) -> np.ndarray:
    """The hair ``mask`` (float32 H×W) kept to the head of ``landmarks``: the parts joined to its skull, within
    :data:`HAIR_REACH_ABOVE` / :data:`HAIR_REACH_BELOW` of it, and, further out than :data:`HAIR_COLOUR_REACH`, of the
    colour of the hair close to the head; never the face or head of ``others`` (the landmarks of the photo's other
    faces). Kept opacities are unchanged."""
    shape = mask.shape
    size = regions.face_size(landmarks)
    skull = skull_region(landmarks, shape) > 0.5
    to_skull = cv2.distanceTransform((~skull).astype(np.uint8), cv2.DIST_L2, 5)
    rows = np.arange(shape[0])[:, None]
    eye_line = landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean()
    reach = np.where(rows < eye_line, HAIR_REACH_ABOVE, HAIR_REACH_BELOW) * size
    hair = (mask > 0.1) & (to_skull < reach)
    for face in others:
        theirs = np.maximum(skull_region(face, shape), face_oval(face, shape)) > 0.5
        hair &= ~(cv2.dilate(theirs.astype(np.uint8), _disc(0.1 * regions.face_size(face))) > 0)
    near = hair & (mask > 0.5) & (to_skull < HAIR_COLOUR_REACH * size)
    if near.sum() >= 32:
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
        mean, spread = lab[near].mean(axis=0), lab[near].std(axis=0) + np.array([8.0, 4.0, 4.0], np.float32)
        unlike = np.sqrt((((lab - mean) / spread) ** 2).sum(axis=-1)) > 3.0
        hair &= ~(unlike & (to_skull >= HAIR_COLOUR_REACH * size))
    return np.where(_joined(hair, to_skull < 0.1 * size), mask, 0.0).astype(np.float32)


ANGLES = 360
"""Directions around the head in which hair's extent is measured."""
CUT_MARGIN = 2.0
"""Hair reaching within this many pixels of the photo's edge along a direction is cut there."""


def _extent(
    mask: np.ndarray, centre: np.ndarray, size: float, *, step: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per direction around ``centre`` (``ANGLES`` of them), sampled every ``step`` pixels: how far the hair
    (``mask`` > 0.5) reaches, how far the photo does, and whether the hair is cut by the photo's edge there."""
    height, width = mask.shape
    angles = np.linspace(0.0, 2 * np.pi, ANGLES, endpoint=False)
    steps = np.arange(0.0, 3.0 * size, step)
    xs = centre[0] + np.cos(angles)[:, None] * steps[None, :]
    ys = centre[1] + np.sin(angles)[:, None] * steps[None, :]
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    photo = np.where(inside.all(axis=1), steps[-1], steps[np.argmin(inside, axis=1)] - step)
    hair = np.zeros(inside.shape, bool)
    hair[inside] = mask[np.rint(ys[inside]).astype(int), np.rint(xs[inside]).astype(int)] > 0.5
    reach = np.where(hair.any(axis=1), steps[hair.shape[1] - 1 - np.argmax(hair[:, ::-1], axis=1)], 0.0)
    cut = hair.any(axis=1) & (reach >= photo - CUT_MARGIN) & inside.any(axis=1)
    return reach, photo, cut


def completed_extent(mask: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Per direction around the head's middle, how far its hair reaches, with the directions the photo's edge cuts
    filled in: from the same direction mirrored across the face (a head cut at one side shows the other), else
    from the nearest uncut directions on either side, and never short of the edge. Returns the extent and which
    directions were cut, or None when the edge cuts nothing."""
    size = regions.face_size(landmarks)
    centre = head_centre(landmarks)
    reach, photo, cut = _extent(mask, centre, size)
    if not cut.any():
        return None
    # Directions are measured in the image; the face's own axis mirrors them.
    roll = np.arctan2(*(landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE])[::-1])
    angles = np.linspace(0.0, 2 * np.pi, ANGLES, endpoint=False)
    mirrored = np.rint(((2 * (roll + np.pi / 2) - angles) % (2 * np.pi)) / (2 * np.pi) * ANGLES).astype(int) % ANGLES
    known = ~cut & (reach > 0)
    if not known.any():
        return None
    index = np.arange(ANGLES)
    known_index = index[known]
    # Circular interpolation over the known directions.
    around = np.interp(
        index,
        np.concatenate([known_index - ANGLES, known_index, known_index + ANGLES]),
        np.tile(reach[known], 3),
    )
    guess = np.where(known[mirrored], reach[mirrored], around)
    full = np.where(cut, np.maximum(guess, photo), reach)
    return full, cut


def complete_cut_hair(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hair the photo's edge cut off, completed: the image grown by the hair along its edge, reflected back and forth
    (:func:`_hair_reflected`), the mask grown into the new margin as far as the hair reaches in those directions
    (:func:`completed_extent`), above the jaw. Returns the image, the mask and the landmarks in the grown frame (all
    unchanged when the edge cuts no hair)."""
    extent = completed_extent(mask, landmarks)
    if extent is None:
        return image, mask, landmarks
    full, cut = extent
    size = regions.face_size(landmarks)
    centre = head_centre(landmarks)
    height, width = mask.shape
    angles = np.linspace(0.0, 2 * np.pi, ANGLES, endpoint=False)
    ends = centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * full[:, None]
    ends = ends[cut]
    top = int(np.ceil(max(0.0, -ends[:, 1].min()))) + 2
    left = int(np.ceil(max(0.0, -ends[:, 0].min()))) + 2
    bottom = int(np.ceil(max(0.0, ends[:, 1].max() - (height - 1)))) + 2
    right = int(np.ceil(max(0.0, ends[:, 0].max() - (width - 1)))) + 2
    # A margin wide enough for the reflection to carry hair into it, no more.
    limit = int(round(1.5 * size))
    top, bottom, left, right = (min(limit, side) for side in (top, bottom, left, right))
    grown = _hair_reflected(image, mask > 0.5, top=top, bottom=bottom, left=left, right=right)
    grown_mask = cv2.copyMakeBorder(mask.astype(np.float32), top, bottom, left, right, cv2.BORDER_CONSTANT, value=0.0)
    moved = landmarks + np.array([left, top], np.float32)
    margin = np.ones(grown_mask.shape, bool)
    margin[top : top + height, left : left + width] = False
    # The completed hair: the margin within the hair's extent in its direction, above the jaw's corners.
    ys, xs = np.mgrid[: grown_mask.shape[0], : grown_mask.shape[1]].astype(np.float32)
    centre_grown = centre + np.array([left, top])
    offset_x, offset_y = xs - centre_grown[0], ys - centre_grown[1]
    bins = np.rint((np.arctan2(offset_y, offset_x) % (2 * np.pi)) / (2 * np.pi) * ANGLES).astype(int) % ANGLES
    within = np.hypot(offset_x, offset_y) <= full[bins]
    jaw = moved[[regions.JAW[3], regions.JAW[-4]], 1].mean()
    added = margin & within & cut[bins] & (ys < jaw)
    # Feathered with the hair it continues, so no line is drawn along the photo's old edge.
    soft = feather(np.where(margin, added, grown_mask > 0.5).astype(np.float32), 0.02 * size)
    grown_mask = np.where(margin, soft, grown_mask).astype(np.float32)
    return grown, grown_mask, moved


def _bounce(depth: np.ndarray, thickness: np.ndarray) -> np.ndarray:
    """Indices that run 0, 1, …, thickness − 1 and back, for ``depth`` 0, 1, 2, …: a strip reflected back and forth."""
    period = 2 * np.maximum(thickness, 1)
    phase = depth % period
    return np.where(phase < thickness, phase, period - 1 - phase)


def _edge_thickness(hair: np.ndarray) -> np.ndarray | None:
    """Per column, how many rows of hair run down from the top row without a break; columns without any take the
    nearest column's (None when no column has hair at its top)."""
    runs = np.argmin(np.vstack([hair, np.zeros((1, hair.shape[1]), bool)]), axis=0)
    has = runs > 0
    if not has.any():
        return None
    columns = np.arange(hair.shape[1])
    nearest = np.interp(columns, columns[has], np.arange(has.sum())).round().astype(int)
    return runs[has][nearest]


def _strip_beyond_top(image: np.ndarray, hair: np.ndarray, margin: int) -> np.ndarray | None:
    """``margin`` rows to put above ``image``'s top edge (the last row touching it), each column running back and
    forth through the hair that meets the top edge there (None when no hair meets it)."""
    thickness = _edge_thickness(hair)
    if thickness is None:
        return None
    rows = _bounce(np.arange(margin)[:, None], thickness[None, :])
    return image[rows, np.arange(image.shape[1])[None, :]][::-1]


def _hair_reflected(
    image: np.ndarray, hair: np.ndarray, *, top: int, bottom: int, left: int, right: int
) -> np.ndarray:
    """``image`` grown by margins (``top``, ``bottom``, ``left``, ``right`` pixels), each filled from the hair that
    meets that edge, reflected back and forth across the strip it makes along the edge, so a cut crown continues as
    hair and never as a mirrored forehead. Elsewhere (corners, edges without hair) the image is reflected as it is."""
    grown = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REFLECT)
    height, width = hair.shape
    rows, columns = slice(top, top + height), slice(left, left + width)
    if top and (strip := _strip_beyond_top(image, hair, top)) is not None:
        grown[:top, columns] = strip
    if bottom and (strip := _strip_beyond_top(image[::-1], hair[::-1], bottom)) is not None:
        grown[top + height :, columns] = strip[::-1]
    turned_image, turned_hair = np.swapaxes(image, 0, 1), hair.T
    if left and (strip := _strip_beyond_top(turned_image, turned_hair, left)) is not None:
        grown[rows, :left] = np.swapaxes(strip, 0, 1)
    if right and (strip := _strip_beyond_top(turned_image[::-1], turned_hair[::-1], right)) is not None:
        grown[rows, left + width :] = np.swapaxes(strip[::-1], 0, 1)
    return grown


def _joined(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` (bool) that hold a pixel of ``seeds``."""
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[mask & seeds])] = True
    keep[0] = False
    return keep[labels]


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) with its holes filled: everything a flood from the image's border cannot reach."""
    outside = np.pad((~mask).astype(np.uint8), 1, constant_values=1)
    flood = np.zeros((outside.shape[0] + 2, outside.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Per pixel, the distance to the outline of ``mask`` (> 0.5): negative inside, positive outside (float32)."""
    inside = (mask > 0.5).astype(np.uint8)
    outside_distance = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    inside_distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    return (outside_distance - inside_distance).astype(np.float32)


def _smooth_circular(values: np.ndarray, width: int) -> np.ndarray:
    """``values`` per direction averaged over ``width`` neighbouring directions, round the circle."""
    kernel = np.ones(width) / width
    padded = np.concatenate([values[-width:], values, values[:width]])
    return np.convolve(padded, kernel, mode="same")[width:-width]


MAP_STEP = 4
"""The radial warps are computed every this many pixels and scaled up: they are smooth, and it is 16 times cheaper."""


def _polar(centre: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Offsets from ``centre``, radius and direction bin of a grid every :data:`MAP_STEP` pixels over ``shape``
    (each grid point where a linear upscale by the step puts it)."""
    rows, columns = -(-shape[0] // MAP_STEP), -(-shape[1] // MAP_STEP)
    offset = (MAP_STEP - 1) / 2.0
    ys = (np.arange(rows, dtype=np.float32) * MAP_STEP + offset)[:, None]
    xs = (np.arange(columns, dtype=np.float32) * MAP_STEP + offset)[None, :]
    dx, dy = np.broadcast_to(xs - centre[0], (rows, columns)), np.broadcast_to(ys - centre[1], (rows, columns))
    radius = np.hypot(dx, dy)
    bins = np.rint((np.arctan2(dy, dx) % (2 * np.pi)) / (2 * np.pi) * ANGLES).astype(int) % ANGLES
    return dx, dy, radius, bins


def _radial_maps(
    polar: tuple[np.ndarray, ...],
    centre: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    target: np.ndarray,
    shape: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """Backward maps (for ``cv2.remap``) that carry an outline reaching ``outer`` per direction onto one reaching
    ``target``, holding everything within ``inner`` (the skull) still: between them radii stretch linearly, beyond
    them they shift. ``polar`` is :func:`_polar`'s grid about ``centre``."""
    dx, dy, radius, bins = polar
    skull, source, goal = inner[bins], outer[bins], target[bins]
    movable = (source > skull + 1.0) & (goal > skull + 1.0)
    stretched = skull + (radius - skull) * (source - skull) / np.maximum(goal - skull, 1e-3)
    shifted = radius - goal + source
    new_radius = np.where(radius <= skull, radius, np.where(radius <= goal, stretched, shifted))
    new_radius = np.where(movable, new_radius, radius)
    scale = new_radius / np.maximum(radius, 1e-3)
    size = (dx.shape[1] * MAP_STEP, dx.shape[0] * MAP_STEP)
    maps = [(centre[i] + delta * scale).astype(np.float32) for i, delta in enumerate((dx, dy))]
    return tuple(
        np.ascontiguousarray(cv2.resize(grid, size, interpolation=cv2.INTER_LINEAR)[: shape[0], : shape[1]])
        for grid in maps
    )


def _spread(colours: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``colours`` where ``known``, and elsewhere carried in smoothly from there (:func:`push_pull`, at half size:
    what it makes is smooth anyway)."""
    if not known.any():
        return colours
    height, width = known.shape
    half = (max(1, width // 2), max(1, height // 2))
    small_known = cv2.resize(known.astype(np.float32), half, interpolation=cv2.INTER_AREA) > 0.5
    if not small_known.any():
        return colours
    smooth = push_pull(cv2.resize(colours, half, interpolation=cv2.INTER_AREA), small_known)
    smooth = cv2.resize(smooth, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.where(known[..., None], colours, smooth)


def interpolate_shapes(
    first: tuple[np.ndarray, np.ndarray],
    second: tuple[np.ndarray, np.ndarray],
    alpha: float,
    landmarks: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """A hairstyle between two, each given as (colours H×W×3, opacity H×W) on the same head (``landmarks``):
    ``alpha`` = 0 is the first, 1 the second.

    The outline in between is where the two opacities' signed distances (:func:`signed_distance`), mixed by
    ``alpha``, cross zero. Both layers are warped onto it, radially about the middle of the head, holding the skull
    still (the hair stretches or shrinks from the head outwards), and mixed: opaque wherever either is, each one's
    colours carried over the whole outline and weighted by ``alpha``, and nothing outside the outline in between (no
    see-through ghost of either outline). Returns colours (float32 H×W×3) and opacity (float32 H×W)."""
    shape = first[1].shape
    size = regions.face_size(landmarks)
    skull = skull_region(landmarks, shape) > 0.5
    # A hairstyle's shape is its outline around the head: scalp showing through thin hair is inside it.
    outlines = [_filled((opacity > 0.5) | skull) for _, opacity in (first, second)]
    middle = (1.0 - alpha) * signed_distance(outlines[0]) + alpha * signed_distance(outlines[1])
    # Two outlines that do not overlap mix into pieces off the head: only what is joined to the head is hair.
    inside = _joined(middle < 0, skull)
    middle = np.where(inside | (middle >= 0), middle, np.abs(middle))
    centre = head_centre(landmarks)
    width = max(3, ANGLES // 60)

    def extent(mask: np.ndarray) -> np.ndarray:
        return _smooth_circular(_extent(mask, centre, size, step=2.0)[0], width)

    inner, target = extent(skull), extent(inside)
    colours, opacities = [], []
    polar = _polar(centre, shape)
    for (layer, opacity), outline in zip((first, second), outlines):
        map_x, map_y = _radial_maps(polar, centre, inner, extent(outline), target, shape)
        warp = {"interpolation": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_CONSTANT, "borderValue": 0}
        colours.append(cv2.remap(layer.astype(np.float32), map_x, map_y, **warp))
        opacities.append(np.clip(cv2.remap(opacity.astype(np.float32), map_x, map_y, **warp), 0.0, 1.0))
    # The outline in between with a soft edge as wide as a hair's matte edge.
    edge = max(1.0, 0.01 * size)
    outline = np.clip(0.5 - middle / (2 * edge), 0.0, 1.0)
    # Each layer's colours carried smoothly over the whole outline, so the mix is the same everywhere in it: one
    # hairstyle, not the two side by side where one reaches and the other does not.
    spread = [_spread(layer, warped > 0.5) for layer, warped in zip(colours, opacities)]
    mixed = (1.0 - alpha) * spread[0] + alpha * spread[1]
    opacity = np.minimum(outline, np.maximum(opacities[0], opacities[1]))
    return mixed.astype(np.float32), opacity.astype(np.float32)
