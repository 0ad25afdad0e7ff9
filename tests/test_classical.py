"""The classical engine end to end on real photos and the talking-face clip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from durian_core.api import generate, preview
from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.evaluation import self_reenactment
from durian_core.face import regions
from durian_core.face.landmarks import detect_landmarks
from durian_core.face.masks import fill_polygons
from durian_core.face.motion import mouth_opening
from durian_core.face.tracking import track_landmarks
from durian_core.types import AttributeReference, DrivingVideo, GenerateRequest, Interpolation

CLASSICAL = GenerationSettings(engine="classical")


@pytest.fixture(scope="module")
def short_driver(carphone) -> DrivingVideo:
    """The first 3 s of the talking-face clip: the mouth opens wide and closes within them."""
    return DrivingVideo(carphone.frames[:90], carphone.fps)


@pytest.fixture(scope="module")
def animated(astronaut, example_attributes, short_driver):
    request = GenerateRequest(
        astronaut, (AttributeReference(example_attributes["hair"], "hair"),), driver=short_driver, settings=CLASSICAL
    )
    return generate(request, cache=FeatureCache())


def test_animation_has_the_drivers_frames_and_says_which_engine_ran(animated, short_driver):
    assert animated.frames.shape == (len(short_driver.frames), 512, 512, 3)
    assert animated.fps == pytest.approx(short_driver.fps)
    assert animated.engine == "classical"
    assert {"prepare", "edit", "animate"} <= set(animated.timings)


def test_animated_mouth_opens_and_closes_with_the_drivers(animated, short_driver):
    # Landmarks found afresh on the output frames, as a viewer would judge them.
    driver_opening = mouth_opening(track_landmarks(short_driver.frames))
    output_opening = mouth_opening(track_landmarks(animated.frames))
    assert np.corrcoef(driver_opening, output_opening)[0, 1] > 0.8
    assert output_opening.max() - output_opening.min() > 0.05


def test_animated_head_follows_the_drivers_head(animated, short_driver):
    driver_tracks = track_landmarks(short_driver.frames)
    output_tracks = track_landmarks(animated.frames)

    def roll(tracks):
        eyes = tracks[:, regions.LEFT_EYE_OUTER] - tracks[:, regions.RIGHT_EYE_OUTER]
        return np.arctan2(eyes[:, 1], eyes[:, 0])

    driver_roll, output_roll = roll(driver_tracks), roll(output_tracks)
    assert np.ptp(driver_roll) > 0.1  # the speaker does tilt his head
    assert np.corrcoef(driver_roll, output_roll)[0, 1] > 0.8
    # Motion is not exaggerated: the tilt range stays within a third of the driver's either way.
    assert 0.66 < np.ptp(output_roll) / np.ptp(driver_roll) < 1.5


def test_evaluate_beats_the_do_nothing_baseline(carphone):
    report = self_reenactment(carphone, engine="classical")
    engine, baseline = report["engine_metrics"], report["baseline_metrics"]
    assert engine["full"]["psnr"] > baseline["full"]["psnr"]
    assert engine["full"]["l1"] < baseline["full"]["l1"]
    assert engine["head"]["psnr"] > baseline["head"]["psnr"] + 2.0  # the face follows the driver


def test_hair_edit_changes_the_hair_and_keeps_the_face(astronaut, example_attributes):
    cache = FeatureCache()
    request = GenerateRequest(astronaut, (AttributeReference(example_attributes["hair"], "hair"),), settings=CLASSICAL)
    still = preview(request, cache=cache).still
    landmarks = detect_landmarks(astronaut)
    face = fill_polygons(astronaut.shape[:2], [landmarks[list(regions.FACE_OVAL)]]) > 0.5
    size = regions.face_size(landmarks)
    top = landmarks[regions.FOREHEAD_TOP]
    hair = np.zeros_like(face)
    hair[int(top[1] - 0.3 * size) : int(top[1] - 0.05 * size), int(top[0] - 0.3 * size) : int(top[0] + 0.3 * size)] = 1
    change = np.abs(still.astype(int) - astronaut.astype(int)).mean(axis=-1)
    assert change[hair].mean() > 20  # her light-brown hair became Biden's white hair
    # The eyes, nose and mouth are her own.
    inner = fill_polygons(astronaut.shape[:2], [landmarks[list(regions.JAW)]]) > 0.5
    assert change[face & inner].mean() < 6


def test_alpha_zero_and_one_reproduce_the_single_attribute_edits(astronaut, obama, biden):
    cache = FeatureCache()
    first, second = AttributeReference(obama, "hair"), AttributeReference(biden, "hair")
    single_first = preview(GenerateRequest(astronaut, (first,), settings=CLASSICAL), cache=cache).still
    single_second = preview(GenerateRequest(astronaut, (second,), settings=CLASSICAL), cache=cache).still

    def blended(alpha):
        request = GenerateRequest(
            astronaut, (first, second), interpolation=Interpolation(0, 1, alpha), settings=CLASSICAL
        )
        return preview(request, cache=cache).still

    assert np.array_equal(blended(0.0), single_first)
    assert np.array_equal(blended(1.0), single_second)
    middle = blended(0.5).astype(int)
    assert not np.array_equal(middle, single_first) and not np.array_equal(middle, single_second)
    # Half-way is a cut in between, not the two ends seen through each other (tests/test_hair_transfer.py).


def test_new_alpha_hits_the_cache_for_landmarks_masks_and_motion(astronaut, obama, biden, short_driver):
    cache = FeatureCache()
    attributes = (AttributeReference(obama, "hair"), AttributeReference(biden, "hair"))
    driver = DrivingVideo(short_driver.frames[:20], short_driver.fps)
    generate(
        GenerateRequest(
            astronaut, attributes, driver=driver, interpolation=Interpolation(0, 1, 0.2), settings=CLASSICAL
        ),
        cache=cache,
    )
    before = cache.stats()
    result = generate(
        GenerateRequest(
            astronaut, attributes, driver=driver, interpolation=Interpolation(0, 1, 0.7), settings=CLASSICAL
        ),
        cache=cache,
    )
    after = cache.stats()
    for namespace in ("landmarks", "masks", "aligned", "motion", "retarget"):
        assert after[namespace]["misses"] == before[namespace]["misses"], namespace
        assert after[namespace]["hits"] > before[namespace]["hits"], namespace
    assert len(result.frames) == 20


def test_multiplier_change_reuses_the_drivers_landmarks(astronaut, short_driver):
    cache = FeatureCache()
    driver = DrivingVideo(short_driver.frames[:20], short_driver.fps)
    for multiplier in (1.0, 0.5):
        settings = GenerationSettings(engine="classical", motion_multiplier=multiplier)
        generate(GenerateRequest(astronaut, (), driver=driver, settings=settings), cache=cache)
    stats = cache.stats()
    assert stats["motion"] == {"hits": 1, "misses": 1}
    assert stats["landmarks"]["misses"] == 1


def test_several_attributes_compose_in_one_pass(astronaut, example_attributes):
    cache = FeatureCache()
    hair = AttributeReference(example_attributes["hair"], "hair")
    glasses = AttributeReference(example_attributes["glasses"], "glasses")
    hair_only = preview(GenerateRequest(astronaut, (hair,), settings=CLASSICAL), cache=cache).still
    both = preview(GenerateRequest(astronaut, (hair, glasses), settings=CLASSICAL), cache=cache).still
    landmarks = detect_landmarks(astronaut)
    eyes = (
        fill_polygons(
            astronaut.shape[:2],
            [
                cv2_hull(landmarks[list(regions.RIGHT_EYE + regions.RIGHT_BROW)]),
                cv2_hull(landmarks[list(regions.LEFT_EYE + regions.LEFT_BROW)]),
            ],
        )
        > 0.5
    )
    difference = np.abs(both.astype(int) - hair_only.astype(int)).mean(axis=-1)
    assert difference[eyes].mean() > 5  # the frames arrived around the eyes
    lips = fill_polygons(astronaut.shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5
    assert difference[lips].mean() < 1  # and nothing else changed


def cv2_hull(points):
    import cv2

    return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)


def test_weight_zero_leaves_the_portrait_as_it_was(astronaut, example_attributes):
    request = GenerateRequest(
        astronaut, (AttributeReference(example_attributes["glasses"], "glasses", weight=0.0),), settings=CLASSICAL
    )
    assert np.array_equal(preview(request, cache=FeatureCache()).still, astronaut)


def test_contact_sheet_for_a_person_to_judge(astronaut, example_attributes, short_driver, output_dir):
    """Portrait, one still edit per attribute kind, and a strip of animation frames: open it and look."""
    cache = FeatureCache()
    tiles = [astronaut]
    for kind, image in example_attributes.items():
        still = preview(
            GenerateRequest(astronaut, (AttributeReference(image, kind),), settings=CLASSICAL), cache=cache
        ).still
        tiles.append(np.concatenate([np.asarray(Image.fromarray(image).resize((512, 512))), still], axis=0)[::2, ::2])
    tiles[0] = np.concatenate([astronaut, astronaut], axis=0)[::2, ::2]
    edits_row = np.concatenate(tiles, axis=1)
    every = GenerateRequest(
        astronaut,
        tuple(
            AttributeReference(image, kind)
            for kind, image in example_attributes.items()
            if kind in ("hair", "glasses", "makeup")
        ),
        driver=short_driver,
        settings=CLASSICAL,
    )
    frames = generate(every, cache=cache).frames
    picked = np.linspace(0, len(frames) - 1, 6).astype(int)
    strip = np.concatenate([frames[index][::2, ::2] for index in picked], axis=1)
    drivers = np.concatenate(
        [np.asarray(Image.fromarray(short_driver.frames[index]).resize((256, 256))) for index in picked], axis=1
    )
    width = max(edits_row.shape[1], strip.shape[1])

    def pad(row):
        return np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)))

    sheet = np.concatenate([pad(edits_row), pad(drivers), pad(strip)], axis=0)
    path = output_dir / "contact_sheet_classical.png"
    Image.fromarray(sheet).save(path)
    assert path.stat().st_size > 100_000
