"""Region masks from landmarks and person segmentation: the drawing primitives, the hair mask, and the user's brush.

No hair or face-parsing model works offline, so hair comes from a classifier trained on the image's own sure pixels
on the person (MediaPipe selfie segmentation), around the head and never the face below the brows. The other kinds'
masks, and :func:`~durian_core.face.attribute_masks.attribute_mask` choosing among them, are in
:mod:`durian_core.face.attribute_masks`. Here also: the skin and the features that carry identity, as regions, and
a mask's growth for training. Masks are float32 H×W in [0, 1]. A user's brush (a mask image) adds to or replaces
the automatic mask.
"""

from __future__ import annotations

import cv2
import numpy as np

from durian_core.face import hair, regions
from durian_core.face.blocks import deblocked
from durian_core.face.graphs import GraphPool
from durian_core.face.matting import alpha_matte, grabcut_refine, keep_connected, trimap


def _segmenter():
    import mediapipe as mp

    # The general model (256²) keeps the hair outline better than the landscape one.
    return mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)


_segmenters = GraphPool(_segmenter)  # shared by every thread, one call at a time


def person_mask(image: np.ndarray) -> np.ndarray:
    """Soft person (foreground) mask of an RGB image."""
    with _segmenters.checkout() as segmenter:
        # On a blocky (heavily compressed) picture the block edges can hide the person from the model entirely.
        result = segmenter.process(np.ascontiguousarray(deblocked(image)))
        # Copied before the graph goes back: the next call's output may reuse the buffer.
        return np.clip(result.segmentation_mask.astype(np.float32), 0.0, 1.0)


def fill_polygons(shape: tuple[int, int], polygons: list[np.ndarray]) -> np.ndarray:
    """Anti-aliased fill of pixel-space polygons (N×2 float arrays) into a float32 mask."""
    canvas = np.zeros(shape, np.uint8)
    for points in polygons:
        cv2.fillPoly(canvas, [np.round(np.asarray(points) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) / 255.0


def _hull(points: np.ndarray) -> np.ndarray:
    return cv2.convexHull(points.astype(np.float32)).reshape(-1, 2)


def _grow(mask: np.ndarray, radius: float) -> np.ndarray:
    radius = int(round(radius))
    if radius < 1:
        return mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask, kernel)


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """Soften a mask's edge over about ``radius`` pixels."""
    if radius < 0.5:
        return mask
    size = int(2 * round(radius) + 1)
    return cv2.GaussianBlur(mask, (size, size), radius / 2)


def face_oval(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The face inside the landmarks' outline (float32 H×W, antialiased edge)."""
    return fill_polygons(shape, [landmarks[list(regions.FACE_OVAL)]])


def hair_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray | None = None) -> np.ndarray:
    """Hair of any length and colour on the person of this face, with a soft matte along its edge.

    A classifier trained on this image's own sure pixels (crown hair; face skin, background, neck and chest) decides
    by colour and strand texture (:mod:`durian_core.face.hair`); hair is kept where it joins the crown's hair on this
    person, hanging past the jaw beside the neck, never on the face below the brows, the brows, the neck or the
    chest's middle; GrabCut re-decides its edge. Scalp showing through thin hair is left transparent."""
    shape = image.shape[:2]
    person = person_mask(image) if person is None else person
    crop = hair.head_crop(landmarks, shape)
    found = _hair_in_crop(crop.take(image), crop.landmarks(landmarks), crop.take(person, cv2.INTER_LINEAR))
    # The rest happens at the image's own resolution, within the head's box (nothing outside it is hair).
    box = (slice(crop.y0, crop.y1), slice(crop.x0, crop.x1))
    found = cv2.resize(found.astype(np.float32), (crop.x1 - crop.x0, crop.y1 - crop.y0)) > 0.5
    mask = np.zeros(shape, np.float32)
    mask[box] = _finished(image[box], landmarks - np.array([crop.x0, crop.y0], np.float32), found)
    return mask


def _finished(image: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """The hair ``found`` (bool) with a soft matte along its edge, the face's core out, and scalp showing through
    thin hair transparent."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    matte = alpha_matte(image, trimap(found, max(1.0, 0.025 * size)))
    face_core = ~_near(~_lower_face(landmarks, shape), 0.03 * size)
    # Scalp showing through thin hair is skin: transparent, so whoever wears this hair shows their own scalp.
    # Scalp is told by the colour of skin that no fringe covers; only the clearly skin-coloured goes, and only on the
    # skull: hair beside the face or hanging below it is never scalp, however pale.
    scalp = np.clip((skin_likeness(image, landmarks, samples=SCALP_SAMPLES) - 0.15) / 0.35, 0.0, 1.0)
    scalp = cv2.morphologyEx(scalp, cv2.MORPH_OPEN, _disc(0.01 * size)) * _skull(landmarks, shape)
    scalp = feather(scalp, 0.02 * size)  # patches, not specks
    return (matte * (1.0 - face_core) * (1.0 - 0.9 * scalp)).astype(np.float32)


def _skull(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The top of the head without its hair (float32 H×W): an ellipse a little wider than the face from the ears up to
    the crown, in the face's own orientation, and the temples just beside the face above the eyes."""
    size = regions.face_size(landmarks)
    right, left = landmarks[regions.RIGHT_FACE_SIDE], landmarks[regions.LEFT_FACE_SIDE]
    across = left - right
    up = np.array([across[1], -across[0]]) / max(np.linalg.norm(across), 1e-6)
    # The crown stands well above the forehead's top landmark (on a high, bare forehead, almost half a face size).
    top = landmarks[regions.FOREHEAD_TOP] + up * 0.45 * size
    middle = (right + left) / 2
    centre = (middle + top) / 2
    axes = (int(round(np.linalg.norm(across) * 0.55)), int(round(np.linalg.norm(top - middle) * 0.5)))
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    canvas = np.zeros(shape, np.uint8)
    cv2.ellipse(canvas, (int(round(centre[0])), int(round(centre[1]))), axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    # A receding hairline's corners lie just outside the landmarks' outline above the eyes, wider than the ellipse.
    corners = _near(face_oval(landmarks, shape) > 0.5, 0.08 * size) & (
        _above_line(landmarks, shape, regions.RIGHT_EYE_OUTER, regions.LEFT_EYE_OUTER) > 0.5
    )
    return np.maximum(canvas.astype(np.float32) / 255.0, corners.astype(np.float32))


def _lower_face(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The face below its forehead (a fringe lies on the forehead, inside the face oval) and the brows grown a little:
    never hair (bool)."""
    size = regions.face_size(landmarks)
    face = face_oval(landmarks, shape) > 0.5
    forehead = face & (_above_line(landmarks, shape, regions.RIGHT_BROW[0], regions.LEFT_BROW[0], raise_by=0.06) > 0.5)
    brows = _near(_brows(landmarks, shape) > 0.5, 0.03 * size)
    return (_near(face, 0.01 * size) & ~forehead) | brows


SEED_SAMPLES = 1500
"""Pixels drawn from each kind of sure pixel to train the classifier: enough for a few Gaussian-like clusters."""
HOLE_AREA = 0.03
"""Holes inside the hair up to this many face sizes squared are filled (a lock lit to the colour of skin); the face,
a larger hole, is not."""


def _hair_in_crop(small: np.ndarray, points: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The hair of the work crop (bool): classified, limited to where hair can be, joined to the crown's hair, its
    edge re-decided by GrabCut."""
    shape = small.shape[:2]
    size = regions.face_size(points)
    features = hair.pixel_features(small)
    lower_face = _lower_face(points, shape)
    sure_hair, sure_not = _hair_seeds(small, points, person, features, lower_face)
    if sure_hair.sum() < 20 or sure_not.sum() < 20:
        return np.zeros(shape, bool)
    classifier = hair.fit_classifier(_draw(features, sure_hair), _draw(features, sure_not))
    # The crown holds scalp between thin hair, and skin where the hairline recedes: what the first verdict finds
    # more like the face than like the rest of the crown is not taught as hair the second time.
    purer = sure_hair.copy()
    purer[sure_hair] = classifier.probability(features[sure_hair]) > 0.5
    if purer.sum() >= max(20, 0.3 * sure_hair.sum()):
        sure_hair = purer
        classifier = hair.fit_classifier(_draw(features, sure_hair), _draw(features, sure_not))
    on_person = np.clip((cv2.dilate(person, _disc(0.015 * size)) - 0.3) / 0.4, 0.0, 1.0)
    allowed = _hair_region(points, shape, lower_face) & (on_person > 0.0)
    probability = np.zeros(shape, np.float32)
    probability[allowed] = classifier.probability(features[allowed])
    probability = cv2.GaussianBlur(probability, (0, 0), 0.01 * size) * on_person * allowed
    joined = _fill_small_holes(keep_connected(probability > 0.5, sure_hair), HOLE_AREA * size * size)
    # GrabCut re-decides a band along the edge by colour and contrast: the thin ends of a fringe, wisps at the side.
    anchor = (cv2.erode((joined & (probability > 0.75)).astype(np.uint8), _disc(0.02 * size)) > 0) | (
        sure_hair & joined
    )
    near = _near(joined, 0.06 * size)
    band = allowed & (on_person > 0.2) & near
    refined = grabcut_refine(small, joined, sure_foreground=anchor, sure_background=~band, iterations=2)
    return _fill_small_holes(keep_connected(refined, anchor), HOLE_AREA * size * size)


def _near(mask: np.ndarray, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of ``mask`` (bool): a dilation by a disc, at a cost that does not grow with it."""
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3) <= radius


def _draw(features: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Up to :data:`SEED_SAMPLES` feature rows of the pixels ``where`` (the same draw for the same image)."""
    index = np.flatnonzero(where)
    chosen = np.random.default_rng(0).choice(index, min(SEED_SAMPLES, len(index)), replace=False)
    return features.reshape(-1, features.shape[-1])[chosen]


def _hair_seeds(
    small: np.ndarray, points: np.ndarray, person: np.ndarray, features: np.ndarray, lower_face: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sure hair (the crown above the forehead and the temples, on the person, not bare scalp) and sure non-hair (the
    face's skin, background away from the person, the neck and the chest's middle), as bool maps of the work crop."""
    shape = small.shape[:2]
    size = regions.face_size(points)
    eyes = _grow(fill_polygons(shape, [points[list(regions.RIGHT_EYE)], points[list(regions.LEFT_EYE)]]), 0.04 * size)
    skin = ~_near(~lower_face, 0.04 * size) & (eyes < 0.5)
    skin &= _grow(_brows(points, shape), 0.06 * size) < 0.5
    far = ~_near(person >= 0.1, 0.04 * size)
    chin = points[regions.CHIN]
    columns = np.abs(np.arange(shape[1]) - chin[0])[None, :] < 0.3 * size
    rows = (np.arange(shape[0]) > chin[1] + 0.25 * size)[:, None]
    chest = columns & rows & (person > 0.5)
    # The crown: above the forehead's top; and the temples: beside the face between the eyes and the forehead's top.
    oval = face_oval(points, shape) > 0.5
    face = _near(oval, 0.04 * size)
    beside = _near(oval, 0.25 * size) & ~face
    temples = beside & (_above_line(points, shape, regions.RIGHT_EYE_OUTER, regions.LEFT_EYE_OUTER) > 0.5)
    crown = (_above_line(points, shape, 109, 338, raise_by=0.04) > 0.5) | temples
    crown &= (_head_ellipse(points, shape) > 0.5) & (person > 0.8) & ~lower_face & ~face
    # Bare scalp (a bald crown, a high forehead) is the face's skin colour and smooth; pale blonde hair may be the
    # colour of skin but is strands.
    skin_coloured = skin_likeness(small, points) > 0.4
    energy = features[..., hair.FINE_ENERGY]
    smooth = energy < np.percentile(energy[skin], 90) if skin.any() else np.zeros(shape, bool)
    crown &= ~(skin_coloured & smooth)
    return crown, skin | far | chest


def _head_ellipse(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An ellipse around the head large enough for voluminous hair."""
    center = regions.face_center(landmarks)
    size = regions.face_size(landmarks)
    canvas = np.zeros(shape, np.uint8)
    axes = (int(1.0 * size), int(1.2 * size))  # an updo or a bun stands tall above the crown
    angle = np.degrees(np.arctan2(*(landmarks[regions.LEFT_FACE_SIDE] - landmarks[regions.RIGHT_FACE_SIDE])[::-1]))
    cv2.ellipse(canvas, (int(center[0]), int(center[1] - 0.2 * size)), axes, angle, 0, 360, 255, -1, cv2.LINE_AA)
    return canvas.astype(np.float32) / 255.0


def _hair_region(landmarks: np.ndarray, shape: tuple[int, int], lower_face: np.ndarray) -> np.ndarray:
    """Where hair can be: around the head, and below the mouth beside the neck down to the chest (long hair); never
    the face's core below the brows, the brows, or the neck between the jaw's corners and below it (bool)."""
    size = regions.face_size(landmarks)
    center = regions.face_center(landmarks)
    columns = np.abs(np.arange(shape[1]) - center[0])[None, :] < 1.2 * size
    mouth_y = landmarks[list(regions.LIPS_OUTER), 1].mean()
    hanging = columns & (np.arange(shape[0]) > mouth_y)[:, None]
    # The neck hangs straight down from the jaw between its corners, a little narrower: long hair falls beside it.
    chin = landmarks[list(regions.JAW[4:17])]
    bottom = shape[0] + size
    neck = np.concatenate([chin, [[chin[-1, 0] - 0.05 * size, bottom], [chin[0, 0] + 0.05 * size, bottom]]])
    # The landmarks' outline runs a little wide of a face framed by hair: its rim may be hair, its core never.
    face_core = ~_near(~lower_face, 0.03 * size)
    brows = _grow(_brows(landmarks, shape), 0.03 * size) > 0.5
    head = _head_ellipse(landmarks, shape) > 0.5
    return (head | hanging) & ~face_core & ~brows & ~(fill_polygons(shape, [neck]) > 0.5)


def _fill_small_holes(mask: np.ndarray, largest: float) -> np.ndarray:
    """``mask`` (bool) with its enclosed holes of up to ``largest`` pixels filled."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    height, width = mask.shape
    x, y, w, h, area = stats.T
    inside = (x > 0) & (y > 0) & (x + w < width) & (y + h < height)
    small = np.flatnonzero((area <= largest) & inside)
    small = small[small > 0]
    return mask | np.isin(labels, small) if len(small) else mask


def _brows(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Both eyebrows (their landmarks' hulls): never hair, never under a hat, and they carry identity."""
    return fill_polygons(
        shape, [_hull(landmarks[list(regions.RIGHT_BROW)]), _hull(landmarks[list(regions.LEFT_BROW)])]
    )


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _above_line(
    landmarks: np.ndarray, shape: tuple[int, int], right: int, left: int, *, raise_by: float = 0.0
) -> np.ndarray:
    """Everything above the line through two landmarks (in the face's own orientation), the line raised by
    ``raise_by`` face sizes."""
    start, end = landmarks[right], landmarks[left]
    direction = (end - start) / max(np.linalg.norm(end - start), 1e-6)
    normal = np.array([direction[1], -direction[0]])  # points up the face
    start, end = (
        start + normal * raise_by * regions.face_size(landmarks),
        end + normal * raise_by * regions.face_size(landmarks),
    )
    far = 4 * max(shape)
    polygon = np.array(
        [
            start - direction * far,
            end + direction * far,
            end + direction * far + normal * far,
            start - direction * far + normal * far,
        ]
    )
    return fill_polygons(shape, [polygon])


SKIN_SAMPLES = (regions.RIGHT_CHEEK, regions.LEFT_CHEEK, 151)
"""Where the face's skin colour is read: both cheeks and the forehead."""
SCALP_SAMPLES = (6, 197, regions.RIGHT_CHEEK, regions.LEFT_CHEEK)
"""The nose's bridge and the cheeks: skin even under a fringe (the forehead's landmarks may lie on hair)."""


def skin_likeness(image: np.ndarray, landmarks: np.ndarray, *, samples: tuple[int, ...] = SKIN_SAMPLES) -> np.ndarray:
    """How close each pixel's colour is to the skin's at the ``samples`` landmarks (1 = skin colour, 0 = far)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    cheeks = np.zeros(image.shape[:2], np.uint8)
    size = regions.face_size(landmarks)
    for index in samples:
        x, y = landmarks[index]
        cv2.circle(cheeks, (int(x), int(y)), max(1, int(0.05 * size)), 1, -1)
    pixels = lab[cheeks > 0]
    if len(pixels) < 8:
        return np.zeros(image.shape[:2], np.float32)
    # Tight enough to keep light-brown hair (the astronaut's) while dropping a bald scalp (Biden's).
    mean, spread = pixels.mean(axis=0), pixels.std(axis=0) + np.array([5.0, 2.0, 2.0], np.float32)
    distance = np.sqrt((((lab - mean) / (2.0 * spread)) ** 2).sum(axis=-1))
    return np.clip(1.3 - distance, 0.0, 1.0).astype(np.float32)


def combine_masks(automatic: np.ndarray, user: np.ndarray | None, *, mode: str = "add") -> np.ndarray:
    """Apply a user's mask to the automatic one: ``"add"`` unites them, ``"replace"`` keeps the user's alone."""
    if user is None:
        return automatic
    if user.shape != automatic.shape:
        raise ValueError(f"user mask is {user.shape[::-1]} but the image is {automatic.shape[::-1]}")
    if mode == "replace":
        return user.astype(np.float32)
    if mode == "add":
        return np.maximum(automatic, user).astype(np.float32)
    raise ValueError(f"mask mode must be 'add' or 'replace', got {mode!r}")


STROKE_KINDS = ("hair", "hat", "beard")
"""Kinds whose extent is decided by colour: a user's strokes are GrabCut seeds for them, not only painted pixels."""


def _like_the_stroke(image: np.ndarray, stroke: np.ndarray, *, radius: float) -> np.ndarray:
    """Pixels within ``radius`` of a stroke whose colour is that of the stroke's pixels (bool)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    samples = lab[stroke]
    mean, spread = samples.mean(axis=0), samples.std(axis=0) + np.array([8.0, 3.0, 3.0], np.float32)
    near = cv2.dilate(stroke.astype(np.uint8), _disc(radius)) > 0
    distance = np.sqrt((((lab - mean) / spread) ** 2).sum(axis=-1))
    return near & (distance < 2.5)


def refine_mask(
    image: np.ndarray,
    landmarks: np.ndarray,
    kind: str,
    automatic: np.ndarray,
    user: np.ndarray | None,
    *,
    mode: str = "add",
) -> np.ndarray:
    """The attribute's mask once the user's brush and eraser have spoken.

    Painted pixels (the user's mask above the automatic one) are sure foreground; with ``mode="replace"`` erased
    pixels (below it) are sure background. For hair, hats and beards these strokes seed GrabCut over the whole
    region, so one stroke on missed blond hair brings in the rest of it and one erased stroke on a collar takes
    out what matches it; a soft matte follows. Other kinds (polygons over the landmarks) take the strokes as they
    are (:func:`combine_masks`).
    """
    combined = combine_masks(automatic, user, mode=mode)
    if user is None or kind not in STROKE_KINDS:
        return combined
    painted = user > automatic + 0.25
    erased = (automatic > user + 0.25) if mode == "replace" else np.zeros(user.shape, bool)
    if not painted.any() and not erased.any():
        return combined
    size = regions.face_size(landmarks)
    sure_not = erased | (face_oval(landmarks, image.shape[:2]) > 0.5) & (automatic < 0.1) & ~painted
    # GrabCut is slow to flip what starts as background: around a stroke, what has the stroke's colours starts as
    # probable foreground instead.
    probable = np.maximum(automatic, painted.astype(np.float32))
    if painted.any():
        probable = np.maximum(probable, (_like_the_stroke(image, painted, radius=0.35 * size) & ~sure_not))
    # What the automatic mask is sure of and the user left alone stays: it gives GrabCut the attribute's colours.
    kept = cv2.erode(((automatic > 0.8) & ~erased).astype(np.uint8), _disc(0.01 * size)) > 0
    refined = grabcut_refine(image, probable, sure_foreground=painted | kept, sure_background=sure_not)
    refined = keep_connected(refined, painted | (automatic > 0.5))
    matte = alpha_matte(image, trimap(refined, max(1.0, 0.015 * size)))
    if kind == "hat":
        # As for the automatic mask: what the segmentation is sure is background stays behind (a curtain as red as
        # the hat beside it), unless the user painted it.
        matte *= np.clip(person_mask(image) / 0.25, 0.0, 1.0)
    matte[painted] = np.maximum(matte[painted], user[painted])
    matte[erased] = np.minimum(matte[erased], user[erased])
    return matte.astype(np.float32)


def expand_mask(
    mask: np.ndarray,
    landmarks: np.ndarray,
    *,
    growth: float = 0.08,
    rng: np.random.Generator | None = None,
    max_random_growth: float = 0.12,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Grow a mask by a fraction of the face size, guided by the landmarks.

    Growth is an ellipse dilation scaled to the face, so it is the same relative amount on any image size; the
    face's eyes, nose and mouth are never swallowed (they carry the identity the portrait must keep). With an
    ``rng`` a random extra growth is added (training's mask expansion); ``extra`` (e.g. a generated expansion
    mask from disk) is united with the result.
    """
    size = regions.face_size(landmarks)
    amount = growth + (rng.uniform(0.0, max_random_growth) if rng is not None else 0.0)
    grown = _grow((mask > 0.5).astype(np.float32), amount * size)
    shape = mask.shape
    core = fill_polygons(
        shape,
        [
            _hull(landmarks[list(regions.RIGHT_EYE + regions.RIGHT_BROW)]),
            _hull(landmarks[list(regions.LEFT_EYE + regions.LEFT_BROW)]),
            _hull(landmarks[list(regions.NOSE_BRIDGE + regions.NOSE_BOTTOM)]),
            landmarks[list(regions.LIPS_OUTER)],
        ],
    )
    grown = np.maximum(mask, grown * (1.0 - core))
    if extra is not None:
        grown = np.maximum(grown, extra.astype(np.float32))
    return np.clip(grown, 0, 1).astype(np.float32)


def skin_region(landmarks: np.ndarray, shape: tuple[int, int], *, forehead: bool = True) -> np.ndarray:
    """Cheeks and forehead: the face oval without eyes, brows and mouth (for lighting statistics); without the
    forehead above the brows when ``forehead`` is false (where a fringe may lie)."""
    face = face_oval(landmarks, shape)
    if not forehead:
        brow_line = landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].min()
        face[: max(0, int(brow_line))] = 0
    features = fill_polygons(
        shape,
        [landmarks[list(loop)] for loop in (regions.RIGHT_EYE, regions.LEFT_EYE, regions.LIPS_OUTER)]
        + [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    return (face > 0.5) & (features < 0.5)


def protected_features(landmarks: np.ndarray, shape: tuple[int, int], *, margin: float = 0.03) -> np.ndarray:
    """Brows and eyes with a margin of ``margin`` face sizes (bool): what no removal may touch and no new hair may
    cover, since they carry the identity."""
    size = regions.face_size(landmarks)
    features = fill_polygons(
        shape,
        [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    radius = max(1, int(round(margin * size)))
    return cv2.dilate(features, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)) > 0.5
