"""Portrait videos → the training cache (:mod:`durian_core.training.store`).

Per video: decode, track the face's landmarks, crop a fixed square around the face with the durian engine's own
framing (side 2 × face size, so hair fits), keep the longest run of frames in which the face stays inside the crop,
then compute each attribute kind's mask with the face module and render keypoint maps. Videos without a face, too
short, or unreadable are recorded as skipped with the reason and do not stop the run; finished videos are not redone
when the command runs again, so an interrupted preprocess resumes.

Scaling out: ``workers`` processes on one machine take videos from one queue; ``shard=(k, n)`` takes only the k-th
of n slices of the videos (by a hash of each file's path under the videos folder, so every machine that sees the
same folder cuts the same slices), for one machine of n writing into a shared cache. A video's id is also made from
its path under the folder, so the same video has the same id on every machine. Run once more without a shard when
all are done: nothing is redone and the manifest then lists every video.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import multiprocessing
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from durian_core.config import ATTRIBUTE_KINDS, AttributeKind, FaceSettings, MediaLimits
from durian_core.errors import DurianInputError
from durian_core.training import store

logger = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")


@dataclass(frozen=True)
class PreprocessSettings:
    """How videos become training clips."""

    resolution: int = 512  # the model's resolution (64 for the tiny config)
    kinds: tuple[AttributeKind, ...] = ATTRIBUTE_KINDS  # attribute masks to compute
    fps: float | None = None  # resample to this frame rate (None: keep the source's)
    max_seconds: float = 60.0  # longer videos are cut
    max_frames: int = 300  # frames kept per video after resampling (disk: R²·3 bytes per frame and array)
    min_frames: int = 16  # fewer usable frames: skipped (stage 2 needs a clip)
    min_mask_fraction: float = 0.002  # a kind covering less of the crop in most frames is not listed for the video

    def __post_init__(self) -> None:
        unknown = [kind for kind in self.kinds if kind not in ATTRIBUTE_KINDS]
        if unknown or not self.kinds:
            raise DurianInputError(f"kinds must be among {ATTRIBUTE_KINDS}, got {self.kinds}")
        if self.resolution < 32 or self.resolution % 8:
            raise DurianInputError(f"resolution must be a multiple of 8 and at least 32, got {self.resolution}")
        if self.min_frames < 2 or self.max_frames < self.min_frames:
            raise DurianInputError(f"need 2 <= min_frames <= max_frames, got {self.min_frames}/{self.max_frames}")


@dataclass
class PreprocessReport:
    """What one run did."""

    written: list[str] = field(default_factory=list)  # video ids written now
    already_done: list[str] = field(default_factory=list)  # complete from an earlier run
    skipped: dict[str, str] = field(default_factory=dict)  # source file → reason
    manifest: store.Manifest | None = None


def video_id_for(path: Path, root: Path | None = None) -> str:
    """A stable, file-system-safe id: the file stem plus a short hash of its path under ``root`` (the videos folder;
    without one, of the full path), so two ``clip.mp4`` in different folders differ and a video keeps its id on
    every machine that mounts the folder."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", path.stem)[:40] or "video"
    name = path.resolve().relative_to(root.resolve()).as_posix() if root is not None else str(path.resolve())
    return f"{stem}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def parse_shard(text: str) -> tuple[int, int]:
    """``"k/n"`` → ``(k, n)``: slice ``k`` (counted from 0, as ``$SLURM_PROCID``) of ``n``."""
    index, separator, count = text.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        shard = None
    if not separator or shard is None or not 0 <= shard[0] < shard[1]:
        raise DurianInputError(f"--shard must look like k/n with 0 <= k < n (e.g. 0/4), got {text!r}")
    return shard


def in_shard(video_id: str, shard: tuple[int, int] | None) -> bool:
    """Whether a video belongs to slice ``shard`` (all do without one); the slices of ``n`` cover every video once."""
    if shard is None:
        return True
    index, count = shard
    return int(hashlib.sha1(video_id.encode()).hexdigest(), 16) % count == index


def find_videos(folder: str | Path) -> list[Path]:
    """Video files under ``folder`` (recursively), sorted."""
    root = Path(folder)
    if not root.is_dir():
        raise DurianInputError(f"--videos {folder} is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def _resample(frames: np.ndarray, fps: float, target: float | None) -> tuple[np.ndarray, float]:
    if target is None or target >= fps:
        return frames, fps
    times = np.arange(0.0, len(frames) / fps, 1.0 / target)
    indices = np.unique(np.minimum(np.round(times * fps).astype(int), len(frames) - 1))
    return frames[indices], float(target)


def _longest_inside_run(points: np.ndarray, size: int) -> slice:
    """The longest run of frames whose landmarks all lie inside the crop."""
    inside = ((points >= 0) & (points < size)).all(axis=(1, 2))
    best, start = slice(0, 0), None
    for index, good in enumerate(np.append(inside, False)):
        if good and start is None:
            start = index
        elif not good and start is not None:
            if index - start > best.stop - best.start:
                best = slice(start, index)
            start = None
    return best


def process_video(
    path: Path, settings: PreprocessSettings, *, limits: MediaLimits | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray, float]:
    """Crop, landmarks, masks and keypoint maps of one video: ``(frames, landmarks, masks, keypoints, fps)``.

    Raises :class:`DurianInputError` (or :class:`~durian_core.errors.NoFaceError`) for an unusable video.
    """
    from durian_core.face.attribute_masks import attribute_mask
    from durian_core.face.keypoints import render_keypoint_maps
    from durian_core.face.masks import person_mask
    from durian_core.face.tracking import track_landmarks
    from durian_core.media import load_video
    from durian_core.placement import face_crop

    limits = limits or MediaLimits(max_video_seconds=settings.max_seconds, max_video_side=1024)
    video = load_video(path, max_seconds=settings.max_seconds, limits=limits)
    frames, fps = _resample(video.frames, video.fps, settings.fps)
    frames = frames[: settings.max_frames]
    if len(frames) < settings.min_frames:
        raise DurianInputError(f"too short: {len(frames)} frames, need {settings.min_frames}")
    # The tracker tolerates some lost frames; a stricter limit keeps clips where the face is really there.
    landmarks = track_landmarks(frames, settings=FaceSettings(max_missing_fraction=0.2))
    size = settings.resolution
    crop = face_crop(np.median(landmarks, axis=0), size=size)
    cropped_points = np.stack([crop.points(points) for points in landmarks])
    run = _longest_inside_run(cropped_points, size)
    if run.stop - run.start < settings.min_frames:
        raise DurianInputError(
            f"the face leaves the crop: only {run.stop - run.start} consecutive frames stay inside, need "
            f"{settings.min_frames}"
        )
    crops = np.stack([crop.warp(frame) for frame in frames[run]])
    points = cropped_points[run].astype(np.float32)
    masks: dict[str, list[np.ndarray]] = {kind: [] for kind in settings.kinds}
    for image, frame_points in zip(crops, points):
        person = person_mask(image) if {"hair", "hat"} & set(settings.kinds) else None
        for kind in settings.kinds:
            masks[kind].append(attribute_mask(image, frame_points, kind, person=person))
    stacked = {kind: np.stack(values) for kind, values in masks.items()}
    present = {
        kind: mask for kind, mask in stacked.items() if np.median(mask.mean(axis=(1, 2))) >= settings.min_mask_fraction
    }
    if not present:
        raise DurianInputError(f"no attribute of {settings.kinds} is visible")
    keypoints = render_keypoint_maps(points, (size, size))
    return crops, points, present, keypoints, fps


def _preprocess_one(path: Path, video_id: str, out: Path, settings: PreprocessSettings) -> str | None:
    """Process one video into the cache; returns why it was skipped, or ``None`` when it was written."""
    try:
        frames, landmarks, masks, keypoints, fps = process_video(path, settings)
    except DurianInputError as error:  # NoFaceError included: unusable video, reported, not fatal
        logger.warning("skipping %s: %s", path, error)
        store.record_skip(out, video_id, f"{path}: {error}")
        return str(error)
    store.write_video(
        out,
        video_id,
        frames=frames,
        landmarks=landmarks,
        keypoints=keypoints,
        masks={kind: np.round(mask * 255).astype(np.uint8) for kind, mask in masks.items()},
        fps=fps,
        source=str(path),
    )
    return None


def preprocess_videos(
    videos: str | Path,
    out: str | Path,
    *,
    settings: PreprocessSettings = PreprocessSettings(),
    on_video: Callable[[int, int, str], None] | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
) -> PreprocessReport:
    """Preprocess every video under ``videos`` (or the ``shard`` slice of them) into the cache ``out``, in
    ``workers`` processes (resumable; skips with reasons)."""
    if workers < 1:
        raise DurianInputError(f"workers must be at least 1, got {workers}")
    root = Path(videos)
    paths = find_videos(root)
    if not paths:
        raise DurianInputError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {videos}")
    out = Path(out)
    if (out / store.MANIFEST_NAME).is_file():
        existing = store.read_manifest(out)
        if existing.resolution != settings.resolution:
            raise DurianInputError(
                f"{out} holds {existing.resolution} px videos; use another folder for {settings.resolution} px"
            )
    out.mkdir(parents=True, exist_ok=True)
    report = PreprocessReport()
    todo: list[tuple[Path, str]] = []
    for path in paths:
        video_id = video_id_for(path, root)
        if not in_shard(video_id, shard):
            continue
        if store.is_complete(out, video_id):
            report.already_done.append(video_id)
        elif store.was_skipped(out, video_id):
            report.skipped[str(path)] = "skipped by an earlier run"
        else:
            todo.append((path, video_id))
    for index, (path, video_id, reason) in enumerate(_run_all(todo, out, settings, workers=workers)):
        if on_video is not None:  # as each finishes: how many are done, of how many to do
            on_video(index + 1, len(todo), path.name)
        if reason is None:
            report.written.append(video_id)
            # Write the manifest as we go: an interrupted run leaves a usable cache of what it finished.
            store.write_manifest(out, resolution=settings.resolution)
        else:
            report.skipped[str(path)] = reason
    report.written.sort()
    report.manifest = store.write_manifest(out, resolution=settings.resolution)
    return report


def _run_all(todo: list[tuple[Path, str]], out: Path, settings: PreprocessSettings, *, workers: int):
    """Yield ``(path, video_id, skip reason or None)`` as videos finish, in this process or in ``workers``."""
    if workers == 1 or len(todo) < 2:
        for path, video_id in todo:
            yield path, video_id, _preprocess_one(path, video_id, out, settings)
        return
    # Fresh interpreters: MediaPipe's graphs and torch's threads do not survive a fork.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_preprocess_one, path, video_id, out, settings): (path, video_id) for path, video_id in todo
        }
        for future in concurrent.futures.as_completed(futures):
            path, video_id = futures[future]
            yield path, video_id, future.result()
