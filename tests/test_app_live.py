"""The Live tab's plumbing: the main page hands its edit to the live page by a token in the page's address, the
live page streams frames back as JPEG addresses, and every problem is a status line."""

from __future__ import annotations

import base64
import io
import re

import gradio as gr
import numpy as np
import pytest
from helpers import EXAMPLES, FakeClock
from PIL import Image

from durian_app.live import LiveEdit, LiveEdits, browser_key, jpeg_data_url
from durian_app.live_handlers import LiveService, leave_live
from durian_app.settings import AppSettings
from durian_app.text import MESSAGES
from durian_app.workdir import WorkDir
from durian_core.config import GenerationSettings
from durian_core.media import load_image


def decode_data_url(address: str) -> np.ndarray:
    header, _, data = address.partition(",")
    assert header == "data:image/jpeg;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


MINE, THEIRS = browser_key(None), browser_key(None)  # two browsers' keys


def an_edit(name: str = "astronaut.jpg") -> LiveEdit:
    return LiveEdit(str(EXAMPLES / "portraits" / name), (), None, None, 0.5, GenerationSettings())


def test_a_browser_keeps_its_key_and_a_browser_without_one_gets_a_new_one():
    assert MINE != THEIRS and len(MINE) >= 24, "keys are long and distinct: nobody guesses another browser's"
    assert browser_key(MINE) == MINE, "a browser that stored its key keeps it across page loads"
    assert browser_key("") not in ("", MINE) and browser_key("short") != "short"


def test_a_live_edit_is_found_by_its_token_only_and_forgotten_when_old_or_stale():
    clock = FakeClock()
    edits = LiveEdits(limit=2, max_idle_s=60, clock=clock)
    first, second = edits.register(an_edit(), browser=MINE), edits.register(an_edit("obama.jpg"), browser=MINE)
    assert first != second and len(first) >= 20, "tokens are long and distinct: nobody guesses another's"
    assert edits.get(first).edit.portrait.endswith("astronaut.jpg")
    assert edits.get(second).edit.portrait.endswith("obama.jpg")
    assert edits.get(None) is None and edits.get("") is None and edits.get(first[:-1] + "x") is None
    third = edits.register(an_edit("biden.jpg"), browser=MINE)
    assert edits.get(first) is None, "beyond the limit the least recently used edit is forgotten"
    assert edits.get(third) is not None
    clock.advance(59)
    assert edits.get(third) is not None, "an edit used within the last minute is kept"
    clock.advance(61)
    assert edits.get(second) is None and edits.get(third) is None, "an edit nobody used for a while is forgotten"


def test_a_live_frame_travels_as_a_jpeg_address_that_shows_the_frame():
    frame = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    shown = decode_data_url(jpeg_data_url(frame))
    assert shown.shape == frame.shape
    assert np.abs(shown.astype(int) - frame).mean() < 3, "what the page shows is the frame (colours not swapped)"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def live(tmp_path, clock) -> LiveService:
    """Live as a page made from the default settings has it, on a clock the test moves."""
    return LiveService.from_settings(AppSettings(), work=WorkDir(tmp_path), clock=clock)


def camera_frame() -> np.ndarray:
    """A webcam-sized frame with a face: the Obama portrait shrunk to 320×240."""
    import cv2

    face = cv2.resize(load_image(EXAMPLES / "portraits" / "obama.jpg").rgb, (240, 240), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(face, 0, 0, 40, 40, cv2.BORDER_REPLICATE)


def test_opening_live_adds_a_pending_upload_and_hands_the_edit_to_the_live_page(live):
    portrait = str(EXAMPLES / "portraits" / "astronaut.jpg")
    attribute = str(EXAMPLES / "portraits" / "biden.jpg")
    *gallery, view, note = live.enter(
        portrait, (), None, None, 0.5, attribute, "hair", None, 1.0, weights=None, browser=MINE
    )
    attributes = gallery[0]
    assert [entry.kind for entry in attributes] == ["hair"], "the uploaded, not yet added, attribute is worn"
    assert "biden.jpg" in note
    token = re.search(r'src="live\?edit=([^"]+)"', view).group(1)
    edit = live.edits.get(token).edit
    assert edit.portrait == portrait and edit.attributes == attributes

    # The live page reads its edit from its address, and its frames wear it.
    opened, status, camera, *_words = live.open_page(MINE, gr.Request(query_params={"edit": token}))
    assert opened == token and status["value"] == MESSAGES["live_idle"] and status["label"] == "Live status"
    out, state, status = live.frame(camera_frame(), None, token)
    assert decode_data_url(out).shape[:2] == load_image(portrait).rgb.shape[:2]
    assert state.key == token and state.animator.faces == 1, "the camera's face drives the portrait"
    assert status.startswith("Live · classical engine"), status
    state.close()

    # Opening Live again with the same gallery adds nothing twice.
    *gallery, view, note = live.enter(
        portrait, attributes, None, None, 0.5, attribute, "hair", None, 1.0, browser=MINE
    )
    assert all(isinstance(item, dict) and item.get("__type__") == "update" for item in gallery)
    assert note == MESSAGES["live_ready"]


def test_live_without_a_portrait_or_with_an_unknown_edit_says_what_to_do(live):
    *gallery, view, note = live.enter(None, (), None, None, 0.5, None, "hair", None, 1.0, browser=MINE)
    assert view == "" and note == MESSAGES["live_need_portrait"], "no live view of nothing"

    token, status, camera, *_words = live.open_page(MINE, gr.Request(query_params={}))
    assert token is None and status == MESSAGES["live_no_edit"]
    assert camera.get("visible") is False, "a view with nothing to show offers no camera"
    out, state, status = live.frame(camera_frame(), None, "no-such-edit")
    assert state is None and status == MESSAGES["live_no_edit"]
    assert live.slots.active() == 0, "a view without an edit holds no place"


def test_a_live_link_opened_in_another_browser_shows_nothing_and_says_whose_it_is(live):
    portrait = str(EXAMPLES / "portraits" / "astronaut.jpg")
    *_, view, _ = live.enter(portrait, (), None, None, 0.5, None, "hair", None, 1.0, browser=MINE)
    address = {"edit": re.search(r'src="live\?edit=([^"]+)"', view).group(1)}

    # Another browser with the whole link: told whose it is, no camera, and its frames stream nothing.
    token, status, camera, *_words = live.open_page(THEIRS, gr.Request(query_params=address, session_hash="theirs"))
    assert token is None and status == MESSAGES["live_not_yours"] and camera.get("visible") is False
    out, state, status = live.frame(camera_frame(), None, token, request=gr.Request(session_hash="theirs"))
    assert state is None and not str(out).startswith("data:image"), "no portrait reaches the other browser"
    assert live.slots.active() == 0, "and it holds no place in Live"

    # A browser that has no key yet (it never opened the main page) is another browser too.
    token, status, *_ = live.open_page(None, gr.Request(query_params=address))
    assert token is None and status == MESSAGES["live_not_yours"]

    # The browser that opened Live gets its view.
    token, status, *_ = live.open_page(MINE, gr.Request(query_params=address, session_hash="mine"))
    out, state, _ = live.frame(camera_frame(), None, token, request=gr.Request(session_hash="mine"))
    assert out.startswith("data:image/jpeg") and state.key == token
    state.close()


def test_opening_live_in_a_browser_without_a_key_makes_no_link(live):
    portrait = str(EXAMPLES / "portraits" / "astronaut.jpg")
    *_, view, note = live.enter(portrait, (), None, None, 0.5, None, "hair", None, 1.0, browser=None)
    assert view == "" and note == MESSAGES["live_no_browser"]


def test_leaving_live_closes_the_live_view_and_the_mirror():
    view, note, mirror, mirror_note = leave_live("drive", "mirror")
    assert view == mirror == "" and note == MESSAGES["live_closed"] and mirror_note == MESSAGES["mirror_closed"]


def eye_ring(frame: np.ndarray) -> tuple[slice, slice]:
    """A box around the eyes of the face in ``frame`` (where glasses sit), found by the face mesh."""
    from durian_core.face import regions
    from durian_core.face.landmarks import detect_landmarks

    eyes = detect_landmarks(frame)[list(regions.LEFT_EYE) + list(regions.RIGHT_EYE)]
    (x0, y0), (x1, y1) = eyes.min(axis=0).astype(int), eyes.max(axis=0).astype(int)
    pad = (x1 - x0) // 6
    return slice(max(y0 - pad, 0), y1 + pad), slice(max(x0 - pad, 0), x1 + pad)


def test_the_mirror_puts_the_gallery_on_the_camera_face_without_a_portrait(live):
    glasses = str(EXAMPLES / "attributes" / "glasses_obama.png")
    *_, view, note = live.enter(None, (), None, None, 0.5, None, "glasses", None, 1.0, browser=MINE, mode="mirror")
    assert view == "" and note == MESSAGES["mirror_need_attribute"], "a mirror of nothing is not opened"

    *gallery, view, note = live.enter(
        None, (), None, None, 0.5, glasses, "glasses", None, 1.0, browser=MINE, mode="mirror"
    )
    assert [entry.kind for entry in gallery[0]] == ["glasses"] and "glasses_obama.png" in note
    assert 'id="mirror-view-frame"' in view
    token = re.search(r'src="live\?edit=([^"]+)"', view).group(1)
    opened, status, _camera, output, neutral = live.open_page(MINE, gr.Request(query_params={"edit": token}))
    assert opened == token and status["value"] == MESSAGES["mirror_idle"] and status["label"] == "Mirror status"
    assert output["label"] == "You, wearing the attributes" and neutral["value"].startswith("Prepare again")

    frame = camera_frame()
    out, state, status = live.frame(frame, None, token)
    worn = decode_data_url(out)
    reflection = frame[:, ::-1]
    assert worn.shape == reflection.shape, "the camera frame comes back at its own size"
    eyes = eye_ring(reflection)
    assert np.abs(worn[eyes].astype(int) - reflection[eyes]).mean() > 12, "glasses on the camera's eyes"
    assert np.abs(worn[:40, :40].astype(int) - reflection[:40, :40]).mean() < 6, "the rest is the camera's own"
    assert status.startswith("Mirror · classical engine"), status
    state.close()


def test_live_is_refused_past_its_session_limit_and_ends_at_its_time_limit(tmp_path, clock):
    live = LiveService.from_settings(AppSettings(live_sessions=1, live_minutes=2), work=WorkDir(tmp_path), clock=clock)
    token = live.edits.register(an_edit(), browser=MINE)
    frame = camera_frame()
    first, second = gr.Request(session_hash="first"), gr.Request(session_hash="second")
    out, state, status = live.frame(frame, None, token, request=first)
    assert state is not None and out.startswith("data:image/jpeg")
    _, refused, status = live.frame(frame, None, token, request=second)
    assert refused is None and status.startswith("Live is full (1 at a time"), status

    clock.advance(119)  # a second before the limit the session still streams
    out, state, status = live.frame(frame, state, token, request=first)
    assert out.startswith("data:image/jpeg"), status
    clock.advance(2)
    out, state, status = live.frame(frame, state, token, request=first)
    assert status == MESSAGES["live_time_up"].format(minutes="2")
    out, other, status = live.frame(frame, None, token, request=second)
    assert other is not None, "a session past its time gives its place up"
    for finished in (state, other):
        finished.close()
