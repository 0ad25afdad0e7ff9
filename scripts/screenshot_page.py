"""Screenshots of the page as a newcomer sees it on a 1366×768 laptop, for a person to look at.

Starts ``python app.py`` in its own process (as users run it), then headless Chromium (Debian's, driven by
Playwright) whose camera is the bundled talking-face clip, and writes into ``--out``:

- ``PREFIX-initial.png``: the page as it opens, and ``PREFIX-mask-editor.png``: its empty mask editor;
- ``PREFIX-example.png``: after clicking the first example row, once its result is in;
- ``PREFIX-second-example-early.png`` and ``PREFIX-second-example.png``: just after clicking the second row, and
  once its result is in (``…-compare.png``: the before/after at those moments);
- ``PREFIX-live.png``: the Live tab with the camera streaming;
- ``PREFIX-video-portrait-top.png``: in a new session, the talking-face clip as the portrait and Obama's glasses
  added; ``PREFIX-video-portrait-fit.png``: the glasses nudged down by the fit sliders, and
  ``PREFIX-video-portrait.png``: once Generate has made the clip wearing them;
- ``PREFIX-mirror.png``: the Mirror tab with the camera streaming, wearing those glasses;
- ``PREFIX-app-log.txt``: what the app printed to the terminal, and ``PREFIX-video.json``: whether the result video
  was playing and muted a few seconds after it arrived.

Run from the repository root: ``python scripts/screenshot_page.py --out DIR --prefix after``; ``--skip-examples``
makes only the video portrait and Mirror pictures.
"""

from __future__ import annotations

import argparse
import json
import os
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

CHROMIUM = "/usr/bin/chromium"
LAPTOP = {"width": 1366, "height": 768}
SLOW_MS = 180_000
VIDEO_STATE = """() => {
  const video = document.querySelector('#result-video video');
  return video ? {paused: video.paused, muted: video.muted, time: video.currentTime, src: video.src} : null;
}"""
FIT_STATUS = "() => (document.querySelector('#status textarea')?.value || '').startsWith('Fit of')"
NEW_VIDEO = "(old) => { const v = document.querySelector('#result-video video[src]'); return v && v.src !== old; }"


def camera_file(folder: Path) -> Path:
    """The talking-face clip as the raw .y4m a fake Chromium camera plays (looped)."""
    y4m = folder / "camera.y4m"
    command = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-loglevel",
        "error",
        "-y",
        "-i",
        str(ROOT / "examples/drivers/carphone.mp4"),
    ]
    command += ["-vf", "scale=640:480:flags=bicubic", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(y4m)]
    subprocess.run(command, check=True, timeout=120)
    return y4m


def start_app(log: Path) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free port, its terminal output going to ``log``; returns once the page answers."""
    port = free_port()
    with log.open("wb") as output:
        app = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and app.poll() is None:
        try:
            urllib.request.urlopen(url, timeout=2)
            return app, url
        except OSError:
            time.sleep(0.5)
    app.terminate()
    raise RuntimeError(f"the app did not start; see {log}")


def shoot(tab, out: Path, prefix: str, name: str, *, element: str | None = None) -> None:
    """The viewport (or one element of the page, scrolled into view) as ``PREFIX-NAME.png``."""
    path = out / f"{prefix}-{name}.png"
    if element is None:
        tab.screenshot(path=str(path))
    else:
        tab.locator(element).screenshot(path=str(path))
    sys.stdout.write(f"wrote {path}\n")


def run_example(tab, label: str) -> None:
    """Click an example row and wait until its result video has arrived (a new one, not the previous one)."""
    previous = tab.evaluate(VIDEO_STATE)
    tab.get_by_text(label).click()
    wait_for_new_video(tab, previous)


def wait_for_new_video(tab, previous: dict | None) -> None:
    """Wait until the result box holds a video other than ``previous`` (a state from ``VIDEO_STATE``)."""
    tab.wait_for_function(NEW_VIDEO, arg=(previous or {}).get("src"), timeout=SLOW_MS)


def set_slider(tab, elem_id: str, value: float) -> None:
    """Type a value into a slider's number box and leave it, as a person does (the release event follows)."""
    box = tab.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def open_camera_view(tab, name: str, frame: str) -> None:
    """Open the tab ``name`` (Live or Mirror), start its camera and wait past the first frames."""
    tab.get_by_role("tab", name=name).click()
    tab.wait_for_selector(frame, timeout=SLOW_MS)
    view = tab.frame_locator(frame)
    view.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    view.locator("#live-camera").get_by_role("button", name="capture photo").click()
    view.locator("#live-output img").wait_for(timeout=SLOW_MS)
    tab.wait_for_timeout(3000)  # past the first frames, the status line reports


def shoot_video_portrait_and_mirror(browser, url: str, out: Path, prefix: str) -> None:
    """A new session: the talking-face clip as the portrait wearing Obama's glasses, nudged by a fit slider,
    generated; then the Mirror wearing the same glasses."""
    context = browser.new_context(viewport=LAPTOP, permissions=["camera"])
    tab = context.new_page()
    tab.goto(url, timeout=SLOW_MS)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    tab.locator("#portrait input[type=file]").set_input_files(str(ROOT / "examples" / "drivers" / "carphone.mp4"))
    tab.wait_for_selector("#portrait-preview img", timeout=SLOW_MS)
    tab.locator("#kind").get_by_text("glasses", exact=True).click()
    glasses = ROOT / "examples" / "attributes" / "glasses_obama.png"
    tab.locator("#attribute-file input[type=file]").set_input_files(str(glasses))
    tab.locator("#attribute-file").get_by_text(glasses.name).wait_for(timeout=SLOW_MS)
    tab.locator("#add-attribute").click()
    tab.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    tab.evaluate("window.scrollTo(0, 0)")
    tab.wait_for_timeout(1000)
    shoot(tab, out, prefix, "video-portrait-top")
    tab.locator("#attribute-gallery img").first.click()
    tab.locator("#fit-scale").scroll_into_view_if_needed()
    set_slider(tab, "fit-dy", 0.12)
    try:
        tab.wait_for_function(FIT_STATUS, timeout=60_000)
    finally:
        shoot(tab, out, prefix, "video-portrait-fit")
    previous = tab.evaluate(VIDEO_STATE)
    tab.locator("#generate-button").click()
    wait_for_new_video(tab, previous)
    tab.wait_for_timeout(2500)
    shoot(tab, out, prefix, "video-portrait")
    tab.evaluate("window.scrollTo(0, 0)")

    open_camera_view(tab, "Mirror (webcam)", "#mirror-view-frame")
    shoot(tab, out, prefix, "mirror")
    tab.locator("#mirror-view").scroll_into_view_if_needed()
    shoot(tab, out, prefix, "mirror-view", element="#mirror-view")
    context.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "test-output", help="folder for the screenshots")
    parser.add_argument("--prefix", default="page", help="file name prefix, e.g. before or after")
    parser.add_argument("--skip-examples", action="store_true", help="only the video portrait and Mirror pictures")
    arguments = parser.parse_args(argv)
    out, prefix = arguments.out, arguments.prefix
    out.mkdir(parents=True, exist_ok=True)
    app, url = start_app(out / f"{prefix}-app-log.txt")
    try:
        with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
            camera = [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={camera_file(Path(folder))}",
            ]
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + camera)
            if arguments.skip_examples:
                shoot_video_portrait_and_mirror(browser, url, out, prefix)
                return
            context = browser.new_context(viewport=LAPTOP, permissions=["camera"])
            tab = context.new_page()
            tab.goto(url, timeout=SLOW_MS)
            tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
            tab.wait_for_timeout(1500)  # fonts and images settle
            shoot(tab, out, prefix, "initial")
            shoot(tab, out, prefix, "mask-editor", element="#mask-area")
            tab.evaluate("window.scrollTo(0, 0)")

            run_example(tab, "Biden's hair on the astronaut")
            tab.wait_for_timeout(2500)  # the video has had time to start, if it starts by itself
            video = tab.evaluate(VIDEO_STATE)
            shoot(tab, out, prefix, "example")
            shoot(tab, out, prefix, "example-compare", element="#compare")
            tab.evaluate("window.scrollTo(0, 0)")

            tab.get_by_text("Glasses on Biden").click()
            tab.wait_for_timeout(600)
            shoot(tab, out, prefix, "second-example-early")
            shoot(tab, out, prefix, "second-example-early-compare", element="#compare")
            tab.evaluate("window.scrollTo(0, 0)")
            wait_for_new_video(tab, video)
            tab.wait_for_timeout(2500)
            shoot(tab, out, prefix, "second-example")

            open_camera_view(tab, "Live (webcam)", "#live-view-frame")
            shoot(tab, out, prefix, "live")
            (out / f"{prefix}-video.json").write_text(json.dumps(video, indent=1))
            sys.stdout.write(f"the result video a few seconds after it arrived: {video}\n")
            shoot_video_portrait_and_mirror(browser, url, out, prefix)
            browser.close()
    finally:
        app.terminate()
        app.wait(timeout=30)


if __name__ == "__main__":
    main()
