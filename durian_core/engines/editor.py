"""The classical engine's editor: the portrait wearing the attributes, as one still image.

The portrait's own hair is removed (what lay under it is filled in: background, skin on the skull up to the new
hair's top), and each aligned attribute is pasted with its lighting matched to the portrait's skin. Two attributes
of one kind blend as ``(1 − α)·edit₁ + α·edit₂``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.face import regions
from durian_core.face.align import fit_matrix, mesh_align
from durian_core.face.fill import FillPlates, fill_plates, skull_region
from durian_core.face.head import head_hair, interpolate_shapes
from durian_core.face.masks import face_oval, feather, fill_polygons, skin_likeness
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
        # Makeup is colour relative to skin: carry the attribute's offset from its skin onto the portrait's skin,
        # keep half of the portrait's own shading so its lips and lids keep their shape.
        offset = layer_lab - skin_attribute
        relit = portrait_lab.copy()
        relit[..., 0] = 0.5 * portrait_lab[..., 0] + 0.5 * (skin_portrait[0] + offset[..., 0])
        relit[..., 1:] = portrait_lab[..., 1:] + offset[..., 1:] - (portrait_lab[..., 1:] - skin_portrait[1:]) * 0.5
        return _rgb(relit), alpha
    relit = layer_lab.copy()
    # Lighting: scale lightness towards the portrait's skin level, and move the white balance halfway.
    gain = (skin_portrait[0] + 1.0) / (skin_attribute[0] + 1.0)
    relit[..., 0] *= float(np.clip(gain**RELIGHT_STRENGTH, 1 / RELIGHT_MAX_GAIN, RELIGHT_MAX_GAIN))
    relit[..., 1:] += RELIGHT_WHITE_BALANCE * (skin_portrait[1:] - skin_attribute[1:])
    if attribute.kind == "glasses":
        return glasses_layer(attribute, _rgb(relit), skin_attribute, landmarks)
    return _rgb(relit), alpha


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _enclosed(barrier: np.ndarray) -> np.ndarray:
    """Pixels that a flood from the image's border cannot reach through ``barrier`` (bool)."""
    outside = np.pad((~barrier).astype(np.uint8), 1, constant_values=1)
    flood = np.zeros((outside.shape[0] + 2, outside.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    return outside[1:-1, 1:-1] == 1


def glasses_layer(
    attribute: PreparedAttribute,
    relit: np.ndarray,
    skin_attribute: np.ndarray,
    landmarks: np.ndarray,
) -> GlassesOverlay:
    """Glasses as glasses are: the frames opaque, the lenses a colour filter over the portrait's own eyes.

    Frames and lenses are found in the attribute's own image (:func:`glasses_parts`), where the rims are drawn at
    their own resolution, and their opacities are carried onto the portrait by the attribute's warp, blurred first
    by as much as the face shrinks: found on the already shrunk image, a rim a few pixels wide came out as stairs
    and broken dots. ``relit`` gives the frames' colour on the portrait.
    """
    frames, lenses, tint = glasses_parts(
        _lab(attribute.image), attribute.mask, attribute.landmarks, float(skin_attribute[0])
    )
    parts = np.dstack([frames, lenses])
    scale = regions.face_size(landmarks) / max(regions.face_size(attribute.landmarks), 1e-6)
    if scale < 1.0:
        parts = cv2.GaussianBlur(parts, (0, 0), 0.5 * np.sqrt(1.0 / scale**2 - 1.0))
    size = relit.shape[1::-1]
    carried = mesh_align(parts, attribute.landmarks, landmarks, size)
    if not attribute.fit.is_identity:
        # The user's nudge, as the aligned image (whose colours ``relit`` holds) took it.
        fit = attribute.fit
        nudge = fit_matrix(landmarks, dx=fit.dx, dy=fit.dy, scale=fit.scale, degrees=fit.degrees)
        carried = cv2.warpAffine(carried, nudge, size, flags=cv2.INTER_LINEAR, borderValue=0)
    carried = np.clip(carried, 0.0, 1.0)
    return GlassesOverlay(relit, carried[..., 0], carried[..., 1], tint)


def glasses_parts(
    lab: np.ndarray, mask: np.ndarray, landmarks: np.ndarray, skin_lightness: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The frames' opacity, the lenses' opacity and the lenses' tint of glasses worn in an image (Lab ``lab``, the
    glasses' ``mask``, the wearer's ``landmarks`` and skin lightness).

    Frames are the darkest pixels in the glasses region: first the surest (under a fifth of the skin's lightness,
    darker than any brow; never the wearer's eyes), whose enclosed holes are the lenses; then, in a band around the
    lenses and along the arms, everything under a third of the skin's lightness with a soft edge, so the rims keep
    their thickness where they cross the brows. A lens's tint is, per channel, the lens's colour over the cheek just
    below it (the same skin seen with and without the lens). Rimless glasses (nothing enclosed) have frames only;
    the tint is None then, or when no lens or cheek can be measured.
    """
    shape = mask.shape
    size = regions.face_size(landmarks)
    region = mask > 0.3
    lightness = lab[..., 0]
    skin_lightness = skin_lightness + 1e-6
    eyes = cv2.dilate(
        fill_polygons(shape, [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]]), _disc(1)
    )
    brows = cv2.dilate(
        fill_polygons(shape, [landmarks[list(regions.RIGHT_BROW)], landmarks[list(regions.LEFT_BROW)]]), _disc(2)
    )
    sure = (lightness < 0.2 * skin_lightness) & region & (eyes < 0.5)
    closed = cv2.morphologyEx(sure.astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.012 * size)) > 0
    lenses = _enclosed(closed) & region & ~closed
    rim_zone = cv2.dilate(lenses.astype(np.uint8), _disc(0.04 * size)) > 0
    darkness = np.clip((0.34 * skin_lightness - lightness) / (0.14 * skin_lightness), 0.0, 1.0)
    darkness *= region & (eyes < 0.5) & ~lenses
    darkness *= np.where(rim_zone, 1.0, brows < 0.5)  # beyond the rims, the brows stay the wearer's
    frame_alpha = (darkness * mask).astype(np.float32)
    lens_alpha = np.zeros(shape, np.float32)
    tint = None
    if lenses.sum() > 0.002 * lenses.size:
        rgb = _rgb(lab).astype(np.float32)
        lens_rows = np.nonzero(lenses.any(axis=1))[0]
        bottom = lens_rows.max()
        lower_lens = lenses & (np.arange(shape[0])[:, None] > bottom - 0.35 * (bottom - lens_rows.min()))
        lower_lens &= cv2.dilate(eyes, _disc(0.03 * size)) < 0.5
        below = np.zeros(shape, bool)
        below[bottom + int(0.03 * size) : bottom + int(0.08 * size)] = True
        columns = lenses.any(axis=0)
        cheek = below & columns[None, :] & (skin_region(landmarks, shape) > 0) & (darkness < 0.05)
        if lower_lens.sum() >= 16 and cheek.sum() >= 16:
            tint = np.median(rgb[lower_lens], axis=0) / np.maximum(np.median(rgb[cheek], axis=0), 1)
            tint = np.clip(tint, 0.15, 1.0).astype(np.float32)
            lens_alpha = feather(lenses.astype(np.float32), 0.004 * size)
    return frame_alpha, lens_alpha, tint


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
    The portrait's hair removal comes from ``cache`` when given (:func:`portrait_hair_removal`)."""
    layers = worn_layers(prepared, weights, cache=cache)
    result = prepared.portrait
    hair_cover = [cover for kind, _, _, cover in layers if kind == "hair"]
    if hair_cover and "hair" in prepared.portrait_masks:
        result = portrait_hair_removal(prepared, cache=cache).under(np.maximum.reduce(hair_cover))
    output = result.astype(np.float32)
    for _, colours, opacity, _ in layers:
        opacity = opacity[..., None]
        output = output * (1.0 - opacity) + colours.astype(np.float32) * opacity
    if glasses:
        for overlay, weight in glasses_overlays(prepared, weights):
            output = overlay.apply(output, weight=weight)
    return np.clip(output + 0.5, 0, 255).astype(np.uint8)


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
    blend = shape_blend(prepared, weights)
    pair = () if blend is None else (blend.first, blend.second)
    weights = [
        0.0 if attribute.from_portrait and index not in pair else weight
        for index, (attribute, weight) in enumerate(zip(prepared.attributes, weights))
    ]
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
