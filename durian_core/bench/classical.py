"""Benchmark of the classical engine: per-stage medians on the bundled example portrait and driver."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _timed(function, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - start, value


def bench_classical(*, size: int = 512, repeats: int = 5) -> dict:
    """Seconds per stage (medians over ``repeats`` runs) and the animator's frames per second at ``size``².

    The animator's rate counts what runs per driving frame: driver landmarks, retargeting and warping.
    """
    from durian_core.api import build_request, preview
    from durian_core.cache import FeatureCache
    from durian_core.config import GenerationSettings
    from durian_core.engines.classical import ClassicalEngine
    from durian_core.engines.editor import edit_portrait
    from durian_core.face.landmarks import track_landmarks
    from durian_core.face.motion import retarget_motion
    from durian_core.media import load_image, load_video, write_video
    from durian_core.prepare import prepare_inputs, resize_longest
    from durian_core.types import AttributeReference, DrivingVideo, Interpolation

    portrait = load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb
    hair = load_image(EXAMPLES / "portraits" / "biden.jpg").rgb
    hair2 = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    driver = load_video(EXAMPLES / "drivers" / "carphone.mp4")
    # Driver frames at the benchmark size too, so landmark time is measured on size² input.
    frames = np.stack([resize_longest(frame, size) for frame in driver.frames])
    driver = DrivingVideo(frames, driver.fps)
    count = len(frames)
    settings = GenerationSettings(engine="classical", output_size=size)
    stages: dict[str, list[float]] = {
        "driver_landmarks_per_frame": [],
        "retarget_per_frame": [],
        "warp_per_frame": [],
        "edit": [],
        "uncached_still": [],
        "cached_preview": [],
        "encode_per_frame": [],
    }
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            cache = FeatureCache()
            engine = ClassicalEngine()
            request = build_request(
                portrait,
                (AttributeReference(hair, "hair"), AttributeReference(hair2, "hair")),
                driver=driver,
                interpolation=Interpolation(0, 1, 0.3),
                settings=settings,
            )
            # A new upload: one hair style on the portrait, nothing cached (landmarks, masks, mattes, alignment, edit).
            single = build_request(portrait, (AttributeReference(hair, "hair"),), settings=settings)
            seconds, _ = _timed(preview, single, cache=FeatureCache())
            stages["uncached_still"].append(seconds)
            prepared = prepare_inputs(request, cache=cache)
            seconds, tracks = _timed(track_landmarks, frames)
            stages["driver_landmarks_per_frame"].append(seconds / count)
            seconds, _ = _timed(retarget_motion, prepared.portrait_landmarks, tracks)
            stages["retarget_per_frame"].append(seconds / count)
            seconds, still = _timed(edit_portrait, prepared)
            stages["edit"].append(seconds)
            engine.mesh(prepared, cache=cache)  # built once per portrait, not per frame
            seconds, animated = _timed(engine.animate, still, prepared, cache=cache)
            stages["warp_per_frame"].append(seconds / count)
            # A slider tweak: a new α once the page has shown one preview (both single-attribute edits cached).
            preview(request, cache=cache)
            tweak = build_request(
                portrait,
                request.attributes,
                interpolation=Interpolation(0, 1, 0.3 + 0.1 * (repeat + 1)),
                settings=settings,
            )
            seconds, _ = _timed(preview, tweak, cache=cache)
            stages["cached_preview"].append(seconds)
            seconds, _ = _timed(write_video, animated, Path(scratch) / f"bench{repeat}.mp4", fps=driver.fps)
            stages["encode_per_frame"].append(seconds / count)
    medians = {stage: statistics.median(values) for stage, values in stages.items()}
    per_frame = medians["driver_landmarks_per_frame"] + medians["retarget_per_frame"] + medians["warp_per_frame"]
    return {
        "engine": "classical",
        "size": size,
        "frames": count,
        "repeats": repeats,
        "threads": cv2.getNumThreads(),
        "seconds": {stage: round(value, 5) for stage, value in medians.items()},
        "animator_fps": round(1.0 / per_frame, 1),
    }
