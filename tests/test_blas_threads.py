"""Concurrent requests must not stall in OpenBLAS: its own worker threads busy-wait against each other when several
threads call it at once (on two cores a generation among four concurrent ones seemed to hang)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, numpy, durian_core\n"
    "from threadpoolctl import threadpool_info\n"
    "print(json.dumps([info['num_threads'] for info in threadpool_info() if info['internal_api'] == 'openblas']))\n"
)


def blas_threads(environment: dict[str, str]) -> list[int]:
    """OpenBLAS's thread counts in a fresh interpreter that imports numpy first, then the core."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_importing_the_core_keeps_openblas_to_one_thread_per_caller():
    environment = {key: value for key, value in os.environ.items() if key != "OPENBLAS_NUM_THREADS"}
    counts = blas_threads(environment)
    assert counts and set(counts) == {1}, counts


def test_a_users_own_openblas_setting_is_left_alone():
    assert set(blas_threads({**os.environ, "OPENBLAS_NUM_THREADS": "2"})) == {2}
