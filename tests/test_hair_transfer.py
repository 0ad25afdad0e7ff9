"""Hair carried from any framing lands on the portrait's head, a user's fit moves it and only it, α between two cuts is
one cut in between (no see-through ghost) in the still, the animation and a video's frames, and removing a portrait's
hair takes nothing that is not this person's.

The attribute framings are variants of the astronaut's photo, made here: her head cut by the photo's top edge or its
side, turned by 20°, shrunk to a face of about 70 pixels, and pasted beside a larger second person.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from durian_core.api import preview, preview_fit
from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.engines.classical import ClassicalEngine
from durian_core.engines.editor import edit_portrait
from durian_core.engines.hair_removal import remove_hair
from durian_core.face import regions
from durian_core.face.align import head_centre
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.fill import skull_region
from durian_core.face.head import head_hair, signed_distance
from durian_core.face.landmarks import detect_faces, detect_landmarks
from durian_core.face.masks import face_oval
from durian_core.prepare import prepare_inputs
from durian_core.types import AttributeFit, AttributeReference, GenerateRequest, Interpolation
from durian_core.wear import Wearer

SETTINGS = GenerationSettings(engine="classical")


def _rotated(image: np.ndarray, degrees: float) -> np.ndarray:
    height, width = image.shape[:2]
    padded = cv2.copyMakeBorder(image, height // 4, height // 4, width // 4, width // 4, cv2.BORDER_REPLICATE)
    matrix = cv2.getRotationMatrix2D((padded.shape[1] / 2, padded.shape[0] / 2), degrees, 1.0)
    return cv2.warpAffine(padded, matrix, padded.shape[1::-1], borderMode=cv2.BORDER_REPLICATE)


def _beside(image: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``image`` on a grey wall with ``other``, larger, standing beside it."""
    canvas = np.full((700, 1200, 3), 128, np.uint8)
    canvas[100:612, 80:592] = image
    canvas[140:700, 600:1160] = cv2.resize(other, (560, 560), interpolation=cv2.INTER_CUBIC)
    return canvas


def framings(image: np.ndarray, other: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Each framing of the attribute photo, with the index of the face whose hair is wanted."""
    height, width = image.shape[:2]
    return {
        "cut at the top": (image[int(0.12 * height) :], 0),
        "cut at the side": (image[:, int(0.28 * width) :], 0),
        "tilted 20 degrees": (_rotated(image, 20), 0),
        "small": (cv2.resize(image, None, fx=0.33, fy=0.33, interpolation=cv2.INTER_AREA), 0),
        "beside a larger person": (_beside(image, other), 1),
    }


@pytest.fixture(scope="module")
def cache():
    return FeatureCache(1 << 30)


@pytest.mark.parametrize(
    "framing", ["cut at the top", "cut at the side", "tilted 20 degrees", "small", "beside a larger person"]
)
def test_hair_from_any_framing_lands_crown_on_crown(framing, astronaut, obama, biden, cache):
    # Before, hair cut by the photo's top edge ended in a straight line above the brows, over a bare dome: the crown
    # was not covered (aligned opacity 0.0 there).
    image, face = framings(astronaut, biden)[framing]
    request = GenerateRequest(obama, (AttributeReference(image, "hair", face=face),), settings=SETTINGS)
    prepared = prepare_inputs(request, cache=cache)
    still = edit_portrait(prepared)
    landmarks = prepared.portrait_landmarks
    size = regions.face_size(landmarks)
    brows = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
    changed = np.abs(still.astype(int) - prepared.portrait.astype(int)).sum(axis=-1) > 40
    changed[int(brows) :] = False
    assert changed.sum() > 0.3 * size**2
    # The new hair's changed pixels above the brows are centred on the face.
    centre = regions.face_center(landmarks)
    assert abs(np.nonzero(changed)[1].mean() - centre[0]) < 0.1 * size
    # The crown, a quarter of a face size above the forehead's top, is under the new hair.
    crown = landmarks[regions.FOREHEAD_TOP] - np.array([0.0, 0.25 * size])
    x, y = int(crown[0]), int(crown[1])
    assert prepared.attributes[0].aligned_mask[y - 3 : y + 4, x - 3 : x + 4].mean() > 0.8


def test_hair_mask_pieces_off_the_head_stay_behind(astronaut):
    # A mask that also took a piece of the wall beside the head and the head of a second person: carried onto a
    # portrait, those pieces would land beside its head; removed, they would take the wall and the person along.
    landmarks = detect_landmarks(astronaut)
    size = regions.face_size(landmarks)
    hair = attribute_mask(astronaut, landmarks, "hair")
    mask = hair.copy()
    wall = np.zeros_like(mask, bool)
    wall[20:80, 440:500] = True  # the wall at the top right, far from her hair
    mask[wall] = 1.0
    other = landmarks + np.array([0.9 * size, 0.0], np.float32)  # a second face just to her left
    theirs = face_oval(other, mask.shape) > 0.5
    mask[theirs] = 1.0
    kept = head_hair(astronaut, mask, landmarks, others=(other,))
    assert kept[wall].max() == 0.0
    assert kept[theirs].max() == 0.0
    # Her own hair stays as it was, save where it overlaps the other person's head.
    their_head = np.maximum(face_oval(other, mask.shape), skull_region(other, mask.shape)) > 0.5
    near_them = cv2.dilate(their_head.astype(np.uint8), np.ones((int(0.25 * size),) * 2, np.uint8)) > 0
    own = (hair > 0.1) & ~near_them
    assert own.sum() > 0.5 * (hair > 0.1).sum()
    assert np.array_equal(kept[own], hair[own])


def test_removing_his_hair_leaves_the_people_beside_him():
    # The group photo: three people side by side, the man in the middle the largest. A mask of his dark hair that ran
    # along the wall into the head of the man beside him: removing it erased that man's hair into the wall.
    from durian_core.media import load_image
    from durian_core.placement import work_crop
    from tests.conftest import EXAMPLES

    group = load_image(EXAMPLES / "group" / "group.jpg").rgb
    faces = detect_faces(group)
    placement = work_crop(faces[0], group.shape[1::-1], work_size=512)
    image, landmarks = placement.cut(group), placement.to_work(faces[0])
    others = tuple(placement.to_work(face) for face in faces[1:])
    own = attribute_mask(image, landmarks, "hair")
    size = regions.face_size(landmarks)
    # The mask ran from his head along the wall into the head of the man beside him, and took that man's hair.
    nearest = max(others, key=lambda face: skull_region(face, own.shape).sum())  # the one this crop shows most of
    band = np.zeros(own.shape, np.uint8)
    start, end = (tuple(int(v) for v in head_centre(face)) for face in (landmarks, nearest))
    cv2.line(band, start, end, 1, thickness=int(0.15 * size))
    their_skull = (skull_region(nearest, own.shape) > 0.5) & (face_oval(nearest, own.shape) < 0.5)
    reaching = np.maximum(own, np.maximum(band, their_skull).astype(np.float32))
    neighbours = np.zeros(own.shape, bool)
    for other in others:
        neighbours |= np.maximum(face_oval(other, own.shape), skull_region(other, own.shape)) > 0.5
    assert (neighbours & (reaching > 0.5)).sum() > 2000  # the mask does reach into them
    removed = remove_hair(image, reaching, np.zeros_like(own), landmarks, others=others)
    changed = np.abs(removed.astype(int) - image.astype(int)).sum(axis=-1) > 0
    assert changed[neighbours].sum() == 0
    assert changed[own > 0.8].mean() > 0.9  # and his own hair is gone


@pytest.fixture(scope="module")
def fitted(astronaut, biden, cache):
    """Biden wearing the astronaut's bob: the plain edit and the cache's misses per namespace for a fit change."""
    reference = AttributeReference(astronaut, "hair")
    plain = prepare_inputs(GenerateRequest(biden, (reference,), settings=SETTINGS), cache=cache)
    edit_portrait(plain)
    return plain


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask > 0.5)
    return np.array([xs.mean(), ys.mean()])


def test_a_fit_moves_scales_and_turns_the_hair_about_the_head(astronaut, biden, fitted, cache):
    landmarks = fitted.portrait_landmarks
    size = regions.face_size(landmarks)
    base = fitted.attributes[0].aligned_mask

    def aligned(fit: AttributeFit) -> np.ndarray:
        request = GenerateRequest(biden, (AttributeReference(astronaut, "hair", fit=fit),), settings=SETTINGS)
        return prepare_inputs(request, cache=cache).attributes[0].aligned_mask

    # Moved along his face's own axes (his head leans a little), by face sizes.
    across = landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE]
    right = across / np.linalg.norm(across)
    down = np.array([-right[1], right[0]])
    moved = aligned(AttributeFit(dx=0.2, dy=0.1))
    expected = (0.2 * right + 0.1 * down) * size
    np.testing.assert_allclose(_centroid(moved) - _centroid(base), expected, atol=0.02 * size)
    grown = aligned(AttributeFit(scale=1.2))
    assert (grown > 0.5).sum() / (base > 0.5).sum() == pytest.approx(1.44, rel=0.05)
    centre = head_centre(landmarks)
    turned = aligned(AttributeFit(degrees=15))
    before, after = _centroid(base) - centre, _centroid(turned) - centre
    # Counter-clockwise as seen: in image coordinates (y down) the angle falls by 15°.
    angle = np.degrees(np.arctan2(after[1], after[0]) - np.arctan2(before[1], before[0]))
    assert angle == pytest.approx(-15, abs=2)


def test_a_fit_or_alpha_change_recomputes_only_the_placement_and_the_blend(astronaut, obama, biden, fitted, cache):
    def misses(request: GenerateRequest) -> dict[str, int]:
        before = cache.stats()
        edit_portrait(prepare_inputs(request, cache=cache))  # the plain editor, as the engine but uncached
        after = cache.stats()
        return {
            name: after[name]["misses"] - before.get(name, {}).get("misses", 0)
            for name in after
            if name != "total" and after[name]["misses"] > before.get(name, {}).get("misses", 0)
        }

    reference = AttributeReference(astronaut, "hair", fit=AttributeFit(dx=0.05, scale=1.1))
    assert set(misses(GenerateRequest(biden, (reference,), settings=SETTINGS))) == {"aligned"}
    pair = (AttributeReference(astronaut, "hair"), AttributeReference(obama, "hair"))
    misses(GenerateRequest(biden, pair, interpolation=Interpolation(0, 1, 0.3), settings=SETTINGS))
    assert misses(GenerateRequest(biden, pair, interpolation=Interpolation(0, 1, 0.6), settings=SETTINGS)) == {}


def test_a_fit_slider_previews_from_the_prepared_inputs_alone(astronaut, biden, fitted, cache):
    # What the app's sliders call on every move: the prepared inputs of the upload and a fit, no request.
    plain = preview_fit(fitted, AttributeFit(), cache=cache)
    fit = AttributeFit(dx=-0.1, dy=0.05, scale=1.1, degrees=8)
    before = cache.stats()
    moved = preview_fit(fitted, fit, cache=cache)
    after = cache.stats()
    missed = {
        name for name in after if name != "total" and after[name]["misses"] > before.get(name, {}).get("misses", 0)
    }
    assert missed == {"aligned", "relit", "edits"}, missed  # the placement and the blend, nothing else
    assert np.abs(moved.astype(int) - plain).mean() > 2
    request = GenerateRequest(biden, (AttributeReference(astronaut, "hair", fit=fit),), settings=SETTINGS)
    np.testing.assert_array_equal(moved, preview(request, cache=FeatureCache(1 << 30)).still)


def _worn_by(path: str, prepared, *, cache: FeatureCache) -> np.ndarray:
    """The edit as ``path`` shows it, at the work crop: the still; the animation's first frame (frame 0 of any driver
    is the portrait at rest); or the portrait worn as a video's frame (the wearer a video portrait's frames use)."""
    if path == "still":
        return edit_portrait(prepared)
    if path == "animation":
        render, _ = ClassicalEngine().renderer(prepared, SETTINGS, cache=cache)
        return render(prepared.portrait_landmarks)
    return Wearer.build(prepared)(prepared.portrait, prepared.portrait_landmarks)


@pytest.mark.parametrize("path", ["still", "animation", "video frame"])
def test_alpha_half_way_is_one_cut_in_between_with_no_ghost(path, astronaut, obama, biden, example_attributes, cache):
    # The astronaut's bob and Obama's short hair on Biden, with glasses. Before, α = 0.5 was the two edits seen
    # through each other: where the bob reaches and the short cut does not, a half-transparent bob stood beside his
    # head (in the still; with glasses in the request, in the animation; and always in a video's frames).
    glasses = AttributeReference(example_attributes["glasses"], "glasses")
    pair = (AttributeReference(astronaut, "hair"), AttributeReference(obama, "hair"), glasses)

    def edit(alpha: float) -> tuple[np.ndarray, object]:
        request = GenerateRequest(biden, pair, interpolation=Interpolation(0, 1, alpha), settings=SETTINGS)
        prepared = prepare_inputs(request, cache=cache)
        return _worn_by(path, prepared, cache=cache).astype(np.float32), prepared

    first, prepared = edit(0.0)
    second, _ = edit(1.0)
    halfway, _ = edit(0.5)
    landmarks = prepared.portrait_landmarks
    size = regions.face_size(landmarks)
    skull = skull_region(landmarks, first.shape[:2]) > 0.5
    bob, short = (attribute.aligned_mask > 0.5 for attribute in prepared.attributes[:2])
    middle = 0.5 * signed_distance(bob | skull) + 0.5 * signed_distance(short | skull)
    # Where only the bob reached, well outside the outline in between: the edit without the bob, not half of it.
    outside = (middle > 0.03 * size) & bob & ~short
    assert outside.sum() > 0.05 * size**2
    ghost = np.abs(halfway - second).sum(axis=-1)[outside].mean()
    full = np.abs(first - second).sum(axis=-1)[outside].mean()
    assert ghost < 0.15 * full, (ghost, full)  # the two edits seen through each other: 0.5
    # Inside the outline in between, there is hair: neither bare as the short cut leaves it nor see-through.
    inside = (middle < -0.03 * size) & bob & ~short & ~skull
    assert inside.sum() > 0.02 * size**2
    assert (
        np.abs(halfway - second).sum(axis=-1)[inside].mean() > 0.5 * np.abs(first - second).sum(axis=-1)[inside].mean()
    )
    # And the glasses are on at every α.
    eyes = landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE)]
    (x0, y0), (x1, y1) = eyes.min(axis=0).astype(int), eyes.max(axis=0).astype(int)
    bare = prepared.portrait[y0:y1, x0:x1].astype(np.float32)
    for worn in (first, halfway, second):
        assert np.abs(worn[y0:y1, x0:x1] - bare).mean() > 5
