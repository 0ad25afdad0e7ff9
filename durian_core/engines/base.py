"""The interface both engines implement, and the request/result types the app, CLI and benchmarks share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from durian_core.config import ATTRIBUTE_KINDS, GenerationSettings

ProgressCallback = Callable[[float, str], None]
"""Called with a fraction in [0, 1] and a short description of the stage.

A callback may raise to abort the work (the app's Stop button does): engines let the exception propagate.
"""


def no_progress(fraction: float, message: str) -> None:  # noqa: ARG001 - the default callback
    """A progress callback that ignores its updates."""


@dataclass(frozen=True, eq=False)
class AttributeReference:
    """One attribute to transfer: whose hair, glasses, makeup, beard or hat."""

    image: np.ndarray  # RGB uint8, H×W×3
    kind: str  # one of ATTRIBUTE_KINDS
    mask: np.ndarray | None = None  # user mask, float32 H×W in [0, 1], same size as ``image``
    mask_mode: str = "add"  # "add": union with the automatic mask; "replace": use the user mask alone
    weight: float = 1.0  # opacity of the transferred attribute
    name: str = ""  # shown in captions and status lines

    def __post_init__(self) -> None:
        if self.kind not in ATTRIBUTE_KINDS:
            raise ValueError(f"attribute kind must be one of {ATTRIBUTE_KINDS}, got {self.kind!r}")
        if self.mask_mode not in ("add", "replace"):
            raise ValueError(f"mask_mode must be 'add' or 'replace', got {self.mask_mode!r}")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"attribute weight must be within [0, 1], got {self.weight}")
        if self.mask is not None and self.mask.shape[:2] != self.image.shape[:2]:
            raise ValueError(
                f"attribute mask is {self.mask.shape[1]}×{self.mask.shape[0]} but its image is "
                f"{self.image.shape[1]}×{self.image.shape[0]}"
            )


@dataclass(frozen=True)
class Interpolation:
    """Blend two attributes of one kind: 0 gives the first, 1 the second."""

    first: int  # index into the request's attributes
    second: int
    alpha: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be within [0, 1], got {self.alpha}")
        if self.first == self.second:
            raise ValueError("interpolation needs two different attributes")


@dataclass(frozen=True, eq=False)
class DrivingVideo:
    """The motion source: decoded frames plus what is needed to carry its audio over."""

    frames: np.ndarray  # F×H×W×3 uint8
    fps: float
    audio_path: str | None = None  # a file whose audio track goes into the output, if it has one
    truncated_from: float | None = None  # the original duration in seconds when the clip was cut


@dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Everything one generation needs. No driver means a still edit."""

    portrait: np.ndarray  # RGB uint8
    attributes: tuple[AttributeReference, ...] = ()
    driver: DrivingVideo | None = None
    interpolation: Interpolation | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)

    def __post_init__(self) -> None:
        pair = self.interpolation
        if pair is None:
            return
        count = len(self.attributes)
        if not (0 <= pair.first < count and 0 <= pair.second < count):
            raise ValueError(f"interpolation indices {pair.first}, {pair.second} are outside the {count} attributes")
        kinds = {self.attributes[pair.first].kind, self.attributes[pair.second].kind}
        if len(kinds) != 1:
            raise ValueError(f"interpolation needs two attributes of one kind, got {sorted(kinds)}")


@dataclass
class GenerateResult:
    """Frames out, and what produced them."""

    frames: np.ndarray  # F×H×W×3 uint8; a still edit has F = 1
    fps: float | None  # None for a still edit
    engine: str  # the engine that ran: "classical" or "durian"
    audio_source: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: tuple[str, ...] = ()  # things the user should know (driver cut to 20 s, ...)

    @property
    def still(self) -> np.ndarray:
        return self.frames[0]


class Engine(ABC):
    """Turns prepared inputs into frames. Stateless per request: safe to share between users."""

    name: str

    @abstractmethod
    def generate(self, prepared, settings: GenerationSettings, *, progress: ProgressCallback = no_progress):
        """Return ``(frames, timings)`` for a :class:`durian_core.prepare.PreparedInputs`."""
