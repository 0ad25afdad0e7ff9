"""The training objective: the frozen encoders over a batch, the (min-SNR weighted) diffusion loss, and the
autoencoder fit that tiny random-weight runs start with."""

from __future__ import annotations

import sys

import numpy as np
import torch
import torch.nn.functional as F

from durian_core.training.components import TrainingComponents
from durian_core.training.data import SelfReconstructionDataset
from durian_core.training.forward import DurianTrainingModule


def clip_pixels(images: torch.Tensor, feature_extractor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] → CLIP input: resized to the encoder's square and normalised like its processor."""
    crop = feature_extractor.crop_size
    size = (int(crop["height"]), int(crop["width"])) if not isinstance(crop, int) else (crop, crop)
    pixels = F.interpolate((images + 1) / 2, size=size, mode="bicubic", antialias=True, align_corners=False)
    mean = torch.tensor(feature_extractor.image_mean, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(feature_extractor.image_std, device=images.device, dtype=images.dtype)[:, None, None]
    return (pixels.clamp(0, 1) - mean) / std


@torch.no_grad()
def encode_batch(
    components: TrainingComponents, batch: dict[str, torch.Tensor], *, generator: torch.Generator | None
) -> dict[str, torch.Tensor]:
    """Run the frozen VAE and image encoder over a collated batch (everything the trainable forward needs)."""
    vae, encoder = components.vae, components.image_encoder
    device, dtype = vae.device, vae.dtype
    scale = vae.config.scaling_factor
    target = batch["target"].to(device, dtype)  # (B, F, 3, H, W)
    count, frames = target.shape[:2]
    # The mode, as the pipeline encodes its references (and as the fitted toy VAE was trained to decode).
    latents = vae.encode(target.flatten(0, 1)).latent_dist.mode() * scale
    latents = latents.unflatten(0, (count, frames)).movedim(1, 2)  # (B, 4, F, h, w)
    roles = ["portrait", "attribute"] + (["other"] if "other_reference" in batch else [])
    references = torch.cat([batch[f"{role}_reference"] for role in roles]).to(device, dtype)
    reference_latents = vae.encode(references).latent_dist.mode() * scale
    size = reference_latents.shape[-1]
    masks = torch.cat([batch[f"{role}_mask"] for role in roles]).to(device, dtype)
    masks = F.interpolate(masks, size=(size, size), mode="area").clamp(0, 1)
    pixels = clip_pixels(references, components.feature_extractor).to(encoder.device, encoder.dtype)
    embeddings = encoder(pixel_values=pixels).image_embeds[:, None]
    encoded = {"latents": latents}
    for position, role in enumerate(roles):
        part = slice(position * count, (position + 1) * count)
        encoded |= {
            f"{role}_latents": reference_latents[part],
            f"{role}_mask": masks[part],
            f"{role}_embedding": embeddings[part],
        }
    if "other_reference" in batch:
        encoded["keep_other"] = batch["keep_other"].to(device)
    return encoded | {
        "keypoints": batch["keypoints"].flatten(0, 1).to(device, dtype),
        "keep_portrait": batch["keep_portrait"].to(device),
        "keep_attribute": batch["keep_attribute"].to(device),
        "keep_motion": batch["keep_motion"].to(device),
    }


def sample_noise(
    indices: torch.Tensor,
    shape: tuple[int, ...],
    *,
    seed: tuple[int, ...],
    num_train_timesteps: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise (one ``shape`` per sample) and timestep of each sample, from a generator seeded by ``seed`` (the
    run's seed and stage) and the sample's index alone. A sample then gets the same noise however the samples of a
    step are split between processes and micro-batches: a run on N processes trains what one process does at the
    same global batch, and a checkpoint resumes on any number of processes."""
    noises, timesteps = [], []
    for index in indices.tolist():
        state = np.random.SeedSequence([*seed, int(index)]).generate_state(1, np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        timesteps.append(int(torch.randint(0, num_train_timesteps, (1,), generator=generator)))
        noises.append(torch.randn(shape, generator=generator))
    return torch.stack(noises).to(device, dtype), torch.tensor(timesteps, device=device)


def diffusion_loss(
    module: DurianTrainingModule | torch.nn.Module,
    encoded: dict[str, torch.Tensor],
    noise_scheduler,
    *,
    generator: torch.Generator | None,
    snr_gamma: float | None = None,
    timesteps: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    reduce: bool = True,
) -> torch.Tensor:
    """Noise the target latents at random timesteps (or the given ones, with the given noise), predict, and return
    the (weighted) MSE."""
    latents = encoded["latents"]
    count = latents.shape[0]
    if noise is None:
        noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if timesteps is None:
        timesteps = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (count,), generator=generator, device=latents.device
        )
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    inputs = {key: value for key, value in encoded.items() if key != "latents"}
    prediction = module(noisy, timesteps, **inputs)
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3, 4))
    if snr_gamma is not None:
        alphas = noise_scheduler.alphas_cumprod.to(latents.device)[timesteps].float()
        snr = alphas / (1 - alphas)
        weight = torch.clamp(snr, max=snr_gamma) / snr
        if noise_scheduler.config.prediction_type == "v_prediction":
            weight = torch.clamp(snr, max=snr_gamma) / (snr + 1)
        per_sample = per_sample * weight
    return per_sample.mean() if reduce else per_sample


def fit_autoencoder(
    components: TrainingComponents,
    dataset: SelfReconstructionDataset,
    *,
    steps: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
    crop: int | None = None,
    progress: bool = False,
) -> list[float]:
    """Fit a random-weight VAE to the data (frames and masked references alike), so tiny models can be judged in
    pixels. L1 reconstruction of the latent's mode plus a small KL term that keeps the latent well-scaled.

    The VAE is convolutional, so it learns from random ``crop``² patches (default: half the side, a multiple of 8)
    as well as from whole frames, at a quarter of the cost per image.
    """
    vae = components.vae
    vae.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(vae.parameters(), lr=learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    losses = []
    bar = progress_bar(steps, "autoencoder", enabled=progress)
    for step in range(steps):
        images = []
        for offset in range(batch_size):
            sample = dataset.sample(10**8 + step * batch_size + offset)  # indices far from the diffusion stage's
            images.extend([sample.target[0], sample.portrait_reference, sample.attribute_reference])
        side = images[0].shape[0]
        size = crop or max(8, side // 16 * 8)
        corners = rng.integers(0, side - size + 1, size=(len(images), 2))
        patches = np.stack([image[y : y + size, x : x + size] for image, (y, x) in zip(images, corners)])
        pixels = _pixels(patches).to(vae.device, vae.dtype)
        posterior = vae.encode(pixels).latent_dist
        decoded = vae.decode(posterior.mode()).sample
        loss = (decoded - pixels).abs().mean() + 1e-6 * posterior.kl().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    vae.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def latent_scaling(vae, dataset: SelfReconstructionDataset, *, seed: int, samples: int = 32) -> float:
    """1 / the spread of the VAE's latents (their mode) over ``samples`` target frames of the data."""
    images = [dataset.sample(2 * 10**8 + seed * samples + index).target[0] for index in range(samples)]
    latents = vae.encode(_pixels(np.stack(images)).to(vae.device, vae.dtype)).latent_dist.mode()
    return float(1.0 / latents.float().std().clamp_min(1e-3))


def _pixels(images: np.ndarray) -> torch.Tensor:
    """(N, H, W, 3) uint8 → (N, 3, H, W) float in [-1, 1], as the VAE reads images."""
    return torch.from_numpy(images).float().div(127.5).sub(1).permute(0, 3, 1, 2)


def progress_bar(total: int, description: str, *, enabled: bool, initial: int = 0):
    """A bar on standard error (stdout stays for results); the CLI points ``sys.stderr`` at the terminal while
    native libraries' chatter on file descriptor 2 goes to /dev/null."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=initial, desc=description, disable=not enabled, file=sys.stderr, dynamic_ncols=True
    )


def say(message: str, *, enabled: bool) -> None:
    """One line on standard error saying what the run does next (before its bar, or in place of one)."""
    if enabled:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
