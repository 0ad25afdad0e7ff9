"""Automatic hair masks on the labelled benchmark (tests/data/hair, tests/data/README.md): long hair below the jaw,
light hair beside the cheeks, a second person beside, the collar, the brows, and the whole set's coverage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from durian_core.errors import DurianInputError
from durian_core.face import hair, regions
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.landmarks import detect_faces
from durian_core.face.masks import face_oval, fill_polygons
from durian_core.mask_benchmark import (
    HAIR,
    IGNORE,
    NOT_HAIR,
    benchmark_sheet,
    evaluate_masks,
    load_labelled_set,
    overall,
    score_mask,
    scored_region,
)
from durian_core.media import load_image, write_image
from durian_core.prepare import automatic_mask_of_file

DATA = Path(__file__).resolve().parent / "data" / "hair"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(scope="module")
def found():
    """Every benchmark image with all its faces, the labelled face's landmarks and its automatic hair mask."""
    results = {}
    for item in load_labelled_set(DATA):
        faces = detect_faces(item.image)
        landmarks = faces[item.face]
        results[item.name] = (item, faces, landmarks, attribute_mask(item.image, landmarks, "hair"))
    return results


def rows_between(shape: tuple[int, int], top: float, bottom: float) -> np.ndarray:
    rows = np.arange(shape[0])[:, None]
    return np.broadcast_to((rows > top) & (rows < bottom), shape)


@pytest.mark.parametrize("name", ["astronaut_long", "astronaut_long_blonde", "carphone_000_long"])
def test_long_hair_below_the_jaw_is_in_the_mask(found, name):
    # Long straight hair to the chest: the mask once stopped at the mouth (none of it below the chin).
    item, _, landmarks, mask = found[name]
    below_chin = (item.labels == HAIR) & rows_between(item.labels.shape, landmarks[regions.CHIN, 1], np.inf)
    assert below_chin.sum() > 5000
    assert (mask[below_chin] > 0.5).mean() > 0.85  # 0.92-0.98 now


@pytest.mark.parametrize("name", ["astronaut_long_blonde", "astronaut_blonde", "astronaut_pale"])
def test_light_hair_beside_the_cheeks_is_in_the_mask(found, name):
    # Blonde hair beside the face between the eyes and the chin (the palest a few Lab units from her skin): colour
    # alone took its lit parts for skin.
    item, _, landmarks, mask = found[name]
    eyes = landmarks[[regions.RIGHT_EYE_OUTER, regions.LEFT_EYE_OUTER], 1].mean()
    beside = (item.labels == HAIR) & rows_between(item.labels.shape, eyes, landmarks[regions.CHIN, 1])
    beside &= face_oval(landmarks, item.labels.shape) < 0.5
    assert beside.sum() > 500
    assert (mask[beside] > 0.5).mean() > 0.9  # 0.12, 0.85 and 0.81 before


@pytest.mark.parametrize(
    "name", ["astronaut_blonde_beside_obama", "astronaut_beside_biden", "carphone_000_beside_astronaut"]
)
def test_a_second_person_beside_stays_out_and_her_hair_stays_in(found, name):
    item, faces, landmarks, mask = found[name]
    assert len(faces) == 2
    other = faces[1 - item.face]
    rows, columns = np.mgrid[: mask.shape[0], : mask.shape[1]]
    centre = regions.face_center(other)
    # The other head, hair and all, and what is around it (their pixels are labelled not hair).
    their_head = (np.hypot(columns - centre[0], rows - centre[1]) < 0.9 * regions.face_size(other)) & (
        item.labels == NOT_HAIR
    )
    assert (mask[their_head] > 0.5).mean() < 0.002  # 1.3 % of Obama's head and 0.8 % of Biden's before
    assert (mask[item.labels == HAIR] > 0.5).mean() > 0.9


@pytest.mark.parametrize("name", ["obama", "biden", "carphone_000", "astronaut_long", "carphone_000_long"])
def test_the_collar_and_shirt_stay_out(found, name):
    # Below the chin between the jaw's corners: neck, collar, tie and shirt, however long the hair beside them.
    item, _, landmarks, mask = found[name]
    size = regions.face_size(landmarks)
    chin = landmarks[regions.CHIN]
    rows, columns = np.mgrid[: mask.shape[0], : mask.shape[1]]
    collar = (rows > chin[1] + 0.1 * size) & (np.abs(columns - chin[0]) < 0.35 * size) & (item.labels == NOT_HAIR)
    assert collar.sum() > 1000
    assert mask[collar].max() < 0.5


def test_the_brows_are_never_hair(found):
    for item, _, landmarks, mask in found.values():
        brows = fill_polygons(mask.shape, [landmarks[list(regions.RIGHT_BROW)], landmarks[list(regions.LEFT_BROW)]])
        assert mask[brows > 0.5].max() < 0.05, item.name


def test_the_benchmark_bars(found, output_dir):
    # Pooled over the 26 images (each weighted equally). The masks before this work scored 82 / 99 / 74 %
    # (hair covered / non-hair left out / IoU); these masks 92 / 99 / 83 %. The bars sit a few points under the
    # latter: a change that loses the long or light hair again falls through them.
    scores = {}
    for name, (item, _, landmarks, mask) in found.items():
        scores[name] = score_mask(mask, item.labels, scored_region(landmarks, item.labels.shape))
    pooled = overall(list(scores.values()))
    items = [item for item, *_ in found.values()]
    sheet = benchmark_sheet(items, {"automatic": [mask for *_, mask in found.values()]})
    write_image(sheet, output_dir / "hair_benchmark.png")
    assert pooled.hair_covered > 0.88, pooled
    assert pooled.not_hair_left_out > 0.97, pooled
    assert pooled.iou > 0.78, pooled
    long = overall([score for name, score in scores.items() if "long" in found[name][0].tags])
    assert long.hair_covered > 0.88, long  # 0.21-0.35 before


def test_scores_count_labelled_pixels_only():
    labels = np.full((10, 10), NOT_HAIR, np.uint8)
    labels[:4] = HAIR
    labels[4] = IGNORE
    perfect = (labels == HAIR).astype(np.float32)
    score = score_mask(perfect, labels)
    assert (score.hair_covered, score.not_hair_left_out, score.iou) == (1.0, 1.0, 1.0)
    # What the mask takes of the unscored row changes nothing; half the hair missed and one wrong row do.
    assert score_mask(np.maximum(perfect, labels == IGNORE), labels) == score
    worse = perfect.copy()
    worse[:2] = 0.0
    worse[9] = 1.0
    score = score_mask(worse, labels)
    assert score.hair_covered == 0.5 and score.not_hair_left_out == 0.8 and score.iou == pytest.approx(20 / 50)


def test_the_benchmark_reports_each_image_and_the_mean_with_a_sheet(tmp_path):
    # A two-image set: the report names both, the mean pools them, the sheet has a row per image.
    manifest = json.loads((DATA / "manifest.json").read_text())
    chosen = [entry for entry in manifest["images"] if entry["name"] in ("astronaut_long", "obama")]
    for entry in chosen:
        shutil.copy(DATA / entry["image"], tmp_path)
        shutil.copy(DATA / entry["labels"], tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"images": chosen}))
    report = evaluate_masks(tmp_path, sheet=tmp_path / "sheet.png")
    assert set(report["images"]) == {"astronaut_long", "obama"}
    shares = [report["images"][name]["hair_covered"] for name in report["images"]]
    assert report["mean"]["hair_covered"] == pytest.approx(np.mean(shares))
    assert min(shares) > 0.85
    sheet = load_image(tmp_path / "sheet.png").rgb
    assert sheet.shape[0] == 2 * 200 and sheet.shape[1] == 3 * 200


def test_the_mask_of_a_chosen_face_in_a_group_photo_lies_on_that_head():
    group = EXAMPLES / "group" / "group.jpg"
    biden = automatic_mask_of_file(str(group), "hair", face=1)
    image = load_image(group).rgb
    assert biden.shape == image.shape[:2]
    faces = detect_faces(image)
    rows, columns = np.nonzero(biden > 0.5)
    centre = regions.face_center(faces[1])
    # All of it within a face size of Biden's face, none on Obama's (face 0) or the astronaut's (face 2).
    assert np.hypot(columns - centre[0], rows - centre[1]).max() < regions.face_size(faces[1])
    with pytest.raises(DurianInputError, match="3 faces"):
        automatic_mask_of_file(str(group), "hair", face=3)


def test_the_classifier_draws_curved_boundaries():
    # Hair around a ring, not hair in its middle: no straight line parts them, the quadratic form does.
    rng = np.random.default_rng(0)
    angles = rng.uniform(0, 2 * np.pi, 800)
    ring = np.stack([np.cos(angles), np.sin(angles)], axis=1) * 3 + rng.normal(0, 0.3, (800, 2))
    middle = rng.normal(0, 0.8, (800, 2))
    classifier = hair.fit_classifier(ring, middle)
    assert (classifier.probability(ring) > 0.5).mean() > 0.95
    assert (classifier.probability(middle) < 0.5).mean() > 0.95


def test_strands_carry_more_oriented_texture_than_noise_of_the_same_contrast():
    rng = np.random.default_rng(0)
    strands = np.repeat(rng.normal(128, 30, (1, 128)), 128, axis=0)  # vertical streaks, as combed hair
    noise = rng.normal(128, 30, (128, 128))  # the same contrast in no direction, as a rough wall
    picture = np.clip(np.concatenate([strands, noise], axis=1), 0, 255).astype(np.uint8)
    features = hair.pixel_features(np.dstack([picture] * 3))
    oriented = features[16:-16, :, hair.FINE_ENERGY + 1]
    assert np.median(oriented[:, 16:112]) > np.median(oriented[:, 144:240]) + 0.5
