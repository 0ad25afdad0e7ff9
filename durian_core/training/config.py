"""Training configs: frozen dataclasses, presets ``tiny``, ``toy`` and ``sd15``, loading from YAML/JSON and
``key=value`` overrides from the command line (OmegaConf, structured by the dataclasses).

A file may start from a preset (``preset: sd15``) and change only what differs; nested fields are addressed with
dots on the command line (``--set stage1.learning_rate=2e-5 --set sampling.max_rotate_degrees=5``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException

from durian_core.errors import DurianInputError
from durian_core.training.data import SamplingConfig


@dataclass(frozen=True)
class StageConfig:
    """What differs between the two stages of the paper's schedule."""

    steps: int  # optimizer steps
    batch_size: int  # samples per process per micro-batch (the global batch is × processes × accumulation)
    learning_rate: float
    warmup_steps: int = 0  # linear warm-up from 0
    gradient_accumulation: int = 1
    num_frames: int = 1  # target frames per sample: 1 in stage 1, the clip length in stage 2
    frame_stride: int = 1  # frames between consecutive clip frames (stage 2)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.gradient_accumulation < 1:
            raise DurianInputError(
                f"steps, batch_size and gradient_accumulation must be positive, got {self.steps}, "
                f"{self.batch_size}, {self.gradient_accumulation}"
            )
        if self.learning_rate <= 0:
            raise DurianInputError(f"learning_rate must be positive, got {self.learning_rate}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run of one or both stages."""

    name: str
    model: str  # model config of ``durian_core.models.config`` ("tiny" or "sd15")
    stage1: StageConfig
    stage2: StageConfig
    data: str = ""  # a training cache folder (the output of ``preprocess`` or of the toy generator)
    output_dir: str = "runs/durian"
    base_model: str | None = None  # SD1.5-layout folder or Hub id the nets start from; None: random (tiny tests)
    base_model_revision: str | None = None  # a Hub id needs a pinned revision (tag or commit); folders need none
    motion_adapter: str | None = None  # AnimateDiff MotionAdapter folder or Hub id; None: fresh motion modules
    motion_adapter_revision: str | None = None
    init_from: str | None = None  # a saved Durian model to start from; stage 2 defaults to stage 1's final model
    autoencoder_steps: int = 0  # fit the VAE to the data first (only for random-weight tiny models: SD's is frozen)
    autoencoder_learning_rate: float = 1e-3
    autoencoder_width: int = 32  # the fitted VAE's channels, (w, w, 2w, 2w): wide enough to keep colours in a few
    # hundred steps (the model config's tiny VAE normalises each of its 8 channels alone and learns colour slowly)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    prediction_type: str = "epsilon"  # "epsilon" (the paper) or "v_prediction"
    snr_gamma: float | None = None  # min-SNR loss weighting (Hang et al. 2023); None: plain MSE
    # Rescale the noise schedule so its last step is pure noise (Lin et al. 2024; v-prediction only), and sample from
    # that step ("trailing" timesteps). Small images keep their mean colours visible through SD's last step, so a
    # model trained on it takes the colours from the noise, which at inference holds none.
    zero_terminal_snr: bool = False
    num_train_timesteps: int = 1000
    weight_decay: float = 1e-2
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    lr_schedule: str = "constant"  # after warm-up: "constant" or "cosine"
    mixed_precision: str = "no"  # "no", "fp16" or "bf16" (accelerate's names)
    gradient_checkpointing: bool = False
    seed: int = 0
    num_workers: int = 0  # data-loader worker processes per training process
    checkpoint_every: int = 500  # optimizer steps between resumable checkpoints
    keep_checkpoints: int = 3  # older checkpoints are deleted
    validate_every: int = 0  # optimizer steps between validation videos (0: only at the end)
    validation_samples: int = 2
    validation_inference_steps: int = 25
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.prediction_type not in ("epsilon", "v_prediction"):
            raise DurianInputError(
                f"prediction_type must be 'epsilon' or 'v_prediction', got {self.prediction_type!r}"
            )
        if self.mixed_precision not in ("no", "fp16", "bf16"):
            raise DurianInputError(f"mixed_precision must be 'no', 'fp16' or 'bf16', got {self.mixed_precision!r}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise DurianInputError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if self.zero_terminal_snr and self.prediction_type != "v_prediction":
            raise DurianInputError(
                "zero_terminal_snr needs prediction_type=v_prediction (ε is undefined at pure noise)"
            )
        if self.snr_gamma is not None and self.snr_gamma <= 0:
            raise DurianInputError(f"snr_gamma must be positive, got {self.snr_gamma}")
        if len(self.adam_betas) != 2:
            raise DurianInputError(f"adam_betas must be two numbers (β1, β2), got {self.adam_betas}")
        if self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise DurianInputError("checkpoint_every and keep_checkpoints must be at least 1")

    def stage(self, number: int) -> StageConfig:
        if number not in (1, 2):
            raise DurianInputError(f"stage must be 1 or 2, got {number}")
        return self.stage1 if number == 1 else self.stage2

    def sampling_for(self, number: int) -> SamplingConfig:
        """The sampling config with the stage's clip length and stride."""
        stage = self.stage(number)
        return dataclasses.replace(self.sampling, num_frames=stage.num_frames, frame_stride=stage.frame_stride)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


TINY_TRAINING = TrainConfig(
    name="tiny",
    model="tiny",
    # Sized for a CPU in minutes: 64² toy faces, a high learning rate. v-prediction (the paper uses ε) makes the
    # use of the references emerge several times sooner on toy data: its loss weighs the noisy timesteps, where only
    # the references tell what the person looks like.
    stage1=StageConfig(steps=500, batch_size=8, learning_rate=1e-3, warmup_steps=10),
    stage2=StageConfig(steps=20, batch_size=2, learning_rate=5e-4, warmup_steps=0, num_frames=4, frame_stride=2),
    output_dir="runs/tiny",
    prediction_type="v_prediction",
    autoencoder_steps=400,
    checkpoint_every=100,
    validate_every=0,
    validation_samples=1,
    validation_inference_steps=10,
)

SD15_TRAINING = TrainConfig(
    name="sd15",
    model="sd15",
    # The paper: 512², 60k steps per stage on 8 GPUs, stage 1 on single frames, stage 2 on clips with only the motion
    # modules learning. Batch and learning rate follow the AnimateAnyone-style recipe Durian builds on.
    stage1=StageConfig(steps=60_000, batch_size=4, learning_rate=1e-5, warmup_steps=500),
    stage2=StageConfig(
        steps=60_000, batch_size=1, learning_rate=1e-5, warmup_steps=500, num_frames=16, frame_stride=2
    ),
    output_dir="runs/sd15",
    base_model="lambdalabs/sd-image-variations-diffusers",
    motion_adapter="guoyww/animatediff-motion-adapter-v1-5-2",
    mixed_precision="bf16",
    gradient_checkpointing=True,
    num_workers=4,
    checkpoint_every=2_000,
    validate_every=2_000,
)

TOY_TRAINING = dataclasses.replace(
    TINY_TRAINING,
    name="toy",
    model="toy",
    # The toy transfer proof (``train --config toy --toy-data``, then ``evaluate --toy-transfer``), sized for
    # 15 minutes on two cores: 32² faces, a ÷2 VAE fitted long enough to keep every hue (after 600 steps it still
    # turns red and magenta hair orange and green hair grey; after 4000, held-out hair is off by ΔE 7), and
    # attribute recolouring, so 24 looks give hair of every hue. Identity recolouring and a schedule that ends at pure
    # noise make the face's colours come from the portrait reference; the toy model's reference attention at 16²
    # (``models.config.TOY``) lets the denoiser read them there: 1000 steps then put the portrait's face on 11 or 12
    # of 12 held-out pairs (four runs), where 2000 without that level did on 6 to 10.
    stage1=StageConfig(steps=1000, batch_size=8, learning_rate=1e-3, warmup_steps=10),
    output_dir="runs/toy",
    autoencoder_steps=3000,
    zero_terminal_snr=True,
    sampling=SamplingConfig(recolour_probability=0.5, identity_recolour_probability=0.5),
    checkpoint_every=500,
)

TRAINING_PRESETS: dict[str, TrainConfig] = {"tiny": TINY_TRAINING, "toy": TOY_TRAINING, "sd15": SD15_TRAINING}


def load_training_config(source: str | Path = "tiny", *, overrides: list[str] | None = None) -> TrainConfig:
    """A preset name or a YAML/JSON file (optionally ``preset: <name>`` plus changes), then ``key=value`` overrides.

    OmegaConf merges the changes into the preset's structure, so every key must be a field and every value is
    converted to the field's type (``stage1.learning_rate=2e-5`` is a float, ``base_model=null`` is None).
    """
    preset, changes = _preset_and_changes(source)
    dotted, texts = [], []
    for item in overrides or []:
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise DurianInputError(f"override {item!r} must look like key=value (e.g. stage1.steps=100)")
        if _is_text_setting(type(preset), key.strip()) and value.strip() not in ("null", "~"):
            texts.append(_nested(key.strip(), value.strip()))
        else:
            dotted.append(item.strip())
    schema = _editable(OmegaConf.structured(preset))
    try:
        merged = OmegaConf.merge(schema, changes, OmegaConf.from_dotlist(dotted), *map(OmegaConf.create, texts))
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise DurianInputError(_setting_error(error, schema)) from None
    return _with_tuples(config)


def _is_text_setting(config_type: type, key: str) -> bool:
    """Whether a dotted key names a text field: its value is taken as written (YAML would read a revision such as
    ``0123`` as the octal number 83)."""
    *parents, name = key.split(".")
    for part in parents:
        config_type = typing.get_type_hints(config_type).get(part)
        if not dataclasses.is_dataclass(config_type):
            return False
    hint = typing.get_type_hints(config_type).get(name)
    return hint is str or hint == (str | None)


def _nested(key: str, value: str) -> dict[str, Any]:
    """``a.b=v`` as ``{"a": {"b": "v"}}``."""
    *parents, name = key.split(".")
    tree: dict[str, Any] = {name: value}
    for part in reversed(parents):
        tree = {part: tree}
    return tree


def _preset_and_changes(source: str | Path) -> tuple[TrainConfig, DictConfig]:
    """The preset a source starts from and the changes it makes (none for a preset's name)."""
    name = str(source)
    if name in TRAINING_PRESETS:
        return TRAINING_PRESETS[name], OmegaConf.create()
    path = Path(source)
    if not path.is_file():
        raise DurianInputError(
            f"training config {name!r} is neither a preset ({', '.join(TRAINING_PRESETS)}) nor a file"
        )
    try:
        changes = OmegaConf.load(path)
    except yaml.YAMLError as error:
        raise DurianInputError(f"{path} is not YAML or JSON: {str(error).splitlines()[0]}") from None
    if not isinstance(changes, DictConfig):
        raise DurianInputError(f"{path} must hold a mapping of settings")
    preset = changes.pop("preset", "tiny")
    if preset not in TRAINING_PRESETS:
        raise DurianInputError(f"{path}: preset must be one of {', '.join(TRAINING_PRESETS)}, got {preset!r}")
    return TRAINING_PRESETS[preset], changes


def _editable(node: DictConfig | ListConfig) -> DictConfig | ListConfig:
    """Frozen dataclasses make read-only nodes, each its own; the changes are merged into them."""
    OmegaConf.set_readonly(node, False)
    for child in node.values() if isinstance(node, DictConfig) else node:
        if isinstance(child, DictConfig | ListConfig):
            _editable(child)
    return node


def _setting_error(error: OmegaConfBaseException, schema: DictConfig) -> str:
    """One line naming the setting (OmegaConf's own message spans several, with its internal types)."""
    key = getattr(error, "full_key", None) or ""
    if isinstance(error, ConfigKeyError):
        parent = OmegaConf.select(schema, key.rpartition(".")[0]) if "." in key else schema
        known = f"; known: {', '.join(sorted(parent))}" if isinstance(parent, DictConfig) else ""
        return f"unknown training setting {key!r}{known}"
    message = str(error).splitlines()[0]
    return f"training setting {key}: {message}" if key else f"training config: {message}"


def _with_tuples(config: Any) -> Any:
    """OmegaConf gives tuple fields back as lists; the configs hold tuples, hashable and equal to the presets'."""
    changes = {}
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if dataclasses.is_dataclass(value):
            changes[item.name] = _with_tuples(value)
        elif isinstance(value, list):
            changes[item.name] = tuple(value)
    return dataclasses.replace(config, **changes)


def training_config_yaml(config: TrainConfig) -> str:
    """The config as YAML text that :func:`load_training_config` reads back to an equal config."""
    return OmegaConf.to_yaml(OmegaConf.structured(config))


def save_training_config(config: TrainConfig, path: str | Path) -> None:
    """Write a config as YAML (see :func:`training_config_yaml`)."""
    Path(path).write_text(training_config_yaml(config))
