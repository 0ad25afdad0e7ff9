"""A video as the portrait: each frame keeps its own face and motion and wears the attributes (and the mirror, which
does the same to camera frames)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from helpers import green_centroid, green_wig

from durian_core.api import build_request, generate, load_attribute, mirror_animator
from durian_core.config import GenerationSettings
from durian_core.face import regions
from durian_core.face.masks import fill_polygons
from durian_core.face.tracking import track_landmarks
from durian_core.media import load_video, probe_video, write_video
from durian_core.wear import Presence

ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTES = ROOT / "examples" / "attributes"
CLASSICAL = GenerationSettings(engine="classical")


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "durian_core", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def square_clip(source: Path, target: Path, *, size: int = 512, seconds: float = 2.0, audio: bool = False) -> Path:
    """The talking-face clip upscaled to ``size``² (scaled to the side, centre cropped), its first ``seconds``, with a
    tone as its sound when ``audio``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-i", str(source)]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    command += ["-t", str(seconds), "-vf", f"scale=-2:{size}:flags=bicubic,crop={size}:{size}"]
    command += ["-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p"]
    command += ["-c:a", "aac", "-shortest"] if audio else ["-an"]
    subprocess.run([*command, str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory, carphone_path) -> Path:
    return square_clip(carphone_path, tmp_path_factory.mktemp("tryon") / "talk.mp4")


@pytest.fixture(scope="module")
def clip(clip_path):
    from durian_core.config import MediaLimits

    video = load_video(clip_path, limits=MediaLimits(max_video_side=2048))
    return video.frames


@pytest.fixture(scope="module")
def tracks(clip) -> np.ndarray:
    """The clip's own landmarks, found independently of the code under test."""
    return track_landmarks(clip)


def wear(path: Path, kind: str, attribute: str, **settings) -> np.ndarray:
    request = build_request(
        path,
        [load_attribute(ATTRIBUTES / attribute, kind)],
        settings=GenerationSettings(engine="classical", **settings),
    )
    return generate(request).frames


def eye_band(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Where glasses may sit (bool): from above the brows to below the eyes, across the face and past its sides to
    the ears."""
    size = regions.face_size(landmarks)
    points = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW + regions.RIGHT_EYE + regions.LEFT_EYE)]
    x0, y0 = points.min(axis=0) - np.array([0.35, 0.15]) * size
    x1, y1 = points.max(axis=0) + np.array([0.35, 0.2]) * size
    band = np.zeros(shape[:2], bool)
    band[max(0, int(y0)) : int(y1) + 1, max(0, int(x0)) : int(x1) + 1] = True
    return band


def eye_box(landmarks: np.ndarray) -> tuple[slice, slice]:
    points = landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE)]
    size = regions.face_size(landmarks)
    x0, y0 = (points.min(axis=0) - 0.08 * size).astype(int)
    x1, y1 = (points.max(axis=0) + 0.08 * size).astype(int)
    return slice(max(0, y0), y1), slice(max(0, x0), x1)


def mouth(landmarks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return fill_polygons(shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5


# ------------------------------------------------------------------------------------------------------ glasses


@pytest.fixture(scope="module")
def with_glasses(clip_path) -> np.ndarray:
    return wear(clip_path, "glasses", "glasses_obama.png")


def test_every_frame_wears_the_glasses_and_keeps_its_own_face_elsewhere(clip, tracks, with_glasses, output_dir):
    assert with_glasses.shape == clip.shape, "same frame count and size"
    worn = 0
    for frame, out, landmarks in zip(clip, with_glasses, tracks):
        band = eye_band(landmarks, frame.shape)
        difference = np.abs(out.astype(int) - frame.astype(int)).max(axis=-1)
        assert not difference[~band].any(), "outside the glasses every pixel is the clip's own"
        worn += difference[eye_box(landmarks)].mean() > 4
    assert worn >= 0.9 * len(clip), f"glasses on {worn} of {len(clip)} frames"
    sheet = np.concatenate([np.concatenate([clip[i], with_glasses[i]], 0) for i in (0, 20, 40, 59)], 1)
    cv2.imwrite(str(output_dir / "tryon_glasses.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def test_the_glasses_do_not_flicker(clip, tracks, with_glasses):
    """Frame-to-frame change around the eyes at most 1.5 times the clip's own, plus 3 levels."""
    own, worn = [], []
    for index in range(1, len(clip)):
        box = eye_box(tracks[index])
        own.append(np.abs(clip[index][box].astype(float) - clip[index - 1][box]).mean())
        worn.append(np.abs(with_glasses[index][box].astype(float) - with_glasses[index - 1][box]).mean())
    assert np.mean(worn) <= 1.5 * np.mean(own) + 3.0, (np.mean(worn), np.mean(own))


# ------------------------------------------------------------------------------------------- makeup and beard


def test_makeup_follows_the_lips_and_never_paints_the_inside_of_the_mouth(clip, clip_path, tracks):
    out = wear(clip_path, "makeup", "makeup_biden.png")
    opened = [
        i
        for i, landmarks in enumerate(tracks)
        if regions.face_size(landmarks) * 0.06
        < np.linalg.norm(landmarks[regions.LOWER_LIP_INNER] - landmarks[regions.UPPER_LIP_INNER])
    ]
    assert opened, "the clip opens its mouth"
    for index in opened:
        landmarks = tracks[index]
        inside = fill_polygons(clip.shape[1:3], [landmarks[list(regions.LIPS_INNER)]]) > 0.5
        inside = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        difference = np.abs(out[index].astype(int) - clip[index].astype(int)).max(axis=-1)
        assert difference[inside].mean() < 2, "the inside of the open mouth is the clip's own"
    lips = [
        np.abs(out[i].astype(int) - clip[i].astype(int))[
            mouth(tracks[i], clip.shape[1:])
            & ~(fill_polygons(clip.shape[1:3], [tracks[i][list(regions.LIPS_INNER)]]) > 0.5)
        ].mean()
        for i in range(0, len(clip), 5)
    ]
    assert min(lips) > 3, "and every frame's lips wear the makeup"


# --------------------------------------------------------------------------------------------------------- hair


def test_hair_changes_the_head_and_leaves_the_face_below_the_eyes_alone(clip, clip_path, tracks, output_dir):
    out = wear(clip_path, "hair", "../portraits/biden.jpg")
    assert out.shape == clip.shape
    for frame, worn, landmarks in zip(clip, out, tracks):
        below = np.zeros(frame.shape[:2], bool)
        below[int(landmarks[regions.NOSE_TIP, 1]) :] = True
        below &= np.abs(np.arange(frame.shape[1]) - landmarks[regions.NOSE_TIP, 0])[None, :] < 0.3 * regions.face_size(
            landmarks
        )
        assert np.abs(worn.astype(int) - frame.astype(int))[below].max() == 0, "mouth and chin are the clip's own"
        crown = slice(
            max(0, int(landmarks[regions.FOREHEAD_TOP, 1] - 0.25 * regions.face_size(landmarks))),
            int(landmarks[regions.FOREHEAD_TOP, 1]),
        )
        columns = slice(int(landmarks[regions.RIGHT_FACE_SIDE, 0]), int(landmarks[regions.LEFT_FACE_SIDE, 0]))
        # The clip's dark brown hair becomes the example's white hair.
        assert worn[crown, columns].mean() > frame[crown, columns].mean() + 30
    sheet = np.concatenate([np.concatenate([clip[i], out[i]], 0) for i in (0, 20, 40, 59)], 1)
    cv2.imwrite(str(output_dir / "tryon_hair.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def test_a_fit_moves_what_every_frame_of_a_video_portrait_wears(tmp_path, carphone_path):
    """``--fit`` reaches a video portrait: Biden's crown painted green (the paint as the mask) sits, on every frame, a
    fifth of that frame's face size to the right (along the face) of where it sits without the fit."""
    from PIL import Image

    from durian_core.config import MediaLimits

    clip_path = square_clip(carphone_path, tmp_path / "short.mp4", seconds=0.5)
    wig, mask = green_wig(np.asarray(Image.open(ROOT / "examples" / "portraits" / "biden.jpg").convert("RGB")))
    Image.fromarray(wig).save(tmp_path / "wig.png")
    Image.fromarray(mask).save(tmp_path / "wig_mask.png")
    worn = ["--attribute", str(tmp_path / "wig.png"), "--kind", "hair", "--mask", str(tmp_path / "wig_mask.png")]
    outputs = []
    for name, fit in (("plain", []), ("moved", ["--fit", "0.2,0,1,0"])):
        output = tmp_path / f"{name}.mp4"
        done = run_cli(
            "generate", "--portrait", str(clip_path), *worn, *fit, "--mask-mode", "replace", "--output", str(output)
        )
        assert done.returncode == 0, done.stderr
        outputs.append(load_video(output, limits=MediaLimits(max_video_side=2048)).frames)
    frames = load_video(clip_path, limits=MediaLimits(max_video_side=2048)).frames
    assert len(outputs[0]) == len(outputs[1]) == len(frames) >= 10
    for plain, moved, landmarks in zip(*outputs, track_landmarks(frames)):
        # Right along the face's own axis: his head leans by about 13°, so right is a little up.
        across = landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE]
        expected = 0.2 * across / np.linalg.norm(across)
        shift = (green_centroid(moved) - green_centroid(plain)) / regions.face_size(landmarks)
        np.testing.assert_allclose(shift, expected, atol=0.03)


# ------------------------------------------------------------------------------------------------- lost faces


def test_a_lost_face_fades_out_and_leaves_nothing_stuck(tmp_path, clip):
    """30 frames (a second) with no face in the middle: the glasses hold, fade, and are gone; then back on."""
    grey = np.full_like(clip[0], 128)
    frames = np.concatenate([clip[:20], np.repeat(grey[None], 30, axis=0), clip[20:40]])
    path = write_video(frames, tmp_path / "lost.mp4", fps=30)
    from durian_core.config import MediaLimits

    decoded = load_video(path, limits=MediaLimits(max_video_side=2048)).frames
    out = wear(path, "glasses", "glasses_obama.png")
    assert len(out) == len(decoded) == 70
    gone = [np.abs(out[i].astype(int) - decoded[i]).max() for i in range(20 + 20, 50)]
    assert max(gone) == 0, "after the hold and the fade the faceless frames are the clip's own"
    back = [np.abs(out[i].astype(int) - decoded[i]).mean() for i in range(60, 70)]
    assert min(back) > 0.2, "and the glasses are back on the returning face"


def test_presence_holds_then_fades_then_returns():
    presence = Presence(hold=0.2, fade=0.2)
    fps = 30
    seen = [True] * 10 + [False] * 30 + [True] * 12
    values = [presence(flag, index / fps) for index, flag in enumerate(seen)]
    assert values[:10] == [1.0] * 10
    assert values[10:16] == [1.0] * 6, "held for 0.2 s"
    assert values[24] == 0.0 and values[39] == 0.0, "gone within the hold and the fade"
    assert 0.0 < values[41] < 1.0 and values[-1] == 1.0, "fades back in"


# --------------------------------------------------------------------------------------------------- the CLI


def test_the_cli_keeps_the_clips_sound_rate_and_size(tmp_path, carphone_path):
    source = square_clip(carphone_path, tmp_path / "sound.mp4", size=256, seconds=1.5, audio=True)
    output = tmp_path / "worn.mp4"
    done = run_cli(
        "generate",
        "--portrait",
        str(source),
        "--attribute",
        str(ATTRIBUTES / "beard_biden.png"),
        "--kind",
        "beard",
        "--weight",
        "0.8",
        "--output",
        str(output),
    )
    assert done.returncode == 0, done.stderr
    assert "a video portrait runs on the classical engine" in done.stdout
    before, after = probe_video(source), probe_video(output)
    assert after["has_audio"] and before["has_audio"]
    for key in ("frames", "width", "height", "fps"):
        assert after[key] == before[key], key


@pytest.mark.parametrize(
    ("extra", "phrase"),
    [
        (("--driving", "CLIP"), "takes no --driving"),
        (("--engine", "durian"), "does not take a video as the portrait"),
        (("--face", "3"), "no face 3"),
    ],
)
def test_what_a_portrait_video_cannot_do_is_one_line(tmp_path, clip_path, extra, phrase):
    extra = tuple(str(clip_path) if word == "CLIP" else word for word in extra)
    done = run_cli(
        "generate",
        "--portrait",
        str(clip_path),
        "--attribute",
        str(ATTRIBUTES / "glasses_obama.png"),
        "--kind",
        "glasses",
        *extra,
        "--output",
        str(tmp_path / "out.mp4"),
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and phrase in done.stderr and done.stderr.count("\n") == 1, done.stderr


def test_a_video_without_a_face_or_that_is_no_video_is_one_line(tmp_path, no_face_image):
    faceless = write_video(np.repeat(no_face_image[None], 20, axis=0), tmp_path / "faceless.mp4", fps=10)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    for path, phrase in ((faceless, "no face found in the portrait video"), (text, "cannot read video")):
        done = run_cli(
            "generate",
            "--portrait",
            str(path),
            "--attribute",
            str(ATTRIBUTES / "glasses_obama.png"),
            "--kind",
            "glasses",
            "--output",
            str(tmp_path / "out.mp4"),
        )
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and phrase in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------------- mirror


def test_the_mirror_puts_glasses_on_the_camera_face_and_takes_them_off_when_it_goes(clip, tracks):
    request = build_request(clip[0], [load_attribute(ATTRIBUTES / "glasses_obama.png", "glasses")], settings=CLASSICAL)
    mirror, note = mirror_animator(request)
    assert "camera" in note
    camera = [cv2.resize(frame, (320, 320), interpolation=cv2.INTER_AREA) for frame in clip[:30]]
    scale = 320 / clip.shape[2]
    worn = 0
    for index, frame in enumerate(camera):
        out = mirror(frame, timestamp=index / 30)
        assert out.shape == frame.shape
        worn += np.abs(out.astype(int) - frame)[eye_box(tracks[index] * scale)].mean() > 4
    assert worn >= 27
    grey = np.full_like(camera[0], 128)
    for index in range(30, 50):
        out = mirror(grey, timestamp=index / 30)
    assert np.array_equal(out, grey), "a lost face leaves no glasses behind"
    assert mirror.timing()["median_ms"] > 0
    mirror.close()


def test_the_head_placement_steadies_a_tremble_without_lagging_a_move(astronaut):
    from durian_core.face.landmarks import detect_landmarks
    from durian_core.tryon import TrackedFrame, steady_heads

    face = detect_landmarks(astronaut)
    rng = np.random.default_rng(0)
    trembling = [face + rng.normal(0, 1.0, 2).astype(np.float32) for _ in range(40)]
    moving = [face + np.float32(2.0 * index) for index in range(40)]
    for track, check in ((trembling, "tremble"), (moving, "move")):
        items = [TrackedFrame(index, astronaut, points, 1.0) for index, points in enumerate(track)]
        heads = np.stack([item.head for item in steady_heads(iter(items))])
        shifts = heads[:, 0] - face[0]
        if check == "tremble":
            assert shifts.std(axis=0).max() < 0.5 * np.stack(track)[:, 0].std(axis=0).min()
        else:
            assert np.abs(heads[8:-8] - np.stack(track)[8:-8]).max() < 1e-3, "a steady move is followed exactly"


def test_on_the_reference_frame_the_layers_give_the_still_edit(clip):
    """Weights, a user mask and α between two hats of one kind work as for a still: worn by the very frame they were
    prepared on, the layers give the editor's still edit."""
    from durian_core.api import preview
    from durian_core.cache import FeatureCache
    from durian_core.face.landmarks import detect_landmarks
    from durian_core.prepare import prepare_inputs
    from durian_core.types import Interpolation
    from durian_core.wear import Wearer

    frame = clip[0]
    attributes = [
        load_attribute(ATTRIBUTES / "hat_obama.png", "hat"),
        load_attribute(
            ATTRIBUTES / "hat_obama.png", "hat", mask=ATTRIBUTES / "hat_obama_mask.png", mask_mode="replace"
        ),
        load_attribute(ATTRIBUTES / "beard_biden.png", "beard", weight=0.6),
        load_attribute(ATTRIBUTES / "glasses_obama.png", "glasses", weight=0.8),
    ]
    request = build_request(frame, attributes, interpolation=Interpolation(0, 1, 0.4), settings=CLASSICAL)
    cache = FeatureCache()
    still = preview(request, cache=cache).still
    worn = Wearer.build(prepare_inputs(request, cache=cache))(frame, detect_landmarks(frame))
    difference = np.abs(worn.astype(int) - still.astype(int))
    assert np.abs(still.astype(int) - frame).mean() > 5, "the edit changes the frame"
    assert difference.mean() < 1.0 and np.percentile(difference, 99) < 12, (
        difference.mean(),
        np.percentile(difference, 99),
    )
