"""Benchmark of video portraits: the talking-face clip at ``size``² wearing each example attribute, and the mirror.

Each kind runs the whole generation as a user's ``generate --portrait clip.mp4`` does, streamed to an mp4, with a
fresh cache each time (nothing carried over from the run before). The frame rate is the streamed pass's (decoding,
tracking, wearing and encoding, the first two in a thread of their own); preparing the layers (and for hair the
survey of the clip) happens once per clip before it and is reported on its own. On a machine shared with other work
the wall-clock rates fall with its load, so the CPU time the whole generation takes per frame (this process and its
ffmpeg children, setup included) is reported too: it does not depend on what else runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from durian_core.bench.classical import EXAMPLES

KIND_EXAMPLES = {
    "glasses": EXAMPLES / "attributes" / "glasses_obama.png",
    "makeup": EXAMPLES / "attributes" / "makeup_biden.png",
    "beard": EXAMPLES / "attributes" / "beard_biden.png",
    "hat": EXAMPLES / "attributes" / "hat_obama.png",
    "hair": EXAMPLES / "portraits" / "biden.jpg",
}
"""The attribute each kind is timed with."""
MIRROR_SIDE = 320
"""The camera frame the mirror is timed on (what the live page asks of the camera)."""


def square_clip(target: Path, *, size: int) -> Path:
    """The bundled talking-face clip scaled so its shorter side is ``size``, cropped to ``size``² around its middle."""
    import imageio_ffmpeg

    source = EXAMPLES / "drivers" / "carphone.mp4"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source), "-an"]
    command += ["-vf", f"scale=-2:{size}:flags=bicubic,crop={size}:{size}", "-c:v", "libx264", "-crf", "16"]
    subprocess.run([*command, "-pix_fmt", "yuv420p", str(target)], check=True)
    return target


def _time_kind(clip: Path, kind: str, output: Path) -> dict[str, float]:
    """One generation of ``clip`` wearing ``kind``'s example: seconds per stage and the frames made."""
    from durian_core.api import build_request, generate, load_attribute
    from durian_core.cache import FeatureCache
    from durian_core.config import GenerationSettings

    start = time.perf_counter()
    request = build_request(
        clip, [load_attribute(KIND_EXAMPLES[kind], kind)], settings=GenerationSettings(engine="classical")
    )
    opened = time.perf_counter() - start
    cpu = _cpu_seconds()
    result = generate(request, cache=FeatureCache(), output=output)
    cpu = _cpu_seconds() - cpu
    timings = dict(result.timings)
    stream = timings["wear"] + timings.get("encode", 0.0)
    setup = opened + timings["prepare"] + timings.get("survey", 0.0) + timings["layers"]
    return {"frames": result.frame_count, "setup": setup, "stream": stream, "cpu": cpu}


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg's decoders and encoders)."""
    used = os.times()
    return used.user + used.system + used.children_user + used.children_system


def _time_wearer(clip: Path, kind: str) -> float:
    """Milliseconds a prepared wearer takes per frame (median over the clip), landmarks known: the part of a frame's
    cost that wearing adds to decoding, tracking and encoding."""
    from durian_core.api import build_request, load_attribute
    from durian_core.cache import FeatureCache
    from durian_core.config import GenerationSettings
    from durian_core.prepare import prepare_inputs
    from durian_core.tryon import reference_faces, survey_clip, track_portrait
    from durian_core.wear import Wearer

    cache = FeatureCache()
    request = build_request(
        clip, [load_attribute(KIND_EXAMPLES[kind], kind)], settings=GenerationSettings(engine="classical")
    )
    video = request.portrait_video
    prepared = prepare_inputs(request, cache=cache)
    chosen = reference_faces(video, cache)[0]
    old_hair = survey_clip(video, chosen, work_size=512, cache=cache) if kind == "hair" else None
    wearer = Wearer.build(prepared, old_hair=old_hair)
    seconds = []
    for item in track_portrait(video, chosen):
        start = time.perf_counter()
        wearer(item.frame, item.landmarks, index=item.index, visibility=item.visibility)
        seconds.append(time.perf_counter() - start)
    return 1000 * statistics.median(seconds)


def _time_mirror(clip: Path, *, repeats: int) -> dict[str, float]:
    """The mirror wearing the example glasses on the clip's frames at :data:`MIRROR_SIDE`²: server milliseconds per
    frame (median and 95th percentile over the frames after the first, medians over ``repeats``), and the first
    frame's, which prepares the layers."""
    from durian_core.api import build_request, load_attribute, mirror_animator
    from durian_core.config import GenerationSettings
    from durian_core.media import load_video

    frames = [
        cv2.resize(frame, (MIRROR_SIDE, MIRROR_SIDE), interpolation=cv2.INTER_AREA)
        for frame in load_video(clip).frames
    ]
    medians, tails, firsts = [], [], []
    for _ in range(repeats):
        request = build_request(
            frames[0],
            [load_attribute(KIND_EXAMPLES["glasses"], "glasses")],
            settings=GenerationSettings(engine="classical"),
        )
        mirror, _ = mirror_animator(request)
        seconds = []
        for index, frame in enumerate(frames):
            start = time.perf_counter()
            mirror(frame, timestamp=index / 30)
            seconds.append(time.perf_counter() - start)
        mirror.close()
        firsts.append(seconds[0])
        later = sorted(seconds[1:])
        medians.append(statistics.median(later))
        tails.append(later[int(np.ceil(0.95 * len(later))) - 1])
    return {
        "frame_ms": round(1000 * statistics.median(medians), 1),
        "frame_p95_ms": round(1000 * statistics.median(tails), 1),
        "first_frame_ms": round(1000 * statistics.median(firsts), 1),
        "frames_per_second": round(1.0 / statistics.median(medians), 1),
    }


def bench_video_portrait(*, size: int = 512, repeats: int = 5, kinds: tuple[str, ...] = tuple(KIND_EXAMPLES)) -> dict:
    """Per kind, medians over ``repeats`` runs: frames per second of the streamed pass, of the whole generation
    with its setup, the setup's seconds and the wearer's milliseconds per frame; and the mirror's timing."""
    report: dict = {"size": size, "repeats": repeats, "threads": cv2.getNumThreads(), "kinds": {}}
    with tempfile.TemporaryDirectory() as scratch:
        clip = square_clip(Path(scratch) / "clip.mp4", size=size)
        for kind in kinds:
            runs = [_time_kind(clip, kind, Path(scratch) / f"{kind}{repeat}.mp4") for repeat in range(repeats)]
            frames = runs[0]["frames"]
            stream = statistics.median(run["stream"] for run in runs)
            setup = statistics.median(run["setup"] for run in runs)
            total = statistics.median(run["stream"] + run["setup"] for run in runs)
            cpu = statistics.median(run["cpu"] for run in runs)
            report["kinds"][kind] = {
                "frames": frames,
                "frames_per_second": round(frames / stream, 1),
                "cpu_ms_per_frame": round(1000 * cpu / frames, 1),
                "frames_per_second_with_setup": round(frames / total, 1),
                "setup_seconds": round(setup, 2),
                "wear_ms_per_frame": round(_time_wearer(clip, kind), 2),
            }
        report["mirror"] = _time_mirror(clip, repeats=repeats)
    return report
