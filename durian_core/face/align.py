"""Geometric alignment: similarity transforms and a dense piecewise-affine mesh warp.

The mesh warp triangulates the face landmarks together with fixed anchors on a ring around the head and on the
image border, so the background holds still. For a target landmark set it builds one backward map — every output pixel
gets the source position of its triangle's affine map — and resamples once with ``cv2.remap``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) taking ``source`` points onto ``target``.

    Returns a 2×3 matrix for ``cv2.warpAffine``.
    """
    source = np.asarray(source, np.float64)
    target = np.asarray(target, np.float64)
    mean_s, mean_t = source.mean(axis=0), target.mean(axis=0)
    centered_s, centered_t = source - mean_s, target - mean_t
    variance = (centered_s**2).sum()
    if variance < 1e-9:
        raise ValueError("similarity_transform needs points that are not all the same")
    # Closed form for 2-D similarity: a = Σ(s·t)/Σ|s|², b = Σ(s×t)/Σ|s|².
    a = (centered_s * centered_t).sum() / variance
    b = (centered_s[:, 0] * centered_t[:, 1] - centered_s[:, 1] * centered_t[:, 0]).sum() / variance
    linear = np.array([[a, -b], [b, a]])
    offset = mean_t - linear @ mean_s
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 2×3 affine matrix to N×2 points."""
    return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(matrix.astype(np.float64)).astype(np.float32)


def align_rigid(
    image: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Warp ``image`` so its face's rigid points land on the target's; ``size`` is (width, height).

    Used for attributes that extend far past the face mesh (hair, hats), where a mesh warp would tear.
    """
    index = list(regions.RIGID)
    matrix = similarity_transform(source_landmarks[index], target_landmarks[index])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _roll(landmarks: np.ndarray) -> float:
    """The face's in-plane angle: the line from the subject's right face side to the left one."""
    across = landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE]
    return float(np.arctan2(across[1], across[0]))


def _rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


MAX_ANISOTROPY = 1.15
"""How much wider than tall (or taller than wide) a head may be made relative to the attribute's own head."""


def skull_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """A 2×3 map of the ``source`` head onto the ``target`` head for hair and hats: rotation and position as the
    similarity of the skull's points, but width and height scaled separately (each face's own upright axes), so the
    hair fits a head that is wider or has a taller forehead than the one it came from. The two scales differ by at
    most :data:`MAX_ANISOTROPY`, and there is no shear."""
    index = list(regions.RIGID)
    src, tgt = np.asarray(source[index], np.float64), np.asarray(target[index], np.float64)
    src_rotation, tgt_rotation = _rotation(_roll(source)), _rotation(_roll(target))
    src_up = (src - src.mean(axis=0)) @ src_rotation  # each face upright: x across it, y down it
    tgt_up = (tgt - tgt.mean(axis=0)) @ tgt_rotation
    scale_x = float((src_up[:, 0] * tgt_up[:, 0]).sum() / max((src_up[:, 0] ** 2).sum(), 1e-9))
    scale_y = float((src_up[:, 1] * tgt_up[:, 1]).sum() / max((src_up[:, 1] ** 2).sum(), 1e-9))
    mean_scale = np.sqrt(max(scale_x * scale_y, 1e-12))
    ratio = float(np.clip(scale_x / max(scale_y, 1e-9), 1 / MAX_ANISOTROPY, MAX_ANISOTROPY))
    scales = np.diag([mean_scale * np.sqrt(ratio), mean_scale / np.sqrt(ratio)])
    linear = tgt_rotation @ scales @ src_rotation.T
    offset = tgt.mean(axis=0) - linear @ src.mean(axis=0)
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def align_skull(
    image: np.ndarray,
    source_landmarks: np.ndarray,
    target_landmarks: np.ndarray,
    size: tuple[int, int],
    *,
    then: np.ndarray | None = None,
) -> np.ndarray:
    """Warp ``image`` (hair, a hat) so the source head lands on the target head (:func:`skull_transform`), followed
    by the 2×3 map ``then`` on the target's side (a user's fit, :func:`fit_matrix`), in one resampling."""
    matrix = skull_transform(source_landmarks, target_landmarks)
    if then is not None:
        matrix = compose_affine(then, matrix)
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def compose_affine(second: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The 2×3 map that applies ``first`` and then ``second``."""
    square = np.vstack([first.astype(np.float64), [0.0, 0.0, 1.0]])
    return (second.astype(np.float64) @ square).astype(np.float32)


def head_centre(landmarks: np.ndarray) -> np.ndarray:
    """The middle of the skull: halfway between the face sides' midpoint and a point a fifth of a face size above
    the forehead's top landmark (the centre of :func:`durian_core.face.fill.skull_region`'s ellipse)."""
    size = regions.face_size(landmarks)
    right, left = landmarks[regions.RIGHT_FACE_SIDE], landmarks[regions.LEFT_FACE_SIDE]
    across = left - right
    up = np.array([across[1], -across[0]]) / max(np.linalg.norm(across), 1e-6)
    top = landmarks[regions.FOREHEAD_TOP] + up * 0.2 * size
    return ((right + left) / 2 + top) / 2


def fit_matrix(landmarks: np.ndarray, *, dx: float, dy: float, scale: float, degrees: float) -> np.ndarray:
    """A user's nudge of an attribute on the face of ``landmarks`` as a 2×3 map: scaled by ``scale`` and turned by
    ``degrees`` (counter-clockwise as seen) about the middle of the head, then moved by ``dx``, ``dy`` face sizes
    along the face's own axes (right and down when it is upright)."""
    centre = head_centre(landmarks)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(degrees), float(scale))
    size = regions.face_size(landmarks)
    shift = _rotation(_roll(landmarks)) @ np.array([dx, dy]) * size
    matrix[:, 2] += shift
    return matrix.astype(np.float32)


def face_yaw(landmarks: np.ndarray) -> float:
    """Which way the face turns, from the 2-D landmarks: the nose tip's position between the face sides, in the
    face's own upright frame; 0 frontal, negative towards the image's left, about ±0.25 at a three-quarter view."""
    rotation = _rotation(_roll(landmarks))
    upright = landmarks @ rotation
    right, left, nose = (
        upright[regions.RIGHT_FACE_SIDE, 0],
        upright[regions.LEFT_FACE_SIDE, 0],
        upright[regions.NOSE_TIP, 0],
    )
    return float((nose - right) / max(left - right, 1e-6) - 0.5)


def border_anchors(width: int, height: int, per_side: int = 4) -> np.ndarray:
    """Points along the image border (corners included) that pin the background in place."""
    steps = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    right, bottom = width - 1.0, height - 1.0
    top = [(s * right, 0.0) for s in steps]
    right_side = [(right, s * bottom) for s in steps]
    bottom_side = [(right - s * right, bottom) for s in steps]
    left = [(0.0, bottom - s * bottom) for s in steps]
    return np.array(top + right_side + bottom_side + left, np.float32)


def head_ring(landmarks: np.ndarray, *, scale: float = 1.7, count: int = 16) -> np.ndarray:
    """Anchors on an ellipse around the face, large enough to enclose the hair."""
    center = regions.face_center(landmarks)
    size = regions.face_size(landmarks)
    angles = np.linspace(0, 2 * np.pi, count, endpoint=False)
    ring = np.stack([np.cos(angles) * 0.5 * size * scale, np.sin(angles) * 0.55 * size * scale], axis=1)
    return (center + ring).astype(np.float32)


def _delaunay(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Triangle vertex indices (T×3) of the Delaunay triangulation of ``points``."""
    pad = 4 * max(width, height)
    subdiv = cv2.Subdiv2D((-pad, -pad, width + 2 * pad, height + 2 * pad))
    subdiv.insert([(float(x), float(y)) for x, y in points])
    corners = np.array(subdiv.getTriangleList(), np.float32).reshape(-1, 3, 2)
    # Map each corner back to the nearest input point; the triangulation's outer "virtual" vertices lie far
    # outside the image and are dropped with their triangles.
    distance = np.linalg.norm(corners[:, :, None, :] - points[None, None, :, :], axis=-1)
    nearest = distance.argmin(axis=-1)
    exact = np.take_along_axis(distance, nearest[..., None], axis=-1)[..., 0] < 0.5
    keep = exact.all(axis=1) & (nearest[:, 0] != nearest[:, 1]) & (nearest[:, 1] != nearest[:, 2])
    keep &= nearest[:, 0] != nearest[:, 2]
    return nearest[keep].astype(np.int32)


def triangle_affines(target: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle, the affine map taking its ``target`` corners (T×3×2) onto its ``source`` corners, as T×3×2
    coefficients (``x·c[0] + y·c[1] + c[2]``), in closed form; and which triangles are not degenerate."""
    target = target.astype(np.float64)
    source = source.astype(np.float64)
    t1, t2 = target[:, 1] - target[:, 0], target[:, 2] - target[:, 0]
    s1, s2 = source[:, 1] - source[:, 0], source[:, 2] - source[:, 0]
    det = t1[:, 0] * t2[:, 1] - t2[:, 0] * t1[:, 1]
    valid = np.abs(det) > 1e-6
    safe = np.where(valid, det, 1.0)
    # Inverse of [t1 t2] (columns), times [s1 s2]: the linear part, source = L·(p − t0) + s0.
    inverse = (
        np.stack([np.stack([t2[:, 1], -t2[:, 0]], -1), np.stack([-t1[:, 1], t1[:, 0]], -1)], 1) / safe[:, None, None]
    )
    sources = np.stack([s1, s2], axis=-1)  # T×2×2, columns s1, s2
    linear = sources @ inverse  # T×2×2: rows are source x, y; columns multiply target x, y
    offset = source[:, 0] - np.einsum("tij,tj->ti", linear, target[:, 0])
    coefficients = np.stack([linear[:, :, 0], linear[:, :, 1], offset], axis=1)  # T×3×2
    coefficients[~valid] = 0.0
    return coefficients.astype(np.float32), valid


def _signed_area(corners: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (T×3×2): its sign is the corners' turning direction."""
    corners = corners.astype(np.float64)
    a, b = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


SLIVER_STRETCH = 4.0
"""A triangle whose map stretches the source this many times more than the face's overall scale is a sliver."""


def mesh_affines(target: np.ndarray, source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per triangle (T×3×2 corners), the affine map from its ``target`` corners onto its ``source`` ones
    (:func:`triangle_affines`), and the order to rasterise the non-degenerate ones in.

    A triangle squeezed thin (stretching its source over :data:`SLIVER_STRETCH` times the face's overall scale) or
    turned over (the lips of an open mouth over a closed one) sampled its source several pixels apart or from
    across the fold, each pixel a speck of whatever it landed on (a beard's hair at the corner of a smile): its map
    is its source triangle's centre instead. Folded triangles come first in the order, so a triangle that keeps
    its orientation wins where they overlap.
    """
    affines, valid = triangle_affines(target, source)
    target_area, source_area = _signed_area(target), _signed_area(source)
    folded = np.sign(target_area) != np.sign(source_area)
    indices = np.flatnonzero(valid)
    order = np.concatenate([indices[folded[indices]], indices[~folded[indices]]])
    if not valid.any() or np.abs(source_area[valid]).sum() <= 0:
        return affines, order
    typical = np.sqrt(np.abs(source_area[valid]).sum() / max(np.abs(target_area[valid]).sum(), 1e-9))
    # The largest singular value of each 2×2 linear part, in closed form.
    linear = affines[:, :2].astype(np.float64).reshape(-1, 4)
    squares = (linear**2).sum(axis=1)
    determinant = linear[:, 0] * linear[:, 3] - linear[:, 1] * linear[:, 2]
    stretch = np.sqrt(0.5 * (squares + np.sqrt(np.maximum(squares**2 - 4 * determinant**2, 0.0))))
    slivers = valid & ((stretch > SLIVER_STRETCH * typical) | folded)
    if slivers.any():
        affines = affines.copy()
        affines[slivers, :2] = 0.0
        affines[slivers, 2] = source[slivers].mean(axis=1)
    return affines, order


@dataclass(frozen=True, eq=False)
class MeshWarp:
    """A triangulated source mesh that can be warped onto any target positions of its landmarks.

    ``points`` are the source positions: the landmarks, then fixed anchors (a ring around the head and the image
    border). The anchors stay put unless a target gives them new positions, so the deformation stays within the
    ring: a head that turns drags only its hair and the background just around it, as a real head does. (Measured
    on the talking-face clip: moving the surroundings with the head, even partly, loses to the do-nothing baseline
    on PSNR; see ``evaluate``.)
    """

    points: np.ndarray  # P×2 float32, source positions
    triangles: np.ndarray  # T×3 int32
    size: tuple[int, int]  # (width, height) of the output
    num_landmarks: int

    @classmethod
    def build(
        cls,
        landmarks: np.ndarray,
        size: tuple[int, int],
        *,
        ring_scale: float = 1.6,
        source_size: tuple[int, int] | None = None,
    ) -> MeshWarp:
        """Triangulate ``landmarks`` (source image of ``source_size``) plus anchors; output is ``size``."""
        width, height = source_size or size
        anchors = np.concatenate([head_ring(landmarks, scale=ring_scale, count=20), border_anchors(width, height)])
        points = np.concatenate([landmarks.astype(np.float32), anchors])
        return cls(points, _delaunay(points, width, height), size, len(landmarks))

    @classmethod
    def from_points(cls, points: np.ndarray, anchors: np.ndarray, size: tuple[int, int]) -> MeshWarp:
        """A mesh over ``points`` (the moving landmarks) and ``anchors`` (the rest), output ``size``."""
        every = np.concatenate([points.astype(np.float32), anchors.astype(np.float32)])
        return cls(every, _delaunay(every, *size), size, len(points))

    @property
    def anchors(self) -> np.ndarray:
        return self.points[self.num_landmarks :]

    def target_points(self, landmarks: np.ndarray, anchors: np.ndarray | None = None) -> np.ndarray:
        """Full target point set: the moved landmarks and the anchors (where they were, unless given)."""
        return np.concatenate([landmarks.astype(np.float32), self.anchors if anchors is None else anchors])

    def backward_map(self, target: np.ndarray, *, fallback: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(map_x, map_y)`` for ``cv2.remap``: each output pixel's position in the source image.

        Pixels no triangle covers (possible only when the anchors moved) use the 2×3 ``fallback`` map from
        target to source, or stay where they are.
        """
        width, height = self.size
        # Triangle ids rasterised in target space; -1 where no triangle covers (cannot happen inside the anchors).
        ids = np.full((height, width), -1, np.int32)
        target_tris = target[self.triangles]  # T×3×2
        source_tris = self.points[self.triangles]
        affines, order = mesh_affines(target_tris, source_tris)
        fixed = np.round(target_tris * 16).astype(np.int32)
        for index in order:
            cv2.fillConvexPoly(ids, fixed[index], int(index), lineType=cv2.LINE_8, shift=4)
        flat = ids.ravel()
        xs = np.tile(np.arange(width, dtype=np.float32), height)
        ys = np.repeat(np.arange(height, dtype=np.float32), width)
        coeff = affines[np.maximum(flat, 0)]  # N×3×2
        map_x = xs * coeff[:, 0, 0] + ys * coeff[:, 1, 0] + coeff[:, 2, 0]
        map_y = xs * coeff[:, 0, 1] + ys * coeff[:, 1, 1] + coeff[:, 2, 1]
        uncovered = flat < 0
        if uncovered.any():
            matrix = fallback if fallback is not None else np.array([[1, 0, 0], [0, 1, 0]], np.float32)
            points = apply_affine(matrix, np.stack([xs[uncovered], ys[uncovered]], axis=1))
            map_x[uncovered], map_y[uncovered] = points[:, 0], points[:, 1]
        return map_x.reshape(height, width), map_y.reshape(height, width)

    def fast_map(
        self, target: np.ndarray, *, box: tuple[int, int, int, int], factor: int = 4, coverage: bool = False
    ) -> tuple[np.ndarray, ...]:
        """``(map_x, map_y)`` for the output pixels of ``box`` (x0, y0, x1, y1), computed on a grid ``factor``
        times coarser and upsampled.

        A piecewise-affine map is linear inside each triangle and continuous across their edges, so the coarse
        grid loses almost nothing (a fraction of a pixel along triangle edges) and costs ``factor²`` times less.
        Pixels no triangle covers map to themselves. Maps are float32, as ``cv2.remap`` takes them. With
        ``coverage``, a third array says how far each pixel lies inside the mesh (1) or outside it (0).
        """
        x0, y0, x1, y1 = box
        width, height = x1 - x0, y1 - y0
        coarse_w, coarse_h = max(2, -(-width // factor)), max(2, -(-height // factor))
        # Coarse pixel i sits at output x0 + factor·i + (factor − 1)/2, where a plain linear resize by ``factor``
        # puts it, so the upsampling below interpolates exactly.
        offset = (factor - 1) / 2.0
        target_tris = target[self.triangles]
        affines, order = mesh_affines(target_tris, self.points[self.triangles])
        # An extra last "triangle": the identity, for pixels no triangle covers.
        affines = np.concatenate([affines, np.array([[[1, 0], [0, 1], [0, 0]]], np.float32)])
        ids = np.full((coarse_h, coarse_w), len(self.triangles), np.int32)
        coarse_tris = (target_tris - np.array([x0 + offset, y0 + offset], np.float32)) / factor
        fixed = np.round(coarse_tris * 16).astype(np.int32)
        for index in order:
            cv2.fillConvexPoly(ids, fixed[index], int(index), lineType=cv2.LINE_8, shift=4)
        xs = (np.arange(coarse_w, dtype=np.float32) * factor + x0 + offset)[None, :]
        ys = (np.arange(coarse_h, dtype=np.float32) * factor + y0 + offset)[:, None]
        coeff = affines[ids]
        map_x = xs * coeff[..., 0, 0] + ys * coeff[..., 1, 0] + coeff[..., 2, 0]
        map_y = xs * coeff[..., 0, 1] + ys * coeff[..., 1, 1] + coeff[..., 2, 1]
        size = (coarse_w * factor, coarse_h * factor)
        full_x = cv2.resize(map_x, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
        full_y = cv2.resize(map_y, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
        if not coverage:
            return np.ascontiguousarray(full_x), np.ascontiguousarray(full_y)
        # Shrunk by a coarse pixel first, so the upsampled edge fades out inside the mesh, not past it.
        covered = cv2.erode((ids < len(self.triangles)).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
        full_covered = cv2.resize(covered, size, interpolation=cv2.INTER_LINEAR)[:height, :width]
        return np.ascontiguousarray(full_x), np.ascontiguousarray(full_y), np.ascontiguousarray(full_covered)

    def warp(self, image: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Resample ``image`` (source geometry) so its mesh lands on ``target`` (a full point set)."""
        map_x, map_y = self.backward_map(target)
        return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def mesh_align(
    image: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """Warp ``image`` so every face landmark lands on the target's (face-anchored attributes)."""
    height, width = image.shape[:2]
    map_x, map_y = _mesh_maps(
        np.asarray(source_landmarks, np.float32).tobytes(),
        np.asarray(target_landmarks, np.float32).tobytes(),
        tuple(size),
        (width, height),
    )
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


@functools.lru_cache(maxsize=4)
def _mesh_maps(
    source: bytes, target: bytes, size: tuple[int, int], source_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The backward maps of :func:`mesh_align` (landmarks as float32 bytes), kept for the last few pairs: the
    glasses' frames and lenses follow the same warp as their image, which took most of a glasses edit's time."""
    source_landmarks = np.frombuffer(source, np.float32).reshape(-1, 2)
    target_landmarks = np.frombuffer(target, np.float32).reshape(-1, 2)
    mesh = MeshWarp.build(source_landmarks, size, source_size=source_size)
    # The anchors follow a similarity of the whole face, so what lies past the mesh (glasses' arms) stays coherent.
    index = list(regions.RIGID)
    rigid = similarity_transform(source_landmarks[index], target_landmarks[index])
    target_points = mesh.target_points(target_landmarks, anchors=apply_affine(rigid, mesh.anchors))
    map_x, map_y = mesh.backward_map(target_points, fallback=invert_affine(rigid))
    map_x.setflags(write=False)
    map_y.setflags(write=False)
    return map_x, map_y
