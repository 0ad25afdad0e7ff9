"""DurianModel: the Dual ReferenceNet (PRNet, ARNet), the motion denoiser and the keypoint guider, with strict I/O.

Folder layout written by :meth:`DurianModel.save_pretrained` (each part in diffusers' own format)::

    prnet/     config.json  diffusion_pytorch_model.safetensors   UNet2DConditionModel, 5 input channels
    arnet/     config.json  diffusion_pytorch_model.safetensors   UNet2DConditionModel, 5 input channels
    denoiser/  config.json  diffusion_pytorch_model.safetensors   UNetMotionModel (SD UNet + motion modules)
    guider/    config.json  diffusion_pytorch_model.safetensors   KeypointGuider

The full pipeline (``DurianPipeline.save_pretrained``) adds ``vae/``, ``image_encoder/``, ``feature_extractor/``,
``scheduler/`` and ``model_index.json`` next to these. Reading and writing weights (strict, safetensors, pinned Hub
revisions) lives in :mod:`durian_core.models.weights`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel
from torch import nn

from durian_core.models.config import TINY, DurianModelConfig, model_config
from durian_core.models.guider import KeypointGuider, guider_features, install_guider_hook
from durian_core.models.reference import ReferenceContext, install_reference_attention
from durian_core.models.weights import (
    MODEL_PARTS,
    DurianWeightsError,
    load_base_part,
    load_model_parts,
    load_strict,
    resolve_weights,
)

# -------------------------------------------------------------------------------------------------- construction


def widen_conv_in(unet: UNet2DConditionModel, *, extra_channels: int = 1) -> UNet2DConditionModel:
    """A copy of ``unet`` whose ``conv_in`` takes ``extra_channels`` more inputs, their weights at zero.

    At zero the reference net computes exactly what the base UNet computes until training teaches it the mask.
    """
    config = dict(unet.config)
    config["in_channels"] = unet.config.in_channels + extra_channels
    widened = UNet2DConditionModel.from_config(config)
    state = {key: value.clone() for key, value in unet.state_dict().items()}
    weight = state["conv_in.weight"]
    zeros = torch.zeros(weight.shape[0], extra_channels, *weight.shape[2:], dtype=weight.dtype)
    state["conv_in.weight"] = torch.cat([weight, zeros], dim=1)
    load_strict(widened, state, where="widened conv_in")
    return widened.to(unet.dtype)


def zero_motion_outputs(adapter: MotionAdapter) -> MotionAdapter:
    """Zero every motion module's output projection, so fresh modules leave the image UNet unchanged (AnimateDiff)."""
    for name, module in adapter.named_modules():
        if name.endswith("proj_out") and isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
    return adapter


class DurianModel(nn.Module):
    """PRNet + ARNet (reference UNets, 5 input channels), the motion denoiser, and the keypoint guider.

    Construction installs the reference attention processors (write on the reference nets, read on the denoiser)
    and the guider's ``conv_in`` hook; neither changes any output until a call passes banks or guider features.
    """

    def __init__(
        self,
        prnet: UNet2DConditionModel,
        arnet: UNet2DConditionModel,
        denoiser: UNetMotionModel,
        guider: KeypointGuider,
    ) -> None:
        super().__init__()
        for name, net in (("prnet", prnet), ("arnet", arnet)):
            if net.config.in_channels != 5:
                raise DurianWeightsError(
                    f"{name} must take 5 input channels (latent + mask), has {net.config.in_channels}"
                )
        if guider.config.out_channels != denoiser.conv_in.out_channels:
            raise DurianWeightsError(
                f"guider outputs {guider.config.out_channels} channels, the denoiser's first block has "
                f"{denoiser.conv_in.out_channels}"
            )
        self.prnet = prnet
        self.arnet = arnet
        self.denoiser = denoiser
        self.guider = guider
        self.reference_layers = install_reference_attention(prnet, mode="write")
        if install_reference_attention(arnet, mode="write") != self.reference_layers:
            raise DurianWeightsError("prnet and arnet have different attention layers")
        read_layers = install_reference_attention(denoiser, mode="read")
        if sorted(read_layers) != sorted(self.reference_layers):
            raise DurianWeightsError("the denoiser's spatial attention layers do not match the reference nets'")
        self._guider_hook = install_guider_hook(denoiser.conv_in)

    # ------------------------------------------------------------------------------------------------ builders

    @classmethod
    def from_config(cls, config: DurianModelConfig | str = TINY, *, seed: int = 0) -> DurianModel:
        """A randomly initialised model of the given size (tests, benchmarks, and a start without a base)."""
        config = model_config(config) if isinstance(config, str) else config
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
        try:
            unet = UNet2DConditionModel(**config.unet_kwargs())
            adapter = MotionAdapter(**config.motion_adapter_kwargs())
            denoiser = UNetMotionModel.from_unet2d(unet, adapter)
            # Nothing here is pretrained, so the mask channel gets random weights like the rest (a trained model's
            # reference nets do use it); from_unet starts it at zero instead.
            prnet = UNet2DConditionModel(**config.unet_kwargs(in_channels=5))
            arnet = UNet2DConditionModel(**config.unet_kwargs(in_channels=5))
            guider = KeypointGuider(**config.guider_kwargs())
        finally:
            torch.random.set_rng_state(generator_state)
        return cls(prnet.eval(), arnet.eval(), denoiser.eval(), guider.eval())

    @classmethod
    def from_unet(
        cls,
        unet: UNet2DConditionModel,
        *,
        motion_adapter: MotionAdapter | None = None,
        config: DurianModelConfig | str = "sd15",
    ) -> DurianModel:
        """Start training from an image UNet: both reference nets and the denoiser copy its weights."""
        config = model_config(config) if isinstance(config, str) else config
        if motion_adapter is None:
            adapter_kwargs = config.motion_adapter_kwargs()
            adapter_kwargs["block_out_channels"] = tuple(unet.config.block_out_channels)
            adapter_kwargs["motion_layers_per_block"] = unet.config.layers_per_block
            motion_adapter = zero_motion_outputs(MotionAdapter(**adapter_kwargs))
        denoiser = UNetMotionModel.from_unet2d(unet, motion_adapter)
        guider_kwargs = config.guider_kwargs() | {"out_channels": unet.config.block_out_channels[0]}
        return cls(
            widen_conv_in(unet).eval(), widen_conv_in(unet).eval(), denoiser.eval(), KeypointGuider(**guider_kwargs)
        )

    @classmethod
    def from_base(
        cls,
        base: str | Path,
        *,
        motion_adapter: str | Path | None = None,
        config: DurianModelConfig | str = "sd15",
        revision: str | None = None,
        motion_adapter_revision: str | None = None,
    ) -> DurianModel:
        """Build the model training starts from: ``base`` is a diffusers SD1.5 folder or Hub id with ``unet/``.

        ``motion_adapter`` is an AnimateDiff ``MotionAdapter`` folder or Hub id; without one the motion modules start
        fresh with zero output projections.
        """
        folder = resolve_weights(base, revision=revision, subfolders=("unet",), upstream=True)
        unet = load_base_part(UNet2DConditionModel, folder / "unet")
        adapter = None
        if motion_adapter is not None:
            adapter_folder = resolve_weights(motion_adapter, revision=motion_adapter_revision, upstream=True)
            adapter = load_base_part(MotionAdapter, adapter_folder)
        return cls.from_unet(unet, motion_adapter=adapter, config=config)

    # --------------------------------------------------------------------------------------------------- I/O

    def save_pretrained(self, path: str | Path) -> Path:
        """Write ``prnet/``, ``arnet/``, ``denoiser/`` and ``guider/`` (config + safetensors) under ``path``."""
        path = Path(path)
        for name in MODEL_PARTS:
            getattr(self, name).save_pretrained(path / name, safe_serialization=True)
        return path

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, *, revision: str | None = None) -> DurianModel:
        """Load the four parts strictly from a folder written by :meth:`save_pretrained` (or a Hub id + revision)."""
        folder = resolve_weights(path_or_id, revision=revision, subfolders=MODEL_PARTS)
        return cls(**load_model_parts(folder))

    # --------------------------------------------------------------------------------------------- forward use

    @property
    def dtype(self) -> torch.dtype:
        return self.denoiser.dtype

    @property
    def device(self) -> torch.device:
        return self.denoiser.device

    def record_banks(
        self, net: str, latents: torch.Tensor, mask: torch.Tensor, embedding: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Run PRNet or ARNet once at timestep 0 and return its spatial self-attention inputs, per layer.

        ``latents`` (1, 4, h, w) of the masked reference, ``mask`` (1, 1, h, w), ``embedding`` (1, S, D) for its
        cross-attention.
        """
        if net not in ("prnet", "arnet"):
            raise ValueError(f"net must be 'prnet' or 'arnet', got {net!r}")
        recorder: dict[str, torch.Tensor] = {}
        reference_net = getattr(self, net)
        sample = torch.cat([latents, mask], dim=1).to(reference_net.dtype)
        timestep = torch.zeros(sample.shape[0], dtype=torch.long, device=sample.device)
        reference_net(
            sample,
            timestep,
            encoder_hidden_states=embedding.to(reference_net.dtype),
            cross_attention_kwargs={"reference_recorder": recorder},
            return_dict=False,
        )
        return recorder

    def predict_noise(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor | int,
        *,
        embeddings: torch.Tensor,
        reference: ReferenceContext | None,
        motion_features: torch.Tensor | None,
    ) -> torch.Tensor:
        """One denoiser call. ``latents`` (B, 4, F, h, w) with B = number of guidance branches.

        ``embeddings`` (B, S, D) per branch, repeated over frames here; ``motion_features`` laid out as the
        ``conv_in`` output, (B·F, C, h, w), or ``None`` for no motion cue at all.
        """
        frames = latents.shape[2]
        states = embeddings.repeat_interleave(frames, dim=0)
        kwargs: dict[str, Any] = {"reference": reference} if reference is not None else {}
        with guider_features(self.denoiser.conv_in, motion_features):
            return self.denoiser(
                latents,
                timestep,
                encoder_hidden_states=states,
                cross_attention_kwargs=kwargs or None,
                return_dict=False,
            )[0]
