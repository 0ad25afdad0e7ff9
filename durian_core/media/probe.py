"""What ffmpeg says about a media file: streams, size as displayed, frame rate, duration, frame count, and the
most telling line of its error log, parsed from ``ffmpeg -i`` (no ffprobe binary is bundled)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from durian_core.errors import DurianInputError
from durian_core.media.files import looks_like_text

PROBE_TIMEOUT_S = 60.0  # ffmpeg answers in milliseconds on real files; this only bounds pathological input


@dataclass(frozen=True)
class StreamInfo:
    """What ``ffmpeg -i`` says about a file's first video and audio streams."""

    has_video: bool
    width: int  # as displayed, after the rotation ffmpeg applies while decoding
    height: int
    fps: float
    duration: float | None
    codec: str | None
    pix_fmt: str | None
    has_audio: bool
    audio_codec: str | None
    frames: int | None = None  # only when counted
    partial: bool = False  # only when counted: the data ends before the index says it should


def probe(path: Path, *, name: str, what: str = "video", count_frames: bool = False) -> StreamInfo:
    """Run ``ffmpeg -i`` (with a copy-to-null pass when counting frames) and parse what it prints."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    if count_frames:
        command += ["-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    try:
        result = subprocess.run(command, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise DurianInputError(
            f"cannot read {what} '{name}': ffmpeg did not finish within {PROBE_TIMEOUT_S:g} s"
        ) from exc
    text = result.stderr.decode("utf-8", errors="replace")
    if "Input #0" not in text:
        with path.open("rb") as handle:
            head = handle.read(512)
        raise DurianInputError(f"cannot read {what} '{name}': {ffmpeg_reason(text, head=head, what=what)}")
    return parse_ffmpeg_info(text, count_frames=count_frames)


_DURATION_RE = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM_RE = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): (.*)$", re.MULTILINE)
_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees|rotate\s*:\s*(-?\d+)")
_FRAME_COUNT_RE = re.compile(r"frame=\s*(\d+)")


def parse_ffmpeg_info(text: str, *, count_frames: bool) -> StreamInfo:
    duration_match = _DURATION_RE.search(text)
    duration = None
    if duration_match:
        hours, minutes, seconds = duration_match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    video: list[str] | None = None
    video_at = 0
    audio_codec = None
    has_audio = False
    for match in _STREAM_RE.finditer(text):
        kind, description = match.groups()
        parts = _split_top_level(description)
        if kind == "Video" and video is None and "attached pic" not in description:
            video, video_at = parts, match.end()
        elif kind == "Audio" and not has_audio:
            has_audio, audio_codec = True, parts[0].split()[0] if parts and parts[0] else None
    if video is None:
        return StreamInfo(False, 0, 0, 0.0, duration, None, None, has_audio, audio_codec)
    codec = video[0].split()[0] if video[0] else None
    pix_fmt = None
    width = height = 0
    fps = tbr = 0.0
    for part in video[1:]:
        size = re.match(r"(\d+)x(\d+)", part)
        if size and not width:
            width, height = int(size.group(1)), int(size.group(2))
        elif part.endswith(" fps"):
            fps = _ffmpeg_number(part[:-4])
        elif part.endswith(" tbr"):
            tbr = _ffmpeg_number(part[:-4])
        elif pix_fmt is None and not width and re.match(r"[a-z0-9_]+", part):
            pix_fmt = re.match(r"[a-z0-9_]+", part).group(0)
    # Rotation side data follows the stream line; ffmpeg rotates while decoding, so ±90° swaps the sides.
    next_stream = text.find("Stream #", video_at)
    stream_block = text[video_at : next_stream if next_stream >= 0 else len(text)]
    rotation = _ROTATION_RE.search(stream_block)
    if rotation and round(abs(float(rotation.group(1) or rotation.group(2)))) % 180 == 90:
        width, height = height, width
    frames = None
    if count_frames:
        counts = _FRAME_COUNT_RE.findall(text)
        frames = int(counts[-1]) if counts else None
    partial = count_frames and "partial file" in text
    return StreamInfo(
        True, width, height, fps or tbr, duration, codec, pix_fmt, has_audio, audio_codec, frames, partial
    )


def _split_top_level(description: str) -> list[str]:
    """Split on commas outside parentheses: ``yuv420p(tv, bt709)`` stays one part."""
    parts, depth, current = [], 0, []
    for char in description:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return parts


def _ffmpeg_number(text: str) -> float:
    text = text.strip()
    factor = 1000.0 if text.endswith("k") else 1.0
    try:
        return float(text.rstrip("k")) * factor
    except ValueError:
        return 0.0


def ffmpeg_reason(text: str, *, head: bytes = b"", what: str = "video") -> str:
    """The most telling line of an ffmpeg error log, in a form fit for a user."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any("moov atom not found" in line for line in lines) and head[4:8] in _MP4_BOX_TYPES:
        return "the file is incomplete (its index is missing; was the upload or recording cut short?)"
    if looks_like_text(head):
        return f"it is a text file, not a {what}"
    if any("Invalid data found" in line or "moov atom not found" in line for line in lines):
        return f"not a {what} format ffmpeg can read (invalid data)"
    for line in reversed(lines):
        if not line.startswith("===") and "At least one output file" not in line:
            return re.sub(r"^\[[^\]]*\]\s*", "", line)[:200]
    return "ffmpeg could not decode it"


_MP4_BOX_TYPES = (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot")
"""The top-level boxes an mp4/mov file starts with: such a file without an index was cut short, not garbage."""
