"""Training throughput: samples per second and peak memory of the real training step on random data.

``bench_training(config="sd15", random_weights=True, stage=1)`` builds the model at full size with random weights
(no download), feeds random batches shaped like the config's, and times optimizer steps after a warm-up. On CUDA it
reports the peak allocated memory; on CPU the process's peak resident memory. The tiny config runs on a CPU in
seconds (the test suite does).
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import sys
import time
from typing import Any

import torch

from durian_core.device import resolve_device
from durian_core.errors import DurianInputError
from durian_core.training.components import TrainingComponents, noise_scheduler_for, set_trainable
from durian_core.training.config import TRAINING_PRESETS, load_training_config
from durian_core.training.forward import DurianTrainingModule, batched_reference_attention
from durian_core.training.objective import diffusion_loss, encode_batch


def _random_components(model_name: str, *, device: torch.device, dtype: torch.dtype) -> TrainingComponents:
    from durian_core.models.config import model_config
    from durian_core.models.durian import DurianModel
    from durian_core.tiny import dummy_components

    settings = model_config(model_name)
    model = DurianModel.from_config(settings)
    parts = dummy_components(settings)
    model.to(device)
    parts["vae"].to(device, dtype).requires_grad_(False)
    parts["image_encoder"].to(device, dtype).requires_grad_(False)
    return TrainingComponents(
        model, parts["vae"], parts["image_encoder"], parts["feature_extractor"], parts["scheduler"], settings.name
    )


def _random_batch(batch_size: int, frames: int, resolution: int, *, device: torch.device) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)

    def image(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator) * 2 - 1

    masks = (torch.rand(batch_size * 2, 1, resolution, resolution, generator=generator) > 0.5).float()
    batch = {
        "target": image(batch_size, frames, 3, resolution, resolution),
        "keypoints": torch.rand(batch_size, frames, 3, resolution, resolution, generator=generator),
        "attribute_reference": image(batch_size, 3, resolution, resolution),
        "attribute_mask": masks[:batch_size],
        "portrait_reference": image(batch_size, 3, resolution, resolution),
        "portrait_mask": masks[batch_size:],
        "keep_portrait": torch.ones(batch_size, dtype=torch.bool),
        "keep_attribute": torch.ones(batch_size, dtype=torch.bool),
        "keep_motion": torch.ones(batch_size, dtype=torch.bool),
    }
    return {key: value.to(device) for key, value in batch.items()}


def _peak_memory_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def bench_training(
    config: str = "sd15",
    *,
    random_weights: bool = True,
    stage: int = 1,
    steps: int = 5,
    warmup: int = 1,
    batch_size: int | None = None,
    num_frames: int | None = None,
    gradient_checkpointing: bool | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Time ``steps`` optimizer steps of stage ``stage`` after ``warmup`` untimed ones.

    Batch size, clip length and gradient checkpointing default to the training config's. Mixed precision follows
    :func:`durian_core.device.resolve_device` (bf16/fp16 autocast on CUDA, fp32 on CPU). Returns samples per second
    (median over steps), seconds per step, peak memory in bytes and what ran.
    """
    if not random_weights:
        raise DurianInputError("bench_training measures speed on random weights; pass random_weights=True")
    if config not in TRAINING_PRESETS:
        raise DurianInputError(f"config must be one of {', '.join(TRAINING_PRESETS)}, got {config!r}")
    if steps < 1 or warmup < 0:
        raise DurianInputError(f"need steps >= 1 and warmup >= 0, got {steps}/{warmup}")
    train_config = load_training_config(config)
    stage_config = train_config.stage(stage)
    stage_config = dataclasses.replace(
        stage_config,
        batch_size=batch_size or stage_config.batch_size,
        num_frames=num_frames or stage_config.num_frames,
    )
    target, dtype = resolve_device(device)
    components = _random_components(train_config.model, device=target, dtype=dtype)
    model = components.model
    parameters = set_trainable(model, stage)
    checkpointing = train_config.gradient_checkpointing if gradient_checkpointing is None else gradient_checkpointing
    if checkpointing:
        for net in (model.prnet, model.arnet, model.denoiser):
            net.enable_gradient_checkpointing()
    model.train()
    module = DurianTrainingModule(model)
    optimizer = torch.optim.AdamW(parameters, lr=stage_config.learning_rate)
    noise_scheduler = noise_scheduler_for(train_config, components.inference_scheduler)
    resolution = int(components.vae.config.sample_size)
    batch = _random_batch(stage_config.batch_size, stage_config.num_frames, resolution, device=target)
    if target.type == "cuda":
        torch.cuda.reset_peak_memory_stats(target)
    autocast = torch.autocast(target.type, dtype=dtype, enabled=dtype != torch.float32)
    durations = []
    with batched_reference_attention(model):
        for index in range(warmup + steps):
            generator = torch.Generator(device=target).manual_seed(index)
            started = time.perf_counter()
            encoded = encode_batch(components, batch, generator=generator)
            with autocast:
                loss = diffusion_loss(module, encoded, noise_scheduler, generator=generator)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if target.type == "cuda":
                torch.cuda.synchronize(target)
            if index >= warmup:
                durations.append(time.perf_counter() - started)
    seconds = statistics.median(durations)
    samples = stage_config.batch_size * stage_config.num_frames
    return {
        "config": config,
        "stage": stage,
        "device": str(target),
        "dtype": str(dtype).removeprefix("torch."),
        "batch_size": stage_config.batch_size,
        "num_frames": stage_config.num_frames,
        "resolution": resolution,
        "gradient_checkpointing": checkpointing,
        "trainable_parameters": sum(p.numel() for p in parameters),
        "seconds_per_step": seconds,
        "samples_per_second": stage_config.batch_size / seconds,
        "frames_per_second": samples / seconds,
        "peak_memory_bytes": _peak_memory_bytes(target),
        "final_loss": float(loss.detach()),
    }
