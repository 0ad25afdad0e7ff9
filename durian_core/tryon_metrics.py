"""How well a video portrait wears an attribute, measured against the clip itself (``evaluate --protocol tryon``).

The clip is generated wearing the attribute (in memory, so encoding adds nothing), and each frame is compared with
the clip's own frame in regions found by the face mesh on the clip's frames (unsmoothed, independently of the code
that placed the attribute); frames where it finds no face are left out, and counted:

* **worn**: the share of frames whose attribute region (around the eyes for glasses, the lips for makeup, the jaw
  for a beard, above the forehead for hair and hats) changed by more than :data:`WORN_LEVELS` on average;
* **own mouth**: the mean change inside the lips (0 when the mouth is the clip's own; makeup and beards are meant
  to change it);
* **flicker**: the mean frame-to-frame change around the eyes, worn against the clip's own; the attribute does not
  flicker when the first is at most 1.5 times the second plus 3 levels.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from durian_core.errors import NoFaceError
from durian_core.face import regions
from durian_core.face.landmarks import FaceFollower
from durian_core.face.masks import fill_polygons

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
KIND_EXAMPLES = {
    "glasses": EXAMPLES / "attributes" / "glasses_obama.png",
    "makeup": EXAMPLES / "attributes" / "makeup_biden.png",
    "beard": EXAMPLES / "attributes" / "beard_biden.png",
    "hat": EXAMPLES / "attributes" / "hat_obama.png",
    "hair": EXAMPLES / "portraits" / "biden.jpg",
}
"""The attribute each kind wears when none is given."""
WORN_LEVELS = 4.0
"""Mean change (8-bit levels) of a frame's attribute region above which the frame counts as wearing it."""
FLICKER_RATIO, FLICKER_LEVELS = 1.5, 3.0
"""The worn clip's frame-to-frame change around the eyes may be at most this times the clip's own plus this."""


def _box(points: np.ndarray, shape: tuple[int, ...], margin: np.ndarray) -> tuple[slice, slice]:
    x0, y0 = np.maximum((points.min(axis=0) - margin).astype(int), 0)
    x1, y1 = (points.max(axis=0) + margin).astype(int)
    return slice(y0, min(y1, shape[0])), slice(x0, min(x1, shape[1]))


def eye_box(landmarks: np.ndarray, shape: tuple[int, ...]) -> tuple[slice, slice]:
    """The eyes with a margin of 0.08 face sizes."""
    size = regions.face_size(landmarks)
    return _box(landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE)], shape, np.full(2, 0.08 * size))


def attribute_box(landmarks: np.ndarray, shape: tuple[int, ...], kind: str) -> tuple[slice, slice]:
    """Where a frame wearing ``kind`` changes for sure."""
    size = regions.face_size(landmarks)
    if kind == "glasses":
        return eye_box(landmarks, shape)
    if kind == "makeup":
        return _box(landmarks[list(regions.LIPS_OUTER)], shape, np.zeros(2))
    if kind == "beard":
        return _box(landmarks[list(regions.JAW)], shape, np.array([0.0, 0.02 * size]))
    top = landmarks[regions.FOREHEAD_TOP]
    crown = np.array([[top[0] - 0.25 * size, top[1] - 0.2 * size], [top[0] + 0.25 * size, top[1]]])
    return _box(crown, shape, np.zeros(2))


def tryon_report(
    video: str | os.PathLike,
    *,
    kind: str = "glasses",
    attribute: str | os.PathLike | None = None,
    max_seconds: float = 20.0,
) -> dict:
    """``video`` wearing ``attribute`` (the example of ``kind`` by default), measured against the clip: the figures
    of the module's description, each with the criterion it is held to."""
    from durian_core.api import build_request, generate, load_attribute
    from durian_core.config import GenerationSettings, MediaLimits
    from durian_core.media import load_video

    settings = GenerationSettings(engine="classical", max_seconds=max_seconds)
    source = attribute or KIND_EXAMPLES[kind]
    request = build_request(video, [load_attribute(source, kind)], settings=settings)
    worn = generate(request).frames
    clip = load_video(video, max_seconds=max_seconds, limits=MediaLimits(max_video_side=settings.output_size)).frames
    with FaceFollower() as follow:
        faces = [follow(frame) for frame in clip]
    shape = clip.shape[1:]
    changed, mouths, own_change, worn_change = [], [], [], []
    for index, (frame, out, landmarks) in enumerate(zip(clip, worn, faces)):
        if landmarks is None:
            continue  # the clip's face is not to be seen: nothing to wear, nothing to measure
        difference = np.abs(out.astype(np.float32) - frame.astype(np.float32))
        changed.append(float(difference[attribute_box(landmarks, shape, kind)].mean()))
        lips = fill_polygons(shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5
        mouths.append(float(difference[lips].mean()) if lips.any() else 0.0)
        if index and faces[index - 1] is not None:
            box = eye_box(landmarks, shape)
            own_change.append(float(np.abs(frame[box].astype(np.float32) - clip[index - 1][box]).mean()))
            worn_change.append(float(np.abs(out[box].astype(np.float32) - worn[index - 1][box]).mean()))
    if not changed:
        raise NoFaceError(f"no face found in any frame of '{Path(os.fspath(video)).name}'")
    worn_share = float(np.mean(np.array(changed) > WORN_LEVELS))
    own = float(np.mean(own_change)) if own_change else 0.0
    moved = float(np.mean(worn_change)) if worn_change else 0.0
    return {
        "video": Path(os.fspath(video)).name,
        "kind": kind,
        "attribute": Path(os.fspath(source)).name,
        "frames": {"clip": int(len(clip)), "worn": int(len(worn)), "with_a_face": len(changed)},
        "size": {"clip": list(clip.shape[2:0:-1]), "worn": list(worn.shape[2:0:-1])},
        "worn_share": round(worn_share, 3),
        "mouth_change": round(float(np.mean(mouths)), 3),
        "eye_change": {"clip": round(own, 3), "worn": round(moved, 3)},
        "criteria": {
            "same_frames_and_size": len(clip) == len(worn) and clip.shape == worn.shape,
            "worn_on_90_percent": worn_share >= 0.9,
            "mouth_is_the_clips_own": kind in ("makeup", "beard") or float(np.mean(mouths)) < 1.0,
            "no_flicker": moved <= FLICKER_RATIO * own + FLICKER_LEVELS,
        },
    }
