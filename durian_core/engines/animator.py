"""The classical engine's animator: the edited still moving along the retargeted landmarks, frame by frame.

The head (face, ears, hair, hat) is a layer over a background plate: inside the face the layer follows a mesh over
the landmarks, beyond it an anchor ring moves with the head's similarity, so hair and hats move rigidly with the
head instead of stretching towards a fixed ring. The neck is a layer of its own beneath it, stretched between the
jaw and a row of anchors along the clothes' edge that stays with the body. What the moving head uncovers is the
plate: the still with head and neck filled in once from the backdrop (:mod:`durian_core.engines.head_layer`). The
mouth's inside is drawn by :mod:`durian_core.engines.mouth`: the portrait's own teeth riding its lips, over the
driver's mouth lit like the portrait. Maps are computed on a coarse grid inside each layer's box only, so a frame
costs a few milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from durian_core.cache import FeatureCache
from durian_core.engines.hair_removal import portrait_hair_removal
from durian_core.engines.head_layer import (
    NECK_DEPTH,
    above_the_jaw_corners,
    background_plate,
    below_the_jaw,
    collar_anchors,
    collar_seam,
    head_matte,
    jaw_corners,
    layer_colours,
    neck_mask,
    neck_matte,
    skin_hued,
    slivers_beside,
    under_the_chin,
)
from durian_core.engines.mouth import MouthInterior, point_box
from durian_core.face import regions
from durian_core.face.align import MeshWarp, apply_affine, head_ring, similarity_transform
from durian_core.face.fill import skull_region
from durian_core.face.masks import person_mask
from durian_core.types import PreparedInputs

MAP_FACTOR = 4  # the backward map is computed on a grid this much coarser than the frame, then upsampled
FOLLOW_FROM = 0.5  # of the rise from the neck's lowest edge to the jaw's corners, where collar anchors begin to follow
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
    """What animating one edited portrait needs, built once: the head layer, the neck beneath it, the plate behind
    both, the mesh."""

    layer: np.ndarray  # H×W×3 uint8: the edited still, its head's edge without the backdrop mixed in
    opacity: np.ndarray  # H×W float32 in [0, 1]: the head's matte over the plate
    plate: np.ndarray  # H×W×3 uint8: the still with the head and neck filled in from the background around them
    mesh: MeshWarp  # the animated landmarks, then the anchors: a ring round the head that moves with it
    landmarks: np.ndarray  # 478×2 float32, the portrait's
    mouth: MouthInterior
    neck: NeckLayer

    @classmethod
    def build(cls, still: np.ndarray, prepared: PreparedInputs, *, cache: FeatureCache | None = None) -> HeadRig:
        landmarks = prepared.portrait_landmarks
        shape = still.shape[:2]
        ring = head_ring(landmarks, scale=hair_ring_scale(prepared), count=20)
        worn = worn_on_the_head(prepared)
        refilled = refilled_by_the_edit(prepared, worn, cache=cache)
        # What the edit refilled where the old hair was is backdrop, though the segmentation may still see the old
        # hair's outline there: beside the jaw it would join the neck and be stretched with it.
        person = person_mask(still)
        if refilled is not None:
            person = person * (1.0 - refilled)
        neck = NeckLayer.build(still, landmarks, person=person)
        opacity = head_matte(
            landmarks,
            shape,
            person=person,
            worn=worn,
            reach=ring,
            refilled=refilled,
            skin_hued=skin_hued(still, landmarks),
        )
        # A sliver of the person between the layers and the backdrop (a light rim along the jaw) goes with the neck.
        thin = slivers_beside(person, np.maximum(opacity, neck.opacity) > 0.5, landmarks)
        if thin.any():
            neck = replace(neck, opacity=np.maximum(neck.opacity, thin * np.clip(person * 1.5, 0.0, 1.0)))
        # Below the jaw's corners, what the head's soft edge lies on and the neck does not cover is the body (the
        # collar, a shaded side of the neck): the plate keeps it, so the still is what shows there at rest.
        beneath = (person > 0.3) & (above_the_jaw_corners(landmarks, shape) < 0.5) & (neck.opacity < 0.5)
        keep = (neck.keep & (opacity < 0.02)) | (beneath & (opacity < 0.98))
        plate = background_plate(still, np.maximum(opacity, neck.opacity), landmarks, person=person, keep=keep)
        # A layer's soft edge is freed of the backdrop only where the plate behind it is a fill: where the plate
        # (or the neck, under the head) shows the still's own pixels, the still's mixed edge is already right.
        kept = (plate == still).all(axis=-1).astype(np.float32)
        neck = replace(neck, colours=layer_colours(still, neck.opacity, plate, under=kept))
        mesh = MeshWarp.from_points(landmarks[list(regions.WARP_POINTS)], ring, shape[::-1])
        return cls(
            layer_colours(still, opacity, plate, under=np.maximum(neck.opacity, kept)),
            opacity,
            plate,
            mesh,
            landmarks.astype(np.float32),
            MouthInterior(still, landmarks),
            neck,
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
        """One frame: the neck and the head moved to the ``target`` landmarks (478×2) over the plate, the mouth
        filled."""
        motion = self.head_motion(target)
        frame = self.plate.copy()
        self.neck.draw(frame, target, motion)
        anchors = apply_affine(motion, self.mesh.anchors)
        points = self.mesh.target_points(target[list(regions.WARP_POINTS)], anchors)
        draw_layer(frame, self.layer, self.opacity, self.mesh, points)
        return self.mouth(frame, target, driver_frame, driver_landmarks, linear=motion[:, :2])


@dataclass(frozen=True, eq=False)
class NeckLayer:
    """The neck, drawn under the head: stretched between the jaw, which moves with the head, and a row of anchors
    along the clothes' edge, which stays with the body, so the seam between neck and collar stays on the collar
    whatever the head does. Where no neck shows, a band under the chin stands in, pinned a little below it."""

    colours: np.ndarray  # H×W×3 uint8: the still (its edge freed of the backdrop once the plate is known)
    opacity: np.ndarray  # H×W float32 in [0, 1]
    mesh: MeshWarp  # the jaw's landmarks, then the anchors along the collar
    keep: np.ndarray  # H×W bool: what the plate keeps of the still beneath the neck
    skin: np.ndarray  # H×W bool: the neck's skin in the still, empty where none shows
    follow: np.ndarray  # per anchor, in [0, 1]: how much of the head's motion it takes

    @classmethod
    def build(cls, still: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray) -> NeckLayer:
        shape = still.shape[:2]
        skin = neck_mask(still, landmarks, person=person)
        neck = skin | under_the_chin(still, landmarks, person=person)
        opacity = neck_matte(still, neck, landmarks, person=person)
        collar = collar_anchors(neck, landmarks)
        mesh = MeshWarp.from_points(landmarks[list(regions.JAW)], collar, shape[::-1])
        # The plate keeps the still where the pinned neck ends, and, with no neck skin to stretch (a collar or a
        # garment right under the chin), all that lies under the chin: a chin that moves aside uncovers clothes, not
        # backdrop.
        keep = (
            collar_seam(neck, landmarks, person=person)
            if skin.any()
            else below_the_jaw(landmarks, shape, depth=NECK_DEPTH)
        )
        return cls(still, opacity, mesh, keep, skin, anchor_follow(collar, landmarks))

    def draw(self, frame: np.ndarray, target: np.ndarray, motion: np.ndarray | None = None) -> None:
        """Draw the neck into ``frame`` (in place) under a head whose landmarks are at ``target``, moved from the
        portrait's by the similarity ``motion`` (2×3; the anchors on the clothes stay put without it)."""
        anchors = self.mesh.anchors
        if motion is not None:
            anchors = anchors + self.follow[:, None] * (apply_affine(motion, anchors) - anchors)
        draw_layer(
            frame, self.colours, self.opacity, self.mesh, self.mesh.target_points(target[list(regions.JAW)], anchors)
        )


def anchor_follow(anchors: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """How much of the head's motion each collar anchor takes (float32 in [0, 1]): none up to :data:`FOLLOW_FROM`
    of the way from the neck's lowest edge to the jaw's corners, all where the edge has risen to them. Where a
    collar or a suit's ring rises beside the neck to the jaw, the neck between them is a sliver; pinned to the
    clothes, a turned head stretched it into a flap as tall as the jaw's side, its ragged edge drawn out into
    streaks. Moved with the head, it stays a sliver; a collar's lower reaches stay put."""
    corners = float(np.mean([corner[1] for corner in jaw_corners(landmarks)]))
    lowest = float(anchors[:, 1].max())
    if lowest <= corners + 1:
        return np.zeros(len(anchors), np.float32)
    rise = (lowest - anchors[:, 1]) / (lowest - corners)
    return np.clip((rise - FOLLOW_FROM) / (1.0 - FOLLOW_FROM), 0.0, 1.0).astype(np.float32)


def draw_layer(
    frame: np.ndarray, colours: np.ndarray, opacity: np.ndarray, mesh: MeshWarp, points: np.ndarray
) -> None:
    """Draw a layer (``colours`` with ``opacity``) into ``frame`` (in place), warped so ``mesh``'s points land on
    ``points``; only inside the moved mesh, in the box it spans."""
    box = point_box(points, frame.shape)
    if box is None:
        return
    x0, y0, x1, y1 = box
    map_x, map_y, inside = mesh.fast_map(points, box=box, factor=MAP_FACTOR, coverage=True)
    colour = cv2.remap(colours, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    # Past the moved mesh the map is the identity: the layer is not there (a wisp of hair near the ring stayed where
    # it was, and floated beside a head that had moved away from it).
    alpha = cv2.remap(opacity, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * inside
    frame[y0:y1, x0:x1] = cv2.blendLinear(colour, frame[y0:y1, x0:x1], alpha, 1.0 - alpha)


def worn_on_the_head(prepared: PreparedInputs) -> list[np.ndarray]:
    """The hair and hats the edited still wears (float32 masks): the new ones where attributes bring them, the
    portrait's own hair otherwise."""
    worn = [
        a.aligned_mask for a in prepared.attributes if a.kind in HEAD_KINDS and a.weight > 0 and not a.from_portrait
    ]
    hair_replaced = any(a.kind == "hair" and a.weight > 0 and not a.from_portrait for a in prepared.attributes)
    if prepared.own_hair is not None and not hair_replaced:
        worn.append(prepared.own_hair)
    return worn


def refilled_by_the_edit(
    prepared: PreparedInputs, worn: list[np.ndarray], *, cache: FeatureCache | None = None
) -> np.ndarray | None:
    """Where the edit removed the portrait's own hair and filled in backdrop (float32): what the hair removal
    refilled (its hair, reaching past the matte to the strands' ends) outside the skull, that no new hair or hat
    covers; ``None`` when the portrait keeps its hair."""
    replaced = any(a.kind == "hair" and a.weight > 0 and not a.from_portrait for a in prepared.attributes)
    if prepared.own_hair is None or not replaced:
        return None
    removed = prepared.own_hair
    if "hair" in prepared.portrait_masks:  # the edit's own removal: the hair's tips beside the jaw went too
        removed = np.maximum(removed, portrait_hair_removal(prepared, cache=cache).plates.hole.astype(np.float32))
    skull = skull_region(prepared.portrait_landmarks, prepared.own_hair.shape)
    covered = np.maximum.reduce(worn) if worn else np.zeros_like(prepared.own_hair)
    return np.clip(removed * (1.0 - skull) * (1.0 - covered), 0.0, 1.0).astype(np.float32)
