"""Measure what glasses and makeup do to the eyes, the frames' ring and the teeth, on the example portraits and on
variants of them (mirrored, scaled, recoloured), as a check on faces the editor was not tuned on.

* Glasses (the Grace Hopper photo's, by default): the share of a ring around each eye that changes (the frames are
  there) and how much each eye itself changes on average (the eyes stay the portrait's).
* Makeup (the example makeup, by default) on the portraits that show their teeth: how much the teeth inside the
  inner lip line change on average, and the share of them that change by more than 30.

Run from the repository root: ``python scripts/measure_attribute_kinds.py [--glasses IMAGE] [--makeup IMAGE]``;
prints one JSON line per portrait and a summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from durian_core.api import build_request, generate  # noqa: E402
from durian_core.cache import FeatureCache  # noqa: E402
from durian_core.config import GenerationSettings  # noqa: E402
from durian_core.errors import DurianInputError  # noqa: E402
from durian_core.face import regions  # noqa: E402
from durian_core.face.landmarks import detect_landmarks  # noqa: E402
from durian_core.face.masks import fill_polygons  # noqa: E402
from durian_core.media import load_image  # noqa: E402
from durian_core.types import AttributeReference  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = ROOT / "examples" / "portraits"
RING = (0.02, 0.12)  # the ring around an eye: from this far outside its contour to this far (face sizes)
CHANGED = 20  # a pixel "changes" when a channel moves by more than this


def variants(image: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """The image and variants a held-out set might hold: mirrored, smaller and larger, warmer, darker, greyer."""
    yield "", image
    yield "mirrored", np.ascontiguousarray(image[:, ::-1])
    height, width = image.shape[:2]
    yield "small", cv2.resize(image, (width * 3 // 5, height * 3 // 5), interpolation=cv2.INTER_AREA)
    yield "large", cv2.resize(image, (width * 3 // 2, height * 3 // 2), interpolation=cv2.INTER_CUBIC)
    warm = image.astype(np.float32) * np.array([1.08, 1.0, 0.85], np.float32)
    yield "warm", np.clip(warm, 0, 255).astype(np.uint8)
    yield "dark", np.clip(255.0 * (image / 255.0) ** 1.5, 0, 255).astype(np.uint8)
    grey = image.astype(np.float32).mean(axis=-1, keepdims=True)
    yield "faded", np.clip(0.5 * image + 0.5 * grey, 0, 255).astype(np.uint8)


def edit(portrait: np.ndarray, attribute: np.ndarray, kind: str, cache: FeatureCache) -> np.ndarray:
    settings = GenerationSettings(engine="classical", output_size=max(portrait.shape[:2]))
    request = build_request(portrait, [AttributeReference(attribute, kind)], settings=settings)
    return generate(request, cache=cache).still


def glasses_figures(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> dict:
    size = regions.face_size(landmarks)
    changed = np.abs(after.astype(np.int16) - before.astype(np.int16)).max(axis=-1) > CHANGED
    figures = {}
    for side, loop in (("right", regions.RIGHT_EYE), ("left", regions.LEFT_EYE)):
        eye = fill_polygons(before.shape[:2], [landmarks[list(loop)]]) > 0.5
        grow = lambda mask, amount: cv2.dilate(  # noqa: E731
            mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(amount) + 1,) * 2)
        )
        ring = (grow(eye, RING[1] * size) > 0) & ~(grow(eye, RING[0] * size) > 0)
        figures[f"{side}_ring_changed"] = round(float(changed[ring].mean()), 3)
        figures[f"{side}_eye_change"] = round(float(np.abs(after[eye].astype(float) - before[eye]).mean()), 1)
    return figures


def teeth_figures(before: np.ndarray, after: np.ndarray, landmarks: np.ndarray) -> dict | None:
    inside = fill_polygons(before.shape[:2], [landmarks[list(regions.LIPS_INNER)]]) > 0.5
    if inside.sum() < 30:
        return None
    lightness = cv2.cvtColor(before, cv2.COLOR_RGB2LAB)[..., 0]
    if np.percentile(lightness[inside], 75) < 120:  # a dark mouth: no teeth show
        return None
    difference = np.abs(after[inside].astype(np.int16) - before[inside].astype(np.int16))
    return {
        "teeth_mean_change": round(float(difference.mean()), 2),
        "teeth_over_30": round(float((difference.max(axis=-1) > 30).mean()), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glasses", default=str(ROOT / "examples" / "attributes" / "grace_hopper.jpg"))
    parser.add_argument("--makeup", default=str(ROOT / "examples" / "attributes" / "makeup_biden.png"))
    args = parser.parse_args()
    glasses, makeup = load_image(args.glasses).rgb, load_image(args.makeup).rgb
    cache = FeatureCache(512 << 20)
    rings, eyes, teeth_mean, teeth_over = [], [], [], []
    for path in sorted(PORTRAITS.glob("*.jpg")):
        for variant, portrait in variants(load_image(path).rgb):
            try:
                landmarks = detect_landmarks(portrait)
            except DurianInputError:
                continue
            row = {"portrait": f"{path.stem} {variant}".strip()}
            row.update(glasses_figures(portrait, edit(portrait, glasses, "glasses", cache), landmarks))
            rings += [row["right_ring_changed"], row["left_ring_changed"]]
            eyes += [row["right_eye_change"], row["left_eye_change"]]
            teeth = teeth_figures(portrait, edit(portrait, makeup, "makeup", cache), landmarks)
            if teeth is not None:
                row.update(teeth)
                teeth_mean.append(teeth["teeth_mean_change"])
                teeth_over.append(teeth["teeth_over_30"])
            sys.stdout.write(json.dumps(row) + "\n")
            sys.stdout.flush()
    summary = {
        "ring_changed_min": min(rings),
        "eye_change_max": max(eyes),
        "teeth_mean_change_max": max(teeth_mean, default=None),
        "teeth_over_30_max": max(teeth_over, default=None),
        "smiling_portraits": len(teeth_mean),
    }
    sys.stdout.write(json.dumps({"summary": summary}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
