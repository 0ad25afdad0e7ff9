"""The classical engine's editor: the portrait wearing the attributes, as one still image.

The portrait's own hair is removed (what lay under it is filled in: background, skin on the skull up to the new
hair's top), and each aligned attribute is pasted with its lighting matched to the portrait's skin. Two attributes
of one kind blend as ``(1 − α)·edit₁ + α·edit₂``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.face import regions
from durian_core.face.align import fit_matrix, mesh_align
from durian_core.face.fill import FillPlates, fill_plates, skull_region
from durian_core.face.glasses import FoundGlasses, find_glasses
from durian_core.face.head import head_hair, interpolate_shapes
from durian_core.face.masks import face_oval, feather, fill_polygons, makeup_region, skin_likeness
from durian_core.face.matting import foreground_colours
from durian_core.types import BlendTerm, Interpolation, PreparedAttribute, PreparedInputs

# Re-lighting a layer to the portrait: how much of the skin's lightness ratio and white-balance shift the layer
# takes on. The attribute's own colour is what the user asked for, so the light follows only part of the way (a
# white-haired man in a dim photo stays white-haired in a bright one, only a little brighter).
RELIGHT_STRENGTH = 0.2  # exponent on the lightness ratio of the two skins
RELIGHT_MAX_GAIN = 1.3  # the ratio applied is kept within [1/1.3, 1.3]
RELIGHT_WHITE_BALANCE = 0.2  # share of the skins' a*b* difference moved onto the layer


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def skin_region(landmarks: np.ndarray, shape: tuple[int, int], *, forehead: bool = True) -> np.ndarray:
    """Cheeks and forehead: the face oval without eyes, brows and mouth (for lighting statistics); without the
    forehead above the brows when ``forehead`` is false (where a fringe may lie)."""
    face = face_oval(landmarks, shape)
    if not forehead:
        brow_line = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
        face[: max(0, int(brow_line))] = 0
    features = fill_polygons(
        shape,
        [landmarks[list(loop)] for loop in (regions.RIGHT_EYE, regions.LEFT_EYE, regions.LIPS_OUTER)]
        + [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    return (face > 0.5) & (features < 0.5)


def _mean_lab(lab: np.ndarray, region: np.ndarray) -> np.ndarray:
    if region.sum() < 16:
        return lab.reshape(-1, 3).mean(axis=0)
    return lab[region].mean(axis=0)


def protected_features(landmarks: np.ndarray, shape: tuple[int, int], *, margin: float = 0.03) -> np.ndarray:
    """Brows and eyes with a margin of ``margin`` face sizes (bool): what no removal may touch and no new hair may
    cover, since they carry the identity."""
    size = regions.face_size(landmarks)
    features = fill_polygons(
        shape,
        [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    radius = max(1, int(round(margin * size)))
    return cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)) > 0.5


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


def _attribute_layer(
    attribute: PreparedAttribute, portrait_lab: np.ndarray, skin: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | GlassesOverlay:
    """The attribute's pixels re-lit for the portrait, and their opacity (before the reference weight); for
    glasses, a :class:`GlassesOverlay`."""
    layer_lab = _lab(attribute.aligned_image)
    if attribute.aligned_foreground is not None:
        layer_lab = _lab(attribute.aligned_foreground)
    elif attribute.kind in ("hair", "hat", "beard"):
        # The soft edge of a cut-out mixes the attribute with what was behind it; pasting that mix brings the old
        # background along as a halo. The matte's own foreground colours carry the attribute alone.
        layer_lab = _lab(foreground_colours(attribute.aligned_image, attribute.aligned_mask))
    # The aligned attribute image's own face sits on the portrait's face region, so the same skin region gives the
    # attribute person's skin colour. Both are measured on the same pixels: skin the attribute does not cover
    # (makeup on the cheeks, a fringe on the forehead) and that the attribute image shows at all (one given already
    # cut out, I_attr ⊙ M_attr as the evaluation protocol gives it, shows none: then the lighting is left alone).
    common = skin & (attribute.aligned_mask < 0.1) & (attribute.aligned_image.max(axis=-1) > 16)
    visible = common.sum() >= max(16, 0.25 * skin.sum())
    skin_portrait = _mean_lab(portrait_lab, common if visible else skin)
    skin_attribute = _mean_lab(layer_lab, common) if visible else skin_portrait
    alpha = attribute.aligned_mask
    if attribute.kind == "makeup":
        # On the portrait's own skin and lips only: its teeth, eyes and brows stay as they are.
        alpha = alpha * makeup_region(_rgb(portrait_lab), landmarks)
        # Makeup is colour relative to skin: carry the attribute's offset from its skin onto the portrait's skin,
        # keep half of the portrait's own shading so its lips and lids keep their shape.
        offset = layer_lab - skin_attribute
        relit = portrait_lab.copy()
        relit[..., 0] = 0.5 * portrait_lab[..., 0] + 0.5 * (skin_portrait[0] + offset[..., 0])
        relit[..., 1:] = portrait_lab[..., 1:] + offset[..., 1:] - (portrait_lab[..., 1:] - skin_portrait[1:]) * 0.5
        return _rgb(relit), alpha
    # Lighting: scale lightness towards the portrait's skin level, and move the white balance halfway.
    gain = (skin_portrait[0] + 1.0) / (skin_attribute[0] + 1.0)
    lightness_gain = float(np.clip(gain**RELIGHT_STRENGTH, 1 / RELIGHT_MAX_GAIN, RELIGHT_MAX_GAIN))
    colour_shift = RELIGHT_WHITE_BALANCE * (skin_portrait[1:] - skin_attribute[1:])
    if attribute.kind == "glasses":
        return glasses_layer(attribute, landmarks, lightness_gain=lightness_gain, colour_shift=colour_shift)
    relit = layer_lab.copy()
    relit[..., 0] *= lightness_gain
    relit[..., 1:] += colour_shift
    if attribute.kind == "beard":
        return beard_layer(relit, alpha, portrait_lab, landmarks)
    return _rgb(relit), alpha


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def glasses_layer(
    attribute: PreparedAttribute, landmarks: np.ndarray, *, lightness_gain: float, colour_shift: np.ndarray
) -> GlassesOverlay:
    """Glasses as glasses are: the frames opaque, the lenses a colour filter over the portrait's own eyes.

    Frames and lenses are found in the attribute's own image (:func:`glasses_parts`), where the rims are drawn at
    their own resolution, and carried onto the portrait (``landmarks``) by the attribute's warp, blurred first by as
    much as the face shrinks: found on the already shrunk image, a rim a few pixels wide came out as stairs and
    broken dots. The frames' own colour is re-lit as the other attributes are (lightness times ``lightness_gain``,
    a*b* moved by ``colour_shift``), and no frame covers the portrait's eyes.
    """
    frames, colour, lenses, tint = glasses_parts(attribute.image, attribute.mask, attribute.landmarks)
    parts = np.dstack([frames, lenses, colour.astype(np.float32)])
    scale = regions.face_size(landmarks) / max(regions.face_size(attribute.landmarks), 1e-6)
    if scale < 1.0:
        parts = cv2.GaussianBlur(parts, (0, 0), 0.5 * np.sqrt(1.0 / scale**2 - 1.0))
    size = attribute.aligned_image.shape[1::-1]
    carried = mesh_align(parts, attribute.landmarks, landmarks, size)
    if not attribute.fit.is_identity:
        # The user's nudge, as the aligned image took it.
        fit = attribute.fit
        nudge = fit_matrix(landmarks, dx=fit.dx, dy=fit.dy, scale=fit.scale, degrees=fit.degrees)
        carried = cv2.warpAffine(carried, nudge, size, flags=cv2.INTER_LINEAR, borderValue=0)
    frame_colour = _lab(np.clip(carried[..., 2:] + 0.5, 0, 255).astype(np.uint8))
    frame_colour[..., 0] *= lightness_gain
    frame_colour[..., 1:] += colour_shift
    eyes = fill_polygons(carried.shape[:2], [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]])
    eyes = feather(cv2.dilate(eyes, _disc(0.008 * regions.face_size(landmarks))), 0.006 * regions.face_size(landmarks))
    frame_alpha = np.clip(carried[..., 0], 0.0, 1.0) * (1.0 - eyes)
    return GlassesOverlay(_rgb(frame_colour), frame_alpha.astype(np.float32), np.clip(carried[..., 1], 0.0, 1.0), tint)


def glasses_parts(
    image: np.ndarray, mask: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The frames' opacity and colour, the lenses' opacity and the lenses' tint of glasses worn in an RGB ``image``
    (the glasses' ``mask``, the wearer's ``landmarks``).

    Frames are found by their shape (:func:`durian_core.face.glasses.find_glasses`), so thin, light and dark frames
    all come; the mask keeps them to the glasses' region (a user's eraser takes a part out). A lens's tint is, per
    channel, the lens's colour over the cheek just below it (the same skin seen with and without the lens); it is
    None (clear lenses) when no lens or cheek can be measured.
    """
    shape = mask.shape
    size = regions.face_size(landmarks)
    found = _found_glasses(image.tobytes(), image.shape, np.asarray(landmarks, np.float32).tobytes())
    region = feather((cv2.dilate((mask > 0.3).astype(np.uint8), _disc(0.01 * size)) > 0).astype(np.float32), 2.0)
    frame_alpha = found.frames * region
    lenses = found.lenses > 0.5
    lens_alpha = np.zeros(shape, np.float32)
    tint = None
    if lenses.sum() > 0.002 * lenses.size:
        eyes = fill_polygons(shape, [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]])
        rgb = image.astype(np.float32)
        lens_rows = np.nonzero(lenses.any(axis=1))[0]
        bottom = lens_rows.max()
        lower_lens = lenses & (np.arange(shape[0])[:, None] > bottom - 0.35 * (bottom - lens_rows.min()))
        lower_lens &= (cv2.dilate(eyes, _disc(0.03 * size)) < 0.5) & (found.frames < 0.05)
        below = np.zeros(shape, bool)
        below[bottom + int(0.03 * size) : bottom + int(0.08 * size)] = True
        cheek = below & lenses.any(axis=0)[None, :] & (skin_region(landmarks, shape) > 0) & (found.frames < 0.05)
        if lower_lens.sum() >= 16 and cheek.sum() >= 16:
            tint = np.median(rgb[lower_lens], axis=0) / np.maximum(np.median(rgb[cheek], axis=0), 1)
            tint = np.clip(tint, 0.15, 1.0).astype(np.float32)
            lens_alpha = feather(found.lenses * region, 0.004 * size)
    return frame_alpha.astype(np.float32), found.colour, lens_alpha, tint


BEARD_SHADING = 0.8  # exponent on the portrait's shading across the jaw as it is laid on the beard
BEARD_EDGE = 0.08  # width of the beard's edge, where it thins out strand by strand, in face sizes


def beard_layer(
    layer_lab: np.ndarray, alpha: np.ndarray, portrait_lab: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A beard that belongs to the face it is put on (its re-lit Lab ``layer_lab`` and opacity ``alpha`` carried
    onto the portrait): the portrait's own shading across the jaw laid on it (:func:`_beard_shading`), an edge that
    thins out strand by strand on the cheeks and down the neck (:func:`_beard_edge`), no skin left between it and
    the lower lip (:func:`_under_the_lip`), and the lips and the mouth's opening clear of it."""
    shape = alpha.shape
    size = regions.face_size(landmarks)
    core = alpha > 0.8
    if core.sum() < 16:
        return _rgb(layer_lab), alpha
    layer_lab = layer_lab.copy()
    layer_lab[..., 0] *= _beard_shading(layer_lab[..., 0], core, portrait_lab[..., 0], landmarks)
    # The beard's own colour, spread out from its body: what its thinning edge and the filled gaps are made of.
    sigma = max(1.0, 0.03 * size)
    weight = cv2.GaussianBlur(core.astype(np.float32), (0, 0), sigma)
    spread = cv2.GaussianBlur(layer_lab * core[..., None], (0, 0), sigma) / np.maximum(weight, 1e-3)[..., None]
    colour = np.where(core[..., None], layer_lab, spread)
    fill, source = _under_the_lip(alpha, landmarks)
    gap = fill > alpha
    colour[gap] = colour[source[gap], np.nonzero(gap)[1]]
    alpha = _beard_edge(np.maximum(alpha, fill), layer_lab[..., 0], landmarks)
    lips = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    alpha = alpha * (1.0 - feather(cv2.dilate(lips, _disc(0.005 * size)), 0.004 * size))
    return _rgb(colour), alpha.astype(np.float32)


def _beard_shading(
    beard_lightness: np.ndarray, core: np.ndarray, portrait_lightness: np.ndarray, landmarks: np.ndarray
) -> np.ndarray:
    """A factor per pixel on the beard's lightness: the portrait's shading across the lower face (its skin's
    lightness, smoothed, over its mean there) over the beard's own (the same of the beard), so the side of the jaw
    in shadow darkens the beard there and the lit side lifts it, whatever light the beard was photographed in."""
    shape = core.shape
    size = regions.face_size(landmarks)
    sigma = max(2.0, 0.1 * size)
    face = face_oval(landmarks, shape) > 0.5
    lower = face & (np.arange(shape[0])[:, None] > landmarks[regions.NOSE_TIP, 1])
    lower &= fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]]) < 0.5

    def smooth(values: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, float]:
        weight = cv2.GaussianBlur(where.astype(np.float32), (0, 0), sigma)
        field = cv2.GaussianBlur(values * where, (0, 0), sigma) / np.maximum(weight, 1e-3)
        return field, float(values[where].mean()) if where.any() else 1.0

    if lower.sum() < 16:
        return np.ones(shape, np.float32)
    portrait, portrait_mean = smooth(portrait_lightness, lower)
    beard, beard_mean = smooth(beard_lightness, core)
    ratio = (portrait / max(portrait_mean, 1.0)) / np.maximum(beard / max(beard_mean, 1.0), 0.2)
    return np.clip(ratio, 0.5, 1.6) ** BEARD_SHADING


def _under_the_lip(alpha: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The beard carried up to the portrait's lower lip: a mouth wider or more open than the beard's own left wedges
    of skin between them. Each column under the lip, between the mouth's corners and within a tenth of a face size
    of the lip, takes the beard's opacity from below; and for each of those pixels, the row whose beard it shows
    (the beard below mirrored up into the gap, so the gap is filled with the beard's own strands)."""
    shape = alpha.shape
    size = regions.face_size(landmarks)
    reach = max(2, int(round(0.1 * size)))
    lips = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    under = cv2.dilate(lips, np.ones((reach, 1), np.uint8), anchor=(0, reach - 1)) * (1.0 - lips)
    corners = landmarks[[regions.LIPS_OUTER[0], regions.LIPS_OUTER[10]], 0]
    columns = np.arange(shape[1])[None, :]
    under = under * ((columns > corners.min()) & (columns < corners.max()))
    # Up from below: each pixel takes the most opaque beard within ``reach`` under it.
    fill = cv2.dilate(alpha, np.ones((reach, 1), np.uint8), anchor=(0, 0)) * under
    rows = np.arange(shape[0])[:, None]
    # The first row of solid beard below each gap pixel, found as the nearest solid row at or below it.
    solid_rows = np.where(alpha > 0.5, rows, shape[0])
    first_below = np.minimum.accumulate(solid_rows[::-1], axis=0)[::-1]
    source = np.clip(2 * first_below - rows, 0, shape[0] - 1)
    return fill.astype(np.float32), np.where(first_below < shape[0], source, rows)


def _beard_edge(alpha: np.ndarray, lightness: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The beard's opacity with an edge that thins out strand by strand over :data:`BEARD_EDGE` face sizes on the
    face (less beyond it): a ramp across its outline, along which the beard's own strands (darker than the beard
    around them, in its ``lightness``) stay more opaque and the gaps between them let the skin through."""
    size = regions.face_size(landmarks)
    solid = (alpha > 0.5).astype(np.uint8)
    inside = cv2.distanceTransform(solid, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - solid, cv2.DIST_L2, 5)
    # On the face the beard thins into the skin; beyond the jaw its outline against what lies behind stays closer.
    on_face = feather(face_oval(landmarks, alpha.shape), 0.03 * size)
    width = np.maximum(2.0, BEARD_EDGE * size * (0.4 + 0.6 * on_face))
    ramp = np.clip(0.5 + (inside - outside) / width, 0.0, 1.0)
    sigma = max(1.0, 0.015 * size)
    weight = cv2.GaussianBlur(solid.astype(np.float32), (0, 0), sigma)
    mean = cv2.GaussianBlur(lightness * solid, (0, 0), sigma) / np.maximum(weight, 1e-3)
    spread = np.sqrt(
        np.maximum(cv2.GaussianBlur(lightness**2 * solid, (0, 0), sigma) / np.maximum(weight, 1e-3) - mean**2, 1.0)
    )
    strands = np.clip((mean - lightness) / (2.0 * spread), -1.0, 1.0) * (solid > 0)
    thinning = np.clip(ramp + 3.0 * strands * ramp * (1.0 - ramp), 0.0, 1.0)
    return np.where(ramp >= 1.0, alpha, thinning).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _found_glasses(image: bytes, shape: tuple[int, ...], landmarks: bytes) -> FoundGlasses:
    """:func:`find_glasses` on an image and landmarks given as bytes, kept for the last few: the still, every
    tweak's edit and the animator's overlay all ask for the same attribute's glasses."""
    return find_glasses(
        np.frombuffer(image, np.uint8).reshape(shape), np.frombuffer(landmarks, np.float32).reshape(-1, 2)
    )


@dataclass(frozen=True, eq=False)
class GlassesOverlay:
    """Glasses on top of a face: opaque frames, and lenses that tint whatever is seen through them."""

    frames: np.ndarray  # H×W×3 uint8, the frames' colour (re-lit)
    frame_alpha: np.ndarray  # H×W float32
    lens_alpha: np.ndarray  # H×W float32 (zeros for rimless glasses or an unknown tint)
    tint: np.ndarray | None  # per-channel factor of the lenses (None: clear)

    def apply(self, image: np.ndarray, *, weight: float = 1.0, matrix: np.ndarray | None = None) -> np.ndarray:
        """``image`` (uint8 or float32 RGB) seen through the glasses; ``matrix`` (2×3) moves them first (they are
        rigid: in an animation they follow the head's similarity, not the face's mesh)."""
        frames, frame_alpha, lens_alpha = self.frames, self.frame_alpha, self.lens_alpha
        if matrix is not None:
            size = image.shape[1::-1]
            warp = lambda layer: cv2.warpAffine(layer, matrix, size, flags=cv2.INTER_LINEAR)  # noqa: E731
            frames, frame_alpha, lens_alpha = warp(frames), warp(frame_alpha), warp(lens_alpha)
        out = image.astype(np.float32)
        if self.tint is not None:
            filter_ = 1.0 - (lens_alpha * weight)[..., None] * (1.0 - self.tint)
            out = out * filter_
        alpha = (frame_alpha * weight)[..., None]
        out = out * (1.0 - alpha) + frames.astype(np.float32) * alpha
        return out if image.dtype == np.float32 else np.clip(out + 0.5, 0, 255).astype(np.uint8)


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


SHAPE_BLEND_KINDS = ("hair", "hat")
"""Attributes whose interpolation is a shape in between (:func:`durian_core.face.head.interpolate_shapes`), not two
edits seen through each other."""


def shape_blend(prepared: PreparedInputs, weights: list[float]) -> Interpolation | None:
    """The request's interpolation when ``weights`` compose its pair as one shape in between: two hair or hat
    references, both present, at an α strictly between 0 and 1 (α = 0 and 1 are the single edits)."""
    pair = prepared.interpolation
    if pair is None or not 0.0 < pair.alpha < 1.0:
        return None
    first, second = prepared.attributes[pair.first], prepared.attributes[pair.second]
    if first.kind != second.kind or first.kind not in SHAPE_BLEND_KINDS:
        return None
    if weights[pair.first] <= 0 or weights[pair.second] <= 0:
        return None
    return pair


def _relit_layers(
    prepared: PreparedInputs, weights: list[float], cache: FeatureCache | None
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The re-lit colours and opacity of each attribute to paste (glasses apart) by its index, through ``cache``
    when the inputs carry content keys (a blend or a fit re-composes them without re-lighting them)."""
    landmarks = prepared.portrait_landmarks
    lighting: dict[str, np.ndarray] = {}

    def relight(attribute: PreparedAttribute) -> tuple[np.ndarray, np.ndarray]:
        if not lighting:
            lighting["lab"] = _lab(prepared.portrait)  # lighting is read off the portrait as it was
            lighting["skin"] = skin_region(landmarks, prepared.portrait.shape[:2])
        return _attribute_layer(attribute, lighting["lab"], lighting["skin"], landmarks)

    layers = {}
    for index, (attribute, weight) in enumerate(zip(prepared.attributes, weights)):
        if weight <= 0 or attribute.kind == "glasses":
            continue
        if cache is not None and attribute.aligned_key and prepared.portrait_key:
            key = content_key(attribute.aligned_key, prepared.portrait_key)
            layers[index] = cache.get_or_compute("relit", key, lambda attribute=attribute: relight(attribute))
        else:
            layers[index] = relight(attribute)
    return layers


def _layers(
    prepared: PreparedInputs, weights: list[float], blend: Interpolation | None, *, cache: FeatureCache | None
) -> list[tuple[str, np.ndarray, np.ndarray, float]]:
    """Each attribute to paste, in order (glasses apart), as (kind, colours, opacity, weight), with the pair of a
    ``blend`` as one layer in between, where its first member stood."""
    landmarks = prepared.portrait_landmarks
    relit = _relit_layers(prepared, weights, cache)
    layers = {
        index: (prepared.attributes[index].kind, colours, opacity, weights[index])
        for index, (colours, opacity) in relit.items()
    }
    if blend is not None:
        alpha = float(blend.alpha)
        kind, first_colours, first_opacity, first_weight = layers[blend.first]
        _, second_colours, second_opacity, second_weight = layers.pop(blend.second)
        colours, opacity = interpolate_shapes(
            (first_colours, first_opacity), (second_colours, second_opacity), alpha, landmarks
        )
        layers[blend.first] = (kind, colours, opacity, (1 - alpha) * first_weight + alpha * second_weight)
    return [layers[index] for index in sorted(layers)]


def compose_edit(
    prepared: PreparedInputs, weights: list[float], *, glasses: bool = True, cache: FeatureCache | None = None
) -> np.ndarray:
    """Paste every attribute whose weight is above zero onto the portrait, in order (:func:`worn_layers`); glasses go
    on last, on top (``glasses=False`` leaves them off: the animator moves them rigidly, :func:`glasses_overlays`).
    The portrait's hair removal comes from ``cache`` when given (:func:`portrait_hair_removal`); new hats without new
    hair take the portrait's hair above their brim (:func:`remove_hair_above_brim`)."""
    layers = worn_layers(prepared, weights, cache=cache)
    result = prepared.portrait
    hair_cover = [cover for kind, _, _, cover in layers if kind == "hair"]
    if hair_cover and "hair" in prepared.portrait_masks:
        result = portrait_hair_removal(prepared, cache=cache).under(np.maximum.reduce(hair_cover))
    elif (under_hat := _hair_under_hat(prepared, layers)) is not None:
        result = under_hat
    output = result.astype(np.float32)
    for _, colours, opacity, _ in layers:
        opacity = opacity[..., None]
        output = output * (1.0 - opacity) + colours.astype(np.float32) * opacity
    if glasses:
        for overlay, weight in glasses_overlays(prepared, weights):
            output = overlay.apply(output, weight=weight)
    return np.clip(output + 0.5, 0, 255).astype(np.uint8)


def _effective_weights(prepared: PreparedInputs, weights: list[float]) -> tuple[Interpolation | None, list[float]]:
    """The request's shape blend for these weights (:func:`shape_blend`), and the weights with the portrait's own
    attributes left out (already worn), save a member of that blend."""
    blend = shape_blend(prepared, weights)
    pair = () if blend is None else (blend.first, blend.second)
    return blend, [
        0.0 if attribute.from_portrait and index not in pair else weight
        for index, (attribute, weight) in enumerate(zip(prepared.attributes, weights))
    ]


def _hair_under_hat(
    prepared: PreparedInputs, layers: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
) -> np.ndarray | None:
    """The portrait without the hair its new hats leave showing (:func:`remove_hair_above_brim`), for ``layers``
    (:func:`worn_layers`) that hold hats and no new hair; else None."""
    hats = [cover for kind, _, _, cover in layers if kind == "hat"]
    if not hats or prepared.own_hair is None or any(kind == "hair" for kind, *_ in layers):
        return None
    return remove_hair_above_brim(
        prepared.portrait,
        prepared.own_hair,
        np.maximum.reduce(hats),
        prepared.portrait_landmarks,
        others=prepared.other_faces,
    )


def hat_hair_layer(prepared: PreparedInputs, weights: list[float]) -> tuple[np.ndarray, np.ndarray] | None:
    """What a look's new hats take of the portrait's hair as a layer of its own (RGB uint8 pixels and where they
    replace the portrait, float32), for a video's frames to wear before the hats; None when there is nothing."""
    under_hat = _hair_under_hat(prepared, worn_layers(prepared, weights))
    if under_hat is None:
        return None
    return under_hat, (under_hat != prepared.portrait).any(axis=-1).astype(np.float32)


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


def glasses_overlays(prepared: PreparedInputs, weights: list[float]) -> list[tuple[GlassesOverlay, float]]:
    """The glasses of an edit, each with its weight, at the portrait's geometry."""
    portrait_lab = _lab(prepared.portrait)
    skin = skin_region(prepared.portrait_landmarks, prepared.portrait.shape[:2])
    return [
        (_attribute_layer(attribute, portrait_lab, skin, prepared.portrait_landmarks), weight)
        for attribute, weight in zip(prepared.attributes, weights)
        if attribute.kind == "glasses" and weight > 0 and not attribute.from_portrait
    ]


def worn_layers(
    prepared: PreparedInputs, weights: list[float], *, cache: FeatureCache | None = None
) -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The layers of an edit, glasses aside (:func:`glasses_overlays`), in the order they are pasted: per attribute
    with a weight above zero, its kind, its re-lit pixels (RGB uint8), the opacity to paste them with (float32: the
    weight and, for hair and hats, the guard over the brows and eyes applied) and what it covers (float32: its own
    matte, where the old hair must go), all at the portrait's geometry. When the weights hold both members of the
    request's hair or hat interpolation (:func:`shape_blend`), they are one layer, the shape in between.

    :func:`compose_edit` pastes them onto the still; a video's frames wear them carried by the head (the old hair's
    removal is then the caller's). An attribute taken from the portrait itself is already worn and is left out, so a
    blend between the portrait's own hair and another's starts from the untouched portrait (in a shape in between,
    the portrait's own hair is one of the two shapes).
    """
    blend, weights = _effective_weights(prepared, weights)
    landmarks = prepared.portrait_landmarks
    guard = feather(
        protected_features(landmarks, prepared.portrait.shape[:2], margin=0.01).astype(np.float32),
        0.01 * regions.face_size(landmarks),
    )
    layers = []
    for kind, colours, cover, weight in _layers(prepared, weights, blend, cache=cache):
        # A fringe or a brim stops above the portrait's brows: the eyes and brows carry who this is.
        opacity = cover * (1.0 - guard) if kind in ("hair", "hat") else cover
        layers.append((kind, colours, (opacity * weight).astype(np.float32), cover))
    return layers


def edit_terms(prepared: PreparedInputs) -> tuple[BlendTerm, ...]:
    """The edits to compose and mix for the request's blend: its terms (:meth:`PreparedInputs.blend_terms`), save that
    two hair or hat references between α = 0 and 1 are one edit holding the shape in between (:func:`shape_blend`).
    The still, the animation and a video's frames all mix these, so none of them shows the two cuts seen through
    each other."""
    weights = list(prepared.attribute_weights)
    if shape_blend(prepared, weights) is not None:
        return (BlendTerm(1.0, tuple(weights)),)
    return prepared.blend_terms()


def edit_portrait(
    prepared: PreparedInputs, *, compose: Callable[[PreparedInputs, list[float]], np.ndarray] = compose_edit
) -> np.ndarray:
    """The still edit: the edits of :func:`edit_terms` mixed by their coefficients, so α = 0 and α = 1 of an
    interpolation give exactly the single-attribute edits; between them, two hair or hat references make one shape
    in between, composed once. ``compose`` may serve edits from a cache."""
    terms = edit_terms(prepared)
    if len(terms) == 1:
        return compose(prepared, list(terms[0].weights))
    blend = sum(term.coefficient * compose(prepared, list(term.weights)) for term in terms)
    return np.clip(blend + 0.5, 0, 255).astype(np.uint8)
