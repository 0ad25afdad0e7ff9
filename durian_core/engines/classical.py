"""The classical engine: landmark-aligned attribute compositing, then landmark-driven mesh warping.

This is the two-stage baseline the paper compares against, and the project's CPU default. The editor pastes each
aligned attribute onto the portrait with lighting matched to the portrait's skin, after removing the portrait's
own hair where the new hair does not cover it; the animator moves the edited portrait along the retargeted
landmarks with one dense backward map per frame, and paints a mouth interior where the mouth opens wider than in
the portrait.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.config import GenerationSettings
from durian_core.engines.base import Engine
from durian_core.face import regions
from durian_core.face.align import MeshWarp
from durian_core.face.masks import feather, fill_polygons
from durian_core.types import PreparedAttribute, PreparedInputs, ProgressCallback, no_progress


def _lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)


def _rgb(lab: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def skin_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cheeks and forehead: the face oval without eyes, brows and mouth (for lighting statistics)."""
    face = fill_polygons(shape, [landmarks[list(regions.FACE_OVAL)]])
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


def _remove_hair(image: np.ndarray, own: np.ndarray, covered: np.ndarray, size: float) -> np.ndarray:
    """Inpaint the portrait's own hair where the new hair does not reach (at low resolution: it is a fill)."""
    hole = (own > 0.5) & (covered < 0.3)
    if hole.sum() < 16:
        return image
    height, width = image.shape[:2]
    scale = min(1.0, 160 / max(height, width))
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    small_hole = cv2.resize(hole.astype(np.uint8) * 255, small_size, interpolation=cv2.INTER_NEAREST)
    small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
    filled = cv2.resize(cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA), (width, height), cv2.INTER_CUBIC)
    alpha = feather(hole.astype(np.float32), 0.01 * size)[..., None]
    return (image * (1 - alpha) + filled * alpha).astype(np.uint8)


def _attribute_layer(
    attribute: PreparedAttribute, portrait_lab: np.ndarray, skin: np.ndarray, landmarks: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The attribute's pixels re-lit for the portrait, and their opacity (before the reference weight)."""
    layer_lab = _lab(attribute.aligned_image)
    # The aligned attribute image's own face sits on the portrait's face region, so the same skin region gives
    # the attribute person's skin colour.
    skin_portrait = _mean_lab(portrait_lab, skin)
    # Makeup covers part of the skin region (cheeks): measure the attribute's skin outside its makeup.
    attribute_skin = skin & (attribute.aligned_mask < 0.5) if attribute.kind == "makeup" else skin
    skin_attribute = _mean_lab(layer_lab, attribute_skin)
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
    relit[..., 0] *= gain**0.6
    relit[..., 1:] += 0.5 * (skin_portrait[1:] - skin_attribute[1:])
    if attribute.kind == "glasses":
        # Keep the frames, not the other person's eyes: opacity follows how much darker than skin a pixel is,
        # and the eyes and brows themselves are left to the portrait.
        darkness = np.clip((skin_attribute[0] - layer_lab[..., 0] - 12.0) / 40.0, 0.0, 1.0)
        shape = alpha.shape
        size = regions.face_size(landmarks)
        features = fill_polygons(
            shape,
            [
                landmarks[list(loop)]
                for loop in (regions.RIGHT_EYE, regions.LEFT_EYE, regions.RIGHT_BROW, regions.LEFT_BROW)
            ],
        )
        features = feather(cv2.dilate(features, np.ones((3, 3), np.uint8)), 0.01 * size)
        alpha = alpha * feather(darkness, 1.0) * (1.0 - features)
    return _rgb(relit), alpha


def compose_edit(prepared: PreparedInputs, weights: list[float]) -> np.ndarray:
    """Paste every attribute whose weight is above zero onto the portrait, in order."""
    portrait = prepared.portrait
    landmarks = prepared.portrait_landmarks
    shape = portrait.shape[:2]
    size = regions.face_size(landmarks)
    result = portrait
    hair_cover = [a.aligned_mask for a, w in zip(prepared.attributes, weights) if a.kind == "hair" and w > 0]
    if hair_cover and "hair" in prepared.portrait_masks:
        result = _remove_hair(result, prepared.portrait_masks["hair"], np.maximum.reduce(hair_cover), size)
    portrait_lab = _lab(result)
    skin = skin_region(landmarks, shape)
    output = result.astype(np.float32)
    for attribute, weight in zip(prepared.attributes, weights):
        if weight <= 0:
            continue
        layer, alpha = _attribute_layer(attribute, portrait_lab, skin, landmarks)
        alpha = (alpha * weight)[..., None]
        output = output * (1.0 - alpha) + layer.astype(np.float32) * alpha
    return np.clip(output + 0.5, 0, 255).astype(np.uint8)


def edit_portrait(
    prepared: PreparedInputs, *, compose: Callable[[PreparedInputs, list[float]], np.ndarray] = compose_edit
) -> np.ndarray:
    """The still edit: the edits of the blend's terms (:meth:`PreparedInputs.blend_terms`) mixed by their
    coefficients, so α = 0 and α = 1 of an interpolation give exactly the single-attribute edits. ``compose`` may
    serve edits from a cache: they depend on the weights but not on α."""
    terms = prepared.blend_terms()
    if len(terms) == 1:
        return compose(prepared, list(terms[0].weights))
    blend = sum(term.coefficient * compose(prepared, list(term.weights)) for term in terms)
    return np.clip(blend + 0.5, 0, 255).astype(np.uint8)


def hair_ring_scale(prepared: PreparedInputs, *, minimum: float = 1.6) -> float:
    """Scale of the fixed anchor ring so that it encloses all hair and hats, old and new, with a margin.

    Hair cut by the ring would tear at it when the head turns: inside it stretches, outside it stays put.
    """
    masks = [mask for kind, mask in prepared.portrait_masks.items() if kind in ("hair", "hat")]
    masks += [attribute.aligned_mask for attribute in prepared.attributes if attribute.kind in ("hair", "hat")]
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


class MouthFiller:
    """Paints a mouth interior (dark throat, a band of upper teeth) where the mouth opens past the portrait's."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.rest_gap = float(np.linalg.norm(landmarks[regions.LOWER_LIP_INNER] - landmarks[regions.UPPER_LIP_INNER]))
        self.size = regions.face_size(landmarks)
        lips = fill_polygons(image.shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5
        lip_colour = image[lips].mean(axis=0) if lips.any() else np.array([120, 60, 60], np.float32)
        self.throat = (lip_colour * 0.25).astype(np.float32)
        self.teeth = np.array([205, 200, 190], np.float32) * (0.5 + 0.5 * image.mean() / 255.0)

    def __call__(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        upper, lower = landmarks[regions.UPPER_LIP_INNER], landmarks[regions.LOWER_LIP_INNER]
        gap = float(np.linalg.norm(lower - upper))
        strength = np.clip((gap - self.rest_gap - 0.01 * self.size) / (0.03 * self.size), 0.0, 1.0)
        if strength <= 0:
            return frame
        inner = landmarks[list(regions.LIPS_INNER)]
        x0, y0 = np.floor(inner.min(axis=0) - 2).astype(int)
        x1, y1 = np.ceil(inner.max(axis=0) + 3).astype(int)
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return frame
        local = inner - np.array([x0, y0], np.float32)
        mouth = fill_polygons((y1 - y0, x1 - x0), [local])
        mouth = cv2.GaussianBlur(mouth, (3, 3), 0.8)
        # Teeth: a band under the upper lip, a quarter of the opening deep.
        rows = np.arange(y0, y1, dtype=np.float32)[:, None] - (upper[1] + 1.0)
        teeth = np.clip(1.0 - rows / max(gap * 0.3, 1.0), 0.0, 1.0) * (rows > -2)
        colour = self.throat + (self.teeth - self.throat) * teeth[..., None]
        alpha = (mouth * strength)[..., None]
        patch = frame[y0:y1, x0:x1].astype(np.float32)
        out = frame.copy()
        out[y0:y1, x0:x1] = np.clip(patch * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)
        return out


class ClassicalEngine(Engine):
    """CPU engine needing no weights. Stateless: the mesh of a portrait and its edits live in the caller's cache."""

    name = "classical"

    @staticmethod
    def mesh(prepared: PreparedInputs, *, cache: FeatureCache) -> MeshWarp:
        size = prepared.portrait.shape[1::-1]
        ring_scale = hair_ring_scale(prepared)
        key = content_key(prepared.portrait_landmarks, size, ring_scale)
        return cache.get_or_compute(
            "mesh", key, lambda: MeshWarp.build(prepared.portrait_landmarks, size, ring_scale=ring_scale)
        )

    @staticmethod
    def compose(prepared: PreparedInputs, weights: list[float], *, cache: FeatureCache) -> np.ndarray:
        """:func:`compose_edit`, kept in the cache: an α slider only re-blends two cached edits."""
        key = content_key(
            prepared.portrait,
            tuple(float(weight) for weight in weights),
            tuple((layer.aligned_image, layer.aligned_mask, layer.kind) for layer in prepared.attributes),
            tuple((kind, prepared.portrait_masks[kind]) for kind in sorted(prepared.portrait_masks)),
        )
        return cache.get_or_compute("edits", key, lambda: compose_edit(prepared, weights))

    def animate(
        self,
        still: np.ndarray,
        prepared: PreparedInputs,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> np.ndarray:
        """Warp the edited still along ``prepared.motion``: F×H×W×3 uint8."""
        mesh = self.mesh(prepared, cache=cache)
        mouth = MouthFiller(still, prepared.portrait_landmarks)
        frames = np.empty((len(prepared.motion), *still.shape), np.uint8)
        report_every = max(1, len(frames) // 20)
        for index, landmarks in enumerate(prepared.motion):
            frames[index] = mouth(mesh.warp(still, mesh.target_points(landmarks)), landmarks)
            if index % report_every == 0:
                progress(index / len(frames), f"animating frame {index + 1} of {len(frames)}")
        return frames

    def generate(
        self,
        prepared: PreparedInputs,
        settings: GenerationSettings,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> tuple[np.ndarray, dict[str, float]]:
        timings = {}
        start = time.perf_counter()
        still = edit_portrait(prepared, compose=lambda inputs, weights: self.compose(inputs, weights, cache=cache))
        timings["edit"] = time.perf_counter() - start
        if prepared.motion is None:
            return still[None], timings
        start = time.perf_counter()
        frames = self.animate(still, prepared, cache=cache, progress=progress)
        timings["animate"] = time.perf_counter() - start
        return frames, timings
