"""The page in real headless Chromium: what a person does with a mouse, checked by what they would see.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it) and Playwright; skipped otherwise.
Screenshots go to ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from durian_core.face import regions
from durian_core.media import load_mask, write_image

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SLOW_MS = 120_000  # generous for a busy 2-core runner; a healthy run needs a few seconds

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app_url():
    import app

    demo = app.build_demo()
    _, url, _ = demo.launch(
        prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True, **app.launch_options()
    )
    yield url
    demo.close()


@pytest.fixture(scope="module")
def playwright():
    """One Playwright per module: its sync API cannot run twice at once in a thread."""
    with sync_api.sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


LAPTOP = {"width": 1366, "height": 768}  # the most common laptop screen: what a newcomer first sees


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport=LAPTOP)
    tab = context.new_page()
    tab.goto(app_url)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    yield tab
    context.close()


def in_viewport(page, selector: str) -> bool:
    """Whether the element lies wholly on the screen as it is now scrolled, without the user scrolling."""
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= LAPTOP["height"]


def wait_until(condition: Callable[[], bool], *, timeout_s: float = SLOW_MS / 1000, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def mask_colour_fraction(png: bytes) -> float:
    """How much of a screenshot shows the editor's pink mask layer over the image (Biden's hair is about 2 % of
    the editor at a 1366×768 viewport; an empty editor is 0)."""
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    return float(((red - green > 80) & (blue - green > 40)).mean())


def upload(page, elem_id: str, path: Path) -> None:
    """Drop a file on an upload box, first removing the file it holds (as a person clicks its ×)."""
    holder = page.locator(f"#{elem_id}")
    if holder.locator("input[type=file]").count() == 0:
        holder.get_by_role("button", name=re.compile("^(Clear|Remove this file)$")).first.click()
    holder.locator("input[type=file]").set_input_files(str(path))


def set_max_seconds(page, seconds: int) -> None:
    page.locator("#advanced").get_by_text("Advanced settings").click()
    box = page.locator("#max-seconds input[type=number]")
    box.fill(str(seconds))
    box.press("Enter")


def drag_across(page, selector: str, *, height_fraction: float) -> tuple[float, float]:
    """Paint one horizontal stroke over the middle half of an element; returns the stroke's x-range fraction."""
    box = page.locator(selector).bounding_box()
    y = box["y"] + box["height"] * height_fraction
    start, stop = box["x"] + box["width"] * 0.3, box["x"] + box["width"] * 0.7
    page.mouse.move(start, y)
    page.mouse.down()
    for step in range(1, 9):  # each pointer event repaints a software-rendered canvas: few and far apart
        page.mouse.move(start + (stop - start) * step / 8, y)
    page.mouse.up()
    return 0.3, 0.7


def newest_mask(since: float) -> np.ndarray:
    """The mask the app stored for the attribute just added (masks are its only single-channel files)."""
    import app

    for path in sorted(app.work_dir().glob("*.png"), key=os.path.getmtime, reverse=True):
        if path.stat().st_mtime >= since and Image.open(path).mode == "L":
            return load_mask(path)
    raise AssertionError("no mask was stored")


def test_paint_the_mask_generate_and_see_the_video(page, output_dir, carphone_path):
    upload(page, "portrait", EXAMPLES / "portraits" / "astronaut.jpg")
    upload(page, "attribute-file", EXAMPLES / "portraits" / "biden.jpg")
    editor = page.locator("#mask-editor")
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > 0.01, what="the automatic hair mask")
    before = mask_colour_fraction(editor.screenshot())

    # Biden's hair mask covers none of his chin: a stroke there must reach the stored mask.
    canvas = "#mask-editor canvas >> nth=0"
    drag_across(page, canvas, height_fraction=0.72)
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > before + 0.005, what="the brush stroke")
    added_at = time.time() - 1
    page.locator("#add-attribute").click()
    page.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    mask = newest_mask(added_at)
    height, width = mask.shape
    stroke = mask[int(0.68 * height) : int(0.76 * height), int(0.35 * width) : int(0.65 * width)]
    assert stroke.mean() > 0.5, "the painted stroke is part of the attribute's mask"
    assert mask[: height // 4].mean() > 0.05, "the automatic hair mask is kept"

    upload(page, "driver", carphone_path)
    set_max_seconds(page, 1)
    page.locator("#generate-button").click()
    page.wait_for_selector("#result-video video[src]", state="attached", timeout=SLOW_MS)
    status = page.locator("#status textarea").input_value()
    assert "classical" in status and "animate" in status
    page.screenshot(path=str(output_dir / "app_result.png"), full_page=True)


def test_a_portrait_without_a_face_shows_the_message_and_the_page_keeps_working(page, output_dir, tmp_path):
    y, x = np.mgrid[0:256, 0:256]
    gradient = write_image(np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8), tmp_path / "gradient.png")
    upload(page, "portrait", gradient)
    page.get_by_text("no face found in the image").first.wait_for(timeout=SLOW_MS)
    page.screenshot(path=str(output_dir / "app_no_face_error.png"), full_page=True)

    upload(page, "portrait", EXAMPLES / "portraits" / "obama.jpg")
    upload(page, "attribute-file", EXAMPLES / "attributes" / "glasses_obama.png")
    editor = page.locator("#mask-editor")
    wait_until(lambda: not page.locator("#mask-placeholder").is_visible(), what="the attribute in the editor")
    page.locator("#kind").get_by_text("glasses").click()
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > 0.005, what="the automatic glasses mask")
    added_at = time.time() - 1
    page.locator("#add-attribute").click()
    page.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    mask = newest_mask(added_at)
    height = mask.shape[0]
    assert mask[int(0.3 * height) : int(0.45 * height)].mean() > 0.05, "the glasses' region is masked"
    assert mask[: int(0.15 * height)].mean() < 0.01, "the hair mask shown before the kind changed is gone"
    page.locator("#motion").get_by_text("Still image only").click()
    page.locator("#generate-button").click()
    page.locator("#download").get_by_text("Download the image (.png)").wait_for(timeout=SLOW_MS)
    assert "classical" in page.locator("#status textarea").input_value()
    page.screenshot(path=str(output_dir / "app_still_after_error.png"), full_page=True)


def test_clicking_an_example_row_plays_its_video_in_view(page, output_dir):
    page.screenshot(path=str(output_dir / "app_first_view.png"))
    assert in_viewport(page, "#examples"), "the examples are on the first screen"
    page.get_by_text("A beanie on the astronaut").click()
    page.wait_for_selector("#result-video video[src]", state="attached", timeout=SLOW_MS)
    assert page.evaluate("window.scrollY") == 0, "nothing scrolled the page"
    assert in_viewport(page, "#result-video"), "the result plays where the user is looking"
    assert in_viewport(page, "#status"), "and its status line is in view too"
    assert "hat" in page.locator("#attribute-gallery").inner_text()
    assert "astronaut" in page.locator("#portrait img").first.get_attribute("src")
    page.screenshot(path=str(output_dir / "app_example.png"))

    # Scrolled down to the driver, the user still sees the result: the outputs column follows.
    page.locator("#driver").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    assert in_viewport(page, "#result-video")
    page.screenshot(path=str(output_dir / "app_example_scrolled.png"))


def test_generate_on_an_empty_page_names_the_portrait_and_marks_no_output_as_failed(page, output_dir):
    assert page.locator("#mask-placeholder").is_visible(), "the empty mask editor says what will appear in it"
    page.locator("#generate-button").click()
    status = page.locator("#status textarea")
    wait_until(lambda: "Upload a portrait first" in status.input_value(), what="the missing-portrait message")
    for output in ("#result-video", "#compare", "#status"):
        assert page.locator(f"{output} .error").count() == 0, f"{output} shows no error badge"
    assert page.get_by_text("Error", exact=True).count() == 0
    page.screenshot(path=str(output_dir / "app_empty_generate.png"))


def test_an_uploaded_attribute_not_yet_added_is_used_and_named(page, output_dir):
    upload(page, "portrait", EXAMPLES / "portraits" / "astronaut.jpg")
    upload(page, "attribute-file", EXAMPLES / "portraits" / "biden.jpg")
    editor = page.locator("#mask-editor")
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > 0.01, what="the automatic hair mask")
    assert not page.locator("#mask-placeholder").is_visible(), "the placeholder gives way to the image"
    assert not editor.locator(".layer-wrap").is_visible(), "no layer menu that renames the single mask layer"
    page.locator("#motion").get_by_text("Still image only").click()
    page.locator("#generate-button").click()  # without "Add to gallery"
    status = page.locator("#status textarea")
    wait_until(lambda: "Added “biden.jpg” (hair) to the gallery" in status.input_value(), what="the still edit")
    assert "classical" in status.input_value()
    assert page.locator("#attribute-gallery img").count() == 1
    assert in_viewport(page, "#compare"), "the before/after comparison is on the screen"
    page.screenshot(path=str(output_dir / "app_unadded_attribute.png"))


@pytest.fixture(scope="module")
def camera_browser(playwright, tmp_path_factory, carphone_path):
    """Chromium whose webcam is the bundled talking-face clip (looped), granted without asking."""
    import imageio_ffmpeg

    y4m = tmp_path_factory.mktemp("camera") / "camera.y4m"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(carphone_path)]
    command += ["-vf", "scale=640:480:flags=bicubic", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", str(y4m)]
    subprocess.run(command, check=True, timeout=120)
    camera = [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
    ]
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera)
    yield chromium
    chromium.close()


def open_live(browser, app_url: str, portrait: Path):
    """A new session that puts Biden's hair on ``portrait`` in the main tab, opens the Live tab and starts the
    camera in its live view; returns the browser context, the main page and the live view's frame."""
    context = browser.new_context(viewport=LAPTOP, permissions=["camera"])
    tab = context.new_page()
    tab.goto(app_url)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    upload(tab, "portrait", portrait)
    upload(tab, "attribute-file", EXAMPLES / "portraits" / "biden.jpg")
    editor = tab.locator("#mask-editor")
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > 0.01, what="the automatic hair mask")
    tab.locator("#add-attribute").click()
    tab.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    tab.get_by_role("tab", name="Live (webcam)").click()
    tab.wait_for_selector("#live-view-frame", timeout=SLOW_MS)
    view = tab.frame_locator("#live-view-frame")
    view.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    view.locator("#live-camera").get_by_role("button", name="capture photo").click()
    return context, tab, view


# Kept in the page, so that counting frames costs the browser nothing more than a person watching would.
RECORD_FRAMES = """() => {
  window.liveFrames = [];
  const box = document.querySelector('#live-output');
  new MutationObserver(() => {
    const image = box.querySelector('img');
    const last = window.liveFrames[window.liveFrames.length - 1];
    if (image && (!last || last.src !== image.src)) window.liveFrames.push({src: image.src, at: performance.now()});
  }).observe(box, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def live_frames(tab, *, seconds: float) -> tuple[list[np.ndarray], float]:
    """The distinct frames the live view shows over ``seconds``, and how many arrived per second."""
    view = tab.frame(url=re.compile(r"/live\?"))
    view.evaluate(RECORD_FRAMES)
    time.sleep(seconds)
    shown = view.evaluate("window.liveFrames")
    frames = []
    for frame in shown:
        header, _, data = frame["src"].partition(",")
        assert header == "data:image/jpeg;base64", header
        frames.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")))
    return frames, len(frames) / seconds


def test_live_webcam_drives_the_edited_portrait_and_sessions_stay_apart(camera_browser, app_url, output_dir):
    import app
    from durian_core.face.landmarks import detect_landmarks

    astronaut, obama = EXAMPLES / "portraits" / "astronaut.jpg", EXAMPLES / "portraits" / "obama.jpg"
    first_context, first, first_view = open_live(camera_browser, app_url, astronaut)
    first_view.locator("#live-output img").wait_for(timeout=SLOW_MS)
    time.sleep(2)  # the first frames build the session's animator
    frames, rate = live_frames(first, seconds=8)
    status = first_view.locator("#live-status textarea").input_value()
    first.screenshot(path=str(output_dir / "app_live.png"))
    assert len(frames) >= 8, f"only {len(frames)} live frames arrived in 8 s"

    # The mouth region changes as the clip's mouth moves; the shoulders, far from the face, do not.
    mouth = detect_landmarks(frames[0])[list(regions.LIPS_OUTER)]
    (x0, y0), (x1, y1) = mouth.min(axis=0).astype(int), mouth.max(axis=0).astype(int)
    stack = np.stack(frames).astype(np.float32)
    mouth_change = np.abs(np.diff(stack[:, y0:y1, x0:x1], axis=0)).mean()
    corner = stack[:, -60:, :60]
    assert mouth_change > 2.0, f"the live mouth barely moves ({mouth_change:.2f})"
    assert mouth_change > 3 * np.abs(np.diff(corner, axis=0)).mean(), "the mouth moves, not the whole picture"
    (output_dir / "live.json").write_text(
        json.dumps({"frames": len(frames), "delivered_fps": round(rate, 1), "status": status}, ensure_ascii=False)
    )

    # A second session streams its own portrait; a third finds Live full.
    second_context, second, second_view = open_live(camera_browser, app_url, obama)
    second_view.locator("#live-output img").wait_for(timeout=SLOW_MS)
    theirs, _ = live_frames(second, seconds=3)
    mine, _ = live_frames(first, seconds=2)
    originals = {path: load_image_rgb(path) for path in (astronaut, obama)}
    assert nearest(theirs[-1], originals) == obama and nearest(mine[-1], originals) == astronaut
    assert app.LIVE_SLOTS.limit == 2
    third_context, third, third_view = open_live(camera_browser, app_url, astronaut)
    status = third_view.locator("#live-status textarea")
    wait_until(lambda: "Live is full" in status.input_value(), what="the message that Live is full")
    third.screenshot(path=str(output_dir / "app_live_full.png"))

    # Back in the edit tab, the live view closes: its camera stops and its place is free again.
    first.get_by_role("tab", name="Edit & animate").click()
    wait_until(lambda: first.locator("#live-view-frame").count() == 0, what="the live view to close")
    for context in (third_context, second_context, first_context):
        context.close()


def load_image_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def nearest(frame: np.ndarray, originals: dict[Path, np.ndarray]) -> Path:
    """Which portrait a live frame shows (the frames have the portrait's own size, up to 1024 px)."""
    import cv2

    def distance(image: np.ndarray) -> float:
        resized = cv2.resize(image, frame.shape[1::-1], interpolation=cv2.INTER_AREA)
        return float(np.abs(resized.astype(int) - frame).mean())

    return min(originals, key=lambda path: distance(originals[path]))
