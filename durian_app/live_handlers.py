"""Live's handlers: the main page hands its edit to the live page, which streams the camera through it.

They share what one running page keeps for Live (its admitted sessions, the edits handed over, the time limit, the
clock), so they are the methods of :class:`LiveService`, which ``build_demo`` makes from the app's settings.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from durian_app.convert import interpolation_from, session_request, settings_from
from durian_app.edit_handlers import GALLERY_OUTPUTS, add_attribute, is_pending
from durian_app.errors import user_errors
from durian_app.live import LIVE_MODES, Clock, LiveEdit, LiveEdits, LiveSlots, LiveState, jpeg_data_url
from durian_app.session import Attributes
from durian_app.settings import AppSettings
from durian_app.text import LABELS, MESSAGES
from durian_app.workdir import WorkDir
from durian_core.api import live_animator
from durian_core.cache import default_cache
from durian_core.live import MirrorAnimator

# How often the browser looks whether it may send the next camera frame. It sends one only when the previous one
# has come back, so this is not a rate: a short tick only keeps a returned frame from waiting for the next one.
LIVE_EVERY_S = 0.005


class LiveService:
    """Live for one page: at most ``slots.limit`` sessions at once, each for at most ``minutes``, each showing only
    an edit its own browser handed over."""

    def __init__(
        self, *, slots: LiveSlots, edits: LiveEdits, minutes: float, work: WorkDir, clock: Clock = time.monotonic
    ) -> None:
        self.slots = slots
        self.edits = edits
        self.minutes = minutes
        self.work = work
        self.clock = clock
        # Encrypts the browser's key where the browser stores it (gr.BrowserState): both pages need the same.
        self.browser_secret = secrets.token_hex(16)

    @classmethod
    def from_settings(cls, settings: AppSettings, *, work: WorkDir, clock: Clock = time.monotonic) -> LiveService:
        return cls(
            slots=LiveSlots(settings.live_sessions, clock=clock),
            edits=LiveEdits(clock=clock),
            minutes=settings.live_minutes,
            work=work,
            clock=clock,
        )

    @property
    def time_limit_s(self) -> int:
        """The stream's own limit in gradio: a few seconds past Live's, so the user reads why it ended."""
        return int(60 * self.minutes) + 5

    @user_errors
    def enter(
        self,
        portrait: str | None,
        attributes: Attributes,
        blend_first: int | None,
        blend_second: int | None,
        alpha: float,
        attribute_file: str | None,
        kind: str,
        mask: dict | None,
        weight: float,
        weights: str | None = None,
        browser: str | None = None,
        *,
        mode: str = "drive",
        **settings: Any,
    ) -> tuple:
        """Opening the Live tab (``mode`` "drive") or the Mirror tab ("mirror"): the live view of the edit the page
        holds now (an attribute uploaded but not yet added joins the gallery first, as on Generate), for this
        browser only (``browser``, its key), or what is missing for one."""
        del weights  # live always runs the classical engine
        unchanged = (gr.skip(),) * GALLERY_OUTPUTS
        if mode == "drive" and portrait is None:
            return *unchanged, "", MESSAGES["live_need_portrait"]
        if not browser:
            return *unchanged, "", MESSAGES["live_no_browser"]
        gallery, note = unchanged, mode_message(mode, "ready")
        if is_pending(attribute_file, kind, attributes):
            gallery = add_attribute(attribute_file, kind, mask, weight, attributes, work=self.work)
            attributes = gallery[0]
            note = mode_message(mode, "added").format(name=Path(attribute_file).name, kind=kind)
        if mode == "mirror" and not attributes:
            return *gallery, "", MESSAGES["mirror_need_attribute"]
        edit = LiveEdit(portrait, attributes, blend_first, blend_second, alpha, settings_from(settings), mode=mode)
        return *gallery, live_view(self.edits.register(edit, browser=browser), mode=mode), note

    def open_page(self, browser: str | None, request: gr.Request) -> tuple:
        """The live page reads the edit it shows from its address, and shows it only to the browser that handed
        it over (``browser``: the key this browser keeps, None when it has none); a refused page says why and
        offers no camera. The token it returns is the session's own (a ``gr.State``), which no request can set:
        frames stream only an edit checked here. The page's words follow the edit's mode (drive or mirror)."""
        token = dict(getattr(request, "query_params", {}) or {}).get("edit")
        registered = self.edits.get(token)
        if registered is None:
            refusal = "live_no_edit"
        elif not registered.belongs_to(browser):  # a browser without a key never registered anything either
            refusal = "live_not_yours"
        else:
            mode = registered.edit.mode
            status = gr.update(value=mode_message(mode, "idle"), label=mode_label(mode, "status"))
            words = (gr.update(label=mode_label(mode, "output")), gr.update(value=mode_label(mode, "neutral")))
            return token, status, gr.skip(), *words
        return None, MESSAGES[refusal], gr.update(visible=False), gr.skip(), gr.skip()

    def frame(
        self, frame: np.ndarray | None, state: LiveState | None, token: str | None, request: gr.Request | None = None
    ) -> tuple:
        """One camera frame in, the edited portrait moving like it out (and, about once a second, the status).

        The view's animator is built on its first frame from the edit its token names, through the cache (so no
        mask or layer is computed again). Never raises: every problem is a status line."""
        if frame is None:
            return gr.skip(), state, gr.skip()
        if token is None:  # the page was refused when it opened (and said why): no slot, no work
            return gr.skip(), None, MESSAGES["live_no_edit"]
        session = getattr(request, "session_hash", None) or "local"
        now = self.clock()
        if state is not None and now - state.started > 60 * self.minutes:  # before any work, or a slot, for it
            self.slots.release(session)
            return gr.skip(), state, MESSAGES["live_time_up"].format(minutes=f"{self.minutes:g}")
        if not self.slots.claim(session):
            return gr.skip(), state, MESSAGES["live_full"].format(limit=self.slots.limit)
        try:
            if state is None:
                state = self.start(token, now=now)
                if state is None:
                    self.slots.release(session)
                    return gr.skip(), None, MESSAGES["live_no_edit"]
            faces = state.animator.faces
            out = state.animator(frame[:, ::-1])  # the portrait moves like the user's reflection
            state.sent.append(now)
        except ValueError as error:  # the core's input errors and gr.Error: worded for people
            return gr.skip(), state, str(getattr(error, "message", error))
        if now - state.reported >= 1.0 or state.animator.frames <= 1:
            state.reported = now
            state.status = running_status(state, found_face=state.animator.faces != faces, now=now)
        # The status goes out with every frame, mostly unchanged: gradio builds a whole component to apply a skip,
        # and the page then collects every output's state, where a plain value costs neither.
        return jpeg_data_url(out), state, state.status

    def start(self, token: str | None, *, now: float) -> LiveState | None:
        """The animator of the edit ``token`` names (None when it names none)."""
        registered = self.edits.get(token)
        if registered is None:
            return None
        edit = registered.edit
        if edit.mode == "mirror":
            return self.start_mirror(edit, token=token, now=now)
        request = session_request(
            edit.portrait,
            edit.attributes,
            blend_first=edit.blend_first,
            blend_second=edit.blend_second,
            alpha=edit.alpha,
            settings=edit.settings,
        )
        animator, note = live_animator(request, cache=default_cache())
        return LiveState(animator, token, note, started=now)

    @staticmethod
    def start_mirror(edit: LiveEdit, *, token: str, now: float) -> LiveState:
        """A mirror of the edit's attributes (their masks and layers come through the cache)."""
        attributes = [entry.reference() for entry in edit.attributes]
        interpolation = interpolation_from(edit.blend_first, edit.blend_second, edit.alpha)
        mirror = MirrorAnimator(attributes, interpolation=interpolation, settings=edit.settings, cache=default_cache())
        return LiveState(mirror, token, MESSAGES["mirror_engine"], started=now, mode="mirror")


def mode_message(mode: str, name: str) -> str:
    """The page's words ``name`` for a live view of ``mode`` (drive or mirror)."""
    return MESSAGES[f"{LIVE_MODES[mode]}_{name}"]


def mode_label(mode: str, name: str) -> str:
    """The label ``name`` of a live view of ``mode`` (drive or mirror)."""
    return LABELS[f"{LIVE_MODES[mode]}_{name}"]


def running_status(state: LiveState, *, found_face: bool, now: float) -> str:
    """The live status line: frames, server time per frame and frames per second, or that no face is in view."""
    if not found_face:
        return mode_message(state.mode, "no_face")
    timing = state.animator.timing()
    return mode_message(state.mode, "running").format(
        engine=state.note,
        frames=state.animator.frames,
        median=timing["median_ms"],
        p95=timing["p95_ms"],
        fps=state.frames_per_second(now),
    )


def live_view(token: str, *, mode: str = "drive") -> str:
    """The live page in a frame, for the edit ``token`` names (the address is relative: it works under any root)."""
    name = LIVE_MODES[mode]
    return (
        f'<iframe src="live?edit={token}" allow="camera" title="{mode_label(mode, "view")}" '
        f'class="live-view" id="{name}-view-frame"></iframe>'
    )


def leave_live(*modes: str) -> tuple[str, ...]:
    """Leaving a live tab closes its live view (the camera stops and its session ends): for each of ``modes``, an
    empty view and the note of a closed one."""
    return tuple(value for mode in modes for value in ("", mode_message(mode, "closed")))


def live_neutral(state: LiveState | None) -> str:
    """Set neutral pose (driving), or prepare the attributes again on the next frame with a face (mirror)."""
    if state is None:
        return MESSAGES["live_neutral_set"]
    state.animator.set_neutral()
    return mode_message(state.mode, "neutral_set")
