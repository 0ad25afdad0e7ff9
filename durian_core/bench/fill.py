"""Fill benchmark with ground truth: regions cut out of real photos where hair removal leaves holes (the top of the
forehead under a fringe, a cheek's outer strip under hanging hair, the background around the head), refilled by the
previous fill and the current one in one run, and compared with what was there.

Per case and fill, inside the hole against the real pixels: ΔE2000 (mean), PSNR, and the tone, the ΔE2000 of the
fill's mean colour (a patch pinker or paler than the skin around it); the seam, the ΔE76 between the mean colours
just inside and just outside the hole's edge, next to the same measure on the real photo (what an edge without a
seam scores); and the grain and the texture, the strength of the fill's finest detail (under 2 pixels) and of its
detail up to 8 pixels, each over the real photo's (1: as textured as the photo, 0: a blur). Backgrounds are also
filled by shift-map inpainting (opencv-contrib), a patch-based fill, at the size that fits in about a second.

Run: ``python -m durian_core.bench.fill [--sheet fill.png]`` (JSON on stdout).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass(frozen=True, eq=False)
class FillCase:
    """One hole cut into a real photo: what the fill sees and what was there."""

    name: str  # "<image>/<region>"
    kind: str  # "skin" or "background"
    image: np.ndarray  # RGB uint8, the real photo
    hole: np.ndarray  # bool H×W, the pixels to refill
    known: np.ndarray  # bool H×W, the pixels the fill may draw from
    previous_known: np.ndarray  # bool H×W, the same as the previous fill was given them
    texture: np.ndarray  # bool H×W, where skin fills may read the skin's grain (skin cases)
    size: float  # the face's size in pixels


def _photos() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The bundled portraits and the group photo's three faces, each as a work crop with its landmarks."""
    from skimage import data

    from durian_core.face.landmarks import detect_faces, detect_landmarks
    from durian_core.media import load_image
    from durian_core.placement import work_crop

    photos = {"astronaut": data.astronaut()}
    for name in ("obama", "biden"):
        photos[name] = load_image(EXAMPLES / "portraits" / f"{name}.jpg").rgb
    found = {name: (image, detect_landmarks(image)) for name, image in photos.items()}
    group = load_image(EXAMPLES / "group" / "group.jpg").rgb
    for index, landmarks in enumerate(detect_faces(group)):
        placement = work_crop(landmarks, group.shape[1::-1], work_size=512)
        found[f"group{index}"] = (placement.cut(group), placement.to_work(landmarks))
    return found


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def fill_cases() -> list[FillCase]:
    """Per photo: the forehead's skin (down to 0.06 face sizes above the brows), one cheek's outer strip (a
    tenth of a face size wide, between the eyes and the mouth), and the background in a ring around the head (a
    tenth to a third of a face size off the skull), each where the photo shows skin or background throughout."""
    from durian_core.face import regions
    from durian_core.face.fill import _skin_texture, forehead_skin, skull_region
    from durian_core.face.masks import face_oval, person_mask, skin_likeness

    cases = []
    for name, (image, landmarks) in _photos().items():
        shape = image.shape[:2]
        size = regions.face_size(landmarks)
        rows, columns = np.mgrid[: shape[0], : shape[1]]
        face = face_oval(landmarks, shape) > 0.5
        likeness = skin_likeness(image, landmarks)
        skin_like = likeness > 0.5
        brows = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
        inner_face = cv2.erode(face.astype(np.uint8), _disc(0.02 * size)) > 0
        solid_skin = cv2.morphologyEx(skin_like.astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.03 * size)) > 0
        forehead = inner_face & (rows < brows - 0.06 * size) & solid_skin
        inside = cv2.distanceTransform(face.astype(np.uint8), cv2.DIST_L2, 5)
        eyes = landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean()
        mouth = landmarks[list(regions.LIPS_OUTER), 1].mean()
        cheek = face & (inside < 0.1 * size) & (rows > eyes) & (rows < mouth)
        cheek &= columns < landmarks[regions.NOSE_TIP, 0]
        person = person_mask(image)
        background = cv2.erode((person < 0.2).astype(np.uint8), _disc(0.02 * size)) > 0
        to_skull = cv2.distanceTransform((skull_region(landmarks, shape) < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
        ring = background & (to_skull > 0.1 * size) & (to_skull < 0.33 * size) & (rows < eyes)
        for region, hole in (("forehead", forehead), ("cheek", cheek), ("background", ring)):
            if hole.sum() < 200:
                continue
            if region == "background":
                known = previous_known = (person < 0.3) & ~hole
                texture = known
            else:
                # As the editor gives them: the skin around the hole, all of it but what is unlike skin; the previous
                # fill took only what was surely skin.
                around = face & (rows < mouth) if region == "cheek" else forehead_skin(landmarks, shape)
                known = around & (likeness > 0.15) & ~hole
                previous_known = around & skin_like & ~hole
                texture = _skin_texture(landmarks, skin_like & ~hole, shape) & ~hole
            kind = "background" if region == "background" else "skin"
            cases.append(FillCase(f"{name}/{region}", kind, image, hole, known, previous_known, texture, size))
    return cases


def _fills() -> dict[str, dict[str, Callable[[FillCase, np.ndarray], np.ndarray]]]:
    """The previous and the current fill of each kind, as ``fill(case, holed_image) -> filled image``."""
    from durian_core.face.fill import heal_skin, plane_skin
    from durian_core.face.texture import continue_background, textured_background

    return {
        "skin": {
            "previous": lambda case, image: plane_skin(image, case.previous_known, case.hole, reach=0.5 * case.size),
            "current": lambda case, image: heal_skin(
                image, case.known, case.hole, size=case.size, texture=case.texture
            ),
        },
        "background": {
            "previous": lambda case, image: continue_background(image, case.previous_known, case.hole, size=case.size),
            "current": lambda case, image: textured_background(image, case.known, case.hole, size=case.size),
            "shift-map": _shift_map,
        },
    }


SHIFT_MAP_SIDE = 128
"""Shift-map inpainting runs on the hole's surroundings scaled to this many pixels on their longer side: about a
second each here (at 512² it takes minutes)."""


def _shift_map(case: FillCase, image: np.ndarray) -> np.ndarray:
    """The hole filled by opencv-contrib's shift-map inpainting of its surroundings, scaled down to
    :data:`SHIFT_MAP_SIDE` and back up (pixels neither known nor in the hole are filled too, and dropped)."""
    ys, xs = np.nonzero(case.hole)
    margin = int(0.4 * case.size)
    top, bottom = max(0, ys.min() - margin), min(image.shape[0], ys.max() + margin + 1)
    left, right = max(0, xs.min() - margin), min(image.shape[1], xs.max() + margin + 1)
    crop = image[top:bottom, left:right]
    scale = min(1.0, SHIFT_MAP_SIDE / max(crop.shape[:2]))
    small = (max(8, round(crop.shape[1] * scale)), max(8, round(crop.shape[0] * scale)))
    known = cv2.resize(case.known[top:bottom, left:right].astype(np.float32), small, interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(cv2.resize(crop, small, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2LAB)
    filled = np.zeros_like(lab)
    cv2.xphoto.inpaint(lab, (known > 0.99).astype(np.uint8), filled, cv2.xphoto.INPAINT_SHIFTMAP)
    back = cv2.resize(cv2.cvtColor(filled, cv2.COLOR_LAB2RGB), crop.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    out = image.copy()
    region = out[top:bottom, left:right]
    hole = case.hole[top:bottom, left:right]
    region[hole] = back[hole]
    return out


def _lab(image: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(image.astype(np.float64) / 255.0)


def _seam(image: np.ndarray, hole: np.ndarray, size: float) -> float:
    """ΔE76 between the mean colours just inside and just outside the hole's edge (over a fiftieth of a face size,
    averaged locally), along the edge."""
    width = max(2.0, 0.02 * size)
    to_outside = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 5)
    to_hole = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 5)
    inner = hole & (to_outside <= width)
    outer = ~hole & (to_hole <= width)
    lab = _lab(image).astype(np.float32)
    sigma = 2.0 * width

    def local(ring: np.ndarray) -> np.ndarray:
        weight = cv2.GaussianBlur(ring.astype(np.float32), (0, 0), sigma)
        return cv2.GaussianBlur(lab * ring[..., None], (0, 0), sigma) / np.maximum(weight, 1e-6)[..., None]

    edge = hole & (to_outside <= 1.5)
    return float(np.linalg.norm(local(inner) - local(outer), axis=-1)[edge].mean())


def _detail(image: np.ndarray, hole: np.ndarray, *, fine: float, coarse: float) -> float:
    """Mean strength of the grey image's detail between ``fine`` and ``coarse`` pixels (a band-pass) in ``hole``."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sharp = grey if fine <= 0 else cv2.GaussianBlur(grey, (0, 0), fine)
    return float(np.abs(sharp - cv2.GaussianBlur(grey, (0, 0), coarse))[hole].mean())


def score_fill(filled: np.ndarray, real: np.ndarray, hole: np.ndarray, size: float) -> dict[str, float]:
    """ΔE2000, PSNR and tone inside ``hole`` of ``filled`` against ``real``, the seam at its edge, and the grain and
    texture ratios."""
    from skimage.color import deltaE_ciede2000

    real_lab, filled_lab = _lab(real)[hole], _lab(filled)[hole]
    error = ((filled.astype(np.float64) - real.astype(np.float64))[hole] ** 2).mean()
    grain = [_detail(image, hole, fine=0.0, coarse=1.5) for image in (filled, real)]
    texture = [_detail(image, hole, fine=1.0, coarse=8.0) for image in (filled, real)]
    return {
        "delta_e2000": float(deltaE_ciede2000(real_lab, filled_lab).mean()),
        "psnr": float(10 * np.log10(255.0**2 / max(error, 1e-9))),
        "tone": float(deltaE_ciede2000(real_lab.mean(axis=0), filled_lab.mean(axis=0))),
        "seam": _seam(filled, hole, size),
        "grain": grain[0] / max(grain[1], 1e-6),
        "texture": texture[0] / max(texture[1], 1e-6),
    }


def bench_fill(*, sheet: str | Path | None = None) -> dict:
    """Every case of :func:`fill_cases` refilled by the previous and the current fill: the scores per case, their
    means per kind, the median seconds per fill, and (with ``sheet``) a PNG of each case: the photo, the hole, the
    previous fill and the current one, cropped around the hole."""
    fills = _fills()
    cases = fill_cases()
    report: dict = {"cases": {}, "means": {}, "seconds": {}}
    seconds: dict[str, list[float]] = {}
    rows = []
    for case in cases:
        holed = case.image.copy()
        holed[case.hole] = 0  # nothing of what was there can leak into a fill
        scores = {"real_seam": _seam(case.image, case.hole, case.size)}
        tiles = [case.image, np.where(case.hole[..., None], 255, case.image).astype(np.uint8)]
        for method, fill in fills[case.kind].items():
            start = time.perf_counter()
            filled = fill(case, holed)
            seconds.setdefault(f"{case.kind}/{method}", []).append(time.perf_counter() - start)
            scores[method] = score_fill(filled, case.image, case.hole, case.size)
            tiles.append(filled)
        report["cases"][case.name] = scores
        rows.append(_crop_row(tiles, case.hole))
    for kind in fills:
        named = [scores for case, scores in zip(cases, report["cases"].values()) if case.kind == kind]
        report["means"][kind] = {
            method: {key: float(np.mean([scores[method][key] for scores in named])) for key in named[0][method]}
            for method in fills[kind]
        }
        report["means"][kind]["real_seam"] = float(np.mean([scores["real_seam"] for scores in named]))
    report["seconds"] = {name: statistics.median(values) for name, values in seconds.items()}
    if sheet is not None:
        from durian_core.media import write_image

        width = max(row.shape[1] for row in rows)
        write_image(np.concatenate([cv2.copyMakeBorder(r, 0, 4, 0, width - r.shape[1], 0) for r in rows]), sheet)
        report["sheet"] = str(sheet)
    return report


def _crop_row(tiles: list[np.ndarray], hole: np.ndarray, *, height: int = 192) -> np.ndarray:
    """The tiles cropped to the hole's box (with a margin), side by side at ``height`` pixels."""
    ys, xs = np.nonzero(hole)
    margin = int(0.3 * max(ys.max() - ys.min(), xs.max() - xs.min())) + 8
    top, bottom = max(0, ys.min() - margin), min(hole.shape[0], ys.max() + margin)
    left, right = max(0, xs.min() - margin), min(hole.shape[1], xs.max() + margin)
    scale = height / (bottom - top)
    crops = [
        cv2.resize(tile[top:bottom, left:right], None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        for tile in tiles
    ]
    return np.concatenate([cv2.copyMakeBorder(crop, 0, 0, 0, 4, 0) for crop in crops], axis=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sheet", help="write a PNG of every case: photo, hole, then each fill")
    args = parser.parse_args(argv)
    sys.stdout.write(json.dumps(bench_fill(sheet=args.sheet), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
