"""Toy data, the training cache, and the self-reconstruction recipe's masking and augmentation."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from durian_core.errors import DurianInputError
from durian_core.face.masks import fill_polygons
from durian_core.face.regions import FACE_OVAL, LIPS_OUTER, RIGHT_EYE
from durian_core.training import store
from durian_core.training.data import (
    NO_AUGMENTATION,
    ConsecutiveSampler,
    SamplingConfig,
    SelfReconstructionDataset,
    _as_float_mask,
    augment_reference,
    choose_frames,
)
from durian_core.training.toy import make_identity, render_toy_video, wears, write_toy_dataset

RESOLUTION = 48


@pytest.fixture(scope="module")
def toy_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy_cache")
    write_toy_dataset(root, num_videos=4, num_frames=12, resolution=RESOLUTION, seed=3)
    return root


def test_toy_video_annotations_match_the_drawing():
    video = render_toy_video(make_identity(1), num_frames=4, resolution=64, seed=0)
    assert video.frames.shape == (4, 64, 64, 3) and video.frames.dtype == np.uint8
    assert video.landmarks.shape == (4, 478, 2)
    assert set(video.masks) == {"hair", "glasses"}  # odd identities wear glasses
    hair = video.masks["hair"][0] > 0.9
    colour = np.array(make_identity(1).hair_colour, np.float32)
    # Inside the exact hair mask the pixels have the hair colour; outside they almost never do.
    inside = np.abs(video.frames[0][hair].astype(np.float32) - colour).max(axis=1)
    outside = np.abs(video.frames[0][video.masks["hair"][0] < 0.01].astype(np.float32) - colour).max(axis=1)
    assert np.median(inside) < 6 and (outside < 6).mean() < 0.01
    # The landmarks sit on the drawn face: the face oval surrounds skin-coloured pixels.
    centre = video.landmarks[0][list(FACE_OVAL)].mean(axis=0).round().astype(int)
    assert np.abs(video.frames[0][centre[1], centre[0]].astype(int) - make_identity(1).skin).max() < 60
    # The head moves: landmarks differ between frames, and keypoint maps follow them.
    assert np.abs(video.landmarks[3] - video.landmarks[0]).max() > 1.0
    assert (video.keypoints[0] != video.keypoints[3]).any()


def test_a_toy_beard_covers_the_lower_face_but_not_the_lips():
    extras = ("glasses", "beard")
    looks = {look: {kind for kind in ("glasses", "beard") if wears(look, kind, extras)} for look in range(4)}
    assert looks == {0: set(), 1: {"glasses"}, 2: {"beard"}, 3: {"glasses", "beard"}}
    identity = make_identity(0, look=2, extras=extras)
    video = render_toy_video(identity, num_frames=2, resolution=64, seed=0)
    assert set(video.masks) == {"hair", "beard"}
    beard, points = video.masks["beard"][0], video.landmarks[0]
    # A region of the lower face as large as a good part of the hair, drawn in the beard's colour ...
    assert beard.mean() > 0.25 * video.masks["hair"][0].mean()
    inside = np.abs(video.frames[0][beard > 0.9].astype(np.float32) - identity.beard_colour).max(axis=1)
    assert np.median(inside) < 6
    rows = np.nonzero(beard > 0.5)[0]
    assert rows.min() > points[list(RIGHT_EYE)][:, 1].max()  # below the eyes
    # ... with the mouth left open: the lips are the portrait's own, drawn over it.
    lips = cv2.erode((fill_polygons(beard.shape, [points[list(LIPS_OUTER)]]) > 0.5).astype(np.uint8), np.ones((3, 3)))
    assert lips.sum() > 10 and beard[lips > 0].max() < 0.05
    # The same look without beards in use keeps its hair, and wears none.
    assert make_identity(0, look=2).hair_colour == identity.hair_colour
    assert make_identity(0, look=2).beard_colour is None


def test_identities_differ_in_their_attributes():
    hues = {make_identity(index).hair_colour for index in range(8)}
    assert len(hues) == 8
    assert make_identity(0).glasses_colour is None and make_identity(1).glasses_colour is not None


def test_toy_cache_round_trip_and_resume(toy_cache):
    manifest = store.read_manifest(toy_cache)
    assert manifest.resolution == RESOLUTION and len(manifest.videos) == 4
    video = store.open_video(toy_cache, manifest.videos[1])
    assert video.frames.shape == (12, RESOLUTION, RESOLUTION, 3)
    assert set(video.masks) == {"hair", "glasses"} and video.masks["hair"].dtype == np.uint8
    before = (toy_cache / "videos" / "toy0001" / "frames.npy").stat().st_mtime_ns
    write_toy_dataset(toy_cache, num_videos=4, num_frames=12, resolution=RESOLUTION, seed=3)
    assert (toy_cache / "videos" / "toy0001" / "frames.npy").stat().st_mtime_ns == before  # complete: not redone


def test_reading_a_folder_without_manifest_names_the_problem(tmp_path):
    with pytest.raises(DurianInputError, match="preprocess"):
        store.read_manifest(tmp_path)


@pytest.mark.parametrize("seed", range(6))
def test_complementary_masking(toy_cache, seed):
    dataset = SelfReconstructionDataset(toy_cache, config=SamplingConfig(), seed=seed)
    sample = dataset.sample(seed)
    # The portrait reference keeps no attribute pixel: everywhere the (augmented) attribute region of the portrait
    # frame lies, it is black.
    video = dataset.video(dataset.records.index(next(r for r in dataset.records if r.video_id == sample.video_id)))
    attribute_frame, portrait_frame, targets = sample.frame_indices
    assert attribute_frame not in targets and portrait_frame not in targets
    assert (sample.portrait_reference[sample.portrait_mask > 0.999] == 0).all()
    # ... and the attribute reference has nothing outside the attribute.
    assert (sample.attribute_reference[sample.attribute_mask == 0] == 0).all()
    assert sample.attribute_mask.mean() > 0.002
    # Without augmentation the masks are exactly the stored ones: no attribute colour survives in the portrait.
    plain = dataclasses.replace(SamplingConfig(**NO_AUGMENTATION), num_frames=1)
    rng = np.random.default_rng(seed)
    from durian_core.training.data import sample_self_reconstruction

    clean = sample_self_reconstruction(video, rng=rng, config=plain, kind="hair")
    own_hair = video.masks["hair"][clean.frame_indices[1]] > 0
    assert own_hair.any() and (clean.portrait_reference[own_hair] == 0).all()
    hair_colour = np.array(make_identity(int(sample.video_id[3:]), seed=3).hair_colour, np.float32)
    distance = np.abs(clean.portrait_reference.astype(np.float32) - hair_colour).max(axis=-1)
    assert (distance < 10).sum() == 0
    stored_attribute = video.masks["hair"][clean.frame_indices[0]] / 255.0
    np.testing.assert_allclose(clean.attribute_mask, stored_attribute, atol=1e-6)


def test_augmentation_keeps_masks_aligned():
    rng = np.random.default_rng(0)
    mask = np.zeros((64, 64), np.float32)
    mask[10:30, 20:50] = 1.0
    image = np.zeros((64, 64, 3), np.uint8)
    image[..., 2] = 200  # blue everywhere, red where the mask is
    image[mask > 0.5] = (220, 0, 0)
    config = SamplingConfig(
        augment_probability=1.0,
        max_translate=0.15,
        max_rotate_degrees=30,
        brightness=0.0,
        contrast=0.0,
        saturation=0.0,
        max_hue_shift=0.0,
    )
    changed = 0
    for _ in range(10):
        warped, warped_mask = augment_reference(image, mask, rng, config)
        red = warped[..., 0] > 110
        inside = warped_mask > 0.5
        changed += int((inside != (mask > 0.5)).any())
        agreement = (red & inside).sum() / max(1, (red | inside).sum())
        assert agreement > 0.95
    assert changed == 10  # the warp really moved the reference each time


def test_colour_jitter_leaves_masked_out_pixels_black(toy_cache):
    config = SamplingConfig(augment_probability=1.0, brightness=0.5, contrast=0.5, saturation=0.5)
    dataset = SelfReconstructionDataset(toy_cache, config=config, seed=1)
    for index in range(4):
        sample = dataset.sample(index)
        assert (sample.attribute_reference[sample.attribute_mask == 0] == 0).all()


def test_samples_are_a_function_of_their_index(toy_cache):
    dataset = SelfReconstructionDataset(toy_cache, config=SamplingConfig(), seed=5)
    first, again = dataset[7], dataset[7]
    for name in first:
        assert (first[name] == again[name]).all()
    assert not (dataset[8]["target"] == first["target"]).all()


def test_guidance_dropout_follows_the_pipeline_branches(toy_cache):
    config = SamplingConfig(unconditional_probability=0.2, portrait_only_probability=0.2, no_motion_probability=0.2)
    dataset = SelfReconstructionDataset(toy_cache, config=config, seed=2)
    seen = set()
    for index in range(200):
        batch = dataset[index]
        seen.add((bool(batch["keep_portrait"]), bool(batch["keep_attribute"]), bool(batch["keep_motion"])))
    # ε_u, ε_p, ε_pa and ε_pam of signal-fusion guidance, and no other combination.
    assert seen == {(False, False, False), (True, False, False), (True, True, False), (True, True, True)}
    with pytest.raises(DurianInputError, match="add up"):
        SamplingConfig(unconditional_probability=0.5, portrait_only_probability=0.5, no_motion_probability=0.5)


def test_clip_sampling_uses_the_stride(toy_cache):
    dataset = SelfReconstructionDataset(toy_cache, config=SamplingConfig(num_frames=4, frame_stride=2))
    sample = dataset.sample(0)
    targets = sample.frame_indices[2]
    assert len(targets) == 4 and np.all(np.diff(targets) == 2)
    assert sample.target.shape == (4, RESOLUTION, RESOLUTION, 3)
    with pytest.raises(DurianInputError, match="too short"):
        choose_frames(5, num_frames=4, stride=2, rng=np.random.default_rng(0))


def test_processes_share_one_index_sequence():
    shards = [list(zip(range(5), ConsecutiveSampler(start=10, rank=rank, world=3), strict=False)) for rank in range(3)]
    indices = sorted(index for shard in shards for _, index in shard)
    assert indices == list(range(10, 25))


def _recoloured_samples(toy_cache, **recolouring):
    """12 samples drawn without and with a recolouring option: (before, after, video, the target's attribute mask)."""
    plain = SelfReconstructionDataset(toy_cache, config=SamplingConfig(**NO_AUGMENTATION), seed=4)
    recoloured = SelfReconstructionDataset(toy_cache, config=SamplingConfig(**NO_AUGMENTATION, **recolouring), seed=4)
    for index in range(12):
        before, after = plain.sample(index), recoloured.sample(index)
        assert after.frame_indices == before.frame_indices and after.kind == before.kind
        video = recoloured.video(next(i for i, r in enumerate(recoloured.records) if r.video_id == after.video_id))
        target_mask = _as_float_mask(np.asarray(video.masks[after.kind][after.frame_indices[2][0]]))
        yield before, after, video, target_mask


def test_recolouring_turns_the_attribute_alike_in_the_target_and_the_reference(toy_cache):
    moved = 0
    for before, after, _, target_mask in _recoloured_samples(toy_cache, recolour_probability=1.0):
        outside, inside = target_mask == 0, target_mask > 0.9
        # Nothing but the attribute changes.
        assert (after.target[0][outside] == before.target[0][outside]).all()
        old = before.target[0][inside].astype(np.float32).mean(axis=0)
        new = after.target[0][inside].astype(np.float32).mean(axis=0)
        reference = after.attribute_reference[after.attribute_mask > 0.9].astype(np.float32).mean(axis=0)
        # The reference carries the target's new colour, not the old one.
        assert np.abs(reference - new).max() < 12, (reference, new, old)
        moved += np.abs(new - old).max() > 20
    assert moved >= 9


def _nose_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean colour of the 3×3 pixels around the middle of the nose."""
    x, y = np.round(np.asarray(landmarks)[[1, 4, 5, 195]].mean(axis=0)).astype(int)
    return image[y - 1 : y + 2, x - 1 : x + 2].reshape(-1, 3).astype(np.float32).mean(axis=0)


def test_identity_recolouring_turns_the_face_alike_in_the_target_and_the_portrait(toy_cache):
    moved = 0
    for before, after, video, target_mask in _recoloured_samples(toy_cache, identity_recolour_probability=1.0):
        # The attribute keeps its colour: it comes from the attribute reference, which is untouched.
        assert (after.target[0][target_mask == 1] == before.target[0][target_mask == 1]).all()
        assert (after.attribute_reference == before.attribute_reference).all()
        # The face changes, and the portrait reference shows the target's new skin colour, not the old one.
        _, portrait, targets = after.frame_indices
        old = _nose_colour(before.target[0], video.landmarks[targets[0]])
        new = _nose_colour(after.target[0], video.landmarks[targets[0]])
        reference = _nose_colour(after.portrait_reference, video.landmarks[portrait])
        assert np.abs(reference - new).max() < np.abs(reference - old).max() + 1, (reference, new, old)
        moved += np.abs(new - old).max() > 20
    assert moved >= 9
    with pytest.raises(DurianInputError, match="identity_gain"):
        SamplingConfig(identity_gain=1.0)


def test_balanced_kinds_draw_each_attribute_equally_often(toy_cache):
    # Every toy video has hair and half of them glasses: drawn by video, hair is three samples in four; drawn by
    # kind, each is half.
    def glasses_share(balance: bool) -> float:
        config = SamplingConfig(**NO_AUGMENTATION, balance_kinds=balance)
        dataset = SelfReconstructionDataset(toy_cache, config=config, seed=1)
        return np.mean([dataset.sample(index).kind == "glasses" for index in range(400)])

    assert 0.18 < glasses_share(False) < 0.32
    assert 0.43 < glasses_share(True) < 0.57


def test_a_second_reference_is_another_kind_from_another_video_and_the_portrait_keeps_its_own(toy_cache):
    config = SamplingConfig(**NO_AUGMENTATION, balance_kinds=True, other_kind_probability=0.5)
    dataset = SelfReconstructionDataset(toy_cache, config=config, seed=2)
    carried = 0
    for index in range(120):
        sample = dataset.sample(index)
        tensors = dataset[index]
        assert bool(tensors["keep_other"]) == (sample.other_reference is not None)
        if sample.other_reference is None:
            assert not tensors["other_mask"].any()
            continue
        carried += 1
        assert sample.other_kind and sample.other_kind != sample.kind
        assert sample.other_video and sample.other_video != sample.video_id
        # The reference shows only its own kind: nothing outside its mask.
        assert not sample.other_reference[sample.other_mask == 0].any()
        # The portrait gives up only the sample's own kind; the target still shows the portrait's own of the other.
        _, portrait, _ = sample.frame_indices
        own = dataset.video([r.video_id for r in dataset.records].index(sample.video_id)).masks
        if sample.other_kind in own:
            region = _as_float_mask(own[sample.other_kind][portrait]) > 0.5
            region &= _as_float_mask(own[sample.kind][portrait]) == 0
            assert sample.portrait_mask[region].mean() < 0.5
    assert 35 < carried < 85  # about half, where the data has another kind to draw
    with pytest.raises(DurianInputError, match="other_kind_probability"):
        SamplingConfig(other_kind_probability=1.5)


def test_a_composed_sample_gives_up_both_regions_and_shows_the_second_as_its_reference_does(toy_cache):
    # Half the toy videos wear glasses beside their hair. A composed sample takes both from its own video: the
    # portrait gives up both regions, and the target shows the second attribute in its reference's colours even
    # when everything else is recoloured (else the model would learn to paint it in another colour).
    config = SamplingConfig(
        **NO_AUGMENTATION,
        balance_kinds=True,
        other_kind_probability=1.0,
        composed_share=1.0,
        identity_recolour_probability=1.0,
    )
    dataset = SelfReconstructionDataset(toy_cache, config=config, seed=4)
    composed = 0
    for index in range(80):
        sample = dataset.sample(index)
        if sample.other_video != sample.video_id:
            continue
        composed += 1
        attribute, portrait, targets = sample.frame_indices
        video = dataset.video([r.video_id for r in dataset.records].index(sample.video_id))
        for kind in (sample.kind, sample.other_kind):
            region = _as_float_mask(video.masks[kind][portrait]) > 0.5
            assert sample.portrait_mask[region].min() > 0.5, kind  # given up by the portrait
        # The target's second attribute and its reference (taken from the attribute frame) have the same colour.
        shown = _as_float_mask(video.masks[sample.other_kind][targets[0]]) > 0.9
        referenced = sample.other_mask > 0.9
        target_colour = sample.target[0][shown].mean(axis=0)
        reference_colour = sample.other_reference[referenced].mean(axis=0)
        assert np.abs(target_colour - reference_colour).max() < 25, (target_colour, reference_colour)
    assert composed >= 20
