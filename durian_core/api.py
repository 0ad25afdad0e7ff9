"""The public entry points the app, the CLI, the evaluation and the benchmarks call: build a request, choose and
load an engine, prepare, generate, save."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from durian_core.cache import FeatureCache, default_cache
from durian_core.config import GenerationSettings
from durian_core.engines.base import Engine
from durian_core.errors import DurianInputError
from durian_core.media import ImageSource, load_image, load_mask, load_video
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
    "load_attribute",
    "load_engine",
    "preview",
    "save_result",
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

    A driver given as a path is loaded here, cut to ``settings.max_seconds``; ``None`` makes a still edit.

    Raises:
        DurianInputError: an input cannot be read, or the interpolation does not fit the attributes.
    """
    image = load_image(portrait).rgb
    if isinstance(driver, str | os.PathLike):
        driver = load_video(driver, max_seconds=settings.max_seconds)
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
        return EngineChoice("classical", "the classical engine was requested")
    if requested == "durian":
        if weights is None:
            raise DurianInputError(
                "the durian engine needs weights: pass --weights (a folder or a Hub id) or set DURIAN_WEIGHTS"
            )
        return EngineChoice("durian", f"the durian engine was requested, with weights {weights}", weights)
    if requested != "auto":
        raise DurianInputError(f"unknown engine {requested!r}: use auto, classical or durian")
    if weights is None:
        return EngineChoice("classical", "auto: no Durian weights are configured (DURIAN_WEIGHTS), so classical")
    if not _cuda_available():
        return EngineChoice("classical", "auto: Durian weights are configured but no GPU is present, so classical")
    return EngineChoice("durian", f"auto: Durian weights {weights} and a GPU are present, so durian", weights)


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
) -> GenerateResult:
    """Run one request end to end: an animation when it has a driver, a still edit otherwise."""
    cache = cache or default_cache()
    choice = choose_engine(request.settings.engine, weights=weights)
    engine = load_engine(choice)
    start = time.perf_counter()
    prepared = prepare_inputs(request, cache=cache, progress=lambda f, m: progress(0.2 * f, m))
    timings = {"prepare": time.perf_counter() - start}
    frames, engine_timings = engine.generate(
        prepared, request.settings, cache=cache, progress=lambda f, m: progress(0.2 + 0.8 * f, m)
    )
    timings.update(engine_timings)
    notes = [choice.reason]
    driver = request.driver
    if driver is not None and driver.truncated_from is not None:
        notes.append(
            f"the driving video is {driver.truncated_from:.1f} s long; only the first "
            f"{len(driver.frames) / driver.fps:.1f} s were used"
        )
    progress(1.0, "done")
    return GenerateResult(
        frames=frames,
        fps=prepared.fps,
        engine=engine.name,
        audio_source=prepared.audio_path,
        timings=timings,
        notes=tuple(notes),
    )


def preview(
    request: GenerateRequest, *, cache: FeatureCache | None = None, weights: str | None = None
) -> GenerateResult:
    """The still edit of a request (its driver is ignored); fast once the inputs are cached."""
    return generate(replace(request, driver=None), cache=cache, weights=weights)


def save_result(result: GenerateResult, directory: str | Path, *, stem: str) -> Path:
    """Write a result as ``<stem>.mp4`` (with the driver's audio) or, for a still edit, ``<stem>.png``."""
    from durian_core.media import write_image, write_video

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if result.fps is None:
        return write_image(result.still, directory / f"{stem}.png")
    start = time.perf_counter()
    path = write_video(result.frames, directory / f"{stem}.mp4", fps=result.fps, audio_path=result.audio_source)
    result.timings["encode"] = time.perf_counter() - start
    return path
