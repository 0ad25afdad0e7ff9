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


def bench_portrait(size: int) -> np.ndarray:
    """The astronaut portrait framed so that the engines' work crop around her face is ``size``² exactly."""
    from durian_core.face.landmarks import detect_landmarks
    from durian_core.face.regions import face_size
    from durian_core.media import load_image
    from durian_core.placement import CROP_FACES

    portrait = load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb
    framed = cv2.copyMakeBorder(portrait, 256, 256, 256, 256, cv2.BORDER_REFLECT)
    scale = size / (CROP_FACES * face_size(detect_landmarks(framed)))
    return cv2.resize(framed, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def bench_classical(*, size: int = 512, repeats: int = 5) -> dict:
    """Seconds per stage (medians over ``repeats`` runs) and the animator's frames per second at a ``size``² work
    crop.

    The animator's rate counts what runs per driving frame: driver landmarks, retargeting, and the render (the head
    layer's warp over the plate, and the mouth), one after another (``animator_fps``) and as generation runs them,
    tracking in a thread a few frames ahead of rendering (``animator_fps_pipelined``). Pasting back into a
    full-size photo and encoding are reported on their own (they depend on the output size, not the animation).
    The still-edit stages run on the 512² astronaut portrait.
    """
    from durian_core.api import build_request, preview
    from durian_core.cache import FeatureCache
    from durian_core.config import GenerationSettings
    from durian_core.engines.classical import ClassicalEngine
    from durian_core.engines.editor import edit_portrait
    from durian_core.face.motion import Retargeter
    from durian_core.face.tracking import track_stream
    from durian_core.media import VideoWriter, load_image, load_video
    from durian_core.prepare import prepare_inputs, resize_longest
    from durian_core.render import READ_AHEAD, read_ahead
    from durian_core.types import AttributeReference, Interpolation

    portrait = bench_portrait(size)
    still_portrait = load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb
    hair = load_image(EXAMPLES / "portraits" / "biden.jpg").rgb
    hair2 = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    driver = load_video(EXAMPLES / "drivers" / "carphone.mp4")
    # Driver frames at the benchmark size too, so landmark time is measured on size² input.
    frames = [resize_longest(frame, size) for frame in driver.frames]
    count = len(frames)
    settings = GenerationSettings(engine="classical", work_size=size)
    stages: dict[str, list[float]] = {
        "driver_landmarks_per_frame": [],
        "retarget_per_frame": [],
        "render_per_frame": [],
        "paste_back_per_frame": [],
        "encode_per_frame": [],
        "edit": [],
        "uncached_still": [],
        "cached_preview": [],
        "animator_pipelined_per_frame": [],
    }
    work = None
    with tempfile.TemporaryDirectory() as scratch:
        for repeat in range(repeats):
            cache = FeatureCache()
            engine = ClassicalEngine()
            # A new upload: one hair style on a 512² portrait, nothing cached (landmarks, masks, mattes, alignment,
            # edit).
            single = build_request(still_portrait, (AttributeReference(hair, "hair"),), settings=settings)
            seconds, _ = _timed(preview, single, cache=FeatureCache())
            stages["uncached_still"].append(seconds)
            request = build_request(
                portrait,
                (AttributeReference(hair, "hair"), AttributeReference(hair2, "hair")),
                interpolation=Interpolation(0, 1, 0.3),
                settings=settings,
            )
            prepared = prepare_inputs(request, cache=cache)
            work = prepared.portrait.shape[1::-1]
            seconds, still = _timed(edit_portrait, prepared)
            stages["edit"].append(seconds)
            render, _ = engine.renderer(prepared, settings, cache=cache)

            started = time.perf_counter()
            tracked = list(track_stream(frames))
            stages["driver_landmarks_per_frame"].append((time.perf_counter() - started) / count)
            retarget = Retargeter(prepared.portrait_landmarks)
            started = time.perf_counter()
            targets = [retarget(landmarks) for _, landmarks in tracked]
            stages["retarget_per_frame"].append((time.perf_counter() - started) / count)
            started = time.perf_counter()
            crops = [render(target, frame, landmarks) for target, (frame, landmarks) in zip(targets, tracked)]
            stages["render_per_frame"].append((time.perf_counter() - started) / count)
            seam = prepared.placement.seam()
            started = time.perf_counter()
            pasted = [prepared.paste(crop, seam=seam) for crop in crops[:30]]
            stages["paste_back_per_frame"].append((time.perf_counter() - started) / len(pasted))
            started = time.perf_counter()
            with VideoWriter(Path(scratch) / f"bench{repeat}.mp4", fps=driver.fps) as writer:
                for crop in crops:
                    writer.write(crop)
                writer.close()
            stages["encode_per_frame"].append((time.perf_counter() - started) / count)
            # A slider tweak on the 512² portrait: a new α once the page has shown one preview (both edits cached).
            tweak = build_request(
                portrait,
                request.attributes,
                interpolation=Interpolation(0, 1, 0.3 + 0.1 * (repeat + 1)),
                settings=settings,
            )
            seconds, _ = _timed(preview, tweak, cache=cache)
            stages["cached_preview"].append(seconds)
            # The animator as generation runs it: decoding and tracking a few frames ahead in a thread of their own.
            retarget = Retargeter(prepared.portrait_landmarks)
            started = time.perf_counter()
            for frame, landmarks in read_ahead(track_stream(frames), depth=READ_AHEAD):
                render(retarget(landmarks), frame, landmarks)
            stages["animator_pipelined_per_frame"].append((time.perf_counter() - started) / count)
    medians = {stage: statistics.median(values) for stage, values in stages.items()}
    per_frame = medians["driver_landmarks_per_frame"] + medians["retarget_per_frame"] + medians["render_per_frame"]
    return {
        "engine": "classical",
        "size": size,
        "work_crop": list(work) if work else None,
        "portrait": list(portrait.shape[1::-1]),
        "frames": count,
        "repeats": repeats,
        "threads": cv2.getNumThreads(),
        "seconds": {stage: round(value, 5) for stage, value in medians.items()},
        "animator_fps": round(1.0 / per_frame, 1),
        "animator_fps_pipelined": round(1.0 / medians["animator_pipelined_per_frame"], 1),
    }
