"""Loading and writing images and videos, as a user uploading files would meet them."""

from __future__ import annotations

import io
import re
import struct
import subprocess
import zlib
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from helpers import carphone_clip, write_sine_wav
from moviepy import AudioFileClip, VideoFileClip
from PIL import Image
from skimage import data as skimage_data

from durian_core.config import MediaLimits
from durian_core.errors import DurianInputError
from durian_core.media import (
    VideoWriter,
    check_output_folder,
    check_output_path,
    image_suffixes,
    load_image,
    load_mask,
    load_video,
    probe_video,
    video_has_audio,
    write_image,
    write_video,
)

# ------------------------------------------------------------------------------------------- shared helpers


def astronaut() -> np.ndarray:
    """The 512×512 RGB portrait from scikit-image."""
    return skimage_data.astronaut()


def ffmpeg_streams(path: Path) -> dict:
    """What ``ffmpeg -i`` reports about a file, parsed independently of durian_core.media."""
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=60
    )
    text = result.stderr
    video = re.search(r"Stream #\S+: Video: (\w+)[^,]*, (\w+)(?:\([^)]*\))?[^,]*, (\d+)x(\d+)", text)
    fps = re.search(r"Stream #\S+: Video: .*?([\d.]+) fps", text)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", text)
    info = {"has_video": video is not None, "has_audio": bool(re.search(r"Stream #\S+: Audio:", text))}
    if video:
        info.update(
            codec=video.group(1), pix_fmt=video.group(2), width=int(video.group(3)), height=int(video.group(4))
        )
    if fps:
        info["fps"] = float(fps.group(1))
    if duration:
        hours, minutes, seconds = duration.groups()
        info["duration"] = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return info


def decoded_audio(path: Path, *, rate: int = 8000) -> np.ndarray:
    """The file's audio as mono float samples in [-1, 1], decoded by ffmpeg."""
    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate)]
        + ["-f", "s16le", "-"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return np.frombuffer(result.stdout, "<i2").astype(np.float32) / 32768.0


def count_frames(path: Path) -> int:
    """Frames in the first video stream, counted by imageio-ffmpeg."""
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return frames


@pytest.fixture(scope="module")
def talking_clip(tmp_path_factory) -> Path:
    """The carphone clip with a 4 s sine tone muxed in (by moviepy): a driver that has sound."""
    folder = tmp_path_factory.mktemp("talking")
    tone = write_sine_wav(folder / "tone.wav", seconds=4.0)
    target = folder / "talking.mp4"
    with VideoFileClip(str(carphone_clip())) as video, AudioFileClip(str(tone)) as audio:
        video.with_audio(audio).write_videofile(
            str(target), codec="libx264", audio_codec="aac", preset="ultrafast", logger=None
        )
    return target


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels but holds no pixel data: cheap stand-in for a huge image."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def encode(image: Image.Image, image_format: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def mean_abs_diff(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.abs(first.astype(np.float32) - second.astype(np.float32)).mean())


# ------------------------------------------------------------------------------------------------- images


def test_exif_rotated_jpeg_comes_out_upright(tmp_path):
    upright = astronaut()[:, :384]  # portrait format, 384 wide × 512 high, so orientation shows in the shape
    stored = np.rot90(upright, k=1)  # what a phone held sideways stores; EXIF orientation 6 = turn it 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(np.ascontiguousarray(stored)).save(path, quality=95, exif=exif.tobytes())

    loaded = load_image(path)

    assert loaded.rgb.shape == (512, 384, 3)
    assert loaded.rgb.dtype == np.uint8
    assert mean_abs_diff(loaded.rgb, upright) < 4
    assert loaded.source_name == "phone.jpg"
    assert loaded.downscaled_from is None


def test_pillow_image_is_accepted_and_left_usable():
    portrait = Image.fromarray(astronaut()).convert("L")

    loaded = load_image(portrait)

    assert loaded.source_name == "<image>"
    assert loaded.rgb.shape == (512, 512, 3)
    np.testing.assert_array_equal(loaded.rgb[:, :, 1], np.asarray(portrait))
    assert portrait.getpixel((10, 10)) == int(np.asarray(portrait)[10, 10])  # the caller's image is not closed


def test_rgba_png_keeps_its_alpha_as_a_mask():
    rgb = astronaut()
    yy, xx = np.mgrid[:512, :512]
    alpha = np.where((yy - 200) ** 2 + (xx - 256) ** 2 < 150**2, 255, 0).astype(np.uint8)  # a round cut-out
    alpha[:, :40] = 128  # and a half-transparent strip
    png = encode(Image.fromarray(np.dstack([rgb, alpha]), mode="RGBA"))

    loaded = load_image(png)

    assert loaded.source_name == "<bytes>"
    np.testing.assert_array_equal(loaded.rgb, rgb)
    assert loaded.alpha is not None and loaded.alpha.dtype == np.float32
    np.testing.assert_allclose(loaded.alpha, alpha / 255.0, atol=1e-6)


def test_opaque_image_has_no_alpha_mask():
    assert load_image(encode(Image.fromarray(astronaut()))).alpha is None
    opaque_rgba = np.dstack([astronaut(), np.full((512, 512), 255, np.uint8)])
    assert load_image(opaque_rgba).alpha is None


def test_grayscale_png_becomes_rgb_with_the_same_gray_levels():
    gray = np.asarray(Image.fromarray(astronaut()).convert("L"))

    loaded = load_image(encode(Image.fromarray(gray, mode="L")))

    assert loaded.rgb.shape == (512, 512, 3) and loaded.rgb.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(loaded.rgb[:, :, channel], gray)


def test_palette_png_becomes_rgb_close_to_the_original():
    palette_image = Image.fromarray(astronaut()).convert("P", palette=Image.ADAPTIVE, colors=256)

    loaded = load_image(encode(palette_image))

    assert loaded.rgb.shape == (512, 512, 3) and loaded.rgb.dtype == np.uint8
    np.testing.assert_array_equal(loaded.rgb, np.asarray(palette_image.convert("RGB")))
    assert mean_abs_diff(loaded.rgb, astronaut()) < 8


def test_sixteen_bit_png_is_rescaled_not_clipped():
    gray = np.asarray(Image.fromarray(astronaut()).convert("L"))
    deep = gray.astype(np.uint16) * 257  # the same picture using the full 16-bit range
    png = encode(Image.fromarray(deep))

    loaded = load_image(png)

    assert loaded.rgb.dtype == np.uint8
    assert np.abs(loaded.rgb[:, :, 0].astype(int) - gray).max() <= 1
    assert loaded.rgb.min() < 20 and loaded.rgb.max() > 235  # still a full tonal range, not a white sheet


def test_very_large_photo_is_downscaled_to_the_longest_side_limit(tmp_path):
    big = Image.fromarray(astronaut()).resize((6000, 4000), Image.BILINEAR)
    path = tmp_path / "big.jpg"
    big.save(path, quality=90)

    loaded = load_image(path)

    assert loaded.rgb.shape == (2731, 4096, 3)
    assert loaded.downscaled_from == (6000, 4000)
    reference = np.asarray(big.resize((4096, 2731), Image.BILINEAR))
    assert mean_abs_diff(loaded.rgb, reference) < 6


def test_large_array_is_downscaled_too():
    array = np.zeros((300, 120, 3), np.uint8)
    array[:, :60] = 255
    loaded = load_image(array, limits=MediaLimits(max_image_side=150, min_image_side=16))
    assert loaded.rgb.shape == (150, 60, 3)
    assert loaded.downscaled_from == (120, 300)
    assert loaded.rgb[:, :25].min() == 255 and loaded.rgb[:, 35:].max() == 0


@pytest.mark.parametrize(("width", "height"), [(10_000, 8_000), (20_000, 20_000)])
def test_absurdly_large_image_is_refused_without_decoding(tmp_path, width, height):
    # The file holds no pixel data: had the loader tried to decode it, it would fail with another message.
    path = tmp_path / "scan.png"
    path.write_bytes(png_header_only(width, height))

    with pytest.raises(DurianInputError, match=r"image too large: .*megapixels") as caught:
        load_image(path)
    assert f"{width * height / 1e6:.0f} megapixels" in str(caught.value)
    assert "scan.png" in str(caught.value)


def test_tiny_image_is_refused_with_its_size():
    with pytest.raises(DurianInputError, match="image too small: 20×20 pixels, need at least 64"):
        load_image(encode(Image.new("RGB", (20, 20))))


def test_text_file_named_jpg_is_refused_as_text(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("These are my notes, not a photo.\n")
    with pytest.raises(DurianInputError, match=r"'notes\.jpg' is a text file, not an image"):
        load_image(path)


def test_binary_garbage_is_refused_as_not_an_image(tmp_path):
    path = tmp_path / "noise.png"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(DurianInputError, match=r"'noise\.png' is not an image format"):
        load_image(path)


def test_truncated_jpeg_is_refused_as_corrupt(tmp_path):
    jpeg = encode(Image.fromarray(astronaut()), "JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg[: len(jpeg) // 2])
    with pytest.raises(DurianInputError, match=r"cannot read image 'cut\.jpg': the file is truncated or corrupt"):
        load_image(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "blank.png"
    path.write_bytes(b"")
    with pytest.raises(DurianInputError, match=r"image file 'blank\.png' is empty"):
        load_image(path)
    with pytest.raises(DurianInputError, match="empty"):
        load_image(b"")


def test_missing_file_is_refused_with_its_path(tmp_path):
    with pytest.raises(DurianInputError, match=r"image file not found: .*where\.png"):
        load_image(tmp_path / "where.png")


def test_mask_comes_from_alpha_or_from_luminance(tmp_path):
    strokes = np.zeros((100, 80, 4), np.uint8)
    strokes[20:40, 10:30] = (255, 0, 0, 255)  # a red brush stroke on a transparent layer
    brush = tmp_path / "brush.png"
    Image.fromarray(strokes, mode="RGBA").save(brush)
    black_white = np.zeros((100, 80), np.uint8)
    black_white[50:, :] = 255
    painted = tmp_path / "painted.png"
    Image.fromarray(black_white, mode="L").save(painted)

    from_alpha = load_mask(brush)
    from_luminance = load_mask(painted)
    resized = load_mask(painted, size=(40, 50))

    assert from_alpha.dtype == np.float32 and from_alpha.shape == (100, 80)
    assert from_alpha[30, 20] == 1.0 and from_alpha[80, 60] == 0.0 and from_alpha.sum() == 20 * 20
    np.testing.assert_array_equal(from_luminance, black_white / 255.0)
    assert resized.shape == (50, 40)
    assert resized[:20].max() == 0.0 and resized[30:].min() == 1.0


def test_write_image_round_trips_a_png_and_leaves_no_temporary_files(tmp_path):
    target = write_image(astronaut(), tmp_path / "still.png")
    assert target == tmp_path / "still.png"
    np.testing.assert_array_equal(np.asarray(Image.open(target)), astronaut())
    assert [p.name for p in tmp_path.iterdir()] == ["still.png"]
    assert target.stat().st_mode & 0o777 == 0o644  # a web server or another user can read it


@pytest.mark.parametrize("suffix", image_suffixes(aliases=False))
def test_a_still_is_written_in_every_photo_format_pillow_can_write(suffix, tmp_path):
    target = write_image(astronaut()[:128, :96], tmp_path / f"still{suffix}")
    with Image.open(target) as written:
        assert written.size == (96, 128)
        back = np.asarray(written.convert("RGB")).astype(int)
    assert np.abs(back - astronaut()[:128, :96]).mean() < 12  # lossy formats and GIF's palette stay close


def test_an_output_folder_is_made_or_refused_with_what_stands_in_its_way(tmp_path):
    made = check_output_folder(tmp_path / "new" / "results")
    assert made.is_dir() and list(made.iterdir()) == []  # the write test leaves nothing behind
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(DurianInputError, match="file' is a file, not a folder"):
        check_output_folder(tmp_path / "file" / "results")
    with pytest.raises(DurianInputError, match="there is no driving video"):
        check_output_path(tmp_path / "out.mp4", video=False)
    assert check_output_path(tmp_path / "later" / "out.tif", video=False) == tmp_path / "later" / "out.tif"
    assert not (tmp_path / "later").exists()  # checked, not made: a failed run leaves no empty folder


def test_a_written_video_is_readable_by_others(tmp_path):
    with VideoWriter(tmp_path / "clip.mp4", fps=10) as writer:
        for _ in range(3):
            writer.write(astronaut())
        target = writer.close()
    assert target.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


# ------------------------------------------------------------------------------------------------- videos


def test_carphone_clip_is_read_with_its_frame_rate_and_frames():
    driver = load_video(carphone_clip())

    assert driver.fps == pytest.approx(29.97, abs=0.01)
    assert driver.frames.shape == (count_frames(carphone_clip()), 144, 176, 3)
    assert driver.frames.dtype == np.uint8
    assert 40 < driver.frames.mean() < 200  # real picture content, not black frames
    assert driver.audio_path is None
    assert driver.truncated_from is None


def test_long_driver_is_cut_and_says_from_how_long():
    driver = load_video(carphone_clip(), max_seconds=1)

    assert abs(len(driver.frames) - 30) <= 1
    assert driver.truncated_from == pytest.approx(4.0, abs=0.1)
    full = load_video(carphone_clip())
    np.testing.assert_array_equal(driver.frames, full.frames[: len(driver.frames)])


def test_large_driver_frames_are_downscaled():
    driver = load_video(carphone_clip(), limits=MediaLimits(max_video_side=88))
    assert driver.frames.shape[1:] == (72, 88, 3)


def test_rotated_phone_video_is_read_as_it_plays(tmp_path):
    rotated = tmp_path / "phone.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-display_rotation", "90", "-i", str(carphone_clip())]
        + ["-c", "copy", str(rotated)],
        check=True,
        timeout=60,
    )
    upright = load_video(carphone_clip()).frames

    driver = load_video(rotated)
    small = load_video(rotated, limits=MediaLimits(max_video_side=88))

    # Display rotation 90° turns the stored picture a quarter counterclockwise, as players show it.
    np.testing.assert_array_equal(driver.frames, np.rot90(upright, k=1, axes=(1, 2)))
    assert small.frames.shape[1:] == (88, 72, 3)
    assert (probe_video(rotated)["width"], probe_video(rotated)["height"]) == (144, 176)


def test_driver_with_sound_names_itself_as_the_audio_source(talking_clip):
    assert video_has_audio(talking_clip)
    assert not video_has_audio(carphone_clip())
    assert load_video(talking_clip).audio_path == str(talking_clip)


def test_probe_reports_what_the_app_shows():
    info = probe_video(carphone_clip())
    assert info["frames"] == count_frames(carphone_clip())
    assert info["fps"] == pytest.approx(29.97, abs=0.01)
    assert info["duration"] == pytest.approx(4.0, abs=0.05)
    assert (info["width"], info["height"]) == (176, 144)
    assert info["has_audio"] is False


def _cut_short_but_indexed(tmp_path: Path) -> Path:
    """A download that stopped at 30 %: the index (moved to the front) survives, most of the frames do not."""
    indexed = tmp_path / "indexed.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(carphone_clip()), "-c", "copy"]
        + ["-movflags", "+faststart", str(indexed)],
        check=True,
        timeout=60,
    )
    payload = indexed.read_bytes()
    target = tmp_path / "download.mp4"
    target.write_bytes(payload[: int(len(payload) * 0.3)])
    return target


@pytest.mark.timeout(60)
@pytest.mark.parametrize("damage", ["truncated", "cut_short_indexed", "random", "text", "empty"])
def test_broken_video_is_refused_clearly_and_quickly(tmp_path, damage):
    payload = carphone_clip().read_bytes()
    path = tmp_path / "clip.mp4"
    if damage == "truncated":
        path.write_bytes(payload[: len(payload) // 2])
        expected = "incomplete"
    elif damage == "cut_short_indexed":
        path = _cut_short_but_indexed(tmp_path)
        expected = "truncated"
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
        expected = "not a video format"
    elif damage == "text":
        path.write_text("not a video\n" * 100)
        expected = "text file, not a video"
    else:
        path.write_bytes(b"")
        expected = "empty"

    with pytest.raises(DurianInputError, match=expected) as caught:
        load_video(path)
    assert path.name in str(caught.value)


def test_cut_short_file_is_fine_when_the_kept_part_is_all_there(tmp_path):
    driver = load_video(_cut_short_but_indexed(tmp_path), max_seconds=0.5)
    assert abs(len(driver.frames) - 15) <= 1
    np.testing.assert_array_equal(driver.frames, load_video(carphone_clip()).frames[: len(driver.frames)])


def test_still_image_is_refused_as_a_driver(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(astronaut()).save(path)
    with pytest.raises(DurianInputError, match="single frame"):
        load_video(path)


def test_missing_video_is_refused(tmp_path):
    with pytest.raises(DurianInputError, match=r"video file not found: .*gone\.mp4"):
        load_video(tmp_path / "gone.mp4")


def test_written_video_is_browser_playable_h264_with_all_frames(tmp_path):
    driver = load_video(carphone_clip())

    target = write_video(driver.frames, tmp_path / "out.mp4", fps=driver.fps)

    streams = ffmpeg_streams(target)
    assert streams["codec"] == "h264"
    assert streams["pix_fmt"] == "yuv420p"
    assert (streams["width"], streams["height"]) == (176, 144)
    assert streams["fps"] == pytest.approx(driver.fps, abs=0.01)
    assert not streams["has_audio"]
    assert count_frames(target) == len(driver.frames)
    back = load_video(target)
    assert mean_abs_diff(back.frames[0], driver.frames[0]) < 4  # crf 18: visually the same picture
    assert mean_abs_diff(back.frames[-1], driver.frames[-1]) < 4
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_driver_audio_is_carried_and_cut_to_the_video(tmp_path, talking_clip):
    driver = load_video(talking_clip, max_seconds=1)
    assert driver.audio_path == str(talking_clip)

    target = write_video(driver.frames, tmp_path / "with_sound.mp4", fps=driver.fps, audio_path=driver.audio_path)

    streams = ffmpeg_streams(target)
    assert streams["has_audio"]
    assert streams["duration"] == pytest.approx(len(driver.frames) / driver.fps, abs=0.1)  # not the tone's 4 s
    assert decoded_audio(target).std() > 0.05  # the tone, not silence


def test_odd_frame_sizes_are_written_with_even_sides(tmp_path):
    frames = np.stack([np.full((75, 101, 3), 10 * i, np.uint8) for i in range(12)])

    target = write_video(frames, tmp_path / "odd.mp4", fps=12)

    streams = ffmpeg_streams(target)
    assert (streams["width"], streams["height"]) == (102, 76)
    assert streams["pix_fmt"] == "yuv420p"
    assert count_frames(target) == 12
    assert streams["fps"] == pytest.approx(12)


def test_failed_write_leaves_no_file_behind(tmp_path):
    bad_audio = tmp_path / "noise.m4a"
    bad_audio.write_bytes(np.random.default_rng(1).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    out_dir = tmp_path / "out"
    frames = load_video(carphone_clip(), max_seconds=0.5).frames

    with pytest.raises(DurianInputError, match=r"cannot read audio 'noise\.m4a'"):
        write_video(frames, out_dir / "result.mp4", fps=29.97, audio_path=str(bad_audio))

    assert not (out_dir / "result.mp4").exists()
    assert list(out_dir.iterdir()) == []
