"""Prepared inputs: everything both engines need that depends only on the uploads, computed once and cached.

Landmarks, attribute masks, attribute layers aligned onto the portrait, the driver's landmarks and the motion
retargeted onto the portrait are functions of the input images and video alone (plus the motion multiplier for
the retargeted motion), so a tweak of α, a weight, a seed or a guidance scale reuses them from the cache.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key, default_cache
from durian_core.face.align import align_skull, face_yaw, mesh_align
from durian_core.face.landmarks import FaceCount, choose_face, detect_faces, track_landmarks
from durian_core.face.masks import attribute_mask, refine_mask
from durian_core.face.motion import retarget_motion
from durian_core.face.template import mirror_indices
from durian_core.placement import work_crop
from durian_core.types import (
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


def mirror(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An image flipped left to right, with its landmarks flipped and renumbered (the right eye's points become the
    left eye's), so the flipped face is an ordinary face again."""
    flipped = np.ascontiguousarray(image[:, ::-1])
    points = landmarks.copy()
    points[:, 0] = image.shape[1] - 1 - points[:, 0]
    return flipped, points[mirror_indices()]


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


def automatic_mask(image: np.ndarray, kind: str, *, cache: FeatureCache | None = None) -> np.ndarray:
    """The automatic attribute mask of ``kind`` on ``image`` (float32 H×W in [0, 1]); raises NoFaceError."""
    cache = cache or default_cache()
    key = content_key(image)
    landmarks = image_landmarks(image, cache=cache, key=key)
    return _cached_mask(image, landmarks, kind, key=key, cache=cache)


def _cached_mask(image: np.ndarray, landmarks: np.ndarray, kind: str, *, key: str, cache: FeatureCache) -> np.ndarray:
    """The automatic mask of ``kind`` on an image whose content key is ``key``."""
    return cache.get_or_compute("masks", content_key(key, kind), lambda: attribute_mask(image, landmarks, kind))


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
    image_key = content_key(image)
    landmarks = image_landmarks(image, cache=cache, key=image_key)
    automatic = _cached_mask(image, landmarks, reference.kind, key=image_key, cache=cache)
    mask = automatic
    if user_mask is not None:
        mask = cache.get_or_compute(
            "masks",
            content_key(image_key, reference.kind, user_mask, reference.mask_mode),
            lambda: refine_mask(image, landmarks, reference.kind, automatic, user_mask, mode=reference.mask_mode),
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
    )
    # The portrait's own hair as one end of a blend (my hair ↔ theirs): that end is the portrait untouched.
    return replace(prepared, from_portrait=content_key(reference.image) == source_key)


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
) -> PreparedAttribute:
    """An attribute whose landmarks and mask are known, carried onto the portrait (through the cache).

    The evaluation protocols call this directly: their attribute images are masked (``I_attr ⊙ M_attr``), so no
    face can be found on them, but the video's tracked landmarks say where it was.
    """

    def align() -> tuple[np.ndarray, np.ndarray]:
        size = portrait.shape[1::-1]
        layers, points = np.dstack([image.astype(np.float32), mask]), landmarks
        if kind in RIGID_KINDS:
            if facing_away(landmarks, portrait_landmarks):
                layers, points = mirror(layers, landmarks)
            layers = align_skull(layers, points, portrait_landmarks, size)
        else:
            layers = mesh_align(layers, landmarks, portrait_landmarks, size)
        return np.clip(layers[..., :3], 0, 255).astype(np.uint8), np.clip(layers[..., 3], 0, 1)

    aligned_key = content_key(
        image_key or content_key(image), landmarks, mask, portrait_key or content_key(portrait), kind
    )
    aligned_image, aligned_mask = cache.get_or_compute("aligned", aligned_key, align)
    return PreparedAttribute(
        image=image,
        kind=kind,
        landmarks=landmarks,
        mask=mask,
        aligned_image=aligned_image,
        aligned_mask=aligned_mask,
        weight=weight,
        name=name,
    )


def prepare_inputs(
    request: GenerateRequest, *, cache: FeatureCache | None = None, progress: ProgressCallback = no_progress
) -> PreparedInputs:
    """Analyse the request's images and driver, reusing everything the cache already holds."""
    cache = cache or default_cache()
    settings = request.settings
    progress(0.0, "finding the face in the portrait")
    source_key = content_key(request.portrait)  # an attribute image that is this one is the portrait itself
    full_portrait = fit_longest(request.portrait, settings.output_size)
    full_landmarks = image_landmarks(full_portrait, cache=cache, face=settings.face_index)
    placement = work_crop(full_landmarks, full_portrait.shape[1::-1], work_size=settings.work_size)
    # The engines work on the crop around the chosen face; its landmarks are the full portrait's, carried over.
    portrait = placement.cut(full_portrait)
    portrait_key = content_key(portrait)
    portrait_landmarks = placement.to_work(full_landmarks)
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
    )
