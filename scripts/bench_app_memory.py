"""Measure the app's memory under a burst of sessions generating at once, and what it keeps once they end.

Starts ``python app.py`` as users run it (a process of its own, on a free port) and samples its resident memory
(``VmRSS``) while ``--sessions`` threads, each a ``gradio_client`` session of its own with its own portrait and
attribute, generate animated results from the example driver for ``--seconds``; then waits ``--rest`` seconds and
reads the memory the app holds at rest. Two rounds: the first shows what a burst costs, the second whether memory
keeps growing. Prints one JSON report (MB are MiB).

Run from the repository root: ``python scripts/bench_app_memory.py [--sessions 8] [--seconds 120] [--rounds 2]``.
Extra environment for the app (e.g. ``MALLOC_ARENA_MAX=2``) goes before the command as usual: the app inherits it.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DRIVER = EXAMPLES / "drivers" / "carphone.mp4"  # 4 s, 120 frames
PORTRAITS = ["astronaut.jpg", "obama.jpg", "biden.jpg"]
ATTRIBUTES = [
    ("portraits/biden.jpg", "hair"),
    ("attributes/glasses_obama.png", "glasses"),
    ("portraits/obama.jpg", "hair"),
    ("attributes/hat_obama.png", "hat"),
    ("attributes/beard_biden.png", "beard"),
    ("attributes/makeup_biden.png", "makeup"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def resident_mb(pid: int) -> float:
    """The process's resident memory now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


class Sampler(threading.Thread):
    """The app's peak resident memory, sampled twice a second."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            self.peak = max(self.peak, resident_mb(self.pid))


def start_app(port: int) -> subprocess.Popen:
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def wait_for(url: str, process: subprocess.Popen, *, timeout_s: float = 300) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode} before serving")
        try:
            if httpx.get(f"{url}/config", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the app did not answer within {timeout_s:.0f} s")


@dataclass
class Tally:
    """What one round's sessions got back."""

    done: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def session(url: str, index: int, *, until: float, tally: Tally) -> None:
    """One browser session: its own attribute, then generations of its own portrait until ``until``."""
    step = "connect"
    try:
        # A browser waits as long as it takes; the client's default read timeout would count a slow answer from a
        # loaded machine as a failure of the app.
        client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": 600})
        step = "add_attribute"
        attribute, kind = ATTRIBUTES[index % len(ATTRIBUTES)]
        client.predict(
            attribute_file=handle_file(str(EXAMPLES / attribute)),
            kind=kind,
            mask=None,
            weight=1.0,
            api_name="/add_attribute",
        )
        portrait = handle_file(str(EXAMPLES / "portraits" / PORTRAITS[index % len(PORTRAITS)]))
        step = "generate"
        while time.monotonic() < until:
            start = time.monotonic()
            *_, status, _gallery = client.predict(
                portrait=portrait,
                driver=handle_file(str(DRIVER)),
                motion="video",
                blend_first=None,
                blend_second=None,
                max_seconds=20,
                api_name="/generate",
            )
            if "total" not in status:
                raise RuntimeError(f"no result: {status!r}")
            with tally.lock:
                tally.done += 1
                tally.seconds.append(time.monotonic() - start)
    except Exception as error:  # every failure is counted and named in the report
        with tally.lock:
            tally.failed.append(f"session {index}, {step}: {type(error).__name__}: {error}"[:300])


def burst(url: str, pid: int, *, sessions: int, seconds: float, rest_s: float) -> dict:
    """``sessions`` sessions generating for ``seconds``, then ``rest_s`` of rest: the memory at its peak and after."""
    sampler = Sampler(pid)
    sampler.start()
    tally = Tally()
    until = time.monotonic() + seconds
    workers = [
        threading.Thread(target=session, args=(url, index), kwargs={"until": until, "tally": tally})
        for index in range(sessions)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    time.sleep(rest_s)  # the app at rest: gradio's and the core's idle threads settle
    sampler.stopped.set()
    sampler.join()
    cache = Client(url, verbose=False).predict(api_name="/cache_stats")["total"]
    return {
        "generations": tally.done,
        "failed": tally.failed,
        "median_generation_s": round(statistics.median(tally.seconds), 1) if tally.seconds else None,
        "peak_mb": round(sampler.peak),
        "after_mb": round(resident_mb(pid)),
        "threads_after": threads_of(pid),
        "feature_cache_mb": round(cache["bytes"] / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=8, help="sessions generating at once")
    parser.add_argument("--seconds", type=float, default=120, help="length of a burst")
    parser.add_argument("--rounds", type=int, default=2, help="bursts, one after the other")
    parser.add_argument("--rest", type=float, default=15, help="seconds of rest before the memory is read")
    arguments = parser.parse_args(argv)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_app(port)
    try:
        wait_for(url, process)
        time.sleep(arguments.rest)
        report = {
            "sessions": arguments.sessions,
            "seconds": arguments.seconds,
            "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
            "started_mb": round(resident_mb(process.pid)),
            "rounds": [],
        }
        for _ in range(arguments.rounds):
            report["rounds"].append(
                burst(url, process.pid, sessions=arguments.sessions, seconds=arguments.seconds, rest_s=arguments.rest)
            )
    finally:
        process.terminate()
        process.wait(timeout=60)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
