"""The request, prepared-input and result types that the app, the CLI, both engines and the benchmarks share.

Plain dataclasses with their own validation and nothing else: this module imports no engine, no model and no
media code, so every other module can depend on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from durian_core.config import ATTRIBUTE_KINDS, GenerationSettings
from durian_core.placement import WorkCrop

ProgressCallback = Callable[[float, str], None]
"""Called with a fraction in [0, 1] and a short description of the stage.

A callback may raise to abort the work (the app's Stop button does): engines let the exception propagate.
"""


def no_progress(fraction: float, message: str) -> None:  # noqa: ARG001 - the default callback
    """A progress callback that ignores its updates."""


# ----------------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class AttributeFit:
    """A user's nudge of an attribute once it is carried onto the portrait: moved, scaled and turned about the middle
    of the portrait's head, in the portrait's own upright frame."""

    dx: float = 0.0  # move right by this many face sizes of the portrait (negative: left)
    dy: float = 0.0  # move down by this many face sizes (negative: up)
    scale: float = 1.0  # grow (> 1) or shrink (< 1)
    degrees: float = 0.0  # turn counter-clockwise as seen (negative: clockwise)

    def __post_init__(self) -> None:
        if not (abs(self.dx) <= 1.0 and abs(self.dy) <= 1.0):
            raise ValueError(f"fit offsets must be within [-1, 1] face sizes, got {self.dx}, {self.dy}")
        if not 0.5 <= self.scale <= 2.0:
            raise ValueError(f"fit scale must be within [0.5, 2], got {self.scale}")
        if not -45.0 <= self.degrees <= 45.0:
            raise ValueError(f"fit rotation must be within [-45, 45] degrees, got {self.degrees}")

    @property
    def is_identity(self) -> bool:
        return self == AttributeFit()

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (float(self.dx), float(self.dy), float(self.scale), float(self.degrees))


@dataclass(frozen=True, eq=False)
class AttributeReference:
    """One attribute to transfer: whose hair, glasses, makeup, beard or hat."""

    image: np.ndarray  # RGB uint8, H×W×3
    kind: str  # one of ATTRIBUTE_KINDS
    mask: np.ndarray | None = None  # user mask, float32 H×W in [0, 1], same size as ``image``
    mask_mode: str = "add"  # "add": union with the automatic mask; "replace": use the user mask alone
    weight: float = 1.0  # opacity of the transferred attribute
    name: str = ""  # shown in captions and status lines
    fit: AttributeFit = field(default_factory=AttributeFit)  # the user's nudge once it is on the portrait
    face: int = 0  # whose attribute, when the image shows several people: 0 is the largest face, 1 the next, ...

    def __post_init__(self) -> None:
        if self.kind not in ATTRIBUTE_KINDS:
            raise ValueError(f"attribute kind must be one of {ATTRIBUTE_KINDS}, got {self.kind!r}")
        if self.mask_mode not in ("add", "replace"):
            raise ValueError(f"mask_mode must be 'add' or 'replace', got {self.mask_mode!r}")
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"attribute weight must be within [0, 1], got {self.weight}")
        if self.face < 0:
            raise ValueError(f"attribute face must be 0 (the largest face) or more, got {self.face}")
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
    """The motion source: its frames (decoded, or streamed from a file), frame rate, and what carries its audio."""

    frames: np.ndarray | None  # F×H×W×3 uint8 when decoded; None when the frames stream from ``stream``
    fps: float
    audio_path: str | None = None  # a file whose audio track goes into the output, if it has one
    truncated_from: float | None = None  # the original duration in seconds when the clip was cut
    stream: Callable[[], Iterator[np.ndarray]] | None = None  # a fresh iterator over the frames, per call
    count: int | None = None  # frames it has (streamed ones: as the container says, cut to the limit)
    size: tuple[int, int] | None = None  # (width, height) of its frames
    name: str = ""  # the file's name, for messages
    path: str | None = None  # the file it streams from
    # (slowest, fastest) frames per second when the file's frames come at a variable rate (a phone's clip); its
    # frames are then sampled at ``fps`` along their timestamps
    variable_rate: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.frames is None and self.stream is None:
            raise ValueError("a driving video needs its frames or a stream of them")

    @property
    def frame_count(self) -> int:
        return len(self.frames) if self.frames is not None else int(self.count or 0)

    @property
    def seconds(self) -> float:
        return self.frame_count / self.fps

    def iter_frames(self) -> Iterator[np.ndarray]:
        """The frames in order, decoded one by one when they stream from a file."""
        if self.frames is not None:
            return iter(self.frames)
        return self.stream()


@dataclass(frozen=True, eq=False)
class PortraitVideo:
    """A video as the portrait: every frame keeps its own face and motion and wears the attributes."""

    clip: DrivingVideo  # the frames (streamed), frame rate, size and the file carrying the audio
    reference_index: int  # the first frame showing the chosen face: the attributes are prepared against it
    reference: np.ndarray  # that frame, RGB uint8 at the clip's size


@dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Everything one generation needs. No driver means a still edit; a portrait video wears the attributes frame
    by frame (``portrait`` is then its reference frame, and it takes no driver)."""

    portrait: np.ndarray  # RGB uint8
    attributes: tuple[AttributeReference, ...] = ()
    driver: DrivingVideo | None = None
    interpolation: Interpolation | None = None
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    portrait_video: PortraitVideo | None = None

    def __post_init__(self) -> None:
        if self.portrait_video is not None and self.driver is not None:
            raise ValueError(
                "a portrait video moves by itself and takes no driving video (a driver animates a still portrait)"
            )
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
    aligned_foreground: np.ndarray | None = None  # hair, hat, beard: their colours without what shows through their
    # soft edge, carried as ``aligned_image`` is (None: the aligned image's own colours)
    aligned_key: str = ""  # a content key of the aligned layers and what made them ("": none, hash the arrays)
    note: str = ""  # one line for the user about this attribute ("the hat's image cuts its crown"), or ""
    fit: AttributeFit = field(default_factory=AttributeFit)  # the user's nudge the aligned layers carry
    source_key: str = ""  # a content key of ``image``, ``landmarks`` and ``mask`` ("": none, hash the arrays)


@dataclass(frozen=True, eq=False)
class PreparedInputs:
    """What the engines consume. ``portrait`` is the work crop around the chosen face (longest side at most
    ``work_size``); the engines' frames go back into ``full_portrait`` through ``placement``."""

    portrait: np.ndarray  # RGB uint8, the work crop
    portrait_landmarks: np.ndarray  # 478×2 float32, pixels of the work crop
    portrait_masks: dict[str, np.ndarray]  # the portrait's own region per attribute kind requested
    attributes: tuple[PreparedAttribute, ...]
    interpolation: Interpolation | None  # indices into ``attributes``
    motion: np.ndarray | None  # F×478×2 float32: the portrait's landmarks moving like the driver
    fps: float | None
    audio_path: str | None
    full_portrait: np.ndarray | None = None  # the portrait at its output size (None: the crop is the portrait)
    placement: WorkCrop | None = None  # where the crop lies in ``full_portrait``
    own_hair: np.ndarray | None = None  # the portrait's own hair mask (the head the animator moves)
    driver_frames: np.ndarray | None = None  # F×h×w×3 uint8, the driver's own pixels (its mouth's inside)
    driver_landmarks: np.ndarray | None = None  # F×478×2 float32, in the driver's pixels
    other_faces: tuple[np.ndarray, ...] = ()  # 478×2 float32 each: the photo's other faces, in work-crop pixels
    portrait_key: str = ""  # a content key of ``portrait`` (its masks follow from it; "": none, hash the arrays)

    def paste(self, frame: np.ndarray, *, seam: np.ndarray | None = None) -> np.ndarray:
        """A work-crop frame put back into the full-size portrait (the identity without a placement)."""
        if self.placement is None or self.full_portrait is None:
            return frame
        return self.placement.paste(self.full_portrait, frame, seam=seam)

    def frame_paster(self) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`paste` for a stream of frames: the seam is computed once, not per frame."""
        if self.placement is None or self.full_portrait is None or self.placement.is_whole:
            return lambda frame: frame
        seam = self.placement.seam()
        return lambda frame: self.paste(frame, seam=seam)

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
    """Frames out (or the file they were written to), and what produced them."""

    frames: np.ndarray | None  # F×H×W×3 uint8 (a still edit has F = 1); None when an animation went to ``path``
    fps: float | None  # None for a still edit
    engine: str  # the engine that ran: "classical" or "durian"
    audio_source: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    notes: tuple[str, ...] = ()  # things the user should know (driver cut to 20 s, ...)
    path: Path | None = None  # the file the result was written to, when it was
    frame_count: int = 1

    @property
    def still(self) -> np.ndarray:
        if self.frames is None:
            raise ValueError(f"the result was written to {self.path}, not kept in memory")
        return self.frames[0]
