"""What ffmpeg says about a media file: streams, size as displayed, frame rate, duration, frame count, when each
frame shows, and the most telling line of its error log, parsed from ``ffmpeg -i`` and its per-packet listing (no
ffprobe binary is bundled)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

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
    timeline: FrameTimeline | None = None  # only when counted, and when the packets carry timestamps


STANDARD_RATES = tuple(
    Fraction(rate)
    for rate in ("8", "10", "12", "12.5", "15", "20", "24000/1001", "24", "25", "30000/1001", "30", "48", "50")
    + ("60000/1001", "60", "90", "100", "120000/1001", "120", "240")
)
"""Frame rates cameras record at: a rate measured from millisecond timestamps (33, 33, 34 ms ...) snaps to one."""

MAX_VARIABLE_RATE = 60
"""A variable-rate video is sampled at the rate of its fastest stretch, but no faster: a burst of packets a
millisecond apart must not turn a phone clip into a 1000 fps one."""

STRAY = 0.25
"""A frame interval strays when it differs from the typical interval by more than this share of it."""

VARIABLE_SHARE = 0.01
"""A video's rate varies when more than this share of its intervals stray (a single dropped frame in a long clip
is no variable rate; the timestamps place it right either way)."""


@dataclass(frozen=True, eq=False)
class FrameTimeline:
    """When each frame of a video shows, from its packets' presentation timestamps: phones record at a variable
    rate, and a frame's moment, not its index, is what keeps motion and sound together."""

    starts: np.ndarray  # seconds from the first frame at which each frame starts showing, ascending (two or more)
    end: float  # seconds from the first frame at which the last one stops showing

    @property
    def rate(self) -> Fraction:
        """The constant rate to sample the timeline at: a steady video's own rate (its mean, which millisecond
        timestamps round about); for a variable one, the rate of its fastest stretch (the shortest interval but
        one in ten, at most :data:`MAX_VARIABLE_RATE`), so no motion is lost."""
        if not self.variable:
            return snap_rate((len(self.starts) - 1) / max(float(self.starts[-1]), 1e-6))
        quick = float(np.percentile(np.diff(self.starts), 10))
        rate = snap_rate(1.0 / quick) if quick > 0 else Fraction(MAX_VARIABLE_RATE)
        return min(rate, Fraction(MAX_VARIABLE_RATE))

    @property
    def variable(self) -> bool:
        """Whether the frames come at a variable rate: more than :data:`VARIABLE_SHARE` of the intervals stray from
        the typical (median) one."""
        intervals = np.diff(self.starts)
        typical = float(np.median(intervals))
        if typical <= 0:
            return True
        return bool(np.mean(np.abs(intervals / typical - 1.0) > STRAY) > VARIABLE_SHARE)

    @property
    def rate_range(self) -> tuple[float, float]:
        """The slowest and fastest rates the video keeps up for a while (frames per second, from the 90th and
        10th percentiles of its frame intervals)."""
        slow, quick = np.percentile(np.diff(self.starts), [90, 10])
        return 1.0 / max(float(slow), 1e-6), 1.0 / max(float(quick), 1e-6)

    def sample_count(self, seconds: float | None = None) -> int:
        """How many frames sampling at :attr:`rate` gives over the first ``seconds`` (default: the whole video)."""
        span = self.end if seconds is None else min(self.end, seconds)
        return max(1, int(round(span * self.rate)))


def snap_rate(rate: float) -> Fraction:
    """``rate`` as an exact fraction: the nearest standard camera rate within 1.5 % of it, or itself."""
    nearest = min(STANDARD_RATES, key=lambda standard: abs(rate / float(standard) - 1.0))
    if abs(rate / float(nearest) - 1.0) <= 0.015:
        return nearest
    return Fraction(rate).limit_denominator(1001)


_TIMEBASE_RE = re.compile(r"^#tb 0: (\d+)/(\d+)", re.MULTILINE)
_PACKET_RE = re.compile(r"^0,\s*(-?\d+),\s*(-?\d+),\s*(-?\d+),", re.MULTILINE)
_NO_TIMESTAMP = -(2**63)  # how ffmpeg lists a packet without a timestamp


def parse_packet_list(text: str) -> FrameTimeline | None:
    """The timeline of ffmpeg's ``framecrc`` listing of one video stream's packets, or None where the packets
    carry no usable timestamps (then the stream's declared rate is all there is)."""
    timebase = _TIMEBASE_RE.search(text)
    rows = _PACKET_RE.findall(text)
    if timebase is None or len(rows) < 2:
        return None
    tick = int(timebase.group(1)) / int(timebase.group(2))
    packets = np.array(rows, dtype=np.int64)
    shown = packets[:, 1]
    if (shown == _NO_TIMESTAMP).any():
        # MPEG program streams stamp only some packets; their decoding times are spaced as the frames are.
        shown = packets[:, 0]
        if (shown == _NO_TIMESTAMP).any():
            return None
    order = np.argsort(shown, kind="stable")
    shown = shown[order]
    if len(np.unique(shown)) < len(shown):
        return None  # two frames at one moment: the timestamps are not to be trusted
    starts = (shown - shown[0]) * tick
    last = packets[order[-1], 2] * tick
    if last <= 0:
        last = float(np.median(np.diff(starts)))
    return FrameTimeline(starts=starts, end=float(starts[-1] + last))


def probe(path: Path, *, name: str, what: str = "video", count_frames: bool = False) -> StreamInfo:
    """Run ``ffmpeg -i`` and parse what it prints; counting frames adds a pass that copies the video's packets
    (no decoding) and lists each one's timestamp, which gives the frame count and the :class:`FrameTimeline`."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    if count_frames:
        command += ["-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"]
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
    info = parse_ffmpeg_info(text, count_frames=count_frames)
    if count_frames and info.has_video:
        timeline = parse_packet_list(result.stdout.decode("utf-8", errors="replace"))
        info = replace(info, timeline=timeline)
    return info


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
