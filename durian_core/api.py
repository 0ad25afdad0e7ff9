"""The public entry points the app, the CLI, the evaluation and the benchmarks call: build a request, choose and
load an engine, prepare, generate (an animation runs through the render loop of :mod:`durian_core.render`), save."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from durian_core.cache import FeatureCache, default_cache
from durian_core.config import GenerationSettings
from durian_core.engines.base import Engine
from durian_core.errors import DurianInputError
from durian_core.live import LiveAnimator, LiveSettings, MirrorAnimator
from durian_core.media import ImageSource, check_output_path, load_image, load_mask, open_video
from durian_core.prepare import automatic_mask, prepare_inputs, refit_attribute
from durian_core.render import animate
from durian_core.tryon import is_video_file, open_portrait_video, wear_video
from durian_core.types import (
    AttributeFit,
    AttributeReference,
    DrivingVideo,
    GenerateRequest,
    GenerateResult,
    Interpolation,
    PortraitVideo,
    PreparedInputs,
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
    "mirror_animator",
    "open_portrait_video",
    "prepare_inputs",
    "preview",
    "preview_fit",
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
    fit: AttributeFit = AttributeFit(),
) -> AttributeReference:
    """An attribute reference from an image file (or bytes, or an array) and, optionally, a mask image for it.

    The mask is read as :func:`durian_core.media.load_mask` reads it (alpha, else luminance; white = attribute) and
    resized to the image. ``name`` defaults to the file's stem; ``fit`` is the user's nudge once the attribute is on
    the portrait.
    """
    loaded = load_image(source)
    user_mask = None if mask is None else load_mask(mask, size=loaded.rgb.shape[1::-1])
    if name is None:
        name = Path(os.fspath(source)).stem if isinstance(source, str | os.PathLike) else ""
    return AttributeReference(loaded.rgb, kind, mask=user_mask, mask_mode=mask_mode, weight=weight, name=name, fit=fit)


VIDEO_PORTRAIT_ENGINE = "a video portrait runs on the classical engine"
"""Why a video portrait gets the classical engine (the durian engine does not take one yet)."""


def build_request(
    portrait: ImageSource | PortraitVideo,
    attributes: Sequence[AttributeReference] = (),
    *,
    driver: str | os.PathLike | DrivingVideo | None = None,
    interpolation: Interpolation | None = None,
    settings: GenerationSettings = GenerationSettings(),
) -> GenerateRequest:
    """One request from a portrait (a photo as a file, bytes or an array; or a video as a path or a
    :class:`PortraitVideo`), attribute references and a driver.

    A driver given as a path is opened here (checked, cut to ``settings.max_seconds``; its frames stream when the
    generation runs); ``None`` makes a still edit, or with a portrait video, that video wearing the attributes (a
    portrait video takes no driver).

    Raises:
        DurianInputError: an input cannot be read, or the interpolation does not fit the attributes, or a portrait
            video comes with a driver or the durian engine.
    """
    video = portrait if isinstance(portrait, PortraitVideo) else None
    if video is not None or is_video_file(portrait):
        if driver is not None:
            raise DurianInputError(
                "a portrait video moves by itself and takes no driving video (a driver animates a still portrait)"
            )
        if settings.engine == "durian":
            raise DurianInputError(
                "the durian engine does not take a video as the portrait yet: use --engine classical (or auto)"
            )
        video = video or open_portrait_video(portrait, settings=settings)
        image = video.reference
    else:
        image = load_image(portrait).rgb
    if isinstance(driver, str | os.PathLike):
        driver = open_video(driver, max_seconds=settings.max_seconds)
    try:
        return GenerateRequest(
            image,
            tuple(attributes),
            driver=driver,
            interpolation=interpolation,
            settings=settings,
            portrait_video=video,
        )
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

    Raises:
        DurianInputError: an input cannot be used, or ``output`` cannot be written (checked before any work).
    """
    if output is not None:
        output = check_output_path(output, video=request.driver is not None or request.portrait_video is not None)
    cache = cache or default_cache()
    settings = request.settings
    if request.portrait_video is not None:
        return _generate_worn_video(request, cache=cache, progress=progress, output=output)
    choice = choose_engine(settings.engine, weights=weights)
    engine = load_engine(choice)
    start = time.perf_counter()
    # The figure the user sees is the share of frames made: preparing makes none yet, its steps are named instead.
    prepared = prepare_inputs(request, cache=cache, progress=lambda _, m: progress(0.0, m))
    timings = {"prepare": time.perf_counter() - start}
    driver = request.driver
    notes = [choice.reason] + [attribute.note for attribute in prepared.attributes if attribute.note]
    if driver is not None and driver.truncated_from is not None:
        notes.append(
            f"the driving video is {driver.truncated_from:.1f} s long; only the first {driver.seconds:.1f} s were used"
        )
    if driver is not None and driver.variable_rate is not None:
        slowest, fastest = driver.variable_rate
        notes.append(
            f"the driving video's frame rate varies ({slowest:.0f} to {fastest:.0f} fps): its frames were taken at "
            f"their own moments, {driver.fps:.2f} times a second, so motion and sound stay together"
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
        animation = animate(engine, prepared, driver, settings, cache=cache, output=output, progress=progress)
        result.frames, result.path, result.frame_count = animation.frames, animation.path, animation.frame_count
        timings.update(animation.timings)
        if animation.faceless is not None and animation.faceless.missing:
            missing, frames = animation.faceless.missing, animation.faceless.frames
            result.notes += (
                f"no face was found in {missing} of the driver's {frames} frames; they take the pose of the "
                "nearest frames with one",
            )
    result.timings = timings
    progress(1.0, "done")
    return result


def _generate_worn_video(
    request: GenerateRequest,
    *,
    cache: FeatureCache,
    progress: ProgressCallback,
    output: str | os.PathLike | None,
) -> GenerateResult:
    """A portrait video wearing the request's attributes (:mod:`durian_core.tryon`)."""
    if request.settings.engine == "durian":
        raise DurianInputError("the durian engine does not take a video as the portrait yet: use the classical engine")
    video = request.portrait_video
    start = time.perf_counter()
    prepared = prepare_inputs(request, cache=cache, progress=lambda _, m: progress(0.0, m))
    timings = {"prepare": time.perf_counter() - start}
    notes = [VIDEO_PORTRAIT_ENGINE if request.settings.engine == "auto" else "as requested"]
    if video.clip.truncated_from is not None:
        notes.append(
            f"the portrait video is {video.clip.truncated_from:.1f} s long; only the first {video.clip.seconds:.1f} s "
            "were used"
        )
    worn = wear_video(prepared, video, request.settings, cache=cache, output=output, progress=progress)
    timings.update(worn.timings)
    progress(1.0, "done")
    return GenerateResult(
        frames=worn.frames,
        fps=video.clip.fps,
        engine="classical",
        audio_source=video.clip.audio_path,
        timings=timings,
        notes=tuple(notes),
        path=worn.path,
        frame_count=worn.frame_count,
    )


def preview(
    request: GenerateRequest, *, cache: FeatureCache | None = None, weights: str | None = None
) -> GenerateResult:
    """The still edit of a request (its driver is ignored; a portrait video's reference frame is edited); fast once
    the inputs are cached."""
    return generate(replace(request, driver=None, portrait_video=None), cache=cache, weights=weights)


def preview_fit(
    prepared: PreparedInputs, fit: AttributeFit, *, index: int = 0, cache: FeatureCache | None = None
) -> np.ndarray:
    """The still edit with attribute ``index`` nudged by ``fit``, from inputs already prepared (``prepare_inputs``
    with the same ``cache``): for a slider moved over a preview. Only the attribute's placement and the blend are
    computed again (tens of milliseconds at 512²); everything else comes from the cache. Made by the classical
    editor, whichever engine the request names (a diffusion still takes seconds). RGB uint8, the full portrait.

    Raises:
        DurianInputError: ``index`` names no attribute.
    """
    from durian_core.engines.classical import ClassicalEngine

    cache = cache or default_cache()
    try:
        moved = refit_attribute(prepared, index, fit, cache=cache)
    except ValueError as error:
        raise DurianInputError(str(error)) from error
    still, _timings = ClassicalEngine().generate(replace(moved, motion=None), GenerationSettings(), cache=cache)
    return moved.paste(still[0])


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


def mirror_animator(
    request: GenerateRequest, *, cache: FeatureCache | None = None, live: LiveSettings = LiveSettings()
) -> tuple[MirrorAnimator, str]:
    """A mirror session: camera frames wearing the request's attributes (its portrait and driver are ignored: the
    camera's face is the portrait), and a note on what it does.

    The attributes are prepared against the first camera frame with a face (the masks and layers of the attribute
    images come through the cache); each frame then costs landmarks and the layers' warps.
    """
    mirror = MirrorAnimator(
        request.attributes,
        interpolation=request.interpolation,
        settings=request.settings,
        live=live,
        cache=cache or default_cache(),
    )
    note = "classical engine, your camera wearing the attributes"
    if any(attribute.kind == "hair" for attribute in request.attributes):
        note += (
            "; your own hair is found once, on the first frame with your face, and what the new hair does not cover "
            "is filled from that frame"
        )
    return mirror, note
