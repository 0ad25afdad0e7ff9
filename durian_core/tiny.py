"""Randomly initialised Durian components at any model size, and a complete ``tiny`` pipeline folder on disk.

For tests, benchmarks and trying every stage without trained weights (the output is noise-like; nothing is
trained). The components are the real classes built from a config, as diffusers' own fast tests do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

from durian_core.models.config import TINY, DurianModelConfig, model_config
from durian_core.models.durian import DurianModel
from durian_core.models.weights import default_scheduler
from durian_core.pipeline import DurianPipeline


def dummy_components(config: DurianModelConfig | str = TINY, *, seed: int = 0) -> dict[str, Any]:
    """Random VAE and CLIP image encoder of ``config``'s size, its image processor and the default scheduler.

    Seeded without touching the caller's global random state.
    """
    config = model_config(config) if isinstance(config, str) else config
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed + 1)
    try:
        vae = AutoencoderKL(**config.vae_kwargs()).eval()
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**config.clip_kwargs())).eval()
    finally:
        torch.random.set_rng_state(generator_state)
    size = config.clip_image_size
    feature_extractor = CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return {
        "vae": vae,
        "image_encoder": image_encoder,
        "feature_extractor": feature_extractor,
        "scheduler": default_scheduler(),
    }


def random_pipeline(config: DurianModelConfig | str = TINY, *, seed: int = 0) -> DurianPipeline:
    """A whole pipeline of ``config``'s size with random weights (speed does not depend on weight values)."""
    config = model_config(config) if isinstance(config, str) else config
    return DurianPipeline.from_model(
        DurianModel.from_config(config, seed=seed), **dummy_components(config, seed=seed), model_config=config
    )


def save_tiny_pipeline(path: str | Path, *, seed: int = 0) -> Path:
    """Write a complete, randomly initialised ``tiny`` Durian pipeline folder (what ``--engine durian`` loads).

    Every stage runs on it, on a CPU in seconds.
    """
    path = Path(path)
    random_pipeline(TINY, seed=seed).save_pretrained(path)
    return path
