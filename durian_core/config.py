"""Typed, frozen settings. Defaults do no I/O; every field says why it has its value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

AttributeKind = Literal["hair", "glasses", "makeup", "beard", "hat"]
"""The attribute kinds the face module can mask and both engines can transfer."""
ATTRIBUTE_KINDS: tuple[AttributeKind, ...] = get_args(AttributeKind)

EngineName = Literal["auto", "classical", "durian"]
ENGINE_NAMES: tuple[EngineName, ...] = get_args(EngineName)

EvaluationProtocol = Literal["reenactment", "reconstruction", "tryon"]
"""Self-reenactment and the paper's self-reconstruction (``durian_core.evaluation``); a video portrait wearing an
attribute, against the clip itself (``durian_core.tryon_metrics``)."""
EVALUATION_PROTOCOLS: tuple[EvaluationProtocol, ...] = get_args(EvaluationProtocol)


@dataclass(frozen=True)
class MediaLimits:
    """What the loaders accept. Generous for real photos and phone videos, strict against abuse."""

    min_image_side: int = 64  # below this a face has too few pixels for landmarks
    max_image_side: int = 4096  # larger images are downscaled: nothing downstream gains from more
    max_image_megapixels: float = 50.0  # refused outright: decompression bombs and absurd scans
    max_video_seconds: float = 600.0  # the most a driver may be asked to give (drivers stream: length costs no memory)
    max_video_side: int = 1024  # driver frames are downscaled; landmarks need no more
    max_file_bytes: int = 200 * 1024 * 1024  # uploads above this are refused before decoding


@dataclass(frozen=True)
class FaceSettings:
    """Landmark detection and tracking."""

    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    max_missing_fraction: float = 0.5  # a driver with more frames than this without a face is refused
    smoothing_sigma: float = 0.8  # frames; removes detector jitter on still faces, keeps mouth motion
    detect_size: int = 640  # longest side images are resized to for detection (landmarks are mapped back)


@dataclass(frozen=True)
class GenerationSettings:
    """What a user can tweak per request. Only the fields an engine uses affect its output."""

    # which engine runs: auto (durian with weights and a GPU, else classical), classical, durian
    engine: EngineName = "auto"
    seed: int = 0  # seed of the diffusion engine's noise: the same seed gives the same video
    motion_multiplier: float = 1.0  # scales the driver's motion before it reaches the portrait (0 freezes it)
    max_seconds: float = 120.0  # use at most this many seconds of the driving video (at most 600)
    output_size: int = 2048  # longest side of the output at most, in pixels (a smaller portrait keeps its size)
    work_size: int = 512  # longest side of the crop around the face that the engines work on
    face_index: int = 0  # which face of the portrait to edit: 0 is the largest, 1 the next, and so on
    # Diffusion engine only.
    num_inference_steps: int = 25  # denoising steps (durian engine)
    guidance_portrait: float = 1.0  # portrait guidance scale λ_p of signal-fusion guidance (durian engine)
    guidance_attribute: float = 2.5  # attribute guidance scale λ_a (durian engine)
    guidance_motion: float = 1.0  # motion guidance scale λ_m (durian engine)
    window: int = 16  # frames per denoising window (durian engine)
    overlap: int = 4  # frames shared by consecutive windows (durian engine)
    history_frames: int = 0  # generated frames that condition the next window, 0 = off (durian engine)
    # compose attributes as the paper does, every frame token reading every reference; by default a token reads an
    # attribute's reference by how much it lies in that attribute's region (durian engine)
    plain_composition: bool = False

    def __post_init__(self) -> None:
        if self.engine not in ENGINE_NAMES:
            raise ValueError(f"engine must be one of {ENGINE_NAMES}, got {self.engine!r}")
        if not 0.0 <= self.motion_multiplier <= 3.0:
            raise ValueError(f"motion_multiplier must be within [0, 3], got {self.motion_multiplier}")
        if not 0 < self.max_seconds <= MediaLimits().max_video_seconds:
            raise ValueError(
                f"max_seconds must be within (0, {MediaLimits().max_video_seconds:g}], got {self.max_seconds}"
            )
        if not 64 <= self.output_size <= 4096:
            raise ValueError(f"output_size must be within [64, 4096], got {self.output_size}")
        if not 64 <= self.work_size <= 1024:
            raise ValueError(f"work_size must be within [64, 1024], got {self.work_size}")
        if self.face_index < 0:
            raise ValueError(f"face_index must be 0 (the largest face) or more, got {self.face_index}")
        if self.num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {self.num_inference_steps}")
        if self.window < 1 or not 0 <= self.overlap < self.window:
            raise ValueError(f"need window >= 1 and 0 <= overlap < window, got {self.window}/{self.overlap}")
