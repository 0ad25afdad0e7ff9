"""Cross-identity transfer on held-out toy people and looks, through an engine: the paper's three claims measured
in colour.

Every pair puts a held-out look's hair on a held-out person who never wore it (and whose own hair has another
colour), so a model that reconstructs its training videos can only pass by taking the hair from its attribute
reference and the face from its portrait:

1. *transfer*: the output's hair is closer in colour to the attribute's hair than to the portrait's own, and its
   face closer to the portrait's skin than to the attribute person's skin or to the new hair's colour (a model that
   smears the attribute's colour over the whole head passes the hair test alone);
2. *interpolation*: as α goes 0 → ¼ → ½ → ¾ → 1 between two hair references, the output's hair colour moves along
   the line from the first colour to the second without turning back;
3. *composition*: hair from one reference and a second attribute (glasses or a beard: the looks' ``extra``) from
   another in one pass, both visible, each in its own region: the hair as in 1, and the second attribute's region
   (outside the new hair) closer, pixel by pixel, to its aligned reference than to the hair-only output.

Colours are compared in CIELAB (ΔE 1976) on the regions the toy renderer knows exactly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.errors import DurianInputError
from durian_core.face.masks import skin_region
from durian_core.training.toy import EXTRA_KINDS, HELD_OUT, ToyVideo, make_identity, render_toy_video, toy_edit_inputs
from durian_core.types import Interpolation

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
MONOTONIC_SLACK = 0.05  # a step back along the colour line smaller than this (of the whole line) is noise
_MIN_HAIR_DISTANCE = 40.0  # ΔE between the two hair colours of a pair, so "closer to which" means something
_MIN_SKIN_DISTANCE = 12.0  # ΔE between the two people's skins
_MIN_PIXELS = 12


@dataclass(frozen=True)
class ToyPair:
    """One held-out case: a portrait (person in a look without the extra attribute), a hair reference worn by
    another person, a second hair reference for α, and the extra attribute (glasses or a beard) on a fourth."""

    portrait: tuple[int, int]  # (person, look)
    attribute: tuple[int, int]
    second: tuple[int, int]
    extra: tuple[int, int]


@dataclass
class PairResult:
    pair: ToyPair
    hair_to_attribute: float  # ΔE of the output's hair to the attribute's hair colour
    hair_to_portrait: float  # ... and to the portrait's own hair colour
    face_to_portrait: float  # ΔE of the output's face to the portrait's skin
    face_to_attribute: float  # ... and to the attribute person's skin
    face_to_attribute_hair: float  # ... and to the attribute's hair colour
    alpha_positions: list[float]  # the hair colour's position on the first → second line, per α in ALPHAS
    composed_hair_to_attribute: float
    composed_hair_to_portrait: float
    extra_to_reference: float  # mean ΔE, pixel by pixel in the extra attribute's region, to its aligned reference
    extra_to_without: float  # ... and to the hair-only output (what the region shows without it)
    # The extra attribute's reference alone (no hair reference): is it drawn, and does the portrait keep its hair?
    alone_extra_to_reference: float  # mean ΔE in its region to its aligned reference
    alone_extra_to_portrait: float  # ... and to the portrait there
    alone_hair_to_portrait: float  # ΔE of the output's mean colour on the portrait's own hair to that hair's colour
    # The four composed figures again, every frame token reading every reference as the paper composes (when asked).
    plain: dict[str, float] | None = None

    @property
    def keeps_face(self) -> bool:
        return self.face_to_portrait < min(self.face_to_attribute, self.face_to_attribute_hair)

    @property
    def transfers(self) -> bool:
        return self.hair_to_attribute < self.hair_to_portrait and self.keeps_face

    @property
    def monotonic(self) -> bool:
        steps = np.diff(self.alpha_positions)
        return bool(steps.min() > -MONOTONIC_SLACK and self.alpha_positions[-1] - self.alpha_positions[0] > 0.25)

    @property
    def draws_extra_alone(self) -> bool:
        return self.alone_extra_to_reference < self.alone_extra_to_portrait

    @property
    def composes(self) -> bool:
        return _composes({name: getattr(self, name) for name in COMPOSED_FIGURES})

    @property
    def composes_plainly(self) -> bool | None:
        return None if self.plain is None else _composes(self.plain)


COMPOSED_FIGURES = (
    "composed_hair_to_attribute",
    "composed_hair_to_portrait",
    "extra_to_reference",
    "extra_to_without",
)


def _composes(figures: dict[str, float]) -> bool:
    """Hair from the hair reference and the extra attribute from its own, in one pass."""
    hair = figures["composed_hair_to_attribute"] < figures["composed_hair_to_portrait"]
    return hair and figures["extra_to_reference"] < figures["extra_to_without"]


@dataclass
class TransferReport:
    pairs: list[PairResult]

    def summary(self) -> dict:
        count = len(self.pairs)

        def share(flag: str) -> float:
            return sum(bool(getattr(result, flag)) for result in self.pairs) / count

        return {
            "pairs": count,
            "transfer": share("transfers"),
            "hair_closer_to_attribute": sum(r.hair_to_attribute < r.hair_to_portrait for r in self.pairs) / count,
            "face_closer_to_portrait": share("keeps_face"),
            "alpha_monotonic": share("monotonic"),
            "composition": share("composes"),
            "composed_hair_closer_to_attribute": sum(
                r.composed_hair_to_attribute < r.composed_hair_to_portrait for r in self.pairs
            )
            / count,
            **self._plain_summary(),
            "extra_alone_drawn": share("draws_extra_alone"),
            "median_alone_hair_to_portrait": float(np.median([r.alone_hair_to_portrait for r in self.pairs])),
            "median_hair_delta_e": {
                "to_attribute": float(np.median([r.hair_to_attribute for r in self.pairs])),
                "to_portrait": float(np.median([r.hair_to_portrait for r in self.pairs])),
            },
            "per_pair": [dataclasses.asdict(result) for result in self.pairs],
        }

    def _plain_summary(self) -> dict:
        """Composition read plainly, where every pair measured it."""
        if any(result.plain is None for result in self.pairs):
            return {}
        count = len(self.pairs)
        return {
            "plain_composition": sum(bool(result.composes_plainly) for result in self.pairs) / count,
            "plain_composed_hair_closer_to_attribute": sum(
                r.plain["composed_hair_to_attribute"] < r.plain["composed_hair_to_portrait"] for r in self.pairs
            )
            / count,
        }


def _lab(colour) -> np.ndarray:
    pixel = np.asarray(colour, np.float32).reshape(1, 1, 3) / 255.0
    return cv2.cvtColor(pixel, cv2.COLOR_RGB2LAB).reshape(3)


def delta_e(first, second) -> float:
    return float(np.linalg.norm(_lab(first) - _lab(second)))


def mean_delta_e(first: np.ndarray, second: np.ndarray, region: np.ndarray) -> float:
    """Mean ΔE between two RGB images over ``region``, pixel by pixel."""
    labs = [cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[region] for image in (first, second)]
    return float(np.linalg.norm(labs[0] - labs[1], axis=-1).mean())


def held_out_pairs(count: int, *, seed: int = 0, extra: str = "glasses") -> list[ToyPair]:
    """``count`` pairs of people and looks from ``HELD_OUT`` on (training data uses lower indices), chosen so the
    colours they compare differ clearly. ``extra`` is the attribute looks wear beside their hair (glasses or beard);
    the portrait never wears it."""
    if count < 1:
        raise DurianInputError(f"need at least one pair, got {count}")
    if extra not in EXTRA_KINDS:
        raise DurianInputError(f"the extra attribute must be one of {EXTRA_KINDS}, got {extra!r}")
    pairs: list[ToyPair] = []
    person, look = HELD_OUT, HELD_OUT
    while len(pairs) < count:
        portrait = (person, look + (look % 2))  # even looks wear no extra: the portrait's face stays clear
        attribute = (person + 1, portrait[1] + 1 + 2 * (len(pairs) % 3))
        second = (person + 2, attribute[1] + 2)
        worn = (person + 3, attribute[1] + 4 + (1 - (attribute[1] + 4) % 2))  # odd looks wear it
        people = [
            make_identity(who, seed=seed, look=look_, extras=(extra,))
            for who, look_ in (portrait, attribute, second, worn)
        ]
        hair = [
            delta_e(people[0].hair_colour, people[1].hair_colour),
            delta_e(people[1].hair_colour, people[2].hair_colour),
        ]
        skins = delta_e(people[0].skin, people[1].skin)
        if min(hair) >= _MIN_HAIR_DISTANCE and skins >= _MIN_SKIN_DISTANCE and _clear_extra(people, extra):
            pairs.append(ToyPair(portrait, attribute, second, worn))
        person += 4
        look += 7
    return pairs


def _clear_extra(people: list, extra: str) -> bool:
    """A beard must differ from the skin it covers and the hair beside it (bright glasses frames always do)."""
    if extra == "glasses":
        return people[3].glasses_colour is not None
    colour = people[3].beard_colour
    if colour is None:
        return False
    return min(delta_e(colour, people[0].skin), delta_e(colour, people[1].hair_colour)) >= _MIN_HAIR_DISTANCE


def _video(who: tuple[int, int], *, resolution: int, seed: int, extra: str) -> ToyVideo:
    person, look = who
    return render_toy_video(
        make_identity(person, seed=seed, look=look, extras=(extra,)), num_frames=1, resolution=resolution, seed=person
    )


def _mean(frame: np.ndarray, region: np.ndarray) -> np.ndarray:
    return frame[region].astype(np.float32).mean(axis=0)


def _hair_region(portrait: ToyVideo, aligned: np.ndarray) -> np.ndarray:
    """Where the portrait had hair and the new hair goes: a copy of the portrait would show the old colour there."""
    both = (portrait.masks["hair"][0] > 0.5) & (aligned > 0.5)
    return both if both.sum() >= _MIN_PIXELS else aligned > 0.5


def _extra_region(inputs, hair_mask: np.ndarray) -> np.ndarray:
    """The second attribute's aligned region outside the new hair (all of it where that leaves too little)."""
    mask = inputs.attributes[-1].aligned_mask > 0.5
    region = mask & (hair_mask < 0.05)
    return region if region.sum() >= _MIN_PIXELS else mask


def evaluate_transfer(
    engine,
    *,
    pairs: int = 12,
    resolution: int = 64,
    settings: GenerationSettings | None = None,
    seed: int = 0,
    extra: str = "glasses",
    sheet: str | Path | None = None,
    plain_too: bool = False,
) -> TransferReport:
    """Run the three claims on ``pairs`` held-out pairs through ``engine`` (any engine with ``generate``); the
    composition puts the ``extra`` attribute (glasses or beard) beside the hair. ``plain_too`` also composes as the
    paper does (``GenerationSettings.plain_composition``): one more pass per pair."""
    settings = settings or GenerationSettings(num_inference_steps=10, output_size=resolution, seed=0)
    cache = FeatureCache()
    results, rows = [], []
    for pair in held_out_pairs(pairs, seed=seed, extra=extra):
        videos = [
            _video(who, resolution=resolution, seed=seed, extra=extra)
            for who in (pair.portrait, pair.attribute, pair.second, pair.extra)
        ]
        result, row = _measure_pair(
            engine, pair, videos, extra=extra, settings=settings, cache=cache, plain_too=plain_too
        )
        results.append(result)
        rows.append(row)
    report = TransferReport(results)
    if sheet is not None:
        write_transfer_sheet(rows, sheet)
    return report


def _measure_pair(engine, pair: ToyPair, videos: list[ToyVideo], *, extra: str, settings, cache, plain_too=False):
    """One pair's figures and its contact-sheet row."""
    portrait, attribute, second, worn = videos
    people = [video.identity for video in videos]

    def run(references, interpolation=None, how=settings) -> tuple[np.ndarray, object]:
        prepared = toy_edit_inputs(portrait, references, interpolation=interpolation)
        frames, _ = engine.generate(prepared, how, cache=cache)
        return frames[0], prepared

    output, prepared = run([(attribute, "hair")])
    aligned = prepared.attributes[0].aligned_mask
    hair_region = _hair_region(portrait, aligned)
    hair = _mean(output, hair_region)
    # The portrait's cheeks and forehead where neither its own hair nor the new hair lies.
    skin = skin_region(portrait.landmarks[0], output.shape[:2])
    skin &= (portrait.masks["hair"][0] < 0.05) & (aligned < 0.05)
    face = np.median(output[skin].astype(np.float32), axis=0)

    sweep, positions = [], []
    first_lab, second_lab = _lab(people[1].hair_colour), _lab(people[2].hair_colour)
    line = second_lab - first_lab
    for alpha in ALPHAS:
        blended, blend_inputs = run([(attribute, "hair"), (second, "hair")], Interpolation(0, 1, alpha))
        masks = [reference.aligned_mask for reference in blend_inputs.attributes]
        region = _hair_region(portrait, np.minimum(*masks))
        position = float((_lab(_mean(blended, region)) - first_lab) @ line / (line @ line))
        sweep.append(blended)
        positions.append(position)

    # The second attribute alone, then beside the hair: what it draws, and whether it leaves the hair be.
    alone, alone_inputs = run([(worn, extra)])
    extra_reference = alone_inputs.attributes[0].aligned_image
    alone_region = _extra_region(alone_inputs, np.zeros_like(aligned))
    own_hair = portrait.masks["hair"][0] > 0.5
    composed, composed_inputs = run([(attribute, "hair"), (worn, extra)])
    region = _extra_region(composed_inputs, aligned)

    def composed_figures(frame: np.ndarray) -> dict[str, float]:
        values = (
            delta_e(_mean(frame, hair_region), people[1].hair_colour),
            delta_e(_mean(frame, hair_region), people[0].hair_colour),
            mean_delta_e(frame, extra_reference, region),
            mean_delta_e(frame, output, region),
        )
        return dict(zip(COMPOSED_FIGURES, values))

    plain = None
    if plain_too:
        paper = dataclasses.replace(settings, plain_composition=True)
        plain = composed_figures(run([(attribute, "hair"), (worn, extra)], how=paper)[0])
    result = PairResult(
        pair=pair,
        hair_to_attribute=delta_e(hair, people[1].hair_colour),
        hair_to_portrait=delta_e(hair, people[0].hair_colour),
        face_to_portrait=delta_e(face, people[0].skin),
        face_to_attribute=delta_e(face, people[1].skin),
        face_to_attribute_hair=delta_e(face, people[1].hair_colour),
        alpha_positions=positions,
        **composed_figures(composed),
        alone_extra_to_reference=mean_delta_e(alone, extra_reference, alone_region),
        alone_extra_to_portrait=mean_delta_e(alone, portrait.frames[0], alone_region),
        alone_hair_to_portrait=delta_e(_mean(alone, own_hair), people[0].hair_colour),
        plain=plain,
    )
    row = [portrait.frames[0], attribute.frames[0], output, second.frames[0], *sweep, worn.frames[0], alone, composed]
    return result, row


def write_transfer_sheet(rows: list[list[np.ndarray]], path: str | Path) -> Path:
    """Rows of portrait | hair reference | transfer | second hair | α = 0 … 1 | extra attribute's reference | it
    alone | hair + it, a white gap after each group; written as a PNG at twice the size."""
    gap = np.full_like(rows[0][0][:, :4], 255)
    groups = (3, 1 + len(ALPHAS), 3)
    lines = []
    for row in rows:
        parts, start = [], 0
        for size in groups:
            parts.extend(row[start : start + size])
            parts.append(gap)
            start += size
        lines.append(np.concatenate(parts[:-1], axis=1))
        lines.append(np.full_like(lines[-1][:4], 255))
    image = np.concatenate(lines[:-1], axis=0)
    image = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path
