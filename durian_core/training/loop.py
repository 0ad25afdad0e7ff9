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

Reproducibility: the data of optimizer step ``s`` are samples ``s·A·B·P … (s+1)·A·B·P − 1`` of an index-addressed
dataset (A accumulation steps, B batch, P processes; process ``r`` takes every P-th from ``r``), and each sample's
noise and timestep come from a generator seeded by (seed, stage, sample index). Resuming from a checkpoint therefore
replays exactly the batches an unbroken run would have seen, on any number of processes, and P processes at batch B
train what one process does at batch P·B: the weights at the end match within float tolerance. With several
processes each one lists the samples it trained on, per step, in ``processes/rank-<r>.jsonl``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from durian_core.errors import DurianInputError
from durian_core.training import store
from durian_core.training.components import (
    load_components,
    noise_scheduler_for,
    save_pipeline,
    set_trainable,
    stage_dir,
    zero_terminal_snr_scheduler,
)
from durian_core.training.config import TrainConfig, save_training_config
from durian_core.training.data import ConsecutiveSampler, SamplingConfig, SelfReconstructionDataset
from durian_core.training.forward import (
    DurianTrainingModule,
    batched_reference_attention,
    install_batched_reference_read,
)
from durian_core.training.objective import (
    diffusion_loss,
    encode_batch,
    fit_autoencoder,
    latent_scaling,
    progress_bar,
    sample_noise,
    say,
)

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"


@dataclass
class TrainResult:
    """What one stage produced."""

    stage: int
    steps: int  # optimizer steps completed (the final step number)
    losses: list[float] = field(default_factory=list)  # per optimizer step, of this process's run (not resumed ones)
    output_dir: Path | None = None
    final_dir: Path | None = None  # the saved pipeline, when the stage ran to the end


# -------------------------------------------------------------------------------------------------- the loop


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

    videos = len(dataset.records)
    say(f"stage {stage}: loading the {config.model} components ({videos} training videos)", enabled=progress and main)
    components = load_components(config, stage)
    expected = int(components.vae.config.sample_size)
    if resolution != expected:
        raise DurianInputError(f"the cache {config.data} is at {resolution} px but the model runs at {expected} px")
    _prepare_autoencoder(config, stage, components, dataset, output, accelerator, progress=progress)
    if config.zero_terminal_snr:  # the saved pipeline then samples with the schedule it was trained on
        components.inference_scheduler = zero_terminal_snr_scheduler(components.inference_scheduler)

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
    optimizer = torch.optim.AdamW(
        parameters,
        lr=settings.learning_rate,
        betas=config.adam_betas,
        weight_decay=config.weight_decay,
        eps=config.adam_epsilon,
    )
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
        dataset,
        batch_size=settings.batch_size,
        num_workers=config.num_workers,
        sampler=ConsecutiveSampler(start=step * per_step, rank=rank, world=world),
        persistent_workers=config.num_workers > 0,
        pin_memory=device.type == "cuda",
    )
    if main and accelerator.trackers:
        accelerator.init_trackers(f"durian-stage{stage}", config={"stage": stage, "name": config.name})

    result = TrainResult(stage=stage, steps=step, output_dir=output)
    bar = progress_bar(settings.steps, f"stage {stage}", enabled=progress and main, initial=step)
    batches = iter(loader)
    with batched_reference_attention(model):
        while step < end:
            total = 0.0
            seen = []
            for _ in range(settings.gradient_accumulation):
                batch = next(batches)
                seen.extend(batch["index"].tolist())
                with accelerator.accumulate(module):
                    encoded = encode_batch(components, batch, generator=None)
                    latents = encoded["latents"]
                    noise, timesteps = sample_noise(
                        batch["index"],
                        tuple(latents.shape[1:]),
                        seed=(config.seed, stage),
                        num_train_timesteps=noise_scheduler.config.num_train_timesteps,
                        device=latents.device,
                        dtype=latents.dtype,
                    )
                    with accelerator.autocast():
                        loss = diffusion_loss(
                            module,
                            encoded,
                            noise_scheduler,
                            generator=None,
                            noise=noise,
                            timesteps=timesteps,
                            snr_gamma=config.snr_gamma,
                        )
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and config.max_grad_norm > 0:
                        accelerator.clip_grad_norm_(parameters, config.max_grad_norm)
                    optimizer.step()
                    if accelerator.sync_gradients:
                        lr_scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                total += float(loss.detach()) / settings.gradient_accumulation
            step += 1
            if world > 1:
                _append_jsonl(output / "processes" / f"rank-{rank}.jsonl", {"step": step, "samples": seen})
            mean_loss = float(accelerator.reduce(torch.tensor(total, device=device), reduction="mean"))
            result.losses.append(mean_loss)
            learning_rate = lr_scheduler.get_last_lr()[0]
            bar.update(1)
            bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{learning_rate:.2e}")
            if main:
                _append_jsonl(output / "scalars.jsonl", {"step": step, "loss": mean_loss, "lr": learning_rate})
                if step % config.log_every == 0 or step == end:
                    accelerator.log({"loss": mean_loss, "lr": learning_rate}, step=step)
            if step % config.checkpoint_every == 0 or step == end:
                _save_checkpoint(accelerator, output, step, keep=config.keep_checkpoints)
            if (
                main
                and config.validate_every
                and config.validation_samples > 0
                and step % config.validate_every == 0
                and step < settings.steps
            ):
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
                write_validation_video(
                    result.final_dir,
                    dataset,
                    output / "samples" / f"step-{step:06d}.mp4",
                    samples=config.validation_samples,
                    steps=config.validation_inference_steps,
                )
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
    say(
        f"stage {stage}: fitting the autoencoder from random weights first ({config.autoencoder_steps} steps)",
        enabled=progress and accelerator.is_main_process,
    )
    width = config.autoencoder_width
    levels = tuple(components.vae.config.block_out_channels)
    settings = dict(components.vae.config) | {"block_out_channels": tuple(width * c // levels[0] for c in levels)}
    settings = {key: value for key, value in settings.items() if not key.startswith("_")}
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(config.seed)
    try:
        components.vae = AutoencoderKL.from_config(settings)
    finally:
        torch.random.set_rng_state(generator_state)
    # The VAE learns the data's own colours, not recoloured ones: spread over the whole hue circle they are harder
    # to learn (on toy data, after 400 steps, held-out hair decoded at median ΔE 51 against 25 without).
    plain = SelfReconstructionDataset(
        config.data,
        config=dataclasses.replace(dataset.config, recolour_probability=0.0, identity_recolour_probability=0.0),
        seed=dataset.seed,
    )
    fit_autoencoder(
        components,
        plain,
        steps=config.autoencoder_steps,
        learning_rate=config.autoencoder_learning_rate,
        batch_size=max(1, config.stage1.batch_size // 2),
        seed=config.seed,
        progress=progress and accelerator.is_main_process,
    )
    # Latents of unit spread, as SD's 0.18215 gives its own VAE: the noise schedule then means what it says (with
    # the config's factor the fitted latents spread about 0.35 and the signal drowns at half the steps). Measured on
    # the data's own colours too, so recolouring options do not change the schedule's meaning (identity recolouring
    # took the factor from 0.69 to 0.64).
    components.vae.register_to_config(scaling_factor=latent_scaling(components.vae, plain, seed=config.seed))
    # Every process fits the same VAE from the same seed and data; only the main one writes it.
    if accelerator.is_main_process:
        partial = folder.with_name("autoencoder.partial")
        components.vae.save_pretrained(str(partial), safe_serialization=True)
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    accelerator.wait_for_everyone()


def _append_jsonl(path: Path, values: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
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
    write_validation_video(
        scratch,
        dataset,
        output / "samples" / f"step-{step:06d}.mp4",
        samples=config.validation_samples,
        steps=config.validation_inference_steps,
    )
    model.train(training)


def write_validation_video(
    pipeline_dir: Path, dataset: SelfReconstructionDataset, path: Path, *, samples: int, steps: int
) -> Path:
    """Cross-identity transfers with the saved pipeline: portrait | attribute | result, one row per pair."""
    from durian_core.media import write_video
    from durian_core.pipeline import DurianPipeline

    pipeline = DurianPipeline.from_pretrained(pipeline_dir)
    records = dataset.records
    rows = []
    frames = max(1, min(8, dataset.config.num_frames * 2))
    for index in range(min(samples, len(records))):
        portrait_video, attribute_video = dataset.video(index), dataset.video((index + 1) % len(records))
        kind = next(
            (k for k in attribute_video.record.kinds if k in portrait_video.record.kinds),
            attribute_video.record.kinds[0],
        )
        portrait = np.asarray(portrait_video.frames[0])
        own = portrait_video.masks.get(kind)
        portrait_mask = np.zeros(portrait.shape[:2], np.float32) if own is None else np.asarray(own[0]) / 255.0
        attribute = np.asarray(attribute_video.frames[0])
        attribute_mask = np.asarray(attribute_video.masks[kind][0]) / 255.0
        count = min(frames, portrait_video.record.num_frames)
        keypoints = np.array(portrait_video.keypoints[:count])
        generated = pipeline(
            portrait,
            np.maximum(portrait_mask, attribute_mask).astype(np.float32),
            [attribute],
            [attribute_mask.astype(np.float32)],
            keypoint_maps=keypoints,
            num_inference_steps=steps,
            window=min(16, count),
            overlap=0,
            generator=torch.Generator().manual_seed(index),
        ).frames
        rows.append(np.stack([np.concatenate([portrait, attribute, frame], axis=1) for frame in generated]))
    video = np.concatenate(rows, axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_video(video, path, fps=8.0)


def train(
    config: TrainConfig, *, stages: tuple[int, ...] = (1, 2), resume: str | None = None, progress: bool = True
) -> list[TrainResult]:
    """Run the given stages in order; stage 2 starts from stage 1's final pipeline unless ``init_from`` says else."""
    return [train_stage(config, stage, resume=resume, progress=progress) for stage in stages]
