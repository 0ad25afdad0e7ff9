"""A frame wearing prepared attributes: the editor's layers, made once against a reference image of a person and
carried onto any other frame of that person by its landmarks (a video portrait's frames, the mirror's camera).

Hair, hats and glasses are rigid: they follow the head's similarity from the reference onto the frame, measured
over the skull's landmarks, which expressions do not move. Makeup and beards lie on the skin: they follow the
face's mesh, so lipstick stays on lips that smile and a beard on a jaw that opens, and neither covers the inside of
the mouth. Makeup goes on as a change of colour added to the frame's own pixels, so the frame's shading and texture
stay its own. New hair needs the old hair gone (:class:`~durian_core.old_hair.OldHair`): its removal mask comes
from the nearest key frames, carried by the head's motion, and what it uncovers is the background plate (fixed in
the frame) and the reference's refilled scalp (moving with the head). Only the pixels the layers cover change: the
rest of every frame is the frame's own, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.carry import Box, box_slices, carried_box, head_motion, support_box, union_box, warp_into
from durian_core.engines.animator import point_box
from durian_core.engines.editor import edit_terms, glasses_overlays, hat_hair_layer, worn_layers
from durian_core.engines.glasses_overlay import GlassesOverlay
from durian_core.engines.hair_removal import remove_hair
from durian_core.face import regions
from durian_core.face.align import MeshWarp, apply_affine, head_ring
from durian_core.face.fill import skull_region
from durian_core.face.masks import feather, fill_polygons
from durian_core.old_hair import OldHair, heal, reference_old_hair
from durian_core.types import PreparedInputs

MESH_KINDS = ("makeup", "beard")
"""Attributes that lie on the skin and follow the face's mesh; the others move rigidly with the head."""
MESH_RING = 1.6
"""Scale of the anchor ring around the face (:func:`~durian_core.face.align.head_ring`) that closes the mesh: it
encloses a beard down the neck."""
MESH_MARGIN = 0.15
"""Face sizes around the mesh layers' rigidly carried box that a frame's expression may move them into (a jaw
dropping takes the beard down)."""


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


# ------------------------------------------------------------------------------------------------------- layers


@dataclass(frozen=True, eq=False)
class Layer:
    """One attribute at the reference's geometry: its colour and opacity.

    A frame takes it as ``frame·(1 − alpha) + colour·alpha`` (OpenCV's ``blendLinear``, on 8-bit pixels); an
    ``additive`` layer (makeup) is a change of colour already multiplied by its opacity (float32), and a frame takes
    it as ``frame + colour``.
    """

    kind: str
    colour: np.ndarray  # h×w×3: RGB uint8, or float32 for an additive layer
    alpha: np.ndarray  # h×w float32
    box: Box  # where the opacity is above zero, reference pixels
    additive: bool = False

    @property
    def on_mesh(self) -> bool:
        return self.kind in MESH_KINDS

    @classmethod
    def make(cls, kind: str, colour: np.ndarray, alpha: np.ndarray, *, base: np.ndarray | None = None) -> Layer | None:
        """A layer from RGB ``colour`` and its ``alpha``; with ``base`` (the reference's own pixels) the layer is
        the change from ``base`` to ``colour``. None when the opacity is zero everywhere."""
        box = support_box(alpha)
        if box is None:
            return None
        alpha = np.ascontiguousarray(alpha, np.float32)
        if base is None:
            return cls(kind, np.ascontiguousarray(colour, np.uint8), alpha, box)
        change = (colour.astype(np.float32) - base.astype(np.float32)) * alpha[..., None]
        return cls(kind, change, alpha, box, additive=True)

    def carried(self, matrix: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Colour and opacity moved by the affine ``matrix`` (reference pixels → frame pixels), over ``box``."""
        return warp_into(self.colour, matrix, box), warp_into(self.alpha, matrix, box)


def blend(colour: np.ndarray, alpha: np.ndarray, under: np.ndarray) -> np.ndarray:
    """``colour`` over ``under`` (same type) with opacity ``alpha`` (float32)."""
    return cv2.blendLinear(np.ascontiguousarray(colour), np.ascontiguousarray(under), alpha, 1.0 - alpha)


@dataclass(frozen=True, eq=False)
class Look:
    """One term of a blend (:func:`~durian_core.engines.editor.edit_terms`) as layers, in the order the editor pastes
    them."""

    coefficient: float
    layers: tuple[Layer, ...]
    glasses: tuple[tuple[GlassesOverlay, float, Box], ...]  # each with its weight and box (reference pixels)
    scalp: Layer | None  # with new hair: the reference's scalp with the old hair removed, over the skull


def _scalp(prepared: PreparedInputs, covers: list[np.ndarray]) -> Layer | None:
    """The reference's skull with its hair removed under the new hair of a look, which ``covers`` (None without new
    hair)."""
    if not covers or prepared.own_hair is None:
        return None
    landmarks = prepared.portrait_landmarks
    own = prepared.portrait_masks.get("hair", prepared.own_hair)
    removed = remove_hair(prepared.portrait, own, np.maximum.reduce(covers), landmarks)
    skull = feather(skull_region(landmarks, removed.shape[:2]), 0.012 * regions.face_size(landmarks))
    return Layer.make("scalp", removed, skull)


def _look(prepared: PreparedInputs, coefficient: float, weights: list[float]) -> Look:
    layers, covers = [], []
    # The portrait's hair a new hat leaves showing goes first, and moves with the head as the hat does.
    worn = worn_layers(prepared, weights)
    under_hat = hat_hair_layer(prepared, worn)
    if under_hat is not None and (layer := Layer.make("hat", *under_hat)) is not None:
        layers.append(layer)
    for kind, colour, alpha, cover in worn:
        base = prepared.portrait if kind == "makeup" else None
        layer = Layer.make(kind, colour, alpha, base=base)
        if layer is not None:
            layers.append(layer)
        if kind == "hair":
            covers.append(cover)
    glasses = []
    for overlay, weight in glasses_overlays(prepared, weights):
        box = support_box(np.maximum(overlay.frame_alpha, overlay.lens_alpha))
        if box is not None:
            glasses.append((overlay, weight, box))
    return Look(coefficient, tuple(layers), tuple(glasses), _scalp(prepared, covers))


# ------------------------------------------------------------------------------------------------------ wearing


class Wearer:
    """Frames of one person wearing an edit's attributes, each placed by the frame's own landmarks.

    Built once from the prepared inputs of a reference image of the person (:meth:`build`); a call then costs the
    layers' warps and blends, inside the head's box only. Stateless between calls, so frames may come in any order.
    """

    def __init__(self, prepared: PreparedInputs, looks: tuple[Look, ...], *, old_hair: OldHair | None) -> None:
        self.reference = prepared.portrait_landmarks.astype(np.float32)
        self.looks = looks
        self.old_hair = old_hair
        self._warp_points = list(regions.WARP_POINTS)
        self._mesh = None
        if any(layer.on_mesh for look in looks for layer in look.layers):
            anchors = head_ring(self.reference, scale=MESH_RING, count=20)
            self._mesh = MeshWarp.from_points(
                self.reference[self._warp_points], anchors, prepared.portrait.shape[1::-1]
            )
        self._face_size = regions.face_size(self.reference)

    @classmethod
    def build(cls, prepared: PreparedInputs, *, old_hair: OldHair | None = None) -> Wearer:
        """The layers of every term of the edit's blend, made once. ``old_hair`` says where a frame's own hair is
        and what lies behind it; without it, new hair takes the reference's (:func:`reference_old_hair`)."""
        # A hair or hat blend is one look holding the shape in between, as in the still (no ghost of either cut).
        looks = tuple(_look(prepared, term.coefficient, list(term.weights)) for term in edit_terms(prepared))
        if any(look.scalp is not None for look in looks) and old_hair is None:
            old_hair = reference_old_hair(prepared)
        return cls(prepared, looks, old_hair=old_hair)

    @property
    def wears_anything(self) -> bool:
        """Whether any look puts anything on a frame (all weights zero, or only the portrait's own hair: nothing)."""
        return any(look.layers or look.glasses or look.scalp is not None for look in self.looks)

    def __call__(
        self,
        frame: np.ndarray,
        landmarks: np.ndarray,
        *,
        head: np.ndarray | None = None,
        index: int = 0,
        visibility: float = 1.0,
    ) -> np.ndarray:
        """``frame`` (RGB uint8) wearing the attributes, placed by its face's ``landmarks`` (478×2, its pixels).

        ``head`` (landmarks smoothed further, by default ``landmarks``) places the rigid layers; ``index`` is the
        frame's place in its clip (which key frames of the old hair it lies between); ``visibility`` fades the
        attributes (0 gives the frame untouched).
        """
        if visibility <= 0 or not self.wears_anything:
            return frame
        head = landmarks if head is None else head
        motion = head_motion(self.reference, head)
        shape = frame.shape
        boxes = self._boxes(motion, head, shape)
        region = union_box(list(boxes.values()))
        if region is None:
            return frame
        x0, y0, x1, y1 = region
        original = np.ascontiguousarray(frame[y0:y1, x0:x1])
        removal = None
        if "removal" in boxes:
            removal = self.old_hair.removal(index, head, region)
        mesh = self._mesh_maps(landmarks, motion, boxes.get("mesh"))
        worn = None
        for look in self.looks:
            pixels = original.copy()
            if look.scalp is not None and removal is not None:
                scalp, skull = look.scalp.carried(motion, region)
                uncovered = blend(scalp, skull, self.old_hair.plate_at(shape, region))
                uncovered = heal(original, uncovered, removal, size=regions.face_size(landmarks))
                pixels = blend(uncovered, removal, pixels)
            for layer in look.layers:
                self._put(pixels, layer, motion, region, mesh=mesh, shape=shape)
            for overlay, weight, box in look.glasses:
                target = carried_box(box, motion, shape)
                if target is not None:
                    rows, columns = box_slices(target, region)
                    pixels[rows, columns] = overlay.apply(
                        pixels[rows, columns], weight=weight, matrix=_shifted(motion, target)
                    )
            if len(self.looks) == 1:
                worn = pixels
            else:
                share = pixels.astype(np.float32) * look.coefficient
                worn = share if worn is None else worn + share
        if worn.dtype != np.uint8:
            worn = np.clip(worn + 0.5, 0, 255).astype(np.uint8)
        if visibility < 1.0:
            worn = cv2.addWeighted(worn, visibility, original, 1.0 - visibility, 0.0)
        out = frame.copy()
        out[y0:y1, x0:x1] = worn
        return out

    def _boxes(self, motion: np.ndarray, landmarks: np.ndarray, shape: tuple[int, ...]) -> dict[str, Box]:
        """The frame's boxes the layers reach: ``rigid`` ones, the ``mesh`` ones (with room for the expression)
        and the old hair's ``removal``."""
        rigid, mesh = [], []
        for look in self.looks:
            for layer in look.layers:
                (mesh if layer.on_mesh else rigid).append(carried_box(layer.box, motion, shape))
            rigid += [carried_box(box, motion, shape) for _, _, box in look.glasses]
            if look.scalp is not None:
                rigid.append(carried_box(look.scalp.box, motion, shape))
        boxes = {"rigid": union_box(rigid), "mesh": None, "removal": None}
        if mesh:
            margin = MESH_MARGIN * regions.face_size(landmarks)
            grown = union_box(mesh)
            if grown is not None:
                boxes["mesh"] = point_box(np.array([grown[:2], grown[2:]], np.float32), shape, margin=margin)
        if self.old_hair is not None and any(look.scalp is not None for look in self.looks):
            boxes["removal"] = union_box(
                [
                    carried_box(key.box, head_motion(key.landmarks, landmarks), shape)
                    for key in self.old_hair.keys
                    if key.box is not None
                ]
            )
        return {name: box for name, box in boxes.items() if box is not None}

    def _mesh_maps(
        self, landmarks: np.ndarray, motion: np.ndarray, box: Box | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Box] | None:
        """The mesh's backward maps over ``box`` (frame pixels → reference pixels), how far each pixel lies inside
        the mesh less the inside of the mouth (which no skin layer covers), and the box."""
        if self._mesh is None or box is None:
            return None
        target = self._mesh.target_points(landmarks[self._warp_points], apply_affine(motion, self._mesh.anchors))
        map_x, map_y, inside = self._mesh.fast_map(target, box=box, factor=4, coverage=True)
        x0, y0, x1, y1 = box
        mouth = fill_polygons(
            (y1 - y0, x1 - x0), [landmarks[list(regions.LIPS_INNER)] - np.array([x0, y0], np.float32)]
        )
        inside = inside * (1.0 - cv2.GaussianBlur(mouth, (3, 3), 0.8))
        return map_x, map_y, inside, box

    @staticmethod
    def _put(
        pixels: np.ndarray, layer: Layer, motion: np.ndarray, region: Box, *, mesh, shape: tuple[int, ...]
    ) -> None:
        """Put ``layer`` on ``pixels`` (the ``region`` of a frame of ``shape``, uint8), in place."""
        if layer.on_mesh:
            if mesh is None:
                return
            map_x, map_y, inside, box = mesh
            colour = cv2.remap(layer.colour, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            alpha = cv2.remap(layer.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) * inside
            if layer.additive:
                colour *= inside[..., None]
        else:
            box = carried_box(layer.box, motion, shape)
            if box is None:
                return
            colour, alpha = layer.carried(motion, box)
        rows, columns = box_slices(box, region)
        under = pixels[rows, columns]
        if layer.additive:
            pixels[rows, columns] = cv2.add(under, colour, dtype=cv2.CV_8U)
        else:
            pixels[rows, columns] = blend(colour, alpha, under)


def _shifted(matrix: np.ndarray, box: Box) -> np.ndarray:
    """``matrix`` (its pixels → frame pixels) as a map into ``box``'s own pixels."""
    shifted = matrix.astype(np.float32).copy()
    shifted[:, 2] -= (box[0], box[1])
    return shifted


# ------------------------------------------------------------------------------------------------------ presence


class Presence:
    """How fully a frame wears the attributes while its face comes and goes.

    Fully while the face is seen; when it is lost the last placement holds for ``hold`` seconds, then the attributes
    fade out over ``fade`` seconds, so nothing stays stuck where the face was; when the face returns they fade back
    in over ``fade`` (at once the first time a face is seen).
    """

    def __init__(self, *, hold: float = 0.25, fade: float = 0.25) -> None:
        self.hold = hold
        self.fade = fade
        self.value = 0.0
        self._seen_at: float | None = None
        self._time: float | None = None

    def __call__(self, seen: bool, time: float) -> float:
        """The visibility, 0 to 1, of a frame at ``time`` seconds whose face was ``seen`` or not."""
        elapsed = 0.0 if self._time is None else max(0.0, time - self._time)
        self._time = time
        step = elapsed / self.fade if self.fade > 0 else 1.0
        if seen:
            self.value = 1.0 if self._seen_at is None else min(1.0, self.value + step)
            self._seen_at = time
        elif self._seen_at is not None and time - self._seen_at > self.hold:
            self.value = max(0.0, self.value - step)
        return self.value
