"""The composition proof's command end to end at its quick size: every phase runs, the figures and the contact sheet
are written, and running it again resumes instead of training anew."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from durian_core.errors import DurianInputError
from durian_core.training.prove import QUICK, ProofSettings, proof_config, run_proof


def test_the_quick_proof_runs_every_phase_and_resumes(tmp_path, single_thread):
    settings = dataclasses.replace(ProofSettings(output=str(tmp_path)), **QUICK)
    record = run_proof(settings, command="prove --quick", progress=False)
    figures = record["figures"]
    assert figures["pairs"] == settings.pairs and 0.0 <= figures["composition"] <= 1.0
    assert {"extra_alone_drawn", "median_alone_hair_to_portrait", "transfer"} <= figures.keys()
    assert json.loads((tmp_path / "proof.json").read_text())["command"] == "prove --quick"
    assert set(record["wall_seconds"]) == {"data", "train", "evaluate"}
    # One sheet row per pair, at twice the size: portrait, hair ref, transfer | second hair, α = 0 … 1 in five |
    # extra ref, it alone, hair + it: 12 faces of 64² and two gaps of 4 pixels.
    sheet = np.asarray(Image.open(tmp_path / "sheet.png"))
    assert sheet.shape[0] >= settings.pairs * 2 * 64 and sheet.shape[1] == 2 * (12 * 64 + 2 * 4)
    # The looks wear beards, and sampling draws hair and beard alike.
    config = proof_config(settings)
    assert config.sampling.balance_kinds and config.stage1.steps == settings.steps
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    assert {"hair", "beard"} == {kind for video in manifest["videos"] for kind in video["kinds"]}

    # Again: the data, the VAE and the finished stage are reused; nothing more is trained.
    again = run_proof(settings, command="prove --quick", progress=False)
    scalars = (tmp_path / "run" / "stage1" / "scalars.jsonl").read_text().splitlines()
    assert len(scalars) == settings.steps
    assert again["wall_seconds"]["train"] >= record["wall_seconds"]["train"]  # time adds up over sessions
    assert again["figures"]["per_pair"] == figures["per_pair"]


def test_an_unknown_recipe_is_named():
    with pytest.raises(DurianInputError, match="recipe must be one of"):
        ProofSettings(output="x", recipe="bigger")
