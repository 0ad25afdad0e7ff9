"""The app's settings: read from the environment once, at start, and handed to the page that uses them."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from durian_core.config import MediaLimits

T = TypeVar("T")


@dataclass(frozen=True)
class AppSettings:
    """What the environment may change about the app (every field has a default; none is required)."""

    # Generations running at once (DURIAN_APP_CONCURRENCY): CPU-heavy, so more would only queue.
    generate_concurrency: int = 2
    # Uploads above this are refused by the server before anything reads them (DURIAN_MAX_UPLOAD_MB, in MiB).
    max_upload_bytes: int = MediaLimits().max_file_bytes
    # Live sessions streaming at once (DURIAN_LIVE_SESSIONS); one more is told that Live is full.
    live_sessions: int = 2
    # Minutes a live session streams before it ends (DURIAN_LIVE_MINUTES).
    live_minutes: float = 5.0
    # Durian weights: a local folder or a Hub id (DURIAN_WEIGHTS); without them the classical engine runs.
    weights: str | None = None
    # Where the app makes its work folder (results, attribute layers), removed when it stops (DURIAN_WORK_DIR);
    # None: the system's temporary folder.
    work_dir: str | None = None
    # Address and port the server listens on (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT); None: gradio's defaults.
    host: str | None = None
    port: int | None = None

    def __post_init__(self) -> None:
        for name in ("generate_concurrency", "max_upload_bytes", "live_sessions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.live_minutes <= 0:
            raise ValueError(f"live_minutes must be positive, got {self.live_minutes}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AppSettings:
        """The settings the environment (``os.environ`` unless given) asks for; a malformed value is an error
        naming the variable."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            generate_concurrency=_read(env, "DURIAN_APP_CONCURRENCY", int, defaults.generate_concurrency),
            max_upload_bytes=_read(env, "DURIAN_MAX_UPLOAD_MB", int, defaults.max_upload_bytes >> 20) << 20,
            live_sessions=_read(env, "DURIAN_LIVE_SESSIONS", int, defaults.live_sessions),
            live_minutes=_read(env, "DURIAN_LIVE_MINUTES", float, defaults.live_minutes),
            weights=env.get("DURIAN_WEIGHTS") or None,
            work_dir=env.get("DURIAN_WORK_DIR") or None,
            host=env.get("GRADIO_SERVER_NAME") or None,
            port=_read(env, "GRADIO_SERVER_PORT", int, None),
        )


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return parse(raw)
    except ValueError:
        kind = "a whole number" if parse is int else "a number"
        raise ValueError(f"{name} must be {kind}, got {raw!r}") from None
