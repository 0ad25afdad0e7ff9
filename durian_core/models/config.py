"""Model sizes of the Durian diffusion engine: ``tiny`` for tests on CPU, ``toy`` for the toy transfer proof,
``sd15`` for the real model.

These configs build fresh (random) components; a saved model carries each component's own ``config.json``, and
loading reads those, so a checkpoint never depends on these numbers staying the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class DurianModelConfig:
    """Sizes of every component, one comment per field."""

    name: str
    resolution: int  # square side in pixels the model runs at; the engine crops the face to it
    # UNets (both reference nets and the denoiser share the SD1.5 UNet layout)
    block_out_channels: tuple[int, ...]
    down_block_types: tuple[str, ...]
    up_block_types: tuple[str, ...]
    layers_per_block: int
    attention_head_dim: int  # SD1.5 names the head count this way: 8 heads per attention layer
    norm_num_groups: int
    cross_attention_dim: int  # equals the CLIP image encoder's projection size (cross-attention gets its embedding)
    # AnimateDiff motion modules
    motion_num_attention_heads: int
    motion_norm_num_groups: int
    motion_max_seq_length: int  # longest window the temporal position embedding covers
    # keypoint guider
    guider_block_out_channels: tuple[int, ...]  # one stride-2 conv between consecutive widths: four widths give ÷8
    guider_cue: str  # "keypoints" (Durian) or "regions" (masked eyes, nose, mouth of the driver)
    # VAE
    vae_block_out_channels: tuple[int, ...]  # one level per halving after the first: four give latents at ÷8
    vae_layers_per_block: int
    vae_norm_num_groups: int
    vae_scaling_factor: float
    # CLIP image encoder
    clip_hidden_size: int
    clip_intermediate_size: int
    clip_num_hidden_layers: int
    clip_num_attention_heads: int
    clip_image_size: int
    clip_patch_size: int

    def unet_kwargs(self, *, in_channels: int = 4) -> dict[str, Any]:
        """Arguments of ``UNet2DConditionModel`` for a reference net (5 channels) or the denoiser's UNet (4)."""
        return {
            "sample_size": self.resolution // 2 ** (len(self.vae_block_out_channels) - 1),
            "in_channels": in_channels,
            "out_channels": 4,
            "block_out_channels": self.block_out_channels,
            "down_block_types": self.down_block_types,
            "up_block_types": self.up_block_types,
            "layers_per_block": self.layers_per_block,
            "attention_head_dim": self.attention_head_dim,
            "norm_num_groups": self.norm_num_groups,
            "cross_attention_dim": self.cross_attention_dim,
        }

    def motion_adapter_kwargs(self) -> dict[str, Any]:
        return {
            "block_out_channels": self.block_out_channels,
            "motion_layers_per_block": self.layers_per_block,
            "motion_num_attention_heads": self.motion_num_attention_heads,
            "motion_norm_num_groups": self.motion_norm_num_groups,
            "motion_max_seq_length": self.motion_max_seq_length,
            "use_motion_mid_block": True,
        }

    def guider_kwargs(self) -> dict[str, Any]:
        return {
            "cue": self.guider_cue,
            "block_out_channels": self.guider_block_out_channels,
            "out_channels": self.block_out_channels[0],
        }

    def vae_kwargs(self) -> dict[str, Any]:
        levels = len(self.vae_block_out_channels)
        return {
            "in_channels": 3,
            "out_channels": 3,
            "latent_channels": 4,
            "block_out_channels": self.vae_block_out_channels,
            "down_block_types": ("DownEncoderBlock2D",) * levels,
            "up_block_types": ("UpDecoderBlock2D",) * levels,
            "layers_per_block": self.vae_layers_per_block,
            "norm_num_groups": self.vae_norm_num_groups,
            "sample_size": self.resolution,
            "scaling_factor": self.vae_scaling_factor,
        }

    def clip_kwargs(self) -> dict[str, Any]:
        """Arguments of ``transformers.CLIPVisionConfig``."""
        return {
            "hidden_size": self.clip_hidden_size,
            "intermediate_size": self.clip_intermediate_size,
            "num_hidden_layers": self.clip_num_hidden_layers,
            "num_attention_heads": self.clip_num_attention_heads,
            "image_size": self.clip_image_size,
            "patch_size": self.clip_patch_size,
            "projection_dim": self.cross_attention_dim,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


TINY = DurianModelConfig(
    name="tiny",
    resolution=64,
    block_out_channels=(32, 64),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    layers_per_block=1,
    attention_head_dim=8,
    norm_num_groups=8,
    cross_attention_dim=32,
    motion_num_attention_heads=2,
    motion_norm_num_groups=8,
    motion_max_seq_length=32,
    guider_block_out_channels=(8, 8, 16, 16),
    guider_cue="keypoints",
    vae_block_out_channels=(8, 8, 16, 16),
    vae_layers_per_block=1,
    vae_norm_num_groups=8,
    vae_scaling_factor=0.18215,
    clip_hidden_size=32,
    clip_intermediate_size=37,
    clip_num_hidden_layers=2,
    clip_num_attention_heads=4,
    clip_image_size=32,
    clip_patch_size=8,
)

SD15 = DurianModelConfig(
    name="sd15",
    resolution=512,
    block_out_channels=(320, 640, 1280, 1280),
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    layers_per_block=2,
    attention_head_dim=8,
    norm_num_groups=32,
    cross_attention_dim=768,  # CLIP ViT-L/14 image embeddings, as in sd-image-variations
    motion_num_attention_heads=8,
    motion_norm_num_groups=32,
    motion_max_seq_length=32,
    guider_block_out_channels=(16, 32, 96, 256),
    guider_cue="keypoints",
    vae_block_out_channels=(128, 256, 512, 512),
    vae_layers_per_block=2,
    vae_norm_num_groups=32,
    vae_scaling_factor=0.18215,
    clip_hidden_size=1024,
    clip_intermediate_size=4096,
    clip_num_hidden_layers=24,
    clip_num_attention_heads=16,
    clip_image_size=224,
    clip_patch_size=14,
)

# The toy transfer proof's size: 32² faces and a ÷2 VAE (a ÷8 one fitted from random weights in CPU minutes loses
# the hair's hue), so 16² latents. Reference attention at every level, the top (16²) too: without it the portrait
# reached the denoiser only through 8² tokens, and held-out faces came out as a mean face. One head per layer keeps
# that level cheap (a step 1.25× the cost of no attention there; eight heads: 2.3×).
TOY = replace(
    TINY,
    name="toy",
    resolution=32,
    block_out_channels=(32, 64, 64),
    down_block_types=("CrossAttnDownBlock2D",) * 3,
    up_block_types=("CrossAttnUpBlock2D",) * 3,
    attention_head_dim=1,
    guider_block_out_channels=(8, 16),
    vae_block_out_channels=(32, 64),
)

MODEL_CONFIGS: dict[str, DurianModelConfig] = {"tiny": TINY, "toy": TOY, "sd15": SD15}

DEFAULT_BASE = "lambdalabs/sd-image-variations-diffusers"
"""SD1.5 fine-tuned on CLIP image embeddings: VAE, UNet (cross-attention dim 768) and image encoder in one repo."""
DEFAULT_MOTION_ADAPTER = "guoyww/animatediff-motion-adapter-v1-5-2"


def model_config(name: str) -> DurianModelConfig:
    """The named config; raises ``ValueError`` naming the choices."""
    try:
        return MODEL_CONFIGS[name]
    except KeyError:
        raise ValueError(f"model config must be one of {sorted(MODEL_CONFIGS)}, got {name!r}") from None
