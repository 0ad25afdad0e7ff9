"""The app gives back what a finished generation freed, instead of staying at its peak after a burst of users."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from durian_app.memory import _glibc, release_free_memory

pytestmark = pytest.mark.skipif(_glibc() is None, reason="trimming the allocator needs glibc")


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def test_memory_a_finished_thread_freed_goes_back_to_the_system():
    survivors = []

    def generation() -> None:
        # Many small arrays, as a render's frames and layers, on a thread of its own; a few outlive it (cached
        # results), scattered among the freed ones, so the allocator cannot simply shrink its heap.
        arrays = [np.ones(6000) for _ in range(6000)]  # 48 kB each, about 280 MB
        survivors.extend(arrays[::50])

    thread = threading.Thread(target=generation)
    thread.start()
    thread.join()
    held = resident_mb()
    assert release_free_memory()
    returned = held - resident_mb()
    assert returned > 150, f"only {returned:.0f} MB of about 270 MB freed came back"
    assert len(survivors) == 120
