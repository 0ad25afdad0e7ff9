"""Make the example attribute images in examples/attributes/ from the example portraits.

No openly licensed photos of glasses, makeup, hats or beards are available offline, so the examples are drawn
onto the public-domain portraits along their landmarks. Run from the repository root:
``python scripts/make_example_attributes.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from durian_core.face import regions  # noqa: E402
from durian_core.face.landmarks import detect_landmarks  # noqa: E402
from durian_core.face.masks import beard_mask, feather, fill_polygons  # noqa: E402
from durian_core.media import load_image, write_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = ROOT / "examples" / "portraits"
ATTRIBUTES = ROOT / "examples" / "attributes"


def _points(values: np.ndarray) -> np.ndarray:
    return np.round(values * 16).astype(np.int32)


def draw_glasses(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Dark rectangular frames around both eyes, a bridge and arms to the temples."""
    out = image.copy()
    size = regions.face_size(landmarks)
    thickness = max(2, int(0.018 * size))
    centres = []
    for eye in (regions.RIGHT_EYE, regions.LEFT_EYE):
        points = landmarks[list(eye)]
        centre = points.mean(axis=0)
        half = np.array([0.16 * size, 0.09 * size])
        centres.append(centre)
        corners = np.array(
            [
                centre - half,
                [centre[0] + half[0], centre[1] - half[1]],
                centre + half,
                [centre[0] - half[0], centre[1] + half[1]],
            ]
        )
        lens = fill_polygons(image.shape[:2], [corners])[..., None] * 0.15
        out = (out * (1 - lens) + np.array([60, 70, 90]) * lens).astype(np.uint8)
        cv2.polylines(out, [_points(corners)], True, (20, 20, 25), thickness, cv2.LINE_AA, shift=4)
    bridge = np.array([centres[0] + [0.16 * size, -0.03 * size], centres[1] - [0.16 * size, 0.03 * size]])
    cv2.polylines(out, [_points(bridge)], False, (20, 20, 25), thickness, cv2.LINE_AA, shift=4)
    for centre, side, sign in ((centres[0], regions.RIGHT_FACE_SIDE, -1), (centres[1], regions.LEFT_FACE_SIDE, 1)):
        arm = np.array([centre + [sign * 0.16 * size, -0.05 * size], landmarks[side] + [0, -0.05 * size]])
        cv2.polylines(out, [_points(arm)], False, (20, 20, 25), thickness, cv2.LINE_AA, shift=4)
    return out


def draw_makeup(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Red lipstick, violet eyeshadow and pink blush."""
    size = regions.face_size(landmarks)
    shape = image.shape[:2]
    lips = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    lips *= 1 - fill_polygons(shape, [landmarks[list(regions.LIPS_INNER)]])
    lids = np.zeros(shape, np.float32)
    for eye in (regions.RIGHT_EYE, regions.LEFT_EYE):
        upper = landmarks[list(eye[8:])]
        lifted = upper + np.array([0, -0.06 * size])
        lids = np.maximum(lids, fill_polygons(shape, [np.concatenate([upper, lifted[::-1]])]))
    cheeks = np.zeros(shape, np.uint8)
    for index in (regions.RIGHT_CHEEK, regions.LEFT_CHEEK):
        cv2.circle(cheeks, tuple(int(v) for v in landmarks[index]), int(0.08 * size), 255, -1)
    out = image.astype(np.float32)
    for mask, colour, strength in (
        (feather(lips, 2), (190, 20, 45), 0.8),
        (feather(lids, 3), (120, 60, 160), 0.7),
        (feather(cheeks.astype(np.float32) / 255, 0.05 * size), (230, 90, 120), 0.4),
    ):
        alpha = mask[..., None] * strength
        out = out * (1 - alpha) + np.array(colour, np.float32) * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def draw_hat(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A dark red beanie over the top of the head."""
    out = image.copy()
    size = regions.face_size(landmarks)
    top = landmarks[regions.FOREHEAD_TOP]
    centre = (int(top[0]), int(top[1] + 0.1 * size))
    cv2.ellipse(out, centre, (int(0.55 * size), int(0.45 * size)), 0, 180, 360, (130, 25, 35), -1, cv2.LINE_AA)
    brim = np.array(
        [
            [top[0] - 0.57 * size, top[1] + 0.04 * size],
            [top[0] + 0.57 * size, top[1] + 0.04 * size],
            [top[0] + 0.57 * size, top[1] + 0.16 * size],
            [top[0] - 0.57 * size, top[1] + 0.16 * size],
        ]
    )
    cv2.fillPoly(out, [_points(brim)], (100, 18, 28), cv2.LINE_AA, shift=4)
    return out


def draw_beard(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A dark, textured full beard."""
    rng = np.random.default_rng(0)
    mask = beard_mask(image, landmarks)
    texture = rng.normal(0, 1, image.shape[:2]).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), 1.2)
    hair = np.clip(45 + 25 * texture, 0, 255)[..., None] * np.array([1.0, 0.8, 0.65])
    alpha = (mask * 0.9)[..., None]
    return np.clip(image * (1 - alpha) + hair * alpha, 0, 255).astype(np.uint8)


def main() -> None:
    ATTRIBUTES.mkdir(parents=True, exist_ok=True)
    for name, source, draw in (
        ("glasses", "obama", draw_glasses),
        ("makeup", "biden", draw_makeup),
        ("hat", "obama", draw_hat),
        ("beard", "biden", draw_beard),
    ):
        image = load_image(PORTRAITS / f"{source}.jpg").rgb
        write_image(draw(image, detect_landmarks(image)), ATTRIBUTES / f"{name}_{source}.png")


if __name__ == "__main__":
    main()
