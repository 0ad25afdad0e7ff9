"""The diffusion engine: the Durian model behind the shared :class:`~durian_core.engines.base.Engine` interface.

Per request: crop a square around the portrait's face at the model resolution (and around each attribute's face),
render the retargeted motion as keypoint maps in the crop, run :class:`~durian_core.pipeline.DurianPipeline`, and
paste the generated crop back into the portrait with a feathered edge. Weights load once per process: the one
registry of loaded engines is :func:`durian_core.api.load_engine`.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.device import resolve_device
from durian_core.engines.base import Engine
from durian_core.errors import DurianInputError
from durian_core.face.keypoints import render_keypoint_map
from durian_core.pipeline import DurianPipeline
from durian_core.placement import face_crop, paste_back
from durian_core.types import PreparedInputs, ProgressCallback, no_progress

logger = logging.getLogger(__name__)


class DurianEngine(Engine):
    """Durian diffusion model: dual reference attention, keypoint guider and motion modules."""

    name = "durian"

    def __init__(self, pipeline: DurianPipeline) -> None:
        self.pipeline = pipeline
        if pipeline.guider.config.cue != "keypoints":
            # PreparedInputs carries the retargeted landmarks, not the driver's pixels the region cue needs.
            raise DurianInputError(
                f"these weights' guider reads the {pipeline.guider.config.cue!r} cue; the engine feeds keypoint maps"
            )

    @classmethod
    def from_pretrained(
        cls, path_or_id: str | Path, *, revision: str | None = None, device: str | torch.device | None = None
    ) -> DurianEngine:
        """Load a pipeline folder (``DurianPipeline.save_pretrained``) or a Hub id at a pinned ``revision``."""
        target, dtype = resolve_device(None if device is None else str(device))
        pipeline = DurianPipeline.from_pretrained(path_or_id, revision=revision)
        pipeline.to(device=target)
        if dtype != torch.float32:  # saved weights are float32; casting only when needed keeps diffusers quiet
            pipeline.to(dtype=dtype)
        pipeline.set_progress_bar_config(disable=True)
        if target.type == "cuda" and importlib.util.find_spec("xformers") is not None:
            pipeline.enable_fast_attention()
        return cls(pipeline)

    def generate(
        self,
        prepared: PreparedInputs,
        settings: GenerationSettings,
        *,
        cache: FeatureCache,
        progress: ProgressCallback = no_progress,
    ) -> tuple[np.ndarray, dict[str, float]]:
        """Frames (F×H×W×3 uint8, the portrait's size; F = 1 for a still edit) and seconds per stage."""
        if not prepared.attributes:
            raise DurianInputError("the durian engine needs at least one attribute reference")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        pipeline = self.pipeline
        size = pipeline.resolution
        progress(0.0, "Cropping the face")

        # Crop the portrait, its mask (M_port ∪ aligned M_attr) and each attribute around their faces.
        crop = face_crop(prepared.portrait_landmarks, size=size)
        portrait = crop.warp(prepared.portrait)
        portrait_mask = np.clip(crop.warp(prepared.portrait_mask, border=cv2.BORDER_CONSTANT), 0, 1)
        attributes, masks = [], []
        for attribute in prepared.attributes:
            own = face_crop(attribute.landmarks, size=size)
            attributes.append(own.warp(attribute.image))
            masks.append(np.clip(own.warp(attribute.mask.astype(np.float32), border=cv2.BORDER_CONSTANT), 0, 1))
        # The pipeline reads these exactly as the classical engine does (``PreparedInputs.blend_terms``): each
        # attribute at its own weight, the pair's members mixed by α in attention.
        pair = prepared.interpolation
        alpha = None if pair is None else pair.alpha
        interpolate = (0, 1) if pair is None else (pair.first, pair.second)

        motion = prepared.motion if prepared.motion is not None else prepared.portrait_landmarks[None]
        maps = np.stack([render_keypoint_map(crop.points(frame), (size, size)) for frame in motion])
        timings["crop"] = time.perf_counter() - started

        longest = pipeline.denoiser.config.motion_max_seq_length
        window = min(settings.window, longest)
        overlap = min(settings.overlap, window - 1)
        history = min(settings.history_frames, overlap)

        def on_step(step: int, total: int) -> None:
            progress(0.05 + 0.85 * step / total, f"Denoising step {step}/{total}")

        started = time.perf_counter()
        generator = torch.Generator().manual_seed(settings.seed)
        frames = pipeline(
            portrait,
            portrait_mask,
            attributes,
            masks,
            keypoint_maps=maps,
            alpha=alpha,
            interpolate=interpolate,
            attribute_weights=prepared.attribute_weights,
            num_inference_steps=settings.num_inference_steps,
            guidance_portrait=settings.guidance_portrait,
            guidance_attribute=settings.guidance_attribute,
            guidance_motion=settings.guidance_motion,
            window=window,
            overlap=overlap,
            history_frames=history,
            route_composition=not settings.plain_composition,
            generator=generator,
            callback=on_step,
            cache=cache,
        ).frames
        timings["diffusion"] = time.perf_counter() - started

        progress(0.95, "Pasting the face back")
        started = time.perf_counter()
        frames = paste_back(frames, prepared.portrait, crop)
        timings["paste_back"] = time.perf_counter() - started
        progress(1.0, "Done")
        return frames, timings
