"""MediaPipe graphs shared across threads: every call gets a graph of its own while it runs, results do not depend
on which thread asked, and memory does not grow with the number of threads that ever asked (the app runs each
generation on a new thread, and gradio runs handlers on dozens)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from durian_core.face.landmarks import _face_detectors, _static_meshes, detect_landmarks
from durian_core.face.masks import _segmenters, person_mask


def resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def in_a_thread(work):
    """Run ``work()`` on a new thread that ends when it returns, as the app runs a generation; its result."""
    result = []
    thread = threading.Thread(target=lambda: result.append(work()))
    thread.start()
    thread.join()
    return result[0]


def test_threads_that_come_and_go_share_the_face_models_so_memory_stays_flat(obama):
    reference_points, reference_person = detect_landmarks(obama), person_mask(obama)  # models loaded once
    before = resident_mb()
    for _ in range(20):
        points, person = in_a_thread(lambda: (detect_landmarks(obama), person_mask(obama)))
        assert np.array_equal(points, reference_points) and np.array_equal(person, reference_person)
    grown = resident_mb() - before
    # A thread's own face mesh, detector and segmenter, never closed, kept about 40 MB each: 20 threads, 800 MB.
    assert grown < 120, f"20 short-lived threads grew the process by {grown:.0f} MB"


def test_calls_at_once_each_get_a_graph_and_find_their_own_face(obama, biden):
    expected = {"obama": detect_landmarks(obama), "biden": detect_landmarks(biden)}
    images = {"obama": obama, "biden": biden}
    start = threading.Barrier(8)
    found: dict[int, list[tuple[str, np.ndarray]]] = {}

    def work(index: int) -> None:
        name = ("obama", "biden")[index % 2]
        start.wait()
        found[index] = [(name, detect_landmarks(images[name])) for _ in range(3)]

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 8
    for results in found.values():
        for name, points in results:
            assert np.abs(points - expected[name]).max() < 1.0, f"a concurrent call got someone else's {name}"
    for pool in (*_static_meshes.values(), _face_detectors, _segmenters):
        assert pool.idle() <= pool.keep, "graphs beyond the pool's few are closed once the burst is over"
