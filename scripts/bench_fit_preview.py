"""Time a fit slider's move in the app: the handler the page calls after a move, at 512², over a warm cache.

Adds an attribute to a session's gallery and makes its first preview (what a user has seen before touching a fit
slider), then moves the selected attribute's fit through a series of values, as dragging the sliders does, and
times each move's handler: wall time and processor time of this process (all its threads), and the feature cache's
misses per move, by namespace (a move should miss only "aligned": the nudged placement).

Run from the repository root: ``python scripts/bench_fit_preview.py [--kind glasses] [--moves 20]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_app import edit_handlers as handlers  # noqa: E402
from durian_app.workdir import WorkDir  # noqa: E402
from durian_core.cache import default_cache  # noqa: E402

EXAMPLES = ROOT / "examples"
PORTRAIT = EXAMPLES / "portraits" / "astronaut.jpg"  # 512×512
ATTRIBUTES = {
    "glasses": EXAMPLES / "attributes" / "glasses_obama.png",
    "hair": EXAMPLES / "portraits" / "biden.jpg",
}


def misses() -> collections.Counter:
    return collections.Counter({name: entry.get("misses", 0) for name, entry in default_cache().stats().items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=sorted(ATTRIBUTES), default="glasses")
    parser.add_argument("--moves", type=int, default=20)
    args = parser.parse_args()
    work = WorkDir(Path(tempfile.mkdtemp(prefix="durian-fit-")))
    attributes = handlers.add_attribute(str(ATTRIBUTES[args.kind]), args.kind, None, 1.0, (), work=work)[0]
    edit = {"blend_first": None, "blend_second": None, "alpha": 0.5, "output_size": 512}
    handlers.preview_still(str(PORTRAIT), attributes, weights=None, work=work, **edit)
    walls, processors, missed = [], [], collections.Counter()
    for move in range(args.moves):
        # Distinct values, as a drag gives: each one a new placement, none of them cached.
        fit = (0.01 * move, -0.005 * move, 1.0 + 0.01 * move, 0.5 * move)
        moved = handlers.set_fit(attributes, 0, *fit)[0]
        before, wall, processor = misses(), time.perf_counter(), time.process_time()
        handlers.preview_fitted(str(PORTRAIT), moved, 0, work=work, **edit)
        walls.append(1000 * (time.perf_counter() - wall))
        processors.append(1000 * (time.process_time() - processor))
        missed += misses() - before
    report = {
        "kind": args.kind,
        "portrait": f"{PORTRAIT.name} at 512²",
        "moves": args.moves,
        "wall_ms": {"median": round(statistics.median(walls), 1), "max": round(max(walls), 1)},
        "processor_ms": {"median": round(statistics.median(processors), 1), "max": round(max(processors), 1)},
        "cache_misses_per_move": {name: count / args.moves for name, count in sorted(missed.items())},
    }
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
