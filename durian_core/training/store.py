"""The training cache on disk: what ``preprocess`` and the toy generator write, and what the training loop reads.

Layout (one folder per video, plain ``.npy`` arrays so the loop memory-maps them and decodes no video)::

    CACHE/
      manifest.json                 resolution, the usable videos and the skipped ones (with reasons)
      videos/<id>/frames.npy        F×R×R×3 uint8, the face crop aligned to the training resolution R
      videos/<id>/landmarks.npy     F×478×2 float32, pixels of the crop (MediaPipe face-mesh topology)
      videos/<id>/keypoints.npy     F×R×R×3 uint8, keypoint maps (``durian_core.face.keypoints``)
      videos/<id>/mask_<kind>.npy   F×R×R uint8 (0-255), one per attribute kind found in the video
      videos/<id>/meta.json         written last: its presence marks the video as complete
      expansions/<id>/mask_<kind>.npy   optional F×R×R uint8 generated expansion masks, united with the
                                        portrait mask during training (the paper's generated larger masks)
      skipped/<name>.json           why a source video was not used (kept so a resumed run does not retry it)

A video folder is written under a temporary name and renamed into place, so an interrupted preprocess leaves no
half-written video behind and a second run resumes where the first stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from durian_core.errors import DurianInputError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class VideoRecord:
    """One preprocessed video, as listed in the manifest."""

    video_id: str
    num_frames: int
    fps: float
    kinds: tuple[str, ...]  # attribute kinds with a mask
    source: str = ""  # the file it came from ("toy" for generated videos)


@dataclass(frozen=True)
class Manifest:
    """The cache's table of contents."""

    resolution: int
    videos: tuple[VideoRecord, ...]
    skipped: tuple[dict, ...] = field(default=())


@dataclass(frozen=True, eq=False)
class VideoArrays:
    """Memory-mapped arrays of one video; indexing reads only the frames asked for."""

    record: VideoRecord
    frames: np.ndarray
    landmarks: np.ndarray
    keypoints: np.ndarray
    masks: dict[str, np.ndarray]
    expansions: dict[str, np.ndarray]


def video_dir(root: str | Path, video_id: str) -> Path:
    """The folder of one video inside a cache."""
    return Path(root) / "videos" / video_id


def is_complete(root: str | Path, video_id: str) -> bool:
    """Whether a video has been fully written (a resumed preprocess skips it)."""
    return (video_dir(root, video_id) / "meta.json").is_file()


def write_video(
    root: str | Path,
    video_id: str,
    *,
    frames: np.ndarray,
    landmarks: np.ndarray,
    keypoints: np.ndarray,
    masks: dict[str, np.ndarray],
    fps: float,
    source: str = "",
) -> VideoRecord:
    """Write one video's arrays atomically (temporary folder, then rename)."""
    count, height, width = frames.shape[:3]
    if frames.dtype != np.uint8 or frames.ndim != 4 or height != width:
        raise DurianInputError(f"frames must be F×R×R×3 uint8, got {frames.shape} {frames.dtype}")
    if landmarks.shape[0] != count or keypoints.shape[:3] != frames.shape[:3]:
        raise DurianInputError(f"landmarks {landmarks.shape} and keypoints {keypoints.shape} must match frames")
    final = video_dir(root, video_id)
    partial = final.with_name(final.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    np.save(partial / "frames.npy", np.ascontiguousarray(frames))
    np.save(partial / "landmarks.npy", landmarks.astype(np.float32))
    np.save(partial / "keypoints.npy", np.ascontiguousarray(keypoints, dtype=np.uint8))
    for kind, mask in masks.items():
        if mask.shape != frames.shape[:3]:
            raise DurianInputError(f"mask {kind!r} is {mask.shape}, frames are {frames.shape[:3]}")
        stored = mask if mask.dtype == np.uint8 else np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8)
        np.save(partial / f"mask_{kind}.npy", stored)
    record = VideoRecord(video_id, int(count), float(fps), tuple(sorted(masks)), source)
    (partial / "meta.json").write_text(json.dumps(asdict(record)))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    return record


def record_skip(root: str | Path, name: str, reason: str) -> None:
    """Remember that a source video is unusable, and why."""
    folder = Path(root) / "skipped"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps({"source": name, "reason": reason}))


def was_skipped(root: str | Path, name: str) -> bool:
    """Whether an earlier run already found this source video unusable."""
    return (Path(root) / "skipped" / f"{name}.json").is_file()


def write_manifest(root: str | Path, *, resolution: int) -> Manifest:
    """Collect every complete video and every skip record into ``manifest.json``."""
    root = Path(root)
    videos = []
    for meta in sorted((root / "videos").glob("*/meta.json")):
        fields = json.loads(meta.read_text())
        fields["kinds"] = tuple(fields["kinds"])
        videos.append(VideoRecord(**fields))
    skipped = tuple(json.loads(path.read_text()) for path in sorted((root / "skipped").glob("*.json")))
    manifest = Manifest(resolution, tuple(videos), skipped)
    payload = {"format": FORMAT_VERSION, **asdict(manifest)}
    # Written aside and renamed into place: several processes or machines may write it at once, and a reader
    # must never find half a file.
    partial = root / f"{MANIFEST_NAME}.{socket.gethostname()}-{os.getpid()}.partial"
    partial.write_text(json.dumps(payload, indent=1))
    os.replace(partial, root / MANIFEST_NAME)
    return manifest


def read_manifest(root: str | Path) -> Manifest:
    """Read a cache's manifest; a folder without one is not a training cache."""
    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        raise DurianInputError(f"{root} is not a training cache (no {MANIFEST_NAME}): run `preprocess` first")
    payload = json.loads(path.read_text())
    if payload.get("format") != FORMAT_VERSION:
        raise DurianInputError(f"{path} has format {payload.get('format')}, expected {FORMAT_VERSION}")
    videos = tuple(VideoRecord(**{**item, "kinds": tuple(item["kinds"])}) for item in payload["videos"])
    return Manifest(int(payload["resolution"]), videos, tuple(payload.get("skipped", ())))


def open_video(root: str | Path, record: VideoRecord) -> VideoArrays:
    """Memory-map one video's arrays (and its generated expansion masks, where there are any)."""
    folder = video_dir(root, record.video_id)

    def load(path: Path) -> np.ndarray:
        return np.load(path, mmap_mode="r")

    masks = {kind: load(folder / f"mask_{kind}.npy") for kind in record.kinds}
    expansion_dir = Path(root) / "expansions" / record.video_id
    expansions = {
        kind: load(expansion_dir / f"mask_{kind}.npy")
        for kind in record.kinds
        if (expansion_dir / f"mask_{kind}.npy").is_file()
    }
    return VideoArrays(
        record=record,
        frames=load(folder / "frames.npy"),
        landmarks=load(folder / "landmarks.npy"),
        keypoints=load(folder / "keypoints.npy"),
        masks=masks,
        expansions=expansions,
    )
