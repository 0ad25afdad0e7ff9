"""A video's faces followed frame to frame: the one landmark tracker every video, decoded or streamed, goes through.

:class:`LandmarkTracker` takes each frame's detections from a :class:`~durian_core.face.landmarks.FaceFollower`
(MediaPipe's tracking graph, one per stream), keeps the chosen face, holds its last landmarks over a few frames
where it is lost, and smooths the track over time; :func:`track_stream`, :func:`track_video` and
:func:`track_landmarks` run it over frames as they come, a decoded video, or a file.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from durian_core.config import FaceSettings
from durian_core.errors import DurianInputError, NoFaceError
from durian_core.face.landmarks import FaceFollower


def smoothing_radius(sigma: float) -> int:
    """Frames on each side that the temporal smoothing reads (0: no smoothing)."""
    return max(1, int(round(3 * sigma))) if sigma > 0 else 0


@dataclass
class FaceCount:
    """How many frames a tracker saw, and in how many of them it found no face (filled in as it tracks)."""

    frames: int = 0
    missing: int = 0


MAX_HELD_FRAMES = 30
"""Frames of a streamed driver held in memory while no face has shown yet; past this a video is tracked once
through first (landmarks only) and read again beside its landmarks (:func:`track_video`)."""


class LandmarkTracker:
    """The main face of a video, tracked frame by frame as the frames arrive: the one tracker of every driver.

    Two rules turn the detections into a track, and they are the same whether the video was decoded first
    (:func:`track_landmarks`) or streams from its file:

    * **Gaps.** A frame without a face is filled linearly between the last pose and the next face when that face
      comes back within ``lookahead`` frames; otherwise the last pose is held until it does. Frames before the
      first face take its pose, however many they are.
    * **Smoothing.** The filled track is smoothed along time with a Gaussian of ``settings.smoothing_sigma`` frames
      (``scipy.ndimage.gaussian_filter1d``, the track mirrored at its ends), which removes the detector's jitter on
      still faces and keeps mouth motion. Each frame comes out as soon as the frames it reads are known, so the
      result is exactly the filter run over the whole filled track.

    A video is usable when at most ``settings.max_missing_fraction`` of its frames show no face, wherever they are;
    given ``expected_frames`` the tracker refuses one as soon as that share is passed. A frame's landmarks come out
    at most ``lookahead`` + the smoothing radius frames after it went in, except before the first face, where
    frames wait for it (:attr:`waiting_for_face`).
    """

    def __init__(
        self, *, settings: FaceSettings = FaceSettings(), lookahead: int = 8, expected_frames: int | None = None
    ):
        self.settings = settings
        self.lookahead = lookahead
        self.radius = smoothing_radius(settings.smoothing_sigma)
        self.expected_frames = expected_frames
        self._follow = FaceFollower(settings)
        self._detected: deque[tuple[object, np.ndarray | None]] = deque()  # (item, detection or None), not filled
        self._waiting: deque[object] = deque()  # items filled but not smoothed yet
        self._filled: list[np.ndarray] = []  # filled poses: up to `radius` already emitted, then the waiting ones
        self._last: np.ndarray | None = None  # the last filled pose
        self.frames = 0
        self.missing = 0

    @property
    def waiting_for_face(self) -> int:
        """Frames held because no face has shown yet (their pose will be the first face's)."""
        return len(self._detected) if self._last is None else 0

    def push(self, frame: np.ndarray, item: object = None) -> list[tuple[object, np.ndarray]]:
        """Track one frame; returns the ``(item, landmarks)`` pairs that are settled now (``item`` defaults to the
        frame itself: whatever the caller needs back with the landmarks)."""
        return self.push_detection(self._follow(frame), frame if item is None else item)

    def push_detection(self, points: np.ndarray | None, item: object = None) -> list[tuple[object, np.ndarray]]:
        """Like :meth:`push` for a frame whose landmarks were detected already (``None``: no face in it)."""
        self.frames += 1
        self.missing += points is None
        if self.expected_frames and self.missing > self.settings.max_missing_fraction * self.expected_frames:
            raise NoFaceError(self._refusal(self.expected_frames))
        self._detected.append((item, None if points is None else np.asarray(points, np.float32)))
        self._fill(final=False)
        return self._smooth(final=False)

    def finish(self) -> list[tuple[object, np.ndarray]]:
        """The remaining pairs, once the video has ended; raises :class:`NoFaceError` when most frames had no
        face."""
        self.close()
        if self.frames and (
            self.frames == self.missing or self.missing / self.frames > self.settings.max_missing_fraction
        ):
            raise NoFaceError(self._refusal(self.frames))
        self._fill(final=True)
        return self._smooth(final=True)

    def count(self) -> FaceCount:
        """The frames seen so far, and those without a face."""
        return FaceCount(self.frames, self.missing)

    def _refusal(self, total: int) -> str:
        share = self.settings.max_missing_fraction
        return (
            f"no face found in {self.missing} of {total} driving frames (at most {share:.0%} may lack one): use a "
            "video where one face stays visible"
        )

    def close(self) -> None:
        """Release the face mesh (:meth:`finish` does; call it when a stream stops early)."""
        self._follow.close()

    def _fill(self, *, final: bool) -> None:
        """Move detections whose pose is decided (the gap rule) on to smoothing."""
        while self._detected:
            item, points = self._detected[0]
            if points is None:
                points = self._gap_pose(final=final)
                if points is None:
                    return  # undecided until more frames arrive
            self._detected.popleft()
            self._last = points
            self._filled.append(points)
            self._waiting.append(item)

    def _gap_pose(self, *, final: bool) -> np.ndarray | None:
        """The pose of the first waiting frame, which has no face, or None while it cannot be decided yet."""
        limit = None if self._last is None else self.lookahead + 1
        ahead = next(
            (index for index, (_, raw) in enumerate(itertools.islice(self._detected, limit)) if raw is not None),
            None,
        )
        if ahead is not None:
            found = self._detected[ahead][1]
            if self._last is None:
                return found  # before the first face: its pose
            return (self._last + (found - self._last) / (ahead + 1)).astype(np.float32)
        if self._last is not None and (final or len(self._detected) > self.lookahead):
            return self._last  # not back within the look-ahead: hold
        return None

    def _smooth(self, *, final: bool) -> list[tuple[object, np.ndarray]]:
        out = []
        sigma = self.settings.smoothing_sigma
        while self._waiting:
            # The frame's place in `_filled`: the poses before it are its context (fewer at the video's start).
            index = len(self._filled) - len(self._waiting)
            if not final and len(self._filled) - 1 - index < self.radius:
                break
            window = np.stack(self._filled[: index + self.radius + 1])
            if self.radius:
                window = gaussian_filter1d(window, sigma, axis=0, mode="mirror", radius=self.radius)
            out.append((self._waiting.popleft(), window[index].astype(np.float32)))
            del self._filled[: max(0, index + 1 - self.radius)]
        return out


def track_stream(
    frames: Iterable[np.ndarray],
    *,
    settings: FaceSettings = FaceSettings(),
    counts: FaceCount | None = None,
    frame_count: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(frame, landmarks)`` of each frame of a stream, in order, as soon as its landmarks are settled
    (:class:`LandmarkTracker`; frames before the first face wait for it in memory). ``counts`` is filled in with
    the frames seen and those without a face; ``frame_count``, when known, lets a video mostly without a face be
    refused as soon as that is certain. Raises :class:`NoFaceError` when the face is missing from most frames."""
    tracker = LandmarkTracker(settings=settings, expected_frames=frame_count)
    try:
        for frame in frames:
            yield from tracker.push(frame)
        yield from tracker.finish()
    finally:
        tracker.close()
        _report(tracker, counts)


def track_video(
    open_frames: Callable[[], Iterator[np.ndarray]],
    *,
    settings: FaceSettings = FaceSettings(),
    counts: FaceCount | None = None,
    frame_count: int | None = None,
    max_held: int = MAX_HELD_FRAMES,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """:func:`track_stream` for a video that can be read again (``open_frames`` starts a fresh read): a start
    longer than ``max_held`` frames without a face is not held in memory; the video is tracked once through for
    its landmarks alone, then read again beside them. Either way the landmarks are the same."""
    tracker = LandmarkTracker(settings=settings, expected_frames=frame_count)
    frames = open_frames()
    try:
        for frame in frames:
            yield from tracker.push(frame)
            if tracker.waiting_for_face > max_held:
                break
        else:
            yield from tracker.finish()
            return
    finally:
        tracker.close()
        _close(frames)
        _report(tracker, counts)
    landmarks = track_landmarks(open_frames(), settings=settings, counts=counts, frame_count=frame_count)
    frames = open_frames()
    try:
        yield from zip(frames, landmarks)
    finally:
        _close(frames)


def track_landmarks(
    frames: np.ndarray | Iterable[np.ndarray],
    *,
    settings: FaceSettings = FaceSettings(),
    counts: FaceCount | None = None,
    frame_count: int | None = None,
) -> np.ndarray:
    """Landmarks of the main face in every frame of a video, F×478×2 float32 in pixels; the frames (an F×H×W×3
    array, or any iterable of frames, read once) are not kept.

    The frames go through :class:`LandmarkTracker`, so a decoded video and the same video streamed from its file
    get the same landmarks. ``counts`` and ``frame_count`` are as for :func:`track_stream`. Raises
    :class:`NoFaceError` when most frames have no face.
    """
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
            raise DurianInputError(f"expected F×H×W×3 video frames, got shape {frames.shape}")
        frame_count = len(frames) if frame_count is None else frame_count
    tracker = LandmarkTracker(settings=settings, expected_frames=frame_count)
    found: dict[int, np.ndarray] = {}
    try:
        for index, frame in enumerate(frames):
            found.update(tracker.push(frame, index))
        found.update(tracker.finish())
    finally:
        tracker.close()
        _report(tracker, counts)
    if not found:
        raise DurianInputError("the video has no frames")
    return np.stack([found[index] for index in range(len(found))])


def _report(tracker: LandmarkTracker, counts: FaceCount | None) -> None:
    if counts is not None:
        counts.frames, counts.missing = tracker.frames, tracker.missing


def _close(frames: Iterator) -> None:
    close = getattr(frames, "close", None)  # a generator reading a file: its decoder stops now, not at collection
    if close is not None:
        close()
