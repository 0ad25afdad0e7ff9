"""What a training stage works on: the trainable model with its frozen VAE, image encoder and schedulers; which
parameters each stage trains; and writing the result as a pipeline folder the durian engine loads."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from durian_core.errors import DurianInputError
from durian_core.training.config import TrainConfig


@dataclass
class TrainingComponents:
    """Everything a stage needs: the trainable model and the frozen VAE, image encoder and schedulers."""

    model: object  # DurianModel
    vae: object  # AutoencoderKL
    image_encoder: object  # CLIPVisionModelWithProjection
    feature_extractor: object  # CLIPImageProcessor
    inference_scheduler: object  # what the saved pipeline samples with
    model_config_name: str

    @classmethod
    def from_pipeline(cls, pipeline, *, name: str | None = None) -> TrainingComponents:
        """The parts of a ``DurianPipeline``; ``name`` defaults to the pipeline's model config name."""
        return cls(
            model=pipeline.model,
            vae=pipeline.vae,
            image_encoder=pipeline.image_encoder,
            feature_extractor=pipeline.feature_extractor,
            inference_scheduler=pipeline.scheduler,
            model_config_name=name or getattr(pipeline, "model_config_name", "custom"),
        )


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
            config.base_model,
            motion_adapter=config.motion_adapter,
            config=config.model,
            revision=config.base_model_revision,
            motion_adapter_revision=config.motion_adapter_revision,
        )
        name = config.model
    else:
        from durian_core.tiny import random_pipeline

        settings = model_config(config.model)
        if settings.name == "sd15":
            raise DurianInputError(
                f"model {config.model!r} needs base_model (an SD1.5 folder or Hub id) or init_from to start from"
            )
        pipeline = random_pipeline(settings, seed=config.seed)
        name = settings.name
    return TrainingComponents.from_pipeline(pipeline, name=name)


def noise_scheduler_for(config: TrainConfig, inference_scheduler):
    """The DDPM training scheduler with the inference scheduler's betas (and their zero-terminal-SNR rescaling) and
    the configured prediction type."""
    from diffusers import DDPMScheduler

    settings = dict(inference_scheduler.config)
    return DDPMScheduler(
        num_train_timesteps=settings.get("num_train_timesteps", config.num_train_timesteps),
        beta_start=settings.get("beta_start", 0.00085),
        beta_end=settings.get("beta_end", 0.012),
        beta_schedule=settings.get("beta_schedule", "scaled_linear"),
        prediction_type=config.prediction_type,
        rescale_betas_zero_snr=bool(settings.get("rescale_betas_zero_snr", False)),
        clip_sample=False,
    )


def zero_terminal_snr_scheduler(scheduler):
    """``scheduler`` with its betas rescaled to end at pure noise and sampling from the last training step."""
    return scheduler.__class__.from_config(scheduler.config, rescale_betas_zero_snr=True, timestep_spacing="trailing")


def save_pipeline(components: TrainingComponents, folder: Path, *, prediction_type: str) -> Path:
    """Write the trained pipeline folder (what ``DurianEngine.from_pretrained`` reads)."""
    from durian_core.models.config import MODEL_CONFIGS
    from durian_core.pipeline import DurianPipeline

    scheduler = components.inference_scheduler.__class__.from_config(
        components.inference_scheduler.config, prediction_type=prediction_type
    )
    pipeline = DurianPipeline.from_model(
        components.model,
        vae=components.vae,
        image_encoder=components.image_encoder,
        feature_extractor=components.feature_extractor,
        scheduler=scheduler,
        model_config=MODEL_CONFIGS.get(components.model_config_name),
    )
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipeline.save_pretrained(partial)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    return folder
