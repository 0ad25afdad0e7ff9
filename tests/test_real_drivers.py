"""Drivers as phones and the web make them: variable frame rates, a face that shows up late, heavy compression.

Every driver is made here from the talking-face clip with ffmpeg (the binary imageio-ffmpeg bundles).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from durian_core.api import build_request, generate
from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.evaluation import self_reenactment
from durian_core.face import regions
from durian_core.face.blocks import BLOCKY, blockiness, deblocked
from durian_core.face.masks import person_mask
from durian_core.face.motion import mouth_opening
from durian_core.face.tracking import track_landmarks
from durian_core.media import load_video, open_video, probe_video, write_video
from durian_core.render import driver_key

FAST = GenerationSettings(engine="classical", work_size=256, output_size=256)
"""Small frames: these tests are about time and tracking, not detail."""


def ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-nostdin", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def retimed(source: Path, target: Path, *, pts: str, seconds: float, loops: int = 1, select: str | None = None):
    """``source`` with its frames moved to the moments ``pts`` gives (an ffmpeg ``setpts`` expression in seconds,
    ``N`` the frame's index) or thinned by ``select``, kept at those moments, with a tone as its sound."""
    chain = f"select='{select}'" if select else f"setpts='({pts})/TB'"
    ffmpeg(
        *("-stream_loop", str(loops - 1), "-i", str(source)),
        *("-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}"),
        *("-filter_complex", f"[0:v]{chain}[v]", "-map", "[v]", "-map", "1:a"),
        *("-fps_mode", "passthrough", "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", "-c:a", "aac"),
        *("-shortest", str(target)),
    )
    return target


# The phone driver: the clip's first 60 frames 1/30 s apart (2 s), its last 60 frames 1/10 s apart (6 s).
PHONE_PTS = "if(lt(N,60),N/30,2+(N-60)/10)"


def phone_moment(index: np.ndarray) -> np.ndarray:
    return np.where(index < 60, index / 30, 2 + (index - 60) / 10)


def dropped_moment(index: np.ndarray, fps: float) -> np.ndarray:
    return index / fps  # the frames that stay keep their moments


@pytest.fixture(scope="module")
def phone_driver(tmp_path_factory, carphone_path) -> Path:
    """2 s at 30 fps then 6 s at 10 fps, with sound: a phone that slowed down in low light."""
    return retimed(carphone_path, tmp_path_factory.mktemp("phone") / "phone.mp4", pts=PHONE_PTS, seconds=8)


@pytest.fixture(scope="module")
def dropping_driver(tmp_path_factory, carphone_path) -> Path:
    """The clip three times over (12 s) with every tenth frame dropped and the rest kept at their moments."""
    target = tmp_path_factory.mktemp("dropping") / "dropping.mp4"
    return retimed(carphone_path, target, pts="", seconds=12, loops=3, select="not(eq(mod(n\\,10)\\,9))")


@pytest.fixture(scope="module")
def source_opening(carphone) -> np.ndarray:
    """The clip's mouth opening, frame by frame."""
    return mouth_opening(track_landmarks(carphone.frames))


def shown_at(moments: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame showing at each of ``times``, frames starting at ``moments`` (ascending)."""
    return np.clip(np.searchsorted(moments, times + 1e-6, side="right") - 1, 0, len(moments) - 1)


def test_a_variable_rate_driver_is_read_along_its_timestamps(phone_driver, carphone):
    driver = load_video(phone_driver)
    assert driver.variable_rate is not None
    slowest, fastest = driver.variable_rate
    assert slowest == pytest.approx(10, abs=0.5) and fastest == pytest.approx(30, abs=0.5)
    assert driver.fps == pytest.approx(29.97, abs=0.05)
    assert driver.seconds == pytest.approx(8.0, abs=0.1)  # not the 4 s of frames read one after another
    # Each frame read is the clip's frame that was showing at that moment.
    moments = phone_moment(np.arange(len(carphone.frames)))
    times = np.arange(len(driver.frames)) / driver.fps
    expected = shown_at(moments, times)
    source = carphone.frames.astype(np.int16)
    closest = [int(np.argmin(np.abs(source - frame).mean(axis=(1, 2, 3)))) for frame in driver.frames]
    assert np.mean(np.abs(np.array(closest) - expected) <= 1) > 0.95


def test_a_steady_driver_reads_frame_after_frame_and_is_not_called_variable(carphone_path, carphone):
    driver = open_video(carphone_path)
    assert driver.variable_rate is None and driver.frame_count == len(carphone.frames)
    assert probe_video(carphone_path)["variable_rate"] is False


@pytest.mark.parametrize("clip", ["phone", "dropping"])
def test_a_variable_rate_driver_keeps_its_length_and_its_mouth_at_its_moments(
    clip, phone_driver, dropping_driver, carphone, source_opening, astronaut, tmp_path
):
    path = phone_driver if clip == "phone" else dropping_driver
    info = probe_video(path)
    output = tmp_path / "out.mp4"
    result = generate(build_request(astronaut, (), driver=path, settings=FAST), cache=FeatureCache(), output=output)
    assert any("frame rate varies" in note for note in result.notes), result.notes
    written = probe_video(output)
    assert written["has_audio"]
    assert written["duration"] == pytest.approx(info["duration"], abs=0.3)
    # The mouth moves as the driver's did at each moment of the output.
    animated = load_video(output)
    times = np.arange(len(animated.frames)) / animated.fps
    count = len(carphone.frames)
    if clip == "phone":
        shown = shown_at(phone_moment(np.arange(count)), times)
    else:
        kept = np.array([index for index in range(3 * count) if index % 10 != 9])
        shown = kept[shown_at(dropped_moment(kept, carphone.fps), times)] % count
    expected = source_opening[shown]
    measured = mouth_opening(track_landmarks(animated.frames))
    assert np.corrcoef(expected, measured)[0, 1] >= 0.7


def test_a_driver_whose_face_shows_after_3_5_s_is_used_and_its_start_holds_the_first_pose(
    carphone, astronaut, tmp_path
):
    # 3.5 s of the car's back seat beside him (no face), then the speaker for 8 s: 70 % of the frames show a face.
    height, width = carphone.frames.shape[1:3]
    seat = cv2.resize(carphone.frames[0, :, : width // 3], (width, height), interpolation=cv2.INTER_CUBIC)
    frames = np.concatenate([np.repeat(seat[None], 105, axis=0), carphone.frames, carphone.frames[:120]])
    path = write_video(frames, tmp_path / "late.mp4", fps=carphone.fps)
    cache = FeatureCache()
    streamed = open_video(path)
    result = generate(build_request(astronaut, (), driver=streamed, settings=FAST), cache=cache)
    assert result.frame_count == len(frames)
    assert any(f"no face was found in 105 of the driver's {len(frames)} frames" in note for note in result.notes)
    tracks = cache.get("motion", driver_key(streamed))
    np.testing.assert_array_equal(tracks[:100], np.repeat(tracks[:1], 100, axis=0))  # the first face's pose held
    assert np.abs(result.frames[1:100].astype(int) - result.frames[0]).max() <= 2  # the portrait waits, still
    # Decoded in memory or streamed past the frames a stream may hold, the driver tracks alike.
    np.testing.assert_array_equal(track_landmarks(load_video(path).frames), tracks)


# ------------------------------------------------------------------------------------------ compressed drivers


@pytest.fixture(scope="module")
def blocky_driver(tmp_path_factory, carphone_path) -> Path:
    """The clip squeezed by MPEG-4 Part 2 at its coarsest quantiser: flat 8×8 blocks, a face a few blocks wide."""
    target = tmp_path_factory.mktemp("blocky") / "blocky.mp4"
    ffmpeg("-i", str(carphone_path), "-c:v", "mpeg4", "-q:v", "31", "-pix_fmt", "yuv420p", str(target))
    return target


def test_blockiness_tells_a_blocky_picture_from_a_clean_one(blocky_driver, carphone, astronaut):
    blocky = load_video(blocky_driver).frames
    assert max(blockiness(frame) for frame in carphone.frames) < BLOCKY
    assert np.median([blockiness(frame) for frame in blocky]) > BLOCKY
    first = carphone.frames[0]
    assert deblocked(first) is first  # a clean frame is left exactly as it is
    assert blockiness(astronaut) < BLOCKY


def test_the_person_in_a_blocky_frame_is_found(blocky_driver, carphone):
    clean, blocky = person_mask(carphone.frames[0]) > 0.5, person_mask(load_video(blocky_driver).frames[0]) > 0.5
    # Read as it is, the first blocky frame's person mask overlapped the clean frame's by 3 %.
    assert (clean & blocky).sum() / (clean | blocky).sum() > 0.75


def test_a_smeared_driver_is_tracked_on_the_face_not_beside_it(tmp_path, carphone, carphone_path):
    # H.264 at CRF 45: 7 kB for 4 s. The face is lost for a few frames halfway, and the tracking mesh, finding it
    # again, settled on the chin and collar a quarter of a face below (0.16 face sizes off on average).
    smeared = tmp_path / "smeared.mp4"
    ffmpeg("-i", str(carphone_path), "-c:v", "libx264", "-crf", "45", "-pix_fmt", "yuv420p", str(smeared))
    clean, tracked = track_landmarks(carphone.frames), track_landmarks(load_video(smeared).frames)
    sizes = np.array([regions.face_size(points) for points in clean])
    error = np.linalg.norm(tracked - clean, axis=-1).mean(axis=1) / sizes
    assert error.mean() < 0.1


def test_self_reenactment_of_a_blocky_driver_beats_doing_nothing(blocky_driver):
    report = self_reenactment(blocky_driver)
    engine, baseline = report["engine_metrics"], report["baseline_metrics"]
    assert engine["full"]["psnr"] > baseline["full"]["psnr"]
    # Read as it was, the head moved 0.1 dB past doing nothing: the portrait's person mask had vanished.
    assert engine["head"]["psnr"] >= baseline["head"]["psnr"] + 3.0
