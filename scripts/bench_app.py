"""Time the app as a user meets it: a cached α tweak and a full generation with the classical engine.

Launches the app in this process on a free port and drives it through its named API endpoints with
``gradio_client``, like the tests. For each request it reports the server-side time (the handler's own total,
read from the status line the page shows) and the client's round trip (which adds gradio's queue, uploads and
downloads). Medians of several runs; timings on a shared machine jump, so read them as ±30 %.

Run from the repository root: ``python scripts/bench_app.py [--runs 10] [--generate-runs 3]``.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from a checkout

from gradio_client import Client, handle_file  # noqa: E402

import app  # noqa: E402  (sets GRADIO_ANALYTICS_ENABLED before gradio loads)

EXAMPLES = ROOT / "examples"
PORTRAIT = EXAMPLES / "portraits" / "astronaut.jpg"
DRIVER = EXAMPLES / "drivers" / "carphone.mp4"  # 4 s, 120 frames


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_seconds(status: str) -> float:
    """The handler's total, as the status line reports it."""
    match = re.search(r"total (\d+(?:\.\d+)?) s", status)
    if match is None:
        raise RuntimeError(f"no total in the status line: {status!r}")
    return float(match.group(1))


def timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def bench_alpha_tweaks(client: Client, *, runs: int) -> dict:
    blend = {"blend_first": 0, "blend_second": 1}

    def preview(alpha: float):
        return client.predict(portrait=handle_file(str(PORTRAIT)), alpha=alpha, api_name="/preview", **blend)

    preview(0.5)  # fills the cache: landmarks, masks, aligned layers, both single-attribute edits
    before = client.predict(api_name="/cache_stats")
    server, round_trip = [], []
    for run in range(runs):
        seconds, (_compare, status) = timed(lambda run=run: preview(round(0.05 + 0.9 * run / max(runs - 1, 1), 3)))
        round_trip.append(seconds)
        server.append(server_seconds(status))
    after = client.predict(api_name="/cache_stats")
    recomputed = {name: after[name]["misses"] - before[name]["misses"] for name in ("landmarks", "masks", "aligned")}
    return {
        "what": "cached α tweak (preview of a two-hair blend, 512²)",
        "runs": runs,
        "server_median_ms": round(1000 * statistics.median(server), 1),
        "round_trip_median_ms": round(1000 * statistics.median(round_trip), 1),
        "recomputed": recomputed,
    }


def bench_generate(client: Client, *, runs: int) -> dict:
    def generate(multiplier: float):
        return client.predict(
            portrait=handle_file(str(PORTRAIT)),
            driver=handle_file(str(DRIVER)),
            motion="video",
            engine="classical",
            max_seconds=20,
            motion_multiplier=multiplier,
            blend_first=None,
            blend_second=None,
            api_name="/generate",
        )

    results = []
    for run in range(runs + 1):  # the first run is cold: the driver's landmarks are tracked then
        seconds, (_compare, _video, _download, status, _gallery) = timed(lambda run=run: generate(1.0 - 0.1 * run))
        stages = dict(re.findall(r"(\w+) (\d+\.\d+) s", status.splitlines()[1]))
        results.append({"round_trip_s": round(seconds, 2), "server_s": server_seconds(status), "stages": stages})
    warm = results[1:]
    return {
        "what": "full generate, classical engine, 4-s driver (120 frames), 512² output, with H.264 encode",
        "cold": results[0],
        "warm_runs": len(warm),
        "warm_server_median_s": round(statistics.median(r["server_s"] for r in warm), 2),
        "warm_round_trip_median_s": round(statistics.median(r["round_trip_s"] for r in warm), 2),
        "warm_stages_last": warm[-1]["stages"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="α tweaks to time")
    parser.add_argument("--generate-runs", type=int, default=3, help="warm generations to time (after a cold one)")
    arguments = parser.parse_args(argv)

    built = app.build_app()
    demo, options = built.demo, built.launch_options()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **options
    )
    try:
        client = Client(url, verbose=False)
        for hair in ("biden.jpg", "obama.jpg"):
            client.predict(
                attribute_file=handle_file(str(EXAMPLES / "portraits" / hair)),
                kind="hair",
                mask=None,
                weight=1.0,
                api_name="/add_attribute",
            )
        report = [bench_alpha_tweaks(client, runs=arguments.runs)]
        fresh = Client(url, verbose=False)
        fresh.predict(
            attribute_file=handle_file(str(EXAMPLES / "portraits" / "biden.jpg")),
            kind="hair",
            mask=None,
            weight=1.0,
            api_name="/add_attribute",
        )
        report.append(bench_generate(fresh, runs=arguments.generate_runs))
    finally:
        demo.close()
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
