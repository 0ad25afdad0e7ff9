"""Driving videos in, results out: decoding with validation (cut, downscale, truncated files), and browser-playable
H.264 mp4 writing with the driver's audio, both streamed frame by frame. ffmpeg is the binary imageio-ffmpeg bundles.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from durian_core.config import MediaLimits
from durian_core.errors import DurianInputError
from durian_core.media.files import atomic_target, existing_file
from durian_core.media.images import array_to_rgb_alpha
from durian_core.media.probe import ffmpeg_reason, probe, snap_rate
from durian_core.types import DrivingVideo


class _DropScaleNotice(logging.Filter):
    """imageio-ffmpeg warns whenever frames are read at another size than stored; load_video asks for exactly that."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "is different from the source frame size" not in record.getMessage()


logging.getLogger("imageio_ffmpeg").addFilter(_DropScaleNotice())


def open_video(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    limits: MediaLimits = MediaLimits(),
) -> DrivingVideo:
    """Check a driving video and get it ready to stream: frame rate, frame count and size are known, the frames
    are decoded only as they are read (``DrivingVideo.iter_frames``), so a driver of any length costs no memory.

    Frames are read at a constant rate (``fps``) along the file's own timestamps, so a variable-rate clip (a
    phone's) keeps every motion at its moment; ``variable_rate`` says when the file's rate varied. Clips longer
    than ``max_seconds`` (default ``limits.max_video_seconds``) are cut, and ``truncated_from`` gives the original
    duration; frames whose longest side exceeds ``limits.max_video_side`` are downscaled.

    Raises:
        DurianInputError: the file is missing, empty, not a video, corrupt, truncated, or has fewer than two frames.
    """
    source = existing_file(path, what="video", limits=limits)
    name = source.name
    cap = limits.max_video_seconds if max_seconds is None else float(max_seconds)
    if not (cap > 0 and math.isfinite(cap)):
        raise DurianInputError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
    # Listing packets (a copy pass, no decoding) gives every frame's moment and reveals a file whose data stops early.
    info = probe(source, name=name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{name}': the file has no video stream")
    timeline = info.timeline
    if timeline is None and not info.fps > 0:
        raise DurianInputError(f"cannot read video '{name}': its frame rate is unknown")
    rate = timeline.rate if timeline is not None else snap_rate(info.fps)
    present_seconds = timeline.end if timeline is not None else (info.frames or 0) / info.fps
    if info.partial and info.duration and present_seconds < min(cap, info.duration) - 0.5 / rate:
        # A cut-short download still decodes up to where it stops; a silently shorter animation would puzzle.
        raise DurianInputError(
            f"cannot read video '{name}': the file is truncated (its data stops after {present_seconds:.1f} s "
            f"of {info.duration:.1f} s); was the upload or recording cut short?"
        )
    # Frames are sampled at a constant rate along their own timestamps: a phone's variable-rate clip keeps each
    # motion at its moment (and so with its sound), where reading frame after frame would drift from it.
    filters = [f"fps={rate.numerator}/{rate.denominator}"]
    width, height = info.width, info.height
    if max(info.width, info.height) > limits.max_video_side:
        # The scale factor does not depend on orientation, so it is right after ffmpeg's automatic rotation too.
        scale = limits.max_video_side / max(info.width, info.height)
        filters.append(f"scale=trunc(iw*{scale:.9f}+0.5):trunc(ih*{scale:.9f}+0.5):flags=area")
        width, height = int(info.width * scale + 0.5), int(info.height * scale + 0.5)
    output_params = ["-t", f"{cap:.6f}", "-vf", ",".join(filters), "-fps_mode", "passthrough"]
    # A guard against containers that misreport their duration: never decode more than the cap allows.
    max_frames = math.ceil(cap * rate) + 1
    if timeline is not None:
        count = min(timeline.sample_count(cap), max_frames)
    else:
        counted = info.frames if info.frames else max_frames
        count = max(0, min(counted, int(round(min(cap, info.duration or cap) * rate)) or counted, max_frames))
    if count < 2:
        raise DurianInputError(f"cannot use video '{name}': it has a single frame (is it a still image?)")

    def stream() -> Iterator[np.ndarray]:
        # imageio-ffmpeg drains ffmpeg's stderr on a thread. moviepy's reader does not, and a corrupt stream that
        # logs more than a pipe buffer of decoder errors blocks it forever.
        reader = imageio_ffmpeg.read_frames(str(source), output_params=output_params)
        produced = 0
        try:
            meta = next(reader)
            frame_width, frame_height = meta["size"]
            for raw in reader:
                yield np.frombuffer(raw, np.uint8).reshape(frame_height, frame_width, 3)
                produced += 1
                if produced >= count:
                    break
        except (OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
            # Frames decoded before a corrupt tail are kept; nothing decoded means the file is unusable.
            if not produced:
                raise DurianInputError(f"cannot read video '{name}': {ffmpeg_reason(str(exc))}") from exc
        finally:
            reader.close()
        if not produced:
            raise DurianInputError(f"cannot read video '{name}': it contains no frames")

    truncated_from = None
    if info.duration is not None and info.duration > cap + 0.5 / rate:
        truncated_from = info.duration
    return DrivingVideo(
        frames=None,
        fps=float(rate),
        variable_rate=timeline.rate_range if timeline is not None and timeline.variable else None,
        audio_path=os.fspath(path) if info.has_audio else None,
        truncated_from=truncated_from,
        stream=stream,
        count=count,
        size=(width, height),
        name=name,
        path=os.fspath(source),
    )


def load_video(
    path: str | os.PathLike,
    *,
    max_seconds: float | None = None,
    limits: MediaLimits = MediaLimits(),
) -> DrivingVideo:
    """Decode a whole driving video into memory (:func:`open_video`, then every frame): for short clips only;
    generation streams instead.

    Raises:
        DurianInputError: as :func:`open_video`, and when fewer than two frames decode.
    """
    video = open_video(path, max_seconds=max_seconds, limits=limits)
    frames = list(video.iter_frames())
    if len(frames) < 2:
        raise DurianInputError(f"cannot use video '{video.name}': it has a single frame (is it a still image?)")
    return replace(video, frames=np.stack(frames), stream=None, count=len(frames))


def video_has_audio(path: str | os.PathLike) -> bool:
    """Whether the file has an audio stream.

    Raises:
        DurianInputError: the file is missing, empty or not a media file ffmpeg can open.
    """
    source = existing_file(path, what="video", limits=MediaLimits())
    return probe(source, name=source.name).has_audio


def probe_video(path: str | os.PathLike) -> dict:
    """Describe a video file: ``fps`` (the rate its frames are read at), ``variable_rate`` (whether its frames come
    at a variable rate), ``frames`` (counted), ``duration`` (s), ``width``, ``height``, ``has_audio``, plus
    ``codec``, ``pix_fmt`` and ``audio_codec``.

    Raises:
        DurianInputError: the file is missing, empty or not a media file with a video stream.
    """
    source = existing_file(path, what="video", limits=MediaLimits())
    info = probe(source, name=source.name, count_frames=True)
    if not info.has_video:
        raise DurianInputError(f"cannot read video '{source.name}': the file has no video stream")
    timeline = info.timeline
    return {
        "fps": float(timeline.rate) if timeline is not None else info.fps,
        "variable_rate": timeline is not None and timeline.variable,
        "frames": info.frames,
        "duration": info.duration,
        "width": info.width,
        "height": info.height,
        "has_audio": info.has_audio,
        "codec": info.codec,
        "pix_fmt": info.pix_fmt,
        "audio_codec": info.audio_codec,
    }


class VideoWriter:
    """Frames in, one at a time, an H.264 / yuv420p mp4 that browsers play out, with the audio of ``audio_path``
    muxed in at the end (cut to the video's length). Memory does not grow with the number of frames.

    Odd frame sizes are padded by one edge pixel (yuv420p needs even sides). The file appears complete or not at
    all: it is written under a temporary name and renamed by :meth:`close`; leaving the ``with`` block through an
    exception discards it.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, audio_path: str | None = None) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be positive, got {fps}")
        self.target = Path(path)
        if self.target.suffix.lower() != ".mp4":
            raise ValueError(f"videos are written as .mp4, got {self.target.name}")
        self.fps = float(fps)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.audio = None
        if audio_path is not None:
            audio_source = existing_file(audio_path, what="audio", limits=MediaLimits())
            if not probe(audio_source, name=audio_source.name, what="audio").has_audio:
                raise DurianInputError(f"cannot read audio '{audio_source.name}': the file has no audio track")
            self.audio = audio_source
        self.count = 0
        self._shape: tuple[int, ...] | None = None
        self._encoder = None
        self._folder = tempfile.TemporaryDirectory(prefix=".durian-video-", dir=self.target.parent)
        self._video = Path(self._folder.name) / "video.mp4"

    def write(self, frame: np.ndarray) -> None:
        """Encode one RGB (or grayscale) uint8 frame; every frame must have the first one's size."""
        frame = np.asarray(frame)
        if self._shape is None:
            if not (frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] in (1, 3, 4))):
                raise ValueError(f"frames must be H×W or H×W×3, got shape {frame.shape}")
            self._shape = frame.shape
            height, width = frame.shape[:2]
            size = (width + width % 2, height + height % 2)
            self._encoder = imageio_ffmpeg.write_frames(
                str(self._video),
                size,
                fps=self.fps,
                codec="libx264",
                quality=None,
                macro_block_size=2,
                ffmpeg_log_level="error",
                output_params=["-crf", "18", "-preset", "veryfast"],
            )
            self._encoder.send(None)
        elif frame.shape != self._shape:
            raise ValueError(f"frame {self.count} has shape {frame.shape}, frame 0 has {self._shape}")
        rgb, _ = array_to_rgb_alpha(frame, name=f"frame {self.count}")
        height, width = rgb.shape[:2]
        if height % 2 or width % 2:
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        self._encoder.send(np.ascontiguousarray(rgb))
        self.count += 1

    def close(self) -> Path:
        """Finish the file: mux the audio in (or just make it start playing at once) and move it into place."""
        if self._encoder is None:
            self._folder.cleanup()
            raise ValueError("write_video needs at least one frame")
        self._encoder.close()
        self._encoder = None
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-nostdin", "-i", str(self._video)]
        if self.audio is not None:
            command += ["-t", f"{self.count / self.fps:.6f}", "-i", str(self.audio), "-map", "0:v:0", "-map", "1:a:0"]
            command += ["-c:v", "copy", "-c:a", "aac"]
        else:
            command += ["-c", "copy"]
        try:
            with atomic_target(self.target, suffix=".mp4") as temporary:
                done = subprocess.run(command + ["-movflags", "+faststart", temporary], capture_output=True)
                if done.returncode != 0:
                    reason = done.stderr.decode("utf-8", errors="replace").strip().splitlines()
                    raise DurianInputError(
                        f"cannot write '{self.target.name}': {reason[-1] if reason else 'ffmpeg failed'}"
                    )
        finally:
            self._folder.cleanup()
        return self.target

    def discard(self) -> None:
        if self._encoder is not None:
            self._encoder.close()
            self._encoder = None
        self._folder.cleanup()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is not None:
            self.discard()


def write_video(
    frames: np.ndarray | Sequence[np.ndarray] | Iterable[np.ndarray],
    path: str | os.PathLike,
    *,
    fps: float,
    audio_path: str | None = None,
) -> Path:
    """Write frames (an array, a list, or any iterable, consumed one by one) as an H.264 / yuv420p mp4 that
    browsers play, with the audio of ``audio_path`` when given (:class:`VideoWriter`).

    Raises:
        DurianInputError: ``audio_path`` cannot be read as audio.
        ValueError: no frames, frames of different sizes, or a non-positive ``fps``.
    """
    with VideoWriter(path, fps=fps, audio_path=audio_path) as writer:
        for frame in frames:
            writer.write(frame)
        return writer.close()
