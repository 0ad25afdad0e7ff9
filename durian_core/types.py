"""The request, prepared-input and result types that the app, the CLI, both engines and the benchmarks share.

Plain dataclasses with their own validation and nothing else: this module imports no engine, no model and no
media code, so every other module can depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from durian_core.config import ATTRIBUTE_KINDS, GenerationSettings

ProgressCallback = Callable[[float, str], None]
"""Called with a fraction in [0, 1] and a short description of the stage.

A callback may raise to abort the work (the app's Stop button does): engines let the exception propagate.
"""


def no_progress(fraction: float, message: str) -> None:  # noqa: ARG001 - the default callback
    """A progress callback that ignores its updates."""


# ----------------------------------------------------------------------------------------------------- requests


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
class BlendTerm:
    """One member of a blend: the attributes present at their opacities, and the term's share of the result."""

    coefficient: float  # share of this term in the blend; the coefficients of a blend sum to 1
    weights: tuple[float, ...]  # opacity per attribute in this term; 0 leaves the attribute out


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


def blend_terms(weights: Sequence[float], interpolation: Interpolation | None) -> tuple[BlendTerm, ...]:
    """How both engines read attribute weights and an interpolation: the terms to blend, with their coefficients.

    Without an interpolation every attribute composes at its own weight (one term). With one, the term without the
    second attribute weighs ``1 − α`` and the term without the first weighs ``α``; the other attributes keep their
    weights in both, and the pair's members keep their own weights (the interpolation never adds them up). Terms
    with a zero coefficient are left out, so α = 0 and α = 1 are exactly the single-attribute results.
    """
    weights = tuple(float(weight) for weight in weights)
    if interpolation is None:
        return (BlendTerm(1.0, weights),)
    first, second, alpha = interpolation.first, interpolation.second, float(interpolation.alpha)
    if not (0 <= first < len(weights) and 0 <= second < len(weights)):
        raise ValueError(f"interpolation indices {first}, {second} are outside the {len(weights)} attributes")
    without_second = tuple(0.0 if index == second else weight for index, weight in enumerate(weights))
    without_first = tuple(0.0 if index == first else weight for index, weight in enumerate(weights))
    terms = (BlendTerm(1.0 - alpha, without_second), BlendTerm(alpha, without_first))
    return tuple(term for term in terms if term.coefficient > 0.0)


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


# --------------------------------------------------------------------------------------------- prepared inputs


@dataclass(frozen=True, eq=False)
class PreparedAttribute:
    """One attribute reference, analysed and aligned onto the portrait."""

    image: np.ndarray  # the attribute image, RGB uint8
    kind: str
    landmarks: np.ndarray  # 478×2 float32, pixels of ``image``
    mask: np.ndarray  # float32 in [0, 1], the attribute region on ``image`` (automatic ∪ user, or user alone)
    aligned_image: np.ndarray  # ``image`` warped onto the portrait's geometry, portrait-sized
    aligned_mask: np.ndarray  # ``mask`` warped the same way
    weight: float  # the reference's opacity; an interpolation's α is applied on top (see ``blend_terms``)
    name: str = ""
    from_portrait: bool = False  # the attribute image is the portrait itself: the portrait already wears it


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """What the engines consume. Images are at the working resolution (longest side ``output_size``)."""

    portrait: np.ndarray  # RGB uint8
    portrait_landmarks: np.ndarray  # 478×2 float32
    portrait_masks: dict[str, np.ndarray]  # the portrait's own region per attribute kind requested
    attributes: tuple[PreparedAttribute, ...]
    interpolation: Interpolation | None  # indices into ``attributes``
    motion: np.ndarray | None  # F×478×2 float32: the portrait's landmarks moving like the driver
    fps: float | None
    audio_path: str | None

    @property
    def portrait_mask(self) -> np.ndarray:
        """``M_port``: the portrait's own attribute regions united with the aligned attribute masks.

        The union keeps none of the portrait's own hair (say) under the new one (the paper's aligned mask).
        """
        height, width = self.portrait.shape[:2]
        union = np.zeros((height, width), np.float32)
        for mask in self.portrait_masks.values():
            union = np.maximum(union, mask)
        for attribute in self.attributes:
            union = np.maximum(union, attribute.aligned_mask)
        return union

    @property
    def attribute_weights(self) -> tuple[float, ...]:
        return tuple(attribute.weight for attribute in self.attributes)

    def blend_terms(self) -> tuple[BlendTerm, ...]:
        """The effective weights both engines use (see :func:`blend_terms`)."""
        return blend_terms(self.attribute_weights, self.interpolation)


# ------------------------------------------------------------------------------------------------------ results


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
