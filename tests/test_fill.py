"""What fills a removed region looks like what was there: holes cut into the example photos where hair removal leaves
them (the forehead, the background around the head), refilled and compared with the real pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from durian_core.bench.fill import fill_cases, score_fill
from durian_core.face import regions
from durian_core.face.fill import _within_the_cheeks, heal_skin, skull_region
from durian_core.face.landmarks import detect_landmarks
from durian_core.face.masks import person_mask
from durian_core.face.texture import _smooth_background as smooth_background
from durian_core.face.texture import push_pull, textured_background


@pytest.fixture(scope="module")
def cases():
    return {case.name: case for case in fill_cases()}


FOREHEADS = ["obama/forehead", "biden/forehead", "group0/forehead", "group1/forehead"]


@pytest.mark.parametrize("name", FOREHEADS)
def test_a_refilled_forehead_takes_the_skins_own_colour_and_grain(cases, name):
    case = cases[name]
    holed = case.image.copy()
    holed[case.hole] = 0
    filled = heal_skin(holed, case.known, case.hole, size=case.size, texture=case.texture)
    scores = score_fill(filled, case.image, case.hole, case.size)
    # Its colour: the mean colour of the refilled skin within ΔE2000 2 of the real skin's. A ΔE2000 of 1 is about
    # the smallest difference seen between two flat patches side by side; 2 is seen only side by side and looking
    # for it, where a patch "pinker than the skin around it" is 4 and more. The fill scores 0.5 to 1.2 here.
    assert scores["tone"] < 2.0, scores
    # Its grain: the fine detail at least half as strong as the real skin's (the fill scores 0.62 to 1.22; the plane
    # fill before, 0.28 to 0.82: a flat patch on two of the four foreheads).
    assert scores["grain"] > 0.5, scores
    # No seam: the colours just inside and just outside the hole's edge differ by little more than the real skin's
    # do there.
    real_seam = score_fill(case.image, case.image, case.hole, case.size)["seam"]
    assert scores["seam"] < real_seam + 2.0, (scores, real_seam)


def test_a_curtains_folds_and_grain_carry_across_a_gap_in_it(biden):
    # A gap cut into the curtain behind Biden and filled from the curtain around it: the folds go on across it
    # (the smooth fill alone leaves a blot of their mean colour), and so does the cloth's fine grain (a blur has a
    # tenth of it).
    hole = np.zeros(biden.shape[:2], np.uint8)
    cv2.circle(hole, (60, 200), 35, 1, -1)
    hole = hole > 0
    known = ~hole & (person_mask(biden) < 0.3)
    filled = textured_background(biden, known, hole, size=200.0)
    error = np.abs(filled.astype(np.float32) - biden.astype(np.float32))[hole].mean()
    smooth = push_pull(biden, cv2.erode(known.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    smooth_error = np.abs(smooth - biden.astype(np.float32))[hole].mean()
    assert error < 10.0 and error < 0.6 * smooth_error, (error, smooth_error)
    grain = score_fill(filled, biden, hole, 200.0)["grain"]
    assert 0.6 < grain < 1.6, grain
    assert score_fill(np.clip(smooth + 0.5, 0, 255).astype(np.uint8), biden, hole, 200.0)["grain"] < 0.3
    assert np.array_equal(filled[~hole], biden[~hole])


def test_a_skin_speck_beside_the_jaw_does_not_widen_the_refilled_cheek(astronaut):
    # Below the eyes the refilled skull is cut to the real skin's width at that row or below. One skin-coloured
    # speck beside the jaw (a lit strand's end) had set that width for every cheek row above it, and a tab of skin
    # as wide as the landmarks' oval stood beside the astronaut's cheek where her bob had been.
    landmarks = detect_landmarks(astronaut)
    shape = astronaut.shape[:2]
    size = regions.face_size(landmarks)
    skull = skull_region(landmarks, shape) > 0.5
    eyes = int(landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean())
    chin = int(landmarks[regions.CHIN, 1])
    rows = np.arange(shape[0])
    right = np.array([np.flatnonzero(row).max(initial=-1) for row in skull])
    # The real skin: the skull less a band 0.1 face sizes wide along its right side, from the eyes down.
    real = skull.copy()
    band = int(0.1 * size)
    for row in range(eyes, chin):
        real[row, max(0, right[row] - band) :] = False
    speck_row = int(eyes + 0.35 * size)
    real[speck_row, right[speck_row]] = True
    cut = _within_the_cheeks(skull, real, landmarks)
    cheeks = rows[(rows > eyes + 0.05 * size) & (rows < speck_row)]
    widest_real = max(np.flatnonzero(real[row]).max() for row in cheeks)
    assert max(np.flatnonzero(cut[row]).max() for row in cheeks) <= widest_real + 0.03 * size


def test_the_laid_grain_does_not_copy_a_backdrops_edges():
    # A wall with a fine grain and thin dark lines across it (a blind's slats, branches against the sky): the grain
    # laid over a gap in it is the wall's, not copies of the lines' edges, which laid block by block printed a
    # lattice over a small photo's gap. The lines' run, where there is one, is the smooth fill's to continue.
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(150.0, 3.0, (160, 160, 3)), 0, 255)
    image[:, ::25] = 40.0
    image = image.astype(np.uint8)
    hole = np.zeros((160, 160), bool)
    hole[50:110, 50:110] = True
    filled = textured_background(image, ~hole, hole, size=150.0).astype(np.float32)
    known = cv2.erode((~hole).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    laid = np.abs(filled - smooth_background(image, known, hole, size=150.0))[hole]
    assert np.percentile(laid, 99.5) < 30.0, np.percentile(laid, 99.5)  # a line's edge would depart by ~100
    assert laid.mean() > 0.8, laid.mean()  # and the wall's grain is there (the smooth fill alone departs by 0)
