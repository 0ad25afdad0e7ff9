"""Self-reenactment evaluation, as the paper evaluates: animate a video's first frame with the video's own motion
and compare with the real frames, beside the do-nothing baseline (the first frame repeated)."""

from __future__ import annotations

import numpy as np

from durian_core.config import GenerationSettings
from durian_core.metrics import video_metrics
from durian_core.types import DrivingVideo


def self_reenactment(
    video: str | DrivingVideo, *, engine: str = "classical", weights: str | None = None, max_seconds: float = 20.0
) -> dict:
    """Metrics of the engine and of the baseline on one video; frames compared at the video's own size."""
    from durian_core.api import build_request, generate
    from durian_core.media import load_video

    driver = load_video(video, max_seconds=max_seconds) if not isinstance(video, DrivingVideo) else video
    frames = driver.frames
    height, width = frames.shape[1:3]
    # Keep the video's own resolution so the comparison involves no resampling of the real frames.
    size = max(64, max(height, width) // 2 * 2)
    real = frames[:, : height // 2 * 2, : width // 2 * 2]
    settings = GenerationSettings(engine=engine, output_size=size, max_seconds=max_seconds)
    request = build_request(frames[0], (), driver=driver, settings=settings)
    result = generate(request, weights=weights)
    predicted = result.frames
    if predicted.shape != real.shape:
        import cv2

        size = real.shape[2:0:-1]
        predicted = np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in predicted])
    baseline = np.repeat(real[:1], len(real), axis=0)
    # Frame 0 is the input itself: leave it out of both scores.
    return {
        "video": str(video) if not isinstance(video, DrivingVideo) else "<frames>",
        "frames": int(len(real) - 1),
        "engine": result.engine,
        "engine_metrics": video_metrics(predicted[1:], real[1:]),
        "baseline_metrics": video_metrics(baseline[1:], real[1:]),
    }
