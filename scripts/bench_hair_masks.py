"""The hair-mask benchmark of this checkout beside another revision's masks, in one run: a Markdown table (hair
covered / non-hair left out / IoU per image, then the mean) and a contact sheet (image | labels | base mask | this
checkout's mask).

The other revision is checked out into a temporary git worktree and its own code computes its masks (on the same
faces' landmarks, passed to it), so the two columns differ only by the mask code. Run from the repository root:
``python scripts/bench_hair_masks.py [--base REV] [--sheet hair_masks.png] [--set tests/data/hair]``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_core.face.attribute_masks import attribute_mask  # noqa: E402
from durian_core.mask_benchmark import (  # noqa: E402
    benchmark_sheet,
    format_table,
    labelled_landmarks,
    load_labelled_set,
    score_masks,
)
from durian_core.media import write_image  # noqa: E402

BASE_MASKS = """
import sys
import time
import numpy as np
from durian_core.face.masks import attribute_mask
inputs = np.load(sys.argv[1], allow_pickle=False)
masks, seconds = {}, []
for key in inputs.files:
    if key.startswith("image_"):
        name = key[len("image_"):]
        started = time.perf_counter()
        masks[name] = attribute_mask(inputs[key], inputs["landmarks_" + name], "hair")
        seconds.append(time.perf_counter() - started)
np.savez_compressed(sys.argv[2], seconds=np.array(seconds), **masks)
"""


def base_masks(revision: str, images: dict[str, np.ndarray], landmarks: dict[str, np.ndarray]) -> dict:
    """The hair masks ``revision``'s own code makes of ``images`` (the given landmarks' faces), and the seconds each
    took (under ``seconds``)."""
    scratch = Path(tempfile.mkdtemp(prefix="durian-hair-"))
    tree = scratch / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(tree), revision], cwd=ROOT, check=True, capture_output=True
    )
    try:
        inputs, outputs = scratch / "inputs.npz", scratch / "masks.npz"
        arrays = {f"image_{name}": image for name, image in images.items()}
        arrays.update({f"landmarks_{name}": points for name, points in landmarks.items()})
        np.savez(inputs, **arrays)
        done = subprocess.run(
            [sys.executable, "-c", BASE_MASKS, str(inputs), str(outputs)],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"the masks of {revision} failed:\n{done.stderr[-2000:]}")
        with np.load(outputs) as found:
            return {name: found[name] for name in found.files}
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base", default="3620bcf", help="the revision to compare with (default: landmark-region masks)"
    )
    parser.add_argument("--set", default=str(ROOT / "tests" / "data" / "hair"), help="the labelled set's folder")
    parser.add_argument("--sheet", default="hair_masks.png", help="where the contact sheet goes")
    args = parser.parse_args()
    items = load_labelled_set(args.set)
    landmarks = labelled_landmarks(items)
    before = base_masks(
        args.base, {item.name: item.image for item in items}, {item.name: p for item, p in zip(items, landmarks)}
    )
    current, seconds = [], []
    for item, points in zip(items, landmarks):
        started = time.perf_counter()
        current.append(attribute_mask(item.image, points, "hair"))
        seconds.append(time.perf_counter() - started)
    masks = {f"{args.base}": [before[item.name] for item in items], "this checkout": current}
    scores = {name: score_masks(items, landmarks, found) for name, found in masks.items()}
    sys.stdout.write(format_table(items, scores) + "\n\n")
    # Timed one side after the other: on a shared machine compare them only within one run.
    medians = (float(np.median(before["seconds"])), float(np.median(seconds)))
    sys.stdout.write(f"median seconds per mask: {args.base} {medians[0]:.3f}, this checkout {medians[1]:.3f}\n")
    write_image(benchmark_sheet(items, masks), args.sheet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
