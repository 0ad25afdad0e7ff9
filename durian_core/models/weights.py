"""Weights I/O for the Durian model and pipeline: local folders or pinned Hub revisions, safetensors, strict loads.

A pipeline's weights folder (``DurianPipeline.save_pretrained`` writes it, ``DurianPipeline.from_pretrained`` reads
it strictly)::

    model_index.json                       diffusers' component index
    durian_config.json                     the model config name and the resolution the model runs at
    vae/              config.json  diffusion_pytorch_model.safetensors
    image_encoder/    config.json  model.safetensors                 CLIPVisionModelWithProjection
    feature_extractor/preprocessor_config.json                      CLIPImageProcessor
    prnet/ arnet/     config.json  diffusion_pytorch_model.safetensors   reference UNets, 5 input channels
    denoiser/         config.json  diffusion_pytorch_model.safetensors   UNetMotionModel
    guider/           config.json  diffusion_pytorch_model.safetensors   KeypointGuider
    scheduler/        scheduler_config.json

Loading is strict: a missing, unexpected or wrong-shaped tensor raises :class:`DurianWeightsError` naming it,
because a silently re-initialised layer produces noise that looks like a bug elsewhere. Nothing here imports the
model container or the pipeline; they call in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, UNetMotionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from safetensors.torch import load_file
from torch import nn
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

from durian_core.errors import DurianInputError
from durian_core.models.guider import KeypointGuider

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
TRANSFORMERS_WEIGHTS = "model.safetensors"
MODEL_PARTS = ("prnet", "arnet", "denoiser", "guider")
"""The trainable parts, each a diffusers-format subfolder of a weights folder."""
MODEL_PART_CLASSES = {
    "prnet": UNet2DConditionModel,
    "arnet": UNet2DConditionModel,
    "denoiser": UNetMotionModel,
    "guider": KeypointGuider,
}
PIPELINE_PARTS = ("vae", "image_encoder", "feature_extractor", *MODEL_PARTS, "scheduler")
"""Every subfolder of a saved pipeline (``DurianPipeline.save_pretrained``)."""
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt"]


class DurianWeightsError(DurianInputError):
    """A weights folder is missing, incomplete or does not match the model it should build."""


def default_scheduler() -> DDIMScheduler:
    """The sampler a fresh pipeline gets: DDIM with Stable Diffusion 1.5's noise schedule."""
    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def resolve_weights(
    path_or_id: str | Path,
    *,
    revision: str | None = None,
    subfolders: tuple[str, ...] = (),
    upstream: bool = False,
) -> Path:
    """A local folder as is, or a Hub repository downloaded at a pinned ``revision`` (a tag or commit).

    A Hub id may carry its revision as ``owner/name@revision`` (what ``--weights`` and ``DURIAN_WEIGHTS`` accept).
    Only configs and safetensors are fetched (``subfolders`` narrows it further). ``upstream`` base models (SD1.5,
    motion adapters) may predate safetensors, so for them ``.bin`` files come too, as a fallback.
    """
    folder = Path(path_or_id).expanduser()
    if folder.is_dir():
        return folder
    repo_id = str(path_or_id)
    if "@" in repo_id and revision is None:
        repo_id, revision = repo_id.rsplit("@", 1)
    if repo_id.count("/") != 1 or folder.exists() or repo_id.startswith((".", "/", "~")):
        raise DurianWeightsError(f"weights {repo_id!r} are neither a local folder nor a Hub id like 'owner/name'")
    if not revision:
        raise DurianWeightsError(
            f"{repo_id!r} is not a local folder; as a Hub id it needs a pinned revision (a tag or commit hash, e.g. "
            f"'{repo_id}@v1.0'), so the weights cannot change under you"
        )
    from huggingface_hub import snapshot_download

    kinds = WEIGHT_PATTERNS + (["*.bin"] if upstream else [])
    patterns = [f"{sub}/{pattern}" for sub in subfolders for pattern in kinds] or kinds
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=patterns + ["*.json"]))
    except Exception as error:  # the hub client raises many types; all mean "cannot get these weights"
        raise DurianWeightsError(f"cannot download {repo_id!r} at revision {revision!r}: {error}") from error


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], *, where: str) -> None:
    """``load_state_dict`` that names the missing, unexpected or mismatched tensors of ``where``."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            problems.append(f"{label}: {shown}")
    if problems:
        raise DurianWeightsError(f"weights in {where} do not match the model ({'; '.join(problems)})")
    module.load_state_dict(state, strict=True)


def read_safetensors(folder: Path, filename: str) -> dict[str, torch.Tensor] | None:
    """The tensors of ``folder/filename``, or of its shards (``filename.index.json``); ``None`` when neither exists."""
    single = folder / filename
    if single.is_file():
        return load_file(str(single))
    index_path = folder / f"{filename}.index.json"
    if not index_path.is_file():
        return None
    shards = sorted(set(read_json(index_path).get("weight_map", {}).values()))
    state: dict[str, torch.Tensor] = {}
    for shard in shards:
        if not (folder / shard).is_file():
            raise DurianWeightsError(f"{folder / shard} is missing (listed in {index_path.name})")
        state.update(load_file(str(folder / shard)))
    return state


def load_diffusers_part(cls, folder: Path, *, where: str | None = None):
    """Build ``cls`` from ``folder/config.json``; load ``diffusion_pytorch_model.safetensors`` (or shards) strictly."""
    if not (folder / "config.json").is_file():
        raise DurianWeightsError(f"{folder / 'config.json'} is missing")
    state = read_safetensors(folder, DIFFUSERS_WEIGHTS)
    if state is None:
        raise DurianWeightsError(f"{folder / DIFFUSERS_WEIGHTS} is missing")
    model = cls.from_config(cls.load_config(folder))
    load_strict(model, state, where=where or str(folder))
    return model.eval()


def load_base_part(cls, folder: Path):
    """A part of an upstream base model (SD1.5, a motion adapter): strict from safetensors when the folder has them.

    Older upstream repositories hold only ``.bin`` files; those are read by diffusers itself (``torch.load`` with
    ``weights_only``), which is the one place a non-safetensors file is accepted.
    """
    if (folder / DIFFUSERS_WEIGHTS).is_file() or (folder / f"{DIFFUSERS_WEIGHTS}.index.json").is_file():
        return load_diffusers_part(cls, folder)
    if not (folder / "config.json").is_file():
        raise DurianWeightsError(f"{folder} holds no diffusers model")
    return cls.from_pretrained(str(folder), use_safetensors=False).eval()


def load_model_parts(folder: Path) -> dict[str, nn.Module]:
    """PRNet, ARNet, the denoiser and the guider of a weights folder, each loaded strictly."""
    return {name: load_diffusers_part(kind, folder / name) for name, kind in MODEL_PART_CLASSES.items()}


def load_pipeline_parts(path_or_id: str | Path, *, revision: str | None = None) -> tuple[dict[str, Any], dict]:
    """Every part of a saved pipeline, loaded strictly, and its ``durian_config.json``.

    ``path_or_id`` is a folder written by ``DurianPipeline.save_pretrained`` or a Hub id at a pinned ``revision``.
    """
    folder = resolve_weights(path_or_id, revision=revision, subfolders=PIPELINE_PARTS)
    index = read_json(folder / "model_index.json")
    missing = [name for name in PIPELINE_PARTS if name not in index]
    if missing:
        raise DurianWeightsError(f"{folder / 'model_index.json'} lists no {', '.join(missing)}")
    info = read_json(folder / "durian_config.json")
    parts: dict[str, Any] = load_model_parts(folder)
    parts["vae"] = load_diffusers_part(AutoencoderKL, folder / "vae")
    parts["image_encoder"] = load_image_encoder(folder / "image_encoder")
    parts["feature_extractor"] = CLIPImageProcessorPil.from_pretrained(str(folder / "feature_extractor"))
    parts["scheduler"] = load_scheduler(folder / "scheduler")
    return parts, info


def load_base_parts(folder: Path) -> dict[str, Any]:
    """The frozen parts a fresh pipeline takes from an SD1.5 image-variations folder: VAE and CLIP image encoder."""
    image_encoder = load_image_encoder(folder / "image_encoder", base=True)
    size = image_encoder.config.image_size
    return {
        "vae": load_base_part(AutoencoderKL, folder / "vae"),
        "image_encoder": image_encoder,
        "feature_extractor": CLIPImageProcessorPil(
            size={"shortest_edge": size}, crop_size={"height": size, "width": size}
        ),
    }


def load_image_encoder(folder: Path, *, base: bool = False) -> CLIPVisionModelWithProjection:
    """Strict from ``model.safetensors`` (or shards); a ``base`` model's encoder may be an upstream ``.bin``."""
    if not (folder / "config.json").is_file():
        raise DurianWeightsError(f"{folder / 'config.json'} is missing")
    state = read_safetensors(folder, TRANSFORMERS_WEIGHTS)
    if state is None:
        if base:
            return CLIPVisionModelWithProjection.from_pretrained(str(folder)).eval()
        raise DurianWeightsError(f"{folder / TRANSFORMERS_WEIGHTS} is missing")
    model = CLIPVisionModelWithProjection(CLIPVisionConfig.from_json_file(str(folder / "config.json")))
    load_strict(model, state, where=str(folder))
    return model.eval()


def load_scheduler(folder: Path) -> SchedulerMixin:
    import diffusers

    config = read_json(folder / "scheduler_config.json")
    kind = getattr(diffusers, str(config.get("_class_name")), None)
    if not (isinstance(kind, type) and issubclass(kind, SchedulerMixin)):
        raise DurianWeightsError(f"{folder} names an unknown scheduler {config.get('_class_name')!r}")
    return kind.from_config(kind.load_config(str(folder)))


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise DurianWeightsError(f"{path} is missing") from None
    except json.JSONDecodeError as error:
        raise DurianWeightsError(f"{path} is not valid JSON: {error}") from error
