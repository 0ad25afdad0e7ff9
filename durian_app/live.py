"""What the Live tab keeps: a bounded number of live sessions at once, and each session's own animator."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from durian_core.live import LiveAnimator


class LiveSlots:
    """At most ``limit`` live sessions at once. A session holds its slot while its frames keep arriving; one that
    sent nothing for ``idle_s`` (the user stopped the camera or closed the tab) gives it up."""

    def __init__(self, limit: int, *, idle_s: float = 5.0) -> None:
        self.limit = max(1, int(limit))
        self.idle_s = idle_s
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, session: str) -> bool:
        """Whether ``session`` may stream now (it holds a slot, or a free one is given to it)."""
        now = time.monotonic()
        with self._lock:
            for other, seen in list(self._seen.items()):
                if now - seen > self.idle_s:
                    del self._seen[other]
            if session not in self._seen and len(self._seen) >= self.limit:
                return False
            self._seen[session] = now
            return True

    def release(self, session: str) -> None:
        with self._lock:
            self._seen.pop(session, None)

    def active(self) -> int:
        with self._lock:
            now = time.monotonic()
            return sum(now - seen <= self.idle_s for seen in self._seen.values())


@dataclass
class LiveState:
    """One browser session's live animator, for one edit (``key``); rebuilt when the edit changes."""

    animator: LiveAnimator
    key: str
    note: str
    started: float = field(default_factory=time.monotonic)
    reported: float = 0.0  # when the status line was last refreshed
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
