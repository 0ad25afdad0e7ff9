"""Does a trained model use its references? The reference gap, measured as denoising error.

For samples of different videos the model denoises each target at mid timesteps twice, with the same noise: once
with the sample's own references and once with references shuffled between videos (each target gets another
person's portrait and attribute). A model that ignores its references scores the same both ways; one that uses
them predicts the noise better with the right ones. The gap is ``shuffled − matched`` (positive is good).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from durian_core.errors import DurianInputError
from durian_core.training.components import TrainingComponents, noise_scheduler_for
from durian_core.training.data import NO_AUGMENTATION, SamplingConfig, SelfReconstructionDataset, sample_to_tensors
from durian_core.training.forward import DurianTrainingModule, batched_reference_attention
from durian_core.training.objective import diffusion_loss, encode_batch


def components_from_pipeline(folder: str | Path) -> TrainingComponents:
    """Training components of a saved pipeline folder."""
    from durian_core.pipeline import DurianPipeline

    pipeline = DurianPipeline.from_pretrained(folder)
    return TrainingComponents.from_pipeline(pipeline)


@torch.no_grad()
def reference_gap(
    components: TrainingComponents,
    cache: str | Path,
    *,
    samples_per_video: int = 4,
    timesteps: tuple[int, ...] = (300, 400, 500, 600, 700),
    seed: int = 0,
) -> dict[str, float]:
    """Mean denoising MSE with matched and with shuffled references, and their difference.

    Samples come without augmentation or guidance dropout; each uses every timestep of ``timesteps`` with one
    noise draw shared by both conditions.
    """
    config = SamplingConfig(**NO_AUGMENTATION)
    dataset = SelfReconstructionDataset(cache, config=config, seed=seed + 7919)
    count = len(dataset.records)
    if count < 2:
        raise DurianInputError("the reference gap needs at least two videos to shuffle references between")
    batch_items = []
    for round_index in range(samples_per_video):
        for position in range(count):
            rng_index = round_index * count + position
            sample = _sample_of_video(dataset, position, rng_index)
            batch_items.append(sample_to_tensors(sample))
    batch = {key: torch.stack([item[key] for item in batch_items]) for key in batch_items[0]}
    # Another video's references: the next video in the same round (count ≥ 2, so never the sample's own).
    order = torch.arange(len(batch_items))
    shuffled_order = (order // count) * count + (order % count + 1) % count
    shuffled = dict(batch)
    for key in ("portrait_reference", "portrait_mask", "attribute_reference", "attribute_mask"):
        shuffled[key] = batch[key][shuffled_order]

    model = components.model
    model.eval()
    noise_scheduler = noise_scheduler_for_pipeline(components)
    module = DurianTrainingModule(model)
    results = {"matched": 0.0, "shuffled": 0.0}
    with batched_reference_attention(model):
        for timestep in timesteps:
            for name, variant in (("matched", batch), ("shuffled", shuffled)):
                generator = torch.Generator().manual_seed(seed + timestep)
                encoded = encode_batch(components, variant, generator=generator)
                steps = torch.full((len(batch_items),), timestep, dtype=torch.long)
                loss = diffusion_loss(module, encoded, noise_scheduler, generator=generator, timesteps=steps)
                results[name] += float(loss) / len(timesteps)
    results["gap"] = results["shuffled"] - results["matched"]
    results["relative_gap"] = results["gap"] / max(results["matched"], 1e-12)
    return results


def _sample_of_video(dataset: SelfReconstructionDataset, position: int, index: int):
    import numpy as np

    from durian_core.training.data import sample_self_reconstruction

    rng = np.random.default_rng([dataset.seed, position, index])
    return sample_self_reconstruction(dataset.video(position), rng=rng, config=dataset.config)


def noise_scheduler_for_pipeline(components: TrainingComponents):
    """The DDPM scheduler matching the saved pipeline's schedule and prediction type."""
    from durian_core.training.config import TINY_TRAINING

    prediction = components.inference_scheduler.config.get("prediction_type", "epsilon")
    return noise_scheduler_for(
        dataclasses.replace(TINY_TRAINING, prediction_type=prediction), components.inference_scheduler
    )
