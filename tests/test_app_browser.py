"""The page in real headless Chromium: what a person does with a mouse, checked by what they would see.

Needs Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it) and Playwright; skipped otherwise.
Screenshots go to ``test-output/`` for a person to look at.
"""

from __future__ import annotations

import io
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
def browser():
    with sync_api.sync_playwright() as playwright:
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
    page.locator("#kind").get_by_text("glasses").click()
    editor = page.locator("#mask-editor")
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
