"""The ffmpeg log parser on captured logs (tests/data/ffmpeg): what a file holds and why it cannot be read."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from durian_core.media.probe import ffmpeg_reason, parse_ffmpeg_info, parse_packet_list

LOGS = Path(__file__).resolve().parent / "data" / "ffmpeg"
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"


def log(name: str) -> str:
    return (LOGS / f"{name}.log").read_text(encoding="utf-8")


def test_a_talking_face_clip_without_sound():
    info = parse_ffmpeg_info(log("carphone"), count_frames=True)
    assert info.has_video and not info.has_audio
    assert (info.width, info.height, info.fps, info.frames) == (176, 144, 29.97, 120)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p" and not info.partial
    assert info.duration == pytest.approx(4.0, abs=0.05)


def test_a_clip_with_sound_names_its_audio_codec():
    info = parse_ffmpeg_info(log("audio"), count_frames=True)
    assert info.has_audio and info.audio_codec == "aac"
    assert (info.width, info.height, info.fps, info.frames) == (64, 48, 25.0, 50)
    assert info.duration == pytest.approx(2.0, abs=0.05)


def test_a_phone_video_rotated_by_90_degrees_swaps_its_sides():
    info = parse_ffmpeg_info(log("rotated"), count_frames=True)
    assert (info.width, info.height) == (48, 64)  # as displayed: ffmpeg rotates while decoding
    assert info.fps == 30.0 and info.frames == 30


def test_without_counting_there_is_no_frame_count():
    info = parse_ffmpeg_info(log("carphone"), count_frames=False)
    assert info.frames is None and not info.partial


def test_a_file_cut_short_is_partial_with_fewer_frames_than_its_duration_says():
    info = parse_ffmpeg_info(log("partial"), count_frames=True)
    assert info.partial
    assert info.frames == 27 and info.frames < info.duration * info.fps


@pytest.mark.parametrize(
    ("name", "head", "reason"),
    [
        ("cut", MP4_HEAD, "the file is incomplete"),  # an mp4 whose index is missing was cut short, not garbage
        ("text", b"hello, I am text\n", "it is a text file, not a video"),
        ("cut", b"\x89PNG\r\n\x1a\n\x00\x00", "not a video format ffmpeg can read"),
    ],
)
def test_the_reason_a_file_cannot_be_read_is_in_words(name, head, reason):
    assert ffmpeg_reason(log(name), head=head).startswith(reason)


def test_an_unknown_failure_gives_ffmpegs_last_line_without_its_prefix():
    text = "[in#0 @ 0x55] something odd\n[in#0 @ 0x55] Decoder h264 failed: no frame\n"
    assert ffmpeg_reason(text) == "Decoder h264 failed: no frame"


def test_a_log_without_a_video_stream():
    info = parse_ffmpeg_info(log("audio").replace("Video: h264", "Data: none"), count_frames=False)
    assert not info.has_video and info.has_audio


def packet_list(shown: list[int], *, timebase: str = "1/30000", duration: int = 1001) -> str:
    """ffmpeg's ``framecrc`` listing of one video stream whose packets show at ``shown`` (in timebase ticks)."""
    lines = [f"#tb 0: {timebase}", "#media_type 0: video"]
    lines += [f"0, {tick - 2 * duration}, {tick}, {duration}, 1000, 0x00000000" for tick in shown]
    return "\n".join(lines) + "\n"


def test_a_steady_video_is_sampled_at_its_own_rate():
    timeline = parse_packet_list(packet_list([index * 1001 for index in range(120)]))
    assert timeline.rate == Fraction(30000, 1001) and not timeline.variable
    assert timeline.sample_count() == 120 and timeline.end == pytest.approx(4.004)


def test_millisecond_timestamps_of_a_steady_video_snap_to_its_camera_rate():
    shown = [round(index * 1000 / 30) for index in range(90)]  # 0, 33, 67, 100, ...
    timeline = parse_packet_list(packet_list(shown, timebase="1/1000", duration=33))
    assert timeline.rate == 30 and not timeline.variable


def test_a_phone_that_slows_down_is_variable_and_sampled_at_its_fastest_rate():
    shown = [index * 1001 for index in range(60)] + [60060 + index * 3003 for index in range(60)]
    timeline = parse_packet_list(packet_list(shown, duration=3003))
    assert timeline.variable and timeline.rate == Fraction(30000, 1001)
    slowest, fastest = timeline.rate_range
    assert slowest == pytest.approx(10, abs=0.1) and fastest == pytest.approx(30, abs=0.1)
    assert timeline.sample_count() == 240  # 8 s at 29.97 fps, not the 120 frames stored
    assert timeline.sample_count(3.0) == 90


def test_one_dropped_frame_in_a_long_clip_is_no_variable_rate():
    shown = [index * 1001 for index in range(300) if index != 150]
    assert not parse_packet_list(packet_list(shown)).variable


def test_packets_without_usable_timestamps_give_no_timeline():
    assert parse_packet_list(packet_list([0, 1001, 1001, 2002])) is None  # two frames at one moment
    assert parse_packet_list("#tb 0: 1/30000\n") is None
    # MPEG program streams stamp only some packets: their decoding times stand in.
    stamped = packet_list([0, 1001, 2002, 3003]).replace(", 1001, 1001,", ", 1001, -9223372036854775808, 1001,")
    assert parse_packet_list(stamped).sample_count() == 4
