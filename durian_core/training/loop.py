"""The training loop (accelerate): one stage of the paper's schedule per call, resumable to the step.

Stage 1 trains PRNet, ARNet, the denoiser's spatial layers and the guider on single frames; stage 2 trains only the
motion modules on clips. The loss is the MSE of the ε (or v) prediction, optionally min-SNR weighted.

Output folder of a stage (``<output_dir>/stage<N>/``)::

    config.yaml                 the full config of the run
    autoencoder/                the VAE fitted to the data (only random-weight tiny runs fit one; SD's is frozen)
    checkpoints/step-000500/    accelerate state (model safetensors, optimizer, LR schedule, RNG) + training_state.json
    samples/step-000500.mp4     validation videos: portrait | attribute | generated, cross-identity
    scalars.jsonl               step, loss, learning rate (TensorBoard event files too when it is installed)
    final/                      the trained pipeline folder that ``--engine durian`` loads

Reproducibility: the data of optimizer step ``s`` are samples ``s·A·B·P + …`` of an index-addressed dataset (A
accumulation steps, B batch, P processes), and the noise and timesteps of a micro-batch come from a generator
seeded by (seed, step, micro-batch, process). Resuming from a checkpoint therefore replays exactly the batches an
unbroken run would have seen, and the weights at the end match it within float tolerance.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from durian_core.errors import DurianInputError
from durian_core.training import store
from durian_core.training.config import TrainConfig, save_training_config
from durian_core.training.data import ConsecutiveSampler, SamplingConfig, SelfReconstructionDataset
from durian_core.training.forward import (
    DurianTrainingModule,
    batched_reference_attention,
    install_batched_reference_read,
)

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"


@dataclass
class TrainingComponents:
    """Everything a stage needs: the trainable model and the frozen VAE, image encoder and schedulers."""

    model: object  # DurianModel
    vae: object  # AutoencoderKL
    image_encoder: object  # CLIPVisionModelWithProjection
    feature_extractor: object  # CLIPImageProcessor
    inference_scheduler: object  # what the saved pipeline samples with
    model_config_name: str


@dataclass
class TrainResult:
    """What one stage produced."""

    stage: int
    steps: int  # optimizer steps completed (the final step number)
    losses: list[float] = field(default_factory=list)  # per optimizer step, of this process's run (not resumed ones)
    output_dir: Path | None = None
    final_dir: Path | None = None  # the saved pipeline, when the stage ran to the end


def stage_dir(config: TrainConfig, stage: int) -> Path:
    return Path(config.output_dir) / f"stage{stage}"


def trainable_parameter_names(model, stage: int) -> list[str]:
    """Stage 1: PRNet, ARNet, the guider and every denoiser weight outside the motion modules; stage 2: only those."""
    names = []
    for name, _ in model.named_parameters():
        in_motion = name.startswith("denoiser.") and "motion_modules" in name
        if stage == 2 and in_motion or stage == 1 and not in_motion:
            names.append(name)
    return names


def set_trainable(model, stage: int) -> list[torch.nn.Parameter]:
    """Freeze everything but the stage's parameters; returns those."""
    wanted = set(trainable_parameter_names(model, stage))
    parameters = []
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(name in wanted)
        if name in wanted:
            parameters.append(parameter)
    return parameters


# ------------------------------------------------------------------------------------------------ components


def load_components(config: TrainConfig, stage: int) -> TrainingComponents:
    """Build or load what the stage starts from.

    ``init_from`` (or, for stage 2, stage 1's final pipeline) is a saved Durian pipeline; otherwise ``base_model``
    (an SD1.5-layout folder or pinned Hub id, plus ``motion_adapter``) gives the weights; otherwise the model config's
    random weights (tiny tests).
    """
    from durian_core.models.config import model_config
    from durian_core.pipeline import DurianPipeline

    init_from = config.init_from
    if init_from is None and stage == 2:
        candidate = stage_dir(config, 1) / "final"
        init_from = str(candidate) if candidate.is_dir() else None
    if init_from is not None:
        pipeline = DurianPipeline.from_pretrained(init_from)
        name = getattr(pipeline, "model_config_name", config.model)
    elif config.base_model is not None:
        pipeline = DurianPipeline.from_base(
            config.base_model, motion_adapter=config.motion_adapter, config=config.model,
            revision=config.base_model_revision, motion_adapter_revision=config.motion_adapter_revision,
        )
        name = config.model
    else:
        from durian_core.models.durian import DurianModel, tiny_components

        settings = model_config(config.model)
        if settings.name != "tiny":
            raise DurianInputError(
                f"model {config.model!r} needs base_model (an SD1.5 folder or Hub id) or init_from to start from"
            )
        parts = tiny_components(seed=config.seed)
        pipeline = DurianPipeline.from_model(DurianModel.from_config(settings, seed=config.seed), **parts,
                                             model_config=settings)
        name = settings.name
    return TrainingComponents(
        model=pipeline.model, vae=pipeline.vae, image_encoder=pipeline.image_encoder,
        feature_extractor=pipeline.feature_extractor, inference_scheduler=pipeline.scheduler, model_config_name=name,
    )


def noise_scheduler_for(config: TrainConfig, inference_scheduler):
    """The DDPM training scheduler with the inference scheduler's betas and the configured prediction type."""
    from diffusers import DDPMScheduler

    settings = dict(inference_scheduler.config)
    return DDPMScheduler(
        num_train_timesteps=settings.get("num_train_timesteps", config.num_train_timesteps),
        beta_start=settings.get("beta_start", 0.00085), beta_end=settings.get("beta_end", 0.012),
        beta_schedule=settings.get("beta_schedule", "scaled_linear"), prediction_type=config.prediction_type,
        clip_sample=False,
    )


def save_pipeline(components: TrainingComponents, folder: Path, *, prediction_type: str) -> Path:
    """Write the trained pipeline folder (what ``DurianEngine.from_pretrained`` reads)."""
    from durian_core.models.config import MODEL_CONFIGS
    from durian_core.pipeline import DurianPipeline

    scheduler = components.inference_scheduler.__class__.from_config(
        components.inference_scheduler.config, prediction_type=prediction_type
    )
    pipeline = DurianPipeline.from_model(
        components.model, vae=components.vae, image_encoder=components.image_encoder,
        feature_extractor=components.feature_extractor, scheduler=scheduler,
        model_config=MODEL_CONFIGS.get(components.model_config_name),
    )
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipeline.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder


# ---------------------------------------------------------------------------------------------------- encoding


def clip_pixels(images: torch.Tensor, feature_extractor) -> torch.Tensor:
    """(N, 3, H, W) in [-1, 1] → CLIP input: resized to the encoder's square and normalised like its processor."""
    crop = feature_extractor.crop_size
    size = (int(crop["height"]), int(crop["width"])) if not isinstance(crop, int) else (crop, crop)
    pixels = F.interpolate((images + 1) / 2, size=size, mode="bicubic", antialias=True, align_corners=False)
    mean = torch.tensor(feature_extractor.image_mean, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(feature_extractor.image_std, device=images.device, dtype=images.dtype)[:, None, None]
    return (pixels.clamp(0, 1) - mean) / std


@torch.no_grad()
def encode_batch(components: TrainingComponents, batch: dict[str, torch.Tensor], *,
                 generator: torch.Generator | None) -> dict[str, torch.Tensor]:
    """Run the frozen VAE and image encoder over a collated batch (everything the trainable forward needs)."""
    vae, encoder = components.vae, components.image_encoder
    device, dtype = vae.device, vae.dtype
    scale = vae.config.scaling_factor
    target = batch["target"].to(device, dtype)  # (B, F, 3, H, W)
    count, frames = target.shape[:2]
    # The mode, as the pipeline encodes its references (and as the fitted toy VAE was trained to decode).
    latents = vae.encode(target.flatten(0, 1)).latent_dist.mode() * scale
    latents = latents.unflatten(0, (count, frames)).movedim(1, 2)  # (B, 4, F, h, w)
    references = torch.cat([batch["portrait_reference"], batch["attribute_reference"]]).to(device, dtype)
    reference_latents = vae.encode(references).latent_dist.mode() * scale
    size = reference_latents.shape[-1]
    masks = torch.cat([batch["portrait_mask"], batch["attribute_mask"]]).to(device, dtype)
    masks = F.interpolate(masks, size=(size, size), mode="area").clamp(0, 1)
    pixels = clip_pixels(references, components.feature_extractor).to(encoder.device, encoder.dtype)
    embeddings = encoder(pixel_values=pixels).image_embeds[:, None]
    return {
        "latents": latents,
        "portrait_latents": reference_latents[:count],
        "attribute_latents": reference_latents[count:],
        "portrait_mask": masks[:count],
        "attribute_mask": masks[count:],
        "portrait_embedding": embeddings[:count],
        "attribute_embedding": embeddings[count:],
        "keypoints": batch["keypoints"].flatten(0, 1).to(device, dtype),
        "keep_portrait": batch["keep_portrait"].to(device),
        "keep_attribute": batch["keep_attribute"].to(device),
        "keep_motion": batch["keep_motion"].to(device),
    }


def diffusion_loss(
    module: DurianTrainingModule | torch.nn.Module,
    encoded: dict[str, torch.Tensor],
    noise_scheduler,
    *,
    generator: torch.Generator | None,
    snr_gamma: float | None = None,
    timesteps: torch.Tensor | None = None,
    reduce: bool = True,
) -> torch.Tensor:
    """Noise the target latents at random timesteps, predict, and return the (weighted) MSE."""
    latents = encoded["latents"]
    count = latents.shape[0]
    noise = torch.randn(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    if timesteps is None:
        timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (count,), generator=generator,
                                  device=latents.device)
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


# ------------------------------------------------------------------------------------------------- autoencoder


def fit_autoencoder(
    components: TrainingComponents, dataset: SelfReconstructionDataset, *, steps: int, learning_rate: float,
    batch_size: int, seed: int, crop: int | None = None, progress: bool = False,
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
    bar = _progress_bar(steps, "autoencoder", enabled=progress)
    for step in range(steps):
        images = []
        for offset in range(batch_size):
            sample = dataset.sample(10**8 + step * batch_size + offset)  # indices far from the diffusion stage's
            images.extend([sample.target[0], sample.portrait_reference, sample.attribute_reference])
        side = images[0].shape[0]
        size = crop or max(8, side // 16 * 8)
        corners = rng.integers(0, side - size + 1, size=(len(images), 2))
        patches = np.stack([image[y:y + size, x:x + size] for image, (y, x) in zip(images, corners)])
        pixels = torch.from_numpy(patches).float().div(127.5).sub(1).permute(0, 3, 1, 2)
        pixels = pixels.to(vae.device, vae.dtype)
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


# -------------------------------------------------------------------------------------------------- the loop


def _progress_bar(total: int, description: str, *, enabled: bool, initial: int = 0):
    from tqdm.auto import tqdm

    # stdout: the CLI silences stderr (native libraries' chatter) unless --verbose.
    return tqdm(total=total, initial=initial, desc=description, disable=not enabled, file=sys.stdout,
                dynamic_ncols=True)


def _latest_checkpoint(folder: Path) -> Path | None:
    checkpoints = sorted((folder / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*"))
    complete = [path for path in checkpoints if (path / "training_state.json").is_file()]
    return complete[-1] if complete else None


def resolve_resume(config: TrainConfig, stage: int, resume: str | None) -> Path | None:
    """``None``: start fresh; ``"latest"``: the stage's newest complete checkpoint (fresh if none); else a path."""
    if resume is None:
        return None
    if resume == "latest":
        return _latest_checkpoint(stage_dir(config, stage))
    path = Path(resume)
    if not (path / "training_state.json").is_file():
        raise DurianInputError(f"{path} is not a training checkpoint (no training_state.json)")
    return path


def _lr_lambda(config: TrainConfig, stage: int) -> Callable[[int], float]:
    settings = config.stage(stage)

    def factor(step: int) -> float:
        if step < settings.warmup_steps:
            return (step + 1) / (settings.warmup_steps + 1)
        if config.lr_schedule == "cosine":
            progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor


def _has_tensorboard() -> bool:
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def train_stage(
    config: TrainConfig,
    stage: int,
    *,
    resume: str | None = None,
    stop_after: int | None = None,
    progress: bool = True,
    accelerator=None,
) -> TrainResult:
    """Run (or continue) one stage. ``stop_after`` ends early at that step after writing a checkpoint there
    (interrupting a run on purpose, as the resume test does); the final pipeline is written only at the last step.
    """
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs, ProjectConfiguration, set_seed

    settings = config.stage(stage)
    if not config.data:
        raise DurianInputError("no training data: set data=<cache folder written by preprocess>")
    output = stage_dir(config, stage)
    if accelerator is None:
        accelerator = Accelerator(
            mixed_precision=config.mixed_precision,
            gradient_accumulation_steps=settings.gradient_accumulation,
            log_with="tensorboard" if _has_tensorboard() else None,
            project_config=ProjectConfiguration(project_dir=str(output), logging_dir=str(output / "logs")),
            # Stage 1: the reference nets' layers after their last recorded attention get no gradient.
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
    set_seed(config.seed)
    main = accelerator.is_main_process
    if main:
        output.mkdir(parents=True, exist_ok=True)
        save_training_config(config, output / "config.yaml")

    sampling: SamplingConfig = config.sampling_for(stage)
    dataset = SelfReconstructionDataset(config.data, config=sampling, seed=config.seed * 1000 + stage)
    resolution = store.read_manifest(config.data).resolution

    components = load_components(config, stage)
    expected = int(components.vae.config.sample_size)
    if resolution != expected:
        raise DurianInputError(f"the cache {config.data} is at {resolution} px but the model runs at {expected} px")
    _prepare_autoencoder(config, stage, components, dataset, output, accelerator, progress=progress)

    model = components.model
    device = accelerator.device
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(config.mixed_precision, torch.float32)
    components.vae.to(device, dtype=weight_dtype).requires_grad_(False)
    components.image_encoder.to(device, dtype=weight_dtype).requires_grad_(False)
    parameters = set_trainable(model, stage)
    if config.gradient_checkpointing:
        for net in (model.prnet, model.arnet, model.denoiser):
            net.enable_gradient_checkpointing()
    model.train()
    module = DurianTrainingModule(model)
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, betas=config.adam_betas,
                                  weight_decay=config.weight_decay, eps=config.adam_epsilon)
    lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, stage))
    # The LR schedule is not handed to accelerate.prepare, which would step it once per process per step; it is
    # registered so checkpoints still carry it.
    module, optimizer = accelerator.prepare(module, optimizer)
    accelerator.register_for_checkpointing(lr_scheduler)
    noise_scheduler = noise_scheduler_for(config, components.inference_scheduler)

    step = 0
    checkpoint = resolve_resume(config, stage, resume)
    if checkpoint is not None:
        accelerator.load_state(str(checkpoint))
        step = int(json.loads((checkpoint / "training_state.json").read_text())["step"])
        logger.info("resumed stage %d from %s at step %d", stage, checkpoint, step)
    end = settings.steps if stop_after is None else min(settings.steps, stop_after)

    world, rank = accelerator.num_processes, accelerator.process_index
    per_step = settings.batch_size * settings.gradient_accumulation * world
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=settings.batch_size, num_workers=config.num_workers,
        sampler=ConsecutiveSampler(start=step * per_step, rank=rank, world=world),
        persistent_workers=config.num_workers > 0, pin_memory=device.type == "cuda",
    )
    if main and accelerator.trackers:
        accelerator.init_trackers(f"durian-stage{stage}", config={"stage": stage, "name": config.name})

    result = TrainResult(stage=stage, steps=step, output_dir=output)
    bar = _progress_bar(settings.steps, f"stage {stage}", enabled=progress and main, initial=step)
    batches = iter(loader)
    with batched_reference_attention(model):
        while step < end:
            total = 0.0
            for micro in range(settings.gradient_accumulation):
                batch = next(batches)
                generator = torch.Generator(device=device).manual_seed(
                    hash((config.seed, stage, step, micro, rank)) % (2**63)
                )
                with accelerator.accumulate(module):
                    encoded = encode_batch(components, batch, generator=generator)
                    with accelerator.autocast():
                        loss = diffusion_loss(module, encoded, noise_scheduler, generator=generator,
                                              snr_gamma=config.snr_gamma)
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
                    optimizer.step()
                    if accelerator.sync_gradients:
                        lr_scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                total += float(loss.detach()) / settings.gradient_accumulation
            step += 1
            mean_loss = float(accelerator.reduce(torch.tensor(total, device=device), reduction="mean"))
            result.losses.append(mean_loss)
            learning_rate = lr_scheduler.get_last_lr()[0]
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{learning_rate:.2e}")
            if main:
                _append_scalars(output, {"step": step, "loss": mean_loss, "lr": learning_rate})
                if step % config.log_every == 0 or step == end:
                    accelerator.log({"loss": mean_loss, "lr": learning_rate}, step=step)
            if step % config.checkpoint_every == 0 or step == end:
                _save_checkpoint(accelerator, output, step, keep=config.keep_checkpoints)
            if (main and config.validate_every and config.validation_samples > 0 and step % config.validate_every == 0
                    and step < settings.steps):
                _validate_in_place(components, dataset, output, step, config, model)
                install_batched_reference_read(model)  # assembling the pipeline put the inference readers back
    bar.close()
    result.steps = step
    accelerator.wait_for_everyone()
    if step >= settings.steps:
        model.eval()
        if main:
            result.final_dir = save_pipeline(components, output / "final", prediction_type=config.prediction_type)
            if config.validation_samples > 0:
                write_validation_video(result.final_dir, dataset, output / "samples" / f"step-{step:06d}.mp4",
                                       samples=config.validation_samples, steps=config.validation_inference_steps)
        accelerator.wait_for_everyone()
    accelerator.end_training()
    return result


def _prepare_autoencoder(config, stage, components, dataset, output, accelerator, *, progress: bool) -> None:
    """Tiny runs from random weights fit the VAE once (stage 1) and keep it in ``autoencoder/`` for resumption."""
    from diffusers import AutoencoderKL

    folder = output / "autoencoder"
    fresh = stage == 1 and config.init_from is None and config.base_model is None and config.autoencoder_steps > 0
    if not fresh:
        return
    if (folder / "config.json").is_file():
        components.vae = AutoencoderKL.from_pretrained(str(folder)).eval()
        return
    width = config.autoencoder_width
    settings = dict(components.vae.config) | {"block_out_channels": (width, width, 2 * width, 2 * width)}
    settings = {key: value for key, value in settings.items() if not key.startswith("_")}
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        components.vae = AutoencoderKL.from_config(settings)
    finally:
        torch.random.set_rng_state(generator_state)
    fit_autoencoder(components, dataset, steps=config.autoencoder_steps,
                    learning_rate=config.autoencoder_learning_rate, batch_size=max(1, config.stage1.batch_size // 2),
                    seed=config.seed, progress=progress and accelerator.is_main_process)
    # Every process fits the same VAE from the same seed and data; only the main one writes it.
    if accelerator.is_main_process:
        partial = folder.with_name("autoencoder.partial")
        components.vae.save_pretrained(str(partial), safe_serialization=True)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    accelerator.wait_for_everyone()


def _append_scalars(output: Path, values: dict) -> None:
    with (output / "scalars.jsonl").open("a") as handle:
        handle.write(json.dumps(values) + "\n")


def _save_checkpoint(accelerator, output: Path, step: int, *, keep: int) -> None:
    folder = output / "checkpoints" / f"{CHECKPOINT_PREFIX}{step:06d}"
    accelerator.save_state(str(folder), safe_serialization=True)
    if accelerator.is_main_process:
        (folder / "training_state.json").write_text(json.dumps({"step": step}))
        checkpoints = sorted((output / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*"))
        for old in checkpoints[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _validate_in_place(components, dataset, output: Path, step: int, config: TrainConfig, model) -> None:
    """Mid-run validation: save the current pipeline to a scratch folder and sample from it."""
    scratch = output / "validation-pipeline"
    training = model.training
    model.eval()
    with torch.no_grad():
        save_pipeline(components, scratch, prediction_type=config.prediction_type)
    write_validation_video(scratch, dataset, output / "samples" / f"step-{step:06d}.mp4",
                           samples=config.validation_samples, steps=config.validation_inference_steps)
    model.train(training)


def write_validation_video(pipeline_dir: Path, dataset: SelfReconstructionDataset, path: Path, *, samples: int,
                           steps: int) -> Path:
    """Cross-identity transfers with the saved pipeline: portrait | attribute | result, one row per pair."""
    from durian_core.media import write_video
    from durian_core.pipeline import DurianPipeline

    pipeline = DurianPipeline.from_pretrained(pipeline_dir)
    records = dataset.records
    rows = []
    frames = max(1, min(8, dataset.config.num_frames * 2))
    for index in range(min(samples, len(records))):
        portrait_video, attribute_video = dataset.video(index), dataset.video((index + 1) % len(records))
        kind = next((k for k in attribute_video.record.kinds if k in portrait_video.record.kinds),
                    attribute_video.record.kinds[0])
        portrait = np.asarray(portrait_video.frames[0])
        own = portrait_video.masks.get(kind)
        portrait_mask = np.zeros(portrait.shape[:2], np.float32) if own is None else np.asarray(own[0]) / 255.0
        attribute = np.asarray(attribute_video.frames[0])
        attribute_mask = np.asarray(attribute_video.masks[kind][0]) / 255.0
        count = min(frames, portrait_video.record.num_frames)
        keypoints = np.array(portrait_video.keypoints[:count])
        generated = pipeline(
            portrait, np.maximum(portrait_mask, attribute_mask).astype(np.float32), [attribute],
            [attribute_mask.astype(np.float32)], keypoint_maps=keypoints, num_inference_steps=steps,
            window=min(16, count), overlap=0, generator=torch.Generator().manual_seed(index),
        ).frames
        rows.append(np.stack([np.concatenate([portrait, attribute, frame], axis=1) for frame in generated]))
    video = np.concatenate(rows, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(video, path, fps=8.0)


def train(config: TrainConfig, *, stages: tuple[int, ...] = (1, 2), resume: str | None = None,
          progress: bool = True) -> list[TrainResult]:
    """Run the given stages in order; stage 2 starts from stage 1's final pipeline unless ``init_from`` says else."""
    return [train_stage(config, stage, resume=resume, progress=progress) for stage in stages]
