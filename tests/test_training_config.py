"""Training configs: presets, files, command-line overrides, and the CLI entry points' handling of bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from durian_core.cli import main, parse_command
from durian_core.errors import DurianInputError
from durian_core.training.config import (
    SD15_TRAINING,
    TINY_TRAINING,
    load_training_config,
    save_training_config,
)


def test_sd15_preset_follows_the_paper():
    assert SD15_TRAINING.model == "sd15"
    assert SD15_TRAINING.stage1.steps == SD15_TRAINING.stage2.steps == 60_000
    assert SD15_TRAINING.stage1.num_frames == 1 and SD15_TRAINING.stage2.num_frames > 1
    assert SD15_TRAINING.base_model and SD15_TRAINING.motion_adapter
    assert TINY_TRAINING.model == "tiny" and TINY_TRAINING.base_model is None


def test_overrides_reach_nested_fields_with_their_types():
    config = load_training_config(
        "sd15",
        overrides=[
            "stage1.learning_rate=2e-5",
            "sampling.scale_range=[0.8, 1.2]",
            "snr_gamma=5",
            "base_model=null",
            "gradient_checkpointing=false",
            "data=/data/cache",
        ],
    )
    assert config.stage1.learning_rate == 2e-5 and config.stage2.learning_rate == SD15_TRAINING.stage2.learning_rate
    assert config.sampling.scale_range == (0.8, 1.2)
    assert config.snr_gamma == 5.0 and isinstance(config.snr_gamma, float)
    assert config.base_model is None and config.gradient_checkpointing is False and config.data == "/data/cache"


def test_text_settings_keep_what_was_typed(tmp_path):
    # A revision that YAML would read as a number (0123 as octal 83, 1e5 as a float) stays the text given.
    config = load_training_config("sd15", overrides=["base_model_revision=0123", "motion_adapter_revision=1e5"])
    assert config.base_model_revision == "0123" and config.motion_adapter_revision == "1e5"
    saved = tmp_path / "saved.yaml"
    save_training_config(config, saved)
    assert load_training_config(saved).base_model_revision == "0123"


def test_files_start_from_a_preset_and_round_trip(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("preset: sd15\nstage2:\n  num_frames: 8\noutput_dir: runs/mine\n")
    config = load_training_config(path)
    assert config.stage2.num_frames == 8 and config.output_dir == "runs/mine" and config.model == "sd15"
    saved = tmp_path / "saved.yaml"
    save_training_config(config, saved)
    assert load_training_config(saved) == config
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps({"preset": "tiny", "stage1": {"steps": 7}}))
    assert load_training_config(as_json).stage1.steps == 7


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["stage1.stepz=3"], "unknown training setting 'stage1.stepz'; known: batch_size"),
        (["stage1.steps=many"], "training setting stage1.steps: .*'many'.* Integer"),
        (["gradient_checkpointing=maybe"], "training setting gradient_checkpointing: .*'maybe'"),
        (["adam_betas=[0.9]"], "adam_betas must be two numbers"),
        (["prediction_type=x0"], "prediction_type"),
        (["stage1.learning_rate=-1"], "learning_rate must be positive"),
        (["sampling.unconditional_probability=2"], "within"),
        (["novalue"], "key=value"),
        (["zero_terminal_snr=true", "prediction_type=epsilon"], "zero_terminal_snr needs prediction_type"),
    ],
)
def test_bad_settings_name_the_problem(overrides, message):
    with pytest.raises(DurianInputError, match=message):
        load_training_config("tiny", overrides=overrides)


def test_unknown_config_source_is_refused():
    with pytest.raises(DurianInputError, match="neither a preset"):
        load_training_config("no-such-config.yaml")


def run_command(words: list[str]) -> int:
    """One command as the CLI runs it, bad input raised rather than printed."""
    return parse_command(words).command.run(progress=sys.stderr)


def test_train_command_prints_the_resolved_config(capsys):
    assert (
        run_command(["train", "--config", "sd15", "--set", "stage1.steps=10", "--data", "cache", "--print-config"])
        == 0
    )
    printed = capsys.readouterr().out
    assert "steps: 10" in printed and "data: cache" in printed
    assert "steps: 60000" in printed, "stage 2 keeps the preset's steps"


def test_a_set_value_of_the_wrong_type_is_one_line_naming_the_setting(capsys):
    status = main(["train", "--set", "stage1.learning_rate=fast", "--print-config"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "stage1.learning_rate" in lines[0] and "'fast'" in lines[0], lines


def test_bare_resume_means_the_newest_checkpoint():
    assert parse_command(["train", "--resume", "--stage", "1"]).command.resume == "latest"
    assert parse_command(["train", "--stage", "1", "--resume"]).command.resume == "latest"
    assert parse_command(["train", "--resume", "runs/x/step-000100"]).command.resume == "runs/x/step-000100"
    assert parse_command(["train"]).command.resume is None


def test_train_command_refuses_missing_data_and_bad_caches(tmp_path):
    with pytest.raises(DurianInputError, match="no training data"):
        run_command(["train", "--config", "tiny"])
    with pytest.raises(DurianInputError, match="not a training cache"):
        run_command(
            [
                "train",
                "--config",
                "tiny",
                "--data",
                str(tmp_path),
                "--output-dir",
                str(tmp_path / "run"),
                "--stage",
                "1",
            ]
        )


def test_preprocess_command_refuses_a_missing_folder(tmp_path):
    with pytest.raises(DurianInputError, match="not a folder"):
        run_command(["preprocess", "--videos", str(tmp_path / "absent"), "--out", str(tmp_path / "c")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DurianInputError, match="no video files"):
        run_command(["preprocess", "--videos", str(tmp_path / "empty"), "--out", str(tmp_path / "c")])


def test_preprocess_options_are_its_settings_fields_with_their_defaults():
    from durian_core.training.preprocess import PreprocessSettings

    assert parse_command(["preprocess", "--videos", "v", "--out", "c"]).command.settings == PreprocessSettings()
    chosen = parse_command(
        [
            "preprocess",
            "--videos",
            "v",
            "--out",
            "c",
            "--kinds",
            "hair",
            "hat",
            "--fps",
            "8",
            "--min-mask-fraction",
            "0.01",
        ]
    ).command.settings
    assert chosen == PreprocessSettings(kinds=("hair", "hat"), fps=8.0, min_mask_fraction=0.01)


def test_training_says_what_it_does_and_draws_its_bars_on_stderr(tmp_path):
    """A real run of ``train --toy-data`` cut to a few steps: results on stdout, every phase named on stderr."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "durian_core",
            "train",
            "--config",
            "tiny",
            "--toy-data",
            "--data",
            str(tmp_path / "toy"),
            "--output-dir",
            str(tmp_path / "run"),
            "--stage",
            "1",
            "--set",
            "stage1.steps=2",
            "--set",
            "autoencoder_steps=2",
            "--set",
            "validate_every=0",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "stage 1: 2 steps, pipeline at" in done.stdout
    assert "it/s" not in done.stdout and "%|" not in done.stdout, "no progress bar on stdout"
    lines = done.stderr.splitlines()
    first = next(i for i, line in enumerate(lines) if "%|" in line)
    said = "\n".join(lines[:first])
    assert f"writing a toy dataset at 64 px to {tmp_path / 'toy'}" in said, "the toy data is announced first"
    assert "stage 1: loading the tiny components" in said
    assert "stage 1: fitting the autoencoder" in said
    assert any("stage 1" in line and "%|" in line for line in lines), "the stage's own bar"
