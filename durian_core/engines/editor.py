"""The classical engine's editor: the portrait wearing the attributes, as one still image.

The portrait's own hair is removed (:mod:`durian_core.engines.hair_removal`: what lay under it is filled in,
background and skin on the skull up to the new hair's top), and each aligned attribute is pasted with its lighting
matched to the portrait's skin: a beard shaded as the portrait's jaw, glasses laid over the face last
(:mod:`durian_core.engines.glasses_overlay`). Two attributes of one kind blend as ``(1 − α)·edit₁ + α·edit₂``, two
hair or hat cuts as one shape in between.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.engines.glasses_overlay import GlassesOverlay, glasses_layer
from durian_core.engines.hair_removal import portrait_hair_removal, remove_hair_above_brim
from durian_core.face import regions
from durian_core.face.attribute_masks import makeup_region
from durian_core.face.head import interpolate_shapes
from durian_core.face.masks import face_oval, feather, fill_polygons, protected_features, skin_region
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


def _mean_lab(lab: np.ndarray, region: np.ndarray) -> np.ndarray:
    if region.sum() < 16:
        return lab.reshape(-1, 3).mean(axis=0)
    return lab[region].mean(axis=0)


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


def hat_hair_layer(
    prepared: PreparedInputs, layers: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """What a look's new hats (its ``layers``, :func:`worn_layers`) take of the portrait's hair as a layer of its own
    (RGB uint8 pixels and where they replace the portrait, float32), for a video's frames to wear before the hats;
    None when there is nothing."""
    under_hat = _hair_under_hat(prepared, layers)
    if under_hat is None:
        return None
    return under_hat, (under_hat != prepared.portrait).any(axis=-1).astype(np.float32)


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
