"""Conversions between what the page holds (file paths, slider values, the attribute gallery) and what the core
takes and returns; shared by the Edit & animate tab and Live."""

from __future__ import annotations

import itertools
import os
from dataclasses import replace
from typing import Any

import gradio as gr
import numpy as np

from durian_app.editor import WORKING_SIZE
from durian_app.session import Attributes
from durian_app.text import MESSAGES
from durian_app.workdir import WorkDir
from durian_core.api import build_request, open_portrait_video
from durian_core.cache import content_key, default_cache
from durian_core.config import GenerationSettings
from durian_core.media import load_image
from durian_core.prepare import resize_longest
from durian_core.tryon import is_video_file
from durian_core.types import GenerateRequest, GenerateResult, Interpolation, PortraitVideo

DEFAULTS = GenerationSettings()
INTEGER_SETTINGS = frozenset({"seed", "num_inference_steps", "output_size", "face_index"})


def working_image(path: str) -> np.ndarray:
    """An uploaded attribute image at the size the core analyses it."""
    return resize_longest(load_image(path).rgb, WORKING_SIZE)


def settings_from(values: dict[str, Any]) -> GenerationSettings:
    """The advanced-section values (keyword inputs named after the settings' fields) as settings."""
    known = {
        name: (int(value) if name in INTEGER_SETTINGS else value)
        for name, value in values.items()
        if value is not None
    }
    return replace(DEFAULTS, **known)


def portrait_video(path: str, *, settings: GenerationSettings = DEFAULTS) -> PortraitVideo:
    """A portrait video opened once per file and settings: opening one decodes frames until its face shows, and
    every preview, slider move and generation of the session needs it again."""
    stat = os.stat(path)
    key = content_key(path, stat.st_mtime_ns, stat.st_size, settings.max_seconds, settings.output_size)
    return default_cache().get_or_compute(
        "portrait_videos",
        content_key(key, settings.face_index),
        lambda: open_portrait_video(path, settings=settings),
    )


def portrait_picture(path: str) -> np.ndarray | str:
    """What the portrait preview shows: a photo as it is (its file), a video's first frame with a face."""
    return portrait_video(path).reference if is_video_file(path) else path


def interpolation_from(first: int | None, second: int | None, alpha: float) -> Interpolation | None:
    """The blend the pickers describe; None until both are picked (a preview while picking shows no blend)."""
    if first is None or second is None:
        return None
    return Interpolation(int(first), int(second), float(alpha))


def session_request(
    portrait: str | None,
    attributes: Attributes,
    *,
    blend_first: int | None,
    blend_second: int | None,
    alpha: float,
    settings: GenerationSettings,
    driver: str | None = None,
) -> GenerateRequest:
    """The core's request for what the page holds: the portrait a photo or a video (its file path), the driver (a
    file path) loaded with the settings' limit."""
    if portrait is None:
        raise gr.Error(MESSAGES["need_portrait"])
    return build_request(
        portrait_video(portrait, settings=settings) if is_video_file(portrait) else portrait,
        [entry.reference() for entry in attributes],
        driver=driver,
        interpolation=interpolation_from(blend_first, blend_second, alpha),
        settings=settings,
    )


def status_line(result: GenerateResult, *, timings: dict[str, float], total: float) -> str:
    """Which engine ran and why, how long each stage took, and anything the user should know."""
    stages = " · ".join(f"{name} {seconds:.2f} s" for name, seconds in {**timings, **result.timings}.items())
    lines = [
        f"{MESSAGES['engine_prefix']} {result.engine}, {result.notes[0]}",
        f"{MESSAGES['stage_prefix']} {stages} · {MESSAGES['total']} {total:.2f} s",
        *result.notes[1:],
    ]
    return "\n".join(lines)


def progress_line(fraction: float, message: str) -> str:
    """The status while working: the step, and the share of frames made once there are any."""
    share = f" · {fraction:.0%}" if fraction > 0 else ""
    return f"{MESSAGES['working']} {message}{share}"


def gallery_value(attributes: Attributes) -> list[tuple[str, str]]:
    return [(entry.thumbnail, entry.caption(index)) for index, entry in enumerate(attributes)]


def blend_choices(attributes: Attributes) -> list[tuple[str, int]]:
    return [(entry.caption(index), index) for index, entry in enumerate(attributes)]


def face_label(index: int, count: int) -> str:
    return MESSAGES["face_largest"] if index == 0 else MESSAGES["face_number"].format(number=index + 1, count=count)


def before_after(portrait: np.ndarray, still: np.ndarray, *, work: WorkDir) -> tuple[str, str]:
    """The before/after pair for the comparison slider, as files of their own (each written completely before
    it is handed out, so concurrent sessions with the same pictures never read a half-written one)."""
    before = portrait if portrait.shape == still.shape else resize_longest(portrait, max(still.shape[:2]))
    return work.store_png(before), work.store_png(still)


def frame_at(path: str, index: int = 0) -> np.ndarray:
    """Frame ``index`` of a written video: the still shown beside it."""
    from durian_core.media import open_video

    return next(itertools.islice(open_video(path).iter_frames(), index, None)).copy()
