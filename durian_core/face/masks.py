"""Attribute region masks from landmarks and person segmentation, one function per attribute kind.

No hair or face-parsing model works offline, so hair comes from the person mask (MediaPipe selfie segmentation)
minus the face and neck, around the head; the face-anchored kinds are polygons over the landmarks. Masks are
float32 H×W in [0, 1]. A user's brush (a mask image) adds to or replaces the automatic mask.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from durian_core.config import ATTRIBUTE_KINDS
from durian_core.face import regions

_local = threading.local()


def person_mask(image: np.ndarray) -> np.ndarray:
    """Soft person (foreground) mask of an RGB image."""
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        import mediapipe as mp

        # The general model (256²) keeps the hair outline better than the landscape one.
        segmenter = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
        _local.segmenter = segmenter
    result = segmenter.process(np.ascontiguousarray(image))
    return np.clip(result.segmentation_mask.astype(np.float32), 0.0, 1.0)


def fill_polygons(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    """Anti-aliased fill of pixel-space polygons (N×2 float arrays) into a float32 mask."""
    canvas = np.zeros(shape, np.uint8)
    for points in polygons:
        cv2.fillPoly(canvas, [np.round(np.asarray(points) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    radius = int(round(radius))
    if radius < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a mask's edge over about ``radius`` pixels."""
    if radius < 0.5:
        return mask
    size = int(2 * round(radius) + 1)
    return cv2.GaussianBlur(mask, (size, size), radius / 2)


def _face_oval(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return fill_polygons(shape, [landmarks[list(regions.FACE_OVAL)]])


def _neck(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The region under the jaw, widening downwards to the image bottom."""
    jaw = landmarks[list(regions.JAW)]
    size = regions.face_size(landmarks)
    bottom = shape[0] + size
    left, right = jaw[0], jaw[-1]
    corners = np.array([[right[0] + 0.25 * size, bottom], [left[0] - 0.25 * size, bottom]])
    return fill_polygons(shape, [np.concatenate([jaw, corners])])


def _head_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An ellipse around the head large enough for voluminous hair, reaching down to the shoulders."""
    center = regions.face_center(landmarks)
    size = regions.face_size(landmarks)
    canvas = np.zeros(shape, np.uint8)
    axes = (int(0.95 * size), int(1.05 * size))
    angle = np.degrees(np.arctan2(*(landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE])[::-1]))
    cv2.ellipse(canvas, (int(center[0]), int(center[1] - 0.2 * size)), axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    # Below the mouth only a band beside the cheeks can be hair (long hair); wider is shoulders.
    mouth_y = int(landmarks[list(regions.LIPS_OUTER), 1].mean())
    left = int(landmarks[:, 0].min() - 0.15 * size)
    right = int(landmarks[:, 0].max() + 0.15 * size)
    canvas[max(mouth_y, 0) :, : max(left, 0)] = 0
    canvas[max(mouth_y, 0) :, max(right, 0) :] = 0
    return canvas.astype(np.float32) / 255.0


def _above_brows(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Everything above the line through the brows (in the face's own orientation)."""
    right, left = landmarks[regions.RIGHT_BROW[0]], landmarks[regions.LEFT_BROW[0]]
    direction = (left - right) / max(np.linalg.norm(left - right), 1e-6)
    normal = np.array([direction[1], -direction[0]])  # points up the face
    far = 4 * max(shape)
    polygon = np.array(
        [
            right - direction * far,
            left + direction * far,
            left + direction * far + normal * far,
            right - direction * far + normal * far,
        ]
    )
    return fill_polygons(shape, [polygon])


def hair_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray | None = None) -> np.ndarray:
    """Hair: the person around the head, minus the face oval and the neck."""
    shape = image.shape[:2]
    person = person_mask(image) if person is None else person
    size = regions.face_size(landmarks)
    face = _grow(_face_oval(landmarks, shape), 0.01 * size)
    mask = person * _head_region(landmarks, shape) * (1.0 - face) * (1.0 - _neck(landmarks, shape))
    # Bald scalps and high foreheads are skin, not hair: drop pixels of the face's own skin colour.
    mask *= 1.0 - skin_likeness(image, landmarks)
    return feather(np.clip(mask, 0, 1), 0.01 * size)


def skin_likeness(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """How close each pixel's colour is to the cheeks' (1 = skin colour, 0 = far from it)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    cheeks = np.zeros(image.shape[:2], np.uint8)
    size = regions.face_size(landmarks)
    for index in (regions.RIGHT_CHEEK, regions.LEFT_CHEEK, 151):
        x, y = landmarks[index]
        cv2.circle(cheeks, (int(x), int(y)), max(1, int(0.05 * size)), 1, -1)
    samples = lab[cheeks > 0]
    if len(samples) < 8:
        return np.zeros(image.shape[:2], np.float32)
    # Tight enough to keep light-brown hair (the astronaut's) while dropping a bald scalp (Biden's).
    mean, spread = samples.mean(axis=0), samples.std(axis=0) + np.array([5.0, 2.0, 2.0], np.float32)
    distance = np.sqrt((((lab - mean) / (2.0 * spread)) ** 2).sum(axis=-1))
    return np.clip(1.3 - distance, 0.0, 1.0).astype(np.float32)


def hat_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray | None = None) -> np.ndarray:
    """Hat: the person above the forehead, grown upwards so a taller hat fits."""
    shape = image.shape[:2]
    person = person_mask(image) if person is None else person
    size = regions.face_size(landmarks)
    face = _face_oval(landmarks, shape)
    top = person * _above_brows(landmarks, shape) * _head_region(landmarks, shape) * (1.0 - face)
    grow = max(1, int(0.25 * size))
    # Grow upwards only: a one-sided vertical kernel anchored at its bottom.
    kernel = np.ones((grow, 1), np.uint8)
    upward = cv2.dilate(top, kernel, anchor=(0, grow - 1))
    return feather(np.clip(np.maximum(top, upward * _above_brows(landmarks, shape)), 0, 1), 0.01 * size)


def glasses_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Glasses: eyes, brows, nose bridge and temples."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    index = list(
        regions.RIGHT_EYE
        + regions.LEFT_EYE
        + regions.RIGHT_BROW
        + regions.LEFT_BROW
        + (168, 6, 197, regions.RIGHT_TEMPLE, regions.LEFT_TEMPLE, 162, 389, 116, 345, 117, 346, 118, 347)
    )
    center = landmarks[index].mean(axis=0)
    points = center + (landmarks[index] - center) * 1.06
    # Temples: carry the outer points outwards to the ears, where the arms run.
    outer = np.array([landmarks[regions.RIGHT_FACE_SIDE], landmarks[regions.LEFT_FACE_SIDE]])
    mask = fill_polygons(shape, [_hull(np.concatenate([points, outer]))])
    mask *= 1.0 - _grow(fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]]), 0.05 * size)
    return feather(mask, 0.015 * size)


def makeup_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Makeup: lips, eyelids (between eye and brow) and cheeks."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    lips = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    lips *= 1.0 - fill_polygons(shape, [landmarks[list(regions.LIPS_INNER)]])
    lids = fill_polygons(
        shape,
        [
            _hull(landmarks[list(regions.RIGHT_EYE + regions.RIGHT_BROW)]),
            _hull(landmarks[list(regions.LEFT_EYE + regions.LEFT_BROW)]),
        ],
    )
    lids *= 1.0 - fill_polygons(shape, [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]])
    cheeks = np.zeros(shape, np.uint8)
    for index in (regions.RIGHT_CHEEK, regions.LEFT_CHEEK):
        x, y = landmarks[index]
        cv2.circle(cheeks, (int(x), int(y)), max(1, int(0.09 * size)), 255, -1, cv2.LINE_AA)
    cheeks = feather(cheeks.astype(np.float32) / 255.0, 0.06 * size) * 0.6
    return np.clip(np.maximum.reduce([feather(lips, 0.006 * size), feather(lids, 0.01 * size), cheeks]), 0, 1)


def beard_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Beard: the lower face from ear to ear below the nose, and a little under the jaw, outside the lips."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    jaw = landmarks[list(regions.JAW)]
    under_nose = landmarks[[411, 425, 436, 410, 0, 186, 216, 205, 187]][::-1]
    lower_face = fill_polygons(shape, [np.concatenate([jaw, under_nose[::-1]])])
    chin_drop = cv2.dilate(lower_face, np.ones((max(1, int(0.08 * size)), 1), np.uint8), anchor=(0, 0))
    mask = np.maximum(lower_face, chin_drop)
    mask *= 1.0 - _grow(fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]]), 0.01 * size)
    return feather(mask, 0.015 * size)


def attribute_mask(
    image: np.ndarray, landmarks: np.ndarray, kind: str, *, person: np.ndarray | None = None
) -> np.ndarray:
    """The automatic mask of one attribute kind on an image with known landmarks."""
    if kind == "hair":
        return hair_mask(image, landmarks, person=person)
    if kind == "hat":
        return hat_mask(image, landmarks, person=person)
    if kind == "glasses":
        return glasses_mask(image, landmarks)
    if kind == "makeup":
        return makeup_mask(image, landmarks)
    if kind == "beard":
        return beard_mask(image, landmarks)
    raise ValueError(f"attribute kind must be one of {ATTRIBUTE_KINDS}, got {kind!r}")


def combine_masks(automatic: np.ndarray, user: np.ndarray | None, *, mode: str = "add") -> np.ndarray:
    """Apply a user's mask to the automatic one: ``"add"`` unites them, ``"replace"`` keeps the user's alone."""
    if user is None:
        return automatic
    if user.shape != automatic.shape:
        raise ValueError(f"user mask is {user.shape[::-1]} but the image is {automatic.shape[::-1]}")
    if mode == "replace":
        return user.astype(np.float32)
    if mode == "add":
        return np.maximum(automatic, user).astype(np.float32)
    raise ValueError(f"mask mode must be 'add' or 'replace', got {mode!r}")


def expand_mask(
    mask: np.ndarray,
    landmarks: np.ndarray,
    *,
    growth: float = 0.08,
    rng: np.random.Generator | None = None,
    max_random_growth: float = 0.12,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Grow a mask by a fraction of the face size, guided by the landmarks.

    Growth is an ellipse dilation scaled to the face, so it is the same relative amount on any image size; the
    face's eyes, nose and mouth are never swallowed (they carry the identity the portrait must keep). With an
    ``rng`` a random extra growth is added (training's mask expansion); ``extra`` (e.g. a generated expansion
    mask from disk) is united with the result.
    """
    size = regions.face_size(landmarks)
    amount = growth + (rng.uniform(0.0, max_random_growth) if rng is not None else 0.0)
    grown = _grow((mask > 0.5).astype(np.float32), amount * size)
    shape = mask.shape
    core = fill_polygons(
        shape,
        [
            _hull(landmarks[list(regions.RIGHT_EYE + regions.RIGHT_BROW)]),
            _hull(landmarks[list(regions.LEFT_EYE + regions.LEFT_BROW)]),
            _hull(landmarks[list(regions.NOSE_BRIDGE + regions.NOSE_BOTTOM)]),
            landmarks[list(regions.LIPS_OUTER)],
        ],
    )
    grown = np.maximum(mask, grown * (1.0 - core))
    if extra is not None:
        grown = np.maximum(grown, extra.astype(np.float32))
    return np.clip(grown, 0, 1).astype(np.float32)
