"""The composition proof: the toy recipe trained longer than CI affords, on looks whose second attribute is large
enough to see at the toy size (a beard beside the hair), then measured on held-out people and looks.

One call of :func:`run_proof` writes the toy dataset, fits the VAE, trains stage 1 and measures transfer, face,
α and composition (:mod:`durian_core.training.transfer`). Everything lands in one output folder and every phase
resumes: finished videos are kept, the fitted VAE is reused and training continues from its newest checkpoint, so
running the same command again after an interruption carries on where it stopped. The wall time of every session
is added up in ``timing.json``; the figures go to ``proof.json`` and the contact sheet to ``sheet.png``.

Output folder::

    data/            the toy dataset (a training cache)
    run/stage1/      the training run (autoencoder, checkpoints, final pipeline)
    timing.json      seconds spent per phase, over every session
    proof.json       the settings, the command, the wall time and the figures
    sheet.png        per held-out pair: portrait | hair ref | transfer | second hair | α sweep | extra ref | it alone |
                     hair + it

A run still training can be measured as it stands: :func:`measure_checkpoint` turns its newest checkpoint into a
pipeline and writes ``proof-step-<N>.json`` and ``sheet-step-<N>.png`` beside the others, training untouched.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from durian_core.errors import DurianInputError
from durian_core.training.config import TOY_TRAINING, StageConfig, TrainConfig
from durian_core.training.toy import EXTRA_KINDS

RECIPES = ("paper", "balanced", "distractors", "composed")
"""``paper``: the toy preset's recipe (a video is drawn, then one of its attribute kinds); ``balanced``: each
attribute kind is drawn equally often (``sampling.balance_kinds``); ``distractors``: balanced, and half the samples
carry a second reference of another kind, from another video, that the portrait keeps its own of
(``sampling.other_kind_probability``); ``composed``: balanced, and half the samples carry a second reference: in
half of those the sample's own video's other attribute, the portrait giving up both regions (a composed example,
``sampling.composed_share``), in the other half a distractor."""

DISTRACTOR_PROBABILITY = 0.5
COMPOSED_SHARE = 0.5


@dataclass(frozen=True)
class ProofSettings:
    """One proof run. The defaults are the run recorded in ``docs/training.md``."""

    output: str  # folder for the dataset, the run and the figures
    seed: int = 0  # seeds the dataset, the weights, the data order and the sampling noise
    recipe: str = "balanced"  # one of RECIPES
    extra: str = "beard"  # the attribute composed beside the hair: "beard" (large) or "glasses" (rims a pixel wide)
    steps: int = 4000  # stage-1 optimizer steps (the CI preset: 1000)
    autoencoder_steps: int = 4000  # the VAE fit first (4000 keeps every hue; the CI preset fits 3000)
    batch_size: int = 8
    learning_rate: float = 1e-3  # with a cosine decay after 10 warm-up steps
    pairs: int = 12  # held-out pairs measured
    inference_steps: int = 10
    num_videos: int = 96  # 24 people each in 4 of 24 looks, cast independently, as the CI preset's data
    num_people: int = 24
    num_looks: int = 24
    num_frames: int = 16
    checkpoint_every: int = 250

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise DurianInputError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if self.extra not in EXTRA_KINDS:
            raise DurianInputError(f"extra must be one of {EXTRA_KINDS}, got {self.extra!r}")
        if min(self.steps, self.pairs, self.num_videos) < 1 or self.autoencoder_steps < 0:
            raise DurianInputError("steps, pairs and num_videos must be positive, autoencoder_steps not negative")


QUICK = dict(steps=30, autoencoder_steps=60, pairs=2, num_videos=8, num_people=4, num_looks=4, num_frames=8)
"""Overrides for a run of a few minutes that goes through every phase (to check the pipeline, not the claim)."""


def proof_config(settings: ProofSettings) -> TrainConfig:
    """The training config of a proof run: the ``toy`` preset, longer, with the recipe's sampling."""
    root = Path(settings.output)
    sampling = dataclasses.replace(
        TOY_TRAINING.sampling,
        balance_kinds=settings.recipe != "paper",
        other_kind_probability=DISTRACTOR_PROBABILITY if settings.recipe in ("distractors", "composed") else 0.0,
        composed_share=COMPOSED_SHARE if settings.recipe == "composed" else 0.0,
    )
    stage1 = StageConfig(
        steps=settings.steps, batch_size=settings.batch_size, learning_rate=settings.learning_rate, warmup_steps=10
    )
    return dataclasses.replace(
        TOY_TRAINING,
        name=f"prove-{settings.recipe}",
        data=str(root / "data"),
        output_dir=str(root / "run"),
        seed=settings.seed,
        stage1=stage1,
        autoencoder_steps=settings.autoencoder_steps,
        lr_schedule="cosine",
        sampling=sampling,
        checkpoint_every=settings.checkpoint_every,
        keep_checkpoints=2,
        validation_samples=0,
    )


@contextmanager
def _timed(root: Path, phase: str) -> Iterator[None]:
    """Add this session's seconds in ``phase`` to ``timing.json`` (kept across interrupted sessions)."""
    path = root / "timing.json"
    start = time.monotonic()
    try:
        yield
    finally:
        spent = json.loads(path.read_text()) if path.is_file() else {}
        spent[phase] = round(spent.get(phase, 0.0) + time.monotonic() - start, 1)
        path.write_text(json.dumps(spent, indent=1))


def run_proof(settings: ProofSettings, *, command: str = "", progress: bool = True) -> dict:
    """Write the data, train (or continue training) and measure; returns what ``proof.json`` holds."""
    from durian_core.models.config import model_config
    from durian_core.training.loop import train_stage
    from durian_core.training.toy import write_toy_dataset

    root = Path(settings.output)
    root.mkdir(parents=True, exist_ok=True)
    config = proof_config(settings)
    with _timed(root, "data"):
        write_toy_dataset(
            config.data,
            num_videos=settings.num_videos,
            num_people=settings.num_people,
            num_looks=settings.num_looks,
            num_frames=settings.num_frames,
            resolution=model_config(config.model).resolution,
            seed=settings.seed,
            extras=(settings.extra,),
        )
    with _timed(root, "train"):
        result = train_stage(config, 1, resume="latest", progress=progress)
    with _timed(root, "evaluate"):
        summary = measure_proof(result.final_dir, settings, sheet=root / "sheet.png")
    timing = json.loads((root / "timing.json").read_text())
    record = {
        "command": command,
        "settings": dataclasses.asdict(settings),
        "wall_seconds": timing,
        "wall_minutes_total": round(sum(timing.values()) / 60, 1),
        "figures": summary,
    }
    (root / "proof.json").write_text(json.dumps(record, indent=1))
    return record


def measure_checkpoint(settings: ProofSettings, *, command: str = "") -> dict:
    """The figures of a proof run's newest checkpoint (while it trains, or after it stopped)."""
    from durian_core.training.loop import resolve_resume

    root = Path(settings.output)
    config = proof_config(settings)
    checkpoint = resolve_resume(config, 1, "latest")
    if checkpoint is None:
        raise DurianInputError(f"{root} holds no checkpoint yet")
    step = int(json.loads((checkpoint / "training_state.json").read_text())["step"])
    weights = pipeline_from_checkpoint(config, checkpoint, root / f"pipeline-step-{step:06d}")
    summary = measure_proof(weights, settings, sheet=root / f"sheet-step-{step:06d}.png")
    record = {"command": command, "settings": dataclasses.asdict(settings), "step": step, "figures": summary}
    (root / f"proof-step-{step:06d}.json").write_text(json.dumps(record, indent=1))
    return record


def pipeline_from_checkpoint(config: TrainConfig, checkpoint: Path, folder: Path) -> Path:
    """A stage-1 checkpoint of ``config``'s run as a pipeline folder the durian engine loads."""
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    from durian_core.training.components import (
        load_components,
        save_pipeline,
        stage_dir,
        zero_terminal_snr_scheduler,
    )

    components = load_components(config, 1)
    fitted = stage_dir(config, 1) / "autoencoder"
    if fitted.is_dir():
        components.vae = AutoencoderKL.from_pretrained(str(fitted)).eval()
    if config.zero_terminal_snr:
        components.inference_scheduler = zero_terminal_snr_scheduler(components.inference_scheduler)
    # The checkpoint holds the training module, whose one child is the model.
    state = load_file(str(checkpoint / "model.safetensors"))
    components.model.load_state_dict({name.removeprefix("model."): value for name, value in state.items()})
    return save_pipeline(components, folder, prediction_type=config.prediction_type)


def measure_proof(weights: str | Path, settings: ProofSettings, *, sheet: str | Path | None = None) -> dict:
    """The held-out figures of trained weights (see :func:`durian_core.training.transfer.evaluate_transfer`), with
    composition read by region (the default) and plainly, as the paper composes (``plain_*``)."""
    from durian_core.config import GenerationSettings
    from durian_core.engines.durian import DurianEngine
    from durian_core.training.transfer import evaluate_transfer

    engine = DurianEngine.from_pretrained(str(weights))
    generation = GenerationSettings(num_inference_steps=settings.inference_steps, output_size=64, seed=0)
    report = evaluate_transfer(
        engine,
        pairs=settings.pairs,
        settings=generation,
        seed=settings.seed,
        extra=settings.extra,
        sheet=sheet,
        plain_too=True,
    )
    return report.summary()
