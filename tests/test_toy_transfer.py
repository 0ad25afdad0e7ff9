"""The toy transfer benchmark: people and looks cast independently, held-out pairs, and a measurement that rewards
a real transfer and fails a copy of the portrait."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from durian_core.api import EngineChoice, load_engine
from durian_core.errors import DurianInputError
from durian_core.training.toy import HELD_OUT, make_identity, render_toy_video, toy_edit_inputs, write_toy_dataset
from durian_core.training.transfer import delta_e, evaluate_transfer, held_out_pairs


def test_people_and_looks_are_cast_independently(tmp_path):
    manifest = write_toy_dataset(tmp_path, num_videos=12, num_frames=2, resolution=32, num_people=4, num_looks=4)
    cast = [record.source for record in manifest.videos]
    assert len(cast) == 12
    pairs = [tuple(int(part.split("=")[1]) for part in source.split()[1:]) for source in cast]
    looks_of = {person: {look for p, look in pairs if p == person} for person in range(4)}
    people_of = {look: {person for person, worn in pairs if worn == look} for look in range(4)}
    # Hair cannot be told from the face: every person wears three looks, every look is worn by three people.
    assert all(len(looks) == 3 for looks in looks_of.values()), looks_of
    assert all(len(people) == 3 for people in people_of.values()), people_of
    # A person keeps their face in another look; the look keeps its hair on another person.
    assert make_identity(0, look=1).skin == make_identity(0, look=2).skin
    assert make_identity(0, look=1).hair_colour != make_identity(0, look=2).hair_colour
    assert make_identity(3, look=1).hair_colour == make_identity(0, look=1).hair_colour


def test_held_out_people_and_looks_are_refused_in_training_data(tmp_path):
    with pytest.raises(DurianInputError, match="held out"):
        write_toy_dataset(tmp_path, num_videos=4, num_people=HELD_OUT + 1, num_looks=4)


def test_held_out_pairs_differ_where_they_are_compared():
    pairs = held_out_pairs(12)
    assert len(pairs) == 12
    for pair in pairs:
        people = {who[0] for who in (pair.portrait, pair.attribute, pair.second, pair.extra)}
        assert len(people) == 4 and min(people) >= HELD_OUT
        assert min(who[1] for who in (pair.portrait, pair.attribute, pair.second, pair.extra)) >= HELD_OUT
        portrait = make_identity(pair.portrait[0], look=pair.portrait[1])
        attribute = make_identity(pair.attribute[0], look=pair.attribute[1])
        assert portrait.glasses_colour is None
        assert make_identity(pair.extra[0], look=pair.extra[1]).glasses_colour is not None
        assert delta_e(portrait.hair_colour, attribute.hair_colour) >= 40
        assert delta_e(portrait.skin, attribute.skin) >= 12


class _CopyEngine:
    """Returns the portrait untouched: what a model that ignores its attribute references would do."""

    def generate(self, prepared, settings, *, cache, progress=None):
        return prepared.portrait[None], {}


class _PasteEngine:
    """Pastes every aligned reference over the portrait by its mask, the blend's terms mixed by their coefficients:
    an ideal composite, the measurement's positive control (the classical engine's glasses are too fine to draw
    at 64 px)."""

    def generate(self, prepared, settings, *, cache, progress=None):
        result = np.zeros(prepared.portrait.shape, np.float32)
        for term in prepared.blend_terms():
            image = prepared.portrait.astype(np.float32)
            for attribute, weight in zip(prepared.attributes, term.weights):
                mask = (weight * attribute.aligned_mask)[..., None]
                image = image * (1 - mask) + attribute.aligned_image.astype(np.float32) * mask
            result += term.coefficient * image
        return np.clip(result + 0.5, 0, 255).astype(np.uint8)[None], {}


class _SmearEngine:
    """Paints the first attribute's hair colour over the whole head, face included, and leaves the background: what a
    toy model whose loss weighed the attribute's region too heavily drew (a cloud of the new hair's colour)."""

    def generate(self, prepared, settings, *, cache, progress=None):
        attribute = prepared.attributes[0]
        colour = np.median(attribute.aligned_image[attribute.aligned_mask > 0.5].astype(np.float32), axis=0)
        head = (prepared.portrait_mask > 0) | (attribute.aligned_mask > 0)
        rows, columns = np.nonzero(head)
        image = prepared.portrait.astype(np.float32).copy()
        image[rows.min() :, columns.min() : columns.max() + 1] = colour
        return np.clip(image + 0.5, 0, 255).astype(np.uint8)[None], {}


def test_the_measurement_passes_a_real_transfer_and_fails_a_copy(tmp_path):
    sheet = tmp_path / "paste.png"
    ideal = evaluate_transfer(_PasteEngine(), pairs=4, sheet=sheet).summary()
    classical = evaluate_transfer(load_engine(EngineChoice("classical", "the measurement's control")), pairs=4)
    copy = evaluate_transfer(_CopyEngine(), pairs=4).summary()
    # Pasted references pass all three claims; the classical engine, which edits the hair for real, the first two.
    assert ideal["transfer"] == ideal["alpha_monotonic"] == ideal["composition"] == 1.0, ideal
    assert classical.summary()["transfer"] == 1.0 and classical.summary()["alpha_monotonic"] == 1.0
    # A copy keeps the portrait's hair, never moves with α and shows no glasses.
    assert copy["hair_closer_to_attribute"] == 0.0 and copy["alpha_monotonic"] == 0.0 and copy["composition"] == 0
    assert copy["face_closer_to_portrait"] == 1.0  # the face test alone cannot tell a copy from an edit
    # The new hair's colour over the whole head passes the hair test alone; the face test fails it.
    smear = evaluate_transfer(_SmearEngine(), pairs=4).summary()
    assert smear["hair_closer_to_attribute"] == 1.0 and smear["face_closer_to_portrait"] == 0.0, smear
    assert smear["transfer"] == 0.0
    assert json.loads(json.dumps(ideal))["pairs"] == 4
    image = np.asarray(Image.open(sheet))
    assert image.shape[0] > 4 * 2 * 64 and image.shape[1] > 10 * 2 * 64


def test_the_measurement_passes_a_pasted_beard_and_fails_a_copy():
    # The composition the proof run measures: a beard from a fourth person beside the hair, each in its own region.
    pairs = held_out_pairs(4, extra="beard")
    for pair in pairs:
        portrait = make_identity(pair.portrait[0], look=pair.portrait[1], extras=("beard",))
        beard = make_identity(pair.extra[0], look=pair.extra[1], extras=("beard",)).beard_colour
        assert portrait.beard_colour is None and beard is not None
        assert delta_e(beard, portrait.skin) >= 40
    ideal = evaluate_transfer(_PasteEngine(), pairs=4, extra="beard").summary()
    copy = evaluate_transfer(_CopyEngine(), pairs=4, extra="beard").summary()
    assert ideal["composition"] == ideal["extra_alone_drawn"] == ideal["transfer"] == 1.0, ideal
    assert copy["composition"] == copy["extra_alone_drawn"] == 0.0, copy
    # A pasted beard leaves the portrait's own hair as it was; only a model that paints hair from it moves it.
    assert ideal["median_alone_hair_to_portrait"] < 5


def test_a_glasses_edit_removes_every_portrait_pixel_the_new_glasses_touch():
    # Training removes every pixel the attribute touches from the portrait reference; a held-out portrait wears
    # no glasses, so what goes is where the aligned glasses lie. Their aligned mask is soft (about 0.6 on the
    # pixels it touches), which as the removed region would leave a third of the eyes showing.
    pair = held_out_pairs(1)[0]
    portrait, glasses = (
        render_toy_video(make_identity(person, look=look), num_frames=1, resolution=64, seed=person)
        for person, look in (pair.portrait, pair.extra)
    )
    assert "glasses" not in portrait.masks
    prepared = toy_edit_inputs(portrait, [(glasses, "glasses")])
    touched = prepared.attributes[0].aligned_mask > 0
    assert touched.sum() > 100
    assert prepared.attributes[0].aligned_mask[touched].mean() < 0.8  # the soft mask the removal must not use
    assert (prepared.portrait_mask[touched] == 1.0).all()
