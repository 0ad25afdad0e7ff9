"""DurianModel at the tiny size: reference attention, guider, strict save/load, building from an SD1.5 layout."""

from __future__ import annotations

import json
import time

import pytest
import torch
from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel, UNetMotionModel
from safetensors.torch import load_file, save_file
from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

from durian_core.models.config import TINY, model_config
from durian_core.models.durian import DurianModel
from durian_core.models.guider import KeypointGuider
from durian_core.models.reference import (
    ReferenceContext,
    ReferenceReadProcessor,
    ReferenceTerm,
    has_reference_attention,
    install_reference_attention,
    reference_layers,
    remove_reference_attention,
)
from durian_core.models.weights import DurianWeightsError

LATENT = TINY.resolution // 8


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def model() -> DurianModel:
    torch.manual_seed(0)
    return DurianModel.from_config(TINY, seed=0)


def _inputs(seed: int, *, frames: int = 2, batch: int = 1):
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(batch, 4, frames, LATENT, LATENT, generator=generator)
    embedding = torch.randn(batch, 1, TINY.cross_attention_dim, generator=generator)
    return latents, embedding


def _banks(model: DurianModel, seed: int, *, net: str = "arnet", mask_value: float = 1.0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, 4, LATENT, LATENT, generator=generator)
    embedding = torch.randn(1, 1, TINY.cross_attention_dim, generator=generator)
    mask = torch.full((1, 1, LATENT, LATENT), mask_value)
    with torch.no_grad():
        return model.record_banks(net, latents, mask, embedding)


def _predict(model, latents, embedding, context, features=None):
    with torch.no_grad():
        return model.predict_noise(latents, 500, embeddings=embedding, reference=context, motion_features=features)


def test_configs_are_named_and_frozen():
    assert model_config("tiny") is TINY
    assert model_config("sd15").block_out_channels == (320, 640, 1280, 1280)
    with pytest.raises(ValueError, match="sd21"):
        model_config("sd21")
    with pytest.raises(AttributeError):
        TINY.resolution = 128  # type: ignore[misc]


def test_removing_processors_restores_the_stock_unet_exactly():
    torch.manual_seed(1)
    unet = UNet2DConditionModel(**TINY.unet_kwargs())
    denoiser = UNetMotionModel.from_unet2d(unet, MotionAdapter(**TINY.motion_adapter_kwargs())).eval()
    latents, embedding = _inputs(3)
    states = embedding.repeat_interleave(2, dim=0)
    with torch.no_grad():
        stock = denoiser(latents, 10, encoder_hidden_states=states).sample
        layers = install_reference_attention(denoiser, mode="read")
        installed = denoiser(latents, 10, encoder_hidden_states=states).sample
        remove_reference_attention(denoiser)
        removed = denoiser(latents, 10, encoder_hidden_states=states).sample
    assert layers == reference_layers(denoiser) and all("motion_modules" not in name for name in layers)
    assert len(layers) == 7  # one per down block, one mid, two per up block
    assert torch.equal(installed, stock)
    assert torch.equal(removed, stock)
    assert not has_reference_attention(denoiser)


def test_write_processors_record_every_spatial_self_attention_input(model):
    banks = _banks(model, 0)
    assert sorted(banks) == sorted(model.reference_layers)
    first = banks["down_blocks.0.attentions.0.transformer_blocks.0.attn1"]
    assert first.shape == (1, LATENT * LATENT, TINY.block_out_channels[0])


def test_reference_tokens_change_the_frame_and_uncond_rows_see_none(model):
    latents, embedding = _inputs(1)
    banks = {"portrait": _banks(model, 10, net="prnet"), "attribute_0": _banks(model, 11)}
    other = {"portrait": _banks(model, 20, net="prnet"), "attribute_0": _banks(model, 21)}
    plan = ((), (ReferenceTerm(("portrait", "attribute_0")),))
    both = torch.cat([embedding, embedding])
    out = _predict(model, latents.expand(2, -1, -1, -1, -1), both, ReferenceContext(banks, plan))
    out_other = _predict(model, latents.expand(2, -1, -1, -1, -1), both, ReferenceContext(other, plan))
    stock = _predict(model, latents, embedding, None)
    # The unconditional branch is the stock UNet's output whatever the references are.
    torch.testing.assert_close(out[0:1], stock, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out_other[0:1], stock, rtol=1e-5, atol=1e-5)
    # The conditioned branch depends on them.
    assert (out[1:] - stock).abs().max() > 1e-3
    assert (out[1:] - out_other[1:]).abs().max() > 1e-3


def test_alpha_ends_equal_single_attribute_and_two_attributes_compose(model):
    latents, embedding = _inputs(2)
    banks = {
        "portrait": _banks(model, 30, net="prnet"),
        "attribute_0": _banks(model, 31),
        "attribute_1": _banks(model, 32),
    }

    def run(*terms: ReferenceTerm) -> torch.Tensor:
        return _predict(model, latents, embedding, ReferenceContext(banks, (terms,)))

    first = run(ReferenceTerm(("portrait", "attribute_0")))
    second = run(ReferenceTerm(("portrait", "attribute_1")))
    both = run(ReferenceTerm(("portrait", "attribute_0", "attribute_1")))

    def blend(alpha: float) -> torch.Tensor:
        return run(
            ReferenceTerm(("portrait", "attribute_0"), 1 - alpha), ReferenceTerm(("portrait", "attribute_1"), alpha)
        )

    torch.testing.assert_close(blend(0.0), first, rtol=0, atol=1e-6)
    torch.testing.assert_close(blend(1.0), second, rtol=0, atol=1e-6)
    middle = blend(0.5)
    assert (middle - first).abs().max() > 1e-4 and (middle - second).abs().max() > 1e-4
    assert (both - first).abs().max() > 1e-4 and (both - second).abs().max() > 1e-4


def test_composed_attributes_are_read_by_region():
    # Two attributes composed in one attention, the first lying on the left half of the frame and the second on the
    # right: routed, each frame token reads its own side's attribute bank (and next to nothing of the other), as that
    # attribute alone would be read; read plainly, every token mixes both.
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    torch.manual_seed(0)
    attn = Attention(query_dim=32, heads=2, dim_head=16).eval()
    processor = ReferenceReadProcessor(AttnProcessor2_0(), "layer")
    frame = torch.randn(1, 16, 32)  # a 4×4 grid of tokens
    banks = {name: {"layer": torch.randn(1, 16, 32) * 3} for name in ("portrait", "attribute_0", "attribute_1")}
    left = torch.zeros(8, 8)  # on the latent grid, twice the layer's
    left[:, :4] = 1.0
    regions = {"attribute_0": left, "attribute_1": 1.0 - left}

    def read(*names: str, bank_regions=None) -> torch.Tensor:
        context = ReferenceContext(banks, ((ReferenceTerm(names),),), bank_regions=bank_regions or {})
        with torch.no_grad():
            return processor(attn, frame, reference=context).view(4, 4, -1)

    first, second = read("portrait", "attribute_0"), read("portrait", "attribute_1")
    plain = read("portrait", "attribute_0", "attribute_1")
    routed = read("portrait", "attribute_0", "attribute_1", bank_regions=regions)
    for alone, side in ((first, slice(0, 2)), (second, slice(2, 4))):
        routed_error = (routed - alone)[:, side].abs().mean()
        plain_error = (plain - alone)[:, side].abs().mean()
        assert routed_error < 0.1 * plain_error, (routed_error, plain_error)
    # Regions that cover the whole frame route nothing; a single attribute is never routed.
    everywhere = {"attribute_0": torch.ones(8, 8), "attribute_1": torch.ones(8, 8)}
    torch.testing.assert_close(read("portrait", "attribute_0", "attribute_1", bank_regions=everywhere), plain)
    torch.testing.assert_close(read("portrait", "attribute_0", bank_regions=regions), first)


def test_bank_weights_scale_a_bank_and_zero_drops_it(model):
    latents, embedding = _inputs(4)
    banks = {"portrait": _banks(model, 40, net="prnet"), "attribute_0": _banks(model, 41)}
    plan = ((ReferenceTerm(("portrait", "attribute_0")),),)
    full = _predict(model, latents, embedding, ReferenceContext(banks, plan))
    dropped = _predict(model, latents, embedding, ReferenceContext(banks, plan, bank_weights={"attribute_0": 0.0}))
    portrait_only = _predict(model, latents, embedding, ReferenceContext(banks, ((ReferenceTerm(("portrait",)),),)))
    half = _predict(model, latents, embedding, ReferenceContext(banks, plan, bank_weights={"attribute_0": 0.5}))
    torch.testing.assert_close(dropped, portrait_only, rtol=0, atol=1e-6)
    assert 0 < (half - full).abs().max() and 0 < (half - portrait_only).abs().max()
    with pytest.raises(ValueError, match="not recorded"):
        ReferenceContext(banks, ((ReferenceTerm(("attribute_7",)),),))


def test_mask_channel_changes_the_reference_banks_and_the_output(model):
    latents, embedding = _inputs(5)
    with_mask = {"portrait": _banks(model, 50, net="prnet", mask_value=1.0)}
    without = {"portrait": _banks(model, 50, net="prnet", mask_value=0.0)}
    plan = ((ReferenceTerm(("portrait",)),),)
    a = _predict(model, latents, embedding, ReferenceContext(with_mask, plan))
    b = _predict(model, latents, embedding, ReferenceContext(without, plan))
    assert (a - b).abs().max() > 1e-4


def test_guider_downsamples_to_the_latent_grid_and_starts_at_zero(model):
    guider = model.guider
    cue = torch.rand(3, 3, TINY.resolution, TINY.resolution)
    features = guider(cue)
    assert features.shape == (3, TINY.block_out_channels[0], LATENT, LATENT)
    assert guider.downsample_factor == 8
    assert torch.count_nonzero(features) == 0  # zero-initialised output conv
    regions = KeypointGuider(cue="regions", block_out_channels=(4, 8, 8, 16), out_channels=32)
    assert regions(torch.rand(1, 4, 64, 64)).shape == (1, 32, 8, 8)
    with pytest.raises(ValueError, match="cue"):
        KeypointGuider(cue="depth")


def test_guider_features_reach_the_denoiser_only_inside_the_call(model):
    latents, embedding = _inputs(6)
    features = torch.randn(2, TINY.block_out_channels[0], LATENT, LATENT, generator=torch.Generator().manual_seed(6))
    plain = _predict(model, latents, embedding, None)
    guided = _predict(model, latents, embedding, None, features)
    after = _predict(model, latents, embedding, None)
    assert (guided - plain).abs().max() > 1e-3
    assert torch.equal(after, plain)
    with pytest.raises(ValueError, match="do not match"):
        _predict(model, latents, embedding, None, features[:1])


def test_save_load_roundtrip_is_identical_and_strict(model, tmp_path):
    model.save_pretrained(tmp_path / "model")
    for part in ("prnet", "arnet", "denoiser", "guider"):
        assert (tmp_path / "model" / part / "config.json").is_file()
        assert (tmp_path / "model" / part / "diffusion_pytorch_model.safetensors").is_file()
    loaded = DurianModel.from_pretrained(tmp_path / "model")
    latents, embedding = _inputs(7)
    banks = {"portrait": _banks(model, 70, net="prnet")}
    banks_loaded = {"portrait": _banks(loaded, 70, net="prnet")}
    plan = ((ReferenceTerm(("portrait",)),),)
    assert torch.equal(
        _predict(model, latents, embedding, ReferenceContext(banks, plan)),
        _predict(loaded, latents, embedding, ReferenceContext(banks_loaded, plan)),
    )

    weights = tmp_path / "model" / "guider" / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    del state["conv_out.bias"]
    save_file(state, str(weights))
    with pytest.raises(DurianWeightsError, match=r"missing: conv_out\.bias"):
        DurianModel.from_pretrained(tmp_path / "model")
    state["conv_out.bias"] = torch.zeros(TINY.block_out_channels[0])
    state["extra.weight"] = torch.zeros(1)
    save_file(state, str(weights))
    with pytest.raises(DurianWeightsError, match=r"unexpected: extra\.weight"):
        DurianModel.from_pretrained(tmp_path / "model")


def test_hub_ids_need_a_pinned_revision(tmp_path):
    with pytest.raises(DurianWeightsError, match="pinned revision"):
        DurianModel.from_pretrained("someone/durian-weights")
    with pytest.raises(DurianWeightsError, match="pinned revision"):
        DurianModel.from_pretrained("someone/durian-weights@")
    with pytest.raises(DurianWeightsError, match="neither a local folder"):
        DurianModel.from_pretrained(str(tmp_path / "no" / "such" / "folder"))


def _save_tiny_sd_folder(path):
    """A tiny Stable Diffusion (image variations) folder: unet/, vae/, image_encoder/, as diffusers lays it out."""
    torch.manual_seed(3)
    UNet2DConditionModel(**TINY.unet_kwargs()).save_pretrained(path / "unet")
    AutoencoderKL(**TINY.vae_kwargs()).save_pretrained(path / "vae")
    CLIPVisionModelWithProjection(CLIPVisionConfig(**TINY.clip_kwargs())).save_pretrained(path / "image_encoder")
    (path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionImageVariationPipeline"}))


def test_from_base_copies_the_unet_into_all_three_nets(tmp_path):
    _save_tiny_sd_folder(tmp_path / "sd")
    base = UNet2DConditionModel.from_pretrained(tmp_path / "sd" / "unet")
    model = DurianModel.from_base(tmp_path / "sd", config="tiny")
    for net in (model.prnet, model.arnet):
        weight = net.conv_in.weight
        assert weight.shape[1] == 5
        assert torch.count_nonzero(weight[:, 4]) == 0  # the mask channel starts at zero
        torch.testing.assert_close(weight[:, :4], base.conv_in.weight, rtol=0, atol=0)
        torch.testing.assert_close(
            net.up_blocks[1].attentions[0].proj_out.weight, base.up_blocks[1].attentions[0].proj_out.weight
        )
    torch.testing.assert_close(
        model.denoiser.mid_block.attentions[0].proj_in.weight, base.mid_block.attentions[0].proj_in.weight
    )

    # A fresh motion adapter starts as identity (zero output projections): the denoiser computes the image UNet.
    latents, embedding = _inputs(8, frames=2)
    with torch.no_grad():
        motion = _predict(model, latents, embedding, None)
        image = base(latents[0].permute(1, 0, 2, 3), 500, encoder_hidden_states=embedding.expand(2, -1, -1)).sample
    torch.testing.assert_close(motion[0].permute(1, 0, 2, 3), image, rtol=1e-4, atol=1e-5)

    # Zero mask channel: at the start of training the mask does not change a reference net's output yet.
    unmasked = _banks(model, 80, net="prnet", mask_value=0.0)
    masked = _banks(model, 80, net="prnet", mask_value=1.0)
    assert all(torch.equal(unmasked[k], masked[k]) for k in unmasked)


def test_benchmark_reports_times_memory_and_flops_on_the_tiny_config():
    from durian_core.bench.durian import bench_durian

    started = time.perf_counter()
    report = bench_durian(config="tiny", frames=3, size=64, steps=2, repeats=1)
    wall = time.perf_counter() - started
    for key in ("seconds_per_clip", "seconds_per_step", "reference_seconds", "vae_decode_seconds"):
        assert report[key] > 0, key
    # The stages are timed apart: the timed denoising found both references cached (its time holds no reference
    # pass), and the stages of the one repeat fit within the call's own wall time, warm-up and FLOP count besides.
    assert report["denoise_reference_passes"] == 0
    assert report["seconds_per_clip"] < wall
    assert report["peak_memory_bytes"] > 0
    # Two guidance branches of three frames through the tiny denoiser: megaflops, not zero and not teraflops.
    assert 1e-6 < report["step_tflops"] < 1e-2
    assert report["frames"] == 3 and report["compiled_blocks"] == 0


def test_pipeline_from_base_loads_vae_and_image_encoder_and_runs(tmp_path):
    import numpy as np

    from durian_core.pipeline import DurianPipeline

    _save_tiny_sd_folder(tmp_path / "sd")
    pipeline = DurianPipeline.from_base(tmp_path / "sd", config="tiny")
    reference_vae = AutoencoderKL.from_pretrained(tmp_path / "sd" / "vae")
    torch.testing.assert_close(pipeline.vae.encoder.conv_in.weight, reference_vae.encoder.conv_in.weight)
    image = np.full((TINY.resolution, TINY.resolution, 3), 128, np.uint8)
    mask = np.zeros(image.shape[:2], np.float32)
    frames = pipeline(image, mask, [image], [mask], num_inference_steps=1, guidance_scale=1.0).frames
    assert frames.shape == (1, TINY.resolution, TINY.resolution, 3)


def test_region_cue_keeps_eyes_nose_and_mouth_only(astronaut):
    import numpy as np

    from durian_core.face import regions
    from durian_core.face.landmarks import detect_landmarks
    from durian_core.models.guider import render_region_cue

    landmarks = detect_landmarks(astronaut)
    cue = render_region_cue(astronaut, landmarks)
    assert cue.shape == (*astronaut.shape[:2], 4) and cue.dtype == np.uint8
    for point in (regions.NOSE_TIP, regions.UPPER_LIP_INNER, regions.RIGHT_EYE_INNER):
        x, y = np.round(landmarks[point]).astype(int)
        assert cue[y, x, 3] == 255 and np.array_equal(cue[y, x, :3], astronaut[y, x])
    x, y = np.round(landmarks[regions.FOREHEAD_TOP]).astype(int)
    assert cue[y, x, 3] == 0 and not cue[y, x, :3].any()  # forehead, hair, background: gone
    assert (cue[..., 3] > 0).mean() < 0.1
    guider = KeypointGuider(cue="regions", block_out_channels=(4, 8, 8, 16), out_channels=32)
    tensor = torch.from_numpy(cue[:64, :64]).permute(2, 0, 1)[None].float() / 255
    assert guider(tensor).shape == (1, 32, 8, 8)


def test_sharded_safetensors_load_strictly(model, tmp_path):
    from durian_core.models.weights import load_diffusers_part

    model.denoiser.save_pretrained(tmp_path / "denoiser", max_shard_size="200KB")
    assert len(list((tmp_path / "denoiser").glob("*.safetensors"))) > 1
    loaded = load_diffusers_part(UNetMotionModel, tmp_path / "denoiser")
    reference = model.denoiser.state_dict()
    assert all(torch.equal(value, reference[key]) for key, value in loaded.state_dict().items())
