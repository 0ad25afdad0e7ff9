"""The Edit & animate tab's layout: its components, grouped in typed page objects the wiring reads by name."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gradio as gr

from durian_app.convert import DEFAULTS, face_label
from durian_app.editor import MASK_COLOUR, MASK_OPACITY, WORKING_SIZE
from durian_app.text import CHOICES, LABELS, TEXT
from durian_app.upload import pass_any_file
from durian_core.config import ATTRIBUTE_KINDS, ENGINE_NAMES, MediaLimits
from durian_core.types import AttributeFit

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# The result video and the before/after sit side by side (a still's before/after takes the whole row), as tall as
# the outputs column leaves room for on a 1366×768 laptop: the column, which follows the page as it scrolls, then
# shows everything at once.
RESULT_HEIGHT = 330
PORTRAIT_HEIGHT = 200  # the portrait's upload box and its preview, side by side


@dataclass(frozen=True)
class SessionState:
    """What a browser session keeps between events."""

    attributes: gr.State  # the gallery's entries (AttributeEntry tuple)
    selected: gr.State  # the index of the selected entry, or None
    weights: gr.State  # the Durian weights the page was started with (a folder, a Hub id or None)


@dataclass(frozen=True)
class Inputs:
    """The inputs, created unrendered: the example rows placed above them need them first."""

    portrait: gr.File  # a photo or a video
    portrait_preview: gr.Image  # the photo, or the video's first frame with a face
    face_index: gr.Radio
    attribute_file: gr.File
    kind: gr.Radio
    mask_editor: gr.ImageEditor
    weight: gr.Slider
    add_attribute: gr.Button
    motion: gr.Radio
    driver: gr.Video


@dataclass(frozen=True)
class FitControls:
    """The selected attribute's fit once it is on the portrait: moved, scaled and turned (AttributeFit's fields)."""

    dx: gr.Slider
    dy: gr.Slider
    scale: gr.Slider
    degrees: gr.Slider
    reset: gr.Button

    def sliders(self) -> list[gr.Slider]:
        return [self.dx, self.dy, self.scale, self.degrees]


@dataclass(frozen=True)
class Gallery:
    """The session's attributes and what acts on them: order, strength, removal, the blend of two."""

    mask_placeholder: gr.Markdown
    gallery: gr.Gallery
    move_earlier: gr.Button
    move_later: gr.Button
    remove_attribute: gr.Button
    selected_weight: gr.Slider
    fit: FitControls
    blend_first: gr.Dropdown
    blend_second: gr.Dropdown
    alpha: gr.Slider


@dataclass(frozen=True)
class Advanced:
    """The advanced settings; each field is named after the GenerationSettings field it sets."""

    engine: gr.Radio
    max_seconds: gr.Slider
    motion_multiplier: gr.Slider
    output_size: gr.Slider
    seed: gr.Number
    num_inference_steps: gr.Slider
    guidance_portrait: gr.Slider
    guidance_attribute: gr.Slider
    guidance_motion: gr.Slider

    def by_name(self) -> dict[str, Any]:
        """The components as keyword inputs named after the settings' fields (what ``settings_from`` reads)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


@dataclass(frozen=True)
class Outputs:
    """What the user waits for: Generate and Stop, the status, the video, the before/after, the download."""

    generate: gr.Button
    stop: gr.Button
    status: gr.Textbox
    video: gr.Video
    compare: gr.ImageSlider
    download: gr.DownloadButton
    engine_note: gr.Markdown


@dataclass(frozen=True)
class EditPage:
    """The whole Edit & animate tab."""

    tab: gr.Tab
    state: SessionState
    inputs: Inputs
    gallery: Gallery
    advanced: Advanced
    outputs: Outputs
    examples: gr.Examples | None


def build_state(*, weights: str | None) -> SessionState:
    return SessionState(attributes=gr.State(()), selected=gr.State(None), weights=gr.State(weights))


def build_inputs() -> Inputs:
    """Every input, created unrendered; :func:`build_inputs_column` places them."""
    portrait = gr.File(
        label=LABELS["portrait"],
        file_types=["image", "video"],
        height=PORTRAIT_HEIGHT,
        elem_id="portrait",
        render=False,
    )
    return Inputs(
        portrait=pass_any_file(portrait),
        portrait_preview=gr.Image(
            label=LABELS["portrait_preview"],
            type="filepath",
            interactive=False,
            height=PORTRAIT_HEIGHT,
            buttons=["fullscreen"],
            elem_id="portrait-preview",
            render=False,
        ),
        face_index=gr.Radio(
            [(face_label(0, 1), 0)], value=0, label=LABELS["face"], visible=False, elem_id="face", render=False
        ),
        attribute_file=gr.File(
            label=LABELS["attribute_file"], file_types=["image"], elem_id="attribute-file", height=120, render=False
        ),
        kind=gr.Radio(list(ATTRIBUTE_KINDS), value="hair", label=LABELS["kind"], elem_id="kind", render=False),
        mask_editor=mask_editor(),
        weight=gr.Slider(0, 1, value=1.0, step=0.05, label=LABELS["weight"], scale=3, render=False),
        add_attribute=gr.Button(LABELS["add_attribute"], variant="secondary", elem_id="add-attribute", render=False),
        motion=gr.Radio(
            [(CHOICES["motion_video"], "video"), (CHOICES["motion_still"], "still")],
            value="video",
            label=LABELS["motion"],
            elem_id="motion",
            render=False,
        ),
        driver=gr.Video(label=LABELS["driver"], sources=["upload"], height=200, elem_id="driver", render=False),
    )


def mask_editor() -> gr.ImageEditor:
    """The brush and eraser over the attribute image: one layer, the mask, in one fixed colour."""
    return gr.ImageEditor(
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


def build_inputs_column(inputs: Inputs) -> Gallery:
    """Portrait, attributes and motion, in the order a user goes through them."""
    with gr.Group():
        with gr.Row(equal_height=True):
            with gr.Column(min_width=200):
                inputs.portrait.render()
            with gr.Column(min_width=200):
                inputs.portrait_preview.render()
        inputs.face_index.render()
    with gr.Group():
        with gr.Row(equal_height=True):
            with gr.Column(scale=2, min_width=200):
                inputs.attribute_file.render()
            with gr.Column(scale=1, min_width=160):
                inputs.kind.render()
        with gr.Column(elem_id="mask-area"):  # the placeholder lies over the empty canvas (see style.css)
            inputs.mask_editor.render()
            placeholder = gr.Markdown(TEXT["placeholders"]["mask_editor"], elem_id="mask-placeholder")
        with gr.Row():
            inputs.weight.render()
            inputs.add_attribute.render()
    gallery = build_gallery(placeholder)
    with gr.Group():
        inputs.motion.render()
        inputs.driver.render()
    gr.Examples(
        [[str(EXAMPLES / "drivers" / "carphone.mp4")]], inputs=[inputs.driver], label=LABELS["driver_examples"]
    )
    return gallery


def build_gallery(placeholder: gr.Markdown) -> Gallery:
    with gr.Group():
        gallery = gr.Gallery(
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
            move_earlier = gr.Button(LABELS["move_earlier"], size="sm")
            move_later = gr.Button(LABELS["move_later"], size="sm")
            remove = gr.Button(LABELS["remove_attribute"], size="sm", variant="stop")
        selected_weight = gr.Slider(0, 1, value=1.0, step=0.05, label=LABELS["selected_weight"])
        fit = build_fit()
        with gr.Row():
            blend_first = gr.Dropdown([], value=None, label=LABELS["blend_first"], elem_id="blend-first")
            blend_second = gr.Dropdown([], value=None, label=LABELS["blend_second"], elem_id="blend-second")
        alpha = gr.Slider(0, 1, value=0.5, step=0.05, label=LABELS["alpha"], elem_id="alpha")
    return Gallery(
        mask_placeholder=placeholder,
        gallery=gallery,
        move_earlier=move_earlier,
        move_later=move_later,
        remove_attribute=remove,
        selected_weight=selected_weight,
        fit=fit,
        blend_first=blend_first,
        blend_second=blend_second,
        alpha=alpha,
    )


def build_fit() -> FitControls:
    """Sliders over the cached preview: each move places the selected attribute anew and blends it, nothing more.
    Their ranges are the core's (:class:`~durian_core.types.AttributeFit`); two to a row, so that each label reads on
    one line in the left column."""
    identity = AttributeFit()
    with gr.Group(elem_id="fit"):
        with gr.Row():
            dx = gr.Slider(-1, 1, value=identity.dx, step=0.01, label=LABELS["fit_dx"], elem_id="fit-dx")
            dy = gr.Slider(-1, 1, value=identity.dy, step=0.01, label=LABELS["fit_dy"], elem_id="fit-dy")
        with gr.Row():
            scale = gr.Slider(0.5, 2, value=identity.scale, step=0.01, label=LABELS["fit_scale"], elem_id="fit-scale")
            degrees = gr.Slider(
                -45, 45, value=identity.degrees, step=1, label=LABELS["fit_degrees"], elem_id="fit-degrees"
            )
        reset = gr.Button(LABELS["fit_reset"], size="sm", elem_id="fit-reset")
    return FitControls(dx, dy, scale, degrees, reset)


def build_advanced() -> Advanced:
    with gr.Accordion(LABELS["advanced"], open=False, elem_id="advanced"):
        engine = gr.Radio(list(ENGINE_NAMES), value=DEFAULTS.engine, label=LABELS["engine"])
        with gr.Row():
            max_seconds = gr.Slider(
                1,
                MediaLimits().max_video_seconds,
                value=DEFAULTS.max_seconds,
                step=1,
                label=LABELS["max_seconds"],
                elem_id="max-seconds",
            )
            motion_multiplier = gr.Slider(
                0, 2, value=DEFAULTS.motion_multiplier, step=0.05, label=LABELS["motion_multiplier"]
            )
        with gr.Row():
            output_size = gr.Slider(256, 4096, value=DEFAULTS.output_size, step=64, label=LABELS["output_size"])
            seed = gr.Number(value=DEFAULTS.seed, precision=0, label=LABELS["seed"])
        with gr.Row():
            steps = gr.Slider(1, 50, value=DEFAULTS.num_inference_steps, step=1, label=LABELS["steps"])
            guidance_portrait = slider(0, 5, DEFAULTS.guidance_portrait, "guidance_portrait")
        with gr.Row():
            guidance_attribute = slider(0, 7.5, DEFAULTS.guidance_attribute, "guidance_attribute")
            guidance_motion = slider(0, 5, DEFAULTS.guidance_motion, "guidance_motion")
    return Advanced(
        engine=engine,
        max_seconds=max_seconds,
        motion_multiplier=motion_multiplier,
        output_size=output_size,
        seed=seed,
        num_inference_steps=steps,
        guidance_portrait=guidance_portrait,
        guidance_attribute=guidance_attribute,
        guidance_motion=guidance_motion,
    )


def slider(low: float, high: float, value: float, name: str) -> gr.Slider:
    return gr.Slider(low, high, value=value, step=0.1, label=LABELS[name])


def build_outputs_column() -> Outputs:
    """What the user waits for, kept in view (the column is sticky): Generate and Stop, the status line, the
    video, the before/after of the still, the download."""
    with gr.Row():
        generate = gr.Button(LABELS["generate"], variant="primary", elem_id="generate-button", scale=3)
        stop = gr.Button(LABELS["stop"], variant="stop", elem_id="stop-button", scale=1, interactive=False)
    status = gr.Textbox(
        TEXT["messages"]["status_idle"],
        label=LABELS["status"],
        lines=3,
        max_lines=6,
        interactive=False,
        elem_id="status",
    )
    with gr.Row(equal_height=True, elem_id="results"):
        # Plays by itself, muted: browsers let only muted videos start unasked (assets/page.js keeps it muted until
        # the user reaches for the volume).
        video = gr.Video(
            label=LABELS["video"], interactive=False, height=RESULT_HEIGHT, autoplay=True, elem_id="result-video"
        )
        compare = gr.ImageSlider(
            label=LABELS["compare"], type="filepath", interactive=False, height=RESULT_HEIGHT, elem_id="compare"
        )
    with gr.Row():
        download = gr.DownloadButton(LABELS["download"], visible=False, elem_id="download", size="sm")
        engine_note = gr.Markdown(elem_id="engine-note")
    return Outputs(generate, stop, status, video, compare, download, engine_note)


def build_tab(inputs: Inputs, state: SessionState) -> EditPage:
    """The Edit & animate tab: examples and inputs on the left, the outputs column on the right."""
    with gr.Tab(LABELS["tab_edit"], id="edit", elem_id="edit-tab") as tab:
        with gr.Row(equal_height=False, elem_id="workspace"):
            with gr.Column(scale=5):
                examples = build_examples(inputs)
                gallery = build_inputs_column(inputs)
                advanced = build_advanced()
            with gr.Column(scale=4, elem_id="outputs"):
                outputs = build_outputs_column()
    return EditPage(tab, state, inputs, gallery, advanced, outputs, examples)


def build_examples(inputs: Inputs) -> gr.Examples | None:
    """The example rows at the top of the inputs (a newcomer starts there); their events are wired with the rest."""
    rows, labels = example_rows()
    if not rows:
        return None
    return gr.Examples(
        rows,
        inputs=[inputs.portrait, inputs.attribute_file, inputs.kind, inputs.driver, inputs.motion],
        label=LABELS["examples"],
        example_labels=labels,
        examples_per_page=len(rows),
        elem_id="examples",
    )


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
        # Real glasses and a real cap, from a photo of Grace Hopper.
        ("obama.jpg", attributes / "grace_hopper.jpg", "glasses", "Grace Hopper's glasses on Obama"),
        ("biden.jpg", attributes / "grace_hopper.jpg", "hat", "Grace Hopper's cap on Biden"),
    ]
    present = [row for row in rows if (portraits / row[0]).exists() and row[1].exists()]
    examples = [[str(portraits / name), str(attribute), kind, driver, "video"] for name, attribute, kind, _ in present]
    return examples, [label for *_, label in present]
