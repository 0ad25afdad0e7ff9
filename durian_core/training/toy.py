"""Synthetic portrait videos a tiny model can learn from in minutes on a CPU.

A toy person is a face (skin, eye colour, face width and size) in front of a background and a shirt; a toy look is
what the attribute transfer moves: "hair" (a colour, a shape, a volume) and, for some looks, a second attribute
("glasses", a frame colour, or a "beard", a colour and a volume; which ones a dataset uses is its ``extras``).
The two are drawn independently, so a dataset can dress the same person in several looks and the same look on
several people (:func:`toy_casting`), and a model trained on it cannot guess the hair from the face: it has to take
it from the attribute reference. Each video moves the head (yaw, pitch, roll, shift, scale), opens and closes the
mouth, blinks and looks around. Faces are drawn (:mod:`durian_core.training.toy_draw`) from a frontal template in
MediaPipe's 478-landmark topology, so the landmarks, keypoint maps and masks have the same meaning as those
``preprocess`` computes for real videos, and they are exact: the masks are the pixels the attributes were drawn on.
:func:`write_toy_dataset` writes the same on-disk cache as ``preprocess`` (:mod:`durian_core.training.store`), so
training has one data path.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from durian_core.errors import DurianInputError
from durian_core.face.align import align_rigid
from durian_core.face.keypoints import render_keypoint_maps
from durian_core.face.masks import expand_mask
from durian_core.training import store
from durian_core.training.toy_draw import HAIR_STYLES, ToyIdentity, ToyPose, render_toy_face, toy_landmarks
from durian_core.types import Interpolation, PreparedAttribute, PreparedInputs

__all__ = [
    "EXTRA_KINDS",
    "HAIR_STYLES",
    "HELD_OUT",
    "TOY_DATASET",
    "ToyIdentity",
    "ToyPose",
    "ToyVideo",
    "make_identity",
    "make_look",
    "make_person",
    "render_toy_face",
    "render_toy_video",
    "toy_casting",
    "toy_edit_inputs",
    "toy_landmarks",
    "toy_motion",
    "toy_transfer_inputs",
    "wears",
    "write_toy_dataset",
]

_SKIN_TONES = ((245, 215, 190), (236, 200, 170), (210, 160, 120), (190, 140, 105), (160, 110, 80), (110, 75, 55))
_EYE_COLOURS = ((40, 30, 25), (70, 45, 25), (50, 90, 140), (60, 110, 70), (110, 110, 120))
EXTRA_KINDS = ("glasses", "beard")
"""Attributes a look may wear beside its hair; a dataset's ``extras`` names those it uses (default: glasses)."""
HELD_OUT = 10_000
"""People and looks from this index on are held out: no dataset :func:`write_toy_dataset` writes holds them, so
evaluation on them is on faces and hair training never saw."""
# ``train --toy-data``: every person in four looks, every look on four people (30 s to render on two cores)
TOY_DATASET = dict(num_videos=96, num_people=24, num_looks=24, num_frames=16)


@dataclass(frozen=True, eq=False)
class ToyVideo:
    """A rendered synthetic video with its exact annotations."""

    identity: ToyIdentity
    frames: np.ndarray  # F×R×R×3 uint8
    landmarks: np.ndarray  # F×478×2 float32, pixels
    masks: dict[str, np.ndarray]  # kind → F×R×R float32 in [0, 1]
    keypoints: np.ndarray  # F×R×R×3 uint8


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def make_person(index: int, *, seed: int = 0) -> dict:
    """The ``index``-th toy person's face and surroundings: the :class:`ToyIdentity` fields that are not the look."""
    rng = np.random.default_rng([seed, index, 17])
    # Skin anywhere on the ramp between two neighbouring tones, so no two people need share one.
    position = float(rng.uniform(0, len(_SKIN_TONES) - 1))
    low = int(position)
    skin = np.array(_SKIN_TONES[low]) * (1 - (position - low)) + np.array(_SKIN_TONES[low + 1]) * (position - low)
    return dict(
        skin=tuple(int(round(c)) for c in skin),
        background=_hsv(float(rng.uniform()), 0.15, float(rng.uniform(0.75, 0.95))),
        shirt=_hsv(float(rng.uniform()), 0.5, float(rng.uniform(0.3, 0.7))),
        face_scale=float(rng.uniform(0.47, 0.53)),
        eye_colour=_EYE_COLOURS[int(rng.integers(len(_EYE_COLOURS)))],
        face_width=float(rng.uniform(0.9, 1.1)),
    )


def wears(look: int, kind: str, extras: Sequence[str] = ("glasses",)) -> bool:
    """Whether look ``look`` wears ``kind``: hair always; the ``j``-th of ``extras`` where bit ``j`` of the look's
    index is set (with one extra, every second look; with two, each on every second look and both on every fourth)."""
    if kind == "hair":
        return True
    return kind in extras and bool((look >> list(extras).index(kind)) & 1)


def make_look(index: int, *, seed: int = 0, extras: Sequence[str] = ("glasses",)) -> dict:
    """The ``index``-th toy look: hair colour, style and volume, and the ``extras`` it :func:`wears`. Hair hues are
    spread by the golden ratio, so any two looks differ; a glasses frame's or a beard's hue is drawn on its own, so
    it says nothing of the hair's."""
    unknown = set(extras) - set(EXTRA_KINDS)
    if unknown:
        raise DurianInputError(f"toy looks can wear {EXTRA_KINDS} beside their hair, not {sorted(unknown)}")
    rng = np.random.default_rng([seed, index, 23])
    hue = (0.61803398875 * index + 0.1 * seed) % 1.0
    hair = _hsv(hue, float(rng.uniform(0.65, 0.95)), float(rng.uniform(0.55, 0.95)))
    glasses = None
    if wears(index, "glasses", extras):
        # Bright frames and tinted lenses: the glasses reference (I_attr ⊙ M_attr) must not be dark on its black.
        glasses = _hsv(float(rng.uniform()), 0.85, float(rng.uniform(0.75, 1.0)))
    look = dict(
        hair_colour=hair,
        hair_style=HAIR_STYLES[index % len(HAIR_STYLES)],
        hair_volume=float(rng.uniform(0.06, 0.16)),
        glasses_colour=glasses,
    )
    if wears(index, "beard", extras):
        # Its own generator: the hair and glasses of a look stay what they are whether beards are in use or not.
        beard_rng = np.random.default_rng([seed, index, 37])
        look["beard_colour"] = _hsv(float(beard_rng.uniform()), float(beard_rng.uniform(0.6, 0.9)), 0.8)
        look["beard_volume"] = float(beard_rng.uniform(0.04, 0.1))
    return look


def make_identity(
    index: int, *, seed: int = 0, look: int | None = None, extras: Sequence[str] = ("glasses",)
) -> ToyIdentity:
    """Toy person ``index`` wearing look ``look`` (default: look ``index``, the person's own)."""
    worn = make_look(index if look is None else look, seed=seed, extras=extras)
    return ToyIdentity(**make_person(index, seed=seed), **worn)


def toy_casting(num_videos: int, *, num_people: int, num_looks: int, seed: int = 0) -> list[tuple[int, int]]:
    """(person, look) of each video: people in turn, and in each round person ``p`` wears look ``σ(p + s)`` for a
    shift ``s`` new to that round (σ a random order of the looks). So nobody wears a look twice and no look is
    worn twice by the same person until every shift is used, every person wears about ``num_videos / num_people``
    different looks, and every look is worn by about as many different people."""
    if min(num_videos, num_people, num_looks) < 1:
        raise DurianInputError(f"need at least one video, person and look, got {num_videos}/{num_people}/{num_looks}")
    rng = np.random.default_rng([seed, 31])
    order = rng.permutation(num_looks)
    shifts: list[int] = []
    pairs = []
    for index in range(num_videos):
        person, round_ = index % num_people, index // num_people
        if round_ == len(shifts):
            shifts.extend(int(shift) for shift in rng.permutation(num_looks))
        pairs.append((person, int(order[(person + shifts[round_]) % num_looks])))
    return pairs


def toy_motion(num_frames: int, *, rng: np.random.Generator) -> list[ToyPose]:
    """Smooth head motion and expression: a few sinusoids with random phases, plus occasional blinks."""
    time = np.arange(num_frames) / max(num_frames, 1)

    def wave(amplitude: float, cycles: tuple[float, float] = (0.5, 1.5)) -> np.ndarray:
        frequency, phase = rng.uniform(*cycles), rng.uniform(0, 2 * np.pi)
        return amplitude * np.sin(2 * np.pi * frequency * time + phase)

    yaw, pitch, roll = wave(22.0), wave(10.0), wave(10.0)
    shift_x, shift_y, scale = wave(0.04), wave(0.03), 1.0 + wave(0.05)
    mouth = 0.25 + wave(0.75, (1.0, 3.0))
    gaze = wave(0.15, (0.5, 2.0))
    blink = np.zeros(num_frames)
    for start in rng.integers(0, max(num_frames, 1), size=max(1, num_frames // 12)):
        blink[start : start + 2] = 1.0
    return [
        ToyPose(
            float(yaw[i]),
            float(pitch[i]),
            float(roll[i]),
            (float(shift_x[i]), float(shift_y[i])),
            float(scale[i]),
            float(np.clip(mouth[i], -0.5, 1.0)),
            float(blink[i]),
            float(gaze[i]),
        )
        for i in range(num_frames)
    ]


def render_toy_video(identity: ToyIdentity, *, num_frames: int, resolution: int, seed: int = 0) -> ToyVideo:
    """Render a moving synthetic person with exact landmarks, masks and keypoint maps."""
    if num_frames < 1 or resolution < 16:
        raise DurianInputError(f"need at least 1 frame and 16 px, got {num_frames} frames at {resolution} px")
    poses = toy_motion(num_frames, rng=np.random.default_rng([seed, 29]))
    frames, landmarks, masks = [], [], {"hair": []}
    if identity.glasses_colour is not None:
        masks["glasses"] = []
    if identity.beard_colour is not None:
        masks["beard"] = []
    for pose in poses:
        image, points, drawn = render_toy_face(identity, pose, resolution)
        frames.append(image)
        landmarks.append(points)
        for kind in masks:
            masks[kind].append(drawn[kind])
    landmarks_array = np.stack(landmarks)
    return ToyVideo(
        identity=identity,
        frames=np.stack(frames),
        landmarks=landmarks_array,
        masks={kind: np.stack(values) for kind, values in masks.items()},
        keypoints=render_keypoint_maps(landmarks_array, (resolution, resolution)),
    )


def write_toy_dataset(
    out: str | Path,
    *,
    num_videos: int = 8,
    num_frames: int = 24,
    resolution: int = 64,
    seed: int = 0,
    num_people: int | None = None,
    num_looks: int | None = None,
    extras: Sequence[str] = ("glasses",),
) -> store.Manifest:
    """Write ``num_videos`` synthetic videos as a training cache; returns its manifest.

    Without ``num_people`` and ``num_looks`` video ``i`` is person ``i`` in look ``i`` (each person has one look);
    with them, people and looks are cast independently (:func:`toy_casting`) and each record's ``source`` names its
    pair (``toy person=3 look=17``). ``extras`` are the attributes looks wear beside their hair (:func:`wears`).
    """
    if num_videos < 2:
        raise DurianInputError(f"a toy dataset needs at least 2 videos (identities), got {num_videos}")
    if (
        max(num_videos if num_people is None else num_people, num_videos if num_looks is None else num_looks)
        > HELD_OUT
    ):
        raise DurianInputError(f"a toy dataset holds at most {HELD_OUT} people and looks (the rest are held out)")
    if num_people is None and num_looks is None:
        pairs = [(index, index) for index in range(num_videos)]
    else:
        pairs = toy_casting(
            num_videos, num_people=num_people or num_videos, num_looks=num_looks or num_videos, seed=seed
        )
    for index, (person, look) in enumerate(pairs):
        video_id = f"toy{index:04d}"
        if store.is_complete(out, video_id):
            continue
        video = render_toy_video(
            make_identity(person, seed=seed, look=look, extras=extras),
            num_frames=num_frames,
            resolution=resolution,
            seed=seed * 100_003 + index,
        )
        store.write_video(
            out,
            video_id,
            frames=video.frames,
            landmarks=video.landmarks,
            keypoints=video.keypoints,
            masks=video.masks,
            fps=12.0,
            source=f"toy person={person} look={look}",
        )
    return store.write_manifest(out, resolution=resolution)


def toy_transfer_inputs(
    portrait: ToyVideo, attribute: ToyVideo, *, kind: str = "hair", frames: int | None = None
) -> PreparedInputs:
    """Engine inputs for a cross-identity transfer of ``attribute``'s ``kind`` onto ``portrait`` (see
    :func:`toy_edit_inputs`)."""
    return toy_edit_inputs(portrait, [(attribute, kind)], frames=frames)


def toy_edit_inputs(
    portrait: ToyVideo,
    references: Sequence[tuple[ToyVideo, str]],
    *,
    interpolation: Interpolation | None = None,
    frames: int | None = None,
) -> PreparedInputs:
    """Engine inputs for an edit between toy videos, built from their exact annotations.

    The portrait is ``portrait``'s first frame; each reference is ``(video, kind)``, that video's first frame and
    its ``kind`` mask, aligned onto the portrait by the rigid landmarks (as input preparation does for real photos).
    The portrait's own region of every kind requested, and where the new attribute lies, is removed as training
    removes it (grown slightly, every pixel touched), and the motion is the portrait video's own landmarks
    (``frames`` of them; ``None``: a still edit).
    """
    if not references:
        raise DurianInputError("an edit needs at least one attribute reference")
    size = portrait.frames.shape[2], portrait.frames.shape[1]
    target = portrait.landmarks[0]
    attributes, covered = [], {}
    for video, kind in references:
        if kind not in video.masks:
            raise DurianInputError(f"the attribute video has no {kind!r} (it has {sorted(video.masks)})")
        source = video.landmarks[0]
        mask = video.masks[kind][0].astype(np.float32)
        attributes.append(
            PreparedAttribute(
                image=video.frames[0],
                kind=kind,
                landmarks=source,
                mask=mask,
                aligned_image=align_rigid(video.frames[0], source, target, size),
                aligned_mask=np.clip(align_rigid(mask, source, target, size), 0, 1),
                weight=1.0,
                name=f"toy {kind}",
            )
        )
        covered[kind] = np.maximum(covered.get(kind, 0.0), attributes[-1].aligned_mask)
    removed = {}
    for kind, region in covered.items():
        own = portrait.masks.get(kind)
        if own is not None:
            region = np.maximum(region, own[0].astype(np.float32))
        # As training removes a region: every pixel touched, grown a little along the face. Where the portrait has
        # no attribute of this kind (glasses on a face without), what goes is where the new one lies: its aligned
        # mask is soft (about 0.6 over the pixels it touches) and would leave a third of the eyes under it.
        removed[kind] = np.maximum(expand_mask(region, target, growth=0.04), (region > 0).astype(np.float32))
    return PreparedInputs(
        portrait=portrait.frames[0],
        portrait_landmarks=target,
        portrait_masks=removed,
        attributes=tuple(attributes),
        interpolation=interpolation,
        motion=None if frames is None else portrait.landmarks[:frames],
        fps=None if frames is None else 12.0,
        audio_path=None,
    )
