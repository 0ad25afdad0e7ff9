"""Live's layout and events: the main page's Live tab, and the live view, a page of its own shown in that tab."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from durian_app.edit_events import edit_inputs, gallery_outputs, upload_inputs
from durian_app.edit_layout import EditPage
from durian_app.live import close_live_state
from durian_app.live_handlers import LIVE_EVERY_S, LiveService, leave_live, live_neutral
from durian_app.text import LABELS, MESSAGES


@dataclass(frozen=True)
class LiveTab:
    """The main page's Live tab: what Live does, and the live view of the page's edit (filled on opening)."""

    tab: gr.Tab
    view: gr.HTML
    note: gr.Markdown


@dataclass(frozen=True)
class LivePage:
    """The live view's own page: the camera streaming in, the portrait streaming out, neutral pose, status."""

    camera: gr.Image
    output: gr.HTML
    neutral: gr.Button
    status: gr.Textbox
    state: gr.State  # the session's LiveState
    token: gr.State  # the edit it wears, from its address


def build_live_tab() -> LiveTab:
    with gr.Tab(LABELS["tab_live"], id="live", elem_id="live-tab") as tab:
        gr.Markdown(LABELS["live_intro"])
        view = gr.HTML("", elem_id="live-view", padding=False)
        note = gr.Markdown(MESSAGES["live_closed"], elem_id="live-note")
    return LiveTab(tab, view, note)


def wire_live_tab(live_tab: LiveTab, page: EditPage, *, service: LiveService) -> None:
    """Opening the tab hands the page's edit to a live view; leaving it closes the view."""
    live_tab.tab.select(
        service.enter,
        inputs_kwargs={**edit_inputs(page), **upload_inputs(page)},
        outputs=[*gallery_outputs(page), live_tab.view, live_tab.note],
        api_visibility="private",
    )
    page.tab.select(leave_live, outputs=[live_tab.view, live_tab.note], api_visibility="private")


def build_live_page(demo: gr.Blocks, *, service: LiveService) -> LivePage:
    """The live view, a page of its own (shown in the Live tab's frame).

    Its own page because while a stream runs, the browser updates every component of the page that has taken part
    in an event, on every frame: on the main page that is some thirty, the mask editor's images among them."""
    with demo.route(LABELS["tab_live"], "live", show_in_navbar=False):
        state = gr.State(None, delete_callback=close_live_state)
        token = gr.State(None)
        with gr.Row(equal_height=True):
            camera = gr.Image(
                label=LABELS["live_camera"],
                sources=["webcam"],
                streaming=True,
                type="numpy",
                # A small capture: the browser encodes and uploads every frame, and a face filling a 320×240
                # frame still gives MediaPipe enough pixels; the portrait comes back at its own size. Unmirrored:
                # a mirroring browser draws each frame twice; the server mirrors it, the page's style the preview.
                webcam_options=gr.WebcamOptions(mirror=False, constraints={"video": {"width": 320, "height": 240}}),
                height=400,
                elem_id="live-camera",
            )
            # An image inline in the page (a JPEG data address): a gr.Image output would be written to a file
            # the browser then fetches, which costs the server and the browser about twice as much per frame.
            output = gr.HTML(
                "",
                label=LABELS["live_output"],
                show_label=True,
                container=True,
                html_template="${value ? '<img src=\"' + value + '\" alt=\"" + LABELS["live_output"] + "\">' : ''}",
                min_height=400,
                elem_id="live-output",
            )
        with gr.Row():
            neutral = gr.Button(LABELS["live_neutral"], elem_id="live-neutral", scale=1)
            status = gr.Textbox(
                MESSAGES["live_idle"], label=LABELS["live_status"], interactive=False, elem_id="live-status", scale=3
            )
        page = LivePage(camera, output, neutral, status, state, token)
        wire_live_page(demo, page, service=service)
    return page


def wire_live_page(demo: gr.Blocks, page: LivePage, *, service: LiveService) -> None:
    demo.load(service.open_page, outputs=[page.token, page.status], api_visibility="private")
    page.camera.stream(
        service.frame,
        inputs=[page.camera, page.state, page.token],
        outputs=[page.output, page.state, page.status],
        stream_every=LIVE_EVERY_S,
        time_limit=service.time_limit_s,
        # Beyond the sessions Live admits, a few more are answered at once: with the message that it is full.
        concurrency_limit=service.slots.limit + 2,
        concurrency_id="live",
        show_progress="hidden",
        api_name="live",
    )
    page.neutral.click(live_neutral, page.state, page.status, api_visibility="private")
