"""The classical benchmark of this checkout beside the same benchmark of another revision, in one run.

Timings on a shared 2-core machine drift from minute to minute, so the two trees' ``python -m durian_core bench``
runs alternate (A, B, A, B, ...) and each side reports its median; their ratio is the speed-up. The other revision
is checked out into a temporary git worktree (and removed afterwards); both run with this checkout's Python.

Run from the repository root: ``python scripts/bench_compare.py [--base REV] [--rounds 5] [--key animator_fps]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(tree: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "durian_core", "bench", "--repeats", "1"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench failed in {tree}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--base",
        default="1509d1c",
        help="the revision to compare with (default: before the streamed head-layer animator)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="benchmark runs per side, alternating")
    parser.add_argument("--key", default="animator_fps", help="the report's field to compare")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="durian-bench-"))
    base = scratch / "base"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(base), args.base], cwd=ROOT, check=True, capture_output=True
    )
    try:
        values: dict[str, list[float]] = {"current": [], "base": []}
        for _ in range(args.rounds):
            values["current"].append(float(bench(ROOT)[args.key]))
            values["base"].append(float(bench(base)[args.key]))
        medians = {side: statistics.median(runs) for side, runs in values.items()}
        report = {
            "key": args.key,
            "base": args.base,
            "rounds": args.rounds,
            "runs": values,
            "median": medians,
            "ratio": round(medians["current"] / medians["base"], 2),
        }
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=False, capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
