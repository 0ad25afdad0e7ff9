"""The durian engine on a tiny random pipeline folder: real faces in, frames of the portrait's size out."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import torch

from durian_core.api import EngineChoice, load_engine
from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.engines.durian import DurianEngine
from durian_core.errors import DurianInputError
from durian_core.placement import face_crop
from durian_core.prepare import prepare_inputs
from durian_core.tiny import save_tiny_pipeline
from durian_core.types import AttributeReference, DrivingVideo, GenerateRequest, Interpolation

SETTINGS = GenerationSettings(output_size=128, num_inference_steps=2, window=4, overlap=1, seed=0)


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("durian") / "tiny", seed=0)


@pytest.fixture(scope="module")
def engine(weights) -> DurianEngine:
    return DurianEngine.from_pretrained(weights, device="cpu")


def run(engine: DurianEngine, prepared, settings: GenerationSettings = SETTINGS, **kwargs):
    """The engine on its own cache (reference encodings are kept there between calls)."""
    return engine.generate(prepared, settings, cache=ENGINE_CACHE, **kwargs)


ENGINE_CACHE = FeatureCache(64 << 20)


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
    frames, timings = run(engine, still_inputs)
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
    frames, _ = run(engine, video_inputs, progress=lambda fraction, message: updates.append(fraction))
    assert frames.shape[0] == len(video_inputs.motion) == 6
    assert frames.shape[1:3] == video_inputs.portrait.shape[:2]
    assert updates[0] == 0.0 and updates[-1] == 1.0 and updates == sorted(updates)


def test_seeded_and_a_new_seed_or_alpha_reuses_the_references(engine, video_inputs):
    blended = prepare_inputs_with_alpha(video_inputs, 0.5)
    first, _ = run(engine, blended)
    again, _ = run(engine, blended)
    assert np.array_equal(first, again)

    calls = {"count": 0}

    def count(module, inputs, output):
        calls["count"] += 1

    handles = [engine.pipeline.prnet.register_forward_hook(count), engine.pipeline.arnet.register_forward_hook(count)]
    try:
        other, _ = run(engine, prepare_inputs_with_alpha(video_inputs, 0.9), replace(SETTINGS, seed=5))
    finally:
        for handle in handles:
            handle.remove()
    assert calls["count"] == 0
    assert np.abs(other.astype(int) - first.astype(int)).mean() > 0.5


def prepare_inputs_with_alpha(prepared, alpha: float):
    """The same prepared inputs with an interpolation between the two attributes (as the app's slider makes)."""
    return replace(prepared, interpolation=Interpolation(0, 1, alpha))


def test_both_engines_read_an_interpolation_with_the_same_weights(engine, still_inputs, monkeypatch):
    # Two hair styles at 30 % opacity each, half-way between them: each style stays at 30 % in both engines (a
    # pair's weights are never added up). The durian engine's two terms weigh 1 − α and α; the classical engine
    # composes the pair once, as one cut in between, each style at its own 30 %.
    import durian_core.pipeline as pipeline_module
    from durian_core.engines.editor import edit_portrait

    hair = still_inputs.attributes[0]
    prepared = replace(
        still_inputs,
        attributes=(replace(hair, weight=0.3), replace(hair, weight=0.3, name="second")),
        interpolation=Interpolation(0, 1, 0.5),
    )
    classical_terms = []

    def compose(inputs, weights):
        classical_terms.append(tuple(weights))
        return inputs.portrait

    edit_portrait(prepared, compose=compose)

    plans = []
    original = pipeline_module.plan_branches

    def recording(*args, **kwargs):
        plans.append(original(*args, **kwargs))
        return plans[-1]

    monkeypatch.setattr(pipeline_module, "plan_branches", recording)
    run(engine, prepared)
    context = plans[-1].context
    attribute_terms = context.branches[plans[-1].active.index("attribute")]
    durian_terms = [
        tuple(
            context.bank_weights.get(f"attribute_{index}", 0.0) if f"attribute_{index}" in term.banks else 0.0
            for index in range(2)
        )
        for term in attribute_terms
    ]
    assert durian_terms == [(0.3, 0.0), (0.0, 0.3)]
    assert classical_terms == [(0.3, 0.3)]
    assert [term.weight for term in attribute_terms] == [0.5, 0.5]


def test_weights_load_once_per_process(weights):
    choice = EngineChoice("durian", "requested", str(weights))
    first = load_engine(choice)
    assert load_engine(choice) is first
    assert first.name == "durian"


def test_no_attribute_is_refused(engine, still_inputs):
    with pytest.raises(DurianInputError, match="attribute"):
        run(engine, replace(still_inputs, attributes=()))


def test_hub_weights_need_a_revision():
    with pytest.raises(DurianInputError, match="revision"):
        DurianEngine.from_pretrained("someone/durian-weights")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sd15_benchmark_on_gpu():
    from durian_core.bench.durian import bench_durian

    report = bench_durian(config="sd15", frames=16, size=512, steps=4, repeats=2)
    assert report["seconds_per_step"] > 0 and report["step_tflops"] > 1
