"""The whole app: the page built from its settings, with what its handlers share, and how to launch it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from durian_app import edit_events, edit_layout
from durian_app.edit_handlers import engine_note
from durian_app.live import Clock
from durian_app.live_handlers import LiveService
from durian_app.live_layout import browser_state, build_live_page, build_live_tab, wire_live_tab
from durian_app.settings import AppSettings
from durian_app.text import CSS, INTRO, PAGE_JS, TEXT
from durian_app.workdir import OUTPUT_MAX_AGE_S, WorkDir


@dataclass(frozen=True)
class App:
    """A built page and what its handlers share: the settings it was built from, its work folder, its Live."""

    demo: gr.Blocks
    settings: AppSettings
    work: WorkDir
    live: LiveService

    def launch_options(self) -> dict[str, Any]:
        """What ``demo.launch()`` needs besides host and port: theme, css and script (gradio 6 takes them here),
        the upload limit, and the one folder outside gradio's own cache the page may serve (the examples)."""
        return {
            "theme": gr.themes.Soft(),
            "css": CSS,
            "js": PAGE_JS,
            "max_file_size": self.settings.max_upload_bytes,
            "allowed_paths": [str(edit_layout.EXAMPLES)],
        }


def build_app(
    settings: AppSettings | None = None, *, work: WorkDir | None = None, clock: Clock = time.monotonic
) -> App:
    """The page for ``settings`` (the environment's when not given), writing to ``work`` (a new work folder where
    the settings say when not given). ``clock`` is Live's time source, for tests."""
    settings = AppSettings.from_env() if settings is None else settings
    work = WorkDir(parent=settings.work_dir) if work is None else work
    live = LiveService.from_settings(settings, work=work, clock=clock)
    with gr.Blocks(title=TEXT["title"], delete_cache=(OUTPUT_MAX_AGE_S, OUTPUT_MAX_AGE_S)) as demo:
        state = edit_layout.build_state(weights=settings.weights)
        gr.Markdown(INTRO, elem_id="intro")
        inputs = edit_layout.build_inputs()
        browser = browser_state(live)
        with gr.Tabs():
            page = edit_layout.build_tab(inputs, state)
            live_tabs = [build_live_tab(browser), build_live_tab(browser, mode="mirror")]
        edit_events.wire_tab(page, work=work, concurrency=settings.generate_concurrency)
        wire_live_tab(demo, live_tabs, page, service=live)
        demo.load(
            engine_note, [page.advanced.engine, state.weights], page.outputs.engine_note, api_visibility="private"
        )
    build_live_page(demo, service=live)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return App(demo, settings, work, live)
