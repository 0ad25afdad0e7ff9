"""Self-reenactment on compressed copies of the talking-face clip: how well tracking holds on small, blocky drivers.

Makes copies of ``examples/drivers/carphone.mp4`` (176×144) at several compression levels with the ffmpeg that
imageio-ffmpeg bundles (H.264 at rising CRF, MPEG-4 Part 2, MPEG-2 and Motion JPEG at rising quantiser), runs
``python -m durian_core evaluate --video COPY`` on each (self-reenactment: the first frame animated by the clip's
own motion) and prints, per copy, how much the engine beats doing nothing (the first frame repeated): PSNR on the
full frame and on the head, in dB, with the copy's blockiness and the frames the tracker found no face in.

Run from the repository root: ``python scripts/compressed_drivers.py [--levels crf36 crf42 mpeg4-q31 ...]
[--keep FOLDER] [--json results.json]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_core.errors import NoFaceError  # noqa: E402
from durian_core.evaluation import self_reenactment  # noqa: E402
from durian_core.face.blocks import blockiness  # noqa: E402
from durian_core.face.tracking import FaceCount, track_landmarks  # noqa: E402
from durian_core.media import load_video  # noqa: E402

CLIP = ROOT / "examples" / "drivers" / "carphone.mp4"

LEVELS: dict[str, tuple[str, list[str]]] = {
    "crf36": (".mp4", ["-c:v", "libx264", "-crf", "36"]),
    "crf42": (".mp4", ["-c:v", "libx264", "-crf", "42"]),
    "crf45": (".mp4", ["-c:v", "libx264", "-crf", "45"]),
    "crf48": (".mp4", ["-c:v", "libx264", "-crf", "48"]),
    "mpeg4-q20": (".mp4", ["-c:v", "mpeg4", "-q:v", "20"]),
    "mpeg4-q31": (".mp4", ["-c:v", "mpeg4", "-q:v", "31"]),
    "mpeg2-q31": (".mpg", ["-c:v", "mpeg2video", "-q:v", "31"]),
    "mjpeg-q31": (".avi", ["-c:v", "mjpeg", "-q:v", "31"]),
}
"""Each copy: its container and ffmpeg's encoder options (H.264 hides its blocks with its loop filter; the older
codecs show them)."""


def compress(level: str, folder: Path) -> Path:
    suffix, options = LEVELS[level]
    target = folder / f"carphone-{level}{suffix}"
    pixels = ["-pix_fmt", "yuvj420p" if "mjpeg" in level else "yuv420p"]
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-v", "error", "-i", str(CLIP), *options, *pixels, str(target)]
    subprocess.run(command, check=True)
    return target


def measure(path: Path) -> dict:
    frames = load_video(path).frames
    level = round(float(np.median([blockiness(frame) for frame in frames])), 2)
    counts = FaceCount()
    try:
        track_landmarks(frames, counts=counts)
        report = self_reenactment(path)
    except NoFaceError as error:
        return {"blockiness": level, "refused": str(error)}
    engine, baseline = report["engine_metrics"], report["baseline_metrics"]
    return {
        "blockiness": level,
        "no_face_frames": counts.missing,
        "frames": counts.frames,
        **{f"{region}_gain_db": round(engine[region]["psnr"] - baseline[region]["psnr"], 2) for region in engine},
        **{f"{region}_psnr": round(engine[region]["psnr"], 2) for region in engine},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", nargs="+", choices=sorted(LEVELS), default=list(LEVELS))
    parser.add_argument("--keep", type=Path, help="write the compressed copies here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        sys.stdout.write("| copy | blockiness | frames without a face | full gain dB | head gain dB | head PSNR |\n")
        sys.stdout.write("|---|---|---|---|---|---|\n")
        for level in ["clean", *args.levels]:
            path = CLIP if level == "clean" else compress(level, folder)
            row = results[level] = measure(path)
            if "refused" in row:
                sys.stdout.write(f"| {level} | {row['blockiness']:.2f} | refused: {row['refused']} | | | |\n")
                continue
            sys.stdout.write(
                f"| {level} | {row['blockiness']:.2f} | {row['no_face_frames']} of {row['frames']} "
                f"| {row['full_gain_db']:+.2f} | {row['head_gain_db']:+.2f} | {row['head_psnr']:.2f} |\n"
            )
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
