"""``python app.py`` as an operator runs it: what it checks before serving, and how it stops.

Docker, systemd and a Space's restart stop a process with SIGTERM; the app must clean up after itself as on Ctrl-C
and end with the status of a terminated process.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from gradio_client import Client, handle_file
from helpers import EXAMPLES, ROOT, free_port


def app_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an app that makes its work folder in ``tmp_path / "work"``, to look into; gradio's cache
    is left where the app puts it (inside its work folder)."""
    env = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(free_port()),
        "DURIAN_WORK_DIR": str(tmp_path / "work"),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }
    env.pop("GRADIO_TEMP_DIR", None)
    return env


def files_under(path: Path) -> list[Path]:
    return sorted(item for item in path.rglob("*") if item.is_file()) if path.exists() else []


def wait_for_line(lines: queue.Queue, marker: str, *, timeout_s: float) -> None:
    seen = []
    while not seen or marker not in seen[-1]:
        try:
            seen.append(lines.get(timeout=timeout_s))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} within {timeout_s} s:\n{''.join(seen)[-2000:]}") from None


def test_sigterm_stops_the_app_as_ctrl_c_does_leaving_no_files_and_a_terminated_status(tmp_path):
    env = app_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        wait_for_line(lines, "Running on local URL", timeout_s=180)
        client = Client(f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/", verbose=False)
        client.predict(
            attribute_file=handle_file(str(EXAMPLES / "portraits" / "biden.jpg")),
            kind="hair",
            mask=None,
            weight=1.0,
            api_name="/add_attribute",
        )
        *_, status, _gallery = client.predict(
            portrait=handle_file(str(EXAMPLES / "portraits" / "astronaut.jpg")),
            driver=None,
            motion="still",
            blend_first=None,
            blend_second=None,
            api_name="/generate",
        )
        assert "classical" in status, status
        (folder,) = (tmp_path / "work").iterdir()
        assert files_under(folder), "the app wrote results to its work folder"
        assert files_under(folder / "gradio"), "gradio cached the uploads and results in it"

        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == -signal.SIGTERM, f"ended with {returncode}, not as a terminated process"
    assert list((tmp_path / "work").iterdir()) == [], "the app's work folder, gradio's cache with it, is gone"


def test_a_work_folder_that_cannot_be_made_stops_the_app_at_start_with_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = app_env(tmp_path, DURIAN_WORK_DIR=str(blocker / "work"))
    done = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot make the app's work folder in ") and str(blocker) in lines[0]
    assert "Running on" not in done.stdout, "nothing is served"
