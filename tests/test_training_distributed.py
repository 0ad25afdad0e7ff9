"""Training under more than one process: ``accelerate launch --multi_gpu --num_processes 2`` on CPU (gloo), a few
steps of the tiny preset through the real ``train`` command.

Each sample's noise is a function of its index (``objective.sample_noise``), so two processes at batch 2 train what
one process does at batch 4: the same samples, noise and timesteps, gradients averaged over the same four samples.
What differs is float rounding: the all-reduce averages two means where one process takes one mean of four, and
gloo sums in its own order, about 1e-7 of a gradient. AdamW divides each gradient by its running magnitude, so for
the few weights whose gradient is near zero that rounding moves the update by a visible part of the learning rate:
after three steps at lr 1e-3 the largest difference in any weight was 2.2e-5 (2 % of one step). The tolerance,
1e-4, allows four times that. A real difference in data is far larger: one process at batch 2 (the per-process
batch, what both processes would train if they read the same samples) ends 5e-3 away from the two-process run, and
the test asserts more than ten times the tolerance.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from durian_core.training.config import load_training_config
from durian_core.training.loop import stage_dir, train_stage
from durian_core.training.toy import write_toy_dataset

pytestmark = pytest.mark.timeout(900)

STEPS = 3
TOLERANCE = 1e-4  # absolute, on every weight after STEPS steps (see the module docstring)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _overrides(cache: Path, output: Path, *, batch_size: int) -> list[str]:
    return [
        f"data={cache}",
        f"output_dir={output}",
        f"stage1.steps={STEPS}",
        f"stage1.batch_size={batch_size}",
        "stage1.warmup_steps=1",
        "autoencoder_steps=0",
        "checkpoint_every=2",
        "validation_samples=0",
    ]


def _launch_two(cache: Path, output: Path, *extra: str) -> None:
    """The real command under accelerate, two CPU processes talking gloo."""
    overrides = [part for item in _overrides(cache, output, batch_size=2) for part in ("--set", item)]
    command = [
        *(sys.executable, "-m", "accelerate.commands.launch"),
        *("--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no"),
        *("--dynamo_backend", "no", "--main_process_port", str(_free_port())),
        *("-m", "durian_core", "train", "--config", "tiny", "--stage", "1", *overrides, *extra),
    ]
    # ACCELERATE_USE_CPU makes accelerate's multi-process launch run on CPU with the gloo backend.
    env = os.environ | {"ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def _single(cache: Path, output: Path, *, batch_size: int, stop_after: int | None = None):
    config = load_training_config("tiny", overrides=_overrides(cache, output, batch_size=batch_size))
    return train_stage(config, 1, progress=False, stop_after=stop_after)


def _weights(final: Path) -> dict[str, torch.Tensor]:
    weights = {}
    for path in sorted(final.glob("*/*.safetensors")):
        weights |= {f"{path.parent.name}.{name}": value for name, value in load_file(str(path)).items()}
    return weights


def _largest_difference(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> float:
    assert first.keys() == second.keys()
    return max(float((first[name] - second[name]).abs().max()) for name in first)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("distributed_cache")
    write_toy_dataset(root, num_videos=4, num_frames=8, resolution=64, seed=0)
    return root


@pytest.fixture(scope="module")
def one_process(cache, tmp_path_factory, single_thread):
    """The reference: one process at the two-process run's global batch."""
    return _single(cache, tmp_path_factory.mktemp("one"), batch_size=4)


@pytest.fixture(scope="module")
def two_processes(cache, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("two")
    _launch_two(cache, output)
    return output


def test_two_processes_train_on_different_samples(two_processes):
    seen = [
        [json.loads(line) for line in (two_processes / "stage1" / "processes" / f"rank-{rank}.jsonl").open()]
        for rank in (0, 1)
    ]
    assert [entry["step"] for entry in seen[0]] == [entry["step"] for entry in seen[1]] == list(range(1, STEPS + 1))
    for first, second in zip(*seen):
        # Each step the two processes share out the global batch's four samples between them, none twice.
        assert not set(first["samples"]) & set(second["samples"])
        step = first["step"]
        assert sorted(first["samples"] + second["samples"]) == list(range(4 * (step - 1), 4 * step))


def test_two_processes_train_what_one_does_at_the_same_global_batch(two_processes, one_process, cache, tmp_path):
    two = _weights(two_processes / "stage1" / "final")
    one = _weights(one_process.final_dir)
    assert _largest_difference(two, one) < TOLERANCE
    logged = [json.loads(line)["loss"] for line in (two_processes / "stage1" / "scalars.jsonl").open()]
    torch.testing.assert_close(torch.tensor(logged), torch.tensor(one_process.losses), rtol=1e-4, atol=1e-6)
    # The tolerance is far below what other data makes: one process at the per-process batch (two samples a step,
    # what both processes would train if they read the same samples) ends well away from the two-process run.
    half = _weights(_single(cache, tmp_path / "half", batch_size=2).final_dir)
    assert _largest_difference(two, half) > 10 * TOLERANCE


def test_a_checkpoint_written_by_one_process_resumes_in_two(one_process, cache, tmp_path):
    output = tmp_path / "resumed"
    interrupted = _single(cache, output, batch_size=4, stop_after=2)
    assert interrupted.steps == 2 and (stage_dir_for(output) / "checkpoints" / "step-000002").is_dir()
    _launch_two(cache, output, "--resume")
    resumed = json.loads(next((stage_dir_for(output) / "processes" / "rank-1.jsonl").open()))
    assert resumed["step"] == 3  # the two processes started where the single one stopped
    assert _largest_difference(_weights(stage_dir_for(output) / "final"), _weights(one_process.final_dir)) < TOLERANCE


def stage_dir_for(output: Path) -> Path:
    return stage_dir(load_training_config("tiny", overrides=[f"output_dir={output}"]), 1)
