"""Live driving in the core: a camera's frames, one at a time, move the edited portrait."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import EXAMPLES, FakeClock

from durian_app.live import LiveSlots
from durian_core.api import build_request, live_animator, load_attribute, preview
from durian_core.cache import FeatureCache
from durian_core.face.landmarks import detect_landmarks
from durian_core.face.motion import mouth_opening
from durian_core.live import OneEuroFilter
from durian_core.media import load_image


@pytest.fixture(scope="module")
def hair_request():
    return build_request(
        EXAMPLES / "portraits" / "astronaut.jpg", [load_attribute(EXAMPLES / "portraits" / "biden.jpg", "hair")]
    )


def test_one_euro_steadies_a_trembling_point_and_follows_a_fast_one():
    rng = np.random.default_rng(0)
    steady = OneEuroFilter(min_cutoff_hz=1.5, beta=0.02, derivative_cutoff_hz=1.0)
    times = np.arange(90) / 30
    noisy = 100 + rng.normal(0, 1.5, size=(90, 2)).astype(np.float32)
    filtered = np.stack([steady(point, t) for point, t in zip(noisy, times)])
    assert filtered[30:].std(axis=0).max() < 0.5 * noisy[30:].std(axis=0).min(), "a still face stops trembling"

    moving = OneEuroFilter(min_cutoff_hz=1.5, beta=0.02, derivative_cutoff_hz=1.0)
    path = np.stack([100 + 300 * times, np.full(90, 50.0)], axis=1).astype(np.float32)  # 300 px/s
    followed = np.stack([moving(point, t) for point, t in zip(path, times)])
    lag = np.abs(followed[30:, 0] - path[30:, 0]).mean()
    assert lag < 10, f"a fast turn lags {lag:.1f} px (a fixed 1.5-Hz low-pass would lag about 30)"


def test_the_live_portrait_opens_its_mouth_with_the_camera_face_and_holds_a_lost_face(carphone, hair_request):
    cache = FeatureCache()
    animator, note = live_animator(hair_request, cache=cache)
    assert note == "classical engine"
    frames = carphone.frames[:90]
    outputs = [animator(frame, index / 30) for index, frame in enumerate(frames)]
    assert animator.faces == len(frames)
    openings_in = mouth_opening(np.stack([detect_landmarks(frame) for frame in frames[::6]]))
    openings_out = mouth_opening(np.stack([detect_landmarks(frame) for frame in outputs[::6]]))
    assert np.corrcoef(openings_in, openings_out)[0, 1] > 0.6, "the portrait's mouth follows the camera's"
    assert outputs[0].shape == load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb.shape

    blank = np.full_like(frames[0], 128)
    held = animator(blank, 3.1)
    assert np.array_equal(held, outputs[-1]), "a frame without a face holds the last pose"
    timing = animator.timing()
    assert 0 < timing["median_ms"] <= timing["p95_ms"]
    animator.close()


def test_neutral_pose_is_the_first_face_or_the_marked_one(carphone, hair_request):
    cache = FeatureCache()
    animator, _ = live_animator(hair_request, cache=cache)
    still = preview(hair_request, cache=cache).frames[0]
    first = animator(carphone.frames[40], 0.0)
    # The first face is neutral: the portrait comes out as the still edit, whatever pose the camera face has.
    assert np.abs(first.astype(int) - still).mean() < 3
    moved = animator(carphone.frames[100], 1.0)
    assert np.abs(moved.astype(int) - still).mean() > 1.5, "a later pose moves the portrait"
    animator.set_neutral()
    again = animator(carphone.frames[100], 2.0)
    assert np.abs(again.astype(int) - still).mean() < 3, "after 'set neutral' that pose is the rest pose"
    animator.close()


def test_starting_live_after_the_preview_recomputes_nothing(hair_request):
    cache = FeatureCache()
    preview(hair_request, cache=cache)
    before = cache.stats()
    animator, _ = live_animator(hair_request, cache=cache)
    after = cache.stats()
    for namespace in ("landmarks", "masks", "aligned", "edits"):
        assert after.get(namespace, {}).get("misses", 0) == before.get(namespace, {}).get("misses", 0), namespace
    animator.close()


def test_live_slots_admit_a_limited_number_of_sessions_and_free_idle_ones():
    clock = FakeClock()
    slots = LiveSlots(2, idle_s=5.0, clock=clock)
    assert slots.claim("a") and slots.claim("b")
    assert not slots.claim("c"), "a third session is refused while two stream"
    assert slots.claim("a"), "a session that holds a slot keeps it"
    slots.release("b")
    assert slots.claim("c")
    clock.advance(4.9)
    assert not slots.claim("d"), "sessions that sent a frame within the idle time keep their slots"
    clock.advance(0.2)
    assert slots.claim("d") and slots.claim("e"), "sessions that stopped sending frames gave their slots up"
    assert slots.active() == 2
