"""Frames per second that reach a browser in Live, with the app running as users run it (``python app.py``).

Starts the app in its own process, then headless Chromium (Debian's, driven by Playwright) whose camera is the
bundled talking-face clip. Each run opens a new session, puts Biden's hair on the astronaut in the Edit tab, opens
the Live tab, starts the camera and, after a warm-up, counts the distinct frames the live view shows, in the page
itself (no polling from outside). Reports every run, their median, the app's own status line (server time per
frame) and the processor time each process spent per delivered frame.

With ``--mode mirror`` it measures the Mirror instead: Obama's glasses added in the Edit tab (no portrait), the
Mirror tab opened, the camera's own frames coming back wearing them.

Run from the repository root: ``python scripts/bench_live_browser.py [--runs 3] [--seconds 12] [--mode mirror]``;
``--app-dir D`` runs the app of another checkout instead (``git worktree add D <commit>``), for a before/after on
one machine: the runs then alternate between the two apps.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import imageio_ffmpeg
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the browser settings and helpers the tests use

from helpers import CHROMIUM_ARGS, free_port  # noqa: E402

EXAMPLES = ROOT / "examples"
CHROMIUM = "/usr/bin/chromium"
TABS = {"live": "Live (webcam)", "mirror": "Mirror (webcam)"}  # the main page's tab of each mode
WHAT = {
    "live": "Live: Biden's hair on the astronaut, 512² out, a 320×240 fake camera, app and Chromium on one host",
    "mirror": "Mirror: Obama's glasses on the camera's face, 320×240 in and out, app and Chromium on one host",
}
COUNT_FRAMES = """() => {
  window.liveFrames = 0;
  const box = document.querySelector('#live-output');
  let last = null;
  new MutationObserver(() => {
    const image = box.querySelector('img');
    if (image && image.src !== last) { last = image.src; window.liveFrames += 1; }
  }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def camera_file(folder: Path) -> Path:
    """The talking-face clip as the raw .y4m a fake Chromium camera plays (looped)."""
    clip = ROOT / "examples" / "drivers" / "carphone.mp4"
    y4m = folder / "camera.y4m"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(clip)]
    command += ["-vf", "scale=640:480:flags=bicubic", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(y4m)]
    subprocess.run(command, check=True, timeout=120)
    return y4m


def processor_seconds(app_pid: int) -> dict[str, float]:
    """Processor time so far of the app, Chromium and Playwright's driver (Linux /proc; empty elsewhere)."""
    totals: collections.Counter[str] = collections.Counter()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(entry.name) == app_pid:
            totals["app"] += seconds
        elif "chromium" in command:
            totals["chromium"] += seconds
        elif "playwright" in command or "node" in command.split("\0")[0]:
            totals["playwright driver"] += seconds
    return dict(totals)


def open_view(tab, mode: str):
    """Put the mode's edit on the main page and open its tab: Biden's hair on the astronaut for Live, Obama's
    glasses (no portrait: the camera is one) for the mirror. Returns the view's frame locator and whether it is
    framed (apps before the live page had the camera in the tab itself)."""
    if mode == "live":
        tab.locator("#portrait input[type=file]").set_input_files(str(EXAMPLES / "portraits" / "astronaut.jpg"))
        attribute = EXAMPLES / "portraits" / "biden.jpg"
    else:
        tab.locator("#kind").get_by_text("glasses", exact=True).click()
        attribute = EXAMPLES / "attributes" / "glasses_obama.png"
    tab.locator("#attribute-file input[type=file]").set_input_files(str(attribute))
    tab.locator("#attribute-file").get_by_text(attribute.name).wait_for(timeout=120_000)
    tab.locator("#add-attribute").click()
    tab.wait_for_selector("#attribute-gallery img", timeout=120_000)
    tab.get_by_role("tab", name=TABS[mode]).click()
    tab.wait_for_selector(f"#{mode}-view-frame, #live-camera", timeout=120_000)
    framed = tab.locator(f"#{mode}-view-frame").count() > 0
    return (tab.frame_locator(f"#{mode}-view-frame") if framed else tab), framed


def one_run(browser, url: str, seconds: float, app_pid: int, *, mode: str = "live") -> dict:
    context = browser.new_context(viewport={"width": 1366, "height": 768}, permissions=["camera"])
    tab = context.new_page()
    tab.goto(url)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=120_000)
    view, framed = open_view(tab, mode)
    view.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    view.locator("#live-camera").get_by_role("button", name="capture photo").click()
    view.locator("#live-output img").wait_for(timeout=120_000)
    time.sleep(2)  # the first frames build the session's animator
    frame = tab.frame(url=re.compile(r"/live\?")) if framed else tab.main_frame
    frame.evaluate(COUNT_FRAMES)
    before = processor_seconds(app_pid)
    time.sleep(seconds)
    frames = frame.evaluate("window.liveFrames")
    after = processor_seconds(app_pid)
    status = view.locator("#live-status textarea").input_value()
    context.close()
    per_frame = {name: round(1000 * (after[name] - before.get(name, 0.0)) / max(frames, 1), 1) for name in after}
    return {"frames_per_s": round(frames / seconds, 1), "status": status, "processor_ms_per_frame": per_frame}


def start_app(folder: Path) -> tuple[subprocess.Popen, str]:
    """``python app.py`` of the checkout in ``folder``, on a free port, once it answers."""
    port = free_port()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=folder,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": str(folder)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    for _ in range(240):
        try:
            urllib.request.urlopen(url, timeout=2)
            return app, url
        except OSError:
            time.sleep(0.5)
    app.terminate()
    raise RuntimeError(f"the app in {folder} did not start")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="sessions measured one after another (per app)")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured time of each session")
    parser.add_argument("--app-dir", type=Path, help="also measure the app of this checkout, alternating")
    parser.add_argument("--mode", choices=sorted(TABS), default="live", help="Live (the default) or the Mirror")
    arguments = parser.parse_args(argv)
    folders = {"this checkout": ROOT}
    if arguments.app_dir is not None:
        folders[str(arguments.app_dir)] = arguments.app_dir.resolve()
    apps = {name: start_app(folder) for name, folder in folders.items()}
    runs: dict[str, list[dict]] = {name: [] for name in folders}
    try:
        with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
            camera = camera_file(Path(folder))
            fake_camera = [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera}",
            ]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + fake_camera)
            for _ in range(arguments.runs):
                for name, (app, url) in apps.items():
                    runs[name].append(one_run(browser, url, arguments.seconds, app.pid, mode=arguments.mode))
            browser.close()
    finally:
        for app, _ in apps.values():
            app.terminate()
            app.wait(timeout=30)
    report = {
        "what": WHAT[arguments.mode],
        **{
            name: {"median_frames_per_s": statistics.median(run["frames_per_s"] for run in done), "runs": done}
            for name, done in runs.items()
        },
    }
    sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
