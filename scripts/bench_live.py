"""Time live driving on the server: camera frames in, frames of the edited portrait out, one at a time.

Feeds the bundled talking-face clip, resized to the 320×240 the Live page asks of the camera, frame by frame to a
live session for Biden's hair on the astronaut (512² out), as the app's live page does (mirror the frame, animate,
encode the JPEG address the page shows), and reports the server time per frame (median and 95th percentile over
several passes) and how much of it is landmarks and the JPEG. What reaches a browser is measured by the Chromium
test (``tests/test_app_browser.py``, written to ``test-output/live.json``).

Run from the repository root: ``python scripts/bench_live.py [--passes 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_app.live import jpeg_data_url  # noqa: E402
from durian_core.api import build_request, live_animator, load_attribute  # noqa: E402
from durian_core.cache import default_cache  # noqa: E402
from durian_core.face.landmarks import FaceFollower  # noqa: E402
from durian_core.media import load_video  # noqa: E402

EXAMPLES = ROOT / "examples"


def camera_frames() -> np.ndarray:
    clip = load_video(EXAMPLES / "drivers" / "carphone.mp4").frames
    return np.stack([cv2.resize(frame, (320, 240), interpolation=cv2.INTER_AREA) for frame in clip])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(np.ceil(share * len(ordered))) - 1))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=3, help="times the 120-frame clip is fed through")
    arguments = parser.parse_args(argv)
    frames = camera_frames()
    request = build_request(
        EXAMPLES / "portraits" / "astronaut.jpg", [load_attribute(EXAMPLES / "portraits" / "biden.jpg", "hair")]
    )
    cache = default_cache()
    start = time.perf_counter()
    animator, _note = live_animator(request, cache=cache)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    animator, _note = live_animator(request, cache=cache)
    warm = time.perf_counter() - start
    per_frame = []
    clock = 0.0
    for _ in range(arguments.passes):
        animator.set_neutral()
        for frame in frames:
            clock += 1 / 30
            start = time.perf_counter()
            out = animator(frame[:, ::-1], clock)
            jpeg_data_url(out)
            per_frame.append(time.perf_counter() - start)
    animator.close()
    encode = []
    for _ in range(60):
        start = time.perf_counter()
        jpeg_data_url(out)
        encode.append(time.perf_counter() - start)
    landmarks = []
    with FaceFollower() as follow:
        for frame in frames:
            start = time.perf_counter()
            follow(frame)
            landmarks.append(time.perf_counter() - start)
    report = {
        "what": "live frame, 320×240 camera → 512² edited portrait (Biden's hair on the astronaut) as a JPEG address",
        "frames": len(per_frame),
        "output": list(out.shape),
        "median_ms": round(1000 * statistics.median(per_frame), 1),
        "p95_ms": round(1000 * percentile(per_frame, 0.95), 1),
        "landmarks_median_ms": round(1000 * statistics.median(landmarks), 1),
        "jpeg_median_ms": round(1000 * statistics.median(encode), 1),
        "frames_per_s_server": round(1 / statistics.median(per_frame), 1),
        "start_live_cold_s": round(cold, 2),
        "start_live_cached_s": round(warm, 3),
    }
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
