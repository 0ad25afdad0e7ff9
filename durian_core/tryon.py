"""A video as the portrait: every frame of the clip keeps its own face, mouth and motion and wears the attributes.

1. **Open** (:func:`open_portrait_video`): the clip is checked and streams; its reference frame is the first frame
   that shows the chosen face (faces are looked for a few times a second).
2. **Prepare**: the attributes are prepared against the reference frame as against a still portrait (masks,
   alignment, re-lighting: the editor's layers, :class:`~durian_core.wear.Wearer`), once.
3. **Hair only** (:func:`survey_clip`): one pass over the clip finds the old hair on a few key frames and builds
   the background plate from what the moving person leaves uncovered.
4. **Stream** (:func:`wear_video`): decoder → the chosen face tracked (the drivers' tracker: gaps bridged, the
   track smoothed along time) → the frame wearing the layers → encoder, with the clip's frame rate and audio.
   Memory does not grow with the clip's length.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from durian_core.cache import FeatureCache, content_key
from durian_core.config import FaceSettings, GenerationSettings, MediaLimits
from durian_core.errors import DurianInputError, NoFaceError
from durian_core.face import regions
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.fill import skull_region
from durian_core.face.landmarks import FaceFollower, choose_face, detect_faces
from durian_core.face.masks import person_mask
from durian_core.face.texture import continue_background
from durian_core.face.tracking import LandmarkTracker, smoothing_radius
from durian_core.media import open_video
from durian_core.old_hair import HairKey, OldHair, removal_alpha
from durian_core.placement import WorkCrop, work_crop
from durian_core.prepare import fit_longest
from durian_core.render import READ_AHEAD, Animation, FrameSink, driver_key, read_ahead
from durian_core.types import PortraitVideo, PreparedInputs, ProgressCallback, no_progress
from durian_core.wear import Presence, Wearer

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".wmv", ".flv", ".y4m"})
"""File endings read as a portrait video rather than a photo."""

CHECKS_PER_SECOND = 4
"""How often the opening frames are searched for the face until one shows it (static detection costs tens of ms)."""

SECONDS_PER_HAIR_KEY = 1.0
"""One key frame of the old hair per this many seconds of clip, between :data:`MIN_HAIR_KEYS` and
:data:`MAX_HAIR_KEYS` (each costs well under a second: landmarks, the hair's mask and the editor's removal)."""
MIN_HAIR_KEYS = 3
MAX_HAIR_KEYS = 16
PLATE_SAMPLES = 24
"""Frames, spread over the clip, whose background goes into the plate (each costs a person mask, ~15 ms)."""


def is_video_file(source: object) -> bool:
    """Whether ``source`` is a path to a video (by its ending), which a portrait then is."""
    return isinstance(source, str | os.PathLike) and Path(os.fspath(source)).suffix.lower() in VIDEO_SUFFIXES


def open_portrait_video(
    path: str | os.PathLike, *, settings: GenerationSettings = GenerationSettings()
) -> PortraitVideo:
    """A video ready to be the portrait: checked, cut to ``settings.max_seconds``, at most ``settings.output_size``
    on its longest side, its frames streaming; and its reference frame, the first showing face
    ``settings.face_index``.

    Raises:
        DurianInputError: the file cannot be read as a video, or no frame shows the face asked for.
    """
    limits = MediaLimits(max_video_side=settings.output_size)
    clip = open_video(path, max_seconds=settings.max_seconds, limits=limits)
    index, frame = reference_frame(clip.iter_frames(), fps=clip.fps, face=settings.face_index, name=clip.name)
    return PortraitVideo(clip=clip, reference_index=index, reference=frame)


def reference_frame(
    frames: Iterator[np.ndarray], *, fps: float, face: int = 0, name: str = ""
) -> tuple[int, np.ndarray]:
    """The index and pixels of the first frame (of those looked at, :data:`CHECKS_PER_SECOND`) with face ``face``."""
    step = max(1, int(round(fps / CHECKS_PER_SECOND)))
    fewer = 0  # the most faces seen on one frame, when fewer than asked for
    for index, frame in enumerate(frames):
        if index % step:
            continue
        try:
            faces = detect_faces(frame)
        except NoFaceError:
            continue
        if len(faces) > face:
            return index, np.ascontiguousarray(frame)
        fewer = max(fewer, len(faces))
    if fewer:
        shown = f"{fewer} face" + ("s" if fewer != 1 else "")
        raise DurianInputError(
            f"the portrait video '{name}' shows at most {shown} at once, so there is no face {face}: choose 0 (the "
            f"largest) to {fewer - 1}"
        )
    raise NoFaceError(f"no face found in the portrait video '{name}': use a clip where the face is clearly visible")


# ---------------------------------------------------------------------------------------------------- tracking


class ChosenFace:
    """Follows one person's face through a clip: the face nearest where it was last (starting from the reference
    frame's chosen face); a face far from there is someone else, and the chosen one counts as lost."""

    def __init__(self, start: np.ndarray, *, faces: int = 1, settings: FaceSettings = FaceSettings()) -> None:
        self.last = start.astype(np.float32)
        self.side = settings.detect_size
        self._follow = FaceFollower(settings, faces=faces)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The chosen face's landmarks in ``frame`` (its pixels), or None when it is not there."""
        small = fit_longest(frame, self.side)
        found = self._follow.all_faces(np.ascontiguousarray(small))
        if not found:
            return None
        scale = np.array([frame.shape[1] / small.shape[1], frame.shape[0] / small.shape[0]], np.float32)
        centre = self.last.mean(axis=0)
        nearest = min((face * scale for face in found), key=lambda face: np.linalg.norm(face.mean(axis=0) - centre))
        if np.linalg.norm(nearest.mean(axis=0) - centre) > 0.75 * regions.face_size(self.last):
            return None
        self.last = nearest
        return nearest

    def close(self) -> None:
        self._follow.close()


@dataclass(frozen=True)
class TrackedFrame:
    """One frame of a portrait video, its chosen face's smoothed landmarks and how fully it wears the attributes."""

    index: int
    frame: np.ndarray
    landmarks: np.ndarray | None  # None before the face is first seen
    visibility: float
    head: np.ndarray | None = None  # the landmarks that place the rigid layers (steady_heads)


HEAD_SIGMA = 2.0
"""Frames over which the rigid layers' placement (glasses, hats, hair) is smoothed on top of the tracker's own
smoothing (:func:`steady_heads`). Measured on the talking-face clip at 512² wearing glasses: the frame-to-frame change
around the eyes is 11.9 levels with the tracker's smoothing alone, 11.1 with this (the clip's own: 6.4); the glasses
then stand off the eyes the face mesh finds by 1.9 pixels on average (0.6 without), where 3 frames would make it
2.8 pixels, visibly sliding on quick turns."""


def steady_heads(frames: Iterator[TrackedFrame], *, sigma: float = HEAD_SIGMA) -> Iterator[TrackedFrame]:
    """``frames`` with their ``head``: the tracked landmarks smoothed along time once more, with a Gaussian of
    ``sigma`` frames over the run of frames with a face around each (centred, so the layers do not lag behind the
    head), a few frames behind. A rim trembling by a pixel over an eye shows far more than a lip doing so."""
    radius = smoothing_radius(sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(sigma, 1e-6)) ** 2)
    run: list[TrackedFrame] = []  # consecutive frames with landmarks: up to `radius` emitted ones, then the others

    def steadied(position: int) -> TrackedFrame:
        low, high = max(0, position - radius), min(len(run), position + radius + 1)
        weights = kernel[low - position + radius : high - position + radius]
        stack = np.stack([run[index].landmarks for index in range(low, high)])
        head = np.tensordot(weights / weights.sum(), stack, axes=1).astype(np.float32)
        return replace(run[position], head=head)

    emitted = 0
    for item in frames:
        if item.landmarks is None:
            yield from (steadied(position) for position in range(emitted, len(run)))
            run, emitted = [], 0
            yield item
            continue
        run.append(item)
        while emitted < len(run) - radius:
            yield steadied(emitted)
            emitted += 1
            if emitted > radius:
                run.pop(0)
                emitted -= 1
    yield from (steadied(position) for position in range(emitted, len(run)))


def track_portrait(
    video: PortraitVideo, start: np.ndarray, *, faces: int = 1, settings: FaceSettings = FaceSettings()
) -> Iterator[TrackedFrame]:
    """Every frame of the clip in order, with its chosen face tracked as drivers are (:class:`LandmarkTracker`: gaps
    bridged or held, the track smoothed along time) and its visibility (:class:`~durian_core.wear.Presence`: a lost
    face holds its last placement, then fades out).

    Frames before the face is first followed pass through with nothing to wear (those well before the reference
    frame, where no face was found, are not even looked at), so the tracker holds a few frames in memory whatever
    the clip.

    Raises:
        NoFaceError: the face mesh follows the face on no frame at all.
    """
    clip = video.clip
    begin = max(0, video.reference_index - max(1, int(round(clip.fps / CHECKS_PER_SECOND))) + 1)
    follow = ChosenFace(start, faces=faces, settings=settings)
    # Any share of frames may lack the face (a person walking in and out): only a clip where it is never followed is
    # refused.
    tracker = LandmarkTracker(settings=FaceSettings(max_missing_fraction=1.0))
    presence = Presence()
    followed = False
    try:
        for index, frame in enumerate(clip.iter_frames()):
            points = follow(frame) if index >= begin else None
            followed = followed or points is not None
            if not followed:
                yield TrackedFrame(index, frame, None, 0.0)
                continue
            for (number, image, seen), landmarks in tracker.push_detection(points, (index, frame, points is not None)):
                yield TrackedFrame(number, image, landmarks, presence(seen, number / clip.fps))
        if not followed:
            raise NoFaceError(
                f"no face can be followed in the portrait video '{clip.name}' (one showed at frame "
                f"{video.reference_index} only): use a clip where the face stays clearly visible"
            )
        for (number, image, seen), landmarks in tracker.finish():
            yield TrackedFrame(number, image, landmarks, presence(seen, number / clip.fps))
    finally:
        follow.close()
        tracker.close()


# --------------------------------------------------------------------------------------------------- old hair


def _hair_key(
    frame: np.ndarray, landmarks: np.ndarray, index: int, *, work_size: int, cache: FeatureCache
) -> tuple[HairKey, WorkCrop, np.ndarray]:
    """The old hair of one key frame (its removal mask, in a crop around the face), the crop, and the hair's mask."""
    placement = work_crop(landmarks, frame.shape[1::-1], work_size=work_size)
    crop = placement.cut(frame)
    crop_landmarks = placement.to_work(landmarks)
    own = cache.get_or_compute(
        "masks", content_key(content_key(crop), "hair"), lambda: attribute_mask(crop, crop_landmarks, "hair")
    )
    return HairKey(index, crop_landmarks, removal_alpha(crop, own, crop_landmarks)), placement, own


def _to_frame(mask: np.ndarray, placement: WorkCrop) -> np.ndarray:
    """A crop's mask at its place in the full frame (zero elsewhere)."""
    width, height = placement.full_size
    full = np.zeros((height, width), np.float32)
    size = (placement.x1 - placement.x0, placement.y1 - placement.y0)
    full[placement.y0 : placement.y1, placement.x0 : placement.x1] = cv2.resize(
        mask, size, interpolation=cv2.INTER_LINEAR
    )
    return full


def _nearest_face(frame: np.ndarray, centre: np.ndarray, size: float) -> np.ndarray | None:
    try:
        faces = detect_faces(frame)
    except NoFaceError:
        return None
    nearest = min(faces, key=lambda face: np.linalg.norm(face.mean(axis=0) - centre))
    return nearest if np.linalg.norm(nearest.mean(axis=0) - centre) < 1.5 * size else None


def survey_clip(
    video: PortraitVideo,
    reference_landmarks: np.ndarray,
    *,
    work_size: int,
    cache: FeatureCache,
    progress: ProgressCallback = no_progress,
) -> OldHair:
    """One pass over the clip: the old hair on a few key frames (spread over the clip, the reference frame among
    them) and the background plate, the mean of the frames' pixels where no person was (widened around the person
    and the hair), spread over the clip. Behind a person who never moves away the plate is continued from the
    background around it, once for the whole clip.
    """
    clip = video.clip
    count = max(1, clip.frame_count)
    wanted = int(np.clip(np.ceil(clip.seconds / SECONDS_PER_HAIR_KEY), MIN_HAIR_KEYS, MAX_HAIR_KEYS))
    keys_at = {int(round(i)) for i in np.linspace(0, count - 1, wanted)} | {video.reference_index}
    plate_at = {int(round(i)) for i in np.linspace(0, count - 1, PLATE_SAMPLES)} | keys_at
    size = regions.face_size(reference_landmarks)
    centre = reference_landmarks.mean(axis=0)
    total = weight = None
    keys = []
    for index, frame in enumerate(clip.iter_frames()):
        if index not in plate_at:
            continue
        if total is None:
            total = np.zeros(frame.shape, np.float32)
            weight = np.zeros(frame.shape[:2], np.float32)
        person = person_mask(frame) > 0.2
        landmarks = reference_landmarks if index == video.reference_index else None
        if index in keys_at:
            landmarks = landmarks if landmarks is not None else _nearest_face(frame, centre, size)
            if landmarks is not None:
                key, placement, own = _hair_key(frame, landmarks, index, work_size=work_size, cache=cache)
                keys.append(key)
                person |= _to_frame(own, placement) > 0.1
                person |= skull_region(landmarks, frame.shape[:2]) > 0.5
        # The person's outline and the hair's loose ends are not background.
        background = ~(cv2.dilate(person.astype(np.uint8), _disc(0.08 * size)) > 0)
        total += frame * background[..., None]
        weight += background
        progress(index / count, f"looking for the old hair and the background: frame {index + 1} of {count}")
    if total is None or not keys:
        raise NoFaceError(f"no face found in the portrait video '{clip.name}': use a clip where the face is visible")
    seen = weight > 0
    plate = (total / np.maximum(weight, 1.0)[..., None]).astype(np.uint8)
    if seen.sum() >= 16 and not seen.all():
        plate = continue_background(plate, seen, ~seen, size=size)
    return OldHair(tuple(sorted(keys, key=lambda key: key.index)), plate)


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


# ----------------------------------------------------------------------------------------------------- wearing


def reference_faces(video: PortraitVideo, cache: FeatureCache) -> list[np.ndarray]:
    """Every face of the reference frame, largest first (shared through the cache with preparing the inputs)."""
    return cache.get_or_compute("faces", content_key(video.reference), lambda: detect_faces(video.reference))


def wear_video(
    prepared: PreparedInputs,
    video: PortraitVideo,
    settings: GenerationSettings,
    *,
    cache: FeatureCache,
    output: str | os.PathLike | None = None,
    progress: ProgressCallback = no_progress,
) -> Animation:
    """Every frame of ``video`` wearing the prepared attributes (``prepared`` from its reference frame), written to
    ``output`` (an ``.mp4`` with the clip's audio) as they are made, or kept in memory without it."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    faces = reference_faces(video, cache)
    chosen = choose_face(faces, settings.face_index)
    old_hair = None
    if any(a.kind == "hair" and a.weight > 0 and not a.from_portrait for a in prepared.attributes):
        survey_key = content_key(driver_key(video.clip), chosen, settings.work_size)
        old_hair = cache.get_or_compute(
            "survey",
            survey_key,
            lambda: survey_clip(video, chosen, work_size=settings.work_size, cache=cache, progress=progress),
        )
        timings["survey"] = time.perf_counter() - start
    started = time.perf_counter()
    wearer = Wearer.build(prepared, old_hair=old_hair)
    timings["layers"] = time.perf_counter() - started
    clip = video.clip
    total = max(1, clip.frame_count)
    report_every = max(1, total // 50)
    sink = FrameSink(output, fps=clip.fps, audio_path=clip.audio_path)
    started = time.perf_counter()
    with sink:
        tracked = steady_heads(track_portrait(video, chosen, faces=min(4, len(faces))))
        for item in read_ahead(tracked, depth=READ_AHEAD):
            frame = item.frame
            if item.landmarks is not None and item.visibility > 0:
                frame = wearer(frame, item.landmarks, head=item.head, index=item.index, visibility=item.visibility)
            sink.write(frame)
            done = sink.count
            if done % report_every == 0 or done == total:
                progress(min(done / total, 1.0), f"wearing frame {done} of {total}")
        frames, path = sink.finish()
    timings["wear"] = time.perf_counter() - started - sink.seconds
    if sink.writer is not None:
        timings["encode"] = sink.seconds
    return Animation(frames=frames, path=path, frame_count=sink.count, timings=timings)
