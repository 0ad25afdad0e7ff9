"""The animated mouth as a user sees it: a smiling portrait keeps its own teeth when the driver opens wide, the
upper teeth stay under the upper lip, and the inside is dark, not a black hole."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from durian_core.api import build_request
from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.engines.classical import ClassicalEngine
from durian_core.engines.mouth import UPPER_LIP
from durian_core.face import regions
from durian_core.face.motion import mouth_opening
from durian_core.metrics import TEETH_CHROMA, TEETH_LIGHTNESS, mouth_interior
from durian_core.prepare import prepare_inputs
from durian_core.types import DrivingVideo

CLASSICAL = GenerationSettings(engine="classical")


def animated(portrait: np.ndarray, carphone):
    """The prepared inputs of ``portrait`` driven by the clip, and its renderer."""
    request = build_request(portrait, (), driver=DrivingVideo(carphone.frames, carphone.fps), settings=CLASSICAL)
    cache = FeatureCache()
    prepared = prepare_inputs(request, cache=cache)
    render, _ = ClassicalEngine().renderer(prepared, CLASSICAL, cache=cache)
    return prepared, lambda index: render(
        prepared.motion[index], prepared.driver_frames[index], prepared.driver_landmarks[index]
    )


@pytest.mark.parametrize("name", ["obama", "astronaut"])
def test_a_smiling_portrait_shows_its_teeth_when_the_driver_opens_wide(name, request, carphone):
    # Both portraits smile with their upper teeth showing. Their open mouths were a dark oval over a pink floor: in
    # the tenth of the frames where the speaker's mouth is widest, no pixel was teeth-like and half were near-black.
    portrait = request.getfixturevalue(name)
    prepared, frame = animated(portrait, carphone)
    opening = mouth_opening(prepared.driver_landmarks)
    widest = np.argsort(opening)[::-1][: len(opening) // 10]
    totals = np.sum([mouth_interior(frame(index), prepared.motion[index]) for index in widest], axis=0)
    assert totals[0] > 100 * len(widest)  # the mouth is open wide in these frames
    assert totals[1] / totals[0] >= 0.10, totals  # teeth-like
    assert totals[2] / totals[0] <= 0.40, totals  # near-black


def teeth_edge(frame: np.ndarray, landmarks: np.ndarray, still: np.ndarray) -> float | None:
    """How far below the upper lip's middle the upper teeth end, in the still's pixels: the lowest teeth-like row
    of the columns about the mouth's middle, measured along the face's own vertical and divided by the head's scale
    relative to the ``still`` landmarks. ``None`` where no teeth show there."""
    lip = landmarks[list(UPPER_LIP)].mean(axis=0)
    across = landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE]
    scale = np.linalg.norm(across) / np.linalg.norm(still[regions.LEFT_FACE_SIDE] - still[regions.RIGHT_FACE_SIDE])
    across = across / np.linalg.norm(across)
    down = np.array([-across[1], across[0]])
    outline = np.round(landmarks[list(regions.LIPS_INNER)] * 16).astype(np.int32)
    mouth = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [outline], 1, cv2.LINE_8, shift=4)
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)
    chroma = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128)
    teeth = (lab[..., 0] * 100 / 255 > TEETH_LIGHTNESS) & (chroma < TEETH_CHROMA)
    ys, xs = np.nonzero(teeth & (mouth > 0))
    offsets = np.stack([xs, ys], axis=1) - lip
    middle = np.abs(offsets @ across) < 0.04 * regions.face_size(landmarks)
    if middle.sum() < 5:
        return None
    return float(np.percentile(offsets[middle] @ down, 95) / scale)


def test_the_upper_teeth_ride_the_upper_lip(obama, carphone):
    # Over the whole clip (the head tilts by 20 degrees, the mouth opens and closes), wherever the mouth opens past
    # the still's smile, the upper teeth's edge keeps its distance below the upper lip, as in the still.
    prepared, frame = animated(obama, carphone)
    still = prepared.portrait_landmarks
    expected = teeth_edge(prepared.portrait, still, still)
    assert expected is not None and expected > 5  # the still shows its upper teeth
    size = regions.face_size(still)
    gap = np.linalg.norm(still[regions.LOWER_LIP_INNER] - still[regions.UPPER_LIP_INNER])
    edges = []
    for index, target in enumerate(prepared.motion):
        if np.linalg.norm(target[regions.LOWER_LIP_INNER] - target[regions.UPPER_LIP_INNER]) > gap + 0.03 * size:
            edges.append(teeth_edge(frame(index), target, still))
    assert len(edges) >= 10, len(edges)
    assert all(edge is not None for edge in edges), edges  # the teeth show in every open frame
    assert np.abs(np.array(edges) - expected).max() < 3.0, (expected, edges)  # pixels, at the still's scale
