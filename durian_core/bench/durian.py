"""Benchmark of the Durian pipeline: seconds per clip and per step, reference pass, VAE decode, memory, FLOPs.

Runs on whatever :func:`durian_core.device.resolve_device` picks: the ``tiny`` config on CPU in tests, ``sd15`` on
CUDA for real numbers. Timings are medians over ``repeats`` runs (CPU timings with few threads jump now and then).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from durian_core.cache import FeatureCache
from durian_core.device import resolve_device
from durian_core.guidance import plan_branches
from durian_core.pipeline import DurianPipeline
from durian_core.tiny import random_pipeline
from durian_core.types import blend_terms
from durian_core.windows import window_starts

# Dense bf16/fp16 tensor-core peaks (TFLOP/s) for the utilisation figure; unknown devices report none.
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "L4": 121.0, "T4": 65.0}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compile_transformer_blocks(pipeline: DurianPipeline) -> int:
    """Regional compilation: ``torch.compile`` each repeated spatial transformer block of the denoiser, in place.

    The blocks repeat with a handful of shapes, so compiling them is quick and reused; the UNet around them (and its
    reference-attention plumbing) stays eager. Returns the number of compiled blocks.
    """
    blocks = [
        block
        for name, module in pipeline.denoiser.named_modules()
        if name.endswith("transformer_blocks") and "motion_modules" not in name
        for block in module
    ]
    # Each block reads its own layer's bank (a constant string key), so dynamo keeps one graph per block: allow as
    # many recompiles as there are blocks (16 for sd15) rather than falling back to eager after the default 8.
    limit = max(torch._dynamo.config.recompile_limit, 2 * len(blocks))
    torch._dynamo.config.recompile_limit = limit
    for block in blocks:
        block.compile()
    return len(blocks)


def bench_durian(
    *,
    config: str = "tiny",
    random_weights: bool = True,
    weights: str | None = None,
    revision: str | None = None,
    frames: int = 16,
    size: int = 512,
    steps: int = 25,
    repeats: int = 3,
    compile_blocks: bool = False,
    guidance_scale: float = 2.5,
) -> dict[str, Any]:
    """Time one clip of ``frames`` frames at ``size``² with ``steps`` steps; report medians of ``repeats`` runs.

    ``random_weights`` builds the named config with random weights (speed does not depend on weight values);
    otherwise ``weights`` (a pipeline folder or Hub id at ``revision``) is loaded. Keys: ``seconds_per_clip``,
    ``seconds_per_step``, ``reference_seconds``, ``vae_decode_seconds``, ``denoise_reference_passes`` (reference
    encodings the timed denoising ran, summed over repeats: 0 when its time holds none), ``peak_memory_bytes``
    (CUDA allocator peak, or the process's peak RSS on CPU), ``step_tflops`` (one denoising step, all guidance
    branches, counted with ``FlopCounterMode``), ``achieved_tflops_per_second`` and ``utilisation`` (of the
    device's dense peak, when known).
    """
    if size % 64:
        raise ValueError(f"size must be a multiple of 64, got {size}")
    if frames < 1 or steps < 1 or repeats < 1:
        raise ValueError(f"frames, steps and repeats must be positive, got {frames}, {steps}, {repeats}")
    device, dtype = resolve_device()
    if random_weights:
        pipeline = random_pipeline(config, seed=0)
    else:
        if weights is None:
            raise ValueError("random_weights=False needs weights (a pipeline folder or Hub id)")
        pipeline = DurianPipeline.from_pretrained(weights, revision=revision)
    pipeline.to(device=device)
    if dtype != torch.float32:
        pipeline.to(dtype=dtype)
    pipeline.set_progress_bar_config(disable=True)
    pipeline.resolution = size  # the UNets are convolutional: any multiple of 64 runs
    compiled = compile_transformer_blocks(pipeline) if compile_blocks else 0

    rng = np.random.default_rng(0)
    portrait = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    attribute = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    mask = np.zeros((size, size), np.float32)
    mask[: size // 3] = 1.0
    maps = rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8)
    window = min(frames, 16)
    call = {
        "keypoint_maps": maps,
        "num_inference_steps": steps,
        "guidance_scale": guidance_scale,
        "window": window,
        "overlap": min(4, window - 1),
    }

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # Warm-up: first calls pay for kernel selection, and compiled blocks settle after a second call (dynamo's
    # automatic dynamic shapes recompile once).
    pipeline.feature_cache = FeatureCache(1 << 30)
    for _ in range(2 if compile_blocks else 1):
        pipeline(portrait, mask, [attribute], [mask], **call | {"num_inference_steps": 1}, output_type="latent")

    reference_times, denoise_times, decode_times = [], [], []
    denoise_reference_passes = 0
    for repeat in range(repeats):
        cache = FeatureCache(1 << 30)  # empty: the reference pass runs every time
        pipeline.feature_cache = cache
        _sync(device)
        started = time.perf_counter()
        with torch.no_grad():
            pipeline.encode_reference(portrait, mask, role="portrait")
            pipeline.encode_reference(attribute, mask, role="attribute")
        _sync(device)
        reference_times.append(time.perf_counter() - started)

        encoded = _misses(cache)
        started = time.perf_counter()
        latents = pipeline(
            portrait,
            mask,
            [attribute],
            [mask],
            **call,
            generator=torch.Generator().manual_seed(repeat),
            output_type="latent",
        ).frames
        _sync(device)
        denoise_times.append(time.perf_counter() - started)
        denoise_reference_passes += _misses(cache) - encoded  # the timed call should find both references cached

        started = time.perf_counter()
        pipeline.decode_latents(latents)
        _sync(device)
        decode_times.append(time.perf_counter() - started)

    step_flops = _step_flops(pipeline, portrait, attribute, mask, maps[:window], guidance_scale)
    seconds_per_step = statistics.median(denoise_times) / (steps * len(window_starts(frames, window, call["overlap"])))
    report: dict[str, Any] = {
        "config": config,
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "frames": frames,
        "size": size,
        "steps": steps,
        "repeats": repeats,
        "compiled_blocks": compiled,
        "reference_seconds": statistics.median(reference_times),
        "denoise_seconds": statistics.median(denoise_times),
        "seconds_per_step": seconds_per_step,
        "vae_decode_seconds": statistics.median(decode_times),
        "denoise_reference_passes": denoise_reference_passes,
        "step_tflops": step_flops / 1e12,
        "achieved_tflops_per_second": step_flops / 1e12 / seconds_per_step,
    }
    report["seconds_per_clip"] = report["reference_seconds"] + report["denoise_seconds"] + report["vae_decode_seconds"]
    report["peak_memory_bytes"], report["peak_memory_kind"] = _peak_memory(device)
    peak = _peak_tflops(device)
    report["utilisation"] = None if peak is None else report["achieved_tflops_per_second"] / peak
    return report


def _misses(cache: FeatureCache) -> int:
    """Computations the cache has run so far (its misses, over every namespace)."""
    return sum(counts.get("misses", 0) for name, counts in cache.stats().items() if name != "total")


def _step_flops(pipeline, portrait, attribute, mask, maps, guidance_scale: float) -> int:
    """FLOPs of one denoising step on one window: every active guidance branch, batched as the pipeline runs it."""
    guidance = {"portrait": guidance_scale, "attribute": guidance_scale, "motion": guidance_scale}
    with torch.no_grad():
        encoded_portrait = pipeline.encode_reference(portrait, mask, role="portrait")
        encoded_attribute = pipeline.encode_reference(attribute, mask, role="attribute")
        plan = plan_branches(encoded_portrait, [encoded_attribute], guidance=guidance, terms=blend_terms([1.0], None))
        motion = pipeline.encode_motion(maps, len(maps))
        latents = pipeline.prepare_latents(len(maps), generator=torch.Generator().manual_seed(0))
        counter = FlopCounterMode(display=False)
        with counter:
            pipeline.guided_noise(latents, torch.tensor(500, device=latents.device), plan=plan, motion=motion)
    return int(counter.get_total_flops())


def _peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device)), "cuda_allocated"
    import resource

    # ru_maxrss is in KiB on Linux: the process's peak resident memory, weights and activations together.
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024, "process_peak_rss"


def _peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_TFLOPS.items():
        if key in name:
            return value
    return None
