"""Driving videos in, results out: decoding with validation (cut, downscale, truncated files), and browser-playable
H.264 mp4 writing with the driver's audio. ffmpeg is the binary imageio-ffmpeg bundles; writing goes through moviepy.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from moviepy import AudioFileClip, ImageSequenceClip

from durian_core.config import MediaLimits
from durian_core.errors import DurianInputError
from durian_core.media.files import atomic_target, existing_file
from durian_core.media.images import array_to_rgb_alpha
from durian_core.media.probe import ffmpeg_reason, probe
from durian_core.types import DrivingVideo


class _DropScaleNotice(logging.Filter):
    """imageio-ffmpeg warns whenever frames are read at another size than stored; load_video asks for exactly that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


logging.getLogger("imageio_ffmpeg").addFilter(_DropScaleNotice())


def load_video(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    limits: MediaLimits = MediaLimits(),
) -> DrivingVideo:
    """Decode a driving video: RGB frames, frame rate, and the file itself as the audio source when it has sound.

    Clips longer than ``max_seconds`` (default ``limits.max_video_seconds``) are cut, and ``truncated_from`` gives
    the original duration; frames whose longest side exceeds ``limits.max_video_side`` are downscaled.

    Raises:
        DurianInputError: the file is missing, empty, not a video, corrupt, or has fewer than two frames.
    """
    source = existing_file(path, what="video", limits=limits)
    name = source.name
    cap = limits.max_video_seconds if max_seconds is None else float(max_seconds)
    if not (cap > 0 and math.isfinite(cap)):
        raise DurianInputError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
    # Counting packets (a copy pass, no decoding) also reveals a file whose data stops early.
    info = probe(source, name=name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{name}': the file has no video stream")
    if not info.fps > 0:
        raise DurianInputError(f"cannot read video '{name}': its frame rate is unknown")
    present_seconds = (info.frames or 0) / info.fps
    if info.partial and info.duration and present_seconds < min(cap, info.duration) - 0.5 / info.fps:
        # A cut-short download still decodes up to where it stops; a silently shorter animation would puzzle.
        raise DurianInputError(
            f"cannot read video '{name}': the file is truncated (its data stops after {present_seconds:.1f} s "
            f"of {info.duration:.1f} s); was the upload or recording cut short?"
        )

    output_params = ["-t", f"{cap:.6f}"]
    if max(info.width, info.height) > limits.max_video_side:
        # The scale factor does not depend on orientation, so it is right after ffmpeg's automatic rotation too.
        scale = limits.max_video_side / max(info.width, info.height)
        output_params += ["-vf", f"scale=trunc(iw*{scale:.9f}+0.5):trunc(ih*{scale:.9f}+0.5):flags=area"]
    # A guard against containers that misreport their duration: never decode more than the cap allows.
    max_frames = math.ceil(cap * info.fps) + 1
    frames: list[np.ndarray] = []
    # imageio-ffmpeg drains ffmpeg's stderr on a thread. moviepy's reader does not, and a corrupt stream that logs
    # more than a pipe buffer of decoder errors blocks it forever.
    reader = imageio_ffmpeg.read_frames(str(source), output_params=output_params)
    try:
        meta = next(reader)
        width, height = meta["size"]
        for raw in reader:
            frames.append(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            if len(frames) >= max_frames:
                break
    except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        # Frames decoded before a corrupt tail are kept; nothing decoded means the file is unusable.
        if not frames:
            raise DurianInputError(f"cannot read video '{name}': {ffmpeg_reason(str(exc))}") from exc
    finally:
        reader.close()
    if not frames:
        raise DurianInputError(f"cannot read video '{name}': it contains no frames")
    if len(frames) < 2:
        raise DurianInputError(f"cannot use video '{name}': it has a single frame (is it a still image?)")
    truncated_from = None
    if info.duration is not None and info.duration > cap + 0.5 / info.fps:
        truncated_from = info.duration
    return DrivingVideo(
        frames=np.stack(frames),
        fps=float(info.fps),
        audio_path=os.fspath(path) if info.has_audio else None,
        truncated_from=truncated_from,
    )


def video_has_audio(path: str | os.PathLike) -> bool:
    """Whether the file has an audio stream.

    Raises:
        DurianInputError: the file is missing, empty or not a media file ffmpeg can open.
    """
    source = existing_file(path, what="video", limits=MediaLimits())
    return probe(source, name=source.name).has_audio


def probe_video(path: str | os.PathLike) -> dict:
    """Describe a video file: ``fps``, ``frames`` (counted), ``duration`` (s), ``width``, ``height``,
    ``has_audio``, plus ``codec``, ``pix_fmt`` and ``audio_codec``.

    Raises:
        DurianInputError: the file is missing, empty or not a media file with a video stream.
    """
    source = existing_file(path, what="video", limits=MediaLimits())
    info = probe(source, name=source.name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{source.name}': the file has no video stream")
    return {
        "fps": info.fps,
        "frames": info.frames,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "has_audio": info.has_audio,
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "audio_codec": info.audio_codec,
    }


def write_video(
    frames: np.ndarray | Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    audio_path: str | None = None,
) -> Path:
    """Write frames as an H.264 / yuv420p mp4 that browsers play, with the audio of ``audio_path`` when given.

    Odd frame sizes are padded by one edge pixel (yuv420p needs even sides). The audio is cut to the video's
    length. The file appears complete or not at all: it is written under a temporary name and renamed.

    Raises:
        DurianInputError: ``audio_path`` cannot be read as audio.
        ValueError: no frames, frames of different sizes, or a non-positive ``fps``.
    """
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be positive, got {fps}")
    sequence = _video_frames(frames)
    count = len(sequence)
    duration = count / fps
    target = Path(path)
    with (
        tempfile.TemporaryDirectory(prefix="durian-audio-") as audio_dir,
        atomic_target(target, suffix=".mp4") as temporary,
    ):
        audio = None
        if audio_path is not None:
            # Probed first: moviepy's audio reader fails on garbage with errors that name nothing useful.
            audio_source = existing_file(audio_path, what="audio", limits=MediaLimits())
            if not probe(audio_source, name=audio_source.name, what="audio").has_audio:
                raise DurianInputError(f"cannot read audio '{audio_source.name}': the file has no audio track")
            audio = AudioFileClip(str(audio_source))
        clip = ImageSequenceClip(sequence, fps=fps)
        try:
            # moviepy writes int(duration·fps) frames and sums 1/fps per image for the duration, which can fall
            # a hair short of ``count``: a quarter frame of headroom keeps the last frame.
            clip = clip.with_duration((count + 0.25) / fps)
            if audio is not None:
                clip = clip.with_audio(audio.subclipped(0, min(audio.duration, duration)))
            clip.write_videofile(
                temporary,
                fps=fps,
                codec="libx264",
                preset="veryfast",
                audio_codec="aac",
                temp_audiofile_path=audio_dir,
                ffmpeg_params=["-crf", "18", "-pix_fmt", "yuv420p", "-movflags", "+faststart"],
                logger=None,
            )
        finally:
            clip.close()
            if audio is not None:
                audio.close()
    return target


def _video_frames(frames: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Validate frames and pad odd sides by repeating the last row/column (yuv420p halves chroma resolution)."""
    if len(frames) == 0:
        raise ValueError("write_video needs at least one frame")
    first = np.asarray(frames[0])
    shape = first.shape
    if not (first.ndim == 2 or (first.ndim == 3 and first.shape[2] in (1, 3, 4))):
        raise ValueError(f"frames must be H×W or H×W×3, got shape {shape}")
    height, width = shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    sequence = []
    for index, frame in enumerate(frames):
        frame = np.asarray(frame)
        if frame.shape != shape:
            raise ValueError(f"frame {index} has shape {frame.shape}, frame 0 has {shape}")
        rgb, _ = array_to_rgb_alpha(frame, name=f"frame {index}")
        if pad[0][1] or pad[1][1]:
            rgb = np.pad(rgb, pad, mode="edge")
        sequence.append(np.ascontiguousarray(rgb))
    return sequence
