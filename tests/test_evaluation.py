"""The evaluation protocols score what they claim: a perfect engine scores perfectly, the baseline scores what the
baseline is, the regions cover what their names say, and the grid writes a sheet with a cell per pair."""

from __future__ import annotations

import math

import numpy as np
import pytest

from durian_core.cache import FeatureCache
from durian_core.engines.base import Engine
from durian_core.evaluation import (
    PORTRAIT_FRAME,
    cross_identity_grid,
    frame_regions,
    reconstruction_inputs,
    self_reconstruction,
)
from durian_core.face import regions
from durian_core.face.masks import fill_polygons
from durian_core.face.tracking import track_landmarks
from durian_core.metrics import video_metrics
from durian_core.types import DrivingVideo

EXAMPLES = __import__("pathlib").Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def clip(carphone) -> DrivingVideo:
    return DrivingVideo(carphone.frames[:24], carphone.fps)


@pytest.fixture(scope="module")
def tracks(clip) -> np.ndarray:
    return track_landmarks(clip.frames)


class Oracle(Engine):
    """Knows the answer: the real frames when the attribute is on, the filled portrait held still when it is off."""

    name = "oracle"

    def __init__(self, real: np.ndarray) -> None:
        self.real = real
        self.held = None

    def generate(self, prepared, settings, *, cache, progress=None):
        if prepared.attributes[0].weight > 0:
            return self.real.copy(), {}
        self.held = np.repeat(prepared.portrait[None], len(self.real), axis=0)
        return self.held, {}


def test_a_perfect_engine_scores_perfectly_and_the_baseline_scores_what_it_is(clip, tracks):
    oracle = Oracle(clip.frames)
    report = self_reconstruction(clip, kind="hair", engine=oracle)
    for region in ("full", "head", "attribute"):
        scores = report["engine_metrics"][region]
        assert scores["l1"] == 0 and math.isinf(scores["psnr"]) and scores["ssim"] == pytest.approx(1.0)

    compared = np.arange(len(clip.frames)) != PORTRAIT_FRAME
    head, attribute = frame_regions(clip.frames, tracks, "hair")
    expected = video_metrics(oracle.held[compared], clip.frames[compared], masks=head[compared])
    assert report["baseline_metrics"]["head"] == pytest.approx(expected)
    assert report["baseline_metrics"]["head"]["psnr"] < 30  # a held, hair-less portrait is far from the video
    assert report["frames"] == len(clip.frames) - 1


def test_the_head_region_holds_the_face_and_the_hair_and_the_attribute_region_lies_inside(clip, tracks):
    head, attribute = frame_regions(clip.frames[:3], tracks[:3], "hair")
    face = fill_polygons(clip.frames.shape[1:3], [tracks[0][list(regions.FACE_OVAL)]]) > 0.5
    assert head[0][face].mean() > 0.99
    assert attribute[0].sum() > 0.05 * face.sum()  # there is hair
    assert (attribute[0] & ~head[0]).sum() == 0
    forehead_top = tracks[0][regions.FOREHEAD_TOP]
    assert attribute[0][: int(forehead_top[1])].any()  # hair above the forehead


def test_reconstruction_inputs_remove_the_attribute_and_cut_it_out_of_the_other_frame(clip, tracks):
    prepared = reconstruction_inputs(clip.frames, tracks, "hair", cache=FeatureCache())
    removed = prepared.portrait_masks["hair"] > 0.5
    own = frame_regions(clip.frames[:1], tracks[:1], "hair")[1][0]
    assert removed[own].mean() > 0.99  # M_port covers the hair, grown
    attribute = prepared.attributes[0]
    assert (attribute.image[attribute.mask == 0] == 0).all()  # I_attr ⊙ M_attr: nothing but the attribute
    assert len(prepared.motion) == len(clip.frames)


def test_the_grid_scores_every_pair_and_draws_a_sheet(tmp_path):
    portraits = {"obama": EXAMPLES / "portraits" / "obama.jpg"}
    attributes = {
        "hair_obama": (EXAMPLES / "portraits" / "obama.jpg", "hair"),
        "hair_biden": (EXAMPLES / "portraits" / "biden.jpg", "hair"),
        "glasses_obama": (EXAMPLES / "attributes" / "glasses_obama.png", "glasses"),
    }
    sheet = tmp_path / "grid.png"
    report = cross_identity_grid(size=256, sheet=sheet, portraits=portraits, attributes=attributes)
    cells = {cell["attribute"]: cell for cell in report["cells"]}
    assert set(cells) == set(attributes)
    assert cells["hair_obama"]["colour_distance"] < cells["hair_biden"]["colour_distance"]  # his own hair
    assert cells["hair_biden"]["identity_distance"] < 0.6  # still Obama
    # What each attribute does to its own wearer: his own hair is his portrait (0); the drawn glasses alone move
    # dlib's embedding of him; Biden is not among the portraits, so his hair has no wearer to measure on.
    assert cells["hair_obama"]["wearer_identity_distance"] == pytest.approx(0.0, abs=1e-6)
    assert cells["glasses_obama"]["wearer_identity_distance"] > 0.2
    assert cells["hair_biden"]["wearer_identity_distance"] is None
    summary = report["summary"]
    over = [cell for cell in report["cells"] if cell["identity_distance"] >= 0.3]
    assert summary["identity_over_bar"] == len(over)
    assert summary["identity_over_bar_and_wearer"] <= len(over)
    from durian_core.media import load_image

    assert load_image(sheet).rgb.shape == (2 * 256, 4 * 256, 3)


def test_the_default_grid_takes_every_example_attribute_and_no_brushed_mask():
    from durian_core.evaluation import example_grid_inputs

    portraits, attributes = example_grid_inputs()
    assert set(portraits) == {"astronaut", "biden", "obama"}
    kinds = {name: kind for name, (_, kind) in attributes.items()}
    assert kinds == {
        "hair_astronaut": "hair",
        "hair_biden": "hair",
        "hair_obama": "hair",
        "beard_biden": "beard",
        "glasses_obama": "glasses",
        "hat_obama": "hat",
        "makeup_biden": "makeup",
        "glasses_hopper": "glasses",  # the real glasses and cap of the Grace Hopper photo
        "hat_hopper": "hat",
    }, "hat_obama_mask.png is the README's brushed mask for the hat, not an attribute of its own"
