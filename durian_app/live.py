"""What Live keeps: the edits the main page hands to its live view, a bounded number of live sessions at once,
and each session's own animator."""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from durian_core.live import LiveAnimator, MirrorAnimator

LIVE_JPEG_QUALITY = 85  # the live frames' JPEG quality: at 512² about 40 kB a frame, no visible blocks
Clock = Callable[[], float]  # seconds, only ever compared with each other (time.monotonic; tests pass their own)
# What a live view does with the camera: "drive" moves the edited portrait, "mirror" puts the attributes on the
# camera's own face. Each names its messages by a prefix of its own in assets/ui_text.json.
LIVE_MODES = {"drive": "live", "mirror": "mirror"}


@dataclass(frozen=True)
class LiveEdit:
    """The edit a live view wears: what the main page held when Live was opened (paths and numbers only; the
    pixels are in files and in the core's cache)."""

    portrait: str | None  # None in a mirror, whose portrait is the camera
    attributes: tuple[Any, ...]  # the session's AttributeEntry gallery
    blend_first: int | None
    blend_second: int | None
    alpha: float
    settings: Any  # GenerationSettings
    mode: str = "drive"  # a key of LIVE_MODES

    def __post_init__(self) -> None:
        if self.mode not in LIVE_MODES:
            raise ValueError(f"live mode must be one of {tuple(LIVE_MODES)}, got {self.mode!r}")


BROWSER_KEY_STORAGE = "durian-browser"  # where the browser keeps its key (localStorage), on every page of the app


def browser_key(stored: str | None) -> str:
    """The key a browser holds for Live: the one it stored, or a new unguessable one when it has none."""
    if isinstance(stored, str) and len(stored) >= 24:
        return stored
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Registered:
    """An edit handed to a live view, with the key of the browser that handed it over."""

    edit: LiveEdit
    browser: str

    def belongs_to(self, browser: str | None) -> bool:
        """Whether ``browser`` (a browser's key, or None when it has none) registered this edit."""
        return isinstance(browser, str) and secrets.compare_digest(self.browser, browser)


class LiveEdits:
    """Edits handed from the main page to its live view by an unguessable token in the view's address.

    The live view is a page of its own (so that each camera frame updates only its few components), and pages do
    not share session state: the main page registers its edit here and puts the token in the view's address. The
    token alone opens nothing: an edit is shown only to the browser that registered it (by the key that browser
    keeps, never part of an address), so a link copied to another browser shows nobody's portrait. The oldest are
    forgotten beyond ``limit``, and any left unused for ``max_idle_s``."""

    def __init__(self, *, limit: int = 256, max_idle_s: float = 3600.0, clock: Clock = time.monotonic) -> None:
        self.limit = limit
        self.max_idle_s = max_idle_s
        self.clock = clock
        self._edits: OrderedDict[str, tuple[Registered, float]] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, edit: LiveEdit, *, browser: str) -> str:
        """A new token for ``edit``, which only ``browser`` (the registering browser's key) may open."""
        if not browser:
            raise ValueError("a live edit needs the key of the browser that registers it")
        token = secrets.token_urlsafe(18)
        with self._lock:
            now = self.clock()
            self._forget_stale(now)
            self._edits[token] = (Registered(edit, browser), now)
            while len(self._edits) > self.limit:
                self._edits.popitem(last=False)
        return token

    def get(self, token: str | None) -> Registered | None:
        """The edit registered under ``token`` and its browser (None for an unknown, forgotten or missing token)."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            self._forget_stale(now)
            found = self._edits.get(token)
            if found is None:
                return None
            self._edits[token] = (found[0], now)
            self._edits.move_to_end(token)
            return found[0]

    def _forget_stale(self, now: float) -> None:
        for token, (_, used) in list(self._edits.items()):
            if now - used > self.max_idle_s:
                del self._edits[token]


class LiveSlots:
    """At most ``limit`` live sessions at once. A session holds its slot while its frames keep arriving; one that
    sent nothing for ``idle_s`` (the user stopped the camera or closed the tab) gives it up."""

    def __init__(self, limit: int, *, idle_s: float = 5.0, clock: Clock = time.monotonic) -> None:
        self.limit = max(1, int(limit))
        self.idle_s = idle_s
        self.clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self.refusals = 0  # frames turned away so far (a refused page stops its camera, so this stays small)

    def claim(self, session: str) -> bool:
        """Whether ``session`` may stream now (it holds a slot, or a free one is given to it)."""
        now = self.clock()
        with self._lock:
            for other, seen in list(self._seen.items()):
                if now - seen > self.idle_s:
                    del self._seen[other]
            if session not in self._seen and len(self._seen) >= self.limit:
                self.refusals += 1
                return False
            self._seen[session] = now
            return True

    def release(self, session: str) -> None:
        with self._lock:
            self._seen.pop(session, None)

    def active(self) -> int:
        with self._lock:
            now = self.clock()
            return sum(now - seen <= self.idle_s for seen in self._seen.values())


@dataclass
class LiveState:
    """One live view's animator (a LiveAnimator, or a MirrorAnimator in a mirror), for one edit (``key``, its
    token)."""

    animator: LiveAnimator | MirrorAnimator
    key: str
    note: str
    started: float  # when its first frame came, by the clock of the Live that made it
    mode: str = "drive"  # a key of LIVE_MODES
    reported: float = 0.0  # when the status line was last refreshed
    status: str = ""  # the status line as last refreshed
    sent: deque = field(default_factory=lambda: deque(maxlen=120))  # when the latest frames were sent back

    def frames_per_second(self, now: float) -> float:
        """Frames sent back over the last second."""
        return float(sum(now - moment <= 1.0 for moment in self.sent))

    def close(self) -> None:
        self.animator.close()


def close_live_state(state: LiveState | None) -> None:
    """``gr.State``'s delete callback: a closed tab frees its face tracker."""
    if isinstance(state, LiveState):
        state.close()


def jpeg_data_url(frame: np.ndarray, *, quality: int = LIVE_JPEG_QUALITY) -> str:
    """An RGB frame as a ``data:image/jpeg`` address, for an ``<img>`` that shows it without another request."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {frame.shape} frame as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")
