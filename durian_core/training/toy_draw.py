"""Drawing one toy frame: a face from MediaPipe's 478-landmark template in a pose, its hair, and the attributes a
look may add (glasses, a beard), each on its own labelled layer so the masks are exactly the pixels drawn.

:mod:`durian_core.training.toy` chooses who is drawn (people, looks, motion) and writes videos and datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.template import FACE_TEMPLATE_3D

HAIR_STYLES = ("short", "bob", "long", "spiky", "bun")
_SUPERSAMPLE = 4  # drawn at 4× and area-downscaled: anti-aliased edges and soft, exact masks
# Bright frames a pixel wide at 32² and lenses tinted in their colour, so the glasses show at the toy model's size
# (lenses at 0.35 and rims 0.035 face heights wide were half a pixel of faint colour there) and their reference shows
# them (dark sunglasses, masked, were nearly black on the masked-out black).
_LENS_OPACITY = 0.6
_RIM = 0.06  # rim, bridge and temple width, in face heights


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
    beard_colour: tuple[int, int, int] | None = None  # None: no beard
    beard_volume: float = 0.1  # how far the beard stands out below the jaw, in face heights


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
    if identity.beard_colour is not None:  # under the lips, which stay the portrait's
        canvas.draw([_beard_outline(landmarks, identity.beard_volume * height)], identity.beard_colour, label="beard")
    canvas.draw([landmarks[list(regions.LIPS_OUTER)]], (190, 70, 80))
    canvas.draw([landmarks[list(regions.LIPS_INNER)]], (70, 20, 30))
    canvas.draw([project(outline) for outline in front], identity.hair_colour, label="hair")
    if identity.glasses_colour is not None:
        _draw_glasses(canvas, landmarks, identity.glasses_colour, height)
    image, masks = canvas.result()
    return image, landmarks, masks


def _beard_outline(landmarks: np.ndarray, reach: float) -> np.ndarray:
    """A full beard with a moustache: the jaw line pushed ``reach`` pixels out from the mouth, then back across the
    cheeks and under the nose. A region of the lower face as large as the hair's is at the toy model's size."""
    jaw = landmarks[list(regions.JAW)]
    mouth = (landmarks[regions.UPPER_LIP_INNER] + landmarks[regions.LOWER_LIP_INNER]) / 2
    outward = jaw - mouth
    outward /= np.linalg.norm(outward, axis=1, keepdims=True) + 1e-6
    upper = [regions.LEFT_CHEEK, *reversed(regions.NOSE_BOTTOM), regions.RIGHT_CHEEK]
    return np.concatenate([jaw + reach * outward, landmarks[upper]])


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
