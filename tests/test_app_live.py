"""The Live tab's plumbing: the main page hands its edit to the live page by a token in the page's address, the
live page streams frames back as JPEG addresses, and every problem is a status line."""

from __future__ import annotations

import base64
import io
import re
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from durian_app.live import LiveEdit, LiveEdits, jpeg_data_url
from durian_core.config import GenerationSettings
from durian_core.media import load_image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def decode_data_url(address: str) -> np.ndarray:
    header, _, data = address.partition(",")
    assert header == "data:image/jpeg;base64"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB"))


def an_edit(name: str = "astronaut.jpg") -> LiveEdit:
    return LiveEdit(str(EXAMPLES / "portraits" / name), (), None, None, 0.5, GenerationSettings())


def test_a_live_edit_is_found_by_its_token_only_and_forgotten_when_old_or_stale():
    edits = LiveEdits(limit=2, max_idle_s=0.3)
    first, second = edits.register(an_edit()), edits.register(an_edit("obama.jpg"))
    assert first != second and len(first) >= 20, "tokens are long and distinct: nobody guesses another's"
    assert edits.get(first).portrait.endswith("astronaut.jpg") and edits.get(second).portrait.endswith("obama.jpg")
    assert edits.get(None) is None and edits.get("") is None and edits.get(first[:-1] + "x") is None
    third = edits.register(an_edit("biden.jpg"))
    assert edits.get(first) is None, "beyond the limit the least recently used edit is forgotten"
    assert edits.get(third) is not None
    time.sleep(0.4)
    assert edits.get(second) is None and edits.get(third) is None, "an edit nobody used for a while is forgotten"


def test_a_live_frame_travels_as_a_jpeg_address_that_shows_the_frame():
    frame = load_image(EXAMPLES / "portraits" / "obama.jpg").rgb
    shown = decode_data_url(jpeg_data_url(frame))
    assert shown.shape == frame.shape
    assert np.abs(shown.astype(int) - frame).mean() < 3, "what the page shows is the frame (colours not swapped)"


@pytest.fixture
def app_module(monkeypatch):
    """The app, with Live places of its own (sessions of other tests may still hold the shared ones)."""
    import app
    from durian_app.live import LiveSlots

    monkeypatch.setattr(app, "LIVE_SLOTS", LiveSlots(2))
    return app


def camera_frame() -> np.ndarray:
    """A webcam-sized frame with a face: the Obama portrait shrunk to 320×240."""
    import cv2

    face = cv2.resize(load_image(EXAMPLES / "portraits" / "obama.jpg").rgb, (240, 240), interpolation=cv2.INTER_AREA)
    return cv2.copyMakeBorder(face, 0, 0, 40, 40, cv2.BORDER_REPLICATE)


def test_opening_live_adds_a_pending_upload_and_hands_the_edit_to_the_live_page(app_module):
    portrait = str(EXAMPLES / "portraits" / "astronaut.jpg")
    attribute = str(EXAMPLES / "portraits" / "biden.jpg")
    *gallery, view, note = app_module.enter_live(
        portrait, (), None, None, 0.5, attribute, "hair", None, 1.0, weights=None
    )
    attributes = gallery[0]
    assert [entry.kind for entry in attributes] == ["hair"], "the uploaded, not yet added, attribute is worn"
    assert "biden.jpg" in note
    token = re.search(r'src="live\?edit=([^"]+)"', view).group(1)
    edit = app_module.LIVE_EDITS.get(token)
    assert edit.portrait == portrait and edit.attributes == attributes

    # The live page reads its edit from its address, and its frames wear it.
    opened, status = app_module.open_live_page(gr.Request(query_params={"edit": token}))
    assert opened == token and status == app_module.MESSAGES["live_idle"]
    out, state, status = app_module.live_frame(camera_frame(), None, token)
    assert decode_data_url(out).shape[:2] == load_image(portrait).rgb.shape[:2]
    assert state.key == token and state.animator.faces == 1, "the camera's face drives the portrait"
    assert status.startswith("Live · classical engine"), status
    state.close()

    # Opening Live again with the same gallery adds nothing twice.
    *gallery, view, note = app_module.enter_live(
        portrait, attributes, None, None, 0.5, attribute, "hair", None, 1.0, weights=None
    )
    assert all(isinstance(item, dict) and item.get("__type__") == "update" for item in gallery)
    assert note == app_module.MESSAGES["live_ready"]


def test_live_without_a_portrait_or_with_an_unknown_edit_says_what_to_do(app_module):
    *gallery, view, note = app_module.enter_live(None, (), None, None, 0.5, None, "hair", None, 1.0)
    assert view == "" and note == app_module.MESSAGES["live_need_portrait"], "no live view of nothing"

    token, status = app_module.open_live_page(gr.Request(query_params={}))
    assert token is None and status == app_module.MESSAGES["live_no_edit"]
    out, state, status = app_module.live_frame(camera_frame(), None, "no-such-edit")
    assert state is None and status == app_module.MESSAGES["live_no_edit"]


def test_leaving_live_closes_the_live_view(app_module):
    view, note = app_module.leave_live()
    assert view == "" and note == app_module.MESSAGES["live_closed"]


def test_live_is_refused_past_its_session_limit_and_ends_at_its_time_limit(app_module, monkeypatch):
    from durian_app.live import LiveSlots

    monkeypatch.setattr(app_module, "LIVE_SLOTS", LiveSlots(1))  # one place
    token = app_module.LIVE_EDITS.register(an_edit())
    frame = camera_frame()
    first, second = gr.Request(session_hash="first"), gr.Request(session_hash="second")
    out, state, status = app_module.live_frame(frame, None, token, request=first)
    assert state is not None and out.startswith("data:image/jpeg")
    _, refused, status = app_module.live_frame(frame, None, token, request=second)
    assert refused is None and status.startswith("Live is full (1 at a time"), status

    monkeypatch.setattr(app_module, "LIVE_MINUTES", 0.5 / 60)  # half a second
    time.sleep(0.6)
    out, state, status = app_module.live_frame(frame, state, token, request=first)
    assert status == app_module.MESSAGES["live_time_up"].format(minutes=f"{0.5 / 60:g}")
    out, other, status = app_module.live_frame(frame, None, token, request=second)
    assert other is not None, "a session past its time gives its place up"
    for finished in (state, other):
        finished.close()
