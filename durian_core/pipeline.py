"""DurianPipeline: portrait + attribute references + keypoint maps → frames, as a diffusers ``DiffusionPipeline``.

The weights folder it saves and loads is laid out as :mod:`durian_core.models.weights` describes.

Concurrency: the pipeline object is shared by all requests of a process. Nothing of a request is stored on it:
reference banks travel as call arguments (``cross_attention_kwargs``), guider features through a context variable,
and each call copies the scheduler before setting its timesteps. Encoded references are shared through the
content-addressed :class:`~durian_core.cache.FeatureCache`, which is thread-safe.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DConditionModel, UNetMotionModel
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image
from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

from durian_core.cache import FeatureCache, content_key, default_cache
from durian_core.guidance import EncodedReference, GuidancePlan, plan_branches
from durian_core.models.config import DurianModelConfig
from durian_core.models.config import model_config as named_config
from durian_core.models.durian import DurianModel
from durian_core.models.guider import KeypointGuider
from durian_core.models.reference import remove_reference_attention
from durian_core.models.weights import (
    default_scheduler,
    load_base_parts,
    load_pipeline_parts,
    resolve_weights,
)
from durian_core.pipeline_output import OUTPUT_TYPES, DurianPipelineOutput
from durian_core.types import Interpolation, blend_terms
from durian_core.windows import denoise_blended, denoise_with_history, window_starts


class DurianPipeline(DiffusionPipeline):
    """Portrait animation with attribute transfer (Durian), with signal-fusion guidance and sliding windows."""

    model_cpu_offload_seq = "image_encoder->prnet->arnet->guider->denoiser->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        image_encoder: CLIPVisionModelWithProjection,
        feature_extractor: CLIPImageProcessorPil,
        prnet: UNet2DConditionModel,
        arnet: UNet2DConditionModel,
        denoiser: UNetMotionModel,
        guider: KeypointGuider,
        scheduler: SchedulerMixin,
    ) -> None:
        super().__init__()
        self.register_modules(
            vae=vae,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            prnet=prnet,
            arnet=arnet,
            denoiser=denoiser,
            guider=guider,
            scheduler=scheduler,
        )
        # The container installs the reference processors and the guider hook on the registered parts (idempotent).
        self.model = DurianModel(prnet, arnet, denoiser, guider)
        self.vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)
        self.resolution = int(vae.config.sample_size)
        self.feature_cache: FeatureCache = default_cache()
        # Cached references belong to these weights: a process-unique id keeps two pipelines' entries apart.
        self._cache_namespace = f"durian-reference-{uuid.uuid4().hex}"

    @classmethod
    def from_model(
        cls,
        model: DurianModel,
        *,
        vae: AutoencoderKL,
        image_encoder: CLIPVisionModelWithProjection,
        feature_extractor: CLIPImageProcessorPil,
        scheduler: SchedulerMixin | None = None,
        model_config: DurianModelConfig | None = None,
    ) -> DurianPipeline:
        """Assemble a pipeline around a :class:`DurianModel` (DDIM by default)."""
        pipeline = cls(
            vae=vae,
            image_encoder=image_encoder,
            feature_extractor=feature_extractor,
            prnet=model.prnet,
            arnet=model.arnet,
            denoiser=model.denoiser,
            guider=model.guider,
            scheduler=scheduler or default_scheduler(),
        )
        pipeline.model_config_name = model_config.name if model_config is not None else "custom"
        if model_config is not None:
            pipeline.resolution = model_config.resolution
        return pipeline

    @classmethod
    def from_base(
        cls,
        base: str | Path,
        *,
        motion_adapter: str | Path | None = None,
        config: DurianModelConfig | str = "sd15",
        revision: str | None = None,
        motion_adapter_revision: str | None = None,
    ) -> DurianPipeline:
        """A fresh pipeline to train from: VAE, UNet (copied into all three nets) and image encoder of ``base``."""
        folder = resolve_weights(
            base, revision=revision, subfolders=("unet", "vae", "image_encoder", "scheduler"), upstream=True
        )
        model = DurianModel.from_base(
            folder, motion_adapter=motion_adapter, config=config, motion_adapter_revision=motion_adapter_revision
        )
        settings = named_config(config) if isinstance(config, str) else config
        return cls.from_model(model, **load_base_parts(folder), model_config=settings)

    def enable_fast_attention(self) -> None:
        """Use xformers for the plain attention (CUDA, when installed), then re-install the reference processors.

        Reference reads keep PyTorch's SDPA, which picks flash or memory-efficient kernels on CUDA by itself.
        """
        for net in (self.prnet, self.arnet, self.denoiser):
            remove_reference_attention(net)
        self.enable_xformers_memory_efficient_attention()
        self.model = DurianModel(self.prnet, self.arnet, self.denoiser, self.guider)

    # ----------------------------------------------------------------------------------------------------- I/O

    def save_pretrained(self, save_directory: str | Path, **kwargs: Any) -> None:  # type: ignore[override]
        """diffusers' layout in safetensors, plus ``durian_config.json`` (:mod:`durian_core.models.weights`)."""
        kwargs.setdefault("safe_serialization", True)
        super().save_pretrained(str(save_directory), **kwargs)
        info = {
            "format": 1,
            "model_config": getattr(self, "model_config_name", "custom"),
            "resolution": self.resolution,
        }
        (Path(save_directory) / "durian_config.json").write_text(json.dumps(info, indent=2) + "\n")

    @classmethod
    def from_pretrained(  # type: ignore[override]
        cls,
        path_or_id: str | Path,
        *,
        revision: str | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> DurianPipeline:
        """Load every part strictly from a folder written by :meth:`save_pretrained`, or a Hub id at ``revision``."""
        parts, info = load_pipeline_parts(path_or_id, revision=revision)
        model = DurianModel(*(parts.pop(name) for name in ("prnet", "arnet", "denoiser", "guider")))
        pipeline = cls.from_model(model, **parts)
        pipeline.model_config_name = info.get("model_config", "custom")
        pipeline.resolution = int(info.get("resolution", pipeline.resolution))
        if device is not None or dtype is not None:
            pipeline.to(device=device, dtype=dtype)
        return pipeline

    # ------------------------------------------------------------------------------------------ 1. check inputs

    def check_inputs(
        self,
        portrait: np.ndarray,
        portrait_mask: np.ndarray,
        attributes: Sequence[np.ndarray],
        attribute_masks: Sequence[np.ndarray],
        *,
        keypoint_maps: np.ndarray | None,
        alpha: float | None,
        interpolate: tuple[int, int],
        attribute_weights: Sequence[float] | None,
        num_inference_steps: int,
        guidance: dict[str, float],
        window: int,
        overlap: int,
        history_frames: int,
        output_type: str,
    ) -> None:
        """Raise ``ValueError`` naming the first bad value."""
        _check_image("portrait", portrait)
        _check_mask("portrait_mask", portrait_mask, portrait)
        if len(attributes) == 0:
            raise ValueError("attributes must hold at least one attribute image")
        if len(attribute_masks) != len(attributes):
            raise ValueError(f"attribute_masks has {len(attribute_masks)} masks for {len(attributes)} attributes")
        for index, (image, mask) in enumerate(zip(attributes, attribute_masks)):
            _check_image(f"attributes[{index}]", image)
            _check_mask(f"attribute_masks[{index}]", mask, image)
        if keypoint_maps is not None:
            if keypoint_maps.ndim != 4 or keypoint_maps.shape[-1] != self.guider.conv_in.in_channels:
                raise ValueError(
                    f"keypoint_maps must be F×H×W×{self.guider.conv_in.in_channels}, got shape {keypoint_maps.shape}"
                )
            if len(keypoint_maps) == 0:
                raise ValueError("keypoint_maps holds no frames")
        if alpha is not None:
            if not 0.0 <= alpha <= 1.0:
                raise ValueError(f"alpha must be within [0, 1], got {alpha}")
            first, second = interpolate
            if first == second or not (0 <= first < len(attributes) and 0 <= second < len(attributes)):
                raise ValueError(f"interpolate={interpolate} must name two different attributes of {len(attributes)}")
        if attribute_weights is not None:
            if len(attribute_weights) != len(attributes):
                raise ValueError(
                    f"attribute_weights has {len(attribute_weights)} values for {len(attributes)} attributes"
                )
            bad = [weight for weight in attribute_weights if not 0.0 <= weight <= 1.0]
            if bad:
                raise ValueError(f"attribute_weights must be within [0, 1], got {bad[0]}")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        for name, scale in guidance.items():
            if not 0.0 <= scale <= 20.0:
                raise ValueError(f"guidance scale {name} must be within [0, 20], got {scale}")
        if window < 1 or not 0 <= overlap < window:
            raise ValueError(f"need window >= 1 and 0 <= overlap < window, got window={window}, overlap={overlap}")
        longest = self.denoiser.config.motion_max_seq_length
        if window > longest:
            raise ValueError(f"window={window} exceeds the {longest} frames the motion modules know")
        if not 0 <= history_frames <= overlap:
            raise ValueError(f"history_frames must be within [0, overlap={overlap}], got {history_frames}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"output_type must be one of {OUTPUT_TYPES}, got {output_type!r}")

    # -------------------------------------------------------------------------------------- 2. encode references

    def _image_tensor(self, image: np.ndarray) -> torch.Tensor:
        """RGB uint8 H×W×3 → (1, 3, R, R) in [-1, 1] at the model resolution."""
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        if tensor.shape[-2:] != (self.resolution, self.resolution):
            tensor = F.interpolate(
                tensor, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False
            )
        return tensor.to(self.vae.device, self.vae.dtype)

    def _mask_tensor(self, mask: np.ndarray, size: int) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
        return F.interpolate(tensor, size=(size, size), mode="area").clamp(0, 1)

    @torch.no_grad()
    def encode_image(self, image: np.ndarray) -> torch.Tensor:
        """CLIP image embedding (1, 1, D) of an RGB uint8 image."""
        pixels = self.feature_extractor(images=image, return_tensors="pt").pixel_values
        pixels = pixels.to(self.image_encoder.device, self.image_encoder.dtype)
        return self.image_encoder(pixel_values=pixels).image_embeds[:, None]

    @torch.no_grad()
    def encode_latents(self, image: np.ndarray) -> torch.Tensor:
        """Scaled VAE latent (1, 4, h, w) of an RGB uint8 image; the distribution's mode, so it is deterministic."""
        latents = self.vae.encode(self._image_tensor(image)).latent_dist.mode()
        return latents * self.vae.config.scaling_factor

    @torch.no_grad()
    def encode_reference(
        self, image: np.ndarray, mask: np.ndarray, *, role: str, cache: FeatureCache | None = None
    ) -> EncodedReference:
        """Encode one reference, cached by content: the masked image's latent, the mask, CLIP embedding, banks.

        ``role="portrait"`` keeps what lies outside the mask (``I ⊙ (1 − M)``) and runs PRNet;
        ``role="attribute"`` keeps what lies inside (``I ⊙ M``) and runs ARNet.
        """
        if role not in ("portrait", "attribute"):
            raise ValueError(f"role must be 'portrait' or 'attribute', got {role!r}")
        key = content_key(role, image, np.asarray(mask, np.float32), str(self.device), str(self.dtype))
        return (cache or self.feature_cache).get_or_compute(
            self._cache_namespace, key, lambda: self._encode_reference(image, mask, role=role)
        )

    def _encode_reference(self, image: np.ndarray, mask: np.ndarray, *, role: str) -> EncodedReference:
        keep = (1.0 - mask) if role == "portrait" else mask
        masked = np.clip(np.rint(image.astype(np.float32) * keep[..., None]), 0, 255).astype(np.uint8)
        latents = self.encode_latents(masked)
        latent_mask = self._mask_tensor(mask, latents.shape[-1]).to(latents.device, latents.dtype)
        embedding = self.encode_image(masked)
        banks = self.model.record_banks("prnet" if role == "portrait" else "arnet", latents, latent_mask, embedding)
        return EncodedReference(latents, latent_mask, embedding, {k: v.detach() for k, v in banks.items()})

    # ------------------------------------------------------------------------------------------------ denoising

    def _branch_noise(
        self, latents: torch.Tensor, timestep, *, plan: GuidancePlan, motion: torch.Tensor | None
    ) -> torch.Tensor:
        """Noise predictions (B, 4, F, h, w) of the plan's B branches for one window, batched in one call."""
        features = None
        if motion is not None and "motion" in plan.active:
            # Only the motion branch sees the guider's features; the others get zeros in the same batch.
            features = torch.cat([motion if name == "motion" else torch.zeros_like(motion) for name in plan.active])
        return self.model.predict_noise(
            latents.expand(len(plan.active), -1, -1, -1, -1),
            timestep,
            embeddings=plan.embeddings,
            reference=plan.context,
            motion_features=features,
        )

    def guided_noise(
        self, latents: torch.Tensor, timestep, *, plan: GuidancePlan, motion: torch.Tensor | None
    ) -> torch.Tensor:
        """Signal-fusion guidance for one window: ``Σ coefficient · ε_branch`` over the active branches."""
        noise = self._branch_noise(latents, timestep, plan=plan, motion=motion)
        combined = plan.coefficients[0] * noise[0:1]
        for index in range(1, len(plan.active)):
            combined = combined + plan.coefficients[index] * noise[index : index + 1]
        return combined

    @torch.no_grad()
    def predict_branches(
        self, latents: torch.Tensor, timestep, *, plan: GuidancePlan, motion: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """The noise prediction of every branch separately (to inspect what each signal adds)."""
        noise = self._branch_noise(latents, timestep, plan=plan, motion=motion)
        return {name: noise[index : index + 1] for index, name in enumerate(plan.active)}

    def encode_motion(self, keypoint_maps: np.ndarray | None, frames: int) -> torch.Tensor | None:
        """Guider features (F, C, h, w) of the keypoint maps at the model resolution, or ``None``."""
        if keypoint_maps is None:
            return None
        cue = torch.from_numpy(np.ascontiguousarray(keypoint_maps)).permute(0, 3, 1, 2).float() / 255.0
        cue = F.interpolate(cue, size=(self.resolution,) * 2, mode="bilinear", antialias=True, align_corners=False)
        cue = cue.to(self.guider.device, self.guider.dtype)
        with torch.no_grad():
            return torch.cat([self.guider(chunk) for chunk in cue.split(16)])

    def prepare_latents(
        self, frames: int, *, generator: torch.Generator | None, latents: torch.Tensor | None = None
    ) -> torch.Tensor:
        size = self.resolution // self.vae_scale_factor
        shape = (1, 4, frames, size, size)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=self.denoiser.device, dtype=self.denoiser.dtype)
        elif tuple(latents.shape) != shape:
            raise ValueError(f"latents must have shape {shape}, got {tuple(latents.shape)}")
        return latents.to(self.denoiser.device, self.denoiser.dtype)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, *, chunk_size: int = 8) -> np.ndarray:
        """(1, 4, F, h, w) → F×H×W×3 uint8, decoding ``chunk_size`` frames at a time to bound memory."""
        frames = latents[0].permute(1, 0, 2, 3) / self.vae.config.scaling_factor
        images = []
        for chunk in frames.split(chunk_size):
            decoded = self.vae.decode(chunk.to(self.vae.dtype)).sample
            images.append(((decoded.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1))
        return torch.cat(images).cpu().numpy()

    # -------------------------------------------------------------------------------------------------- __call__

    @torch.no_grad()
    def __call__(
        self,
        portrait: np.ndarray,
        portrait_mask: np.ndarray,
        attributes: Sequence[np.ndarray],
        attribute_masks: Sequence[np.ndarray],
        *,
        keypoint_maps: np.ndarray | None = None,
        num_frames: int | None = None,
        alpha: float | None = None,
        interpolate: tuple[int, int] = (0, 1),
        attribute_weights: Sequence[float] | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 2.5,
        guidance_portrait: float | None = None,
        guidance_attribute: float | None = None,
        guidance_motion: float | None = None,
        window: int = 16,
        overlap: int = 4,
        history_frames: int = 0,
        route_composition: bool = True,
        generator: torch.Generator | None = None,
        latents: torch.Tensor | None = None,
        output_type: str = "np",
        decode_chunk_size: int = 8,
        callback: Callable[[int, int], None] | None = None,
        cache: FeatureCache | None = None,
    ) -> DurianPipelineOutput:
        """Animate ``portrait`` wearing ``attributes`` along ``keypoint_maps`` (F frames; ``None``: one still frame).

        Images are RGB uint8 (resized to the model resolution), masks float in [0, 1] of the same size.
        ``alpha`` blends attributes ``interpolate[0]`` (α = 0) and ``interpolate[1]`` (α = 1) in attention;
        without it all attributes compose. ``guidance_scale`` is plain classifier-free guidance; the three
        per-signal scales (portrait, attribute, motion) default to it. Long drivers run in windows of ``window``
        frames overlapping by ``overlap``; ``history_frames > 0`` denoises windows one after another, each one
        conditioned on the last generated frames of the previous one. Composed attributes are read by region
        (``route_composition``, :func:`durian_core.guidance.plan_branches`). Encoded references are kept in ``cache``
        (default: the pipeline's ``feature_cache``).
        """
        guidance = {
            "portrait": guidance_scale if guidance_portrait is None else guidance_portrait,
            "attribute": guidance_scale if guidance_attribute is None else guidance_attribute,
            "motion": guidance_scale if guidance_motion is None else guidance_motion,
        }
        # 1. Check inputs.
        self.check_inputs(
            portrait,
            portrait_mask,
            attributes,
            attribute_masks,
            keypoint_maps=keypoint_maps,
            alpha=alpha,
            interpolate=interpolate,
            attribute_weights=attribute_weights,
            num_inference_steps=num_inference_steps,
            guidance=guidance,
            window=window,
            overlap=overlap,
            history_frames=history_frames,
            output_type=output_type,
        )
        frames = len(keypoint_maps) if keypoint_maps is not None else (num_frames or 1)
        if keypoint_maps is not None and num_frames is not None and num_frames != frames:
            raise ValueError(f"num_frames={num_frames} disagrees with {frames} keypoint maps")

        # 2. Encode each reference once (cached by content: a new α, seed or scale re-encodes nothing).
        encoded_portrait = self.encode_reference(portrait, portrait_mask, role="portrait", cache=cache)
        encoded_attributes = [
            self.encode_reference(image, mask, role="attribute", cache=cache)
            for image, mask in zip(attributes, attribute_masks)
        ]
        weights = [1.0] * len(attributes) if attribute_weights is None else list(attribute_weights)
        interpolation = None if alpha is None else Interpolation(interpolate[0], interpolate[1], alpha)
        plan = plan_branches(
            encoded_portrait,
            encoded_attributes,
            guidance=guidance,
            terms=blend_terms(weights, interpolation),
            route=route_composition,
        )
        motion = self.encode_motion(keypoint_maps, frames)

        def predict(window_latents: torch.Tensor, timestep, start: int, length: int) -> torch.Tensor:
            window_motion = None if motion is None else motion[start : start + length]
            return self.guided_noise(window_latents, timestep, plan=plan, motion=window_motion)

        # 3. Denoise with signal-fusion guidance; 4. over sliding windows (blended, or with history frames).
        scheduler = self.scheduler.__class__.from_config(self.scheduler.config)  # a private copy: timesteps are state
        scheduler.set_timesteps(num_inference_steps, device=self.denoiser.device)
        latents = self.prepare_latents(frames, generator=generator, latents=latents)
        latents = latents * scheduler.init_noise_sigma
        starts = window_starts(frames, window, overlap)
        if history_frames > 0 and len(starts) > 1:
            latents = denoise_with_history(
                latents,
                scheduler,
                starts,
                window=window,
                history_frames=history_frames,
                predict=predict,
                callback=callback,
            )
        else:
            latents = denoise_blended(
                latents, scheduler, starts, window=window, overlap=overlap, predict=predict, callback=callback
            )

        # 5. Decode in chunks.
        if output_type == "latent":
            return DurianPipelineOutput(frames=latents)
        images = self.decode_latents(latents, chunk_size=decode_chunk_size)
        if output_type == "pil":
            return DurianPipelineOutput(frames=[Image.fromarray(frame) for frame in images])
        return DurianPipelineOutput(frames=images)


# -------------------------------------------------------------------------------------------------- helpers


def _check_image(name: str, image: Any) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"{name} must be an RGB uint8 array H×W×3, got {type(image).__name__} of shape {shape}")


def _check_mask(name: str, mask: Any, image: np.ndarray) -> None:
    if not isinstance(mask, np.ndarray) or mask.shape != image.shape[:2]:
        shape = getattr(mask, "shape", None)
        raise ValueError(f"{name} must be a float array of shape {image.shape[:2]}, got shape {shape}")
    if mask.size and (float(mask.min()) < 0.0 or float(mask.max()) > 1.0):
        raise ValueError(f"{name} must lie within [0, 1], got [{mask.min()}, {mask.max()}]")
