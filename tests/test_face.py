"""Face analysis on real photos and a real talking-face clip: landmarks, masks, alignment, retargeting."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from durian_core.config import FaceSettings
from durian_core.errors import NoFaceError
from durian_core.face import regions
from durian_core.face.align import MeshWarp, apply_affine, similarity_transform
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.keypoints import render_keypoint_map
from durian_core.face.landmarks import detect_landmarks
from durian_core.face.masks import combine_masks, expand_mask, fill_polygons
from durian_core.face.motion import mouth_opening, retarget_motion
from durian_core.face.tracking import LandmarkTracker, track_landmarks
from durian_core.metrics import landmark_jitter


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut):
    return detect_landmarks(astronaut)


@pytest.fixture(scope="module")
def driver_tracks(carphone):
    return track_landmarks(carphone.frames)


def region_coverage(mask: np.ndarray, landmarks: np.ndarray, loop) -> float:
    """Mean mask value inside a landmark polygon."""
    inside = fill_polygons(mask.shape, [landmarks[list(loop)]]) > 0.5
    return float(mask[inside].mean())


def test_landmarks_sit_on_the_astronauts_face(astronaut_landmarks):
    points = astronaut_landmarks
    assert points.shape == (478, 2)
    # Her face is in the upper middle of the photo: eyes above the nose above the mouth above the chin.
    assert 150 < points[:, 0].mean() < 300 and 60 < points[:, 1].mean() < 200
    eyes_y = points[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean()
    assert eyes_y < points[regions.NOSE_TIP, 1] < points[list(regions.LIPS_OUTER), 1].mean() < points[regions.CHIN, 1]
    # The subject's right eye is on the image's left.
    assert points[regions.RIGHT_EYE_OUTER, 0] < points[regions.LEFT_EYE_OUTER, 0]


def test_image_without_a_face_is_refused(no_face_image):
    with pytest.raises(NoFaceError, match="no face found"):
        detect_landmarks(no_face_image)


def test_largest_face_is_chosen(astronaut, obama):
    # Two faces side by side: the bigger one (obama at full size) wins over the astronaut shrunk to half.
    import cv2

    small = cv2.resize(astronaut, (256, 256))
    canvas = np.zeros((512, 768, 3), np.uint8)
    canvas[:512, :512] = obama
    canvas[128:384, 512:] = small
    points = detect_landmarks(canvas)
    assert points[:, 0].max() < 512


def test_driver_is_tracked_in_every_frame(carphone, driver_tracks):
    assert driver_tracks.shape == (len(carphone.frames), 478, 2)
    assert np.isfinite(driver_tracks).all()
    # The speaker opens his mouth wide at some point and closes it at another.
    opening = mouth_opening(driver_tracks)
    assert opening.max() > 0.12 and opening.min() < 0.05


def test_lost_frames_are_filled_from_neighbours(carphone):
    frames = carphone.frames[:30].copy()
    frames[10:13] = 0  # the face disappears for three frames
    tracks = track_landmarks(frames)
    assert np.isfinite(tracks).all()
    # The filled frames lie between their neighbours, not at the origin.
    gap = np.linalg.norm(tracks[11] - 0.5 * (tracks[9] + tracks[13]), axis=-1).mean()
    assert gap < 0.05 * regions.face_size(tracks[9])


def test_video_mostly_without_a_face_is_refused(carphone):
    frames = carphone.frames[:20].copy()
    frames[3:] = 0
    with pytest.raises(NoFaceError, match="driving frames"):
        track_landmarks(frames)


def test_still_face_does_not_jitter(astronaut):
    # A still photo with a little sensor noise per frame: the smoothed track barely moves.
    rng = np.random.default_rng(0)
    frames = np.stack([np.clip(astronaut + rng.normal(0, 3, astronaut.shape), 0, 255) for _ in range(12)])
    tracks = track_landmarks(frames.astype(np.uint8))
    wobble = np.linalg.norm(tracks - tracks.mean(axis=0), axis=-1).mean()
    assert wobble < 0.005 * regions.face_size(tracks[0])


def run_tracker(detections: list, settings: FaceSettings) -> tuple[np.ndarray, list[int]]:
    """Feed detections (None: no face) to a tracker; the landmarks out, and how many frames each one came late."""
    tracker = LandmarkTracker(settings=settings)
    out, late = {}, []
    for index, points in enumerate(detections):
        for item, landmarks in tracker.push_detection(points, index):
            out[item] = landmarks
            late.append(index - item)
    for item, landmarks in tracker.finish():
        out[item] = landmarks
    assert sorted(out) == list(range(len(detections)))  # every frame once, in order
    return np.stack([out[index] for index in range(len(detections))]), late


def test_the_tracker_smooths_as_the_filter_over_the_whole_track_and_keeps_a_short_lag():
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.normal(0, 2, (60, 478, 2)), axis=0).astype(np.float32) + 200
    settings = FaceSettings()
    tracks, late = run_tracker(list(walk), settings)
    tracker = LandmarkTracker(settings=settings)
    whole = gaussian_filter1d(walk, settings.smoothing_sigma, axis=0, mode="mirror", radius=tracker.radius)
    np.testing.assert_allclose(tracks, whole, atol=1e-4)
    assert 0 < max(late) <= tracker.radius  # every face seen: frames wait only for the smoothing's neighbours
    assert landmark_jitter(tracks) < 0.5 * landmark_jitter(walk)


def test_a_short_gap_is_bridged_linearly_and_a_long_one_held_until_the_face_returns():
    settings = FaceSettings(smoothing_sigma=0.0, max_missing_fraction=0.9)  # no smoothing: the gap rule alone
    line = np.arange(40, dtype=np.float32)[:, None, None] * np.ones((1, 478, 2), np.float32)
    lost = set(range(0, 2)) | set(range(5, 8)) | set(range(12, 32))
    tracks, late = run_tracker([None if index in lost else line[index] for index in range(40)], settings)
    x = tracks[:, 0, 0]
    assert list(x[:2]) == [2.0, 2.0]  # before the first face: its pose
    np.testing.assert_allclose(x[5:8], [5, 6, 7], atol=1e-5)  # three frames lost: a straight line across
    lookahead = LandmarkTracker(settings=settings).lookahead
    returns = 32 - lookahead - 1  # the last frame held: from here on the returning face is in sight
    assert (x[12 : returns + 1] == 11).all()  # twenty frames lost: the last pose held ...
    assert np.all(np.diff(x[returns:33]) > 0) and x[32] == 32  # ... then a straight line to the returning face
    assert max(late) <= lookahead  # a lost face delays its frames by the look-ahead at most


def test_hair_mask_covers_above_the_forehead_not_the_eyes(astronaut, astronaut_landmarks):
    mask = attribute_mask(astronaut, astronaut_landmarks, "hair")
    size = regions.face_size(astronaut_landmarks)
    top = astronaut_landmarks[regions.FOREHEAD_TOP]
    rows = slice(int(top[1] - 0.25 * size), int(top[1] - 0.05 * size))
    above = mask[rows, int(top[0] - 0.1 * size) : int(top[0] + 0.1 * size)]
    assert above.mean() > 0.6
    assert region_coverage(mask, astronaut_landmarks, regions.RIGHT_EYE) < 0.05
    assert region_coverage(mask, astronaut_landmarks, regions.LEFT_EYE) < 0.05
    assert region_coverage(mask, astronaut_landmarks, regions.LIPS_OUTER) < 0.05


def test_glasses_mask_covers_the_eyes_not_the_mouth(astronaut, astronaut_landmarks):
    mask = attribute_mask(astronaut, astronaut_landmarks, "glasses")
    assert region_coverage(mask, astronaut_landmarks, regions.RIGHT_EYE) > 0.9
    assert region_coverage(mask, astronaut_landmarks, regions.LEFT_EYE) > 0.9
    assert region_coverage(mask, astronaut_landmarks, regions.LIPS_OUTER) < 0.05


def test_makeup_beard_and_hat_masks_cover_their_regions(astronaut, astronaut_landmarks):
    points = astronaut_landmarks
    makeup = attribute_mask(astronaut, points, "makeup")
    # The lips themselves (her smile shows teeth: the opening between the lips is not lipstick).
    lips = (fill_polygons(makeup.shape, [points[list(regions.LIPS_OUTER)]]) > 0.5) & (
        fill_polygons(makeup.shape, [points[list(regions.LIPS_INNER)]]) < 0.5
    )
    assert makeup[lips].mean() > 0.7
    assert makeup[tuple(points[regions.RIGHT_CHEEK, ::-1].astype(int))] > 0.3
    # She has no beard: shadows of a clean-shaven chin are not a beard to transfer.
    assert attribute_mask(astronaut, points, "beard").max() < 0.05
    hat = attribute_mask(astronaut, points, "hat")
    top = points[regions.FOREHEAD_TOP]
    assert hat[int(top[1] - 0.15 * regions.face_size(points)), int(top[0])] > 0.5
    assert region_coverage(hat, points, regions.LIPS_OUTER) < 0.05


def test_user_mask_adds_or_replaces(astronaut, astronaut_landmarks):
    automatic = attribute_mask(astronaut, astronaut_landmarks, "glasses")
    user = np.zeros_like(automatic)
    user[400:450, 50:100] = 1.0  # a brush stroke far from the face
    added = combine_masks(automatic, user, mode="add")
    assert added[420, 70] == 1.0 and np.array_equal(np.maximum(added, automatic), added)
    replaced = combine_masks(automatic, user, mode="replace")
    assert replaced.sum() == user.sum()


def test_expanded_mask_grows_but_spares_eyes_and_mouth(astronaut, astronaut_landmarks):
    hair = attribute_mask(astronaut, astronaut_landmarks, "hair")
    grown = expand_mask(hair, astronaut_landmarks, growth=0.1, rng=np.random.default_rng(0))
    assert (grown >= hair - 1e-6).all() and grown.sum() > 1.2 * hair.sum()
    assert region_coverage(grown, astronaut_landmarks, regions.RIGHT_EYE) < 0.05
    assert region_coverage(grown, astronaut_landmarks, regions.LIPS_OUTER) < 0.05


def test_similarity_transform_recovers_a_known_motion():
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 100, (20, 2)).astype(np.float32)
    angle, scale = 0.3, 1.4
    truth = np.array(
        [[scale * np.cos(angle), -scale * np.sin(angle), 5.0], [scale * np.sin(angle), scale * np.cos(angle), -7.0]],
        np.float32,
    )
    estimated = similarity_transform(points, apply_affine(truth, points))
    assert np.allclose(estimated, truth, atol=1e-3)


def test_mesh_warp_moves_a_marked_landmark_and_nothing_far_away(astronaut, astronaut_landmarks):
    mesh = MeshWarp.build(astronaut_landmarks, (512, 512))
    assert np.array_equal(mesh.warp(astronaut, mesh.target_points(astronaut_landmarks)), astronaut)
    marked = astronaut.copy()
    x, y = astronaut_landmarks[regions.NOSE_TIP].astype(int)
    marked[y - 2 : y + 3, x - 2 : x + 3] = (0, 255, 0)
    moved = astronaut_landmarks.copy()
    moved[:, 0] += 6.0  # the whole face shifts right by 6 px
    out = mesh.warp(marked, mesh.target_points(moved))
    green = (out[..., 1] > 200) & (out[..., 0] < 60) & (out[..., 2] < 60)
    ys, xs = np.nonzero(green)
    assert abs(xs.mean() - (x + 6)) < 1.5 and abs(ys.mean() - y) < 1.5
    # Far from the face (the flag in the top-left corner) nothing moves.
    assert np.array_equal(out[:60, :60], marked[:60, :60])


def test_retargeting_keeps_the_portraits_face_and_takes_the_drivers_motion(astronaut_landmarks, driver_tracks):
    motion = retarget_motion(astronaut_landmarks, driver_tracks)
    assert motion.shape == (len(driver_tracks), 478, 2)
    assert np.allclose(motion[0], astronaut_landmarks, atol=1e-3)
    # The mouth opens and closes with the driver's.
    assert np.corrcoef(mouth_opening(motion), mouth_opening(driver_tracks))[0, 1] > 0.95

    # The face keeps its own proportions (eye distance over face height), not the driver's.
    def proportion(points):
        eyes = np.linalg.norm(points[regions.LEFT_EYE_OUTER] - points[regions.RIGHT_EYE_OUTER])
        return eyes / np.linalg.norm(points[regions.CHIN] - points[regions.FOREHEAD_TOP])

    assert abs(proportion(motion[0]) - proportion(astronaut_landmarks)) < 1e-3
    frozen = retarget_motion(astronaut_landmarks, driver_tracks, multiplier=0.0)
    assert np.allclose(frozen, astronaut_landmarks[None], atol=1e-3)
    half = retarget_motion(astronaut_landmarks, driver_tracks, multiplier=0.5)
    travel = np.abs(motion - motion[0]).mean()
    assert 0.3 * travel < np.abs(half - half[0]).mean() < 0.7 * travel


def test_keypoint_map_draws_coloured_contours_at_any_size(astronaut_landmarks):
    big = render_keypoint_map(astronaut_landmarks, (512, 512))
    small = render_keypoint_map(astronaut_landmarks, (64, 64), source_size=(512, 512))
    assert big.shape == (512, 512, 3) and small.shape == (64, 64, 3)
    # Lips are drawn red at the mouth; the background stays black.
    x, y = astronaut_landmarks[61].astype(int)
    patch = big[y - 2 : y + 3, x - 2 : x + 3].reshape(-1, 3)
    assert ((patch[:, 0] > 200) & (patch[:, 1] < 60)).any()
    assert big[:40, :40].max() == 0
    assert len({tuple(c) for c in big.reshape(-1, 3)[big.reshape(-1, 3).max(axis=1) > 250]}) > 5
    assert small.max() > 0


def test_a_long_faceless_start_takes_the_first_faces_pose_and_the_share_of_faces_decides():
    settings = FaceSettings(smoothing_sigma=0.0)
    line = np.arange(200, dtype=np.float32)[:, None, None] * np.ones((1, 478, 2), np.float32)
    # 120 frames without a face, then 80 with one: 60 % missing, over the half allowed.
    with pytest.raises(NoFaceError, match="no face found in 101 of 200 driving frames"):
        tracker = LandmarkTracker(settings=settings, expected_frames=200)
        for index in range(200):
            tracker.push_detection(None if index < 120 else line[index], index)
    # 90 frames without a face, then 110 with one: usable, and the start holds the first face's pose.
    tracks, _ = run_tracker([None if index < 90 else line[index] for index in range(200)], settings)
    assert (tracks[:90, 0, 0] == 90).all() and tracks[199, 0, 0] == 199
