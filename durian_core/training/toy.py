"""Synthetic portrait videos a tiny model can learn from in minutes on a CPU.

A toy person is a face (skin, eye colour, face width and size) in front of a background and a shirt; a toy look is
what the attribute transfer moves: "hair" (a colour, a shape, a volume) and, for some, "glasses" (a frame colour).
The two are drawn independently, so a dataset can dress the same person in several looks and the same look on
several people (:func:`toy_casting`), and a model trained on it cannot guess the hair from the face: it has to take
it from the attribute reference. Each video moves the head (yaw, pitch, roll, shift, scale), opens and closes the
mouth, blinks and looks around. Faces are drawn from a frontal template in MediaPipe's 478-landmark topology,
so the landmarks, keypoint maps and masks have the same meaning as those ``preprocess`` computes for real videos,
and they are exact: the masks are the pixels the hair and glasses were drawn on. :func:`write_toy_dataset` writes
the same on-disk cache as ``preprocess`` (:mod:`durian_core.training.store`), so training has one data path.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from durian_core.errors import DurianInputError
from durian_core.face import regions
from durian_core.face.align import align_rigid
from durian_core.face.keypoints import render_keypoint_maps
from durian_core.face.masks import expand_mask
from durian_core.face.template import FACE_TEMPLATE_3D
from durian_core.training import store
from durian_core.types import Interpolation, PreparedAttribute, PreparedInputs

HAIR_STYLES = ("short", "bob", "long", "spiky", "bun")
_SUPERSAMPLE = 4  # drawn at 4× and area-downscaled: anti-aliased edges and soft, exact masks
_SKIN_TONES = ((245, 215, 190), (236, 200, 170), (210, 160, 120), (190, 140, 105), (160, 110, 80), (110, 75, 55))
# Bright frames a pixel wide at 32² and lenses tinted in their colour, so the glasses show at the toy model's size
# (lenses at 0.35 and rims 0.035 face heights wide were half a pixel of faint colour there) and their reference shows
# them (dark sunglasses, masked, were nearly black on the masked-out black).
_LENS_OPACITY = 0.6
_RIM = 0.06  # rim, bridge and temple width, in face heights
_EYE_COLOURS = ((40, 30, 25), (70, 45, 25), (50, 90, 140), (60, 110, 70), (110, 110, 120))
HELD_OUT = 10_000
"""People and looks from this index on are held out: no dataset :func:`write_toy_dataset` writes holds them, so
evaluation on them is on faces and hair training never saw."""
# ``train --toy-data``: every person in four looks, every look on four people (30 s to render on two cores)
TOY_DATASET = dict(num_videos=96, num_people=24, num_looks=24, num_frames=16)


@dataclass(frozen=True)
class ToyIdentity:
    """What stays the same across one synthetic person's videos."""

    skin: tuple[int, int, int]
    hair_colour: tuple[int, int, int]
    hair_style: str  # one of HAIR_STYLES
    hair_volume: float  # outward reach of the hair around the skull, in face heights
    glasses_colour: tuple[int, int, int] | None  # None: no glasses
    background: tuple[int, int, int]
    shirt: tuple[int, int, int]
    face_scale: float  # face height as a fraction of the frame (about ½: the durian engine's crop framing)
    eye_colour: tuple[int, int, int] = (40, 30, 25)  # iris
    face_width: float = 1.0  # horizontal stretch of the face (and the skull the hair sits on)


@dataclass(frozen=True)
class ToyPose:
    """One frame's head pose and expression."""

    yaw: float  # degrees
    pitch: float
    roll: float
    shift: tuple[float, float]  # fraction of the frame
    scale: float
    mouth: float  # -0.5 (pressed) … 1 (wide open)
    blink: float  # 0 open … 1 closed
    gaze: float  # iris shift, fraction of the eye width


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


def make_look(index: int, *, seed: int = 0) -> dict:
    """The ``index``-th toy look: hair colour, style and volume, and glasses on every second look. Hair hues are
    spread by the golden ratio, so any two looks differ; a glasses frame's hue is drawn on its own, so it says
    nothing of the hair's."""
    rng = np.random.default_rng([seed, index, 23])
    hue = (0.61803398875 * index + 0.1 * seed) % 1.0
    hair = _hsv(hue, float(rng.uniform(0.65, 0.95)), float(rng.uniform(0.55, 0.95)))
    glasses = None
    if index % 2 == 1:
        # Bright frames and tinted lenses: the glasses reference (I_attr ⊙ M_attr) must not be dark on its black.
        glasses = _hsv(float(rng.uniform()), 0.85, float(rng.uniform(0.75, 1.0)))
    return dict(
        hair_colour=hair,
        hair_style=HAIR_STYLES[index % len(HAIR_STYLES)],
        hair_volume=float(rng.uniform(0.06, 0.16)),
        glasses_colour=glasses,
    )


def make_identity(index: int, *, seed: int = 0, look: int | None = None) -> ToyIdentity:
    """Toy person ``index`` wearing look ``look`` (default: look ``index``, the person's own)."""
    return ToyIdentity(**make_person(index, seed=seed), **make_look(index if look is None else look, seed=seed))


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


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    y, p, r = np.deg2rad([yaw, pitch, roll])
    about_y = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    about_z = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return about_z @ about_x @ about_y


def _expression(points: np.ndarray, pose: ToyPose) -> np.ndarray:
    """Open the jaw and close the eyelids on template-space points (face height 1)."""
    points = points.copy()
    # Jaw drop: everything below the upper lip moves down, fading in between the lips (13 stays, 14 moves).
    weight = np.clip((points[:, 1] - 0.19) / 0.05, 0.0, 1.0)
    points[:, 1] += 0.08 * pose.mouth * weight
    eyes = ((regions.RIGHT_EYE, regions.RIGHT_IRIS + (468,)), (regions.LEFT_EYE, regions.LEFT_IRIS + (473,)))
    for eye, iris in eyes:
        indices = list(eye) + list(iris)
        centre_y = points[list(eye), 1].mean()
        width = np.ptp(points[list(eye), 0])
        upper = [i for i in indices if points[i, 1] < centre_y]
        points[upper, 1] += 0.85 * pose.blink * (centre_y - points[upper, 1])
        points[list(iris), 0] += pose.gaze * width
    return points


def _project(points: np.ndarray, pose: ToyPose, identity: ToyIdentity, resolution: int) -> np.ndarray:
    points = points * np.array([identity.face_width, 1.0, 1.0], np.float32)
    rotated = points @ _rotation(pose.yaw, pose.pitch, pose.roll).T
    height = identity.face_scale * pose.scale * resolution
    # At rest the frame is the durian engine's face crop: side 2 × face size, face centre 0.1 × side below the middle.
    centre = np.array([0.5 + pose.shift[0], 0.6 + pose.shift[1]]) * resolution
    return (rotated[:, :2] * height + centre).astype(np.float32)


def toy_landmarks(identity: ToyIdentity, pose: ToyPose, resolution: int) -> np.ndarray:
    """478×2 float32 landmarks (pixels of a ``resolution``² frame) of a toy face in a pose."""
    return _project(_expression(FACE_TEMPLATE_3D, pose), pose, identity, resolution)


def _arc(centre: tuple[float, float], radii: tuple[float, float], start: float, stop: float, count: int = 24):
    angles = np.deg2rad(np.linspace(start, stop, count))
    return np.stack([centre[0] + radii[0] * np.cos(angles), centre[1] + radii[1] * np.sin(angles)], axis=1)


def _hair_shapes(identity: ToyIdentity) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Hair polygons in template space: (behind the face, over the forehead). Angles: 0° right, 90° down."""
    reach = identity.hair_volume
    centre = np.array([0.0, -0.12])
    half_width = 0.43 + reach
    outer = _arc(tuple(centre), (half_width, 0.41 + reach), 180, 360, 40)
    if identity.hair_style == "spiky":
        spikes = np.where(np.arange(len(outer)) % 2 == 0, 1.0, 1.0 + 2.0 * reach)
        outer = centre + (outer - centre) * spikes[:, None]
    # The hairline: a fringe across the forehead, from temple to temple.
    fringe = _arc((0.0, -0.12), (0.40, 0.24), 345, 195, 20)
    front = [np.concatenate([outer, fringe])]
    back: list[np.ndarray] = []
    length = {"short": -0.05, "spiky": -0.05, "bun": 0.05, "bob": 0.35, "long": 0.9}[identity.hair_style]
    if length > 0:
        back.append(
            np.array(
                [[-half_width, -0.2], [half_width, -0.2], [half_width + 0.05, length], [-half_width - 0.05, length]]
            )
        )
    if identity.hair_style == "bun":
        front.append(_arc((0.0, -0.62 - reach), (0.2, 0.16), 0, 360, 24))
    return back, front


def _to_3d(outline: np.ndarray, depth: float) -> np.ndarray:
    return np.concatenate([outline, np.full((len(outline), 1), depth)], axis=1).astype(np.float32)


class _Canvas:
    """Supersampled drawing with a label per layer, so masks are exactly the drawn pixels."""

    def __init__(self, resolution: int, background: tuple[int, int, int]):
        size = resolution * _SUPERSAMPLE
        ramp = np.linspace(1.05, 0.85, size)[:, None, None]
        self.image = np.clip(np.array(background, np.float32)[None, None] * ramp, 0, 255) * np.ones((1, size, 1))
        self.layers: dict[str, np.ndarray] = {}
        self.resolution = resolution

    def _fill(self, polygons: list[np.ndarray], *, closed: bool = True, thickness: float = 0.0) -> np.ndarray:
        size = self.image.shape[0]
        coverage = np.zeros((size, size), np.uint8)
        for points in polygons:
            scaled = np.round(np.asarray(points) * _SUPERSAMPLE * 16).astype(np.int32)
            if thickness > 0:
                width = max(1, round(thickness * _SUPERSAMPLE))
                cv2.polylines(coverage, [scaled], closed, 255, width, cv2.LINE_AA, shift=4)
            else:
                cv2.fillPoly(coverage, [scaled], 255, cv2.LINE_AA, shift=4)
        return coverage.astype(np.float32) / 255.0

    def draw(
        self,
        polygons: list[np.ndarray],
        colour,
        *,
        label: str | None = None,
        opacity: float = 1.0,
        thickness: float = 0.0,
        closed: bool = True,
        clip: np.ndarray | None = None,
    ) -> np.ndarray:
        alpha = self._fill(polygons, closed=closed, thickness=thickness) * opacity
        if clip is not None:
            alpha = alpha * clip
        self.image = self.image * (1 - alpha[..., None]) + np.array(colour, np.float32) * alpha[..., None]
        # Later layers cover earlier ones: a drawn pixel leaves every other layer's mask.
        for name in self.layers:
            self.layers[name] = self.layers[name] * (1 - alpha)
        if label is not None:
            # A translucent layer (tinted lenses) still belongs to its attribute wherever it is drawn.
            coverage = alpha / opacity if opacity > 0 else alpha
            self.layers[label] = np.maximum(self.layers.get(label, 0.0), coverage)
        return alpha

    def result(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        size = (self.resolution, self.resolution)
        image = cv2.resize(np.clip(self.image, 0, 255).astype(np.float32), size, interpolation=cv2.INTER_AREA)
        masks = {name: cv2.resize(layer, size, interpolation=cv2.INTER_AREA) for name, layer in self.layers.items()}
        return np.round(image).astype(np.uint8), {name: np.clip(m, 0, 1) for name, m in masks.items()}


def render_toy_face(
    identity: ToyIdentity, pose: ToyPose, resolution: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Draw one frame: ``(image R×R×3 uint8, landmarks 478×2, masks {kind: R×R float32})``."""
    points3d = _expression(FACE_TEMPLATE_3D, pose)
    landmarks = _project(points3d, pose, identity, resolution)
    canvas = _Canvas(resolution, identity.background)
    back, front = _hair_shapes(identity)
    head_depth = 0.25  # hair sits behind the face surface, so it turns with the skull

    def project(outline: np.ndarray) -> np.ndarray:
        return _project(_to_3d(outline, head_depth), pose, identity, resolution)

    # Torso and neck follow the head's shift but not its rotation.
    chin, height = landmarks[regions.CHIN], identity.face_scale * pose.scale * resolution
    centre_x = (0.5 + pose.shift[0]) * resolution
    top, bottom = chin[1] + 0.3 * height, resolution * 1.1
    shoulders = np.array(
        [
            [centre_x - 0.9 * height, bottom],
            [centre_x - 0.55 * height, top],
            [centre_x + 0.55 * height, top],
            [centre_x + 0.9 * height, bottom],
        ]
    )
    canvas.draw([project(outline) for outline in back], identity.hair_colour, label="hair")
    neck = chin + height * np.array([[-0.2, -0.2], [0.2, -0.2], [0.2, 0.4], [-0.2, 0.4]])
    skin_shadow = tuple(int(c * 0.85) for c in identity.skin)
    canvas.draw([neck], skin_shadow)
    canvas.draw([shoulders], identity.shirt)
    if identity.hair_style == "long":  # long hair falls in front of the shoulders
        canvas.draw(
            [project(outline) for outline in back],
            identity.hair_colour,
            label="hair",
            clip=1.0 - canvas._fill([landmarks[list(regions.FACE_OVAL)]]),
        )
    canvas.draw([landmarks[list(regions.FACE_OVAL)]], identity.skin)
    brow = tuple(int(c * 0.45) for c in identity.hair_colour)
    for loop in (regions.RIGHT_BROW, regions.LEFT_BROW):
        canvas.draw([landmarks[list(loop)]], brow, thickness=0.035 * height, closed=False)
    for eye, iris_centre in ((regions.RIGHT_EYE, 468), (regions.LEFT_EYE, 473)):
        eye_area = canvas.draw([landmarks[list(eye)]], (250, 250, 250))
        radius = 0.045 * height
        iris = _arc(tuple(landmarks[iris_centre]), (radius, radius), 0, 360, 16)
        canvas.draw([iris], identity.eye_colour, clip=eye_area)
    canvas.draw(
        [landmarks[list(regions.NOSE_BRIDGE + regions.NOSE_BOTTOM[2:3])]],
        skin_shadow,
        thickness=0.03 * height,
        closed=False,
    )
    canvas.draw([landmarks[list(regions.LIPS_OUTER)]], (190, 70, 80))
    canvas.draw([landmarks[list(regions.LIPS_INNER)]], (70, 20, 30))
    canvas.draw([project(outline) for outline in front], identity.hair_colour, label="hair")
    if identity.glasses_colour is not None:
        _draw_glasses(canvas, landmarks, identity.glasses_colour, height)
    image, masks = canvas.result()
    return image, landmarks, masks


def _draw_glasses(canvas: _Canvas, landmarks: np.ndarray, colour, height: float) -> None:
    rims = []
    for eye in (regions.RIGHT_EYE, regions.LEFT_EYE):
        centre = landmarks[list(eye)].mean(axis=0)
        width = np.ptp(landmarks[list(eye), 0])
        rims.append(_arc(tuple(centre), (0.75 * width + 0.02 * height, 0.1 * height), 0, 360, 24))
    canvas.draw(rims, colour, label="glasses", opacity=_LENS_OPACITY)
    canvas.draw(rims, colour, label="glasses", thickness=_RIM * height)
    bridge = np.stack([rims[0][np.argmax(rims[0][:, 0])], rims[1][np.argmin(rims[1][:, 0])]])
    temples = [
        np.stack([rims[0][np.argmin(rims[0][:, 0])], landmarks[regions.RIGHT_TEMPLE]]),
        np.stack([rims[1][np.argmax(rims[1][:, 0])], landmarks[regions.LEFT_TEMPLE]]),
    ]
    canvas.draw([bridge, *temples], colour, label="glasses", thickness=_RIM * height, closed=False)


def render_toy_video(identity: ToyIdentity, *, num_frames: int, resolution: int, seed: int = 0) -> ToyVideo:
    """Render a moving synthetic person with exact landmarks, masks and keypoint maps."""
    if num_frames < 1 or resolution < 16:
        raise DurianInputError(f"need at least 1 frame and 16 px, got {num_frames} frames at {resolution} px")
    poses = toy_motion(num_frames, rng=np.random.default_rng([seed, 29]))
    frames, landmarks, masks = [], [], {"hair": []}
    if identity.glasses_colour is not None:
        masks["glasses"] = []
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
) -> store.Manifest:
    """Write ``num_videos`` synthetic videos as a training cache; returns its manifest.

    Without ``num_people`` and ``num_looks`` video ``i`` is person ``i`` in look ``i`` (each person has one look);
    with them, people and looks are cast independently (:func:`toy_casting`) and each record's ``source`` names its
    pair (``toy person=3 look=17``).
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
            make_identity(person, seed=seed, look=look),
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
