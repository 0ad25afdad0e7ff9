"""Time the hair edit as a user meets it: a new upload's still, then a new α between two cuts and a new fit of one,
each with everything else cached; and a fit slider's move (``preview_fit`` on inputs prepared once).

Reports, per stage, the median wall time and the median CPU time of the process over the runs: on a shared machine
the wall time follows the load, the CPU time much less. The inputs are the benchmark's (``durian_core/bench``): the
astronaut framed to a 512² work crop, Biden's and Obama's hair; the uncached still is a new upload of the 512²
astronaut. To compare two revisions, run it in a checkout of each, alternately.

Run from the repository root: ``python scripts/bench_hair_edit.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from durian_core.api import build_request, prepare_inputs, preview, preview_fit  # noqa: E402
from durian_core.bench.classical import EXAMPLES, bench_portrait  # noqa: E402
from durian_core.cache import FeatureCache  # noqa: E402
from durian_core.config import GenerationSettings  # noqa: E402
from durian_core.media import load_image  # noqa: E402
from durian_core.types import AttributeFit, AttributeReference, Interpolation  # noqa: E402


def timed(work) -> tuple[float, float]:
    """Wall and CPU seconds of ``work()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def timed_preview(request, cache: FeatureCache) -> tuple[float, float]:
    """Wall and CPU seconds of one still preview."""
    return timed(lambda: preview(request, cache=cache))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per stage; the report gives medians")
    args = parser.parse_args()
    settings = GenerationSettings(engine="classical", work_size=512)
    framed = bench_portrait(512)
    upload = load_image(EXAMPLES / "portraits" / "astronaut.jpg").rgb
    biden = load_image(EXAMPLES / "portraits" / "biden.jpg").rgb
    obama = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    pair = (AttributeReference(biden, "hair"), AttributeReference(obama, "hair"))
    one = build_request(upload, (AttributeReference(biden, "hair"),), settings=settings)
    preview(one, cache=FeatureCache())  # models loaded and kernels compiled before anything is timed
    runs: dict[str, list[tuple[float, float]]] = {
        "uncached_still": [],
        "cached_alpha": [],
        "cached_fit": [],
        "slider_fit": [],
    }
    for repeat in range(args.repeats):
        step = (repeat + 1) / (args.repeats + 1)  # each run a new α and a new fit, within their ranges
        runs["uncached_still"].append(timed_preview(one, FeatureCache()))
        cache = FeatureCache()
        preview(build_request(framed, pair, interpolation=Interpolation(0, 1, 0.3), settings=settings), cache=cache)
        tweak = build_request(framed, pair, interpolation=Interpolation(0, 1, 0.35 + 0.6 * step), settings=settings)
        runs["cached_alpha"].append(timed_preview(tweak, cache))
        single = (AttributeReference(biden, "hair"),)
        preview(build_request(framed, single, settings=settings), cache=cache)
        moved = (AttributeReference(biden, "hair", fit=AttributeFit(dx=0.1 * step, scale=1.05)),)
        runs["cached_fit"].append(timed_preview(build_request(framed, moved, settings=settings), cache))
        prepared = prepare_inputs(build_request(framed, single, settings=settings), cache=cache)
        slid = AttributeFit(dx=-0.1 * step, degrees=10.0 * step)
        runs["slider_fit"].append(timed(functools.partial(preview_fit, prepared, slid, cache=cache)))
    report = {
        stage: {
            "wall_s": round(statistics.median(wall for wall, _ in values), 4),
            "cpu_s": round(statistics.median(cpu for _, cpu in values), 4),
        }
        for stage, values in runs.items()
    }
    sys.stdout.write(json.dumps({"repeats": args.repeats, "seconds": report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
