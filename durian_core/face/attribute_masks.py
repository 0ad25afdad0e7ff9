"""The automatic mask of each attribute kind (:func:`attribute_mask`), and those of hats, glasses, makeup and beards.

Glasses and makeup are polygons over the landmarks' regions; a hat is the person above the forehead and a beard the
lower face's hair, both re-decided by colour (GrabCut) and given a soft matte. Hair's mask, the drawing primitives
and the person segmentation they share live in :mod:`durian_core.face.masks`. Masks are float32 H×W in [0, 1].
"""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.config import ATTRIBUTE_KINDS
from durian_core.face import regions
from durian_core.face.masks import (
    _above_line,
    _brows,
    _disc,
    _grow,
    _hull,
    face_oval,
    feather,
    fill_polygons,
    hair_mask,
    person_mask,
    skin_likeness,
)
from durian_core.face.matting import alpha_matte, grabcut_refine, keep_connected, trimap


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
    return _above_line(landmarks, shape, regions.RIGHT_BROW[0], regions.LEFT_BROW[0])


UPPER_SKIN_SAMPLES = (151, 9, 6, 197)
"""The forehead and the nose's bridge: skin even under a full beard."""


def hat_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray | None = None) -> np.ndarray:
    """Hat: the person above the forehead, grown upwards so a taller hat fits, then re-decided by colour (GrabCut)
    with the brows, the face below them and skin-coloured forehead as sure background, and a soft matte edge."""
    shape = image.shape[:2]
    person = person_mask(image) if person is None else person
    size = regions.face_size(landmarks)
    face = face_oval(landmarks, shape)
    above = _above_brows(landmarks, shape)
    top = person * above * _head_region(landmarks, shape) * (1.0 - face)
    grow = max(1, int(0.25 * size))
    # Grow upwards only: a one-sided vertical kernel anchored at its bottom.
    kernel = np.ones((grow, 1), np.uint8)
    upward = cv2.dilate(top, kernel, anchor=(0, grow - 1))
    candidate = np.maximum(top, upward * above) * (1.0 - skin_likeness(image, landmarks))
    # The brim may come down the forehead, but never over the brows: the other person's brows are not the hat.
    brows = _grow(_brows(landmarks, shape), 0.04 * size) > 0.5
    below_brows = face * (1.0 - _above_line(landmarks, shape, regions.RIGHT_BROW[0], regions.LEFT_BROW[0]))
    crown = _above_line(landmarks, shape, regions.RIGHT_TEMPLE, regions.LEFT_TEMPLE, raise_by=0.25)
    # Segmentation is unsure of hats (half of this one's pixels are a red hat before a red curtain): the crown's
    # likelier half is the seed, well inside it.
    seed = (candidate > 0.45) & (crown > 0.5)
    sure_hat = cv2.erode(seed.astype(np.uint8), _disc(0.02 * size)) > 0
    sure_not = brows | (below_brows > 0.5) | (_neck(landmarks, shape) > 0.5) | _beside_hat(person, landmarks, shape)
    hat = grabcut_refine(image, candidate, sure_foreground=sure_hat & ~sure_not, sure_background=sure_not)
    hat = keep_connected(hat, sure_hat)
    matte = alpha_matte(image, trimap(hat, max(1.0, 0.015 * size)))
    # What the person segmentation is sure is background stays behind, whatever its colour (a white star of a flag
    # against a white crown).
    return (matte * ~brows * np.clip(person / 0.25, 0.0, 1.0)).astype(np.float32)


def _beside_hat(person: np.ndarray, landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """What is surely not the hat (bool): the background the person segmentation is sure of, away from the
    person's outline (it gives GrabCut the background's colours: a window, a curtain, a flag), and beside the face
    below the brows, where the wearer's own hair hangs from under the hat."""
    size = regions.face_size(landmarks)
    background = cv2.erode((person < 0.05).astype(np.uint8), _disc(0.03 * size)) > 0
    below = _above_line(landmarks, shape, regions.RIGHT_BROW[0], regions.LEFT_BROW[0]) < 0.5
    return background | (below & (_grow(face_oval(landmarks, shape), 0.02 * size) < 0.5))


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
        # Down the cheeks under the eyes: large lenses reach there.
        + (123, 352, 50, 280, 101, 330, 100, 329)
    )
    center = landmarks[index].mean(axis=0)
    points = center + (landmarks[index] - center) * 1.16  # room for thick rims above the brows and below the eyes
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
    mask = np.maximum.reduce([feather(lips, 0.006 * size), feather(lids, 0.01 * size), cheeks])
    # The makeup's own colour is read on these pixels only (the mouth's line itself is lip).
    return np.clip(mask * makeup_region(image, landmarks, mouth_margin=0.0), 0, 1).astype(np.float32)


def makeup_region(image: np.ndarray, landmarks: np.ndarray, *, mouth_margin: float = 0.012) -> np.ndarray:
    """Where makeup may go on a face (float32 H×W in [0, 1]): its skin and its lips' own pixels. Never the mouth's
    opening (the inner lip line, grown by ``mouth_margin`` face sizes for the line's error and resampling), nor
    anything inside the outer lip line coloured like teeth (light and less red than the lips) or the dark of an open
    mouth, nor the eyes with their lashes, nor the brows."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    outer = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    inner = _grow(fill_polygons(shape, [landmarks[list(regions.LIPS_INNER)]]), mouth_margin * size)
    eyes = _grow(
        fill_polygons(shape, [landmarks[list(regions.RIGHT_EYE)], landmarks[list(regions.LEFT_EYE)]]), 0.012 * size
    )
    brows = _grow(_brows(landmarks, shape), 0.008 * size)
    allowed = (1.0 - inner) * (1.0 - eyes) * (1.0 - brows)
    band = (outer > 0.5) & (inner < 0.5)
    if band.sum() >= 16:
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
        lip_lightness, lip_red = np.median(lab[band][:, :2], axis=0)
        # Teeth are lighter and less red than the lips around them; the mouth's inside is far darker.
        lighter = np.clip((lab[..., 0] - lip_lightness - 6.0) / 12.0, 0.0, 1.0)
        paler = np.clip((lip_red - lab[..., 1] - 2.0) / 6.0, 0.0, 1.0)
        darker = np.clip((0.6 * lip_lightness - lab[..., 0]) / (0.15 * lip_lightness + 1.0), 0.0, 1.0)
        inside_mouth = np.maximum(lighter * paler, darker) * (outer > 0.01)
        allowed *= 1.0 - _grow(inside_mouth, 0.004 * size)
    return allowed.astype(np.float32)


def _has_beard(image: np.ndarray, landmarks: np.ndarray, lower_face: np.ndarray) -> bool:
    """Whether the lower face is covered by hair: far darker than the forehead and nose (a beard's median lightness
    is about a third of the skin's, a shadowed chin's three quarters), or of another hue."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    size = regions.face_size(landmarks)
    upper = np.zeros(image.shape[:2], np.uint8)
    for index in UPPER_SKIN_SAMPLES:
        x, y = landmarks[index]
        cv2.circle(upper, (int(x), int(y)), max(1, int(0.05 * size)), 1, -1)
    if upper.sum() < 8 or lower_face.sum() < 8:
        return False
    skin, lower = np.median(lab[upper > 0], axis=0), np.median(lab[lower_face], axis=0)
    return bool(lower[0] < 0.65 * skin[0] or np.linalg.norm(lower[1:] - skin[1:]) > 12.0)


def beard_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray | None = None) -> np.ndarray:
    """Beard: hair on the lower face from ear to ear below the nose and hanging below the jaw, outside the lips.

    The region comes from the landmarks; what in it is beard is decided by colour (not the face's skin, then
    GrabCut from the surest beard pixels), so a clean-shaven face has no beard and a long beard is not cut at the
    jaw."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    jaw = landmarks[list(regions.JAW)]
    # Up to the nostrils, so a moustache is in it (along the upper lip, the region left it out), and up the cheeks
    # beside the nose.
    under_nose = landmarks[[411, 425, 426, 327, 2, 98, 206, 205, 187]]
    lower_face = fill_polygons(shape, [np.concatenate([jaw, under_nose])])
    drop = max(1, int(0.22 * size))
    # Grow downwards only: a one-sided vertical kernel anchored at its bottom reaches below the jaw.
    chin_drop = cv2.dilate(lower_face, np.ones((drop, 1), np.uint8), anchor=(0, drop - 1))
    person = person_mask(image) if person is None else person
    lips = _grow(fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]]), 0.01 * size)
    region = np.maximum(lower_face, chin_drop * person) * (1.0 - lips)
    candidate = region * (1.0 - skin_likeness(image, landmarks, samples=UPPER_SKIN_SAMPLES))
    core = cv2.erode((lower_face > 0.5).astype(np.uint8), _disc(0.03 * size)) > 0
    sure_beard = cv2.erode(((candidate > 0.75) & core).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if sure_beard.sum() < 0.03 * max(core.sum(), 1) or not _has_beard(image, landmarks, core):
        return np.zeros(shape, np.float32)  # clean-shaven: shadows and stubble are the face's own
    sure_not = (lips > 0.5) | (person < 0.2) | (region < 0.05)
    beard = grabcut_refine(image, candidate, sure_foreground=sure_beard, sure_background=sure_not)
    beard = keep_connected(beard, sure_beard)
    # A wide band: a beard thins out over its edge, strand by strand, and the matte can follow the strands.
    matte = alpha_matte(image, trimap(beard, max(1.0, 0.035 * size))) * (1.0 - lips)
    # Strands stay where the beard is around them; a lone dark pixel out in the band (a lip's corner, a crease)
    # would be carried onto the portrait as a speck.
    side = 2 * max(1, int(round(0.015 * size))) + 1
    support = cv2.blur(matte, (side, side))
    return (matte * np.clip(support / 0.25, 0.0, 1.0)).astype(np.float32)


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
        return beard_mask(image, landmarks, person=person)
    raise ValueError(f"attribute kind must be one of {ATTRIBUTE_KINDS}, got {kind!r}")
