"""How well automatic hair masks find labelled hair: per image, the share of hair covered, the share of non-hair
left out and the IoU, on a labelled set (``tests/data/hair``: hand-labelled photos and variants made from them by
``scripts/make_hair_benchmark.py``), with a contact sheet to look at.

A label map holds one value per pixel: :data:`HAIR`, :data:`NOT_HAIR`, or :data:`IGNORE` (not scored: the band
along a hand-drawn edge, an ear under wisps). Non-hair is scored around the head only (:func:`scored_region`): far
corners of the frame are easy and would flatter every mask alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from durian_core.errors import DurianInputError
from durian_core.face import regions

LABELLED_SET = Path(__file__).resolve().parent.parent / "tests" / "data" / "hair"
"""The labelled set made by ``scripts/make_hair_benchmark.py`` (in a checkout; pass another folder elsewhere)."""

HAIR, NOT_HAIR, IGNORE = 255, 0, 128
"""Label values (a label map is a grayscale PNG: white hair, black not hair, grey not scored)."""

MaskFunction = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""(image, landmarks) -> float mask in [0, 1] at the image's size."""


@dataclass(frozen=True)
class LabelledImage:
    """One benchmark image: its pixels, its labels and which detected face the labels belong to."""

    name: str
    image: np.ndarray  # RGB uint8
    labels: np.ndarray  # uint8, HAIR / NOT_HAIR / IGNORE
    face: int  # index into detect_faces (largest first)
    tags: tuple[str, ...] = ()  # what makes it hard: "long", "light", "second-person", "busy", ...


@dataclass(frozen=True)
class MaskScore:
    """What a mask got right on one labelled image (pixel shares, 0-1)."""

    hair_covered: float  # labelled hair pixels the mask holds (> 0.5)
    not_hair_left_out: float  # labelled non-hair pixels around the head the mask leaves out
    iou: float  # of mask and hair over the scored pixels around the head
    hair_pixels: int
    not_hair_pixels: int


def load_labelled_set(folder: str | Path) -> list[LabelledImage]:
    """The images listed in ``folder/manifest.json`` with their label maps."""
    from durian_core.media import load_image

    folder = Path(folder)
    if not folder.is_dir():
        raise DurianInputError(f"labelled set not found: '{folder}' is not a folder")
    listing = folder / "manifest.json"
    if not listing.is_file():
        raise DurianInputError(f"'{folder}' has no manifest.json listing its images and label maps")
    try:
        entries = json.loads(listing.read_text(encoding="utf-8"))["images"]
    except (ValueError, KeyError, TypeError) as error:
        raise DurianInputError(f'{listing} is not a labelled set\'s manifest (an "images" list): {error}') from None
    if not entries:
        raise DurianInputError(f"{listing} lists no images")
    items = []
    for entry in entries:
        labels = np.asarray(load_image(folder / entry["labels"]).rgb[..., 0])
        image = load_image(folder / entry["image"]).rgb
        if labels.shape != image.shape[:2]:
            raise ValueError(f"{entry['labels']} is {labels.shape[::-1]} but {entry['image']} is {image.shape[1::-1]}")
        items.append(LabelledImage(entry["name"], image, labels, int(entry["face"]), tuple(entry.get("tags", ()))))
    return items


def scored_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Around the head, where a hair mask can go wrong: one face size beside and above the face's landmarks, two
    below (long hair, shoulders, a neighbour's shirt), cut by the frame (bool H×W)."""
    size = regions.face_size(landmarks)
    low, high = landmarks.min(axis=0), landmarks.max(axis=0)
    x0, y0 = np.floor(low - size).astype(int)
    x1, y1 = int(np.ceil(high[0] + size)), int(np.ceil(high[1] + 2 * size))
    region = np.zeros(shape, bool)
    region[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    return region


def score_mask(mask: np.ndarray, labels: np.ndarray, region: np.ndarray | None = None) -> MaskScore:
    """Coverage of labelled hair, exclusion of labelled non-hair (inside ``region`` when given) and IoU."""
    if mask.shape != labels.shape:
        raise ValueError(f"mask is {mask.shape[::-1]} but the labels are {labels.shape[::-1]}")
    region = np.ones(labels.shape, bool) if region is None else region
    chosen = mask > 0.5
    hair = labels == HAIR
    not_hair = (labels == NOT_HAIR) & region
    covered = float(chosen[hair].mean()) if hair.any() else 1.0
    left_out = float((~chosen[not_hair]).mean()) if not_hair.any() else 1.0
    union = (chosen & (hair | not_hair)) | hair
    iou = float((chosen & hair).sum() / max(union.sum(), 1))
    return MaskScore(covered, left_out, iou, int(hair.sum()), int(not_hair.sum()))


def overall(scores: list[MaskScore]) -> MaskScore:
    """Pooled over images, each weighted equally (a large image does not outvote a small one)."""
    if not scores:
        raise ValueError("no scores to pool")
    return MaskScore(
        float(np.mean([score.hair_covered for score in scores])),
        float(np.mean([score.not_hair_left_out for score in scores])),
        float(np.mean([score.iou for score in scores])),
        sum(score.hair_pixels for score in scores),
        sum(score.not_hair_pixels for score in scores),
    )


def labelled_landmarks(items: list[LabelledImage]) -> list[np.ndarray]:
    """The landmarks of each image's labelled face."""
    from durian_core.face.landmarks import choose_face, detect_faces

    landmarks = []
    for item in items:
        try:
            landmarks.append(choose_face(detect_faces(item.image), item.face))
        except DurianInputError as error:
            raise DurianInputError(f"{item.name}: {error}") from None
    return landmarks


def score_masks(items: list[LabelledImage], landmarks: list[np.ndarray], masks: list[np.ndarray]) -> list[MaskScore]:
    """Each mask's score on its image, non-hair counted around the labelled face (:func:`scored_region`)."""
    return [
        score_mask(mask, item.labels, scored_region(points, item.labels.shape))
        for item, points, mask in zip(items, landmarks, masks)
    ]


def mask_benchmark(items: list[LabelledImage], methods: dict[str, MaskFunction]) -> dict[str, list[MaskScore]]:
    """Every method's score on every image (the same face's landmarks for all methods)."""
    landmarks = labelled_landmarks(items)
    return {
        name: score_masks(items, landmarks, [method(item.image, points) for item, points in zip(items, landmarks)])
        for name, method in methods.items()
    }


def benchmark_sheet(items: list[LabelledImage], masks: dict[str, list[np.ndarray]], *, cell: int = 200) -> np.ndarray:
    """A contact sheet, one row per image: the image, its labels (hair green, not scored grey), then each method's
    mask over the image (RGB uint8)."""
    rows = []
    for index, item in enumerate(items):
        row = [item.image, label_picture(item.image, item.labels)]
        rows.append(row + [overlay(item.image, masks[name][index]) for name in masks])
    return contact_sheet(rows, cell=cell)


def overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with the mask as a magenta layer (RGB uint8)."""
    alpha = 0.6 * np.clip(mask, 0, 1)[..., None]
    tint = np.array([255, 0, 200], np.float32)
    return np.clip(image * (1 - alpha) + tint * alpha + 0.5, 0, 255).astype(np.uint8)


def label_picture(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The labels over a dimmed image: hair green, not scored grey, non-hair the dimmed image (RGB uint8)."""
    out = (image.astype(np.float32) * 0.45).astype(np.uint8)
    out[labels == HAIR] = (40, 220, 60)
    out[labels == IGNORE] = (150, 150, 150)
    return out


def contact_sheet(rows: list[list[np.ndarray]], *, cell: int = 220) -> np.ndarray:
    """Pictures in rows, each scaled to fit a ``cell``-pixel square (RGB uint8)."""
    sheet = np.full((cell * len(rows), cell * max(len(row) for row in rows), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            scale = cell / max(picture.shape[:2])
            small = cv2.resize(picture, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            sheet[r * cell : r * cell + small.shape[0], c * cell : c * cell + small.shape[1]] = small
    return sheet


def format_table(items: list[LabelledImage], results: dict[str, list[MaskScore]]) -> str:
    """A Markdown table: one row per image, hair covered / non-hair left out / IoU (%) per method, then the mean."""
    names = list(results)
    header = "| image | " + " | ".join(f"{name}: hair / not hair / IoU" for name in names) + " |"
    lines = [header, "|---|" + "---|" * len(names)]

    def cells(scores: list[MaskScore], index: int | None) -> str:
        score = overall(scores) if index is None else scores[index]
        return f"{100 * score.hair_covered:.0f} / {100 * score.not_hair_left_out:.0f} / {100 * score.iou:.0f}"

    for index, item in enumerate(items):
        lines.append(f"| {item.name} | " + " | ".join(cells(results[name], index) for name in names) + " |")
    lines.append("| **mean** | " + " | ".join(f"**{cells(results[name], None)}**" for name in names) + " |")
    return "\n".join(lines)


def evaluate_masks(folder: str | Path = LABELLED_SET, *, sheet: str | Path | None = None) -> dict:
    """The automatic hair masks scored on a labelled set, as ``evaluate --masks`` prints them: each image's hair
    covered, non-hair left out and IoU, and their mean; with ``sheet``, a contact sheet (image | labels | mask)
    written there."""
    from durian_core.face.attribute_masks import attribute_mask
    from durian_core.media import write_image

    items = load_labelled_set(folder)
    landmarks = labelled_landmarks(items)
    masks = [attribute_mask(item.image, points, "hair") for item, points in zip(items, landmarks)]
    scores = score_masks(items, landmarks, masks)
    if sheet is not None:
        write_image(benchmark_sheet(items, {"automatic": masks}), sheet)
    return {
        "protocol": "masks",
        "kind": "hair",
        "labelled_set": str(folder),
        "images": {item.name: asdict(score) for item, score in zip(items, scores)},
        "mean": asdict(overall(scores)),
    }
