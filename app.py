"""The Durian web app: drag-and-drop attribute transfer and portrait animation in the browser.

UI only. Every decision (engine choice, masks, alignment, animation, caching, file formats) lives in
``durian_core``; the handlers here validate what the page sends, call the core and convert its answer. The same
file runs locally (``python app.py``) and as a Hugging Face Space (README front matter, ``app_file: app.py``).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. A user can still opt in by setting it.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse
import functools
import os
import threading
import time
import uuid
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import spaces

from durian_app.editor import EDITOR_FILL, MASK_COLOUR, MASK_OPACITY, WORKING_SIZE, editor_mask, mask_layer, pad_square
from durian_app.errors import user_errors
from durian_app.live import LiveEdit, LiveEdits, LiveSlots, LiveState, close_live_state, jpeg_data_url
from durian_app.runs import run_stoppable
from durian_app.session import AttributeEntry, Attributes
from durian_app.text import CHOICES, CSS, INTRO, LABELS, MESSAGES, TEXT
from durian_app.upload import pass_unreadable_files
from durian_app.workdir import OUTPUT_MAX_AGE_S, prune_work_dir, store_png, work_dir
from durian_core.api import automatic_mask, build_request, choose_engine, generate, live_animator, preview
from durian_core.cache import default_cache
from durian_core.config import ATTRIBUTE_KINDS, ENGINE_NAMES, GenerationSettings, MediaLimits
from durian_core.face.matting import warm_up
from durian_core.media import load_image
from durian_core.prepare import resize_longest
from durian_core.types import GenerateRequest, GenerateResult, Interpolation

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples"

DEFAULTS = GenerationSettings()
GPU_SECONDS = 180  # ZeroGPU slot per generation: a 20-s driver with the durian engine at 25 steps
GENERATE_CONCURRENCY = int(os.environ.get("DURIAN_APP_CONCURRENCY", "2"))  # CPU-heavy: more would only queue
MAX_UPLOAD_BYTES = int(os.environ.get("DURIAN_MAX_UPLOAD_MB", MediaLimits().max_file_bytes >> 20)) << 20


# --------------------------------------------------------------------------------------------- conversions


def working_image(path: str) -> np.ndarray:
    """An uploaded attribute image at the size the core analyses it."""
    return resize_longest(load_image(path).rgb, WORKING_SIZE)


def settings_from(values: dict[str, Any]) -> GenerationSettings:
    """The advanced-section values (keyword inputs named after the settings' fields) as settings."""
    integers = {"seed", "num_inference_steps", "output_size", "face_index"}
    known = {name: (int(value) if name in integers else value) for name, value in values.items() if value is not None}
    return replace(DEFAULTS, **known)


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
    """The core's request for what the page holds (the driver, a file path, is loaded with the settings' limit)."""
    if portrait is None:
        raise gr.Error(MESSAGES["need_portrait"])
    return build_request(
        portrait,
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


# --------------------------------------------------------------------------------------------- handlers


@user_errors
def show_portrait(portrait: str | None) -> dict:
    """Check an uploaded portrait (a clear error for a bad file or no face) and offer its faces to choose from:
    the picker shows only when there is more than one, numbered from the largest."""
    if portrait is None:
        return gr.update(choices=[(face_label(0, 1), 0)], value=0, visible=False)
    count = len(portrait_faces(portrait))
    choices = [(face_label(index, count), index) for index in range(count)]
    return gr.update(choices=choices, value=0, visible=count > 1)


def portrait_faces(portrait: str) -> list[np.ndarray]:
    """The faces of a portrait file, largest first: the core's own cached detection, so the preview that follows
    finds the portrait's landmarks already there."""
    from durian_core.prepare import fit_longest, image_faces

    return image_faces(fit_longest(load_image(portrait).rgb, DEFAULTS.output_size), cache=default_cache())


def face_label(index: int, count: int) -> str:
    return MESSAGES["face_largest"] if index == 0 else MESSAGES["face_number"].format(number=index + 1, count=count)


def clear_editor() -> None:
    return None


@user_errors
def attribute_editor(attribute_file: str | None, kind: str) -> tuple[dict | None, dict]:
    """The attribute image with its automatic mask as a layer the user paints on or erases, and the editor's
    placeholder shown only while there is no attribute image."""
    if attribute_file is None:
        return None, gr.update(visible=True)
    image = working_image(attribute_file)
    mask = automatic_mask(image, kind)
    editor = {
        "background": pad_square(image, fill=EDITOR_FILL),
        "layers": [pad_square(mask_layer(mask))],
        "composite": None,
    }
    return editor, gr.update(visible=False)


@user_errors
def add_attribute(attribute_file: str | None, kind: str, mask: dict | None, weight: float, attributes: Attributes):
    """Add the attribute with its (edited) mask to the session's gallery; without an edited layer (API calls),
    the automatic mask."""
    if attribute_file is None:
        raise gr.Error(MESSAGES["need_attribute_file"])
    image = working_image(attribute_file)
    painted = editor_mask(mask, shape=image.shape)
    region = painted if painted is not None else automatic_mask(image, kind)
    dimmed = (image * (0.3 + 0.7 * region[..., None])).astype(np.uint8)
    entry = AttributeEntry(
        image=store_png(image),
        mask=store_png(region),
        thumbnail=store_png(dimmed),
        kind=kind,
        weight=float(weight),
        name=Path(attribute_file).name,
        source=attribute_file,
    )
    return attributes_changed((*attributes, entry), selected=len(attributes))


def is_pending(attribute_file: str | None, kind: str, attributes: Attributes) -> bool:
    """Whether an attribute is uploaded but not yet in the gallery (Generate and Live add it first)."""
    return attribute_file is not None and not any((e.source, e.kind) == (attribute_file, kind) for e in attributes)


def attributes_changed(attributes: Attributes, *, selected: int | None, keep_blend: bool = True) -> tuple:
    """Outputs shared by every gallery edit: state, gallery, blend pickers, the selection and its weight."""
    choices = blend_choices(attributes)
    pickers = {"choices": choices} if keep_blend else {"choices": choices, "value": None}
    weight = attributes[selected].weight if selected is not None else 1.0
    return attributes, gallery_value(attributes), gr.update(**pickers), gr.update(**pickers), selected, weight


def select_attribute(attributes: Attributes, event: gr.SelectData) -> tuple[int, float]:
    return event.index, attributes[event.index].weight


def move_attribute(attributes: Attributes, selected: int | None, offset: int) -> tuple:
    if selected is None or not 0 <= selected < len(attributes):
        raise gr.Error(MESSAGES["need_selection"])
    target = min(max(selected + offset, 0), len(attributes) - 1)
    order = list(attributes)
    order.insert(target, order.pop(selected))
    return attributes_changed(tuple(order), selected=target, keep_blend=False)


def remove_attribute(attributes: Attributes, selected: int | None, attribute_file: str | None = None) -> tuple:
    """Drop the selected attribute; when it came from the upload still in the box, the box is emptied too, so
    Generate does not add it back."""
    if selected is None or not 0 <= selected < len(attributes):
        raise gr.Error(MESSAGES["need_selection"])
    removed = attributes[selected]
    remaining = attributes[:selected] + attributes[selected + 1 :]
    upload = None if attribute_file is not None and removed.source == attribute_file else gr.skip()
    return *attributes_changed(remaining, selected=None, keep_blend=False), upload


def set_weight(attributes: Attributes, selected: int | None, weight: float) -> tuple:
    if selected is None or not 0 <= selected < len(attributes):
        return attributes_changed(attributes, selected=None)
    changed = replace(attributes[selected], weight=float(weight))
    return attributes_changed(attributes[:selected] + (changed,) + attributes[selected + 1 :], selected=selected)


@user_errors
def preview_still(
    portrait: str | None,
    attributes: Attributes,
    blend_first: int | None,
    blend_second: int | None,
    alpha: float,
    weights: str | None,
    **settings: Any,
) -> tuple[tuple[str, str] | None, str]:
    """The still edit for the current inputs, beside the portrait as it was; a tweak of α or a weight reuses
    everything cached."""
    if portrait is None:
        return None, MESSAGES["need_portrait"]
    start = time.perf_counter()
    request = session_request(
        portrait,
        attributes,
        blend_first=blend_first,
        blend_second=blend_second,
        alpha=alpha,
        settings=settings_from(settings),
    )
    result = preview(request, weights=weights)
    comparison = before_after(request.portrait, result.still)
    status = status_line(result, timings={}, total=time.perf_counter() - start)
    return comparison, status if attributes else f"{MESSAGES['no_attributes']}\n{status}"


def before_after(portrait: np.ndarray, still: np.ndarray) -> tuple[str, str]:
    """The before/after pair for the comparison slider, as files of their own (each written completely before
    it is handed out, so concurrent sessions with the same pictures never read a half-written one)."""
    before = portrait if portrait.shape == still.shape else resize_longest(portrait, max(still.shape[:2]))
    return store_png(before), store_png(still)


@spaces.GPU(duration=GPU_SECONDS)
@user_errors
def generate_result(
    portrait: str | None,
    attributes: Attributes,
    blend_first: int | None,
    blend_second: int | None,
    alpha: float,
    motion: str,
    driver: str | None,
    weights: str | None,
    attribute_file: str | None = None,
    kind: str = "hair",
    mask: dict | None = None,
    weight: float = 1.0,
    progress: gr.Progress = gr.Progress(),
    **settings: Any,
) -> Generator:
    """The full generation: the animated video (with the driver's audio) or, for "still", the edited image.

    A generator, so the Stop button can end it while it runs; the last thing it yields is the result. A missing
    input is named in the status line (the outputs stay as they are); an attribute uploaded but not yet added to
    the gallery is added first, and the status says so.
    """
    start = time.perf_counter()
    unchanged = (gr.skip(),) * 3
    if portrait is None:
        yield (*unchanged, MESSAGES["need_portrait"], gr.skip(), gr.skip())
        return
    if motion == "video" and driver is None:
        yield (*unchanged, MESSAGES["need_driver"], gr.skip(), gr.skip())
        return
    if (blend_first is None) != (blend_second is None):
        raise gr.Error(MESSAGES["blend_incomplete"])
    notes = []
    gallery: tuple[Any, Any] = (gr.skip(), gr.skip())  # the gallery and the session's attributes
    if is_pending(attribute_file, kind, attributes):
        outputs = add_attribute(attribute_file, kind, mask, weight, attributes)
        attributes = outputs[0]
        gallery = (gallery_value(attributes), attributes)
        notes.append(MESSAGES["added_on_generate"].format(name=Path(attribute_file).name, kind=kind))
    options = settings_from(settings)
    if motion == "video":
        progress(0.0, desc="reading the driving video")
    request = session_request(
        portrait,
        attributes,
        blend_first=blend_first,
        blend_second=blend_second,
        alpha=alpha,
        settings=options,
        driver=driver if motion == "video" else None,
    )
    loaded = time.perf_counter() - start
    prune_work_dir()
    suffix = ".mp4" if request.driver is not None else ".png"
    target = work_dir() / f"durian-{uuid.uuid4().hex[:16]}{suffix}"
    result = yield from run_stoppable(
        lambda report: generate(request, weights=weights, progress=report, output=target),
        progress=progress,
        show=lambda fraction, message: (*unchanged, progress_line(fraction, message), *gallery),
        unchanged=(*unchanged, gr.skip(), *gallery),
    )
    path = str(result.path)
    status = "\n".join([*notes, status_line(result, timings={"load": loaded}, total=time.perf_counter() - start)])
    still = result.still if result.frames is not None else first_frame(path)
    comparison = before_after(request.portrait, still)
    video = path if result.fps is not None else None
    download = gr.update(value=path, visible=True, label=LABELS["download_video" if video else "download_still"])
    yield comparison, video, download, status, *gallery


def show_video_box(motion: str) -> dict:
    return gr.update(visible=motion == "video")


LIVE_SLOTS = LiveSlots(int(os.environ.get("DURIAN_LIVE_SESSIONS", "2")))
LIVE_EDITS = LiveEdits()
LIVE_MINUTES = float(os.environ.get("DURIAN_LIVE_MINUTES", "5"))  # per session, then the stream ends
# How often the browser looks whether it may send the next camera frame. It sends one only when the previous one
# has come back, so this is not a rate: a short tick only keeps a returned frame from waiting for the next one.
LIVE_EVERY_S = 0.005


def live_frame(
    frame: np.ndarray | None, state: LiveState | None, token: str | None, request: gr.Request | None = None
) -> tuple:
    """One camera frame in, the edited portrait moving like it out (and, about once a second, the status).

    The view's animator is built on its first frame from the edit its token names, through the cache (so no mask
    or layer is computed again). Never raises: every problem is a status line."""
    if frame is None:
        return gr.skip(), state, gr.skip()
    session = getattr(request, "session_hash", None) or "local"
    now = time.monotonic()
    if state is not None and now - state.started > 60 * LIVE_MINUTES:  # before any work, or a slot, for it
        LIVE_SLOTS.release(session)
        return gr.skip(), state, MESSAGES["live_time_up"].format(minutes=f"{LIVE_MINUTES:g}")
    if not LIVE_SLOTS.claim(session):
        return gr.skip(), state, MESSAGES["live_full"].format(limit=LIVE_SLOTS.limit)
    try:
        if state is None:
            edit = LIVE_EDITS.get(token)
            if edit is None:
                LIVE_SLOTS.release(session)
                return gr.skip(), state, MESSAGES["live_no_edit"]
            request_ = session_request(
                edit.portrait,
                edit.attributes,
                blend_first=edit.blend_first,
                blend_second=edit.blend_second,
                alpha=edit.alpha,
                settings=edit.settings,
            )
            animator, note = live_animator(request_, cache=default_cache())
            state = LiveState(animator, token, note)
        faces = state.animator.faces
        out = state.animator(frame[:, ::-1])  # the portrait moves like the user's reflection
        state.sent.append(now)
    except ValueError as error:  # the core's input errors and gr.Error: worded for people
        return gr.skip(), state, str(getattr(error, "message", error))
    if now - state.reported >= 1.0 or state.animator.frames <= 1:
        state.reported = now
        if state.animator.faces == faces:
            state.status = MESSAGES["live_no_face"]
        else:
            timing = state.animator.timing()
            state.status = MESSAGES["live_running"].format(
                engine=state.note,
                frames=state.animator.frames,
                median=timing["median_ms"],
                p95=timing["p95_ms"],
                fps=state.frames_per_second(now),
            )
    # The status goes out with every frame, mostly unchanged: gradio builds a whole component to apply a skip,
    # and the page then collects every output's state, where a plain value costs neither.
    return jpeg_data_url(out), state, state.status


@user_errors
def enter_live(
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
    **settings: Any,
) -> tuple:
    """Opening the Live tab: the live view of the edit the page holds now (an attribute uploaded but not yet
    added joins the gallery first, as on Generate), or what is missing for one."""
    del weights  # live always runs the classical engine
    unchanged = (gr.skip(),) * 6
    if portrait is None:
        return *unchanged, "", MESSAGES["live_need_portrait"]
    gallery, note = unchanged, MESSAGES["live_ready"]
    if is_pending(attribute_file, kind, attributes):
        gallery = add_attribute(attribute_file, kind, mask, weight, attributes)
        attributes = gallery[0]
        note = MESSAGES["live_added"].format(name=Path(attribute_file).name, kind=kind)
    edit = LiveEdit(portrait, attributes, blend_first, blend_second, alpha, settings_from(settings))
    return *gallery, live_view(LIVE_EDITS.register(edit)), note


def live_view(token: str) -> str:
    """The live page in a frame, for the edit ``token`` names (the address is relative: it works under any root)."""
    return (
        f'<iframe src="live?edit={token}" allow="camera" title="{LABELS["live_view"]}" '
        'class="live-view" id="live-view-frame"></iframe>'
    )


def leave_live() -> tuple[str, str]:
    """Leaving the Live tab closes the live view: the camera stops and its session ends."""
    return "", MESSAGES["live_closed"]


def open_live_page(request: gr.Request) -> tuple[str | None, str]:
    """The live page reads the edit it shows from its address."""
    token = dict(getattr(request, "query_params", {}) or {}).get("edit")
    if LIVE_EDITS.get(token) is None:
        return None, MESSAGES["live_no_edit"]
    return token, MESSAGES["live_idle"]


def live_neutral(state: LiveState | None) -> str:
    if state is not None:
        state.animator.set_neutral()
    return MESSAGES["live_neutral_set"]


def first_frame(path: str) -> np.ndarray:
    """The first frame of a written video: the still shown beside it."""
    from durian_core.media import open_video

    return next(open_video(path).iter_frames()).copy()


@user_errors
def start_example(attribute_file: str, kind: str) -> tuple:
    """An example row replaces the gallery with its attribute and its automatic mask."""
    return add_attribute(attribute_file, kind, None, 1.0, ())


def stopped_status() -> str:
    return MESSAGES["stopped"]


def engine_note(engine: str, weights: str | None) -> str:
    try:
        choice = choose_engine(engine, weights=weights)
    except ValueError as exc:
        return f"⚠️ {exc}"
    return MESSAGES["engine_note"].format(engine=choice.name, reason=choice.reason)


def cache_stats() -> dict:
    """Hit and miss counters of the core's feature cache (how a tweak shows it recomputed nothing)."""
    return default_cache().stats()


# --------------------------------------------------------------------------------------------- layout


def example_rows() -> tuple[list[list[str]], list[str]]:
    """Portrait, attribute, kind, driver, motion, from the files in ``examples/``; labels for the table."""
    portraits, attributes = EXAMPLES / "portraits", EXAMPLES / "attributes"
    driver = str(EXAMPLES / "drivers" / "carphone.mp4")
    rows = [  # (portrait, attribute image, kind, label)
        ("astronaut.jpg", portraits / "biden.jpg", "hair", "Biden's hair on the astronaut"),
        ("biden.jpg", attributes / "glasses_obama.png", "glasses", "Glasses on Biden"),
        ("obama.jpg", attributes / "makeup_biden.png", "makeup", "Makeup on Obama"),
        ("astronaut.jpg", attributes / "hat_obama.png", "hat", "A beanie on the astronaut"),
        ("obama.jpg", attributes / "beard_biden.png", "beard", "A beard on Obama"),
        ("biden.jpg", portraits / "obama.jpg", "hair", "Obama's hair on Biden"),
    ]
    present = [row for row in rows if (portraits / row[0]).exists() and row[1].exists()]
    examples = [[str(portraits / name), str(attribute), kind, driver, "video"] for name, attribute, kind, _ in present]
    return examples, [label for *_, label in present]


@dataclass
class Page:
    """The components handlers read and write, by name."""

    components: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.components[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def build_inputs(c: dict[str, Any]) -> None:
    """Every input component, created unrendered: the examples above them need them, the layout places them."""
    c["portrait"] = gr.Image(
        label=LABELS["portrait"],
        type="filepath",
        sources=["upload", "clipboard"],
        height=230,
        elem_id="portrait",
        render=False,
    )
    pass_unreadable_files(c["portrait"])
    c["face_index"] = gr.Radio(
        [(face_label(0, 1), 0)], value=0, label=LABELS["face"], visible=False, elem_id="face", render=False
    )
    c["attribute_file"] = gr.File(
        label=LABELS["attribute_file"], file_types=["image"], elem_id="attribute-file", height=120, render=False
    )
    c["kind"] = gr.Radio(list(ATTRIBUTE_KINDS), value="hair", label=LABELS["kind"], elem_id="kind", render=False)
    c["mask_editor"] = gr.ImageEditor(
        label=LABELS["mask_editor"],
        type="numpy",
        image_mode="RGBA",
        format="png",  # lossless: the layer's alpha is the mask
        sources=(),
        transforms=(),
        layers=gr.LayerOptions(allow_additional_layers=False, layers=["mask"]),
        brush=gr.Brush(colors=[("rgb({},{},{})".format(*MASK_COLOUR), MASK_OPACITY)], color_mode="fixed"),
        eraser=gr.Eraser(),
        canvas_size=(WORKING_SIZE, WORKING_SIZE),
        height=380,
        elem_id="mask-editor",
        render=False,
    )
    c["weight"] = gr.Slider(0, 1, value=1.0, step=0.05, label=LABELS["weight"], scale=3, render=False)
    c["add_attribute"] = gr.Button(LABELS["add_attribute"], variant="secondary", elem_id="add-attribute", render=False)
    c["motion"] = gr.Radio(
        [(CHOICES["motion_video"], "video"), (CHOICES["motion_still"], "still")],
        value="video",
        label=LABELS["motion"],
        elem_id="motion",
        render=False,
    )
    c["driver"] = gr.Video(label=LABELS["driver"], sources=["upload"], height=200, elem_id="driver", render=False)


def build_inputs_column(c: dict[str, Any]) -> None:
    """Portrait, attributes and motion, in the order a user goes through them."""
    with gr.Group():
        with gr.Row(equal_height=False):
            c["portrait"].render()
            c["face_index"].render()
    with gr.Group():
        with gr.Row(equal_height=True):
            with gr.Column(scale=2, min_width=200):
                c["attribute_file"].render()
            with gr.Column(scale=1, min_width=160):
                c["kind"].render()
        with gr.Column(elem_id="mask-area"):  # the placeholder lies over the empty canvas (see style.css)
            c["mask_editor"].render()
            c["mask_placeholder"] = gr.Markdown(TEXT["placeholders"]["mask_editor"], elem_id="mask-placeholder")
        with gr.Row():
            c["weight"].render()
            c["add_attribute"].render()
    with gr.Group():
        c["gallery"] = gr.Gallery(
            label=LABELS["gallery"],
            columns=4,
            fit_columns=False,  # one attribute stays a thumbnail instead of filling the row
            object_fit="contain",
            height=160,
            allow_preview=False,
            interactive=False,
            buttons=[],
            elem_id="attribute-gallery",
        )
        with gr.Row():
            c["move_earlier"] = gr.Button(LABELS["move_earlier"], size="sm")
            c["move_later"] = gr.Button(LABELS["move_later"], size="sm")
            c["remove_attribute"] = gr.Button(LABELS["remove_attribute"], size="sm", variant="stop")
        c["selected_weight"] = gr.Slider(0, 1, value=1.0, step=0.05, label=LABELS["selected_weight"])
        with gr.Row():
            c["blend_first"] = gr.Dropdown([], value=None, label=LABELS["blend_first"], elem_id="blend-first")
            c["blend_second"] = gr.Dropdown([], value=None, label=LABELS["blend_second"], elem_id="blend-second")
        c["alpha"] = gr.Slider(0, 1, value=0.5, step=0.05, label=LABELS["alpha"], elem_id="alpha")
    with gr.Group():
        c["motion"].render()
        c["driver"].render()
    gr.Examples([[str(EXAMPLES / "drivers" / "carphone.mp4")]], inputs=[c["driver"]], label=LABELS["driver_examples"])


def build_advanced(c: dict[str, Any]) -> None:
    with gr.Accordion(LABELS["advanced"], open=False, elem_id="advanced"):
        c["engine"] = gr.Radio(list(ENGINE_NAMES), value=DEFAULTS.engine, label=LABELS["engine"])
        with gr.Row():
            c["max_seconds"] = gr.Slider(
                1,
                MediaLimits().max_video_seconds,
                value=DEFAULTS.max_seconds,
                step=1,
                label=LABELS["max_seconds"],
                elem_id="max-seconds",
            )
            c["motion_multiplier"] = gr.Slider(
                0, 2, value=DEFAULTS.motion_multiplier, step=0.05, label=LABELS["motion_multiplier"]
            )
        with gr.Row():
            c["output_size"] = gr.Slider(256, 4096, value=DEFAULTS.output_size, step=64, label=LABELS["output_size"])
            c["seed"] = gr.Number(value=DEFAULTS.seed, precision=0, label=LABELS["seed"])
        with gr.Row():
            c["num_inference_steps"] = gr.Slider(
                1, 50, value=DEFAULTS.num_inference_steps, step=1, label=LABELS["steps"]
            )
            c["guidance_portrait"] = slider(0, 5, DEFAULTS.guidance_portrait, "guidance_portrait")
        with gr.Row():
            c["guidance_attribute"] = slider(0, 7.5, DEFAULTS.guidance_attribute, "guidance_attribute")
            c["guidance_motion"] = slider(0, 5, DEFAULTS.guidance_motion, "guidance_motion")


def slider(low: float, high: float, value: float, name: str) -> gr.Slider:
    return gr.Slider(low, high, value=value, step=0.1, label=LABELS[name])


def build_outputs_column(c: dict[str, Any]) -> None:
    """What the user waits for, kept in view (the column is sticky): Generate and Stop, the status line, the
    video, the before/after of the still, the download."""
    with gr.Row():
        c["generate"] = gr.Button(LABELS["generate"], variant="primary", elem_id="generate-button", scale=3)
        c["stop"] = gr.Button(LABELS["stop"], variant="stop", elem_id="stop-button", scale=1, interactive=False)
    c["status"] = gr.Textbox(
        MESSAGES["status_idle"], label=LABELS["status"], lines=3, max_lines=6, interactive=False, elem_id="status"
    )
    c["video"] = gr.Video(label=LABELS["video"], interactive=False, height=260, elem_id="result-video")
    c["compare"] = gr.ImageSlider(
        label=LABELS["compare"], type="filepath", interactive=False, height=210, elem_id="compare"
    )
    with gr.Row():
        c["download"] = gr.DownloadButton(LABELS["download"], visible=False, elem_id="download", size="sm")
        c["engine_note"] = gr.Markdown(elem_id="engine-note")


SETTING_NAMES = (
    "engine",
    "face_index",
    "seed",
    "num_inference_steps",
    "guidance_portrait",
    "guidance_attribute",
    "guidance_motion",
    "output_size",
    "max_seconds",
    "motion_multiplier",
)


def edit_inputs(page: Page) -> dict[str, Any]:
    """The inputs of a still edit, by the handlers' parameter names."""
    return {
        "portrait": page.portrait,
        "attributes": page.attributes,
        "blend_first": page.blend_first,
        "blend_second": page.blend_second,
        "alpha": page.alpha,
        "weights": page.weights,
        **{name: page.components[name] for name in SETTING_NAMES},
    }


def upload_inputs(page: Page) -> dict[str, Any]:
    """The attribute being uploaded, by the handlers' parameter names: its file, kind, edited mask and weight."""
    return {"attribute_file": page.attribute_file, "kind": page.kind, "mask": page.mask_editor, "weight": page.weight}


def generation_event(page: Page) -> dict[str, Any]:
    """The generate handler with its inputs, outputs and shared concurrency limit."""
    return {
        "fn": generate_result,
        "inputs_kwargs": {
            **edit_inputs(page),
            "motion": page.motion,
            "driver": page.driver,
            **upload_inputs(page),
        },
        "outputs": [page.compare, page.video, page.download, page.status, page.gallery, page.attributes],
        "concurrency_limit": GENERATE_CONCURRENCY,
        "concurrency_id": "generate",
    }


def gallery_outputs_of(page: Page) -> list:
    """The components every gallery edit updates, in the order :func:`attributes_changed` returns them."""
    return [page.attributes, page.gallery, page.blend_first, page.blend_second, page.selected, page.selected_weight]


def wire_events(page: Page) -> list:
    """Connect the components to the handlers, every input by name; returns the generation events."""
    edit = edit_inputs(page)
    still = {
        "fn": preview_still,
        "inputs_kwargs": edit,
        "outputs": [page.compare, page.status],
        "api_visibility": "private",
        "show_progress": "minimal",
    }
    gallery_outputs = gallery_outputs_of(page)

    page.portrait.change(show_portrait, page.portrait, page.face_index, api_name="portrait").success(**still)
    page.face_index.input(**still)
    # The editor keeps drawing a replaced layer under the new one, so it is emptied first; one queue for both
    # triggers keeps a quick change of kind from being overtaken by the mask of the previous kind.
    gr.on(
        [page.attribute_file.change, page.kind.input],
        clear_editor,
        outputs=page.mask_editor,
        api_visibility="private",
        concurrency_id="mask_editor",
        concurrency_limit=1,
    ).then(
        attribute_editor,
        [page.attribute_file, page.kind],
        [page.mask_editor, page.mask_placeholder],
        api_visibility="private",
        concurrency_id="mask_editor",
    )
    page.add_attribute.click(
        add_attribute,
        inputs_kwargs={
            **upload_inputs(page),
            "attributes": page.attributes,
        },
        outputs=gallery_outputs,
        api_name="add_attribute",
    ).success(**still)
    page.gallery.select(
        select_attribute, page.attributes, [page.selected, page.selected_weight], api_visibility="private"
    )
    for button, offset in ((page.move_earlier, -1), (page.move_later, 1)):
        button.click(
            functools.partial(move_attribute, offset=offset),
            [page.attributes, page.selected],
            gallery_outputs,
            api_visibility="private",
        ).success(**still)
    page.remove_attribute.click(
        remove_attribute,
        [page.attributes, page.selected, page.attribute_file],
        [*gallery_outputs, page.attribute_file],
        api_name="remove_attribute",
    ).success(**still)
    # The tweaks: each re-renders the still from the core's cache.
    page.selected_weight.release(
        set_weight, [page.attributes, page.selected, page.selected_weight], gallery_outputs, api_name="set_weight"
    ).success(**still)
    page.alpha.release(**{**still, "api_visibility": "public"}, api_name="preview")
    for picker in (page.blend_first, page.blend_second):
        picker.input(**still)

    page.engine.change(engine_note, [page.engine, page.weights], page.engine_note, api_visibility="private")
    # A still has no video: its box gives way so the before/after comparison moves up into view.
    page.motion.change(show_video_box, page.motion, page.video, api_visibility="private", queue=False)
    gr.api(cache_stats, api_name="cache_stats")
    return [running(page, page.generate.click, generation_event(page) | {"api_name": "generate"})]


def running(page: Page, trigger, event: dict[str, Any]):
    """``event`` after ``trigger`` with Stop enabled while it runs (and disabled again however it ends)."""
    started = trigger(lambda: gr.update(interactive=True), outputs=page.stop, queue=False, api_visibility="private")
    generation = started.then(**event)
    generation.then(lambda: gr.update(interactive=False), outputs=page.stop, queue=False, api_visibility="private")
    return generation


def build_live_tab(c: dict[str, Any]) -> None:
    """The main page's Live tab: what Live does, and the live view of the page's edit (filled on opening)."""
    gr.Markdown(LABELS["live_intro"])
    c["live_view"] = gr.HTML("", elem_id="live-view", padding=False)
    c["live_note"] = gr.Markdown(MESSAGES["live_closed"], elem_id="live-note")


def wire_live_tab(page: Page) -> None:
    page.live_tab.select(
        enter_live,
        inputs_kwargs={
            **edit_inputs(page),
            **upload_inputs(page),
        },
        outputs=[*gallery_outputs_of(page), page.live_view, page.live_note],
        api_visibility="private",
    )
    page.edit_tab.select(leave_live, outputs=[page.live_view, page.live_note], api_visibility="private")


def build_live_page(demo: gr.Blocks) -> None:
    """The live view, a page of its own (shown in the Live tab's frame): the camera streaming in, the portrait
    streaming out, the neutral-pose button, the status.

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
        demo.load(open_live_page, outputs=[token, status], api_visibility="private")
        camera.stream(
            live_frame,
            inputs=[camera, state, token],
            outputs=[output, state, status],
            stream_every=LIVE_EVERY_S,
            time_limit=int(60 * LIVE_MINUTES) + 5,
            # Beyond the sessions Live admits, a few more are answered at once: with the message that it is full.
            concurrency_limit=LIVE_SLOTS.limit + 2,
            concurrency_id="live",
            show_progress="hidden",
            api_name="live",
        )
        neutral.click(live_neutral, state, status, api_visibility="private")


def build_demo(*, weights: str | None = None) -> gr.Blocks:
    """The whole page. ``weights`` (a folder or a Hub id) defaults to ``DURIAN_WEIGHTS``."""
    weights = weights or os.environ.get("DURIAN_WEIGHTS") or None
    components: dict[str, Any] = {}
    with gr.Blocks(title=TEXT["title"], delete_cache=(OUTPUT_MAX_AGE_S, OUTPUT_MAX_AGE_S)) as demo:
        components["attributes"] = gr.State(())
        components["selected"] = gr.State(None)
        components["weights"] = gr.State(weights)
        gr.Markdown(INTRO, elem_id="intro")
        build_inputs(components)
        page = Page(components)
        with gr.Tabs():
            with gr.Tab(LABELS["tab_edit"], id="edit", elem_id="edit-tab") as components["edit_tab"]:
                with gr.Row(equal_height=False, elem_id="workspace"):
                    with gr.Column(scale=5):
                        examples = build_examples_row(page)
                        build_inputs_column(components)
                        build_advanced(components)
                    with gr.Column(scale=4, elem_id="outputs"):
                        build_outputs_column(components)
            with gr.Tab(LABELS["tab_live"], id="live", elem_id="live-tab") as components["live_tab"]:
                build_live_tab(components)
        generations = wire_events(page) + examples()
        wire_live_tab(page)
        page.stop.click(None, cancels=generations).then(stopped_status, outputs=page.status, api_visibility="private")
        demo.load(engine_note, [page.engine, page.weights], page.engine_note, api_visibility="private")
    build_live_page(demo)
    demo.queue(default_concurrency_limit=4, max_size=64)
    return demo


def build_examples_row(page: Page):
    """The example rows at the top of the inputs (a newcomer starts there); their events are wired once the
    outputs exist, by calling the returned function."""
    rows, labels = example_rows()
    if not rows:
        return list
    dataset = gr.Examples(
        rows,
        inputs=[page.portrait, page.attribute_file, page.kind, page.driver, page.motion],
        label=LABELS["examples"],
        example_labels=labels,
        examples_per_page=len(rows),
        elem_id="examples",
    )

    def wire() -> list:
        chosen = dataset.load_input_event.then(
            start_example,
            [page.attribute_file, page.kind],
            [page.attributes, page.gallery, page.blend_first, page.blend_second, page.selected, page.selected_weight],
            api_visibility="private",
        )
        return [running(page, chosen.success, generation_event(page) | {"api_visibility": "private"})]

    return wire


def launch_options(*, max_file_size: int | str = MAX_UPLOAD_BYTES) -> dict[str, Any]:
    """What ``launch()`` needs besides host and port: theme and css (gradio 6 takes them here), the upload limit,
    and the one folder outside gradio's own cache the page may serve (the examples)."""
    return {
        "theme": gr.themes.Soft(),
        "css": CSS,
        "max_file_size": max_file_size,
        "allowed_paths": [str(EXAMPLES)],
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the Durian web app.")
    parser.add_argument("--weights", help="Durian weights: a local folder or a Hub id (default: $DURIAN_WEIGHTS)")
    parser.add_argument("--host", help="address to listen on (default: $GRADIO_SERVER_NAME or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: $GRADIO_SERVER_PORT or 7860)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    # The matting kernels compile on their first import after an install: meanwhile the page is already served.
    threading.Thread(target=warm_up, name="durian-warm-up", daemon=True).start()
    build_demo(weights=arguments.weights).launch(
        server_name=arguments.host, server_port=arguments.port, **launch_options()
    )
