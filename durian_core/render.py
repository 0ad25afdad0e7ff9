"""The render loop of an animation: decode → track → render → paste back → encode.

Engines that render frame by frame (``Engine.streams``, the classical engine) run streamed: the driver's frames are
decoded and tracked in a thread of their own a few frames ahead of rendering, and each finished frame goes to the
encoder, so a driver's length costs no memory. Engines that need the whole motion at once (the durian engine's
windows) get the driver's landmarks first, then their frames are pasted back and encoded one by one. Either way the
driver's landmarks come from the one tracker (:class:`~durian_core.face.tracking.LandmarkTracker`) and are kept
in the cache, so a second generation with the same driver (a new α, weight or multiplier) tracks nothing again.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.config import GenerationSettings
from durian_core.engines.base import Engine
from durian_core.errors import DurianInputError
from durian_core.face.motion import Retargeter, retarget_motion
from durian_core.face.tracking import FaceCount, track_landmarks, track_video
from durian_core.types import DrivingVideo, PreparedInputs, ProgressCallback, no_progress

READ_AHEAD = 8
"""Frames the decoding and tracking thread may run ahead of rendering: enough to keep both cores busy, few
enough that memory does not grow."""


@dataclass
class Animation:
    """What :func:`animate` made: the frames in memory (no output path given) or the path of the video written,
    how many frames, the seconds each stage took, and how many driving frames showed no face (when known)."""

    frames: np.ndarray | None
    path: Path | None
    frame_count: int
    timings: dict[str, float]
    faceless: FaceCount | None = None


def animate(
    engine: Engine,
    prepared: PreparedInputs,
    driver: DrivingVideo,
    settings: GenerationSettings,
    *,
    cache: FeatureCache,
    output: str | os.PathLike | None = None,
    progress: ProgressCallback = no_progress,
) -> Animation:
    """Animate prepared inputs along a driver, full size: written to ``output`` (an ``.mp4``, with the driver's
    audio) as frames are made, or kept in memory without it."""
    sink = FrameSink(output, fps=driver.fps, audio_path=prepared.audio_path)
    with sink:
        render = stream_frames if getattr(engine, "streams", False) else render_whole
        timings = render(engine, prepared, driver, settings, cache=cache, sink=sink, progress=progress)
        frames, path = sink.finish()
    if sink.writer is not None:
        timings["encode"] = sink.seconds
    faceless = cache.get("faceless", driver_key(driver))
    return Animation(frames=frames, path=path, frame_count=sink.count, timings=timings, faceless=faceless)


class FrameSink:
    """Where finished full-size frames go: an mp4 encoder (``path`` given) or a list in memory."""

    def __init__(self, path: str | os.PathLike | None, *, fps: float, audio_path: str | None) -> None:
        from durian_core.media import VideoWriter

        self.writer = None if path is None else VideoWriter(path, fps=fps, audio_path=audio_path)
        self.frames: list[np.ndarray] = []
        self.count = 0
        self.seconds = 0.0  # spent encoding

    def write(self, frame: np.ndarray) -> None:
        if self.writer is not None:
            start = time.perf_counter()
            self.writer.write(frame)
            self.seconds += time.perf_counter() - start
        else:
            self.frames.append(frame)
        self.count += 1

    def finish(self) -> tuple[np.ndarray | None, Path | None]:
        """The frames in memory, or the path of the closed video file."""
        if self.writer is not None:
            start = time.perf_counter()
            path = self.writer.close()
            self.seconds += time.perf_counter() - start
            return None, path
        if not self.frames:
            raise DurianInputError("the driving video gave no frames to animate")
        return np.stack(self.frames), None

    def __enter__(self) -> FrameSink:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None and self.writer is not None:
            self.writer.discard()


def driver_key(driver: DrivingVideo) -> str:
    """What identifies a driver's motion in the cache: its decoded pixels, or its file's bytes and the cut (the
    same clip uploaded again under another name is the same driver)."""
    if driver.frames is not None:
        return content_key(driver.frames)
    digest = hashlib.blake2b(digest_size=16)
    with open(driver.path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return content_key("file", digest.hexdigest(), driver.frame_count, driver.size)


def stream_frames(engine, prepared, driver, settings, *, cache, sink, progress) -> dict[str, float]:
    """Decoder → landmarks → retargeting → the engine's renderer → paste-back → encoder, one frame at a time.

    Decoding and landmark tracking run in a thread of their own, a few frames ahead of rendering and encoding, so
    the two halves use both cores of a laptop.
    """
    started = time.perf_counter()
    render, timings = engine.renderer(prepared, settings, cache=cache)
    retarget = Retargeter(prepared.portrait_landmarks, multiplier=settings.motion_multiplier)
    paste = prepared.frame_paster()
    total = max(1, driver.frame_count)
    report_every = max(1, total // 50)
    # Decoded drivers were tracked while preparing; streamed ones may have been tracked by an earlier run.
    known = prepared.driver_landmarks
    key = None if known is not None else driver_key(driver)
    if known is None:
        known = cache.get("motion", key)
    tracked: list[np.ndarray] = []
    counts = FaceCount()

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if known is not None:
            yield from zip(driver.iter_frames(), known)
            return
        frames = track_video(driver.iter_frames, counts=counts, frame_count=driver.frame_count)
        for frame, landmarks in frames:
            tracked.append(landmarks)
            yield frame, landmarks

    start = time.perf_counter()
    for frame, landmarks in read_ahead(pairs(), depth=READ_AHEAD):
        crop = render(retarget(landmarks), frame, landmarks)
        sink.write(paste(crop))
        done = sink.count
        if done % report_every == 0 or done == total:
            progress(min(done / total, 1.0), f"animating frame {done} of {total}")
    if tracked:
        cache.put("motion", key, np.stack(tracked).astype(np.float32))
        cache.put("faceless", key, counts)
    timings["animate"] = time.perf_counter() - start
    timings["total_render"] = time.perf_counter() - started
    return timings


def read_ahead(items: Iterator, *, depth: int) -> Iterator:
    """``items``, produced in a thread of its own at most ``depth`` ahead of the consumer.

    An exception in the producer is raised in the consumer; a consumer that stops early (an error, the app's Stop)
    stops the producer at its next item.
    """
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    finished = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        handoff.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            handoff.put((True, finished))
        except BaseException as error:  # handed to the consumer, which raises it
            handoff.put((False, error))

    thread = threading.Thread(target=produce, name="durian-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = handoff.get()
            if not ok:
                raise item
            if item is finished:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting to hand over, then let it end
            try:
                handoff.get_nowait()
            except queue.Empty:
                thread.join(timeout=0.05)


def render_whole(engine, prepared, driver, settings, *, cache, sink, progress) -> dict[str, float]:
    """Engines that need the whole motion at once (the durian engine's windows): track the driver first (its
    frames stream; only its landmarks are kept), then generate, paste back and write frame by frame."""
    if prepared.motion is None:
        key = driver_key(driver)

        def track() -> np.ndarray:
            counts = FaceCount()
            tracks = track_landmarks(driver.iter_frames(), counts=counts, frame_count=driver.frame_count)
            cache.put("faceless", key, counts)
            return tracks.astype(np.float32)

        tracks = cache.get_or_compute("motion", key, track)
        motion = retarget_motion(prepared.portrait_landmarks, tracks, multiplier=settings.motion_multiplier)
        prepared = replace(prepared, motion=motion, driver_landmarks=tracks)
    frames, timings = engine.generate(prepared, settings, cache=cache, progress=progress)
    paste = prepared.frame_paster()
    for frame in frames:
        sink.write(paste(frame))
    return timings
