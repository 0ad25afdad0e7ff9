"""The feature cache's bounds and counters, and the metrics' behaviour on known cases."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from durian_core.cache import FeatureCache, content_key
from durian_core.metrics import identity_available, identity_similarity, l1, landmark_jitter, psnr, ssim


def test_content_key_depends_on_content_not_identity():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert content_key(a, "hair") == content_key(a.copy(), "hair")
    assert content_key(a, "hair") != content_key(a, "glasses")
    assert content_key(a) != content_key(a.reshape(4, 3))
    b = a.copy()
    b[0, 0] = 99
    assert content_key(a) != content_key(b)


def test_cache_counts_hits_and_misses_and_computes_once():
    cache = FeatureCache()
    calls = []
    for _ in range(3):
        value = cache.get_or_compute("landmarks", "k", lambda: calls.append(1) or np.ones(4))
    assert len(calls) == 1 and value.sum() == 4
    assert cache.stats()["landmarks"] == {"hits": 2, "misses": 1}


def test_cache_evicts_least_recently_used_within_its_byte_budget():
    cache = FeatureCache(max_bytes=3 * 1000)
    for key in "abc":
        cache.put("x", key, np.zeros(1000, np.uint8))
    cache.get_or_compute("x", "a", lambda: None)  # touch a: b is now the oldest
    cache.put("x", "d", np.zeros(1000, np.uint8))
    assert cache.stats()["total"]["bytes"] <= 3000
    recomputed = []
    cache.get_or_compute("x", "b", lambda: recomputed.append("b") or np.zeros(1, np.uint8))
    cache.get_or_compute("x", "a", lambda: recomputed.append("a") or np.zeros(1, np.uint8))
    assert recomputed == ["b"]


def test_value_larger_than_the_budget_is_not_kept():
    cache = FeatureCache(max_bytes=100)
    cache.put("x", "small", np.zeros(50, np.uint8))
    cache.put("x", "huge", np.zeros(1000, np.uint8))
    assert cache.stats()["total"] == {"bytes": 50, "items": 1}


def test_cache_is_safe_under_threads():
    cache = FeatureCache(max_bytes=10_000)
    errors = []

    def work(worker):
        try:
            for index in range(200):
                key = str((worker * 7 + index) % 30)
                value = cache.get_or_compute("n", key, lambda key=key: np.full(100, int(key), np.uint8))
                assert value[0] == int(key)
        except AssertionError as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and cache.stats()["total"]["bytes"] <= 10_000


def test_metrics_on_identical_and_noisy_images(astronaut):
    assert l1(astronaut, astronaut) == 0.0 and psnr(astronaut, astronaut) == float("inf")
    assert ssim(astronaut, astronaut) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    light = np.clip(astronaut + rng.normal(0, 5, astronaut.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(astronaut + rng.normal(0, 30, astronaut.shape), 0, 255).astype(np.uint8)
    assert psnr(light, astronaut) > psnr(heavy, astronaut) > 10
    assert ssim(light, astronaut) > ssim(heavy, astronaut)
    assert l1(light, astronaut) < l1(heavy, astronaut)
    # PSNR of Gaussian noise σ = 5 on [0, 255] is about 34 dB.
    assert psnr(light, astronaut) == pytest.approx(34.2, abs=1.0)


def test_metrics_in_a_region_score_only_its_pixels(astronaut):
    rng = np.random.default_rng(0)
    noisy = np.clip(astronaut + rng.normal(0, 20, astronaut.shape), 0, 255).astype(np.uint8)
    whole = np.ones(astronaut.shape[:2], bool)
    for metric in (l1, psnr, ssim):  # a region covering the frame scores what the frame does
        assert metric(noisy, astronaut, mask=whole) == pytest.approx(metric(noisy, astronaut))
    # Noise on the left half only: the right half (beyond SSIM's window from the seam) scores as identical.
    left = noisy.copy()
    left[:, 256:] = astronaut[:, 256:]
    right = np.zeros(astronaut.shape[:2], bool)
    right[:, 270:] = True
    assert l1(left, astronaut, mask=right) == 0.0 and psnr(left, astronaut, mask=right) == float("inf")
    assert ssim(left, astronaut, mask=right) == pytest.approx(1.0)
    assert ssim(left, astronaut, mask=~right) < 0.6 and psnr(left, astronaut, mask=~right) < 25
    assert np.isnan(psnr(left, astronaut, mask=np.zeros_like(right)))  # an empty region has no score


def test_landmark_jitter_is_higher_for_shaky_tracks():
    rng = np.random.default_rng(0)
    base = rng.uniform(100, 300, (478, 2)).astype(np.float32)
    steady = np.repeat(base[None], 20, axis=0)
    shaky = steady + rng.normal(0, 2, steady.shape).astype(np.float32)
    assert landmark_jitter(steady) == 0.0 and landmark_jitter(shaky) > 0.005


@pytest.mark.skipif(not identity_available(), reason="the optional identity extra (dlib) is not installed")
def test_identity_similarity_tells_people_apart(obama, biden):
    shifted = np.roll(obama, 12, axis=1)
    same = identity_similarity(obama, shifted)
    different = identity_similarity(obama, biden)
    assert same is not None and different is not None
    assert same > 0.95 > different
