"""Long clips in windows: sliding windows blended where they overlap, or windows conditioned on history frames.

The functions take the noise prediction as a callable ``predict(latents, timestep, start, length)`` for the window
of ``length`` frames starting at ``start``, so they know nothing of references, guidance or the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

NoisePrediction = Callable[[torch.Tensor, torch.Tensor, int, int], torch.Tensor]
StepCallback = Callable[[int, int], None] | None


def window_starts(frames: int, window: int, overlap: int) -> list[int]:
    """First frame of each window; the last window ends on the last frame."""
    if frames <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, frames - window, stride))
    starts.append(frames - window)
    return starts


def ramp_weights(length: int, start: int, total: int, overlap: int) -> torch.Tensor:
    """Per-frame blend weights of one window: linear ramps across the overlaps, flat elsewhere."""
    weights = torch.ones(length)
    if overlap <= 0:
        return weights
    ramp = torch.arange(1, overlap + 1, dtype=torch.float32) / (overlap + 1)
    if start > 0:
        weights[:overlap] = ramp[: min(overlap, length)]
    if start + length < total:
        weights[-overlap:] = torch.minimum(weights[-overlap:], ramp.flip(0)[-min(overlap, length) :])
    return weights


def denoise_blended(
    latents: torch.Tensor,
    scheduler,
    starts: list[int],
    *,
    window: int,
    overlap: int,
    predict: NoisePrediction,
    callback: StepCallback = None,
) -> torch.Tensor:
    """All windows at every step; noise predictions are averaged with linear ramps where windows overlap."""
    frames = latents.shape[2]
    length = min(window, frames)
    timesteps = scheduler.timesteps
    for step, timestep in enumerate(timesteps):
        model_input = scheduler.scale_model_input(latents, timestep)
        total = torch.zeros_like(latents)
        weight_sum = torch.zeros(frames, device=latents.device, dtype=latents.dtype)
        for start in starts:
            part = slice(start, start + length)
            noise = predict(model_input[:, :, part], timestep, start, length)
            weights = ramp_weights(length, start, frames, overlap if len(starts) > 1 else 0)
            weights = weights.to(latents.device, latents.dtype)
            total[:, :, part] += noise * weights[None, None, :, None, None]
            weight_sum[part] += weights
        noise = total / weight_sum[None, None, :, None, None]
        latents = scheduler.step(noise, timestep, latents, return_dict=False)[0]
        if callback is not None:
            callback(step + 1, len(timesteps))
    return latents


def denoise_with_history(
    latents: torch.Tensor,
    scheduler,
    starts: list[int],
    *,
    window: int,
    history_frames: int,
    predict: NoisePrediction,
    callback: StepCallback = None,
) -> torch.Tensor:
    """Windows one after another; each holds its first ``history_frames`` at the previous window's result.

    The held frames are re-noised to every step's noise level (replacement conditioning), so the new window's
    motion modules see the frames it must continue from. The remaining overlap is blended with a linear ramp.
    """
    timesteps = scheduler.timesteps
    result = torch.zeros_like(latents)
    initial = latents.clone()
    total_steps = len(starts) * len(timesteps)
    done = 0
    for index, start in enumerate(starts):
        part = slice(start, start + window)
        window_latents = initial[:, :, part].clone()
        held = None
        if index > 0:
            held = result[:, :, start : start + history_frames]
            held_noise = initial[:, :, start : start + history_frames]
        # Multistep schedulers keep a history of model outputs: every window starts from a fresh copy.
        scheduler = scheduler.__class__.from_config(scheduler.config)
        scheduler.set_timesteps(len(timesteps), device=latents.device)
        for timestep in timesteps:
            if held is not None:
                window_latents[:, :, :history_frames] = scheduler.add_noise(held, held_noise, timestep[None])
            model_input = scheduler.scale_model_input(window_latents, timestep)
            noise = predict(model_input, timestep, start, window)
            window_latents = scheduler.step(noise, timestep, window_latents, return_dict=False)[0]
            done += 1
            if callback is not None:
                callback(done, total_steps)
        if held is not None:
            window_latents[:, :, :history_frames] = held
        shared = 0 if index == 0 else starts[index - 1] + window - start
        if shared > 0:
            ramp = torch.arange(1, shared + 1, dtype=latents.dtype, device=latents.device) / (shared + 1)
            ramp = ramp[None, None, :, None, None]
            previous = result[:, :, start : start + shared]
            window_latents[:, :, :shared] = (1 - ramp) * previous + ramp * window_latents[:, :, :shared]
        result[:, :, part] = window_latents
    return result
