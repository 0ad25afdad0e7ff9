"""The page in real headless Chromium: what a person does with a mouse, checked by what they would see.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it) and Playwright; skipped otherwise.
Screenshots go to ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from helpers import CHROMIUM, CHROMIUM_ARGS, EXAMPLES
from PIL import Image

from durian_app.text import MESSAGES
from durian_core.face import regions
from durian_core.media import load_mask, write_image

SLOW_MS = 120_000  # generous for a busy 2-core runner; a healthy run needs a few seconds

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium is not installed at /usr/bin/chromium"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
expect = sync_api.expect


@pytest.fixture(scope="module")
def app_url(app_server) -> str:
    return app_server.url


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
    """Poll a condition only a screenshot can tell (the editor draws on a canvas), with a generous deadline."""
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


def newest_mask(work_dir: Path, since: float) -> np.ndarray:
    """The mask the app stored for the attribute just added (masks are its only single-channel files)."""
    for path in sorted(work_dir.glob("*.png"), key=lambda path: path.stat().st_mtime, reverse=True):
        if path.stat().st_mtime >= since and Image.open(path).mode == "L":
            return load_mask(path)
    raise AssertionError("no mask was stored")


def test_paint_the_mask_generate_and_see_the_video(page, output_dir, carphone_path, app_server):
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
    mask = newest_mask(app_server.app.work.path, added_at)
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


def test_a_video_portrait_shows_its_face_and_generate_plays_the_clip_wearing_glasses(page, output_dir, carphone_path):
    upload(page, "portrait", carphone_path)
    page.wait_for_selector("#portrait-preview img", timeout=SLOW_MS)  # its first frame with a face
    page.locator("#kind").get_by_text("glasses", exact=True).click()
    upload(page, "attribute-file", EXAMPLES / "attributes" / "glasses_obama.png")
    set_max_seconds(page, 1)
    page.locator("#generate-button").click()  # no driver: the clip moves by itself
    status = page.locator("#status textarea")
    expect(status).to_have_value(re.compile("a video portrait runs on the classical engine"), timeout=SLOW_MS)
    page.wait_for_selector("#result-video video[src]", state="attached", timeout=SLOW_MS)
    assert "Added “glasses_obama.png” (glasses)" in status.input_value()
    page.screenshot(path=str(output_dir / "app_video_portrait.png"))


def test_a_portrait_without_a_face_shows_the_message_and_the_page_keeps_working(
    page, output_dir, tmp_path, app_server
):
    y, x = np.mgrid[0:256, 0:256]
    gradient = write_image(np.stack([x, y, (x + y) // 2], axis=-1).astype(np.uint8), tmp_path / "gradient.png")
    upload(page, "portrait", gradient)
    page.get_by_text("no face found in the image").first.wait_for(timeout=SLOW_MS)
    page.screenshot(path=str(output_dir / "app_no_face_error.png"), full_page=True)

    upload(page, "portrait", EXAMPLES / "portraits" / "obama.jpg")
    upload(page, "attribute-file", EXAMPLES / "attributes" / "glasses_obama.png")
    editor = page.locator("#mask-editor")
    page.locator("#mask-placeholder").wait_for(state="hidden", timeout=SLOW_MS)  # the attribute is in the editor
    page.locator("#kind").get_by_text("glasses").click()
    wait_until(lambda: mask_colour_fraction(editor.screenshot()) > 0.005, what="the automatic glasses mask")
    added_at = time.time() - 1
    page.locator("#add-attribute").click()
    page.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    mask = newest_mask(app_server.app.work.path, added_at)
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
    page.wait_for_function(PLAYING_MUTED, timeout=SLOW_MS)  # it plays by itself (muted: browsers allow that)
    assert page.evaluate("window.scrollY") == 0, "nothing scrolled the page"
    assert in_viewport(page, "#result-video"), "the result plays where the user is looking"
    assert in_viewport(page, "#status"), "and its status line is in view too"
    assert "hat" in page.locator("#attribute-gallery").inner_text()
    assert "astronaut" in page.locator("#portrait-preview img").first.get_attribute("src")
    page.screenshot(path=str(output_dir / "app_example.png"))

    # Reaching for the volume turns the sound on.
    page.locator("#result-video .volume-control-wrapper button").click()
    assert page.evaluate("document.querySelector('#result-video video').muted") is False

    # Scrolled down to the driver, the user still sees the result: the outputs column follows.
    page.locator("#driver").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    assert in_viewport(page, "#result-video")
    page.screenshot(path=str(output_dir / "app_example_scrolled.png"))


PLAYING_MUTED = """() => {
  const video = document.querySelector('#result-video video');
  return video !== null && video.muted && !video.paused && video.currentTime > 0;
}"""

# Every picture the before/after shows from now on, in the page (the comparison can change between two polls).
RECORD_COMPARISON = """() => {
  window.comparisons = new Set();
  window.comparisonEmptied = false;
  const box = document.querySelector('#compare');
  const record = () => {
    const images = [...box.querySelectorAll('img')].filter((image) => image.src);
    if (images.length === 0) window.comparisonEmptied = true;
    images.forEach((image) => window.comparisons.add(image.src));
  };
  const watched = {subtree: true, childList: true, attributes: true, attributeFilter: ['src']};
  new MutationObserver(record).observe(box, watched);
}"""


def comparison_pictures(page) -> list[str]:
    return page.evaluate("[...document.querySelectorAll('#compare img')].map((image) => image.src)")


def test_a_second_example_never_shows_the_first_ones_edit_as_its_after(page, output_dir):
    page.get_by_text("Biden's hair on the astronaut").click()
    page.wait_for_selector("#result-video video[src]", state="attached", timeout=SLOW_MS)
    first_video = page.locator("#result-video video").get_attribute("src")
    first = comparison_pictures(page)
    assert len(first) == 2, "the first example's before/after is shown"

    page.evaluate(RECORD_COMPARISON)
    page.get_by_text("Glasses on Biden").click()
    page.wait_for_function(
        "(old) => { const v = document.querySelector('#result-video video[src]'); return v && v.src !== old; }",
        arg=first_video,
        timeout=SLOW_MS,
    )
    final = comparison_pictures(page)
    shown = set(page.evaluate("[...window.comparisons]"))
    page.screenshot(path=str(output_dir / "app_second_example.png"))
    assert len(final) == 2 and set(final).isdisjoint(first), "the second example's own before/after"
    assert page.evaluate("window.comparisonEmptied"), "the first example's before/after gave way at once"
    stray = shown - set(first) - set(final)
    assert not stray, f"the before/after showed pictures of neither example's result: {stray}"


def test_the_empty_mask_editor_shows_one_hint_and_the_before_after_is_large(page, output_dir):
    hits = page.evaluate(TEXT_OVER_PLACEHOLDER)
    page.locator("#mask-area").screenshot(path=str(output_dir / "app_empty_mask_editor.png"))
    assert page.locator("#mask-placeholder").is_visible()
    assert hits == [], f"text of the editor prints over the placeholder: {hits}"
    box = page.locator("#compare").bounding_box()
    assert box["height"] >= 300, f"the before/after is only {box['height']:.0f} px tall"


# Visible text inside the mask editor whose box meets the placeholder's.
TEXT_OVER_PLACEHOLDER = """() => {
  const box = document.querySelector('#mask-placeholder').getBoundingClientRect();
  const hits = [];
  for (const element of document.querySelectorAll('#mask-editor *')) {
    const text = [...element.childNodes].filter((node) => node.nodeType === 3).map((node) => node.textContent.trim());
    if (!text.join('') || getComputedStyle(element).visibility === 'hidden') continue;
    for (const r of element.getClientRects()) {
      const meets = r.left < box.right && r.right > box.left && r.top < box.bottom && r.bottom > box.top;
      if (r.width > 0 && r.height > 0 && meets) hits.push(text.join(' '));
    }
  }
  return hits;
}"""


def test_generate_on_an_empty_page_names_the_portrait_and_marks_no_output_as_failed(page, output_dir):
    assert page.locator("#mask-placeholder").is_visible(), "the empty mask editor says what will appear in it"
    page.locator("#generate-button").click()
    expect(page.locator("#status textarea")).to_have_value(re.compile("Upload a portrait first"), timeout=SLOW_MS)
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
    expect(status).to_have_value(re.compile("Added “biden.jpg” \\(hair\\) to the gallery"), timeout=SLOW_MS)
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


def live_frames(tab, *, count: int) -> tuple[list[np.ndarray], float]:
    """The next ``count`` distinct frames the live view shows, as they arrive, and how many arrived per second."""
    view = tab.frame(url=re.compile(r"/live\?"))
    view.evaluate(RECORD_FRAMES)
    view.wait_for_function(f"() => window.liveFrames.length >= {count}", timeout=SLOW_MS)
    shown = view.evaluate("window.liveFrames")
    frames = []
    for frame in shown:
        header, _, data = frame["src"].partition(",")
        assert header == "data:image/jpeg;base64", header
        frames.append(np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")))
    seconds = (shown[-1]["at"] - shown[0]["at"]) / 1000
    return frames, (len(frames) - 1) / max(seconds, 1e-3)


def test_live_webcam_drives_the_edited_portrait_and_sessions_stay_apart(camera_browser, app_server, output_dir):
    from durian_core.face.landmarks import detect_landmarks

    app_url = app_server.url
    astronaut, obama = EXAMPLES / "portraits" / "astronaut.jpg", EXAMPLES / "portraits" / "obama.jpg"
    first_context, first, first_view = open_live(camera_browser, app_url, astronaut)
    # The first frames build the session's animator; once it runs, the status says so.
    status = first_view.locator("#live-status textarea")
    expect(status).to_have_value(re.compile("^Live · classical engine"), timeout=SLOW_MS)
    frames, rate = live_frames(first, count=30)
    first.screenshot(path=str(output_dir / "app_live.png"))

    # The mouth region changes as the clip's mouth moves; the shoulders, far from the face, do not.
    mouth = detect_landmarks(frames[0])[list(regions.LIPS_OUTER)]
    (x0, y0), (x1, y1) = mouth.min(axis=0).astype(int), mouth.max(axis=0).astype(int)
    stack = np.stack(frames).astype(np.float32)
    mouth_change = np.abs(np.diff(stack[:, y0:y1, x0:x1], axis=0)).mean()
    corner = stack[:, -60:, :60]
    assert mouth_change > 2.0, f"the live mouth barely moves ({mouth_change:.2f})"
    assert mouth_change > 3 * np.abs(np.diff(corner, axis=0)).mean(), "the mouth moves, not the whole picture"
    (output_dir / "live.json").write_text(
        json.dumps(
            {"frames": len(frames), "delivered_fps": round(rate, 1), "status": status.input_value()},
            ensure_ascii=False,
        )
    )

    # A second session streams its own portrait; a third finds Live full (two places, the default).
    assert app_server.app.live.slots.limit == 2
    second_context, second, second_view = open_live(camera_browser, app_url, obama)
    second_view.locator("#live-output img").wait_for(timeout=SLOW_MS)
    theirs, _ = live_frames(second, count=3)
    mine, _ = live_frames(first, count=3)
    originals = {path: load_image_rgb(path) for path in (astronaut, obama)}
    assert nearest(theirs[-1], originals) == obama and nearest(mine[-1], originals) == astronaut
    third_context, third, third_view = open_live(camera_browser, app_url, astronaut)
    # Refused, the page stops its camera and says so: it sends no more frames only to be refused again.
    refused = re.compile("^Live is full.*" + re.escape(MESSAGES["live_camera_off"]) + "$")
    expect(third_view.locator("#live-status textarea")).to_have_value(refused, timeout=SLOW_MS)
    expect(third_view.locator('#live-camera [title="stop recording"]')).to_have_count(0)
    slots = app_server.app.live.slots
    turned_away = slots.refusals
    time.sleep(3)  # a camera still streaming would be refused some 30 times a second meanwhile
    assert slots.refusals - turned_away <= 2, f"{slots.refusals - turned_away} more frames refused after the stop"
    third.screenshot(path=str(output_dir / "app_live_full.png"))

    # Back in the edit tab, the live view closes: its camera stops and its place is free again.
    first.get_by_role("tab", name="Edit & animate").click()
    first.locator("#live-view-frame").wait_for(state="detached", timeout=SLOW_MS)  # the live view closed
    for context in (third_context, second_context, first_context):
        context.close()


def test_a_live_link_opened_in_another_browser_shows_it_belongs_to_someone_else(
    camera_browser, app_server, output_dir
):
    app_url = app_server.url
    mine = camera_browser.new_context(viewport=LAPTOP, permissions=["camera"])
    tab = mine.new_page()
    tab.goto(app_url)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    upload(tab, "portrait", EXAMPLES / "portraits" / "obama.jpg")
    tab.wait_for_selector("#portrait-preview img", timeout=SLOW_MS)
    tab.get_by_role("tab", name="Live (webcam)").click()
    expect(tab.locator("#live-note")).to_contain_text(MESSAGES["live_ready"], timeout=SLOW_MS)
    link = f"{app_url}/{tab.locator('#live-view-frame').get_attribute('src')}"
    view = tab.frame_locator("#live-view-frame")
    expect(view.locator("#live-status textarea")).to_have_value(MESSAGES["live_idle"], timeout=SLOW_MS)

    # The same link in another browser (a context of its own: its own storage), one that uses the app itself.
    theirs = camera_browser.new_context(viewport=LAPTOP, permissions=["camera"])
    other = theirs.new_page()
    other.goto(app_url)
    other.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    other.goto(link)
    expect(other.locator("#live-status textarea")).to_have_value(MESSAGES["live_not_yours"], timeout=SLOW_MS)
    assert other.locator("#live-camera").is_hidden(), "no camera to start"
    assert other.locator("#live-output img").count() == 0, "and no portrait"
    other.screenshot(path=str(output_dir / "app_live_not_yours.png"))

    # In the browser that made it, the link opens in a new tab too: it is the browser's, not the tab's.
    again = mine.new_page()
    again.goto(link)
    expect(again.locator("#live-status textarea")).to_have_value(MESSAGES["live_idle"], timeout=SLOW_MS)
    assert again.locator("#live-camera").is_visible()
    for context in (theirs, mine):
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


def camera_match(frame: np.ndarray, clip: np.ndarray, *, away_from: tuple[slice, slice]) -> np.ndarray:
    """The camera's own frame behind a mirror frame: the clip frame (mirrored, at the frame's size) closest to it
    away from the box ``away_from`` (where the attributes sit)."""
    import cv2

    keep = np.ones(frame.shape[:2], bool)
    keep[away_from] = False
    candidates = [cv2.resize(image[:, ::-1], frame.shape[1::-1], interpolation=cv2.INTER_AREA) for image in clip]
    return min(candidates, key=lambda image: float(np.abs(image.astype(int) - frame)[keep].mean()))


def test_the_mirror_shows_the_camera_face_wearing_glasses(camera_browser, app_server, carphone, output_dir):
    from durian_core.face.landmarks import detect_landmarks

    context = camera_browser.new_context(viewport=LAPTOP, permissions=["camera"])
    tab = context.new_page()
    tab.goto(app_server.url)
    tab.wait_for_selector("#portrait input[type=file]", state="attached", timeout=SLOW_MS)
    tab.locator("#kind").get_by_text("glasses", exact=True).click()
    upload(tab, "attribute-file", EXAMPLES / "attributes" / "glasses_obama.png")  # no portrait: the camera is one
    tab.locator("#add-attribute").click()
    tab.wait_for_selector("#attribute-gallery img", timeout=SLOW_MS)
    tab.get_by_role("tab", name="Mirror (webcam)").click()
    tab.wait_for_selector("#mirror-view-frame", timeout=SLOW_MS)
    view = tab.frame_locator("#mirror-view-frame")
    expect(view.locator("#live-status textarea")).to_have_value(MESSAGES["mirror_idle"], timeout=SLOW_MS)
    view.locator("#live-camera").get_by_text("Click to Access Webcam").click()
    view.locator("#live-camera").get_by_role("button", name="capture photo").click()
    status = view.locator("#live-status textarea")
    expect(status).to_have_value(re.compile("^Mirror · classical engine"), timeout=SLOW_MS)
    live_frames(tab, count=5)  # the first frames prepare the attributes: counted from the next ones
    frames, rate = live_frames(tab, count=60)
    tab.screenshot(path=str(output_dir / "app_mirror.png"))

    # Each frame is the camera's own picture, the glasses added around its eyes and nothing changed far from them.
    changes = []
    for frame in frames[::12]:
        eyes = detect_landmarks(frame)[list(regions.LEFT_EYE) + list(regions.RIGHT_EYE)]
        (x0, y0), (x1, y1) = eyes.min(axis=0).astype(int), eyes.max(axis=0).astype(int)
        pad = (x1 - x0) // 6
        box = slice(max(y0 - pad, 0), y1 + pad), slice(max(x0 - pad, 0), x1 + pad)
        camera = camera_match(frame, carphone.frames, away_from=box)
        away = np.abs(camera.astype(int) - frame)
        away[box] = 0
        changes.append((np.abs(camera[box].astype(int) - frame[box]).mean(), away[-40:, :40].mean()))
        write_image(np.hstack([camera, frame]), output_dir / "mirror_camera_and_worn.png")
    eye_change, corner_change = np.median(changes, axis=0)
    assert eye_change > 12, f"no glasses on the camera's eyes ({eye_change:.1f} grey levels changed)"
    assert corner_change < 8, f"the frame far from the face is not the camera's own ({corner_change:.1f})"
    (output_dir / "mirror.json").write_text(
        json.dumps(
            {"frames": len(frames), "delivered_fps": round(rate, 1), "status": status.input_value()},
            ensure_ascii=False,
        )
    )
    context.close()
