"""The public entry points the app, the CLI and the benchmarks call: choose an engine, prepare, generate, save."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from durian_core.cache import FeatureCache, default_cache
from durian_core.engines.base import Engine, GenerateRequest, GenerateResult, ProgressCallback, no_progress
from durian_core.engines.classical import ClassicalEngine
from durian_core.errors import DurianInputError
from durian_core.prepare import automatic_mask, prepare_inputs

__all__ = ["EngineChoice", "automatic_mask", "choose_engine", "generate", "preview", "save_result"]

_engines: dict[tuple[str, str | None], Engine] = {}
_engines_lock = threading.Lock()


@dataclass(frozen=True)
class EngineChoice:
    """Which engine runs, and a sentence saying why (shown on the page and printed by the CLI)."""

    name: str
    reason: str
    weights: str | None = None


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


def load_engine(choice: EngineChoice, *, cache: FeatureCache | None = None) -> Engine:
    """The engine for a choice, loaded once per process (weights are large; engines are stateless)."""
    key = (choice.name, choice.weights)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            if choice.name == "classical":
                engine = ClassicalEngine(cache)
            else:
                from durian_core.engines.durian import load_durian_engine

                engine = load_durian_engine(choice.weights)
            _engines[key] = engine
        return engine


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
    engine = load_engine(choice, cache=cache)
    start = time.perf_counter()
    prepared = prepare_inputs(request, cache=cache, progress=lambda f, m: progress(0.2 * f, m))
    timings = {"prepare": time.perf_counter() - start}
    frames, engine_timings = engine.generate(
        prepared, request.settings, progress=lambda f, m: progress(0.2 + 0.8 * f, m)
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
