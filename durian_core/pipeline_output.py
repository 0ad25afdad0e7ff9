"""What :class:`~durian_core.pipeline.DurianPipeline` returns, kept apart from the pipeline as diffusers keeps its
pipelines' outputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from diffusers.utils import BaseOutput

OUTPUT_TYPES = ("np", "pil", "latent")
"""The ``output_type`` values the pipeline accepts."""


@dataclass
class DurianPipelineOutput(BaseOutput):
    """``frames``: F×H×W×3 uint8 (``"np"``), a list of PIL images (``"pil"``) or latents (1, 4, F, h, w)."""

    frames: Any
