"""The public entry points the app, the CLI, the evaluation and the benchmarks call: build a request, choose and
load an engine, prepare, generate, save."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from durian_core.cache import FeatureCache, content_key, default_cache
from durian_core.config import FaceSettings, GenerationSettings
from durian_core.engines.base import Engine
from durian_core.errors import DurianInputError
from durian_core.face.landmarks import LandmarkTracker
from durian_core.face.motion import Retargeter, retarget_motion
from durian_core.live import LiveAnimator, LiveSettings
from durian_core.media import ImageSource, load_image, load_mask, open_video
from durian_core.prepare import automatic_mask, prepare_inputs
from durian_core.types import (
    AttributeReference,
    DrivingVideo,
    GenerateRequest,
    GenerateResult,
    Interpolation,
    ProgressCallback,
    no_progress,
)

__all__ = [
    "EngineChoice",
    "automatic_mask",
    "build_request",
    "choose_engine",
    "generate",
    "live_animator",
    "load_attribute",
    "load_engine",
    "preview",
]

_engines: dict[tuple[str, str | None, str], Engine] = {}
_engines_lock = threading.Lock()


@dataclass(frozen=True)
class EngineChoice:
    """Which engine runs, and a sentence saying why (shown on the page and printed by the CLI)."""

    name: str
    reason: str
    weights: str | None = None


# ------------------------------------------------------------------------------------------------------ requests


def load_attribute(
    source: ImageSource,
    kind: str,
    *,
    mask: ImageSource | None = None,
    mask_mode: str = "add",
    weight: float = 1.0,
    name: str | None = None,
) -> AttributeReference:
    """An attribute reference from an image file (or bytes, or an array) and, optionally, a mask image for it.

    The mask is read as :func:`durian_core.media.load_mask` reads it (alpha, else luminance; white = attribute) and
    resized to the image. ``name`` defaults to the file's stem.
    """
    loaded = load_image(source)
    user_mask = None if mask is None else load_mask(mask, size=loaded.rgb.shape[1::-1])
    if name is None:
        name = Path(os.fspath(source)).stem if isinstance(source, str | os.PathLike) else ""
    return AttributeReference(loaded.rgb, kind, mask=user_mask, mask_mode=mask_mode, weight=weight, name=name)


def build_request(
    portrait: ImageSource,
    attributes: Sequence[AttributeReference] = (),
    *,
    driver: str | os.PathLike | DrivingVideo | None = None,
    interpolation: Interpolation | None = None,
    settings: GenerationSettings = GenerationSettings(),
) -> GenerateRequest:
    """One request from a portrait (a file, bytes or an array), attribute references and a driver.

    A driver given as a path is opened here (checked, cut to ``settings.max_seconds``; its frames stream when the
    generation runs); ``None`` makes a still edit.

    Raises:
        DurianInputError: an input cannot be read, or the interpolation does not fit the attributes.
    """
    image = load_image(portrait).rgb
    if isinstance(driver, str | os.PathLike):
        driver = open_video(driver, max_seconds=settings.max_seconds)
    try:
        return GenerateRequest(image, tuple(attributes), driver=driver, interpolation=interpolation, settings=settings)
    except ValueError as error:
        raise DurianInputError(str(error)) from error


# ------------------------------------------------------------------------------------------------------- engines


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def choose_engine(requested: str, *, weights: str | None = None) -> EngineChoice:
    """Resolve ``"auto"``, ``"classical"`` or ``"durian"`` against the weights configured and the hardware.

    ``weights`` defaults to ``DURIAN_WEIGHTS`` (a local folder or a Hub id).
    """
    weights = weights or os.environ.get("DURIAN_WEIGHTS") or None
    if requested == "classical":
        return EngineChoice("classical", "as requested")
    if requested == "durian":
        if weights is None:
            raise DurianInputError(
                "the durian engine needs weights: pass --weights (a folder or a Hub id) or set DURIAN_WEIGHTS"
            )
        return EngineChoice("durian", f"as requested, with weights {weights}", weights)
    if requested != "auto":
        raise DurianInputError(f"unknown engine {requested!r}: use auto, classical or durian")
    if weights is None:
        return EngineChoice("classical", "chosen automatically as no Durian weights are set (DURIAN_WEIGHTS)")
    if not _cuda_available():
        return EngineChoice("classical", "chosen automatically as there is no GPU for the Durian weights")
    return EngineChoice("durian", f"chosen automatically as weights {weights} and a GPU are present", weights)


def load_engine(choice: EngineChoice) -> Engine:
    """The engine for a choice, loaded once per process and shared afterwards (weights are large; engines are
    stateless). The one registry of loaded engines: keyed by engine, weights (a resolved folder or a Hub id with
    its revision) and device."""
    from durian_core.device import resolve_device

    weights = choice.weights
    if weights is not None and Path(weights).expanduser().exists():
        weights = str(Path(weights).expanduser().resolve())
    device = str(resolve_device()[0]) if choice.name == "durian" else "cpu"
    key = (choice.name, weights, device)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if choice.name == "classical":
                from durian_core.engines.classical import ClassicalEngine

                engine = ClassicalEngine()
            else:
                from durian_core.engines.durian import DurianEngine

                engine = DurianEngine.from_pretrained(weights)
            _engines[key] = engine
        return engine


# ---------------------------------------------------------------------------------------------------- generation


def generate(
    request: GenerateRequest,
    *,
    cache: FeatureCache | None = None,
    weights: str | None = None,
    progress: ProgressCallback = no_progress,
    output: str | os.PathLike | None = None,
) -> GenerateResult:
    """Run one request end to end: an animation when it has a driver, a still edit otherwise.

    With ``output`` (an ``.mp4`` for an animation, an image file for a still) the result is written there, and an
    animation streams from the driver's decoder to the encoder frame by frame, so its length costs no memory;
    without it, the frames are returned in memory (fine for short clips and stills).
    """
    cache = cache or default_cache()
    settings = request.settings
    choice = choose_engine(settings.engine, weights=weights)
    engine = load_engine(choice)
    start = time.perf_counter()
    # The figure the user sees is the share of frames made: preparing makes none yet, its steps are named instead.
    prepared = prepare_inputs(request, cache=cache, progress=lambda _, m: progress(0.0, m))
    timings = {"prepare": time.perf_counter() - start}
    driver = request.driver
    notes = [choice.reason]
    if driver is not None and driver.truncated_from is not None:
        notes.append(
            f"the driving video is {driver.truncated_from:.1f} s long; only the first {driver.seconds:.1f} s were used"
        )
    result = GenerateResult(
        frames=None, fps=None, engine=engine.name, audio_source=prepared.audio_path, notes=tuple(notes)
    )
    if driver is None:
        frames, engine_timings = engine.generate(prepared, settings, cache=cache, progress=progress)
        timings.update(engine_timings)
        result.frames = prepared.paste(frames[0])[None]
        if output is not None:
            from durian_core.media import write_image

            result.path = write_image(result.frames[0], output)
    else:
        result.fps = driver.fps
        sink = _FrameSink(output, fps=driver.fps, audio_path=prepared.audio_path)
        with sink:
            render = _stream_classical if getattr(engine, "streams", False) else _render_whole
            timings.update(render(engine, prepared, driver, settings, cache=cache, sink=sink, progress=progress))
            result.frames, result.path = sink.finish()
        result.frame_count = sink.count
        if sink.writer is not None:
            timings["encode"] = sink.seconds
    result.timings = timings
    progress(1.0, "done")
    return result


class _FrameSink:
    """Where finished full-size frames go: an mp4 encoder (``path`` given) or a list in memory."""

    def __init__(self, path, *, fps: float, audio_path: str | None) -> None:
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
        if self.writer is not None:
            start = time.perf_counter()
            path = self.writer.close()
            self.seconds += time.perf_counter() - start
            return None, path
        if not self.frames:
            raise DurianInputError("the driving video gave no frames to animate")
        return np.stack(self.frames), None

    def __enter__(self) -> _FrameSink:
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


def _stream_classical(engine, prepared, driver, settings, *, cache, sink, progress) -> dict[str, float]:
    """Decoder → landmarks → retargeting → the engine's renderer → paste-back → encoder, one frame at a time.

    Decoding and landmark tracking run in a thread of their own, a few frames ahead of rendering and encoding, so
    the two halves use both cores of a laptop. The driver's landmarks are tracked as its frames arrive
    (:class:`LandmarkTracker`) and kept in the cache, so a second generation with the same driver (a new α, weight
    or multiplier) only decodes and renders.
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

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        if known is not None:
            yield from zip(driver.iter_frames(), known)
            return
        tracker = LandmarkTracker(settings=FaceSettings())
        for frame in driver.iter_frames():
            for pair in tracker.push(frame):
                tracked.append(pair[1])
                yield pair
        for pair in tracker.finish():
            tracked.append(pair[1])
            yield pair

    start = time.perf_counter()
    for frame, landmarks in read_ahead(pairs(), depth=READ_AHEAD):
        crop = render(retarget(landmarks), frame, landmarks)
        sink.write(paste(crop))
        done = sink.count
        if done % report_every == 0 or done == total:
            progress(min(done / total, 1.0), f"animating frame {done} of {total}")
    if tracked:
        cache.put("motion", key, np.stack(tracked).astype(np.float32))
    timings["animate"] = time.perf_counter() - start
    timings["total_render"] = time.perf_counter() - started
    return timings


READ_AHEAD = 8
"""Frames the decoding and tracking thread may run ahead of rendering: enough to keep both cores busy, few
enough that memory does not grow."""


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


def _render_whole(engine, prepared, driver, settings, *, cache, sink, progress) -> dict[str, float]:
    """Engines that need the whole motion at once (the durian engine's windows): track the driver first (its
    frames stream; only its landmarks are kept), then generate, paste back and write frame by frame."""
    if prepared.motion is None:
        key = driver_key(driver)

        def track() -> np.ndarray:
            tracker = LandmarkTracker(settings=FaceSettings())
            found = [landmarks for frame in driver.iter_frames() for _, landmarks in tracker.push(frame)]
            found += [landmarks for _, landmarks in tracker.finish()]
            return np.stack(found).astype(np.float32)

        tracks = cache.get_or_compute("motion", key, track)
        motion = retarget_motion(prepared.portrait_landmarks, tracks, multiplier=settings.motion_multiplier)
        prepared = replace(prepared, motion=motion, driver_landmarks=tracks)
    frames, timings = engine.generate(prepared, settings, cache=cache, progress=progress)
    paste = prepared.frame_paster()
    for frame in frames:
        sink.write(paste(frame))
    return timings


def preview(
    request: GenerateRequest, *, cache: FeatureCache | None = None, weights: str | None = None
) -> GenerateResult:
    """The still edit of a request (its driver is ignored); fast once the inputs are cached."""
    return generate(replace(request, driver=None), cache=cache, weights=weights)


LIVE_PASTE = 1024
"""Live frames show the whole portrait when its longest side is at most this (pasting back costs a few ms);
larger portraits show the work crop around the face, to keep a frame within the live budget."""


def live_animator(
    request: GenerateRequest, *, cache: FeatureCache | None = None, live: LiveSettings = LiveSettings()
) -> tuple[LiveAnimator, str]:
    """A live session for a request's edit (its driver is ignored) and a note on the engine it uses.

    Live driving runs the classical engine (a diffusion model makes no frame in a few milliseconds). Its inputs
    come through the cache, so the edit the page already previewed costs no landmarks, masks or layers again.
    """
    from durian_core.engines.classical import ClassicalEngine

    cache = cache or default_cache()
    settings = request.settings
    prepared = prepare_inputs(replace(request, driver=None), cache=cache)
    render, _timings = ClassicalEngine().renderer(prepared, settings, cache=cache)
    full = prepared.full_portrait
    if full is not None and max(full.shape[:2]) <= LIVE_PASTE:
        crop_render, paste = render, prepared.frame_paster()

        def render(*args) -> np.ndarray:
            return paste(crop_render(*args))

    animator = LiveAnimator(render, prepared.portrait_landmarks, multiplier=settings.motion_multiplier, settings=live)
    note = "classical engine"
    if settings.engine == "durian":
        note += " (live needs a frame in milliseconds, which the diffusion engine cannot make)"
    return animator, note
