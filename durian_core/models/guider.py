"""The motion guider: a small conv net from the driving cue to the denoiser's first feature map.

Two cues share the class (``cue`` in the config): ``"keypoints"``, the colour-coded contour maps of the Durian paper
(3 channels), and ``"regions"``, the masked eyes, nose and mouth of the retargeted driver used by "Stable
Video-Driven Portraits" (3 colour channels plus the region mask, :func:`render_region_cue`). The output conv starts
at zero, so a fresh guider leaves the denoiser exactly as it was; training grows its influence.

The features are added to the output of the denoiser's ``conv_in`` through a forward hook (never by replacing a
module's ``forward``); the features themselves are passed per call (see :func:`guider_features`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from durian_core.face import regions
from durian_core.face.masks import fill_polygons

GUIDER_CUES = {"keypoints": 3, "regions": 4}
"""Cue name → input channels."""

REGION_GROW = 0.04
"""How far (in face sizes) the eye, nose and mouth regions extend past their landmarks: lids and lip corners."""


def render_region_cue(image: np.ndarray, landmarks: np.ndarray, *, grow: float = REGION_GROW) -> np.ndarray:
    """The "regions" cue of one driving frame: its eyes, nose and mouth on black, plus their mask (H×W×4 uint8).

    Only these regions carry expression, so identity (face shape, skin, hair) of the driver does not leak into the
    portrait the way a full frame would; the mask channel tells the guider where the cue is defined.
    """
    height, width = image.shape[:2]
    parts = [
        regions.RIGHT_EYE + regions.RIGHT_BROW,
        regions.LEFT_EYE + regions.LEFT_BROW,
        regions.NOSE_BRIDGE + regions.NOSE_BOTTOM,
        regions.LIPS_OUTER,
    ]
    hulls = [cv2.convexHull(landmarks[list(part)].astype(np.float32)).reshape(-1, 2) for part in parts]
    mask = fill_polygons((height, width), hulls)
    radius = int(round(grow * regions.face_size(landmarks)))
    if radius > 0:
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)))
    cue = np.concatenate([image.astype(np.float32) * mask[..., None], 255.0 * mask[..., None]], axis=-1)
    return np.clip(cue + 0.5, 0, 255).astype(np.uint8)


class KeypointGuider(ModelMixin, ConfigMixin):
    """3×3 convs with SiLU, one stride-2 conv per level after the first (÷8 for four levels), zero output conv."""

    @register_to_config
    def __init__(
        self,
        cue: str = "keypoints",
        block_out_channels: tuple[int, ...] = (16, 32, 96, 256),
        out_channels: int = 320,
    ) -> None:
        super().__init__()
        if cue not in GUIDER_CUES:
            raise ValueError(f"guider cue must be one of {sorted(GUIDER_CUES)}, got {cue!r}")
        channels = tuple(block_out_channels)
        self.conv_in = nn.Conv2d(GUIDER_CUES[cue], channels[0], kernel_size=3, padding=1)
        blocks = []
        for width, next_width in zip(channels[:-1], channels[1:]):
            blocks.append(nn.Conv2d(width, width, kernel_size=3, padding=1))
            blocks.append(nn.Conv2d(width, next_width, kernel_size=3, padding=1, stride=2))
        self.blocks = nn.ModuleList(blocks)
        self.conv_out = nn.Conv2d(channels[-1], out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def downsample_factor(self) -> int:
        return 2 ** (len(self.config.block_out_channels) - 1)

    def forward(self, cue: torch.Tensor) -> torch.Tensor:
        """``cue``: (N, C, H, W) in [0, 1] → (N, out_channels, H / factor, W / factor)."""
        features = F.silu(self.conv_in(cue))
        for block in self.blocks:
            features = F.silu(block(features))
        return self.conv_out(features)


_ACTIVE_FEATURES: ContextVar[tuple[nn.Module, torch.Tensor] | None] = ContextVar("guider_features", default=None)


def _add_active_features(module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
    active = _ACTIVE_FEATURES.get()
    if active is None or active[0] is not module:
        return output
    features = active[1]
    if output.shape != features.shape:
        raise ValueError(f"guider features {tuple(features.shape)} do not match conv_in output {tuple(output.shape)}")
    return output + features.to(output.dtype)


def install_guider_hook(conv_in: nn.Module):
    """Register, once per model, the forward hook that adds guider features to ``conv_in``'s output.

    The hook adds nothing unless :func:`guider_features` is active for this very module in the calling context, so
    the denoiser stays a stock UNet otherwise. Features travel in a context variable, which is private to each
    thread and asyncio task: two requests sharing one model never see each other's motion. Returns the handle
    (``handle.remove()`` takes the hook off).
    """
    for handle_id, hook in conv_in._forward_hooks.items():
        if hook is _add_active_features:  # already installed (a second container around the same parts)
            return _ExistingHook(conv_in, handle_id)
    return conv_in.register_forward_hook(_add_active_features)


class _ExistingHook:
    def __init__(self, module: nn.Module, handle_id: int) -> None:
        self.module, self.handle_id = module, handle_id

    def remove(self) -> None:
        self.module._forward_hooks.pop(self.handle_id, None)


@contextmanager
def guider_features(conv_in: nn.Module, features: torch.Tensor | None) -> Iterator[None]:
    """Within the block, the hooked ``conv_in`` adds ``features`` (laid out like its output: branches × frames)."""
    token = _ACTIVE_FEATURES.set(None if features is None else (conv_in, features))
    try:
        yield
    finally:
        _ACTIVE_FEATURES.reset(token)
