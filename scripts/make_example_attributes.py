"""Make the example attribute images in examples/attributes/ (and the group photo in examples/group/) from the
example portraits.

One openly licensed photo of real glasses and a real cap ships with a package (``grace_hopper.jpg``, copied from
matplotlib's sample data into examples/attributes/ as it is); none of makeup, beards or knit hats does, so those,
and a second pair of glasses, are drawn onto the public-domain portraits along their landmarks. The beanie runs off
the top of its image, as hats in close portraits often do. Run from the repository root:
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
from durian_core.face.masks import feather, fill_polygons  # noqa: E402
from durian_core.media import load_image, write_image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = ROOT / "examples" / "portraits"
ATTRIBUTES = ROOT / "examples" / "attributes"


def _points(values: np.ndarray) -> np.ndarray:
    return np.round(values * 16).astype(np.int32)


SUPERSAMPLE = 4  # strands, rims and stitches are drawn this much larger, then shrunk: anti-aliased thin lines


def _upscaled(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, None, fx=SUPERSAMPLE, fy=SUPERSAMPLE, interpolation=cv2.INTER_CUBIC)


def _downscaled(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return cv2.resize(image, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def _rounded_rectangle(centre: np.ndarray, half: np.ndarray, radius: float, count: int = 12) -> np.ndarray:
    """The outline of a rectangle with rounded corners (a spectacle rim), as points."""
    corners = [(1, 1, 0.0), (-1, 1, 0.5 * np.pi), (-1, -1, np.pi), (1, -1, 1.5 * np.pi)]
    points = []
    for sx, sy, start in corners:
        corner = centre + np.array([sx * (half[0] - radius), sy * (half[1] - radius)])
        for angle in np.linspace(start, start + 0.5 * np.pi, count):
            points.append(corner + radius * np.array([np.cos(angle), np.sin(angle)]))
    return np.array(points, np.float32)


def draw_glasses(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Black acetate frames with rounded rims, a bridge and arms, and lenses with a light amber tint and a faint
    reflection: the eyes show through."""
    size = regions.face_size(landmarks)
    shape = image.shape[:2]
    big = _upscaled(image).astype(np.float32)
    scale = SUPERSAMPLE
    thickness = max(2, int(round(0.024 * size * scale)))
    rims, lenses = [], np.zeros(big.shape[:2], np.float32)
    for eye in (regions.RIGHT_EYE, regions.LEFT_EYE):
        centre = landmarks[list(eye)].mean(axis=0) + np.array([0, 0.01 * size])
        rim = _rounded_rectangle(centre * scale, np.array([0.14, 0.095]) * size * scale, 0.045 * size * scale)
        rims.append(rim)
        lenses = np.maximum(lenses, fill_polygons(big.shape[:2], [rim]))
    # Lens tint: a colour filter (multiplicative), darker towards the top, with a diagonal sheen.
    height = big.shape[0]
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    tint = np.array([0.86, 0.8, 0.74], np.float32) * (0.94 + 0.06 * rows)
    tinted = big * tint
    ys, xs = np.mgrid[0 : big.shape[0], 0 : big.shape[1]].astype(np.float32)
    sheen = np.clip(1 - np.abs((xs + ys) % (0.9 * size * scale) - 0.3 * size * scale) / (0.05 * size * scale), 0, 1)
    tinted = tinted + 40 * sheen[..., None] * 0.5
    alpha = lenses[..., None]
    big = big * (1 - alpha) + tinted * alpha
    frame = (22, 20, 22)
    for rim in rims:
        cv2.polylines(big, [_points(rim)], True, frame, thickness, cv2.LINE_AA, shift=4)
        # A thin highlight along each rim's top edge: acetate is glossy.
        top = rim[rim[:, 1] < rim[:, 1].mean() - 0.06 * size * scale] - np.array([0, 0.3 * thickness])
        cv2.polylines(big, [_points(top)], False, (95, 92, 96), max(1, thickness // 5), cv2.LINE_AA, shift=4)
    right_rim, left_rim = rims
    bridge = np.array(
        [
            [right_rim[:, 0].max(), right_rim[:, 1].mean() - 0.02 * size * scale],
            [(right_rim[:, 0].max() + left_rim[:, 0].min()) / 2, right_rim[:, 1].mean() - 0.05 * size * scale],
            [left_rim[:, 0].min(), left_rim[:, 1].mean() - 0.02 * size * scale],
        ]
    )
    cv2.polylines(big, [_points(bridge)], False, frame, thickness, cv2.LINE_AA, shift=4)
    for rim, side, outer in ((right_rim, regions.RIGHT_FACE_SIDE, 0), (left_rim, regions.LEFT_FACE_SIDE, 1)):
        edge = rim[rim[:, 0].argmin()] if outer == 0 else rim[rim[:, 0].argmax()]
        arm = np.array([edge - [0, 0.04 * size * scale], (landmarks[side] + [0, -0.06 * size]) * scale])
        cv2.polylines(big, [_points(arm)], False, frame, max(2, int(thickness * 0.7)), cv2.LINE_AA, shift=4)
    return np.clip(_downscaled(big, shape), 0, 255).astype(np.uint8)


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
    """A dark red knitted beanie pulled down to the middle of the forehead: ribbed knit on the crown, a folded
    cuff knitted across, shaded as a dome, with a fuzzy yarn outline."""
    rng = np.random.default_rng(3)
    size = regions.face_size(landmarks)
    top = landmarks[regions.FOREHEAD_TOP]
    brows = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
    cuff_bottom = top[1] + 0.7 * (brows - top[1])
    cuff_top = cuff_bottom - 0.16 * size
    centre_x = float(landmarks[list(regions.FACE_OVAL), 0].mean())
    half_width = 0.6 * size
    dome_height = 0.46 * size
    height, width = image.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    u = (xs - centre_x) / half_width  # -1 .. 1 across the hat
    v = (cuff_top - ys) / dome_height  # 0 at the cuff's top, 1 at the crown
    wobble = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 2.0) * 0.04
    dome = (u**2 + np.maximum(v, 0) ** 2 < (1 + wobble) ** 2) & (v >= 0)
    cuff = (np.abs(u) < 1.02 + wobble) & (ys >= cuff_top) & (ys <= cuff_bottom)
    hat = (dome | cuff).astype(np.float32)
    # Ribs: columns of stitches that converge on the crown.
    across = np.arcsin(np.clip(u / np.sqrt(np.maximum(1 - np.clip(v, 0, 0.999) ** 2, 1e-3)), -1, 1))
    ribs = 0.5 + 0.5 * np.cos(across * 22)
    stitches = 0.5 + 0.5 * np.cos((ys / (0.022 * size)) * np.pi * 2 + np.abs(np.sin(across * 11)) * 3)
    shade_dome = 0.55 + 0.45 * np.sqrt(np.clip(1 - u**2, 0, 1)) * (0.7 + 0.3 * (1 - np.clip(v, 0, 1)))
    knit = np.where(dome, shade_dome * (0.78 + 0.14 * ribs + 0.08 * stitches), 1.0)
    # The cuff: a fold knitted across, darker in its crease.
    crease = np.clip(np.abs(ys - (cuff_top + cuff_bottom) / 2) / ((cuff_bottom - cuff_top) / 2), 0, 1)
    cuff_shade = (0.62 + 0.3 * np.sqrt(np.clip(1 - u**2, 0, 1))) * (
        0.85 + 0.15 * (0.5 + 0.5 * np.cos(xs / (0.018 * size) * np.pi * 2))
    )
    knit = np.where(cuff & ~dome | cuff, cuff_shade * (1 - 0.15 * crease**4), knit)
    yarn = 1 + 0.07 * cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 0.8)
    colour = np.array([150, 28, 40], np.float32) * (knit * yarn)[..., None]
    alpha = feather(hat, 1.2)[..., None]
    return np.clip(image * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def _beard_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where a full beard grows, as a smooth shape: from the sideburns down the cheeks to the mouth's corners, the
    moustache over the upper lip, the chin and a little under the jaw; the lips stay bare."""
    size = regions.face_size(landmarks)
    jaw = landmarks[list(regions.JAW)].astype(np.float64)
    centre = jaw.mean(axis=0)
    under = centre + (jaw - centre) * 1.08 + np.array([0, 0.05 * size])  # the beard hangs a little below the jaw
    up = np.array([0.0, -1.0])

    def cheek_line(ear: int, corner: int) -> np.ndarray:
        # From the sideburn at ear level down to the mouth's corner, bowing a little up the cheek.
        start, end = (
            landmarks[ear].astype(np.float64),
            landmarks[corner].astype(np.float64) + np.array([0, -0.02 * size]),
        )
        return np.array(
            [start + (end - start) * t + up * 0.06 * size * np.sin(np.pi * t) for t in np.linspace(0, 1, 9)]
        )

    right_cheek = cheek_line(regions.JAW[1], 61)
    left_cheek = cheek_line(regions.JAW[-2], 291)
    moustache = landmarks[[92, 165, 167, 164, 393, 391, 322]].astype(np.float64) + np.array([0, -0.01 * size])
    outline = np.concatenate([right_cheek, moustache[1:-1], left_cheek[::-1], under[::-1]])
    region = fill_polygons(shape, [outline])
    lips = fill_polygons(shape, [landmarks[list(regions.LIPS_OUTER)]])
    lips = cv2.dilate(lips, np.ones((3, 3), np.uint8))
    # A beard thins out over its edge instead of stopping at a line: a wide soft border, ragged along its length.
    soft = cv2.GaussianBlur(region, (0, 0), 0.03 * size)
    ragged = cv2.GaussianBlur(np.random.default_rng(1).normal(0, 1, shape).astype(np.float32), (0, 0), 0.02 * size)
    soft = np.clip(soft + 0.3 * soft * (1 - soft) * ragged / max(float(ragged.std()), 1e-6), 0, 1)
    return np.clip(soft * (1 - lips), 0, 1)


def draw_beard(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A full dark-brown beard and moustache of individual strands: thousands of short curved hairs that fall down
    and outwards from the chin, in several shades, over a shadow of stubble, thinning out at the edge."""
    rng = np.random.default_rng(0)
    size = regions.face_size(landmarks)
    shape = image.shape[:2]
    region = _beard_region(landmarks, shape)
    scale = SUPERSAMPLE
    big = _upscaled(image).astype(np.float32)
    density = cv2.resize(region, (big.shape[1], big.shape[0]))[..., None]
    big = big * (1 - 0.6 * density) + np.array([46, 34, 26], np.float32) * 0.6 * density
    nose = landmarks[regions.NOSE_TIP]
    mouth = landmarks[regions.UPPER_LIP_INNER]
    ys, xs = np.nonzero(region > 0.05)
    weights = region[ys, xs] ** 2
    picks = rng.choice(len(xs), size=int(len(xs) * 2.2), p=weights / weights.sum())
    for index in picks:
        start = np.array([xs[index], ys[index]], np.float32) + rng.uniform(-0.5, 0.5, 2)
        outward = (start[0] - nose[0]) / (0.5 * size)
        direction = np.array([0.45 * outward + rng.normal(0, 0.18), 1.0])
        if start[1] < mouth[1]:  # moustache hairs sweep out over the lip
            direction = np.array([1.1 * np.sign(start[0] - nose[0]) + rng.normal(0, 0.25), 0.8])
        direction /= np.linalg.norm(direction)
        length = rng.uniform(0.025, 0.05) * size
        bend = rng.normal(0, 0.3)
        normal = np.array([-direction[1], direction[0]])
        points = [
            (start + direction * length * t + normal * bend * length * t * t) * scale for t in (0, 0.33, 0.66, 1)
        ]
        shade = rng.choice([0.55, 0.8, 1.0, 1.3, 1.9], p=[0.25, 0.3, 0.25, 0.14, 0.06])
        colour = tuple(float(c) for c in np.clip(np.array([62, 44, 31]) * shade, 0, 255))
        cv2.polylines(big, [_points(np.array(points))], False, colour, 2, cv2.LINE_AA, shift=4)
    return np.clip(_downscaled(big, shape), 0, 255).astype(np.uint8)


def make_group() -> np.ndarray:
    """A 1280×886 "group photo" of the three portraits at three sizes, for choosing one face of several: Obama
    (largest, face 0), Biden (face 1) and the astronaut (face 2), side by side on a soft grey backdrop."""
    canvas = np.full((886, 1280, 3), 168, np.uint8)
    canvas[:] = np.linspace(150, 205, 886, dtype=np.float32)[:, None, None].astype(np.uint8)
    placements = (("biden", 420, 20), ("obama", 520, 400), ("astronaut", 380, 890))
    for name, side, left in placements:
        image = load_image(PORTRAITS / f"{name}.jpg").rgb
        tile = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
        top = 886 - side
        # Feathered edges, so the tiles sit on the backdrop instead of being cut out of it.
        ramp = np.minimum(np.arange(side) / 24.0, 1.0)
        alpha = np.minimum.outer(np.minimum(ramp, ramp[::-1]), np.minimum(ramp, ramp[::-1]))[..., None]
        region = canvas[top:, left : left + side].astype(np.float32)
        canvas[top:, left : left + side] = np.clip(tile * alpha + region * (1 - alpha), 0, 255).astype(np.uint8)
    return canvas


def drawn_mask(drawn: np.ndarray, original: np.ndarray) -> np.ndarray:
    """A hand-made-looking mask of what was drawn: white where the drawing changed the portrait, hard-edged and
    without specks (the README's ``--mask`` example uses the hat's)."""
    changed = (np.abs(drawn.astype(np.int16) - original.astype(np.int16)).max(axis=-1) > 24).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, kernel)
    return cv2.morphologyEx(changed, cv2.MORPH_CLOSE, kernel) * 255


def main() -> None:
    ATTRIBUTES.mkdir(parents=True, exist_ok=True)
    for name, source, draw in (
        ("glasses", "obama", draw_glasses),
        ("makeup", "biden", draw_makeup),
        ("hat", "obama", draw_hat),
        ("beard", "biden", draw_beard),
    ):
        image = load_image(PORTRAITS / f"{source}.jpg").rgb
        drawn = draw(image, detect_landmarks(image))
        write_image(drawn, ATTRIBUTES / f"{name}_{source}.png")
        if name == "hat":
            write_image(drawn_mask(drawn, image), ATTRIBUTES / f"{name}_{source}_mask.png")
    group = ROOT / "examples" / "group"
    group.mkdir(exist_ok=True)
    write_image(make_group(), group / "group.jpg")


if __name__ == "__main__":
    main()
