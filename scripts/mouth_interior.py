"""How an animated portrait's open mouth looks inside: the share of teeth-like and near-black pixels.

For each portrait (smiling ones with their teeth showing by default, and variants of them: mirrored, scaled down,
recoloured, cut from the group photo), the classical engine animates it with the driver, and in the frames where the
driver's mouth is widest (the top tenth) every pixel inside the output's inner-lip outline (the retargeted landmarks
the mesh draws the lips at) is counted: teeth-like (L* > 65 and chroma < 30) or near-black (L* < 20), pooled over
those frames. Also written: a strip of the widest frame's mouths per portrait, at three times their size.

Run from the repository root: ``python scripts/mouth_interior.py [--driving V] [--portrait IMAGE ...] [--sheet P]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_core.api import build_request  # noqa: E402
from durian_core.cache import FeatureCache  # noqa: E402
from durian_core.config import GenerationSettings  # noqa: E402
from durian_core.engines.classical import ClassicalEngine  # noqa: E402
from durian_core.face import regions  # noqa: E402
from durian_core.face.motion import mouth_opening  # noqa: E402
from durian_core.media import load_image, load_video  # noqa: E402
from durian_core.metrics import mouth_interior  # noqa: E402
from durian_core.prepare import prepare_inputs  # noqa: E402
from durian_core.types import DrivingVideo  # noqa: E402

EXAMPLES = ROOT / "examples"


def variants() -> dict[str, tuple[np.ndarray, int]]:
    """Smiling portraits that show their teeth, and variants of them: name → (image, face index)."""
    obama = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    astronaut = load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb
    group = load_image(EXAMPLES / "group" / "group.jpg").rgb
    # Warmer and darker, as another camera would take it.
    lab = cv2.cvtColor(obama, cv2.COLOR_RGB2LAB).astype(np.float32)
    lab[..., 0] *= 0.85
    lab[..., 2] += 8
    recoloured = cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return {
        "obama": (obama, 0),
        "obama_mirrored": (np.ascontiguousarray(obama[:, ::-1]), 0),
        "obama_small": (cv2.resize(obama, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA), 0),
        "obama_recoloured": (recoloured, 0),
        "astronaut": (astronaut, 0),
        "astronaut_mirrored": (np.ascontiguousarray(astronaut[:, ::-1]), 0),
        "group_obama": (group, 0),
        "group_astronaut": (group, 2),
    }


def mouth_crop(frame: np.ndarray, landmarks: np.ndarray, *, zoom: int = 3) -> np.ndarray:
    """The mouth and a margin around it, enlarged ``zoom`` times (nearest neighbour: the pixels as they are)."""
    lips = landmarks[list(regions.LIPS_OUTER)]
    size = regions.face_size(landmarks)
    x0, y0 = np.maximum((lips.min(axis=0) - 0.1 * size).astype(int), 0)
    x1, y1 = (lips.max(axis=0) + 0.1 * size).astype(int)
    crop = frame[y0:y1, x0:x1]
    crop = cv2.resize(crop, (zoom * crop.shape[1], zoom * crop.shape[0]), interpolation=cv2.INTER_NEAREST)
    return cv2.resize(crop, (240, int(240 * crop.shape[0] / max(crop.shape[1], 1))), interpolation=cv2.INTER_AREA)


def widest_frames(driver_landmarks: np.ndarray, top: float) -> np.ndarray:
    """The indices of the ``top`` share of frames in which the driver's mouth opens widest, widest first."""
    opening = mouth_opening(driver_landmarks)
    return np.argsort(opening)[::-1][: max(1, int(round(top * len(opening))))]


def measure(image: np.ndarray, face: int, driver, *, cache: FeatureCache, top: float) -> tuple[dict, np.ndarray]:
    """The shares over the driver's widest-mouth frames, and the mouth of the widest one."""
    settings = GenerationSettings(engine="classical", face_index=face)
    request = build_request(image, (), driver=DrivingVideo(driver.frames, driver.fps), settings=settings)
    prepared = prepare_inputs(request, cache=cache)
    render, _ = ClassicalEngine().renderer(prepared, settings, cache=cache)
    widest = widest_frames(prepared.driver_landmarks, top)
    totals = np.zeros(3, np.int64)
    for index in widest:
        frame = render(prepared.motion[index], prepared.driver_frames[index], prepared.driver_landmarks[index])
        totals += mouth_interior(frame, prepared.motion[index])
    index = widest[0]
    frame = render(prepared.motion[index], prepared.driver_frames[index], prepared.driver_landmarks[index])
    figures = {
        "mouth_pixels": int(totals[0]),
        "teeth_like": round(float(totals[1] / max(totals[0], 1)), 3),
        "near_black": round(float(totals[2] / max(totals[0], 1)), 3),
    }
    return figures, mouth_crop(frame, prepared.motion[index])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driving", default=str(EXAMPLES / "drivers" / "carphone.mp4"))
    parser.add_argument("--portrait", action="append", help="a portrait of your own (repeat); default: the variants")
    parser.add_argument("--top", type=float, default=0.1, help="the share of frames, widest mouth first")
    parser.add_argument("--sheet", help="write the widest frame's mouths side by side to this PNG")
    args = parser.parse_args()
    driver = load_video(args.driving)
    portraits = {Path(path).stem: (load_image(path).rgb, 0) for path in args.portrait} if args.portrait else variants()
    cache = FeatureCache()
    report, crops = {}, []
    for name, (image, face) in portraits.items():
        report[name], crop = measure(image, face, driver, cache=cache, top=args.top)
        crops.append(crop)
    report["mean"] = {
        key: round(float(np.mean([figures[key] for figures in report.values()])), 3)
        for key in ("teeth_like", "near_black")
    }
    if args.sheet:
        height = max(crop.shape[0] for crop in crops)
        padded = [cv2.copyMakeBorder(c, 0, height - c.shape[0], 0, 4, cv2.BORDER_CONSTANT) for c in crops]
        cv2.imwrite(args.sheet, cv2.cvtColor(np.hstack(padded), cv2.COLOR_RGB2BGR))
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
