"""The Edit & animate tab's handlers: each validates what the page sends, calls the core and converts its answer.

Handlers that write files take the page's :class:`~durian_app.workdir.WorkDir` as the keyword-only ``work`` (bound
when the events are wired), so nothing here is shared between pages but the core's cache.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import spaces

from durian_app.convert import (
    DEFAULTS,
    before_after,
    blend_choices,
    face_label,
    frame_at,
    gallery_value,
    portrait_picture,
    progress_line,
    session_request,
    settings_from,
    status_line,
    working_image,
)
from durian_app.editor import EDITOR_FILL, editor_mask, mask_layer, pad_square
from durian_app.errors import user_errors
from durian_app.runs import run_stoppable
from durian_app.session import AttributeEntry, Attributes
from durian_app.text import LABELS, MESSAGES
from durian_app.workdir import WorkDir
from durian_core.api import automatic_mask, choose_engine, generate, prepare_inputs, preview, preview_fit
from durian_core.cache import default_cache
from durian_core.media import load_image
from durian_core.tryon import is_video_file
from durian_core.types import AttributeFit

GPU_SECONDS = 180  # ZeroGPU slot per generation: a 20-s driver with the durian engine at 25 steps


@user_errors
def show_portrait(portrait: str | None) -> tuple[np.ndarray | str | None, dict]:
    """Check an uploaded portrait, a photo or a video (a clear error for a bad file or no face); show it (a video by
    its first frame with a face) and offer its faces to choose from: the picker shows only when there is more than
    one, numbered from the largest."""
    if portrait is None:
        return None, gr.update(choices=[(face_label(0, 1), 0)], value=0, visible=False)
    picture = portrait_picture(portrait)
    count = len(portrait_faces(picture))
    choices = [(face_label(index, count), index) for index in range(count)]
    return picture, gr.update(choices=choices, value=0, visible=count > 1)


def face_picker(portrait: str | None) -> tuple[np.ndarray | str | None, dict]:
    """The portrait's preview and face picker however it was set (an example, an upload): :func:`show_portrait`
    without a message, since a dropped file's problem is told once, by the check of the upload itself."""
    try:
        return show_portrait(portrait)
    except ValueError:  # gr.Error included
        return None, gr.update(choices=[(face_label(0, 1), 0)], value=0, visible=False)


def portrait_faces(picture: np.ndarray | str) -> list[np.ndarray]:
    """The faces of a portrait (a file or a video's frame), largest first: the core's own cached detection, so the
    preview that follows finds the portrait's landmarks already there."""
    from durian_core.prepare import fit_longest, image_faces

    image = load_image(picture).rgb if isinstance(picture, str) else picture
    return image_faces(fit_longest(image, DEFAULTS.output_size), cache=default_cache())


def clear_editor() -> None:
    return None


def clear_comparison() -> None:
    """Empty the before/after: what it showed belongs to inputs that are being replaced."""
    return None


def clear_results() -> tuple[None, None, dict, str]:
    """Empty the outputs when an example starts: the before/after, the video and the download of the previous
    run would otherwise stand beside the new inputs until the new result arrives."""
    return None, None, gr.update(value=None, visible=False), MESSAGES["working"] + " " + MESSAGES["example_started"]


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
def add_attribute(
    attribute_file: str | None, kind: str, mask: dict | None, weight: float, attributes: Attributes, *, work: WorkDir
) -> tuple:
    """Add the attribute with its (edited) mask to the session's gallery; without an edited layer (API calls),
    the automatic mask."""
    if attribute_file is None:
        raise gr.Error(MESSAGES["need_attribute_file"])
    image = working_image(attribute_file)
    painted = editor_mask(mask, shape=image.shape)
    region = painted if painted is not None else automatic_mask(image, kind)
    dimmed = (image * (0.3 + 0.7 * region[..., None])).astype(np.uint8)
    entry = AttributeEntry(
        image=work.store_png(image),
        mask=work.store_png(region),
        thumbnail=work.store_png(dimmed),
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
    """Outputs shared by every gallery edit: state, gallery, blend pickers, the selection, its weight and its fit."""
    choices = blend_choices(attributes)
    pickers = {"choices": choices} if keep_blend else {"choices": choices, "value": None}
    chosen = selected_controls(attributes, selected)
    return attributes, gallery_value(attributes), gr.update(**pickers), gr.update(**pickers), selected, *chosen


GALLERY_OUTPUTS = 10  # how many values attributes_changed returns


def selected_controls(attributes: Attributes, selected: int | None) -> tuple[float, ...]:
    """The strength and the fit (dx, dy, scale, degrees) of the selected attribute, for its sliders; those of an
    untouched attribute when none is selected."""
    if selected is None or not 0 <= selected < len(attributes):
        return 1.0, *AttributeFit().as_tuple()
    return attributes[selected].weight, *attributes[selected].fit.as_tuple()


def select_attribute(attributes: Attributes, event: gr.SelectData) -> tuple:
    return event.index, *selected_controls(attributes, event.index)


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
def set_fit(attributes: Attributes, selected: int | None, dx: float, dy: float, scale: float, degrees: float) -> tuple:
    """Move, scale and turn the selected attribute on the portrait (the preview that follows re-places only it)."""
    if selected is None or not 0 <= selected < len(attributes):
        raise gr.Error(MESSAGES["need_selection"])
    changed = replace(attributes[selected], fit=AttributeFit(float(dx), float(dy), float(scale), float(degrees)))
    return attributes_changed(attributes[:selected] + (changed,) + attributes[selected + 1 :], selected=selected)


def reset_fit(attributes: Attributes, selected: int | None) -> tuple:
    """The selected attribute back where the alignment put it."""
    return set_fit(attributes, selected, *AttributeFit().as_tuple())


@user_errors
def preview_still(
    portrait: str | None,
    attributes: Attributes,
    blend_first: int | None,
    blend_second: int | None,
    alpha: float,
    weights: str | None,
    *,
    work: WorkDir,
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
    comparison = before_after(request.portrait, result.still, work=work)
    status = status_line(result, timings={}, total=time.perf_counter() - start)
    return comparison, status if attributes else f"{MESSAGES['no_attributes']}\n{status}"


@user_errors
def preview_fitted(
    portrait: str | None,
    attributes: Attributes,
    selected: int | None,
    blend_first: int | None,
    blend_second: int | None,
    alpha: float,
    *,
    work: WorkDir,
    **settings: Any,
) -> tuple[tuple[str, str] | None, str]:
    """The still after a fit slider moved: the edit comes from the cache with the selected attribute where the
    alignment put it, and only that attribute is placed anew and blended (the classical editor's still)."""
    if portrait is None:
        return None, MESSAGES["need_portrait"]
    if selected is None or not 0 <= selected < len(attributes):
        raise gr.Error(MESSAGES["need_selection"])
    start = time.perf_counter()
    entry = attributes[selected]
    placed = attributes[:selected] + (replace(entry, fit=AttributeFit()),) + attributes[selected + 1 :]
    request = session_request(
        portrait,
        placed,
        blend_first=blend_first,
        blend_second=blend_second,
        alpha=alpha,
        settings=settings_from(settings),
    )
    prepared = prepare_inputs(request, cache=default_cache())
    still = preview_fit(prepared, entry.fit, index=selected, cache=default_cache())
    comparison = before_after(request.portrait, still, work=work)
    milliseconds = 1000 * (time.perf_counter() - start)
    return comparison, MESSAGES["fit_previewed"].format(name=entry.name, ms=milliseconds)


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
    *,
    work: WorkDir,
    **settings: Any,
) -> Generator:
    """The full generation: the animated video (with the driver's audio), for "still" the edited image, or for a
    portrait video that clip wearing the attributes (with its own sound; it takes no driver).

    A generator, so the Stop button can end it while it runs; the last thing it yields is the result. A missing
    input is named in the status line (the outputs stay as they are); an attribute uploaded but not yet added to
    the gallery is added first, and the status says so.
    """
    start = time.perf_counter()
    unchanged = (gr.skip(),) * 3
    missing = missing_input(portrait, motion=motion, driver=driver)
    if missing is not None:
        yield (*unchanged, missing, gr.skip(), gr.skip())
        return
    if (blend_first is None) != (blend_second is None):
        raise gr.Error(MESSAGES["blend_incomplete"])
    notes = []
    gallery: tuple[Any, Any] = (gr.skip(), gr.skip())  # the gallery and the session's attributes
    if is_pending(attribute_file, kind, attributes):
        attributes = add_attribute(attribute_file, kind, mask, weight, attributes, work=work)[0]
        gallery = (gallery_value(attributes), attributes)
        notes.append(MESSAGES["added_on_generate"].format(name=Path(attribute_file).name, kind=kind))
    if motion == "video" or is_video_file(portrait):
        progress(0.0, desc="reading the video")
    request = session_request(
        portrait,
        attributes,
        blend_first=blend_first,
        blend_second=blend_second,
        alpha=alpha,
        settings=settings_from(settings),
        driver=driver if motion == "video" else None,
    )
    loaded = time.perf_counter() - start
    work.prune()
    video_portrait = request.portrait_video
    target = work.new_output(".mp4" if request.driver is not None or video_portrait is not None else ".png")
    result = yield from run_stoppable(
        lambda report: generate(request, weights=weights, progress=report, output=target),
        progress=progress,
        show=lambda fraction, message: (*unchanged, progress_line(fraction, message), *gallery),
        unchanged=(*unchanged, gr.skip(), *gallery),
    )
    path = str(result.path)
    status = "\n".join([*notes, status_line(result, timings={"load": loaded}, total=time.perf_counter() - start)])
    # A portrait video's "before" is its first frame with a face: the frame shown beside it is the same one, worn.
    shown = 0 if video_portrait is None else video_portrait.reference_index
    still = result.still if result.frames is not None else frame_at(path, shown)
    video = gr.update(value=path, visible=True) if result.fps is not None else gr.update(value=None, visible=False)
    download = gr.update(value=path, visible=True, label=LABELS["download_video" if result.fps else "download_still"])
    yield before_after(request.portrait, still, work=work), video, download, status, *gallery


def missing_input(portrait: str | None, *, motion: str, driver: str | None) -> str | None:
    """The message naming what a generation still needs (or what is in its way), or None when it has everything."""
    if portrait is None:
        return MESSAGES["need_portrait"]
    if is_video_file(portrait):  # it moves by itself: no driver needed, and one given is a mistake to point out
        return MESSAGES["video_portrait_driver"] if motion == "video" and driver is not None else None
    if motion == "video" and driver is None:
        return MESSAGES["need_driver"]
    return None


def show_video_box(motion: str) -> dict:
    return gr.update(visible=motion == "video")


@user_errors
def start_example(attribute_file: str, kind: str, *, work: WorkDir) -> tuple:
    """An example row replaces the gallery with its attribute and its automatic mask."""
    return add_attribute(attribute_file, kind, None, 1.0, (), work=work)


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
