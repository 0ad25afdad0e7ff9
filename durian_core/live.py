"""Live driving: a camera's frames move the edited portrait as they arrive, one frame in, one frame out.

There are no future frames to smooth with, so the live landmarks go through a One-Euro filter (Casiez et al.,
CHI 2012: a low-pass whose cut-off rises with speed, so a still face stops trembling and a fast turn does not lag).
Motion is relative to a neutral pose: the first frame with a face, or whichever frame the user marks. A frame
without a face holds the last pose. The edit and the head rig come from the cache the main page filled, so
starting live recomputes no masks or layers.

The mirror (:class:`MirrorAnimator`) turns it around: the camera's frame is the portrait, and it wears the
attributes, placed by the camera face's landmarks each frame.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from durian_core.cache import FeatureCache
from durian_core.config import FaceSettings, GenerationSettings
from durian_core.errors import DurianInputError
from durian_core.face.landmarks import FaceFollower
from durian_core.face.motion import Retargeter
from durian_core.prepare import fit_longest, prepare_inputs
from durian_core.types import AttributeReference, GenerateRequest, Interpolation
from durian_core.wear import Presence, Wearer


@dataclass(frozen=True)
class LiveSettings:
    """How live driving behaves; the app reads its limits from the environment (see the README)."""

    min_cutoff_hz: float = 1.5  # One-Euro cut-off of a still face: lower trembles less, lags more
    beta: float = 0.02  # how fast the cut-off rises with speed (per pixel/s): higher lags less on fast moves
    derivative_cutoff_hz: float = 1.0  # cut-off of the speed estimate itself
    max_side: int = 640  # camera frames are shrunk to this longest side before landmarks (speed; MediaPipe's input)


class OneEuroFilter:
    """One-Euro filtering of an array of coordinates (any shape), each coordinate filtered on its own."""

    def __init__(self, *, min_cutoff_hz: float, beta: float, derivative_cutoff_hz: float) -> None:
        self.min_cutoff = float(min_cutoff_hz)
        self.beta = float(beta)
        self.derivative_cutoff = float(derivative_cutoff_hz)
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._time: float | None = None

    @staticmethod
    def _smoothing(cutoff: np.ndarray | float, elapsed: float) -> np.ndarray | float:
        """The exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz over ``elapsed`` s."""
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / elapsed)

    def reset(self) -> None:
        self._value = self._speed = self._time = None

    def __call__(self, value: np.ndarray, timestamp: float) -> np.ndarray:
        value = np.asarray(value, np.float32)
        if self._value is None or self._time is None or timestamp <= self._time:
            self._value, self._speed, self._time = value.copy(), np.zeros_like(value), timestamp
            return value
        elapsed = timestamp - self._time
        speed = (value - self._value) / elapsed
        self._speed = self._speed + self._smoothing(self.derivative_cutoff, elapsed) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed)
        self._value = self._value + self._smoothing(cutoff, elapsed) * (value - self._value)
        self._time = timestamp
        return self._value.astype(np.float32)


class LiveAnimator:
    """One live session: camera frames in, frames of the edited portrait out (the work crop around its face).

    ``render`` is an engine's renderer (:meth:`ClassicalEngine.renderer`): retargeted landmarks, the camera
    frame and its landmarks (for the mouth's inside) to a frame. Calls are serialised: a session's frames are
    handled one at a time, in order.
    """

    def __init__(
        self,
        render: Callable[..., np.ndarray],
        portrait_landmarks: np.ndarray,
        *,
        multiplier: float = 1.0,
        settings: LiveSettings = LiveSettings(),
        face: FaceSettings = FaceSettings(),
    ) -> None:
        self.render = render
        self.settings = settings
        self._portrait_landmarks = portrait_landmarks.astype(np.float32)
        self._multiplier = multiplier
        self._retarget = Retargeter(self._portrait_landmarks, multiplier=multiplier)
        self._filter = OneEuroFilter(
            min_cutoff_hz=settings.min_cutoff_hz,
            beta=settings.beta,
            derivative_cutoff_hz=settings.derivative_cutoff_hz,
        )
        # The drivers' detection step; the One-Euro filter stands in for their smoothing, which needs look-ahead.
        self._follow = FaceFollower(face)
        self._lock = threading.Lock()
        self._last: np.ndarray | None = None  # the last output frame
        self._last_landmarks: np.ndarray | None = None  # the last camera landmarks (filtered), held on a lost face
        self.frames = 0
        self.faces = 0
        self.seconds: deque[float] = deque(maxlen=300)  # server time per frame, the latest ones

    def set_neutral(self) -> None:
        """Make the next frame with a face the neutral pose: motion is measured from it."""
        with self._lock:
            self._retarget = Retargeter(self._portrait_landmarks, multiplier=self._multiplier)
            self._filter.reset()

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> np.ndarray:
        """The portrait moving like the face in ``frame`` (H×W×3 uint8 RGB) at ``timestamp`` seconds."""
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise DurianInputError(f"expected an H×W×3 uint8 camera frame, got {frame.dtype} {frame.shape}")
        start = time.perf_counter()
        timestamp = time.monotonic() if timestamp is None else timestamp
        with self._lock:
            small = np.ascontiguousarray(fit_longest(frame[..., :3], self.settings.max_side))
            landmarks = self._follow(small)
            self.frames += 1
            if landmarks is not None:
                self.faces += 1
                landmarks = self._filter(landmarks, timestamp)
                self._last_landmarks = landmarks
                self._last = self.render(self._retarget(landmarks), small, landmarks)
            elif self._last is None:
                self._last = self.render(self._portrait_landmarks)  # no face yet: the edit as it stands
            # A lost face holds the last pose (the last frame as it was).
            self.seconds.append(time.perf_counter() - start)
            return self._last

    def timing(self) -> dict[str, float]:
        """Server time per frame over the latest frames: median and 95th percentile in milliseconds."""
        return _timing(self.seconds)

    def close(self) -> None:
        with self._lock:
            self._follow.close()


class MirrorAnimator:
    """Live's mirror: each camera frame itself wearing prepared attributes, one frame in, one frame out.

    The attributes are prepared against the first camera frame with a face (as against a still portrait: masks,
    alignment, re-lighting, the editor's layers), once; every frame then places them by its own face's landmarks
    (One-Euro filtered, as live driving filters them) (:class:`~durian_core.wear.Wearer`). Hair is the slowest
    kind: the camera's own hair is found on that first frame only and carried with the head, and what the new hair
    does not cover is filled from that frame. A lost face keeps the last placement for a moment, then the attributes
    fade out. :meth:`set_neutral` prepares again on the next frame with a face (a new hairstyle in view, new
    light). Calls are serialised.
    """

    def __init__(
        self,
        attributes: Sequence[AttributeReference],
        *,
        interpolation: Interpolation | None = None,
        settings: GenerationSettings = GenerationSettings(),
        live: LiveSettings = LiveSettings(),
        face: FaceSettings = FaceSettings(),
        cache: FeatureCache | None = None,
    ) -> None:
        if not attributes:
            raise DurianInputError("the mirror needs at least one attribute to wear")
        self.attributes = tuple(attributes)
        self.interpolation = interpolation
        self.settings = replace(settings, face_index=0, engine="classical")
        self.live = live
        self.cache = cache if cache is not None else FeatureCache()
        self._filter = OneEuroFilter(
            min_cutoff_hz=live.min_cutoff_hz, beta=live.beta, derivative_cutoff_hz=live.derivative_cutoff_hz
        )
        self._follow = FaceFollower(face)
        self._presence = Presence()
        self._wearer: Wearer | None = None
        self._last_landmarks: np.ndarray | None = None  # the last camera landmarks (filtered), held on a lost face
        self._lock = threading.Lock()
        self.frames = 0
        self.faces = 0
        self.seconds: deque[float] = deque(maxlen=300)  # server time per frame, the latest ones
        self.prepare_seconds = 0.0  # the last preparation's time (the frame it happened on took that much longer)

    def set_neutral(self) -> None:
        """Prepare the attributes again on the next frame with a face."""
        with self._lock:
            self._wearer = None
            self._filter.reset()

    def _prepare(self, frame: np.ndarray) -> Wearer:
        start = time.perf_counter()
        request = GenerateRequest(frame, self.attributes, interpolation=self.interpolation, settings=self.settings)
        wearer = Wearer.build(prepare_inputs(request, cache=self.cache))
        self.prepare_seconds = time.perf_counter() - start
        return wearer

    def __call__(self, frame: np.ndarray, timestamp: float | None = None) -> np.ndarray:
        """``frame`` (H×W×3 uint8 RGB, shrunk to ``max_side``) wearing the attributes, at ``timestamp`` seconds."""
        if frame.ndim != 3 or frame.shape[2] not in (3, 4) or frame.dtype != np.uint8:
            raise DurianInputError(f"expected an H×W×3 uint8 camera frame, got {frame.dtype} {frame.shape}")
        start = time.perf_counter()
        timestamp = time.monotonic() if timestamp is None else timestamp
        with self._lock:
            small = np.ascontiguousarray(fit_longest(frame[..., :3], self.live.max_side))
            landmarks = self._follow(small)
            self.frames += 1
            if landmarks is not None:
                self.faces += 1
                landmarks = self._filter(landmarks, timestamp)
                self._last_landmarks = landmarks
                if self._wearer is None:
                    self._wearer = self._prepare(small)
            visibility = self._presence(landmarks is not None, timestamp)
            out = small
            if self._wearer is not None and self._last_landmarks is not None and visibility > 0:
                out = self._wearer(small, self._last_landmarks, visibility=visibility)
            self.seconds.append(time.perf_counter() - start)
            return out

    def timing(self) -> dict[str, float]:
        """Server time per frame over the latest frames: median and 95th percentile in milliseconds."""
        return _timing(self.seconds)

    def close(self) -> None:
        with self._lock:
            self._follow.close()


def _timing(seconds: deque[float]) -> dict[str, float]:
    if not seconds:
        return {"median_ms": 0.0, "p95_ms": 0.0}
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(math.ceil(0.95 * len(ordered))) - 1)]
    return {"median_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * p95}
