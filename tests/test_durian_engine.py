"""The durian engine on a tiny random pipeline folder: real faces in, frames of the portrait's size out."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.engines.base import AttributeReference, DrivingVideo, GenerateRequest, Interpolation
from durian_core.engines.durian import DurianEngine, face_crop, load_durian_engine
from durian_core.errors import DurianInputError
from durian_core.models.durian import save_tiny_pipeline
from durian_core.prepare import prepare_inputs

SETTINGS = GenerationSettings(output_size=128, num_inference_steps=2, window=4, overlap=1, seed=0)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("durian") / "tiny", seed=0)


@pytest.fixture(scope="module")
def engine(weights) -> DurianEngine:
    engine = DurianEngine.from_pretrained(weights, device="cpu")
    engine.pipeline.feature_cache = FeatureCache(64 << 20)
    return engine


@pytest.fixture(scope="module")
def cache() -> FeatureCache:
    return FeatureCache(256 << 20)


@pytest.fixture(scope="module")
def still_inputs(astronaut, example_attributes, cache):
    request = GenerateRequest(
        portrait=astronaut, attributes=(AttributeReference(example_attributes["hair"], "hair"),), settings=SETTINGS
    )
    return prepare_inputs(request, cache=cache)


@pytest.fixture(scope="module")
def video_inputs(astronaut, example_attributes, carphone, cache):
    driver = DrivingVideo(frames=carphone.frames[:6], fps=carphone.fps)
    request = GenerateRequest(
        portrait=astronaut,
        attributes=(
            AttributeReference(example_attributes["hair"], "hair"),
            AttributeReference(example_attributes["hat"], "hat"),
        ),
        driver=driver,
        settings=SETTINGS,
    )
    return prepare_inputs(request, cache=cache)


def test_still_edit_is_one_frame_of_the_portrait_size_with_the_background_kept(engine, still_inputs):
    frames, timings = engine.generate(still_inputs, SETTINGS)
    height, width = still_inputs.portrait.shape[:2]
    assert frames.shape == (1, height, width, 3) and frames.dtype == np.uint8
    assert {"crop", "diffusion", "paste_back"} <= set(timings)
    # Pixels outside the face crop are the portrait's own; inside, the model drew something else.
    crop = face_crop(still_inputs.portrait_landmarks, size=engine.pipeline.resolution)
    square = np.ones((crop.size, crop.size), np.float32)
    inside = cv2.warpAffine(square, cv2.invertAffineTransform(crop.matrix), (width, height))
    outside = inside == 0
    assert outside.any()
    assert np.array_equal(frames[0][outside], still_inputs.portrait[outside])
    changed = np.abs(frames[0].astype(int) - still_inputs.portrait.astype(int)).mean(axis=-1)
    assert changed[inside > 0.99].mean() > 5


def test_video_has_one_frame_per_driver_frame_and_reports_progress(engine, video_inputs):
    updates: list[float] = []
    frames, _ = engine.generate(video_inputs, SETTINGS, progress=lambda fraction, message: updates.append(fraction))
    assert frames.shape[0] == len(video_inputs.motion) == 6
    assert frames.shape[1:3] == video_inputs.portrait.shape[:2]
    assert updates[0] == 0.0 and updates[-1] == 1.0 and updates == sorted(updates)


def test_seeded_and_a_new_seed_or_alpha_reuses_the_references(engine, video_inputs):
    blended = prepare_inputs_with_alpha(video_inputs, 0.5)
    first, _ = engine.generate(blended, SETTINGS)
    again, _ = engine.generate(blended, SETTINGS)
    assert np.array_equal(first, again)

    calls = {"count": 0}

    def count(module, inputs, output):
        calls["count"] += 1

    handles = [engine.pipeline.prnet.register_forward_hook(count), engine.pipeline.arnet.register_forward_hook(count)]
    try:
        other, _ = engine.generate(prepare_inputs_with_alpha(video_inputs, 0.9), replace(SETTINGS, seed=5))
    finally:
        for handle in handles:
            handle.remove()
    assert calls["count"] == 0
    assert np.abs(other.astype(int) - first.astype(int)).mean() > 0.5


def prepare_inputs_with_alpha(prepared, alpha: float):
    """The same prepared inputs with an interpolation between the two attributes (as the app's slider makes)."""
    Interpolation(0, 1, alpha)  # validated like a request's
    return replace(prepared, interpolation=(0, 1, alpha))


def test_weights_load_once_per_process(weights):
    first = load_durian_engine(str(weights))
    assert load_durian_engine(str(weights)) is first
    assert first.name == "durian"


def test_no_attribute_is_refused(engine, still_inputs):
    with pytest.raises(DurianInputError, match="attribute"):
        engine.generate(replace(still_inputs, attributes=()), SETTINGS)


def test_hub_weights_need_a_revision():
    with pytest.raises(DurianInputError, match="revision"):
        DurianEngine.from_pretrained("someone/durian-weights")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sd15_benchmark_on_gpu():
    from durian_core.models.bench import bench_durian

    report = bench_durian(config="sd15", frames=16, size=512, steps=4, repeats=2)
    assert report["seconds_per_step"] > 0 and report["step_tflops"] > 1
