"""How transfer quality is measured, as the paper measures it, for either engine.

* **Self-reenactment**: animate a video's first frame with the video's own motion and compare with the real frames;
  baseline: the first frame repeated (doing nothing).
* **Self-reconstruction** (the paper's protocol): from one real video take a portrait frame and an attribute frame;
  the portrait input is the portrait frame with its expanded attribute mask removed (``I_port ⊙ (1 − M_port)``,
  the hole filled by the editor's own fill), the attribute input is the attribute frame cut out
  (``I_attr ⊙ M_attr``), the motion is the video's own; every frame is reconstructed and compared with the real
  one. Baseline: the same filled portrait with no attribute ("no transfer").
* **Cross-identity grid**: every example portrait wearing every example attribute, as stills: identity distance of
  the output to its portrait, colour distance of the transferred attribute to the attribute, and a contact sheet.

Both video protocols report L1, PSNR and SSIM on three regions: the full frame, the *head* (the real frame's face
oval ∪ hair) and the *attribute* (the real frame's mask of the attribute kind). The bundled clip's camera moves,
so full-frame figures say more about the background than about the face.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from durian_core.cache import FeatureCache
from durian_core.config import GenerationSettings
from durian_core.engines.base import Engine
from durian_core.face.attribute_masks import attribute_mask
from durian_core.face.masks import expand_mask, face_oval
from durian_core.face.motion import retarget_motion
from durian_core.face.tracking import track_landmarks
from durian_core.metrics import colour_distance, identity_available, identity_distance, video_metrics
from durian_core.types import DrivingVideo, PreparedInputs

PORTRAIT_FRAME = 0
"""The self-reconstruction portrait is the video's first frame (the motion is relative to it)."""


def attribute_frame(count: int) -> int:
    """The self-reconstruction attribute frame: the middle of the clip, far from the portrait frame."""
    return count // 2


IDENTITY_EVERY = 10  # frames between identity measurements (a dlib embedding takes ~0.1 s)


# -------------------------------------------------------------------------------------------------- regions


def frame_regions(frames: np.ndarray, tracks: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Per real frame: the head (face oval ∪ hair) and the attribute region of ``kind``, as F×H×W bool."""
    shape = frames.shape[1:3]
    heads, attributes = [], []
    for frame, landmarks in zip(frames, tracks):
        hair = attribute_mask(frame, landmarks, "hair")
        face = face_oval(landmarks, shape)
        heads.append(np.maximum(face, hair) > 0.5)
        region = hair if kind == "hair" else attribute_mask(frame, landmarks, kind)
        attributes.append(region > 0.5)
    return np.stack(heads), np.stack(attributes)


def region_metrics(predicted: np.ndarray, real: np.ndarray, head: np.ndarray, attribute: np.ndarray) -> dict:
    """L1, PSNR and SSIM on the full frames, the head regions and the attribute regions."""
    return {
        "full": video_metrics(predicted, real),
        "head": video_metrics(predicted, real, masks=head),
        "attribute": video_metrics(predicted, real, masks=attribute),
    }


def mean_identity_distance(predicted: np.ndarray, real: np.ndarray) -> float | None:
    """Mean dlib identity distance of output frames to the real ones (every ``IDENTITY_EVERY``-th frame)."""
    if not identity_available():
        return None
    distances = [identity_distance(a, b) for a, b in zip(predicted[::IDENTITY_EVERY], real[::IDENTITY_EVERY])]
    found = [distance for distance in distances if distance is not None]
    return float(np.mean(found)) if found else None


def _video_frames(video: str | Path | DrivingVideo, max_seconds: float) -> DrivingVideo:
    from durian_core.media import load_video

    return video if isinstance(video, DrivingVideo) else load_video(video, max_seconds=max_seconds)


def _even(frames: np.ndarray) -> np.ndarray:
    """Frames cut to even sides, as the engines' outputs are (H.264 needs them)."""
    height, width = frames.shape[1:3]
    return frames[:, : height // 2 * 2, : width // 2 * 2]


def _matching(predicted: np.ndarray, real: np.ndarray) -> np.ndarray:
    if predicted.shape == real.shape:
        return predicted
    size = real.shape[2:0:-1]
    return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in predicted])


# -------------------------------------------------------------------------------------------------- protocols


def self_reenactment(
    video: str | Path | DrivingVideo,
    *,
    engine: str = "classical",
    weights: str | None = None,
    max_seconds: float = 20.0,
    kind: str = "hair",
) -> dict:
    """Metrics of the engine and of the do-nothing baseline; frames compared at the video's own size."""
    from durian_core.api import build_request, generate

    driver = _video_frames(video, max_seconds)
    real = _even(driver.frames)
    # Keep the video's own resolution so the comparison involves no resampling of the real frames.
    size = max(64, max(real.shape[1:3]))
    settings = GenerationSettings(engine=engine, output_size=size, max_seconds=max_seconds)
    result = generate(build_request(driver.frames[0], (), driver=driver, settings=settings), weights=weights)
    predicted = _matching(result.frames, real)
    baseline = np.repeat(real[:1], len(real), axis=0)
    tracks = track_landmarks(real)
    head, attribute = frame_regions(real, tracks, kind)
    # Frame 0 is the input itself: leave it out of both scores.
    return {
        "protocol": "reenactment",
        "video": str(video) if not isinstance(video, DrivingVideo) else "<frames>",
        "frames": int(len(real) - 1),
        "engine": result.engine,
        "kind": kind,
        "engine_metrics": region_metrics(predicted[1:], real[1:], head[1:], attribute[1:]),
        "baseline_metrics": region_metrics(baseline[1:], real[1:], head[1:], attribute[1:]),
        "identity_distance": mean_identity_distance(predicted[1:], real[1:]),
    }


def reconstruction_inputs(frames: np.ndarray, tracks: np.ndarray, kind: str, *, cache: FeatureCache) -> PreparedInputs:
    """The self-reconstruction inputs of one video: the masked, filled portrait frame, the cut-out attribute frame
    and the video's own motion (see the module docstring for the protocol)."""
    from durian_core.face.fill import fill_hole
    from durian_core.prepare import align_attribute

    portrait_index, attribute_index = PORTRAIT_FRAME, attribute_frame(len(frames))
    portrait, landmarks = frames[portrait_index], tracks[portrait_index]
    own = attribute_mask(portrait, landmarks, kind)
    removed = expand_mask(own, landmarks)  # M_port: the attribute region grown along the face
    masked = np.clip(np.rint(portrait * (1.0 - removed[..., None])), 0, 255).astype(np.uint8)
    filled = fill_hole(masked, removed, landmarks)
    source = frames[attribute_index]
    region = attribute_mask(source, tracks[attribute_index], kind)  # M_attr
    cut_out = np.clip(np.rint(source * region[..., None]), 0, 255).astype(np.uint8)
    attribute = align_attribute(
        cut_out, tracks[attribute_index], region, kind, portrait=filled, portrait_landmarks=landmarks, cache=cache
    )
    return PreparedInputs(
        portrait=filled,
        portrait_landmarks=landmarks,
        portrait_masks={kind: removed},
        attributes=(attribute,),
        interpolation=None,
        motion=retarget_motion(landmarks, tracks),
        fps=None,
        audio_path=None,
    )


def self_reconstruction(
    video: str | Path | DrivingVideo,
    *,
    kind: str = "hair",
    engine: str | Engine = "classical",
    weights: str | None = None,
    max_seconds: float = 20.0,
) -> dict:
    """The paper's self-reconstruction protocol on one video, for one attribute kind, beside no transfer.

    ``engine`` is an engine name (``auto``, ``classical``, ``durian``) or an :class:`Engine` object.
    """
    from durian_core.api import choose_engine, load_engine

    driver = _video_frames(video, max_seconds)
    real = _even(driver.frames)
    tracks = track_landmarks(real)
    cache = FeatureCache(256 << 20)
    prepared = reconstruction_inputs(real, tracks, kind, cache=cache)
    prepared = replace(prepared, fps=driver.fps)
    chosen = engine if isinstance(engine, Engine) else load_engine(choose_engine(engine, weights=weights))
    settings = GenerationSettings(output_size=max(real.shape[1:3]))
    frames, _ = chosen.generate(prepared, settings, cache=cache)
    # No transfer: the same filled portrait and motion, the attribute at zero weight.
    without = replace(prepared, attributes=tuple(replace(a, weight=0.0) for a in prepared.attributes))
    baseline, _ = chosen.generate(without, settings, cache=cache)
    predicted, baseline = _matching(frames, real), _matching(baseline, real)
    head, attribute = frame_regions(real, tracks, kind)
    compared = np.arange(len(real)) != PORTRAIT_FRAME
    return {
        "protocol": "reconstruction",
        "video": str(video) if not isinstance(video, DrivingVideo) else "<frames>",
        "frames": int(compared.sum()),
        "engine": chosen.name,
        "kind": kind,
        "portrait_frame": PORTRAIT_FRAME,
        "attribute_frame": attribute_frame(len(real)),
        "engine_metrics": region_metrics(predicted[compared], real[compared], head[compared], attribute[compared]),
        "baseline_metrics": region_metrics(baseline[compared], real[compared], head[compared], attribute[compared]),
        "identity_distance": mean_identity_distance(predicted[compared], real[compared]),
    }


# ------------------------------------------------------------------------------------------------------ grid

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


REAL_ATTRIBUTES = {"glasses_hopper": ("grace_hopper.jpg", "glasses"), "hat_hopper": ("grace_hopper.jpg", "hat")}
"""Attributes taken from a real photo in examples/attributes/ (one photo may give several kinds)."""


def example_grid_inputs() -> tuple[dict[str, Path], dict[str, tuple[Path, str]]]:
    """The example portraits, and the example attributes (hair from each portrait, the drawn ones, those of the
    real photo) with kinds."""
    portraits = {path.stem: path for path in sorted((EXAMPLES / "portraits").glob("*.jpg"))}
    attributes = {f"hair_{name}": (path, "hair") for name, path in portraits.items()}
    for path in sorted((EXAMPLES / "attributes").glob("*.png")):
        if path.stem.endswith("_mask"):  # a brushed mask for an attribute (the README's --mask example), not one
            continue
        attributes[path.stem] = (path, path.stem.split("_")[0])
    for name, (file, kind) in REAL_ATTRIBUTES.items():
        if (EXAMPLES / "attributes" / file).exists():
            attributes[name] = (EXAMPLES / "attributes" / file, kind)
    return portraits, attributes


def cross_identity_grid(
    *,
    engine: str = "classical",
    weights: str | None = None,
    size: int = 512,
    sheet: str | Path | None = None,
    portraits: dict[str, Path] | None = None,
    attributes: dict[str, tuple[Path, str]] | None = None,
) -> dict:
    """Every portrait wearing every attribute (a still each): identity distance to the portrait, attribute colour
    distance, and (with ``sheet``) a contact sheet PNG: portraits down, attributes across.

    Each cell also carries its attribute's *wearer distance*: the identity distance between the attribute image and
    the bare portrait of the person wearing it, when that person is one of the portraits (``glasses_obama`` is worn
    by ``obama``). That is what the attribute itself does to the embedding on its own wearer, a perfect edit: a cell
    above it is the editor's doing, a cell below it is the attribute's.
    """
    from durian_core.api import build_request, generate, load_attribute
    from durian_core.media import load_image, write_image
    from durian_core.prepare import prepare_inputs

    default_portraits, default_attributes = example_grid_inputs()
    portraits = portraits or default_portraits
    attributes = attributes or default_attributes
    settings = GenerationSettings(engine=engine, output_size=size)
    cache = FeatureCache(512 << 20)
    cells, outputs = [], {}
    wearers = wearer_distances(portraits, attributes) if identity_available() else {}
    for portrait_name, portrait_path in portraits.items():
        for attribute_name, (attribute_path, kind) in attributes.items():
            reference = load_attribute(attribute_path, kind)
            request = build_request(portrait_path, [reference], settings=settings)
            result = generate(request, cache=cache, weights=weights)
            prepared = prepare_inputs(request, cache=cache)
            layer = prepared.attributes[0]
            still = result.still
            outputs[portrait_name, attribute_name] = still
            work = prepared.placement.cut(still) if prepared.placement is not None else still
            distance = colour_distance(work, layer.aligned_mask, layer.image, layer.mask)
            cells.append(
                {
                    "portrait": portrait_name,
                    "attribute": attribute_name,
                    "kind": kind,
                    "identity_distance": identity_distance(still, prepared.full_portrait)
                    if identity_available()
                    else None,
                    "wearer_identity_distance": wearers.get(attribute_name),
                    "colour_distance": distance["histogram"],
                    "colour_delta_e": distance["delta_e"],
                }
            )
    report = {"engine": result.engine, "size": size, "cells": cells, "summary": grid_summary(cells)}
    if sheet is not None:
        images = {name: load_image(path).rgb for name, path in portraits.items()}
        heads = {name: load_image(path).rgb for name, (path, _) in attributes.items()}
        write_image(contact_sheet(images, heads, outputs), sheet)
        report["sheet"] = str(sheet)
    return report


def wearer_distances(portraits: dict[str, Path], attributes: dict[str, tuple[Path, str]]) -> dict[str, float]:
    """Per attribute named ``<kind>_<person>`` whose person is one of the portraits: the identity distance of the
    attribute image to that person's bare portrait (0 for a portrait's own hair: the same image)."""
    from durian_core.media import load_image

    distances = {}
    for name, (path, _) in attributes.items():
        wearer = name.split("_", 1)[-1]
        if wearer in portraits:
            distance = identity_distance(load_image(path).rgb, load_image(portraits[wearer]).rgb)
            if distance is not None:
                distances[name] = distance
    return distances


IDENTITY_BAR = 0.3  # the grid's goal per cell; dlib's own same-person line is 0.6


def grid_summary(cells: list[dict]) -> dict:
    identity = [cell["identity_distance"] for cell in cells if cell["identity_distance"] is not None]
    colour = [cell["colour_distance"] for cell in cells]
    over = [cell for cell in cells if (cell["identity_distance"] or 0.0) >= IDENTITY_BAR]
    return {
        "cells": len(cells),
        "identity_distance_max": max(identity) if identity else None,
        "identity_distance_mean": float(np.mean(identity)) if identity else None,
        "identity_not_found": len(cells) - len(identity),
        # Cells at or over the bar, and those of them whose attribute moves its own wearer less (the editor's part).
        "identity_over_bar": len(over),
        "identity_over_bar_and_wearer": sum(
            cell["identity_distance"] > (cell.get("wearer_identity_distance") or 0.0) for cell in over
        ),
        "colour_distance_mean": float(np.mean(colour)) if colour else math.nan,
    }


def contact_sheet(
    portraits: dict[str, np.ndarray],
    attributes: dict[str, np.ndarray],
    outputs: dict[tuple[str, str], np.ndarray],
    *,
    tile: int = 256,
) -> np.ndarray:
    """A grid to look at: the attribute images across the top, the portraits down the left, each edit at their
    crossing, every image fitted into a ``tile``² square."""

    def fit(image: np.ndarray) -> np.ndarray:
        scale = tile / max(image.shape[:2])
        resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), cv2.INTER_AREA)
        canvas = np.full((tile, tile, 3), 255, np.uint8)
        top, left = (tile - resized.shape[0]) // 2, (tile - resized.shape[1]) // 2
        canvas[top : top + resized.shape[0], left : left + resized.shape[1]] = resized
        return canvas

    blank = np.full((tile, tile, 3), 255, np.uint8)
    rows = [np.concatenate([blank] + [fit(image) for image in attributes.values()], axis=1)]
    for portrait_name, portrait in portraits.items():
        row = [fit(portrait)] + [fit(outputs[portrait_name, name]) for name in attributes]
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
