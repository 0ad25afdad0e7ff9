"""The classical engine's animator: the edited still moving along the retargeted landmarks, frame by frame.

The head (face, hair, hat) is a layer over a background plate: inside the face the layer follows a mesh over the
landmarks, beyond it an anchor ring moves with the head's similarity, so hair and hats move rigidly with the head
instead of stretching towards a fixed ring; what the moving head uncovers is the plate (the still with the head
filled in once from the background), and the neck blends from the head into the plate. The mouth's inside is drawn
by :mod:`durian_core.engines.mouth`: the portrait's own teeth riding its lips, over the driver's mouth lit like the
portrait.
Maps are computed on a coarse grid inside the head's box only, so a frame costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.engines.mouth import MouthInterior, point_box
from durian_core.face import regions
from durian_core.face.align import MeshWarp, apply_affine, head_ring, similarity_transform
from durian_core.face.fill import push_pull, skull_region
from durian_core.face.masks import face_oval, feather, fill_polygons, person_mask
from durian_core.types import PreparedInputs

MAP_FACTOR = 4  # the backward map is computed on a grid this much coarser than the frame, then upsampled
NECK_FADE = 0.25  # face sizes below the chin over which the neck hands the head's motion over to the body
NECK_OPAQUE = 0.6  # the share of that the neck is drawn opaque, fading out only where it has all but stopped moving
HEAD_KINDS = ("hair", "hat")


def hair_ring_scale(prepared: PreparedInputs, *, minimum: float = 1.6) -> float:
    """Scale of the fixed anchor ring so that it encloses all hair and hats, old and new, with a margin.

    Hair cut by the ring would tear at it when the head turns: inside it stretches, outside it stays put.
    """
    masks = [mask for kind, mask in prepared.portrait_masks.items() if kind in HEAD_KINDS]
    masks += [attribute.aligned_mask for attribute in prepared.attributes if attribute.kind in HEAD_KINDS]
    if prepared.own_hair is not None:
        masks.append(prepared.own_hair)
    if not masks:
        return minimum
    ys, xs = np.nonzero(np.maximum.reduce(masks) > 0.5)
    if len(xs) == 0:
        return minimum
    center = regions.face_center(prepared.portrait_landmarks)
    size = regions.face_size(prepared.portrait_landmarks)
    # The same ellipse proportions as the ring itself (align.head_ring).
    radius = np.sqrt(((xs - center[0]) / (0.5 * size)) ** 2 + ((ys - center[1]) / (0.55 * size)) ** 2)
    return float(round(max(minimum, np.percentile(radius, 98) * 1.15), 2))


@dataclass(frozen=True, eq=False)
class HeadRig:
    """What animating one edited portrait needs, built once: the head layer, the plate behind it, the mesh."""

    layer: np.ndarray  # H×W×3 uint8: the edited still
    opacity: np.ndarray  # H×W float32 in [0, 1]: the head's opacity over the plate
    plate: np.ndarray  # H×W×3 uint8: the still with the head filled in from around it
    mesh: MeshWarp  # the animated landmarks, then the anchors: the ring round the head, a row across the neck's base
    landmarks: np.ndarray  # 478×2 float32, the portrait's
    mouth: MouthInterior
    body: np.ndarray  # per anchor in [0, 1]: how much it stays with the body instead of following the head

    @classmethod
    def build(cls, still: np.ndarray, prepared: PreparedInputs) -> HeadRig:
        landmarks = prepared.portrait_landmarks
        height, width = still.shape[:2]
        alpha = head_opacity(prepared, (height, width), person=person_mask(still))
        size = regions.face_size(landmarks)
        # The plate: what lies behind the head, pulled in from around it (a moving head uncovers slivers only).
        hole = cv2.dilate((alpha > 0.02).astype(np.uint8), _disc(0.05 * size)) > 0
        hole &= np.arange(height)[:, None] < landmarks[regions.CHIN, 1]  # below the chin the plate is the body
        known = ~hole
        plate = still.copy()
        if hole.any() and known.any():
            plate[hole] = np.clip(push_pull(still, known), 0, 255).astype(np.uint8)[hole]
        layer = np.ascontiguousarray(still)
        points = landmarks[list(regions.WARP_POINTS)]
        ring_scale = hair_ring_scale(prepared)
        ring = head_ring(landmarks, scale=ring_scale, count=20)
        # The neck stretches between the jaw, which moves with the head, and a row of anchors across its base that
        # stays with the body, as do the ring's anchors below the chin (on the shoulders). Moved rigidly with the
        # head, the neck's fading end slid over the body and showed the collar and chin twice.
        chin_y = float(landmarks[regions.CHIN, 1])
        jaw = landmarks[list(regions.JAW)]
        base_y = chin_y + NECK_FADE * size
        base = np.stack([np.linspace(jaw[:, 0].min(), jaw[:, 0].max(), 5), np.full(5, base_y)], axis=1)
        anchors = np.concatenate([ring, base.astype(np.float32)])
        mesh = MeshWarp.from_points(points, anchors, (width, height))
        body = np.clip((anchors[:, 1] - chin_y) / (NECK_FADE * size), 0.0, 1.0)
        return cls(
            layer,
            alpha.astype(np.float32),
            plate,
            mesh,
            landmarks.astype(np.float32),
            MouthInterior(still, landmarks),
            body.astype(np.float32)[:, None],
        )

    def head_motion(self, target: np.ndarray) -> np.ndarray:
        """The head's similarity (2×3) from the portrait to ``target``, over the skull's landmarks."""
        rigid = list(regions.RIGID)
        return similarity_transform(self.landmarks[rigid], target[rigid])

    def render(
        self,
        target: np.ndarray,
        *,
        driver_frame: np.ndarray | None = None,
        driver_landmarks: np.ndarray | None = None,
    ) -> np.ndarray:
        """One frame: the head moved to the ``target`` landmarks (478×2) over the plate, the mouth filled."""
        motion = self.head_motion(target)
        rest = self.mesh.anchors
        anchors = apply_affine(motion, rest) * (1.0 - self.body) + rest * self.body
        points = self.mesh.target_points(target[list(regions.WARP_POINTS)], anchors)
        box = point_box(anchors, self.plate.shape)
        frame = self.plate.copy()
        if box is not None:
            x0, y0, x1, y1 = box
            map_x, map_y, inside = self.mesh.fast_map(points, box=box, factor=MAP_FACTOR, coverage=True)
            colour = cv2.remap(self.layer, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            # Past the moved ring the map is the identity: the head layer is not there (a wisp of hair near the
            # ring stayed where it was, and floated beside a head that had moved away from it).
            alpha = cv2.remap(self.opacity, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * inside
            frame[y0:y1, x0:x1] = cv2.blendLinear(colour, frame[y0:y1, x0:x1], alpha, 1.0 - alpha)
        return self.mouth(frame, target, driver_frame, driver_landmarks, linear=motion[:, :2])


def head_opacity(prepared: PreparedInputs, shape: tuple[int, int], *, person: np.ndarray) -> np.ndarray:
    """The head as a layer (float32 H×W): the face and ears, the skull, the hair and hats it wears (the new ones
    where attributes bring them, the portrait's own otherwise), fading out down the neck."""
    landmarks = prepared.portrait_landmarks
    size = regions.face_size(landmarks)
    face = cv2.dilate(face_oval(landmarks, shape), _disc(0.05 * size))
    # Only the person moves with the head: a margin around the face that is background stays with the plate.
    head = np.maximum(face, skull_region(landmarks, shape)) * np.clip(person * 1.5, 0, 1)
    worn = [
        a.aligned_mask for a in prepared.attributes if a.kind in HEAD_KINDS and a.weight > 0 and not a.from_portrait
    ]
    hair_replaced = any(a.kind == "hair" and a.weight > 0 and not a.from_portrait for a in prepared.attributes)
    if prepared.own_hair is not None and not hair_replaced:
        worn.append(prepared.own_hair)
    for mask in worn:
        head = np.maximum(head, mask)
    # The neck carries the head: it moves with it at the jaw and hands over to the body a third of a face size
    # below the chin, so a head that tilts or rises never uncovers what lies under the chin.
    chin_y = float(landmarks[regions.CHIN, 1])
    rows = np.arange(shape[0], dtype=np.float32)[:, None]
    fade = np.clip((1.0 - (rows - chin_y) / (NECK_FADE * size)) / (1.0 - NECK_OPAQUE), 0.0, 1.0)
    neck = throat(landmarks, shape) * fade * np.clip(person * 1.5, 0, 1)
    below = rows > chin_y
    head = np.where(below, np.maximum(head * fade, neck), np.maximum(head, neck))
    return feather(np.clip(head, 0, 1).astype(np.float32), 0.01 * size)


def throat(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The neck under the jaw: as wide as the jaw between its angles, straight down (float32 mask)."""
    jaw = landmarks[list(regions.JAW)]
    inner = jaw[3:-3]
    bottom = float(landmarks[regions.CHIN, 1] + NECK_FADE * regions.face_size(landmarks))
    polygon = np.concatenate([inner, [[inner[-1][0], bottom], [inner[0][0], bottom]]])
    return fill_polygons(shape, [polygon])


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
