"""Prepared inputs: everything both engines need that depends only on the uploads, computed once and cached.

Landmarks, attribute masks, attribute layers aligned onto the portrait, the driver's landmarks and the motion
retargeted onto the portrait are functions of the input images and video alone (plus the motion multiplier for
the retargeted motion), so a tweak of α, a weight, a seed or a guidance scale reuses them from the cache.
"""

from __future__ import annotations

import functools
from dataclasses import replace

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key, default_cache
from durian_core.face.align import align_skull, face_yaw, fit_matrix, mesh_align
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.hats import complete_hat, cut_note
from durian_core.face.head import complete_cut_hair, head_hair
from durian_core.face.landmarks import choose_face, detect_faces
from durian_core.face.masks import refine_mask
from durian_core.face.matting import foreground_colours
from durian_core.face.motion import retarget_motion
from durian_core.face.template import mirror_indices
from durian_core.face.tracking import FaceCount, track_landmarks
from durian_core.placement import work_crop
from durian_core.types import (
    AttributeFit,
    AttributeReference,
    GenerateRequest,
    PreparedAttribute,
    PreparedInputs,
    ProgressCallback,
    no_progress,
)

# Hair and hats reach far past the face mesh, so they follow a similarity of the head; the rest follow the mesh.
RIGID_KINDS = ("hair", "hat")


def resize_longest(image: np.ndarray, longest: int) -> np.ndarray:
    """Resize so the longest side is ``longest`` and both sides are even (H.264 in yuv420p needs even sides)."""
    height, width = image.shape[:2]
    scale = longest / max(height, width)
    size = (max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2))
    if size == (width, height):
        return image
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, size, interpolation=interpolation)


MIRROR_YAW = 0.12
"""Hair and hats are mirrored when the attribute's head turns the other way than the portrait's by more than this
(:func:`durian_core.face.align.face_yaw` units; a three-quarter view is about 0.25): a parting or a fringe swept to
one side then lies on the side the portrait shows, as it did on the attribute's head."""


def facing_away(attribute_landmarks: np.ndarray, portrait_landmarks: np.ndarray) -> bool:
    """Whether the two faces turn to opposite sides, far enough apart that the mirrored attribute fits better."""
    attribute, portrait = face_yaw(attribute_landmarks), face_yaw(portrait_landmarks)
    return attribute * portrait < 0 and abs(attribute - portrait) > MIRROR_YAW


@functools.cache
def _mirror_order() -> np.ndarray:
    return mirror_indices()


def mirror(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An image flipped left to right, with its landmarks flipped and renumbered (the right eye's points become the
    left eye's), so the flipped face is an ordinary face again."""
    flipped = np.ascontiguousarray(image[:, ::-1])
    points = landmarks.copy()
    points[:, 0] = image.shape[1] - 1 - points[:, 0]
    return flipped, points[_mirror_order()]


def image_faces(image: np.ndarray, *, cache: FeatureCache, key: str | None = None) -> list[np.ndarray]:
    """Every face of an image, largest first (478×2 landmarks each), from the cache when the same pixels were
    seen: the app's face picker and the landmarks below share one detection."""
    return cache.get_or_compute("faces", key or content_key(image), lambda: detect_faces(image))


def image_landmarks(image: np.ndarray, *, cache: FeatureCache, key: str | None = None, face: int = 0) -> np.ndarray:
    """Landmarks of face ``face`` (0 = the largest) of an image, from the cache when the same pixels were seen."""
    key = key or content_key(image)
    item = key if face == 0 else content_key(key, face)
    return cache.get_or_compute("landmarks", item, lambda: choose_face(image_faces(image, cache=cache, key=key), face))


def fit_longest(image: np.ndarray, longest: int) -> np.ndarray:
    """``image`` downscaled so its longest side is at most ``longest``; a smaller image is left as it is."""
    return resize_longest(image, longest) if max(image.shape[:2]) > longest else image


def automatic_mask(image: np.ndarray, kind: str, *, face: int = 0, cache: FeatureCache | None = None) -> np.ndarray:
    """The automatic attribute mask of ``kind`` on face ``face`` (0 = the largest) of ``image`` (float32 H×W in
    [0, 1]); raises NoFaceError, or DurianInputError naming how many faces there are."""
    cache = cache or default_cache()
    key = content_key(image)
    landmarks = image_landmarks(image, cache=cache, key=key, face=face)
    return _cached_mask(image, landmarks, kind, key=key if face == 0 else content_key(key, face), cache=cache)


def automatic_mask_of_file(path: str, kind: str, *, face: int = 0) -> np.ndarray:
    """The automatic mask of ``kind`` on face ``face`` of an image file, at the file's own size (the loader
    downscales very large photos; the mask is brought back up), for a user to edit and pass back as a mask."""
    from durian_core.media import load_image

    loaded = load_image(path)
    mask = automatic_mask(loaded.rgb, kind, face=face, cache=FeatureCache())
    if loaded.downscaled_from is not None:
        mask = cv2.resize(mask, loaded.downscaled_from, interpolation=cv2.INTER_LINEAR)
    return mask


def _cached_mask(image: np.ndarray, landmarks: np.ndarray, kind: str, *, key: str, cache: FeatureCache) -> np.ndarray:
    """The automatic mask of ``kind`` on an image (and face) whose content key is ``key``."""
    return cache.get_or_compute("masks", content_key(key, kind), lambda: attribute_mask(image, landmarks, kind))


def _attribute_hair(
    image: np.ndarray,
    landmarks: np.ndarray,
    automatic: np.ndarray,
    *,
    key: str,
    face: int,
    cache: FeatureCache,
) -> np.ndarray:
    """The automatic hair mask of an attribute image kept to the chosen person's head (:func:`head_hair`): what it
    took beyond (a wall, a lamp, the person beside) would land beside the portrait's head."""

    def compute() -> np.ndarray:
        faces = image_faces(image, cache=cache, key=key)
        others = tuple(other for index, other in enumerate(faces) if index != face)
        return head_hair(image, automatic, landmarks, others=others)

    return cache.get_or_compute("masks", content_key(key, face, "head hair"), compute)


def _prepare_attribute(
    reference: AttributeReference,
    *,
    portrait: np.ndarray,
    portrait_key: str,
    portrait_landmarks: np.ndarray,
    longest: int,
    cache: FeatureCache,
    source_key: str,
) -> PreparedAttribute:
    image = resize_longest(reference.image, longest)
    user_mask = None
    if reference.mask is not None:
        user_mask = cv2.resize(reference.mask.astype(np.float32), image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    reference_key = content_key(reference.image)
    image_key = reference_key if image is reference.image else content_key(image)
    landmarks = image_landmarks(image, cache=cache, key=image_key, face=reference.face)
    mask_key = image_key if reference.face == 0 else content_key(image_key, reference.face)
    automatic = _cached_mask(image, landmarks, reference.kind, key=mask_key, cache=cache)
    if reference.kind == "hair":
        automatic = _attribute_hair(image, landmarks, automatic, key=image_key, face=reference.face, cache=cache)
    mask = automatic
    if user_mask is not None:
        mask = cache.get_or_compute(
            "masks",
            content_key(mask_key, reference.kind, user_mask, reference.mask_mode),
            lambda: refine_mask(image, landmarks, reference.kind, automatic, user_mask, mode=reference.mask_mode),
        )
    # One key for the image, its face and its mask from here on: hashing them again costs more than what follows.
    image_key = content_key(image_key, landmarks, mask)
    if reference.kind == "hair":
        # A head cut by the photo's edge: its hair is completed beyond the edge, so it covers the portrait's crown.
        image, mask, landmarks = cache.get_or_compute(
            "completed", image_key, lambda: complete_cut_hair(image, mask, landmarks)
        )
    note = ""
    if reference.kind == "hat":
        # A hat cut by the photo's edge: its crown (or a side) is completed beyond the edge, or the user is told.
        note = cut_note(mask)
        image, mask, landmarks = cache.get_or_compute(
            "completed", content_key(image_key, "hat"), lambda: complete_hat(image, mask, landmarks)
        )
    prepared = align_attribute(
        image,
        landmarks,
        mask,
        reference.kind,
        portrait=portrait,
        portrait_key=portrait_key,
        portrait_landmarks=portrait_landmarks,
        weight=reference.weight,
        name=reference.name,
        cache=cache,
        image_key=image_key,
        fit=reference.fit,
    )
    # The portrait's own hair as one end of a blend (my hair ↔ theirs): that end is the portrait untouched.
    return replace(prepared, from_portrait=reference_key == source_key, note=note)


FOREGROUND_KINDS = ("hair", "hat", "beard")
"""Attributes with a soft, see-through edge, whose colours are taken without what shows through it."""


def align_attribute(
    image: np.ndarray,
    landmarks: np.ndarray,
    mask: np.ndarray,
    kind: str,
    *,
    portrait: np.ndarray,
    portrait_landmarks: np.ndarray,
    cache: FeatureCache,
    weight: float = 1.0,
    name: str = "",
    portrait_key: str | None = None,
    image_key: str | None = None,
    fit: AttributeFit = AttributeFit(),
) -> PreparedAttribute:
    """An attribute whose landmarks and mask are known, carried onto the portrait (through the cache) and nudged by
    the user's ``fit``.

    What depends on the attribute alone (its colours without what shows through its soft edge) is kept apart from
    the placement, so a new fit only warps again. The evaluation protocols call this directly: their attribute
    images are masked (``I_attr ⊙ M_attr``), so no face can be found on them, but the video's tracked landmarks say
    where it was.
    """
    # ``image_key``, when given, stands for the image, its landmarks and its mask.
    image_key = image_key or content_key(image, landmarks, mask)
    foreground = None
    if kind in FOREGROUND_KINDS:
        # The soft edge of a cut-out mixes the attribute with what was behind it; pasting that mix brings the old
        # background along as a halo. The matte's own foreground colours carry the attribute alone.
        foreground = cache.get_or_compute("foreground", image_key, lambda: foreground_colours(image, mask))

    flip = kind in RIGID_KINDS and facing_away(landmarks, portrait_landmarks)

    def source() -> tuple[np.ndarray, np.ndarray]:
        """The layers to carry (colours, mask, edge colours) stacked, mirrored when the heads face apart."""
        planes = [image.astype(np.float32), mask[..., None]]
        if foreground is not None:
            planes.append(foreground.astype(np.float32))
        layers = np.dstack(planes)
        return mirror(layers, landmarks) if flip else (layers, landmarks)

    def align() -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        size = portrait.shape[1::-1]
        # Kept apart from the placement: a new fit only warps them again.
        layers, points = cache.get_or_compute("sources", content_key(image_key, flip), source)
        nudge = None if fit.is_identity else fit_matrix(portrait_landmarks, **_fit_arguments(fit))
        if kind in RIGID_KINDS:
            layers = align_skull(layers, points, portrait_landmarks, size, then=nudge)
        else:
            layers = mesh_align(layers, points, portrait_landmarks, size)
            if nudge is not None:
                layers = cv2.warpAffine(layers, nudge, size, flags=cv2.INTER_LINEAR, borderValue=0)
        # A linear warp of values within [0, 255] (and [0, 1]) stays within them.
        colours = layers[..., :3].astype(np.uint8)
        carried = None if foreground is None else layers[..., 4:7].astype(np.uint8)
        return colours, np.clip(layers[..., 3], 0, 1), carried

    portrait_key = portrait_key or content_key(portrait)
    aligned_key = content_key(image_key, portrait_key, portrait_landmarks, kind, fit.as_tuple())
    aligned_image, aligned_mask, aligned_foreground = cache.get_or_compute("aligned", aligned_key, align)
    return PreparedAttribute(
        image=image,
        kind=kind,
        landmarks=landmarks,
        mask=mask,
        aligned_image=aligned_image,
        aligned_mask=aligned_mask,
        weight=weight,
        name=name,
        aligned_foreground=aligned_foreground,
        aligned_key=aligned_key,
        fit=fit,
        source_key=image_key,
    )


def refit_attribute(prepared: PreparedInputs, index: int, fit: AttributeFit, *, cache: FeatureCache) -> PreparedInputs:
    """The prepared inputs with attribute ``index`` nudged by ``fit`` instead of its own: only its placement is
    warped again (its source layers come from ``cache``); landmarks, masks and the other attributes stay as they
    are."""
    if not 0 <= index < len(prepared.attributes):
        raise ValueError(f"attribute index {index} is outside the {len(prepared.attributes)} attributes")
    attribute = prepared.attributes[index]
    if attribute.fit == fit:
        return prepared
    moved = align_attribute(
        attribute.image,
        attribute.landmarks,
        attribute.mask,
        attribute.kind,
        portrait=prepared.portrait,
        portrait_landmarks=prepared.portrait_landmarks,
        cache=cache,
        weight=attribute.weight,
        name=attribute.name,
        portrait_key=prepared.portrait_key or None,
        image_key=attribute.source_key or None,
        fit=fit,
    )
    moved = replace(moved, from_portrait=attribute.from_portrait)
    attributes = prepared.attributes[:index] + (moved,) + prepared.attributes[index + 1 :]
    return replace(prepared, attributes=attributes)


def _fit_arguments(fit: AttributeFit) -> dict[str, float]:
    return {"dx": fit.dx, "dy": fit.dy, "scale": fit.scale, "degrees": fit.degrees}


def prepare_inputs(
    request: GenerateRequest, *, cache: FeatureCache | None = None, progress: ProgressCallback = no_progress
) -> PreparedInputs:
    """Analyse the request's images and driver, reusing everything the cache already holds."""
    cache = cache or default_cache()
    settings = request.settings
    progress(0.0, "finding the face in the portrait")
    source_key = content_key(request.portrait)  # an attribute image that is this one is the portrait itself
    full_portrait = fit_longest(request.portrait, settings.output_size)
    full_key = source_key if full_portrait is request.portrait else content_key(full_portrait)
    full_landmarks = image_landmarks(full_portrait, cache=cache, key=full_key, face=settings.face_index)
    placement = work_crop(full_landmarks, full_portrait.shape[1::-1], work_size=settings.work_size)
    # The engines work on the crop around the chosen face; its landmarks are the full portrait's, carried over.
    portrait = placement.cut(full_portrait)
    portrait_key = full_key if portrait is full_portrait else content_key(portrait)
    portrait_landmarks = placement.to_work(full_landmarks)
    # The photo's other people: removing this one's hair must leave theirs, and their faces, alone.
    faces = image_faces(full_portrait, cache=cache, key=full_key)
    others = tuple(placement.to_work(face) for index, face in enumerate(faces) if index != settings.face_index)
    kinds = sorted({reference.kind for reference in request.attributes})
    portrait_masks = {
        kind: _cached_mask(portrait, portrait_landmarks, kind, key=portrait_key, cache=cache) for kind in kinds
    }
    progress(0.05, "aligning the attributes onto the portrait")
    attributes = tuple(
        _prepare_attribute(
            reference,
            portrait=portrait,
            portrait_key=portrait_key,
            portrait_landmarks=portrait_landmarks,
            longest=settings.work_size,
            cache=cache,
            source_key=source_key,
        )
        for reference in request.attributes
    )
    own_hair = _cached_mask(portrait, portrait_landmarks, "hair", key=portrait_key, cache=cache)
    motion = fps = audio_path = driver_landmarks = driver_frames = None
    if request.driver is not None and request.driver.frames is None:
        fps, audio_path = request.driver.fps, request.driver.audio_path  # streamed: tracked as it plays
    elif request.driver is not None:
        driver = request.driver
        progress(0.1, "tracking the driver's face")
        driver_key = content_key(driver.frames)

        def track() -> np.ndarray:
            counts = FaceCount()
            tracks = track_landmarks(driver.frames, counts=counts)
            cache.put("faceless", driver_key, counts)  # the status says how many frames showed no face
            return tracks

        driver_landmarks = cache.get_or_compute("motion", driver_key, track)
        motion = cache.get_or_compute(
            "retarget",
            content_key(portrait_key, driver_key, float(settings.motion_multiplier)),
            lambda: retarget_motion(portrait_landmarks, driver_landmarks, multiplier=settings.motion_multiplier),
        )
        fps, audio_path, driver_frames = driver.fps, driver.audio_path, driver.frames
    return PreparedInputs(
        portrait=portrait,
        portrait_landmarks=portrait_landmarks,
        full_portrait=full_portrait,
        placement=placement,
        own_hair=own_hair,
        driver_frames=driver_frames,
        driver_landmarks=driver_landmarks,
        portrait_masks=portrait_masks,
        attributes=attributes,
        interpolation=request.interpolation,
        motion=motion,
        fps=fps,
        audio_path=audio_path,
        other_faces=others,
        portrait_key=portrait_key,
    )
