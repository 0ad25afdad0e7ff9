"""The Edit & animate tab's events: which component triggers which handler, every input wired by name."""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from durian_app import edit_handlers as handlers
from durian_app.edit_layout import EditPage
from durian_app.workdir import WorkDir


def edit_inputs(page: EditPage) -> dict[str, Any]:
    """The inputs of a still edit, by the handlers' parameter names."""
    return {
        "portrait": page.inputs.portrait,
        "attributes": page.state.attributes,
        "blend_first": page.gallery.blend_first,
        "blend_second": page.gallery.blend_second,
        "alpha": page.gallery.alpha,
        "weights": page.state.weights,
        **page.advanced.by_name(),
    }


def upload_inputs(page: EditPage) -> dict[str, Any]:
    """The attribute being uploaded, by the handlers' parameter names: its file, kind, edited mask and weight."""
    inputs = page.inputs
    return {
        "attribute_file": inputs.attribute_file,
        "kind": inputs.kind,
        "mask": inputs.mask_editor,
        "weight": inputs.weight,
    }


def gallery_outputs(page: EditPage) -> list:
    """The components every gallery edit updates, in the order ``attributes_changed`` returns them."""
    state, gallery = page.state, page.gallery
    return [
        state.attributes,
        gallery.gallery,
        gallery.blend_first,
        gallery.blend_second,
        state.selected,
        gallery.selected_weight,
        *gallery.fit.sliders(),
    ]


def result_outputs(page: EditPage) -> list:
    """The outputs of a run, in the order ``clear_results`` returns them."""
    outputs = page.outputs
    return [outputs.compare, outputs.video, outputs.download, outputs.status]


def generation_event(page: EditPage, *, work: WorkDir, concurrency: int) -> dict[str, Any]:
    """The generate handler with its inputs, outputs and shared concurrency limit."""
    outputs = page.outputs
    return {
        "fn": functools.partial(handlers.generate_result, work=work),
        "inputs_kwargs": {
            **edit_inputs(page),
            "motion": page.inputs.motion,
            "driver": page.inputs.driver,
            **upload_inputs(page),
        },
        "outputs": [
            outputs.compare,
            outputs.video,
            outputs.download,
            outputs.status,
            page.gallery.gallery,
            page.state.attributes,
        ],
        "concurrency_limit": concurrency,
        "concurrency_id": "generate",
    }


def still_event(page: EditPage, *, work: WorkDir) -> dict[str, Any]:
    """The still preview: re-rendered from the core's cache after every change of the edit."""
    return {
        "fn": functools.partial(handlers.preview_still, work=work),
        "inputs_kwargs": edit_inputs(page),
        "outputs": [page.outputs.compare, page.outputs.status],
        "api_visibility": "private",
        "show_progress": "minimal",
    }


def fit_event(page: EditPage, *, work: WorkDir) -> dict[str, Any]:
    """The preview after a fit slider moved: only the selected attribute is placed anew and blended."""
    inputs = {name: value for name, value in edit_inputs(page).items() if name != "weights"}
    return {
        "fn": functools.partial(handlers.preview_fitted, work=work),
        "inputs_kwargs": {**inputs, "selected": page.state.selected},
        "outputs": [page.outputs.compare, page.outputs.status],
        "show_progress": "minimal",
    }


def wire_tab(page: EditPage, *, work: WorkDir, concurrency: int) -> list:
    """Connect the tab's components to their handlers; returns the generation events (Stop cancels them)."""
    previews = wire_portrait(page, work=work) + wire_attributes(page, work=work)
    generation = generation_event(page, work=work, concurrency=concurrency)
    generations = [running(page, page.outputs.generate.click, generation | {"api_name": "generate"})]
    generations += wire_examples(page, work=work, generation=generation)
    if page.examples is not None:
        # A new example stops what still works for the previous inputs, whose results would land beside it.
        page.examples.load_input_event.then(None, cancels=generations + previews)
    outputs = page.outputs
    outputs.stop.click(None, cancels=generations).then(
        handlers.stopped_status, outputs=outputs.status, api_visibility="private"
    )
    page.advanced.engine.change(
        handlers.engine_note, [page.advanced.engine, page.state.weights], outputs.engine_note, api_visibility="private"
    )
    # A still has no video: its box gives way and the before/after takes the whole row.
    page.inputs.motion.change(
        handlers.show_video_box, page.inputs.motion, outputs.video, api_visibility="private", queue=False
    )
    gr.api(handlers.cache_stats, api_name="cache_stats")
    return generations


def wire_portrait(page: EditPage, *, work: WorkDir) -> list:
    """A portrait the user drops (or clears) empties the before/after, is checked, shown and previewed; one an
    example sets is only shown, since the example's own run follows. Returns the preview events."""
    inputs, compare = page.inputs, page.outputs.compare
    shown = [inputs.portrait_preview, inputs.face_index]
    # Silent: the user's own uploads are checked, with a message, by the event below.
    inputs.portrait.change(
        handlers.face_picker, inputs.portrait, shown, api_visibility="private", show_progress="hidden"
    )
    checked = gr.on(
        [inputs.portrait.upload, inputs.portrait.clear],
        handlers.clear_comparison,
        outputs=compare,
        queue=False,
        api_visibility="private",
    ).then(handlers.show_portrait, inputs.portrait, shown, api_name="portrait")
    still = still_event(page, work=work)
    return [checked.success(**still), inputs.face_index.input(**still)]


def wire_attributes(page: EditPage, *, work: WorkDir) -> list:
    """The attribute upload, its mask editor and the gallery; returns the preview events."""
    inputs, gallery, state = page.inputs, page.gallery, page.state
    still = still_event(page, work=work)
    # The editor keeps drawing a replaced layer under the new one, so it is emptied first; one queue for both
    # triggers keeps a quick change of kind from being overtaken by the mask of the previous kind.
    gr.on(
        [inputs.attribute_file.change, inputs.kind.input],
        handlers.clear_editor,
        outputs=inputs.mask_editor,
        api_visibility="private",
        concurrency_id="mask_editor",
        concurrency_limit=1,
    ).then(
        handlers.attribute_editor,
        [inputs.attribute_file, inputs.kind],
        [inputs.mask_editor, gallery.mask_placeholder],
        api_visibility="private",
        concurrency_id="mask_editor",
    )
    changed = gallery_outputs(page)
    previews = [
        inputs.add_attribute.click(
            functools.partial(handlers.add_attribute, work=work),
            inputs_kwargs={**upload_inputs(page), "attributes": state.attributes},
            outputs=changed,
            api_name="add_attribute",
        ).success(**still)
    ]
    gallery.gallery.select(
        handlers.select_attribute,
        state.attributes,
        [state.selected, gallery.selected_weight, *gallery.fit.sliders()],
        api_visibility="private",
    )
    for button, offset in ((gallery.move_earlier, -1), (gallery.move_later, 1)):
        moved = button.click(
            functools.partial(handlers.move_attribute, offset=offset),
            [state.attributes, state.selected],
            changed,
            api_visibility="private",
        )
        previews.append(moved.success(**still))
    removed = gallery.remove_attribute.click(
        handlers.remove_attribute,
        [state.attributes, state.selected, inputs.attribute_file],
        [*changed, inputs.attribute_file],
        api_name="remove_attribute",
    )
    previews.append(removed.success(**still))
    # The tweaks: each re-renders the still from the core's cache.
    weighted = gallery.selected_weight.release(
        handlers.set_weight,
        [state.attributes, state.selected, gallery.selected_weight],
        changed,
        api_name="set_weight",
    )
    previews.append(weighted.success(**still))
    fit = gallery.fit
    fitted = gr.on(
        [slider.release for slider in fit.sliders()],
        handlers.set_fit,
        [state.attributes, state.selected, *fit.sliders()],
        changed,
        api_name="set_fit",
    )
    refitted = fit.reset.click(
        handlers.reset_fit, [state.attributes, state.selected], changed, api_visibility="private"
    )
    fit_preview = fit_event(page, work=work)
    previews += [fitted.success(**fit_preview, api_name="preview_fit"), refitted.success(**fit_preview)]
    previews.append(gallery.alpha.release(**{**still, "api_visibility": "public"}, api_name="preview"))
    previews += [picker.input(**still) for picker in (gallery.blend_first, gallery.blend_second)]
    return previews


def wire_examples(page: EditPage, *, work: WorkDir, generation: dict[str, Any]) -> list:
    """An example row fills the inputs, empties the outputs of the previous run, makes the gallery its attribute,
    and runs; returns its generation events."""
    if page.examples is None:
        return []
    cleared = page.examples.load_input_event.then(
        handlers.clear_results, outputs=result_outputs(page), queue=False, api_visibility="private"
    )
    chosen = cleared.then(
        functools.partial(handlers.start_example, work=work),
        [page.inputs.attribute_file, page.inputs.kind],
        gallery_outputs(page),
        api_visibility="private",
    )
    return [running(page, chosen.success, generation | {"api_visibility": "private"})]


def running(page: EditPage, trigger, event: dict[str, Any]):
    """``event`` after ``trigger`` with Stop enabled while it runs (and disabled again however it ends)."""
    stop = page.outputs.stop
    started = trigger(lambda: gr.update(interactive=True), outputs=stop, queue=False, api_visibility="private")
    generation = started.then(**event)
    generation.then(lambda: gr.update(interactive=False), outputs=stop, queue=False, api_visibility="private")
    return generation
