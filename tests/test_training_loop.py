"""Training on toy data, on CPU: the loss falls, the model learns to use its references, stage 2 touches only the
motion modules, a resumed run equals an unbroken one, and the trained weights load in the durian engine.

One stage-1 run is shared by the module (about two to three minutes on two cores: the VAE fit and the diffusion
steps); the resume and stage-2 tests use short runs of their own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.training.bench import bench_training
from durian_core.training.config import load_training_config
from durian_core.training.evaluate import components_from_pipeline, reference_gap
from durian_core.training.loop import stage_dir, train_stage
from durian_core.training.toy import make_identity, render_toy_video, toy_transfer_inputs, write_toy_dataset

STAGE1_STEPS = 500  # the tiny preset's


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_training_cache")
    write_toy_dataset(root, num_videos=8, num_frames=24, resolution=64, seed=0)
    return root


@pytest.fixture(scope="module")
def trained(toy_cache, tmp_path_factory, single_thread):
    """Stage 1 of the tiny recipe on toy faces: the VAE fitted first, then the reference nets and denoiser."""
    output = tmp_path_factory.mktemp("toy_run")
    config = load_training_config(
        "tiny",
        overrides=[
            f"data={toy_cache}",
            f"output_dir={output}",
            "validation_samples=1",
            "validation_inference_steps=4",
        ],
    )
    assert config.stage1.steps == STAGE1_STEPS
    result = train_stage(config, 1, progress=False)
    return config, result


def test_stage1_lowers_the_loss(trained):
    config, result = trained
    losses = np.array(result.losses)
    assert len(losses) == STAGE1_STEPS
    assert losses[-20:].mean() < 0.5 * losses[:20].mean()
    logged = [json.loads(line) for line in (stage_dir(config, 1) / "scalars.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in logged] == list(range(1, STAGE1_STEPS + 1))


def test_stage1_writes_checkpoints_a_pipeline_and_a_validation_video(trained):
    config, result = trained
    output = stage_dir(config, 1)
    checkpoint = output / "checkpoints" / f"step-{STAGE1_STEPS:06d}"
    assert (checkpoint / "training_state.json").is_file()
    assert list(checkpoint.glob("*.safetensors"))
    assert (result.final_dir / "model_index.json").is_file()
    assert (output / "samples" / f"step-{STAGE1_STEPS:06d}.mp4").stat().st_size > 1000


def test_trained_model_uses_its_references(trained, toy_cache):
    _, result = trained
    gap = reference_gap(components_from_pipeline(result.final_dir), toy_cache)
    # Another person's references make the prediction clearly worse: the model relies on them.
    assert gap["shuffled"] > gap["matched"]
    assert gap["relative_gap"] > 0.05, gap


def test_untrained_model_shows_no_reference_gap(toy_cache, tmp_path, single_thread):
    # The control for the test above: random reference nets carry no usable information.
    from durian_core.tiny import save_tiny_pipeline

    gap = reference_gap(components_from_pipeline(save_tiny_pipeline(tmp_path / "random")), toy_cache)
    assert abs(gap["relative_gap"]) < 0.02, gap


def test_trained_weights_load_in_the_durian_engine(trained):
    from durian_core.api import EngineChoice, load_engine
    from durian_core.engines.durian import DurianEngine

    _, result = trained
    choice = EngineChoice("durian", "trained", str(result.final_dir))
    engine = load_engine(choice)
    assert isinstance(engine, DurianEngine) and load_engine(choice) is engine
    portrait = render_toy_video(make_identity(0), num_frames=3, resolution=64, seed=0)
    attribute = render_toy_video(make_identity(1), num_frames=1, resolution=64, seed=1)
    frames, timings = engine.generate(
        toy_transfer_inputs(portrait, attribute, frames=3),
        GenerationSettings(num_inference_steps=4, output_size=64, window=4, overlap=1),
        cache=FeatureCache(),
    )
    assert frames.shape == (3, 64, 64, 3) and frames.dtype == np.uint8 and "diffusion" in timings
    assert frames.std() > 5  # an image, not a flat fill


def _weights(model) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_stage2_changes_only_the_motion_modules(trained, toy_cache, tmp_path):
    from durian_core.pipeline import DurianPipeline

    config, result = trained
    stage2 = load_training_config(
        "tiny",
        overrides=[
            f"data={toy_cache}",
            f"output_dir={tmp_path}",
            f"init_from={result.final_dir}",
            "stage2.steps=3",
            "stage2.batch_size=1",
            "stage2.num_frames=4",
            "validation_samples=0",
        ],
    )
    before = _weights(DurianPipeline.from_pretrained(result.final_dir).model)
    outcome = train_stage(stage2, 2, progress=False)
    after = _weights(DurianPipeline.from_pretrained(outcome.final_dir).model)
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed, "stage 2 trained nothing"
    assert all(name.startswith("denoiser.") and "motion_modules" in name for name in changed), sorted(changed)[:5]
    assert any("motion_modules" in name for name in changed)


def test_resume_continues_the_same_run(toy_cache, tmp_path, single_thread):
    def config_for(folder):
        return load_training_config(
            "tiny",
            overrides=[
                f"data={toy_cache}",
                f"output_dir={folder}",
                "stage1.steps=4",
                "stage1.batch_size=2",
                "stage1.gradient_accumulation=2",
                "stage1.warmup_steps=3",
                "autoencoder_steps=0",
                "checkpoint_every=100",
                "validation_samples=0",
            ],
        )

    unbroken = train_stage(config_for(tmp_path / "unbroken"), 1, progress=False)
    interrupted = train_stage(config_for(tmp_path / "resumed"), 1, progress=False, stop_after=2)
    assert interrupted.steps == 2 and interrupted.final_dir is None
    resumed = train_stage(config_for(tmp_path / "resumed"), 1, progress=False, resume="latest")
    assert resumed.steps == 4
    expected = load_file(str(unbroken.final_dir / "denoiser" / "diffusion_pytorch_model.safetensors"))
    actual = load_file(str(resumed.final_dir / "denoiser" / "diffusion_pytorch_model.safetensors"))
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, rtol=1e-5, atol=1e-6)
    # The resumed half saw the same batches: its losses are the unbroken run's last two.
    np.testing.assert_allclose(resumed.losses, unbroken.losses[2:], rtol=1e-5)
    # The steps did move the weights away from the initial ones, so the equality above means something.
    from durian_core.models.durian import DurianModel

    initial = DurianModel.from_config("tiny", seed=0).denoiser.state_dict()
    assert any(not torch.equal(initial[name], value) for name, value in expected.items())


def test_zero_terminal_snr_trains_and_samples_from_pure_noise(toy_cache, tmp_path, single_thread):
    from durian_core.pipeline import DurianPipeline
    from durian_core.training.components import noise_scheduler_for

    config = load_training_config(
        "tiny",
        overrides=[
            f"data={toy_cache}",
            f"output_dir={tmp_path}",
            "zero_terminal_snr=true",
            "stage1.steps=2",
            "stage1.batch_size=2",
            "autoencoder_steps=0",
            "validation_samples=0",
        ],
    )
    result = train_stage(config, 1, progress=False)
    scheduler = DurianPipeline.from_pretrained(result.final_dir).scheduler
    # The saved sampler starts where training noised to nothing: its first step is the last training step.
    scheduler.set_timesteps(10)
    assert int(scheduler.timesteps[0]) == 999 and float(scheduler.alphas_cumprod[-1]) == 0.0
    training = noise_scheduler_for(config, scheduler)
    latents, noise = torch.ones(1, 4, 1, 2, 2), torch.randn(1, 4, 1, 2, 2)
    torch.testing.assert_close(training.add_noise(latents, noise, torch.tensor([999])), noise)
    # Without the option the schedule is Stable Diffusion's, whose last step keeps some of the image.
    from durian_core.models.weights import default_scheduler

    plain = noise_scheduler_for(load_training_config("tiny"), default_scheduler())
    assert float(plain.alphas_cumprod[-1]) > 0.004


@pytest.mark.parametrize("stage", [1, 2])
def test_bench_training_reports_throughput_and_memory(stage, single_thread):
    report = bench_training("tiny", random_weights=True, stage=stage, steps=2, batch_size=2)
    assert report["samples_per_second"] > 0 and report["peak_memory_bytes"] > 0
    assert report["num_frames"] == (1 if stage == 1 else load_training_config("tiny").stage2.num_frames)
    assert np.isfinite(report["final_loss"])


def _forward_case(roles=("portrait", "attribute")):
    """A tiny model (with a guider whose output counts) and random references of ``roles`` for the forward tests."""
    from durian_core.models.durian import DurianModel

    torch.manual_seed(0)
    model = DurianModel.from_config("tiny", seed=3).eval()
    for parameter in model.guider.conv_out.parameters():  # a fresh guider outputs zeros; make motion count
        torch.nn.init.normal_(parameter, std=0.1)
    latents = torch.randn(1, 4, 2, 8, 8)
    reference = {name: torch.randn(1, 4, 8, 8) for name in roles}
    masks = {name: torch.rand(1, 1, 8, 8) for name in roles}
    embedding = {name: torch.randn(1, 1, 32) for name in roles}
    return model, latents, reference, masks, embedding, torch.rand(2, 3, 64, 64)


def _training_inputs(reference, masks, embedding, keypoints, keep) -> dict:
    """The training module's keywords for a batch of two samples holding the same references."""
    inputs = {"keypoints": keypoints.repeat(2, 1, 1, 1), "keep_portrait": keep, "keep_attribute": keep}
    for role in reference:
        inputs |= {
            f"{role}_latents": reference[role].expand(2, -1, -1, -1),
            f"{role}_mask": masks[role].expand(2, -1, -1, -1),
            f"{role}_embedding": embedding[role].expand(2, -1, -1),
        }
    return inputs


def _recorded_banks(model, reference, masks, embedding) -> dict:
    """The pipeline's banks of the references: the portrait's, then ``attribute_0`` (and ``attribute_1`` from
    ``other``, when given)."""
    nets = {
        "portrait": ("prnet", "portrait"),
        "attribute": ("arnet", "attribute_0"),
        "other": ("arnet", "attribute_1"),
    }
    return {
        nets[role][1]: model.record_banks(nets[role][0], reference[role], masks[role], embedding[role])
        for role in reference
    }


def _training_forward(model, latents, timestep, reference, masks, embedding, keypoints, keep, **extra):
    """The training module's prediction for a batch of two samples holding the same references (``keep`` per
    sample for the portrait, the attribute and the motion)."""
    from durian_core.training.forward import DurianTrainingModule, batched_reference_attention

    with batched_reference_attention(model):
        return DurianTrainingModule(model)(
            latents.expand(2, -1, -1, -1, -1),
            timestep.expand(2),
            **_training_inputs(reference, masks, embedding, keypoints, keep),
            keep_motion=keep,
            **extra,
        )


def test_training_forward_matches_the_pipeline_branches():
    # The batched training attention must compute what the pipeline's readers compute at inference, for the
    # branch with both references and for the one without any; otherwise training would teach another model.
    from durian_core.models.reference import ReferenceContext, ReferenceTerm

    model, latents, reference, masks, embedding, keypoints = _forward_case()
    timestep = torch.tensor([500])
    with torch.no_grad():
        banks = _recorded_banks(model, reference, masks, embedding)
        context = ReferenceContext(banks=banks, branches=((), (ReferenceTerm(("portrait", "attribute_0")),)))
        motion = model.guider(keypoints)
        inference = model.predict_noise(
            latents.expand(2, -1, -1, -1, -1),
            timestep,
            reference=context,
            embeddings=torch.cat([torch.zeros_like(embedding["attribute"]), embedding["attribute"]]),
            motion_features=torch.cat([torch.zeros_like(motion), motion]),
        )
        keep = torch.tensor([False, True])
        training = _training_forward(model, latents, timestep, reference, masks, embedding, keypoints, keep)
    torch.testing.assert_close(training, inference, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(inference[0], inference[1], atol=1e-3)  # the two branches do differ


def test_a_second_reference_trains_what_the_pipeline_composes():
    # A sample with a second attribute reference must be the pipeline's two-attribute composition (both banks in
    # one attention, the mean of the two embeddings); a sample without one the plain one-attribute branch.
    from durian_core.models.reference import ReferenceContext, ReferenceTerm

    model, latents, reference, masks, embedding, keypoints = _forward_case(("portrait", "attribute", "other"))
    timestep = torch.tensor([500])
    with torch.no_grad():
        banks = _recorded_banks(model, reference, masks, embedding)
        one = ReferenceTerm(("portrait", "attribute_0"))
        both = ReferenceTerm(("portrait", "attribute_0", "attribute_1"))
        motion = model.guider(keypoints)

        def branch(term, states):
            context = ReferenceContext(banks=banks, branches=((term,),))
            return model.predict_noise(latents, timestep, reference=context, embeddings=states, motion_features=motion)

        alone = branch(one, embedding["attribute"])
        composed = branch(both, (embedding["attribute"] + embedding["other"]) / 2)
        keep, other = torch.tensor([True, True]), torch.tensor([False, True])
        training = _training_forward(
            model, latents, timestep, reference, masks, embedding, keypoints, keep, keep_other=other
        )
    torch.testing.assert_close(training[:1], alone, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(training[1:], composed, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(alone, composed, atol=1e-3)  # the second reference does change the prediction
