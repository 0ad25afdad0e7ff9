"""Removing the portrait's own hair for the classical engine: the hole it leaves and how that hole is refilled.

The hole is the hair kept to this head, reaching a little past its matte and over the scalp above the face, with
the stray strands, fringe ends and hair tips the matte left out, never into the brows, eyes or an ear that shows.
It is refilled once per portrait (:class:`HairRemoval`) as background around the head and skin on the skull up to
the new hair's top; a new hat without new hair takes only the hair left showing above its brim.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.face import regions
from durian_core.face.fill import FillPlates, fill_plates, skull_region
from durian_core.face.head import head_hair
from durian_core.face.masks import (
    face_oval,
    protected_features,
    skin_likeness,
    skin_region,
)
from durian_core.types import PreparedInputs


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _hair_at_temples(image: np.ndarray, own: np.ndarray, landmarks: np.ndarray, *, likeness: np.ndarray) -> np.ndarray:
    """Hair inside the face outline beside the eyes (bool): the landmarks' oval runs a little wide of a face framed
    by hair, and what hair it takes in would stay as dark strips down the temples. Only pixels near the oval's
    edge, down to the nose's tip, that are hair and unlike the skin (``likeness``: the image's skin likeness)."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    face = face_oval(landmarks, shape) > 0.5
    band = max(1, int(round(0.1 * size)))
    near_edge = face & ~(cv2.erode(face.astype(np.uint8), _disc(band)) > 0)
    rows = np.arange(shape[0])[:, None]
    near_edge &= rows < landmarks[regions.NOSE_TIP, 1]
    hair = near_edge & (own > 0.5) & (likeness < 0.3)
    # With the pixels along it, which mix the hair with the skin.
    return near_edge & (own > 0.1) & (cv2.dilate(hair.astype(np.uint8), _disc(0.02 * size)) > 0)


def _stray_strands(image: np.ndarray, hole: np.ndarray, own: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Thin hairs just outside the removed hair, above the brows (bool): flyaways and curls the matte left out,
    lines a few pixels wide that are lighter than what is around them for light hair, darker for dark hair. Left,
    they float over the filled background as a fringe of the old outline."""
    size = regions.face_size(landmarks)
    band = (cv2.dilate(hole.astype(np.uint8), _disc(0.08 * size)) > 0) & ~hole
    band &= ~(skin_region(landmarks, image.shape[:2]) > 0.5)
    # Above the brows: over the crown flyaways stand out against the background; beside the ears the hair's own
    # edge (a sideburn) would be taken for them.
    band &= np.arange(image.shape[0])[:, None] < landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
    hair = own > 0.5
    if band.sum() < 16 or hair.sum() < 16:
        return np.zeros(hole.shape, bool)
    lightness = _lab(image)[..., 0]
    kernel = _disc(0.015 * size)
    lighter = float(np.median(lightness[hair])) > float(np.median(lightness[band]))
    operation = cv2.MORPH_TOPHAT if lighter else cv2.MORPH_BLACKHAT
    thin = cv2.morphologyEx(lightness, operation, kernel) > 12.0
    strands = cv2.dilate((thin & band).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    # With the specks of background left between them and the hole, which hold the strands' blurred edges.
    joined = cv2.morphologyEx((strands | hole).astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.015 * size)) > 0
    return joined & (band | strands)


def _hair_tips(image: np.ndarray, hole: np.ndarray, landmarks: np.ndarray, *, face: np.ndarray) -> np.ndarray:
    """The thin ends of the removed hair beside the cheeks that its matte stopped short of (bool): pixels within a
    tenth of a face size of the hole, outside the ``face``, between the eyes and the chin, unlike the backdrop around
    them (the median of what lies further out, outside hole and face), and part of nothing thicker than a fourteenth of
    a face size. Left, they stay as skin-coloured hooks beside the jaw. An ear is thicker, and stays; so does a strip
    a fiftieth of a face size wide along the face's outline, which is only approximately the face's edge."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    band = (cv2.dilate(hole.astype(np.uint8), _disc(0.1 * size)) > 0) & ~hole & ~face
    rows = np.arange(shape[0])[:, None]
    band &= (rows > landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean()) & (
        rows < landmarks[regions.CHIN, 1]
    )
    if not band.any():
        return np.zeros(shape, bool)
    lab = _lab(image)
    around = (cv2.dilate(band.astype(np.uint8), _disc(0.08 * size)) > 0) & ~band & ~hole & ~face
    if around.sum() < 16:
        return np.zeros(shape, bool)
    backdrop = np.median(lab[around], axis=0)
    candidates = band & (np.linalg.norm(lab - backdrop, axis=-1) > 12.0)
    thick = cv2.morphologyEx(candidates.astype(np.uint8), cv2.MORPH_OPEN, _disc(0.035 * size)) > 0
    # The face's outline is approximate: a strip of its skin along it stays.
    along_face = cv2.dilate(face.astype(np.uint8), _disc(0.02 * size)) > 0
    return candidates & ~(cv2.dilate(thick.astype(np.uint8), _disc(0.01 * size)) > 0) & ~along_face


def _fringe_ends(
    image: np.ndarray,
    fringe: np.ndarray,
    hole: np.ndarray,
    landmarks: np.ndarray,
    *,
    face: np.ndarray,
    clear: np.ndarray,
) -> np.ndarray:
    """The ends of a fringe below it, in the ``face`` (bool): strands and the shade they cast that the matte left out,
    darker than the forehead's skin, close below the ``fringe`` and ``clear`` of the brows and eyes. Left, they stay
    as a brown line above the brows and brown wedges beside them."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    band = face & clear & (cv2.dilate(fringe.astype(np.uint8), _disc(0.08 * size)) > 0) & ~hole
    lightness = _lab(image)[..., 0]
    upper_face = skin_region(landmarks, shape) & ~hole & ~band
    upper_face &= np.arange(shape[0])[:, None] < landmarks[regions.NOSE_TIP, 1]
    if band.sum() < 16 or upper_face.sum() < 16:
        return np.zeros(shape, bool)
    dark = band & (lightness < np.percentile(lightness[upper_face], 60) - 8.0)
    # With the skin caught between the strands and the fringe.
    joined = cv2.morphologyEx((dark | fringe).astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.02 * size)) > 0
    return joined & band


def _forehead_blend(
    hole: np.ndarray, fringe: np.ndarray, landmarks: np.ndarray, *, face: np.ndarray, clear: np.ndarray
) -> np.ndarray:
    """How much of the fill shows (float32): all of it in the hole, and below a fringe, in the ``face`` above the eyes
    and ``clear`` of the brows, a ramp over a twentieth of a face size, so the refilled forehead runs into the real one
    without a line."""
    reach = max(1.0, 0.05 * regions.face_size(landmarks))
    distance = cv2.distanceTransform((~fringe).astype(np.uint8), cv2.DIST_L2, 5)
    ramp = face & clear
    ramp &= np.arange(hole.shape[0])[:, None] < landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].min()
    weight = np.where(ramp, np.clip(1.0 - distance / reach, 0.0, 1.0), 0.0)
    return np.where(hole, 1.0, weight).astype(np.float32)


def _scalp_above_the_face(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The skull above the brows outside the face (bool): hair or bare scalp, whatever the hair mask made of it. Light
    hair the mask left out there stayed as a band between the new hair and the face; refilled, it cannot."""
    skull = skull_region(landmarks, shape) > 0.5
    face = face_oval(landmarks, shape) > 0.5
    rows = np.arange(shape[0])[:, None]
    return skull & ~face & (rows < landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min())


def _visible_ears(own: np.ndarray, landmarks: np.ndarray, *, likeness: np.ndarray) -> np.ndarray:
    """Ears that show (bool): skin-coloured pixels beside the face, between the brows and the nose's tip (an ear's
    height; below it, what curls in beside the jaw is hair), within a fifth of a face size of it, where the hair mask
    is not sure of hair, thick and joined to the face. No removal takes them: the hole's margin had turned an ear's
    rim into a streak of the fill."""
    shape = own.shape
    size = regions.face_size(landmarks)
    face = face_oval(landmarks, shape) > 0.5
    to_face = cv2.distanceTransform((~face).astype(np.uint8), cv2.DIST_L2, 5)
    rows = np.arange(shape[0])[:, None]
    brows = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].mean()
    beside = ~face & (to_face < 0.2 * size) & (rows > brows) & (rows < landmarks[regions.NOSE_TIP, 1])
    ears = beside & (likeness > 0.5) & (own < 0.5)
    # An ear is thick and joined to the face; the thin ends of hair that curl in beside it are not.
    ears = cv2.morphologyEx(ears.astype(np.uint8), cv2.MORPH_OPEN, _disc(0.035 * size)) > 0
    count, labels = cv2.connectedComponents(ears.astype(np.uint8))
    joined = np.zeros(count, bool)
    joined[np.unique(labels[ears & (to_face < 0.03 * size)])] = True
    joined[0] = False
    return joined[labels]


@dataclass(frozen=True, eq=False)
class HairRemoval:
    """The portrait without its own hair, made once per portrait: the refilled hole for any new hair
    (:meth:`under`), and how much of the fill shows."""

    plates: FillPlates  # the hole refilled as background and as skin
    blend: np.ndarray  # float32 H×W: 1 in the hole, a ramp below a fringe, 0 elsewhere

    @property
    def image(self) -> np.ndarray:
        return self.plates.image

    def under(self, covered: np.ndarray | None) -> np.ndarray:
        """The portrait without its hair, refilled for new hair lying at ``covered``: skin on the skull up to the
        new hair's top, background around it (:meth:`FillPlates.under`). A few milliseconds."""
        box = self.plates.box  # the fill shows nowhere else
        blend = self.blend[box][..., None]
        out = self.plates.under(covered)
        out[box] = np.clip(self.image[box] * (1.0 - blend) + out[box] * blend + 0.5, 0, 255).astype(np.uint8)
        return out


def hair_removal(
    image: np.ndarray, own: np.ndarray, landmarks: np.ndarray, *, others: tuple[np.ndarray, ...] = ()
) -> HairRemoval:
    """Everything removing the portrait's own hair (``own``, its mask) needs that does not depend on the new hair.

    The hole is the hair kept to this head (:func:`durian_core.face.head.head_hair`; ``others`` are the photo's other
    faces), reaching a little past its matte so no ring of its edge is left, and the scalp above the face whatever
    the mask made of it; never into the face (save the hair the landmarks' oval takes in at the temples and the ends
    of a fringe, below which the fill fades into the real forehead), the brows and eyes, or an ear that shows.
    """
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    likeness = skin_likeness(image, landmarks)
    own = head_hair(image, own, landmarks, others=others)
    hole = cv2.dilate((own > 0.1).astype(np.uint8), _disc(0.025 * size)) > 0
    hole |= _scalp_above_the_face(landmarks, shape)
    hole &= skin_region(landmarks, shape, forehead=False) < 0.5
    hole |= _hair_at_temples(image, own, landmarks, likeness=likeness)
    hole |= _stray_strands(image, hole, own, landmarks)
    hole &= ~protected_features(landmarks, shape)
    # The removed hair that lay over the face (a fringe, hair over the temples; a bald scalp's faint matte is not
    # hair here), with the ends the matte left out.
    face = face_oval(landmarks, shape) > 0.5
    clear = ~protected_features(landmarks, shape, margin=0.01)
    fringe = hole & face & (own > 0.5)
    fringe |= _fringe_ends(image, fringe, hole, landmarks, face=face, clear=clear)
    hole |= fringe
    hole |= _hair_tips(image, hole, landmarks, face=face)
    hole &= ~_visible_ears(own, landmarks, likeness=likeness)
    for other in others:
        hole &= face_oval(other, shape) < 0.5
    blend = _forehead_blend(hole, fringe, landmarks, face=face, clear=clear)
    plates = fill_plates(image, blend > 0, landmarks, likeness=likeness)
    return HairRemoval(plates, blend)


def remove_hair(
    image: np.ndarray,
    own: np.ndarray,
    covered: np.ndarray,
    landmarks: np.ndarray,
    *,
    others: tuple[np.ndarray, ...] = (),
) -> np.ndarray:
    """The portrait without its own hair (:func:`hair_removal`), refilled under new hair lying at ``covered``:
    background around the head, skin on the skull up to the new hair's top. Under the new hair too, since its soft
    edge and parted strands show what lies beneath."""
    return hair_removal(image, own, landmarks, others=others).under(covered)


def portrait_hair_removal(prepared: PreparedInputs, *, cache: FeatureCache | None = None) -> HairRemoval:
    """:func:`hair_removal` of the prepared portrait, through ``cache`` when given: it depends on the portrait alone,
    so moving or blending the new hair reuses it."""
    own = prepared.portrait_masks["hair"]

    def compute() -> HairRemoval:
        return hair_removal(prepared.portrait, own, prepared.portrait_landmarks, others=prepared.other_faces)

    if cache is None:
        return compute()
    # The portrait's key stands for the portrait and the masks made from it.
    portrait = prepared.portrait_key or (prepared.portrait, own)
    key = content_key(portrait, prepared.portrait_landmarks, *prepared.other_faces)
    return cache.get_or_compute("removal", key, compute)


def brim_line(hat: np.ndarray) -> np.ndarray | None:
    """Per column, the row of a ``hat``'s lower edge (float64, W); beside the hat, a line falling from its lower edge
    at that side as steeply as it goes out (hair pressed under a hat hugs the head, it does not stand out level with
    the brim). None without a hat."""
    solid = hat > 0.5
    if not solid.any():
        return None
    height, width = hat.shape
    columns = np.arange(width, dtype=np.float64)
    lowest = np.where(solid.any(axis=0), height - 1 - np.argmax(solid[::-1], axis=0), -1).astype(np.float64)
    worn = np.nonzero(lowest >= 0)[0]
    brim = np.interp(columns, worn, lowest[worn])
    return brim + np.maximum(np.maximum(worn[0] - columns, columns - worn[-1]), 0.0)


def hair_above_brim(own: np.ndarray, hat: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The portrait's hair (``own``) that a new ``hat`` leaves showing above or beside it: what lies above the
    :func:`brim_line`, fading out over a fiftieth of a face size below it (the hair hanging from under the hat
    stays)."""
    brim = brim_line(hat)
    if brim is None:
        return np.zeros_like(own)
    fade = max(1.0, 0.02 * regions.face_size(landmarks))
    rows = np.arange(own.shape[0], dtype=np.float64)[:, None]
    return (own * np.clip((brim[None, :] - rows) / fade + 0.5, 0.0, 1.0)).astype(np.float32)


def remove_hair_above_brim(
    image: np.ndarray,
    own: np.ndarray,
    hat: np.ndarray,
    landmarks: np.ndarray,
    *,
    others: tuple[np.ndarray, ...] = (),
) -> np.ndarray:
    """The portrait without the hair a new ``hat`` leaves showing above or beside it (:func:`hair_above_brim`),
    removed and filled as :func:`remove_hair` does (``others``: the photo's other faces); below the brim the
    portrait stays as it was (the ends of hair that the removal takes with it would leave holes in the hair that
    still hangs there)."""
    removed = remove_hair(image, hair_above_brim(own, hat, landmarks), hat, landmarks, others=others)
    brim = brim_line(hat)
    if brim is None:
        return removed
    size = regions.face_size(landmarks)
    rows = np.arange(image.shape[0], dtype=np.float64)[:, None]
    kept = np.clip((rows - brim[None, :]) / max(1.0, 0.02 * size), 0.0, 1.0)[..., None]
    return np.clip(removed * (1.0 - kept) + image * kept + 0.5, 0, 255).astype(np.uint8)
