"""The command line as a user runs it: real subprocesses, real files, exit codes and messages."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import green_centroid, green_wig
from PIL import Image

from durian_core.media import probe_video, write_video

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "examples" / "portraits" / "astronaut.jpg"
HAIR = ROOT / "examples" / "portraits" / "biden.jpg"
GLASSES = ROOT / "examples" / "attributes" / "glasses_obama.png"
HAIR_ON_PORTRAIT = ("--portrait", str(PORTRAIT), "--attribute", str(HAIR), "--kind", "hair")
"""The README's first example starts like this: Biden's hair on the astronaut."""
OBAMA = ROOT / "examples" / "portraits" / "obama.jpg"
LABELLED = ROOT / "tests" / "data" / "hair"
"""The hair-mask benchmark; its ``obama.labels.png`` labels every pixel of ``OBAMA`` (re-encoded, same pixels)."""


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "durian_core", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


@pytest.fixture(scope="module")
def short_driver_path(tmp_path_factory, carphone) -> Path:
    path = tmp_path_factory.mktemp("driver") / "driver.mp4"
    return write_video(carphone.frames[:45], path, fps=carphone.fps)


def test_generate_writes_an_mp4_with_the_drivers_frames(tmp_path, short_driver_path):
    output = tmp_path / "out.mp4"
    done = run_cli(
        "generate",
        *HAIR_ON_PORTRAIT,
        "--attribute",
        str(GLASSES),
        "--kind",
        "glasses",
        "--driving",
        str(short_driver_path),
        "--output",
        str(output),
        "--engine",
        "classical",
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {output}" in done.stdout and "classical engine" in done.stdout
    info = probe_video(output)
    assert info["frames"] == 45 and info["width"] == 512


def test_generate_without_a_driver_writes_the_still_edit(tmp_path):
    output = tmp_path / "still.png"
    done = run_cli(
        "generate",
        *HAIR_ON_PORTRAIT,
        "--attribute",
        str(HAIR),
        "--kind",
        "hair",
        "--alpha",
        "0.3",
        "--output",
        str(output),
    )
    assert done.returncode == 0, done.stderr
    still = np.asarray(Image.open(output))
    assert still.shape == (512, 512, 3)
    assert np.abs(still.astype(int) - np.asarray(Image.open(PORTRAIT)).astype(int)).mean() > 1


def test_user_mask_png_is_accepted(tmp_path):
    mask = np.zeros((512, 512), np.uint8)
    mask[100:160, 200:320] = 255
    mask_path = tmp_path / "mask.png"
    Image.fromarray(mask).save(mask_path)
    done = run_cli(
        "generate",
        *HAIR_ON_PORTRAIT,
        "--mask",
        str(mask_path),
        "--output",
        str(tmp_path / "masked.png"),
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def obama_hair_mask(tmp_path_factory) -> Path:
    """Obama's automatic hair mask, written by the ``mask`` command."""
    output = tmp_path_factory.mktemp("mask") / "obama_hair.png"
    done = run_cli("mask", "--image", str(OBAMA), "--kind", "hair", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {output} (512×512;"), done.stdout
    return output


def test_mask_writes_the_automatic_hair_mask_at_the_images_size(obama_hair_mask):
    written = Image.open(obama_hair_mask)
    assert written.mode == "L" and written.size == Image.open(OBAMA).size
    mask = np.asarray(written)
    hair = np.asarray(Image.open(LABELLED / "obama.labels.png").convert("L")) == 255
    assert (mask[hair] > 127).mean() > 0.85, "his hair is white"  # 95 % today
    assert mask[290:340, 190:320].max() < 128, "his collar, shirt and the tie's knot are black"
    assert np.count_nonzero((mask > 20) & (mask < 235)) > 1000, "the edge is soft, in greys"


def test_the_mask_passed_back_in_replace_mode_gives_the_automatic_edit(obama_hair_mask, tmp_path):
    hair_on_portrait = ["--portrait", str(PORTRAIT), "--attribute", str(OBAMA), "--kind", "hair"]
    automatic, returned = tmp_path / "automatic.png", tmp_path / "returned.png"
    done = run_cli("generate", *hair_on_portrait, "--output", str(automatic))
    assert done.returncode == 0, done.stderr
    done = run_cli(
        "generate",
        *hair_on_portrait,
        "--mask",
        str(obama_hair_mask),
        "--mask-mode",
        "replace",
        "--output",
        str(returned),
    )
    assert done.returncode == 0, done.stderr
    portrait, first, second = (
        np.asarray(Image.open(path).convert("RGB")).astype(int) for path in (PORTRAIT, automatic, returned)
    )
    changed = np.abs(first - portrait).max(axis=2) > 30
    assert changed.mean() > 0.02, "the automatic edit puts his hair on her"  # 3.8 % of the picture
    # The mask comes back as 8-bit grey and is resized to the attribute's working size: a grey level or two at most.
    assert np.abs(second - first)[changed].mean() < 2  # 0.02 today
    assert (np.abs(second - first).max(axis=2) > 30).mean() < 0.001


def test_bad_mask_inputs_exit_2_with_one_clear_line(tmp_path):
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "noface.png")
    (tmp_path / "notes.jpg").write_text("these are my holiday notes, not a photo\n")
    output = str(tmp_path / "mask.png")
    cases = {
        "no face": (["--image", str(tmp_path / "noface.png"), "--output", output], "no face"),
        "text as image": (["--image", str(tmp_path / "notes.jpg"), "--output", output], "text file"),
        # sysfs takes no new files, whoever asks (permission bits do not stop root)
        "unwritable folder": (["--image", str(OBAMA), "--output", "/sys/durian_mask.png"], "cannot create files in"),
        "not an image format": (
            ["--image", str(OBAMA), "--output", str(tmp_path / "mask.txt")],
            "cannot write a still with '.txt'",
        ),
        "a face that is not there": (["--image", str(OBAMA), "--face", "2", "--output", output], "no face 2"),
    }
    for name, (args, phrase) in cases.items():
        done = run_cli("mask", "--kind", "hair", *args, timeout=120)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, done.stderr)
        assert phrase in lines[0], (name, lines[0])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["noface.png", "notes.jpg"], "no mask was written"


def test_a_fit_moves_the_hair_by_face_sizes_of_the_portrait(tmp_path):
    """Biden wearing a green wig (his crown painted, the paint as the mask) on the astronaut: ``--fit 0.2,0,1,0``
    moves the wig a fifth of her face size to the right of where it lands without a fit, and not up or down."""
    from durian_core.face import regions
    from durian_core.face.landmarks import detect_landmarks

    wig, mask = green_wig(np.asarray(Image.open(HAIR).convert("RGB")))
    Image.fromarray(wig).save(tmp_path / "wig.png")
    Image.fromarray(mask).save(tmp_path / "wig_mask.png")
    worn = ["--attribute", str(tmp_path / "wig.png"), "--kind", "hair", "--mask", str(tmp_path / "wig_mask.png")]
    centroids = []
    for name, fit in (("plain", []), ("moved", ["--fit", "0.2,0,1,0"])):
        output = tmp_path / f"{name}.png"
        done = run_cli(
            "generate", "--portrait", str(PORTRAIT), *worn, *fit, "--mask-mode", "replace", "--output", str(output)
        )
        assert done.returncode == 0, done.stderr
        centroids.append(green_centroid(np.asarray(Image.open(output).convert("RGB"))))
    size = regions.face_size(detect_landmarks(np.asarray(Image.open(PORTRAIT).convert("RGB"))))
    shift = (centroids[1] - centroids[0]) / size
    assert shift[0] == pytest.approx(0.2, abs=0.03), shift
    assert abs(shift[1]) < 0.03, shift


def write_bad_inputs(folder: Path, carphone) -> dict[str, tuple[list[str], str]]:
    """Each bad input, the arguments that use it, and a phrase its error must contain."""
    noise = np.random.default_rng(0).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "noface.png")
    (folder / "notes.jpg").write_text("these are my holiday notes, not a photo\n")
    Image.fromarray(noise[:20, :20]).save(folder / "tiny.png")
    (folder / "empty.jpg").write_bytes(b"")
    good = write_video(carphone.frames[:20], folder / "good.mp4", fps=carphone.fps).read_bytes()
    (folder / "corrupt.mp4").write_bytes(good[: len(good) // 3])
    write_video(np.repeat(noise[None], 20, axis=0), folder / "faceless.mp4", fps=25)
    base = ["generate", "--portrait", str(PORTRAIT), "--output", str(folder / "out.mp4")]
    return {
        "no face": (
            ["generate", "--portrait", str(folder / "noface.png"), "--output", str(folder / "o.png")],
            "no face",
        ),
        "text as image": (
            ["generate", "--portrait", str(folder / "notes.jpg"), "--output", str(folder / "o.png")],
            "text file",
        ),
        "tiny image": (
            ["generate", "--portrait", str(folder / "tiny.png"), "--output", str(folder / "o.png")],
            "too small",
        ),
        "empty file": (
            ["generate", "--portrait", str(folder / "empty.jpg"), "--output", str(folder / "o.png")],
            "empty",
        ),
        "corrupt video": ([*base, "--driving", str(folder / "corrupt.mp4")], "corrupt.mp4"),
        "video without a face": ([*base, "--driving", str(folder / "faceless.mp4")], "no face"),
    }


def test_bad_inputs_exit_2_with_one_clear_line(tmp_path, carphone):
    for name, (args, phrase) in write_bad_inputs(tmp_path, carphone).items():
        done = run_cli(*args, timeout=120)
        assert done.returncode == 2, (name, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, done.stderr)
        assert phrase in lines[0].lower(), (name, lines[0])
        assert "Traceback" not in done.stderr


def test_durian_engine_without_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("DURIAN_WEIGHTS", raising=False)
    done = run_cli("generate", "--portrait", str(PORTRAIT), "--output", str(tmp_path / "o.png"), "--engine", "durian")
    assert done.returncode == 2 and "needs weights" in done.stderr


def test_evaluate_prints_engine_and_baseline_metrics(short_driver_path):
    done = run_cli("evaluate", "--video", str(short_driver_path), "--engine", "classical")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["frames"] == 44
    for key in ("engine_metrics", "baseline_metrics"):
        assert set(report[key]) == {"full", "head", "attribute"}
        assert all(set(scores) == {"l1", "psnr", "ssim"} for scores in report[key].values())


def test_evaluate_reconstruction_reports_the_protocol_and_its_frames(short_driver_path):
    done = run_cli(
        "evaluate",
        "--video",
        str(short_driver_path),
        "--protocol",
        "reconstruction",
        "--kind",
        "hair",
        "--engine",
        "classical",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["protocol"] == "reconstruction" and report["kind"] == "hair"
    assert (report["portrait_frame"], report["attribute_frame"]) == (0, 22)


def test_evaluate_without_a_video_or_grid_is_one_error_line():
    done = run_cli("evaluate")
    assert done.returncode == 2 and done.stderr.strip() == "error: evaluate needs --video (or --grid, or --masks)"


def test_evaluate_masks_reports_each_labelled_image_and_the_mean(tmp_path):
    # Two images of the benchmark: a face at 120 px, and a woman with a second person pasted beside her.
    manifest = json.loads((LABELLED / "manifest.json").read_text())
    chosen = [entry for entry in manifest["images"] if entry["name"] in ("biden_small", "astronaut_beside_biden")]
    for entry in chosen:
        shutil.copy(LABELLED / entry["image"], tmp_path)
        shutil.copy(LABELLED / entry["labels"], tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"images": chosen}))
    done = run_cli("evaluate", "--masks", str(tmp_path), "--sheet", str(tmp_path / "sheet.png"))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["protocol"] == "masks" and set(report["images"]) == {"biden_small", "astronaut_beside_biden"}
    for measure in ("hair_covered", "not_hair_left_out", "iou"):
        shares = [scores[measure] for scores in report["images"].values()]
        assert report["mean"][measure] == pytest.approx(np.mean(shares))
    # 96 / 99 / 66 and 97 / 100 / 97 % today
    assert all(
        scores["hair_covered"] > 0.85 and scores["not_hair_left_out"] > 0.95 for scores in report["images"].values()
    )
    assert report["images"]["astronaut_beside_biden"]["iou"] > 0.85
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size == (3 * 200, 2 * 200), "a row per image: the image, its labels, the mask"


def test_evaluate_masks_alone_scores_the_labelled_set_in_the_checkout():
    from durian_core.cli import parse_command

    for words in (["evaluate", "--masks"], ["evaluate", "--masks", "--sheet", "masks.png"]):
        assert Path(parse_command(words).command.masks) == LABELLED
    assert parse_command(["evaluate", "--masks", "mine"]).command.masks == "mine"
    assert parse_command(["evaluate"]).command.masks is None


def test_evaluate_masks_on_a_folder_that_is_not_a_labelled_set_is_one_error_line(tmp_path):
    for folder, phrase in ((tmp_path / "missing", "not a folder"), (tmp_path, "no manifest.json")):
        done = run_cli("evaluate", "--masks", str(folder))
        assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
        assert done.stderr.splitlines() == [done.stderr.strip()] and phrase in done.stderr, done.stderr


@pytest.mark.slow
def test_bench_reports_per_stage_medians():
    done = run_cli("bench", "--repeats", "1", "--size", "256")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["animator_fps"] > 0 and report["animator_fps_pipelined"] > 0
    assert {
        "driver_landmarks_per_frame",
        "retarget_per_frame",
        "render_per_frame",
        "paste_back_per_frame",
        "encode_per_frame",
        "edit",
        "uncached_still",
        "cached_preview",
        "animator_pipelined_per_frame",
    } == set(report["seconds"])


def test_generate_with_the_durian_engine_and_tiny_weights_writes_an_mp4(tmp_path, short_driver_path):
    from durian_core.tiny import save_tiny_pipeline

    weights = save_tiny_pipeline(tmp_path / "tiny-durian")
    output = tmp_path / "durian.mp4"
    done = run_cli(
        "generate",
        *HAIR_ON_PORTRAIT,
        "--driving",
        str(short_driver_path),
        "--max-seconds",
        "0.5",
        "--steps",
        "2",
        "--size",
        "256",
        "--engine",
        "durian",
        "--weights",
        str(weights),
        "--output",
        str(output),
    )
    assert done.returncode == 0, done.stderr
    assert "durian engine" in done.stdout
    info = probe_video(output)
    assert info["frames"] == 15 and info["width"] == 256


def test_durian_weights_folder_that_is_not_one_is_a_clear_error(tmp_path):
    (tmp_path / "empty-weights").mkdir()
    done = run_cli(
        "generate",
        *HAIR_ON_PORTRAIT,
        "--engine",
        "durian",
        "--weights",
        str(tmp_path / "empty-weights"),
        "--output",
        str(tmp_path / "o.png"),
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "empty-weights" in lines[0]


def readme_commands() -> list[list[str]]:
    """Every ``python -m durian_core`` command in the README's bash blocks, as argument lists after the module."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
    commands = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if "durian_core" in words and words[words.index("durian_core") - 1] == "-m":
                commands.append(words[words.index("durian_core") + 1 :])
    return commands


def test_every_readme_command_runs_as_written():
    from durian_core.cli import parse_command
    from durian_core.cli_usage import UsageError

    commands = readme_commands()
    assert len(commands) >= 8, "the README's command blocks were found"
    for words in commands:
        assert "..." not in words, f"a placeholder in: {' '.join(words)}"
        try:
            command = parse_command(words).command
        except UsageError as exc:
            raise AssertionError(f"the CLI rejects: {' '.join(words)}") from exc
        for word in words:
            if word.startswith("examples/"):
                assert (ROOT / word).exists(), f"{word} is not in the repository"
        written = [getattr(command, name, None) for name in ("output", "output_dir", "out")]
        for path in filter(None, written):
            ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
            assert ignored.returncode == 0, f".gitignore does not cover {path}, which the README writes"


def test_the_readme_mask_example_puts_the_drawn_hat_on_the_astronaut(tmp_path):
    """The README's --mask example exactly, with its output moved to a temporary folder."""
    words = next(command for command in readme_commands() if "--mask" in command)
    words[words.index("--output") + 1] = str(tmp_path / "hat.png")
    done = run_cli(*words)
    assert done.returncode == 0, done.stderr
    edited = np.asarray(Image.open(tmp_path / "hat.png").convert("RGB")).astype(int)
    portrait = np.asarray(Image.open(PORTRAIT).convert("RGB")).astype(int)
    crown, chin = edited[20:90, 180:330], edited[230:300, 180:330]
    assert np.abs(crown - portrait[20:90, 180:330]).mean() > 20, "the crown of the head is now the hat"
    assert crown[..., 0].mean() > crown[..., 2].mean() + 30, "and the hat is red"
    assert np.abs(chin - portrait[230:300, 180:330]).mean() < 12, "the face below is the astronaut's"


COMMANDS = ("generate", "mask", "evaluate", "bench", "preprocess", "train")


def help_options(command: str) -> dict[str, str]:
    """Each option of a command's ``--help`` page with what the page says about it (tyro draws it in boxes: the
    flag and its value's name, two spaces or more, then the help, which may start and go on below)."""
    done = run_cli(command, "--help")
    assert done.returncode == 0, done.stderr
    options: dict[str, str] = {}
    current = None
    for line in done.stdout.splitlines():
        inner = line.strip().strip("│").strip()
        if inner.startswith("-"):
            flag, *said = re.split(r"\s{2,}", inner, maxsplit=1)
            current = flag.split()[0].rstrip(",") if not flag.startswith("-h") else "--help"
            options[current] = " ".join(said)
        elif current and inner and not inner.startswith(("╰", "╭", "─")):
            options[current] += " " + inner
        else:
            current = None
    return options


def test_every_cli_option_says_what_it_does():
    for command in COMMANDS:
        options = help_options(command)
        assert "--verbose" in options and len(options) > 3, (command, options)
        for flag, said in options.items():
            words = re.sub(r"\((default: [^)]*|required|repeatable)\)", "", said).strip()
            assert words, f"{command} {flag} has no help text"


def test_generate_help_lists_every_setting_with_its_default():
    from durian_core.cli import SETTING_FLAGS
    from durian_core.config import GenerationSettings

    options = help_options("generate")
    for field in dataclasses.fields(GenerationSettings):
        flag = "--" + SETTING_FLAGS.get(field.name, field.name).replace("_", "-")
        assert flag in options, f"{flag} ({field.name}) is not in generate --help"
        assert f"(default: {field.default})" in options[flag], (flag, options[flag])
    flags = ("--attribute", "--kind", "--mask", "--weight", "--fit", "--mask-mode", "--alpha", "--weights", "--engine")
    for flag in flags:
        assert flag in options


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (
            ["generate", *HAIR_ON_PORTRAIT[:4], "--kind", "wings", "--output", "o.png"],
            "--kind: invalid choice 'wings'",
        ),
        (["generate", *HAIR_ON_PORTRAIT, "--steps", "many", "--output", "o.png"], "--steps: "),
        (
            ["generate", *HAIR_ON_PORTRAIT, "--colour", "red", "--output", "o.png"],
            "unrecognized arguments: --colour red",
        ),
        (["generate", "--output", "o.png"], "missing required option --portrait"),
        (
            ["generate", "--portrait", str(PORTRAIT), "--kind", "hair", "--output", "o.png"],
            "--kind must follow an --attribute",
        ),
        (
            ["generate", *HAIR_ON_PORTRAIT, "--size", "10", "--output", "o.png"],
            "output_size must be within [64, 4096]",
        ),
        (["generate", *HAIR_ON_PORTRAIT, "--fit", "0.2,0", "--output", "o.png"], "--fit takes four numbers"),
        (["generate", *HAIR_ON_PORTRAIT, "--fit", "right,0,1,0", "--output", "o.png"], "--fit takes four numbers"),
        (["generate", *HAIR_ON_PORTRAIT, "--fit", "0,0,-1,0", "--output", "o.png"], "--fit scale must be above 0"),
        (["generate", *HAIR_ON_PORTRAIT, "--fit", "0,0,1,90", "--output", "o.png"], "within [-45, 45] degrees"),
        (["generate", *HAIR_ON_PORTRAIT, "--fit", "3,0,1,0", "--output", "o.png"], "within [-1, 1] face sizes"),
        (["generate", "--portrait", str(PORTRAIT), "--fit", "0,0,1,0", "--output", "o.png"], "--fit must follow"),
        (["evaluate", "--engine", "fastest"], "--engine: invalid choice 'fastest'"),
        (["bench", "--repeats"], "--repeats needs a value"),
        ([], "choose a command: generate, mask, evaluate, bench, preprocess, train"),
    ],
)
def test_a_bad_command_line_is_one_error_line_and_exit_2(args, phrase, tmp_path):
    # Run from an empty folder, so an output written by mistake would show.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "durian_core", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: "), done.stderr
    assert phrase in done.stderr, done.stderr
    assert not (tmp_path / "o.png").exists()


def test_each_kind_mask_weight_and_fit_belongs_to_the_attribute_before_it():
    from durian_core.cli import AttributeOptions, parse_command
    from durian_core.types import AttributeFit

    words = [
        "generate",
        "--portrait",
        "me.jpg",
        "--attribute",
        "a.jpg",
        "--weight",
        "0.5",
        "--kind=hair",
        "--attribute",
        "b.png",
        "--mask",
        "b_mask.png",
        "--kind",
        "glasses",
        "--fit=-0.1,0.05,1.2,-10",
        "--output",
        "out.png",
    ]
    assert parse_command(words).command.attributes == (
        AttributeOptions("a.jpg", kind="hair", weight=0.5),
        AttributeOptions("b.png", kind="glasses", mask="b_mask.png", fit=AttributeFit(-0.1, 0.05, 1.2, -10.0)),
    )


# ------------------------------------------------------------------------------------------------ outputs and stops


@pytest.mark.parametrize(
    ("output", "driving", "phrase"),
    [
        ("blocker/out.mp4", True, "blocker': it is a file, not a folder"),
        ("blocker/deeper/out.png", False, "blocker' is a file, not a folder"),
        (".", True, "is a folder: name a file in it"),
        ("out.mp4", False, "there is no driving video: add --driving VIDEO"),
        ("out.png", True, "an animation is written as an .mp4 video; name it out.mp4"),
        ("out.xyz", False, "cannot write a still with '.xyz': use .png, .jpg, .webp"),
        ("out", False, "cannot write a still with no extension"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_any_work(output, driving, phrase, tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder would have to be\n")
    # The portrait does not exist: the output is checked before any input is read.
    args = ["generate", "--portrait", str(tmp_path / "missing.jpg"), "--output", str(tmp_path / output)]
    if driving:
        args += ["--driving", str(tmp_path / "missing.mp4")]
    done = run_cli(*args, timeout=120)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.splitlines() == [done.stderr.strip()] and done.stderr.startswith("error: "), done.stderr
    assert phrase in done.stderr, done.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_output_in_a_read_only_folder_is_refused_before_any_work(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        done = run_cli("generate", "--portrait", str(PORTRAIT), "--output", str(locked / "out.png"), timeout=120)
    finally:
        locked.chmod(0o755)
    assert done.returncode == 2 and "cannot create files in" in done.stderr, done.stderr


def test_a_still_can_be_written_as_webp_and_a_missing_face_is_named_with_its_option(tmp_path):
    output = tmp_path / "still.webp"
    done = run_cli("generate", "--portrait", str(PORTRAIT), "--output", str(output))
    assert done.returncode == 0, done.stderr
    with Image.open(output) as written:
        assert written.format == "WEBP" and written.size == (512, 512)
    done = run_cli("generate", "--portrait", str(PORTRAIT), "--face", "7", "--output", str(tmp_path / "other.png"))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: the photo has 1 face; --face must be 0"


def test_sigterm_mid_render_stops_like_ctrl_c_and_leaves_nothing_behind(tmp_path, carphone_path):
    import imageio_ffmpeg

    long_driver = tmp_path / "long.mp4"  # the clip five times over: a render of several seconds
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-stream_loop", "4", "-i", str(carphone_path)]
        + ["-c", "copy", str(long_driver)],
        check=True,
    )
    results = tmp_path / "results"
    results.mkdir()
    render = subprocess.Popen(
        [sys.executable, "-m", "durian_core", "generate", *HAIR_ON_PORTRAIT, "--driving", str(long_driver)]
        + ["--output", str(results / "out.mp4"), "--engine", "classical"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The encoder's temporary file appears beside the output once frames are being written.
        deadline = time.monotonic() + 240
        while not list(results.glob(".durian-video-*/video.mp4")) and render.poll() is None:
            assert time.monotonic() < deadline, "the render never started writing"
            time.sleep(0.05)
        assert render.poll() is None, render.communicate()
        render.terminate()
        stdout, stderr = render.communicate(timeout=120)
    finally:
        render.kill()
    assert render.returncode == 143, (stdout, stderr)
    assert stderr.strip() == "error: terminated; nothing was written", stderr
    assert list(results.iterdir()) == []  # no partial output, no temporary file
