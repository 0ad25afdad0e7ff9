"""DurianPipeline at the tiny size on CPU: 2 steps, seeded."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from diffusers import EulerDiscreteScheduler
from PIL import Image

from durian_core.cache import FeatureCache
from durian_core.guidance import guidance_weights, plan_branches
from durian_core.models.config import TINY
from durian_core.models.durian import DurianModel
from durian_core.models.weights import DurianWeightsError
from durian_core.pipeline import DurianPipeline
from durian_core.tiny import dummy_components
from durian_core.types import blend_terms
from durian_core.windows import window_starts

SIZE = TINY.resolution


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def pipe() -> DurianPipeline:
    pipeline = DurianPipeline.from_model(
        DurianModel.from_config(TINY, seed=0), **dummy_components(TINY, seed=0), model_config=TINY
    )
    pipeline.feature_cache = FeatureCache(64 << 20)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def _image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _mask(top: int, bottom: int) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[top:bottom] = 1.0
    return mask


def _keypoints(frames: int, seed: int = 5) -> np.ndarray:
    """Keypoint-like maps: a bright dot moving a little each frame."""
    maps = np.zeros((frames, SIZE, SIZE, 3), np.uint8)
    for index in range(frames):
        x = 20 + index % 8
        maps[index, 30:34, x : x + 4] = (255, 128, 0)
    return maps


PORTRAIT, PORTRAIT_MASK = _image(1), _mask(0, 24)
HAIR_A, HAIR_B, MASK_A, MASK_B = _image(2), _image(3), _mask(0, 30), _mask(0, 20)


def _run(pipe, attributes=(HAIR_A,), masks=(MASK_A,), *, frames=2, seed=0, portrait_mask=PORTRAIT_MASK, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    kwargs.setdefault("guidance_scale", 2.0)
    return pipe(
        PORTRAIT,
        portrait_mask,
        list(attributes),
        list(masks),
        keypoint_maps=_keypoints(frames),
        generator=torch.Generator().manual_seed(seed),
        **kwargs,
    ).frames


def test_output_types_shapes_and_frame_counts(pipe):
    frames = _run(pipe, frames=3)
    assert frames.shape == (3, SIZE, SIZE, 3) and frames.dtype == np.uint8
    pil = _run(pipe, frames=2, output_type="pil")
    assert len(pil) == 2 and isinstance(pil[0], Image.Image) and pil[0].size == (SIZE, SIZE)
    latents = _run(pipe, frames=2, output_type="latent")
    assert tuple(latents.shape) == (1, 4, 2, SIZE // 8, SIZE // 8)
    still = pipe(PORTRAIT, PORTRAIT_MASK, [HAIR_A], [MASK_A], num_inference_steps=2).frames
    assert still.shape == (1, SIZE, SIZE, 3)


def test_same_seed_same_frames_new_seed_new_frames(pipe):
    first = _run(pipe, seed=3)
    again = _run(pipe, seed=3)
    other = _run(pipe, seed=4)
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other.astype(int)).mean() > 1.0


def test_alpha_ends_equal_single_attribute_outputs(pipe):
    kwargs = {"output_type": "latent"}
    only_a = _run(pipe, (HAIR_A,), (MASK_A,), **kwargs)
    only_b = _run(pipe, (HAIR_B,), (MASK_B,), **kwargs)
    pair = ((HAIR_A, HAIR_B), (MASK_A, MASK_B))
    torch.testing.assert_close(_run(pipe, *pair, alpha=0.0, **kwargs), only_a, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(_run(pipe, *pair, alpha=1.0, **kwargs), only_b, rtol=1e-5, atol=1e-5)
    middle = _run(pipe, *pair, alpha=0.5, **kwargs)
    assert (middle - only_a).abs().max() > 1e-3 and (middle - only_b).abs().max() > 1e-3


def test_two_attributes_compose_and_differ_from_one(pipe):
    one = _run(pipe, (HAIR_A,), (MASK_A,), output_type="latent")
    two = _run(pipe, (HAIR_A, HAIR_B), (MASK_A, MASK_B), output_type="latent")
    assert (two - one).abs().max() > 1e-3
    # Weighting the second attribute down to zero leaves the first alone in attention (the embedding still mixes).
    weighted = _run(pipe, (HAIR_A, HAIR_B), (MASK_A, MASK_B), attribute_weights=(1.0, 0.0), output_type="latent")
    assert (weighted - two).abs().max() > 1e-3


def test_portrait_mask_changes_the_output(pipe):
    masked = _run(pipe, portrait_mask=PORTRAIT_MASK)
    unmasked = _run(pipe, portrait_mask=np.zeros_like(PORTRAIT_MASK))
    assert np.abs(masked.astype(int) - unmasked.astype(int)).mean() > 0.5


def test_uncond_branch_sees_no_reference_tokens(pipe):
    guidance = {"portrait": 1.5, "attribute": 2.0, "motion": 1.2}

    def branches(portrait: np.ndarray, hair: np.ndarray) -> dict[str, torch.Tensor]:
        encoded_portrait = pipe.encode_reference(portrait, PORTRAIT_MASK, role="portrait")
        encoded_hair = pipe.encode_reference(hair, MASK_A, role="attribute")
        plan = plan_branches(encoded_portrait, [encoded_hair], guidance=guidance, terms=blend_terms([1.0], None))
        assert plan.active == ("uncond", "portrait", "attribute", "motion")
        latents = torch.randn(1, 4, 2, SIZE // 8, SIZE // 8, generator=torch.Generator().manual_seed(0))
        motion = pipe.encode_motion(_keypoints(2), 2)
        return pipe.predict_branches(latents, 500, plan=plan, motion=motion)

    first = branches(PORTRAIT, HAIR_A)
    second = branches(_image(9), HAIR_B)
    torch.testing.assert_close(first["uncond"], second["uncond"], rtol=1e-5, atol=1e-6)
    for name in ("portrait", "attribute", "motion"):
        assert (first[name] - second[name]).abs().max() > 1e-3, name
    assert (first["attribute"] - first["portrait"]).abs().max() > 1e-3  # the attribute bank is read


def test_guidance_weights_follow_signal_fusion():
    assert guidance_weights(2.0, 2.0, 2.0) == {"uncond": -1.0, "portrait": 0.0, "attribute": 0.0, "motion": 2.0}
    weights = guidance_weights(1.5, 2.5, 1.0)
    assert weights == {"uncond": -0.5, "portrait": -1.0, "attribute": 1.5, "motion": 1.0}
    assert sum(weights.values()) == pytest.approx(1.0)  # a prediction, not a sum of them


def test_new_alpha_seed_or_scale_runs_no_reference_net_and_no_vae_encode(pipe):
    calls = {"prnet": 0, "arnet": 0, "vae_encoder": 0}

    def counter(name):
        def hook(module, inputs, output):
            calls[name] += 1

        return hook

    handles = [
        pipe.prnet.register_forward_hook(counter("prnet")),
        pipe.arnet.register_forward_hook(counter("arnet")),
        pipe.vae.encoder.register_forward_hook(counter("vae_encoder")),
    ]
    pipe.feature_cache = FeatureCache(64 << 20)
    pair = ((HAIR_A, HAIR_B), (MASK_A, MASK_B))
    try:
        _run(pipe, *pair, alpha=0.3, seed=0)
        assert calls == {"prnet": 1, "arnet": 2, "vae_encoder": 3}
        _run(pipe, *pair, alpha=0.7, seed=1, guidance_attribute=3.0)
        _run(pipe, *pair, alpha=0.1, seed=2, guidance_scale=1.0)
        assert calls == {"prnet": 1, "arnet": 2, "vae_encoder": 3}
        assert pipe.feature_cache.stats()[pipe._cache_namespace]["hits"] == 6
    finally:
        for handle in handles:
            handle.remove()


def test_sliding_windows_give_every_frame_without_seams(pipe):
    assert window_starts(10, 4, 1) == [0, 3, 6]
    # 2.5 windows of 4 frames overlapping by 1. One noise image for every frame, so frames inside a window are
    # near-identical and a seam (a window boundary that is not blended) would stand out.
    frames = 9
    shape = (1, 4, 1, SIZE // 8, SIZE // 8)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(0)).expand(-1, -1, frames, -1, -1)
    maps = np.repeat(_keypoints(1), frames, axis=0)
    video = pipe(
        PORTRAIT,
        PORTRAIT_MASK,
        [HAIR_A],
        [MASK_A],
        keypoint_maps=maps,
        latents=latents.contiguous(),
        num_inference_steps=2,
        window=4,
        overlap=1,
        output_type="latent",
    ).frames
    assert video.shape[2] == frames
    # Measured on the latents: the tiny random VAE decodes small latent changes to near-identical pixels.
    steps = (video[0, :, 1:] - video[0, :, :-1]).abs().mean(dim=(0, 2, 3)).numpy()
    starts = window_starts(frames, 4, 1)
    seams = {start - 1 for start in starts[1:]} | {start for start in starts[1:]}
    inside = [steps[i] for i in range(len(steps)) if i not in seams]
    across = [steps[i] for i in sorted(seams) if i < len(steps)]
    assert max(across) <= max(inside) * 1.25, (across, inside)


def test_history_frames_continue_the_previous_window(pipe):
    video = _run(pipe, frames=7, window=4, overlap=2, history_frames=1, output_type="latent")
    assert video.shape[2] == 7
    plain = _run(pipe, frames=7, window=4, overlap=2, output_type="latent")
    assert (video - plain).abs().max() > 1e-4


def test_schedulers_can_be_swapped(pipe):
    original = pipe.scheduler
    try:
        pipe.scheduler = EulerDiscreteScheduler.from_config(original.config)
        frames = _run(pipe, frames=2)
        assert frames.shape == (2, SIZE, SIZE, 3)
    finally:
        pipe.scheduler = original


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"portrait_mask": np.zeros((SIZE, SIZE + 1), np.float32)}, "portrait_mask"),
        ({"alpha": 1.5}, "alpha"),
        ({"alpha": 0.5}, "interpolate"),
        ({"window": 4, "overlap": 4}, "overlap"),
        ({"history_frames": 3, "overlap": 2}, "history_frames"),
        ({"output_type": "mp4"}, "output_type"),
        ({"guidance_attribute": -1.0}, "attribute"),
        ({"attribute_weights": (0.5, 0.5)}, "attribute_weights"),
    ],
)
def test_check_inputs_names_the_bad_value(pipe, change, message):
    kwargs = {"portrait_mask": PORTRAIT_MASK} | change
    with pytest.raises(ValueError, match=message):
        _run(pipe, **kwargs)


def test_pipeline_save_load_gives_identical_frames(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "weights")
    for part in ("vae", "image_encoder", "prnet", "arnet", "denoiser", "guider"):
        assert any((tmp_path / "weights" / part).glob("*.safetensors")), part
    loaded = DurianPipeline.from_pretrained(tmp_path / "weights")
    loaded.feature_cache = FeatureCache(64 << 20)
    assert np.array_equal(_run(pipe, seed=7), _run(loaded, seed=7))
    (tmp_path / "weights" / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(DurianWeightsError, match="vae"):
        DurianPipeline.from_pretrained(tmp_path / "weights")


def test_concurrent_requests_on_one_pipeline_do_not_mix(pipe):
    from concurrent.futures import ThreadPoolExecutor

    jobs = [
        {"attributes": (HAIR_A,), "masks": (MASK_A,), "seed": 1, "frames": 3},
        {"attributes": (HAIR_B, HAIR_A), "masks": (MASK_B, MASK_A), "seed": 2, "frames": 2, "alpha": 0.3},
        {"attributes": (HAIR_B,), "masks": (MASK_B,), "seed": 3, "frames": 4, "guidance_attribute": 3.0},
    ]
    jobs = [job | {"num_inference_steps": 4} for job in jobs * 2]
    expected = [_run(pipe, output_type="latent", **job) for job in jobs]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so any shared per-request state would clash
    try:
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            results = list(pool.map(lambda job: _run(pipe, output_type="latent", **job), jobs))
    finally:
        sys.setswitchinterval(switch)
    for index, result in enumerate(results):
        torch.testing.assert_close(result, expected[index], rtol=1e-5, atol=1e-5)
