"""Live's layout and events: the main page's Live tab, and the live view, a page of its own shown in that tab."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import gradio as gr

from durian_app.edit_events import edit_inputs, gallery_outputs, upload_inputs
from durian_app.edit_layout import EditPage
from durian_app.live import BROWSER_KEY_STORAGE, LIVE_MODES, browser_key, close_live_state
from durian_app.live_handlers import LIVE_EVERY_S, LiveService, leave_live, live_neutral
from durian_app.text import LABELS, MESSAGES


@dataclass(frozen=True)
class LiveTab:
    """A main page's live tab (Live, or Mirror): what it does, and the live view of the page's edit (filled on
    opening)."""

    tab: gr.Tab
    view: gr.HTML
    note: gr.Markdown
    browser: gr.BrowserState  # this browser's key: the live views it opens show only in it
    mode: str = "drive"  # a key of LIVE_MODES


@dataclass(frozen=True)
class LivePage:
    """The live view's own page: the camera streaming in, the portrait streaming out, neutral pose, status."""

    camera: gr.Image
    output: gr.HTML
    neutral: gr.Button
    status: gr.Textbox
    state: gr.State  # the session's LiveState
    token: gr.State  # the edit it wears, from its address, once checked to be this browser's
    browser: gr.BrowserState  # this browser's key, as the main page stored it


# Refusals arrive as the status of a frame: the page then stops the camera, so that a refused session stops sending
# frames (each of which the server would decode only to refuse it again), and says so. Started again, the camera
# retries. A refusal message is recognised by its text up to its first placeholder.
REFUSALS = ("live_full", "live_time_up", "live_no_edit", "live_not_yours")
STOP_REFUSED_CAMERA = """(status) => {
  const refusals = %s;
  const off = %s;
  if (!status || status.endsWith(off) || !refusals.some((start) => status.startsWith(start))) return status;
  const camera = document.querySelector("#live-camera");
  if (camera === null || camera.offsetParent === null) return status;  // a refused page shows no camera
  const stop = (tries) => {
    const button = document.querySelector('#live-camera button.capture-button:has([title="stop recording"])');
    if (button !== null) button.click();
    else if (tries > 0) setTimeout(() => stop(tries - 1), 200);
  };
  stop(10);
  return status + off;
}"""


def stop_refused_camera_js() -> str:
    """The script behind ``STOP_REFUSED_CAMERA``, with the page's own refusal messages."""
    starts = [MESSAGES[name].split("{")[0] for name in REFUSALS]
    return STOP_REFUSED_CAMERA % (json.dumps(starts), json.dumps(MESSAGES["live_camera_off"]))


def browser_state(service: LiveService) -> gr.BrowserState:
    """This browser's key, kept in its local storage under the same name on both pages (so the live view finds
    the key the main page registered its edit with)."""
    return gr.BrowserState(None, storage_key=BROWSER_KEY_STORAGE, secret=service.browser_secret)


def build_live_tab(browser: gr.BrowserState, *, mode: str = "drive") -> LiveTab:
    """The Live tab (``mode`` "drive": the camera drives the portrait) or the Mirror tab ("mirror": the camera's
    own face wears the attributes); ``browser`` is the page's key state, made outside the tabs so that it loads
    with the page."""
    name = LIVE_MODES[mode]
    with gr.Tab(LABELS[f"tab_{name}"], id=name, elem_id=f"{name}-tab") as tab:
        gr.Markdown(LABELS[f"{name}_intro"])
        view = gr.HTML("", elem_id=f"{name}-view", elem_classes="live-view-box", padding=False)
        note = gr.Markdown(MESSAGES[f"{name}_closed"], elem_id=f"{name}-note")
    return LiveTab(tab, view, note, browser, mode)


def wire_live_tab(demo: gr.Blocks, live_tabs: list[LiveTab], page: EditPage, *, service: LiveService) -> None:
    """The page gives its browser a key when it loads; opening a live tab hands the page's edit to a live view
    for that browser (and closes the other tab's view); leaving them closes every view."""
    browser = live_tabs[0].browser
    demo.load(browser_key, inputs=browser, outputs=browser, api_visibility="private")
    views = [component for live_tab in live_tabs for component in (live_tab.view, live_tab.note)]
    for live_tab in live_tabs:
        others = [component for other in live_tabs if other is not live_tab for component in (other.view, other.note)]
        live_tab.tab.select(
            functools.partial(service.enter, mode=live_tab.mode),
            inputs_kwargs={**edit_inputs(page), **upload_inputs(page), "browser": browser},
            outputs=[*gallery_outputs(page), live_tab.view, live_tab.note],
            api_visibility="private",
        ).then(
            functools.partial(leave_live, *(other.mode for other in live_tabs if other is not live_tab)),
            outputs=others,
            api_visibility="private",
            queue=False,
        )
    page.tab.select(
        functools.partial(leave_live, *(live_tab.mode for live_tab in live_tabs)),
        outputs=views,
        api_visibility="private",
    )


def build_live_page(demo: gr.Blocks, *, service: LiveService) -> LivePage:
    """The live view, a page of its own (shown in the Live tab's frame).

    Its own page because while a stream runs, the browser updates every component of the page that has taken part
    in an event, on every frame: on the main page that is some thirty, the mask editor's images among them."""
    with demo.route(LABELS["tab_live"], "live", show_in_navbar=False):
        state = gr.State(None, delete_callback=close_live_state)
        token = gr.State(None)
        browser = browser_state(service)
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
        page = LivePage(camera, output, neutral, status, state, token, browser)
        wire_live_page(demo, page, service=service)
    return page


def wire_live_page(demo: gr.Blocks, page: LivePage, *, service: LiveService) -> None:
    demo.load(
        service.open_page,
        inputs=page.browser,
        outputs=[page.token, page.status, page.camera, page.output, page.neutral],
        api_visibility="private",
    )
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
    page.status.change(None, inputs=page.status, outputs=page.status, js=stop_refused_camera_js())
