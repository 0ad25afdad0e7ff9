"""Glasses worn in a photo, found by their shape rather than their darkness: a thin closed rim around each eye, the
two joined by a bridge over the nose, arms running back towards the ears.

A frame is a thin line: a pixel on it stands out from its neighbours on both sides, in the same direction (an edge
between two regions does not). The lenses' outline is fitted first, the same mirrored shape around both eyes (glasses
are symmetric, the wrinkles and creases around the eyes are not), as the superellipse that runs along the most line.
Each rim is then traced on its own near that outline by a dynamic programme across the outline's normals, and the
bridge and the arms across vertical lines between and beyond the rims. Along each traced path the frame is matted
against the skin on either side: its opacity, and its own colour without the skin showing through its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.line_trace import (
    contrast,
    evidence,
    line_strength,
    matte,
    trace,
)
from durian_core.face.matting import mask_box

LINE_SCALES = (0.006, 0.012, 0.018, 0.026, 0.035)  # half-widths of the frames looked for, in face sizes
ORIENTATIONS = 8  # directions across which the line strength is measured for the outline's fit

LENS_GRID = {
    "half_width": (0.85, 0.95, 1.05, 1.15, 1.25, 1.35),  # in eye widths
    "half_height": (0.45, 0.55, 0.66, 0.78, 0.9, 1.05),
    "outward": (-0.1, 0.0, 0.1),  # the lens's centre from the eye's, outwards from the nose
    "down": (0.0, 0.12, 0.24, 0.36),
    "squareness": (2.0, 3.0, 4.5),  # superellipse exponent: 2 an ellipse, higher a rounded rectangle
    "taper": (0.0, 0.2),  # how much wider the top is than the bottom (cat-eye and browline frames)
}
"""The lens outlines tried first: superellipses around each eye, the same (mirrored) for both eyes."""
OUTLINE_POINTS = 64  # points per outline while fitting
FIT_SIZE = 150.0  # face size (pixels) the outline is fitted at
ARM_SEEN = 0.6  # share of an arm's way on which it must be seen to be carried


@dataclass(frozen=True, eq=False)
class FoundGlasses:
    """Glasses in an image: the frames' opacity and own colour, the lenses, and how clearly the rims were seen."""

    frames: np.ndarray  # H×W float32 opacity of rims, bridge and arms
    colour: np.ndarray  # H×W×3 uint8: the frames' colour where they are (unmixed from the skin), the image elsewhere
    lenses: np.ndarray  # H×W float32, inside the rims
    strength: float  # the share of the rims' length on which a frame was found (0: none)


@dataclass(frozen=True, eq=False)
class _Face:
    """The face's upright frame (``across`` from the subject's right eye to the left one, ``down`` down the face),
    the two eyes' centres and widths (right eye first) and the face's size."""

    across: np.ndarray
    down: np.ndarray
    centres: tuple[np.ndarray, np.ndarray]
    widths: tuple[float, float]
    size: float

    @classmethod
    def of(cls, landmarks: np.ndarray) -> _Face:
        right, left = landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]
        across = left.mean(axis=0) - right.mean(axis=0)
        across = across / max(float(np.linalg.norm(across)), 1e-6)
        widths = (
            float(np.linalg.norm(landmarks[regions.RIGHT_EYE_OUTER] - landmarks[regions.RIGHT_EYE_INNER])),
            float(np.linalg.norm(landmarks[regions.LEFT_EYE_OUTER] - landmarks[regions.LEFT_EYE_INNER])),
        )
        down = np.array([-across[1], across[0]])
        return cls(across, down, (right.mean(axis=0), left.mean(axis=0)), widths, regions.face_size(landmarks))

    def outward(self, eye: int) -> np.ndarray:
        """Away from the nose, for eye 0 (the subject's right) or 1."""
        return -self.across if eye == 0 else self.across

    def scales(self) -> list[int]:
        return sorted({max(1, int(round(fraction * self.size))) for fraction in LINE_SCALES})


@dataclass(frozen=True, eq=False)
class _Lines:
    """A family of straight sample lines, one sample a pixel: line ``k`` samples at ``origins[k] + j·directions[k]``
    for ``j`` in ``range(length)``."""

    origins: np.ndarray  # K×2
    directions: np.ndarray  # K×2 unit vectors
    length: int

    def points(self) -> np.ndarray:
        steps = np.arange(self.length, dtype=np.float32)
        return self.origins[:, None, :] + steps[None, :, None] * self.directions[:, None, :]

    def sample(self, image: np.ndarray) -> np.ndarray:
        points = self.points().astype(np.float32)
        return cv2.remap(image, points[..., 0], points[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True, eq=False)
class _Part:
    """A traced part of the frames: its sample lines, the path along it, and the matte on the lines."""

    lines: _Lines
    path: np.ndarray  # K
    alpha: np.ndarray  # K×J
    colour: np.ndarray  # K×3 Lab

    def centre_line(self) -> np.ndarray:
        return self.lines.points()[np.arange(len(self.path)), self.path]

    def draw(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, tuple[slice, slice]]:
        """The part's opacity and colour (Lab) over a box of the image, and the box: each pixel takes the line
        through the nearest point of the path, at its own distance along that line."""
        centre = self.centre_line()
        margin = self.lines.length
        height, width = shape
        x0, y0 = np.clip(np.floor(centre.min(axis=0)).astype(int) - margin, 0, [width, height])
        x1, y1 = np.clip(np.ceil(centre.max(axis=0)).astype(int) + margin + 1, 0, [width, height])
        box = (slice(y0, y1), slice(x0, x1))
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 0), np.float32), np.zeros((0, 0, 3), np.float32), box
        seeds = np.ones((y1 - y0, x1 - x0), np.uint8)
        at = np.round(centre - [x0, y0]).astype(int)
        at = np.clip(at, 0, [x1 - x0 - 1, y1 - y0 - 1])
        seeds[at[:, 1], at[:, 0]] = 0
        _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
        owner = np.zeros(labels.max() + 1, np.int64)
        owner[labels[at[:, 1], at[:, 0]]] = np.arange(len(centre))
        nearest = owner[labels]
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        offset = np.stack([xs, ys], axis=-1) - centre[nearest]
        direction = self.lines.directions[nearest]
        along = (offset * direction).sum(axis=-1)
        aside = np.linalg.norm(offset - along[..., None] * direction, axis=-1)
        map_x = (self.path[nearest] + along).astype(np.float32)
        map_y = nearest.astype(np.float32)
        alpha = cv2.remap(self.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        # Past the ends of an open path nothing is drawn.
        alpha *= np.clip(2.0 - aside, 0.0, 1.0)
        return alpha, self.colour[nearest], box


def _unit_outlines(count: int) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Per exponent of the grid, the superellipse of half axes 1 (across, up-down) at ``count`` points."""
    t = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False)
    return {
        power: (
            np.sign(np.cos(t)) * np.abs(np.cos(t)) ** (2.0 / power),
            np.sign(np.sin(t)) * np.abs(np.sin(t)) ** (2.0 / power),
        )
        for power in LENS_GRID["squareness"]
    }


def _outline(face: _Face, eye: int, shapes: np.ndarray, *, count: int = OUTLINE_POINTS) -> np.ndarray:
    """Points around lens outlines (``shapes``: half width, half height, outward and down offsets in eye widths, the
    exponent and the taper; S×6 for S outlines at once): S×count×2 image points."""
    shapes = np.atleast_2d(shapes).astype(np.float32)
    t = np.linspace(0.0, 2.0 * np.pi, count, endpoint=False, dtype=np.float32)[None, :]
    power = 2.0 / shapes[:, 4:5]
    across = np.sign(np.cos(t)) * np.abs(np.cos(t)) ** power
    up_down = np.sign(np.sin(t)) * np.abs(np.sin(t)) ** power
    return _place(face, eye, shapes, across, up_down)


def _place(face: _Face, eye: int, shapes: np.ndarray, across: np.ndarray, up_down: np.ndarray) -> np.ndarray:
    u = shapes[:, 0:1] * across * (1.0 - shapes[:, 5:6] * up_down) + shapes[:, 2:3]
    v = shapes[:, 1:2] * up_down + shapes[:, 3:4]
    outward, down = face.outward(eye).astype(np.float32), face.down.astype(np.float32)
    return face.centres[eye].astype(np.float32) + face.widths[eye] * (u[..., None] * outward + v[..., None] * down)


def _normals(points: np.ndarray) -> np.ndarray:
    """Unit normals of closed outlines (…×N×2), by central differences."""
    tangent = np.roll(points, -1, axis=-2) - np.roll(points, 1, axis=-2)
    normal = np.stack([tangent[..., 1], -tangent[..., 0]], axis=-1)
    return normal / np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-6)


def _clears(face: _Face, landmarks: np.ndarray, shapes: np.ndarray) -> np.ndarray:
    """Which outlines hold both eyes with room to spare (above and below the lashes, beside them a fifth of the eye's
    width: a lens is wider than the eye) and keep short of the nose's midline."""
    keep = np.ones(len(shapes), bool)
    margin = 0.012 * face.size
    midline = 0.5 * float(np.linalg.norm(face.centres[1] - face.centres[0]))
    for eye, loop in ((0, regions.RIGHT_EYE), (1, regions.LEFT_EYE)):
        width = face.widths[eye]
        relative = landmarks[list(loop)] - face.centres[eye]
        u = (relative @ face.outward(eye))[None, :] / width - shapes[:, 2:3]
        v = (relative @ face.down)[None, :] / width - shapes[:, 3:4]
        half_v = np.maximum(shapes[:, 1:2] - margin / width, 1e-3)
        taper = 1.0 - shapes[:, 5:6] * np.clip(v / half_v, -1.0, 1.0)
        half_u = np.maximum((shapes[:, 0:1] - 0.2) * taper, 1e-3)
        inside = np.abs(u / half_u) ** shapes[:, 4:5] + np.abs(v / half_v) ** shapes[:, 4:5]
        keep &= (inside < 1.0).all(axis=1)
        keep &= (shapes[:, 0] - shapes[:, 2]) * width < midline - 0.01 * face.size
    return keep


@dataclass(frozen=True, eq=False)
class _StrengthMaps:
    """The line strength across each of :data:`ORIENTATIONS` directions, over a box around the eyes."""

    maps: np.ndarray  # O×h×w
    origin: np.ndarray  # the box's top-left corner, image pixels

    @classmethod
    def around_eyes(cls, lab: np.ndarray, face: _Face) -> _StrengthMaps:
        reach = 1.7 * max(face.widths)
        corners = np.array([centre + offset for centre in face.centres for offset in (-reach, reach)])
        height, width = lab.shape[:2]
        x0, y0 = np.clip(np.floor(corners.min(axis=0)).astype(int), 0, [width - 1, height - 1])
        x1, y1 = np.clip(np.ceil(corners.max(axis=0)).astype(int) + 1, 1, [width, height])
        margin = max(face.scales()) + 1
        padded = cv2.copyMakeBorder(lab, margin, margin, margin, margin, cv2.BORDER_REPLICATE)
        box = padded[y0 : y1 + 2 * margin, x0 : x1 + 2 * margin]
        size = (x1 - x0, y1 - y0)
        centre = box[margin:-margin, margin:-margin]
        maps = []
        for angle in np.linspace(0.0, np.pi, ORIENTATIONS, endpoint=False):
            normal = np.array([np.cos(angle), np.sin(angle)])
            best = np.zeros(centre.shape[:2], np.float32)
            for d in face.scales():
                shifted = []
                for sign in (-1.0, 1.0):
                    dx, dy = sign * d * normal
                    # The box moved so that each pixel meets its neighbour ``d`` along the normal.
                    matrix = np.float32([[1, 0, dx + margin], [0, 1, dy + margin]])
                    shifted.append(cv2.warpAffine(box, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
                best = np.maximum(best, contrast(centre, *shifted))
            # A thin rim counts a little to either side of it: the outlines tried pass a pixel or two off it.
            radius = max(1, int(round(0.01 * face.size)))
            maps.append(cv2.dilate(best, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)))
        return cls(np.stack(maps), np.array([x0, y0], np.float32))

    def at(self, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
        """The strength at each point across its normal (nearest direction and pixel; 0 outside the box)."""
        angle = np.mod(np.arctan2(normals[..., 1], normals[..., 0]), np.pi)
        orientation = np.round(angle / np.pi * ORIENTATIONS).astype(np.int64) % ORIENTATIONS
        count, height, width = self.maps.shape
        x = np.clip(np.round(points[..., 0] - self.origin[0]).astype(np.int64), -1, width)
        y = np.clip(np.round(points[..., 1] - self.origin[1]).astype(np.int64), -1, height)
        inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
        flat = (orientation * height + np.clip(y, 0, height - 1)) * width + np.clip(x, 0, width - 1)
        return np.where(inside, np.take(self.maps, flat), 0.0).astype(np.float32)


def _fit_lenses(lab: np.ndarray, landmarks: np.ndarray, face: _Face) -> tuple[np.ndarray, float]:
    """The mirrored lens outline that runs along the most line (see :func:`_outline`), and how far it stands out from
    the other outlines tried (its score over their median)."""
    grid = np.array(np.meshgrid(*LENS_GRID.values(), indexing="ij"), np.float32).reshape(len(LENS_GRID), -1).T
    grid = grid[_clears(face, landmarks, grid)]
    # The outline is fitted on the face at a modest size (the traces refine it at full size): the fit's cost is
    # then the same for any photo.
    shrink = min(1.0, FIT_SIZE / face.size)
    if shrink < 1.0:
        lab = cv2.resize(lab, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
        landmarks = landmarks * shrink
        face = _Face.of(landmarks)
    if len(grid) == 0:
        return np.array([1.0, 0.7, 0.0, 0.15, 3.0, 0.0], np.float32), 0.0
    maps = _StrengthMaps.around_eyes(lab, face)
    units = _unit_outlines(OUTLINE_POINTS)

    delta = 0.035 * face.size

    def strengths(shapes: np.ndarray, *, on_grid: bool = False) -> list[np.ndarray]:
        """Per eye, S×P×3: the strength on each outline point and beside it, ``delta`` inside and outside."""
        found = [np.zeros((len(shapes), OUTLINE_POINTS, 3), np.float32) for _ in (0, 1)]
        groups = [(power, shapes[:, 4] == power) for power in units] if on_grid else [(None, slice(None))]
        for power, chosen in groups:
            for eye in (0, 1):
                if power is None:
                    points = _outline(face, eye, shapes)
                else:
                    points = _place(face, eye, shapes[chosen], *(part[None, :] for part in units[power]))
                normals = _normals(points)
                found[eye][chosen] = np.stack(
                    [maps.at(points + shift * normals, normals) for shift in (0.0, -delta, delta)], axis=-1
                )
        return found

    grid_strengths = strengths(grid, on_grid=True)
    # Strengths in multiples of the typical strength where a lens's outline might run.
    zone = float(np.median(np.concatenate([found[..., 0].ravel() for found in grid_strengths]))) + 1e-3

    def score(found: list[np.ndarray]) -> np.ndarray:
        """A rim is a line that stands out from what lies beside it; the lids, lashes and folds around an eye are
        lines everywhere, and an outline hugging them scores little."""
        total = 0.0
        for values in found:
            capped = np.minimum(values / zone, 6.0)
            total = total + (capped[..., 0] - 0.25 * (capped[..., 1] + capped[..., 2])).mean(axis=-1)
        return total

    scores = score(grid_strengths)
    best, best_score = grid[int(np.argmax(scores))].copy(), float(scores.max())
    # A few rounds of coordinate search around the grid's best outline, with shrinking steps.
    steps = np.array([0.05, 0.05, 0.05, 0.05, 0.5, 0.08], np.float32)
    for _ in range(6):
        trials = best[None].repeat(2 * len(best), axis=0)
        trials[np.arange(len(trials)), np.arange(len(trials)) // 2] += np.tile([-1.0, 1.0], len(best)) * np.repeat(
            steps, 2
        )
        trials = trials[(trials[:, 4] >= 1.5) & (np.abs(trials[:, 5]) <= 0.4) & _clears(face, landmarks, trials)]
        if len(trials):
            values = score(strengths(trials))
            if values.max() > best_score:
                best, best_score = trials[int(np.argmax(values))].copy(), float(values.max())
        steps *= 0.7
    return best, best_score / max(float(np.median(scores)), 1e-6)


def _eye_clear(landmarks: np.ndarray, face: _Face, eye: int, shape: tuple[int, int]) -> np.ndarray:
    """The eye with its lashes (uint8 mask): no rim runs there."""
    loop = landmarks[list(regions.RIGHT_EYE if eye == 0 else regions.LEFT_EYE)]
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(loop).astype(np.int32)], 1)
    radius = max(1, int(round(0.012 * face.size)))
    return cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))


def _lookup(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``mask`` at each point (nearest pixel), and whether the point is in the image at all."""
    at = np.round(points).astype(np.int64)
    height, width = mask.shape
    inside = (at[..., 0] >= 0) & (at[..., 0] < width) & (at[..., 1] >= 0) & (at[..., 1] < height)
    values = np.zeros(points.shape[:-1], mask.dtype)
    values[inside] = mask[at[inside][:, 1], at[inside][:, 0]]
    return values, inside


def _rim(lab: np.ndarray, landmarks: np.ndarray, face: _Face, eye: int, shape: np.ndarray) -> _Part:
    """One rim, traced near the fitted outline across its normals (a line every pixel and a half of its length)."""
    outline = _outline(face, eye, shape, count=4 * OUTLINE_POINTS)[0].astype(np.float64)
    # Evenly spaced along the outline, so the trace's smoothness means the same everywhere on it.
    closed = np.concatenate([outline, outline[:1]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    at = np.linspace(0.0, arc[-1], max(32, int(arc[-1] / 1.5)), endpoint=False)
    points = np.stack([np.interp(at, arc, closed[:, 0]), np.interp(at, arc, closed[:, 1])], axis=1)
    reach = max(3, int(round(0.05 * face.size)))
    normals = _normals(points)
    lines = _Lines((points - reach * normals).astype(np.float32), normals.astype(np.float32), 2 * reach + 1)
    profiles = lines.sample(lab)
    strength, scale = line_strength(profiles, face.scales())
    in_eye, in_image = _lookup(_eye_clear(landmarks, face, eye, lab.shape[:2]), lines.points())
    valid = in_image & (in_eye == 0)
    zone = float(np.median(strength[valid])) + 1e-3 if valid.any() else 1.0
    path = trace(np.minimum(strength / zone, 8.0), valid, reach=1, closed=True)
    alpha, colour = matte(profiles, path, scale)
    alpha *= evidence(strength, path, zone, closed=True)[:, None]
    return _Part(lines, path, alpha, colour)


def _across_between(
    lab: np.ndarray, face: _Face, start: np.ndarray, end: np.ndarray, top: float, bottom: float
) -> _Part | None:
    """The frame crossing vertical lines (in the face's frame) from ``start`` to ``end``, between the heights
    ``top`` and ``bottom`` (along the face's down axis): the bridge, an arm."""
    first, last = sorted((float(start @ face.across), float(end @ face.across)))
    columns = np.arange(first, last + 1.0)
    if len(columns) < 2 or bottom - top < 3:
        return None
    origins = columns[:, None] * face.across + top * face.down
    lines = _Lines(
        origins.astype(np.float32),
        np.repeat(face.down[None], len(columns), 0).astype(np.float32),
        int(bottom - top) + 1,
    )
    profiles = lines.sample(lab)
    strength, scale = line_strength(profiles, face.scales())
    zone = float(np.median(strength)) + 1e-3
    reach = max(1, int(round(0.015 * face.size)))
    path = trace(np.minimum(strength / zone, 8.0), np.ones(strength.shape, bool), reach=reach, closed=False)
    alpha, colour = matte(profiles, path, scale)
    alpha *= evidence(strength, path, zone, closed=False)[:, None]
    return _Part(lines, path, alpha, colour)


def _bridge_and_arms(lab: np.ndarray, landmarks: np.ndarray, face: _Face, rims: list[_Part]) -> list[_Part]:
    """The bridge between the rims' inner ends, and each arm from its rim's outer end towards the ear."""
    right, left = rims[0].centre_line(), rims[1].centre_line()
    right_across, left_across = right @ face.across, left @ face.across
    level = 0.5 * float((face.centres[0] + face.centres[1]) @ face.down)
    spans = [
        (
            right[np.argmax(right_across)],
            left[np.argmin(left_across)],
            level - 0.16 * face.size,
            level + 0.06 * face.size,
        )
    ]
    for outer, side in (
        (right[np.argmin(right_across)], regions.RIGHT_FACE_SIDE),
        (left[np.argmax(left_across)], regions.LEFT_FACE_SIDE),
    ):
        hinge = float(outer @ face.down)
        spans.append((outer, landmarks[side], hinge - 0.08 * face.size, hinge + 0.06 * face.size))
    parts = [_across_between(lab, face, start, end, top, bottom) for start, end, top, bottom in spans]
    # An arm is often hidden by hair or lost against it: one seen along less than most of its way is left out (its
    # pieces would be specks at the temples).
    arms = [part for part in parts[1:] if part is not None and (part.alpha.max(axis=1) > 0.3).mean() >= ARM_SEEN]
    return [part for part in parts[:1] if part is not None] + arms


def _unmixed(image: np.ndarray, frames: np.ndarray, size: float) -> np.ndarray:
    """The frames' own colours (RGB uint8): where a frame is partly opaque its pixel mixes it with the skin behind
    (read from around it), which is taken out; elsewhere the image."""
    clear = np.clip(1.0 - 2.0 * frames, 0.0, 1.0)[..., None]
    sigma = max(1.0, 0.02 * size)
    behind = cv2.GaussianBlur(image.astype(np.float32) * clear, (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(clear, (0, 0), sigma)[..., None], 1e-3
    )
    opacity = np.maximum(frames, 0.6)[..., None]
    own = behind + (image.astype(np.float32) - behind) / opacity
    return np.where(frames[..., None] > 0.02, np.clip(own, 0, 255), image).astype(np.uint8)


def find_glasses(image: np.ndarray, landmarks: np.ndarray) -> FoundGlasses:
    """The glasses worn in an RGB image with known landmarks (:class:`FoundGlasses`)."""
    shape = image.shape[:2]
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    face = _Face.of(landmarks)
    fitted, _ = _fit_lenses(lab, landmarks, face)
    rims = [_rim(lab, landmarks, face, eye, fitted) for eye in (0, 1)]
    frames = np.zeros(shape, np.float32)
    for part in rims + _bridge_and_arms(lab, landmarks, face, rims):
        alpha, _, box = part.draw(shape)
        if alpha.size:
            frames[box] = np.maximum(frames[box], alpha)
    colour = image.copy()
    box = mask_box(frames > 0.01, margin=int(0.05 * face.size) + 2)
    if box is not None:
        colour[box] = _unmixed(image[box], frames[box], face.size)
    lenses = np.zeros(shape, np.float32)
    for rim in rims:
        canvas = np.zeros(shape, np.uint8)
        cv2.fillPoly(canvas, [np.round(rim.centre_line() * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        lenses = np.maximum(lenses, canvas.astype(np.float32) / 255.0)
    lenses *= 1.0 - frames
    strength = float(np.mean([(rim.alpha.max(axis=1) > 0.3).mean() for rim in rims]))
    return FoundGlasses(np.clip(frames, 0.0, 1.0), colour, lenses, strength)
