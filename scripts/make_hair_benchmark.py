"""Make the labelled hair-mask benchmark in tests/data/hair/ from hand-labelled photos and variants of them.

Hand labels (``tests/data/hair/hand/*.json``) are polygons placed by reading each photo at 3-6x: ``hair`` is
hair, ``ignore`` is what could not be told (an ear under wisps, scalp through thin hair); everything else is not
hair. A band of a few pixels along every hand-drawn edge is left unscored, since the drawn line is only that
accurate. The variants carry their labels by construction: a mirror or a crop moves the labels with the pixels,
recoloured hair is recoloured only where it is labelled, a pasted person and a new background are not hair, and
synthetic long hair is labelled where it was drawn. Run from the repository root:
``python scripts/make_hair_benchmark.py`` (about a minute); it rewrites tests/data/hair/*.jpg, *.png and
manifest.json the same way each time.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

from durian_core.face import regions  # noqa: E402
from durian_core.face.landmarks import detect_faces  # noqa: E402
from durian_core.face.masks import person_mask  # noqa: E402
from durian_core.face.matting import _solve_alpha  # noqa: E402
from durian_core.mask_benchmark import HAIR, IGNORE, NOT_HAIR  # noqa: E402
from durian_core.media import load_image, load_video  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "hair"
HAND = OUT / "hand"
JPEG_QUALITY = 90


@dataclass(frozen=True)
class Labelled:
    """An image with its hair labels (:data:`HAIR`, :data:`NOT_HAIR`, :data:`IGNORE` per pixel)."""

    image: np.ndarray
    labels: np.ndarray
    source: str
    how: str


# -------------------------------------------------------------------------------------------------- sources


def _rasterize(polygons: dict, shape: tuple[int, int], band: float) -> np.ndarray:
    """Label map from hand polygons; ``band`` pixels either side of every hair edge are left unscored."""
    hair = np.zeros(shape, np.uint8)
    for points in polygons["hair"]:
        cv2.fillPoly(hair, [np.round(np.array(points) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    labels = np.where(hair > 0, HAIR, NOT_HAIR).astype(np.uint8)
    radius = max(1, int(round(band)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    edge = cv2.dilate(hair, kernel) != cv2.erode(hair, kernel)
    labels[edge] = IGNORE
    for points in polygons["ignore"]:
        ignore = np.zeros(shape, np.uint8)
        cv2.fillPoly(ignore, [np.round(np.array(points) * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        labels[cv2.dilate(ignore, kernel) > 0] = IGNORE
    return labels


def _hand(name: str, image: np.ndarray, source: str, *, band: float = 3.0) -> Labelled:
    polygons = json.loads((HAND / f"{name}.json").read_text())
    return Labelled(image, _rasterize(polygons, image.shape[:2], band), source, "hand-labelled polygons")


def _carphone_frame(index: int) -> np.ndarray:
    return load_video(ROOT / "examples" / "drivers" / "carphone.mp4").frames[index]


def sources() -> dict[str, Labelled]:
    """The hand-labelled photos: the three example portraits, Grace Hopper, and three frames of the carphone clip
    (at 3x, so the face is about 150 px as a phone photo's would be)."""
    portraits = ROOT / "examples" / "portraits"
    found = {
        name: _hand(name, load_image(portraits / f"{name}.jpg").rgb, f"examples/portraits/{name}.jpg")
        for name in ("astronaut", "obama", "biden")
    }
    found["grace"] = _hand("grace", load_image(HAND / "grace_hopper.jpg").rgb, "tests/data/hair/hand/grace_hopper.jpg")
    for index in (0, 45, 90):
        frame = _carphone_frame(index)
        labelled = _hand(f"carphone_{index:03d}", frame, f"examples/drivers/carphone.mp4 frame {index}", band=1.5)
        found[f"carphone_{index:03d}"] = rescale(labelled, 3.0)
    return found


# -------------------------------------------------------------------------------------------------- geometry


def rescale(item: Labelled, factor: float) -> Labelled:
    height, width = item.labels.shape
    size = (round(width * factor), round(height * factor))
    interpolation = cv2.INTER_CUBIC if factor > 1 else cv2.INTER_AREA
    image = cv2.resize(item.image, size, interpolation=interpolation)
    labels = cv2.resize(item.labels, size, interpolation=cv2.INTER_NEAREST)
    return Labelled(image, labels, item.source, f"{item.how}; scaled x{factor:g}")


def mirror(item: Labelled) -> Labelled:
    return Labelled(item.image[:, ::-1].copy(), item.labels[:, ::-1].copy(), item.source, f"{item.how}; mirrored")


def crop_around_face(item: Labelled, *, margin: float, output: int | None = None) -> Labelled:
    """A square crop around the face, ``margin`` face sizes beyond the face's landmarks on every side (cut by the
    image's edges), resized to ``output`` pixels when given."""
    landmarks = _landmarks(item.image)
    size = regions.face_size(landmarks)
    low, high = landmarks.min(axis=0) - margin * size, landmarks.max(axis=0) + margin * size
    centre, half = (low + high) / 2, (high - low).max() / 2
    height, width = item.labels.shape
    x0, y0 = max(0, int(centre[0] - half)), max(0, int(centre[1] - half))
    x1, y1 = min(width, int(centre[0] + half)), min(height, int(centre[1] + half))
    cropped = Labelled(item.image[y0:y1, x0:x1], item.labels[y0:y1, x0:x1], item.source, item.how)
    how = f"{item.how}; cropped {margin:g} face sizes around the face"
    if output is not None:
        cropped = rescale(cropped, output / max(y1 - y0, x1 - x0))
    return Labelled(cropped.image, cropped.labels, item.source, how + (f" to {output} px" if output else ""))


def _landmarks(image: np.ndarray) -> np.ndarray:
    return detect_faces(image)[0]


# -------------------------------------------------------------------------------------------------- mattes


def _matte(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    return np.clip(_solve_alpha(image.astype(np.float64) / 255.0, trimap), 0.0, 1.0).astype(np.float32)


def hair_matte(item: Labelled) -> np.ndarray:
    """Soft opacity of the labelled hair: 1 on hair labels, 0 on non-hair, solved by closed-form matting between."""
    trimap = np.full(item.labels.shape, 0.5)
    trimap[item.labels == HAIR] = 1.0
    trimap[item.labels == NOT_HAIR] = 0.0
    return _matte(item.image, trimap)


def person_matte(item: Labelled) -> np.ndarray:
    """Soft opacity of the person with all their hair (segmentation where sure, the hair labels, matting between)."""
    person = person_mask(item.image)
    trimap = np.full(person.shape, 0.5)
    trimap[person < 0.1] = 0.0
    trimap[(person > 0.9) | (item.labels == HAIR)] = 1.0
    trimap[(item.labels == IGNORE) & (person < 0.5)] = 0.5
    return _matte(item.image, trimap)


# -------------------------------------------------------------------------------------------------- colour


BLONDE = (185.0, 136.0, 160.0)  # OpenCV 8-bit Lab: light golden blonde
PLATINUM = (205.0, 130.0, 143.0)
GINGER = (125.0, 155.0, 165.0)
PALE = (200.0, 135.0, 150.0)  # very light blonde, a few Lab units from fair skin: colour alone cannot tell it


def recolour(item: Labelled, target: tuple[float, float, float], *, name: str) -> Labelled:
    """The hair (and only the hair, by its matte) moved to ``target``'s mean Lab colour, its own shading and strand
    texture kept: lightness contrast is carried over (at least a light hair's contrast), hue variation halved."""
    alpha = hair_matte(item)
    lab = cv2.cvtColor(item.image, cv2.COLOR_RGB2LAB).astype(np.float32)
    hair = lab[item.labels == HAIR]
    mean, spread = hair.mean(axis=0), hair.std(axis=0) + 1e-3
    gain = max(1.0, 22.0 / spread[0])  # dark hair's texture hides in a few levels; blonde shows it
    moved = np.empty_like(lab)
    moved[..., 0] = target[0] + (lab[..., 0] - mean[0]) * gain
    moved[..., 1:] = np.asarray(target[1:], np.float32) + (lab[..., 1:] - mean[1:]) * 0.5
    moved = cv2.cvtColor(np.clip(moved, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    out = item.image * (1.0 - alpha[..., None]) + moved * alpha[..., None]
    return Labelled(np.clip(out + 0.5, 0, 255).astype(np.uint8), item.labels, item.source, f"{item.how}; {name}")


# -------------------------------------------------------------------------------------------------- composites


def _tile(texture: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``texture`` repeated (mirrored at each seam, so no edge shows) to fill ``shape``."""
    rows = -(-shape[0] // texture.shape[0]) + 1
    cols = -(-shape[1] // texture.shape[1]) + 1
    flipped = [texture, texture[:, ::-1]]
    strip = np.concatenate([flipped[i % 2] for i in range(cols)], axis=1)
    stacked = np.concatenate([strip if i % 2 == 0 else strip[::-1] for i in range(rows)], axis=0)
    return stacked[: shape[0], : shape[1]]


def busy_background(item: Labelled, texture: np.ndarray, *, name: str) -> Labelled:
    """The person (matted with all their hair) in front of ``texture`` tiled over the whole frame."""
    alpha = person_matte(item)[..., None]
    backdrop = _tile(texture, item.labels.shape).astype(np.float32)
    out = item.image * alpha + backdrop * (1.0 - alpha)
    return Labelled(np.clip(out + 0.5, 0, 255).astype(np.uint8), item.labels, item.source, f"{item.how}; {name}")


def second_person(
    item: Labelled, other: Labelled, *, side: int, scale: float, name: str, apart: float = 1.35, lower: float = 0.1
) -> Labelled:
    """``other`` (matted, hair and all) standing behind and beside ``item``'s person; its pixels are not hair.

    ``side`` is -1 (left) or +1 (right); ``scale`` is the other face's size over this one's; ``apart`` and ``lower``
    place the other face's centre, in this face's sizes."""
    ours, theirs = _landmarks(item.image), _landmarks(other.image)
    factor = scale * regions.face_size(ours) / regions.face_size(theirs)
    other = rescale(other, factor)
    alpha_other = person_matte(other)
    centre_ours = regions.face_center(ours)
    centre_theirs = regions.face_center(theirs) * factor
    shift = centre_ours + np.array([side * apart, lower]) * regions.face_size(ours)
    offset = np.round(shift - centre_theirs).astype(int)
    height, width = item.labels.shape
    placed = np.zeros((height, width, 3), np.float32)
    placed_alpha = np.zeros((height, width), np.float32)
    oy, ox = offset[1], offset[0]
    sy0, sx0 = max(0, -oy), max(0, -ox)
    dy0, dx0 = max(0, oy), max(0, ox)
    dy1, dx1 = min(height, oy + other.labels.shape[0]), min(width, ox + other.labels.shape[1])
    placed[dy0:dy1, dx0:dx1] = other.image[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    placed_alpha[dy0:dy1, dx0:dx1] = alpha_other[sy0 : sy0 + dy1 - dy0, sx0 : sx0 + dx1 - dx0]
    alpha_ours = person_matte(item)
    behind = item.image * (1.0 - placed_alpha[..., None]) + placed * placed_alpha[..., None]
    out = behind * (1.0 - alpha_ours[..., None]) + item.image * alpha_ours[..., None]
    labels = item.labels.copy()
    visible = placed_alpha * (1.0 - alpha_ours)
    labels[(visible > 0.5) & (item.labels != HAIR)] = NOT_HAIR
    labels[(visible > 0.2) & (visible <= 0.5) & (item.labels == NOT_HAIR)] = IGNORE
    how = f"{item.how}; {name} pasted behind, beside (its pixels not hair)"
    return Labelled(np.clip(out + 0.5, 0, 255).astype(np.uint8), labels, item.source, how)


# -------------------------------------------------------------------------------------------------- long hair


def _streaks(shape: tuple[int, int], rng: np.random.Generator, *, across: float, along: float) -> np.ndarray:
    """Zero-mean unit-spread noise stretched downwards: strands ``across`` pixels wide, ``along`` long."""
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=across, sigmaY=along)
    return (noise - noise.mean()) / (noise.std() + 1e-6)


def _side_of_face(landmarks: np.ndarray, y: np.ndarray, side: int) -> np.ndarray:
    """The x of the face's outline on one side (-1 image left, +1 image right) at each row ``y``."""
    oval = landmarks[list(regions.FACE_OVAL)]
    centre = oval[:, 0].mean()
    half = oval[(oval[:, 0] - centre) * side > 0]
    order = np.argsort(half[:, 1])
    return np.interp(y, half[order, 1], half[order, 0])


def long_hair(item: Labelled, *, length: float, seed: int, name: str = "long straight hair") -> Labelled:
    """Straight hair hanging from the sides of the head past the jaw to ``length`` face sizes below the chin.

    Drawn strand by strand: noise stretched downwards, coloured with the person's own hair colours (mean, spread,
    shading), the inner edge along the cheek then straight down from the jaw's corner, the outer edge from the
    hair's widest point flaring a little, and a ragged lower edge of tapering tips. The top fades into the real
    side hair so the strands hang from it. Labelled hair where its opacity is over 0.6."""
    rng = np.random.default_rng(seed)
    image, labels = item.image.astype(np.float32), item.labels.copy()
    height, width = labels.shape
    landmarks = _landmarks(item.image)
    size = regions.face_size(landmarks)
    lab = cv2.cvtColor(item.image, cv2.COLOR_RGB2LAB).astype(np.float32)
    core = cv2.erode((labels == HAIR).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    hair_lab = lab[core]
    mean, spread = hair_lab.mean(axis=0), hair_lab.std(axis=0)
    top = float(landmarks[[regions.RIGHT_EYE_OUTER, regions.LEFT_EYE_OUTER], 1].mean())
    jaw_corner = float(landmarks[[172, 397], 1].mean())
    chin = float(landmarks[regions.CHIN, 1])
    ys = np.arange(height, dtype=np.float32)
    xs = np.arange(width, dtype=np.float32)
    fine = _streaks((height, width), rng, across=0.6 * size / 150, along=0.12 * size)
    coarse = _streaks((height, width), rng, across=2.5 * size / 150, along=0.3 * size)
    alpha = np.zeros((height, width), np.float32)
    shade = np.zeros((height, width), np.float32)
    hair_rows = labels == HAIR
    for side in (-1, 1):
        inner = _side_of_face(landmarks, np.minimum(ys, jaw_corner), side) + side * 0.01 * size
        # The widest the real hair reaches at eye level on this side is where the curtain's outer edge starts.
        row = hair_rows[int(top)]
        candidates = np.nonzero(row & ((xs - inner[int(top)]) * side > 0))[0]
        start = candidates.max() if side > 0 and len(candidates) else candidates.min() if len(candidates) else 0
        start = start if len(candidates) else inner[int(top)] + side * 0.2 * size
        drop = np.clip((ys - top) / (chin + length * size - top), 0, 1)
        # Over the shoulders the hair spreads outwards.
        outer = start + side * 0.3 * size * drop**0.8
        # Each column's strands end at their own length: a smooth wave plus per-strand jitter.
        wave = cv2.GaussianBlur(rng.standard_normal((1, width)).astype(np.float32), (0, 0), 0.15 * size)[0]
        wave = wave / (np.abs(wave).max() + 1e-6)
        jitter = cv2.GaussianBlur(rng.standard_normal((1, width)).astype(np.float32), (0, 0), 1.0)[0]
        bottom = chin + length * size + 0.1 * size * wave + 0.03 * size * jitter / (jitter.std() + 1e-6)
        lo, hi = np.minimum(inner[:, None], outer[:, None]), np.maximum(inner[:, None], outer[:, None])
        # Wisps at the sides: the edge moves with the coarse strands.
        wisp = 0.02 * size * coarse
        across = np.clip(np.minimum(xs[None, :] - lo - wisp, hi + wisp - xs[None, :]) / (0.01 * size) + 0.5, 0, 1)
        tips = np.clip((bottom[None, :] - ys[:, None]) / (0.08 * size), 0, 1)
        fade_in = np.clip((ys[:, None] - top + 0.3 * size) / (0.2 * size), 0, 1)
        side_alpha = across * tips * fade_in
        u = np.clip((xs[None, :] - inner[:, None]) / (outer[:, None] - inner[:, None] + 1e-6), 0, 1)
        sheen = np.exp(-(((ys - (jaw_corner + 0.2 * size)) / (0.15 * size)) ** 2))[:, None]
        side_shade = -0.5 * (1.0 - np.sin(np.pi * (0.15 + 0.7 * u))) - 0.3 * drop[:, None] + 0.6 * sheen
        take = side_alpha > alpha
        alpha[take], shade[take] = side_alpha[take], side_shade[take]
    # Thinning tips: a tip's opacity falls with the fine noise too, so the lower edge is strands, not a cut.
    alpha *= np.clip(1.0 + 0.35 * fine * (alpha < 0.9), 0, 1)
    drawn = np.empty((height, width, 3), np.float32)
    drawn[..., 0] = mean[0] + spread[0] * (0.35 * fine + 0.45 * coarse + shade)
    drawn[..., 1] = mean[1] + 0.4 * spread[1] * coarse
    drawn[..., 2] = mean[2] + 0.4 * spread[2] * coarse + 0.3 * spread[2] * fine
    drawn = cv2.cvtColor(np.clip(drawn, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)
    # The real hair stays on top above the eyes; below, it turns into the new strands over a third of a face size,
    # so no bob's edge shows across them.
    real = (labels == HAIR).astype(np.float32)
    above = np.clip((top + 0.15 * size - ys) / (0.3 * size), 0, 1)[:, None]
    alpha = alpha * (1.0 - cv2.GaussianBlur(real, (0, 0), 0.01 * size) * above)
    out = image * (1.0 - alpha[..., None]) + drawn * alpha[..., None]
    labels[(alpha > 0.6)] = HAIR
    labels[(alpha > 0.2) & (alpha <= 0.6) & (labels == NOT_HAIR)] = IGNORE
    how = f"{item.how}; {name} drawn to {length:g} face sizes below the chin (labelled as drawn)"
    return Labelled(np.clip(out + 0.5, 0, 255).astype(np.uint8), labels, item.source, how)


# -------------------------------------------------------------------------------------------------- a bun


def with_headroom(item: Labelled, rows: int) -> Labelled:
    """The photo scaled down to leave ``rows`` of room above it, filled by inpainting from the backdrop (not hair)."""
    height, width = item.labels.shape
    scale = (height - rows) / height
    small = rescale(item, scale)
    image = np.zeros((height, width, 3), np.uint8)
    labels = np.full((height, width), NOT_HAIR, np.uint8)
    x0 = (width - small.labels.shape[1]) // 2
    image[rows:, x0 : x0 + small.labels.shape[1]] = small.image[: height - rows]
    labels[rows:, x0 : x0 + small.labels.shape[1]] = small.labels[: height - rows]
    hole = np.zeros((height, width), np.uint8)
    hole[:rows] = 255
    hole[:, :x0] = 255
    hole[:, x0 + small.labels.shape[1] :] = 255
    image = cv2.inpaint(image, hole, 5, cv2.INPAINT_TELEA)
    return Labelled(image, labels, item.source, f"{item.how}; scaled x{scale:.2f} under {rows} rows of backdrop")


def bun(item: Labelled, *, seed: int) -> Labelled:
    """A bun of the person's own hair on top of the crown (an updo): a patch of the hair's texture, turned and tiled
    into an ellipse about half a face size wide, shaded round, its edge a little wispy. Labelled hair where its
    opacity is over 0.6."""
    rng = np.random.default_rng(seed)
    landmarks = _landmarks(item.image)
    size = regions.face_size(landmarks)
    height, width = item.labels.shape
    hair = np.argwhere(item.labels == HAIR)
    top = hair[:, 0].min()
    centre = np.array([regions.face_center(landmarks)[0], top - 0.12 * size])
    axes = np.array([0.3 * size, 0.2 * size])
    # A square wholly inside the hair above the forehead is the texture, mirrored into a tile.
    side = max(6, int(0.08 * size))
    inside = cv2.erode((item.labels == HAIR).astype(np.uint8), np.ones((side + 2, side + 2), np.uint8)) > 0
    ys, xs = np.nonzero(inside[: int(landmarks[regions.FOREHEAD_TOP, 1])])
    pick = rng.integers(len(ys))
    y0, x0 = int(ys[pick] - side // 2), int(xs[pick] - side // 2)
    texture = _tile(np.rot90(item.image[y0 : y0 + side, x0 : x0 + side]), (height, width)).astype(np.float32)
    rows, columns = np.mgrid[:height, :width].astype(np.float32)
    radius = np.hypot((columns - centre[0]) / axes[0], (rows - centre[1]) / axes[1])
    wobble = cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 0.03 * size)
    wobble /= np.abs(wobble).max() + 1e-6
    alpha = np.clip((1.0 - radius + 0.08 * wobble) / 0.08, 0, 1)
    shade = 1.0 - 0.35 * np.clip(radius, 0, 1) ** 2  # darker towards its rim, as a round lock is
    out = item.image * (1 - alpha[..., None]) + texture * shade[..., None] * alpha[..., None]
    labels = item.labels.copy()
    labels[alpha > 0.6] = HAIR
    labels[(alpha > 0.2) & (alpha <= 0.6) & (labels == NOT_HAIR)] = IGNORE
    return Labelled(
        np.clip(out + 0.5, 0, 255).astype(np.uint8), labels, item.source, f"{item.how}; a bun drawn on top"
    )


# -------------------------------------------------------------------------------------------------- the set


def _texture(name: str, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return load_image(ROOT / "examples" / "portraits" / f"{name}.jpg").rgb[y0:y1, x0:x1]


def variants(found: dict[str, Labelled]) -> dict[str, tuple[Labelled, tuple[str, ...]]]:
    """Every benchmark image with its tags (what makes it hard), real photos first."""
    drapes = _texture("biden", (0, 0, 130, 400))  # yellow and blue drapes in folds: strong oriented texture
    curtain = _texture("obama", (395, 0, 512, 330))  # red curtain folds and a window
    astronaut, obama, biden = found["astronaut"], found["obama"], found["biden"]
    blonde = recolour(astronaut, BLONDE, name="hair recoloured light blonde")
    long = long_hair(astronaut, length=1.1, seed=1)
    out: dict[str, tuple[Labelled, tuple[str, ...]]] = {
        name: (item, ("photo",) + (("light",) if name in ("biden", "grace") else ())) for name, item in found.items()
    }
    out.update(
        {
            "astronaut_mirror": (mirror(astronaut), ("mirror",)),
            "obama_tight": (crop_around_face(obama, margin=0.2, output=384), ("tight",)),
            "biden_small": (rescale(biden, 0.6), ("small",)),
            "astronaut_large": (crop_around_face(astronaut, margin=0.45, output=512), ("large",)),
            "grace_mirror_tight": (crop_around_face(mirror(found["grace"]), margin=0.3), ("mirror", "tight", "light")),
            "astronaut_blonde": (blonde, ("light",)),
            "astronaut_pale": (recolour(astronaut, PALE, name="hair recoloured very light blonde"), ("light",)),
            "carphone_090_blonde": (
                recolour(found["carphone_090"], BLONDE, name="hair recoloured blonde"),
                ("light",),
            ),
            "obama_platinum": (recolour(obama, PLATINUM, name="hair recoloured platinum"), ("light",)),
            "carphone_045_ginger": (recolour(found["carphone_045"], GINGER, name="hair recoloured ginger"), ()),
            "astronaut_blonde_beside_obama": (
                second_person(blonde, obama, side=1, scale=1.1, name="Obama", apart=1.05, lower=0.45),
                ("light", "second-person"),
            ),
            "astronaut_beside_biden": (
                second_person(astronaut, biden, side=-1, scale=1.0, name="Biden"),
                ("second-person",),
            ),
            "carphone_000_beside_astronaut": (
                second_person(found["carphone_000"], astronaut, side=1, scale=0.9, name="the astronaut"),
                ("second-person",),
            ),
            "astronaut_busy": (busy_background(astronaut, curtain, name="red curtain backdrop"), ("busy",)),
            "obama_busy": (busy_background(obama, drapes, name="yellow-blue drapes backdrop"), ("busy",)),
            "astronaut_long": (long, ("long",)),
            "astronaut_long_blonde": (recolour(long, BLONDE, name="hair recoloured light blonde"), ("long", "light")),
            "carphone_000_long": (long_hair(found["carphone_000"], length=0.9, seed=2), ("long",)),
            "obama_bun": (bun(with_headroom(obama, 110), seed=3), ("updo",)),
        }
    )
    return out


def _face_index(image: np.ndarray, expected: np.ndarray) -> int:
    """Which detected face (largest first) is the one whose centre is nearest ``expected``."""
    faces = detect_faces(image)
    distances = [np.linalg.norm(regions.face_center(face) - expected) for face in faces]
    return int(np.argmin(distances))


def _write_jpeg(image: np.ndarray, path: Path) -> None:
    Image.fromarray(image).save(path, format="JPEG", quality=JPEG_QUALITY)


def main() -> None:
    found = sources()
    for stale in [*OUT.glob("*.jpg"), *OUT.glob("*.labels.png")]:
        stale.unlink()
    entries = []
    for name, (item, tags) in variants(found).items():
        # Composites keep the labelled face where it was; the face found nearest its own place is the labelled one.
        expected = regions.face_center(_landmarks_of_labelled(item))
        _write_jpeg(item.image, OUT / f"{name}.jpg")
        Image.fromarray(item.labels).save(OUT / f"{name}.labels.png", optimize=True)
        entries.append(
            {
                "name": name,
                "image": f"{name}.jpg",
                "labels": f"{name}.labels.png",
                "face": _face_index(item.image, expected),
                "tags": list(tags),
                "source": item.source,
                "how": item.how,
            }
        )
        sys.stdout.write(f"{name}: {item.image.shape[1]}x{item.image.shape[0]}, face {entries[-1]['face']}\n")
    (OUT / "manifest.json").write_text(json.dumps({"images": entries}, indent=1) + "\n")


def _landmarks_of_labelled(item: Labelled) -> np.ndarray:
    """The landmarks of the face the hair labels surround: the face whose centre is nearest the labelled hair's."""
    hair = np.argwhere(item.labels == HAIR)[:, ::-1].mean(axis=0)
    faces = detect_faces(item.image)
    return min(faces, key=lambda face: np.linalg.norm(regions.face_center(face) - hair))


if __name__ == "__main__":
    main()
