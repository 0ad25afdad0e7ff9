"""The paper's central claim at toy size, as far as CI's time allows: a model trained only on self-reconstruction of
toy videos carries an attribute onto people and looks it never saw, keeps the portrait's face, and blends two
attributes with α. Composing two attributes in one pass is measured and reported (``composition`` in the JSON) but
not claimed at this size: the glasses are rims a pixel wide at 32². ``scripts/prove_composition.py`` measures it
on a longer run with a beard beside the hair (``docs/training.md``).

One run of the ``toy`` preset on the ``train --toy-data`` dataset (the VAE fit, then stage 1), then the held-out
measure through the durian engine: about 15 minutes on two cores. The contact sheet goes to
``test-output/toy_transfer.png`` and the figures to ``test-output/toy_transfer.json``.
"""

from __future__ import annotations

import json

import pytest

from durian_core.training.config import load_training_config
from durian_core.training.loop import train_stage
from durian_core.training.toy import TOY_DATASET, write_toy_dataset

# The run is sized for 15 minutes on two cores; a slower machine may take longer, and a measurement cut short by
# the suite's 15-minute timeout says nothing, so this module waits longer.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def report(tmp_path_factory, output_dir) -> dict:
    from durian_core.engines.durian import DurianEngine
    from durian_core.models.config import model_config
    from durian_core.training.transfer import evaluate_transfer

    root = tmp_path_factory.mktemp("toy_recipe")
    config = load_training_config(
        "toy", overrides=[f"data={root / 'data'}", f"output_dir={root / 'run'}", "validation_samples=0"]
    )
    write_toy_dataset(config.data, resolution=model_config(config.model).resolution, **TOY_DATASET)
    result = train_stage(config, 1, progress=False)
    engine = DurianEngine.from_pretrained(result.final_dir)
    summary = evaluate_transfer(engine, pairs=12, sheet=output_dir / "toy_transfer.png").summary()
    (output_dir / "toy_transfer.json").write_text(json.dumps(summary, indent=1))
    return summary


def test_alpha_walks_the_hair_colour_from_one_attribute_to_the_other(report):
    # On held-out people and hair colours: α = 0 … 1 moves the output's hair along the line from the first
    # attribute's colour to the second's, a quarter of the way at least, never back by more than 5 %.
    assert report["alpha_monotonic"] >= 0.8, report
    # And the hair takes the attribute's colour rather than keeping the portrait's, on the median pair by far.
    median = report["median_hair_delta_e"]
    assert median["to_attribute"] < median["to_portrait"], report


def test_the_face_stays_the_portraits(report):
    # On most held-out pairs the face keeps the portrait's skin rather than taking the attribute person's. Runs of
    # this model and step count gave 12, 12, 12 and 11 of 12 with the earlier toy looks and sampling, and 9 of 12
    # with the looks that can wear beards and the noise drawn per sample: asserted with a pair to spare.
    assert report["face_closer_to_portrait"] >= 8 / 12, report


def test_transfer_carries_the_hair_and_keeps_the_face(report):
    # Hair and face on the same held-out pair. Runs of this preset (and of variants that differed in the glasses'
    # hue or frequency) gave hair 11 or 12 of 12 and both 8 to 11 (8 with the noise drawn per sample): asserted
    # with a pair to spare.
    assert report["hair_closer_to_attribute"] >= 10 / 12, report
    assert report["transfer"] >= 7 / 12, report


def test_a_glasses_reference_beside_the_hair_leaves_the_hair_transfer_standing(report):
    # Composition at this size does not draw the glasses (rims a pixel wide at 32²; the figure is in the JSON, and
    # scripts/prove_composition.py measures composition with a beard on a longer run), but adding the second
    # reference must not undo the first: the composed output's hair still takes the hair reference's colour.
    assert report["composed_hair_closer_to_attribute"] >= 10 / 12, report
