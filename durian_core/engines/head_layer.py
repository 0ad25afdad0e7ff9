"""The animator's head as a layer over a background plate, with the neck as a layer of its own, built once per still.

- **The head's matte**: what moves with the head, with the soft edge the person segmentation gives it: the face,
  the ears and the hair (the person's pixels about the face, above the jaw's corners), and the hair and hats it
  wears. Only the part connected to this face: a neighbour in a group photo stays put.
- **The neck** is the skin under the chin, like the cheeks in hue whatever its shade, down to where the clothes
  begin; its layer is pinned along that edge, so the seam between a stretched neck and the collar stays on the
  clothes' own edge, and the collar never moves with the chin.
- **The plate**: the still with the head and neck filled in from the backdrop around them, with the backdrop's own
  texture (the background fill the editor uses for removed hair), so what a moving head uncovers continues the
  backdrop instead of showing the head's old outline or a blur. The body stays as it is.
- **The layers' colours**: at a matte's soft edge the still's pixels are part backdrop; solved against the plate
  for the layer's own colour, so the old backdrop does not travel with the head as a halo.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from durian_core.face import regions
from durian_core.face.masks import face_oval, feather, fill_polygons
from durian_core.face.matting import keep_connected
from durian_core.face.texture import push_pull, textured_background

NECK_DEPTH = 0.7  # face sizes below the chin a neck may reach before the clothes begin
NECK_SAMPLE = (0.02, 0.06, 0.06)  # the skin right under the chin: from, to (below the chin), half width; face sizes
NECK_HUE = 25.0  # degrees: how far that skin's hue may be from the cheeks' and still be a neck
NECK_CHROMA = 0.3  # and how much of the cheeks' chroma it keeps at least (shade keeps the hue, a collar has none)
THROAT_FADE = 0.05  # face sizes below the jaw over which the skin under it fades out of the head layer
NECK_MIN = 0.1  # face sizes below the chin that the neck layer reaches at least, whatever shows there
NECK_JAW = 3  # the neck is at most as wide as the jaw between its NECK_JAW-th landmarks from either end (58, 288)
COLLAR_ANCHORS = 15  # mesh anchors along the neck's lower edge, which stay with the body
SLIVER = 0.025  # face sizes: a strip of the person beside the neck narrower than this moves with the neck


def _disc(radius: float) -> np.ndarray:
    radius = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _mean_lab(lab: np.ndarray, landmarks: np.ndarray, indices: tuple[int, ...], radius: float) -> np.ndarray:
    """The mean Lab colour of small discs at the ``indices`` landmarks."""
    disc = np.zeros(lab.shape[:2], np.uint8)
    for index in indices:
        x, y = landmarks[index]
        cv2.circle(disc, (int(x), int(y)), max(1, int(radius)), 1, -1)
    return lab[disc > 0].mean(axis=0) if disc.any() else np.full(3, 128.0, np.float32)


def below_the_jaw(landmarks: np.ndarray, shape: tuple[int, int], *, depth: float) -> np.ndarray:
    """The region under the jaw line (bool), as wide as a neck may be (the jaw between the landmarks
    :data:`NECK_JAW` from its ends, by its corners), down to ``depth`` face sizes below the chin."""
    jaw = landmarks[list(regions.JAW)][NECK_JAW:-NECK_JAW]
    bottom = float(landmarks[regions.CHIN, 1] + depth * regions.face_size(landmarks))
    polygon = np.concatenate([jaw, [[jaw[-1][0], bottom], [jaw[0][0], bottom]]])
    return (fill_polygons(shape, [polygon]) > 0.5) & (face_oval(landmarks, shape) < 0.5)


def neck_mask(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray) -> np.ndarray:
    """The neck's skin between the jaw and the clothes (bool H×W): below the jaw, connected to the skin right under
    the chin and like it in colour. Empty where what lies under the chin is no skin (a collar, a garment, a beard:
    its hue far from the cheeks')."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    chin = landmarks[regions.CHIN]
    start, end, half = (value * size for value in NECK_SAMPLE)
    sample = np.zeros(shape, bool)
    sample[
        int(max(0, chin[1] + start)) : int(max(0, chin[1] + end)),
        int(max(0, chin[0] - half)) : int(max(0, chin[0] + half)),
    ] = True
    sample &= person > 0.5
    if sample.sum() < 12:
        return np.zeros(shape, bool)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin = lab[sample]
    cheeks = _mean_lab(lab, landmarks, (regions.RIGHT_CHEEK, regions.LEFT_CHEEK), 0.04 * size)
    if not _same_hue(np.median(skin, axis=0), cheeks):
        return np.zeros(shape, bool)
    # A neck is shaded from the chin down to the collar: skin is told by its hue, whatever its lightness.
    like = _skin_hued(lab, cheeks)
    region = below_the_jaw(landmarks, shape, depth=NECK_DEPTH) & (person > 0.5)
    neck = keep_connected(like & region, sample)
    neck = cv2.morphologyEx(neck.astype(np.uint8), cv2.MORPH_CLOSE, _disc(0.02 * size))
    # Without the thin strands a skin-coloured backdrop adds along the jaw's side.
    neck = cv2.morphologyEx(neck, cv2.MORPH_OPEN, _disc(0.02 * size)) > 0
    return _solid_down(neck & region, landmarks)


def _skin_hued(lab: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Which Lab (8-bit) pixels have ``skin``'s hue in the shade (bool): within :data:`NECK_HUE` of it, with at
    least :data:`NECK_CHROMA` of its chroma (a white collar, a dark garment or grey stubble has next to none) and not
    much more, and no lighter than it by more than a little."""
    a, b = lab[..., 1] - 128.0, lab[..., 2] - 128.0
    skin_a, skin_b = skin[1:] - 128.0
    turn = np.abs((np.degrees(np.arctan2(b, a) - np.arctan2(skin_b, skin_a)) + 180.0) % 360.0 - 180.0)
    chroma, skin_chroma = np.hypot(a, b), float(np.hypot(skin_a, skin_b))
    return (
        (turn <= NECK_HUE)
        & (chroma >= NECK_CHROMA * skin_chroma)
        & (chroma <= 1.8 * skin_chroma)
        & (lab[..., 0] <= 1.15 * skin[0])
    )


def skin_hued(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Which pixels of ``image`` have the colour of the face's skin in any shade (bool; :func:`_skin_hued`)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    size = regions.face_size(landmarks)
    return _skin_hued(lab, _mean_lab(lab, landmarks, (regions.RIGHT_CHEEK, regions.LEFT_CHEEK), 0.04 * size))


def _same_hue(colour: np.ndarray, skin: np.ndarray) -> bool:
    """Whether one Lab colour (8-bit) is ``skin``'s in the shade (:func:`_skin_hued`)."""
    return bool(_skin_hued(colour[None, None].astype(np.float32), skin)[0, 0])


def _solid_down(neck: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``neck`` with every column filled from the jaw down to its lowest pixel (a shadow or a fold is still neck),
    and the columns' lowest rows smoothed across (never lower), so the neck's lower edge is the clothes' line, not
    its noise."""
    columns = np.flatnonzero(neck.any(axis=0))
    if len(columns) < 3:
        return np.zeros_like(neck)
    bottoms = np.array([np.flatnonzero(neck[:, column])[-1] for column in columns], np.float32)
    width = max(3, int(0.05 * regions.face_size(landmarks)))
    bottoms = _running_median(bottoms, 5)  # a stray pixel
    smooth = _running_mean(bottoms, width)
    # Smoothed, but never below the clothes' own edge: a collar's corner is not rounded off into the neck.
    bottoms = np.minimum(bottoms, smooth)
    rows = np.arange(neck.shape[0])[:, None]
    solid = np.zeros_like(neck)
    solid[:, columns] = rows <= bottoms[None, :]
    return solid & below_the_jaw(landmarks, neck.shape, depth=NECK_DEPTH)


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """``values`` (1-D) through a running median over an odd ``window``, the ends repeated."""
    return np.median(sliding_window_view(np.pad(values, window // 2, mode="edge"), window), axis=1)


def _running_mean(values: np.ndarray, window: int) -> np.ndarray:
    """``values`` (1-D) through a running mean over ``window``, the ends repeated."""
    padded = np.pad(values, (window // 2, window - 1 - window // 2), mode="edge")
    return np.convolve(padded, np.ones(window) / window, "valid")


def collar_anchors(neck: np.ndarray, landmarks: np.ndarray, *, count: int = COLLAR_ANCHORS) -> np.ndarray:
    """Points along the neck's lower edge, where the clothes begin, and one beyond each of its sides at that height
    ((count + 2)×2 float32): the mesh is pinned there, and holds the whole neck. With no neck, a row just under the
    chin as wide as a neck."""
    size = regions.face_size(landmarks)
    columns = np.flatnonzero(neck.any(axis=0))
    if len(columns) < 3:
        jaw = landmarks[list(regions.JAW)][NECK_JAW:-NECK_JAW]
        xs = np.linspace(jaw[:, 0].min(), jaw[:, 0].max(), count)
        return np.stack([xs, np.full(count, landmarks[regions.CHIN, 1] + NECK_MIN * size)], axis=1).astype(np.float32)
    xs = np.linspace(columns[0], columns[-1], count)
    # A pixel below the edge: the anchor holds the clothes, the neck stretches above it.
    ys = np.array([np.flatnonzero(neck[:, int(round(x))]).max(initial=0) for x in xs], np.float32) + 1.0
    # Past the neck's sides, so the mesh's outline never cuts through the neck (its edge would come out stepped).
    aside = 0.05 * size
    sides = [[columns[0] - aside, ys.max()], [columns[-1] + aside, ys.max()]]
    return np.concatenate([np.stack([xs, ys], axis=1), sides]).astype(np.float32)


def jaw_corners(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The jaw's lower corners (x, y), right then left: its :data:`NECK_JAW`-th landmarks from either end."""
    jaw = landmarks[list(regions.JAW)]
    return jaw[NECK_JAW], jaw[-NECK_JAW - 1]


def above_the_jaw_corners(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Everything on the forehead's side of the line through the jaw's lower corners (float32, soft over a fiftieth
    of a face size): the height of the head below which the person is shoulders, not ears or hair."""
    right, left = jaw_corners(landmarks)
    along = (left - right) / max(np.linalg.norm(left - right), 1e-6)
    up = np.array([along[1], -along[0]])
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    height = (xs - right[0]) * up[0] + (ys - right[1]) * up[1]
    return np.clip(0.5 + height / (0.02 * regions.face_size(landmarks)), 0.0, 1.0).astype(np.float32)


def head_matte(
    landmarks: np.ndarray,
    shape: tuple[int, int],
    *,
    person: np.ndarray,
    worn: list[np.ndarray],
    reach: np.ndarray,
    refilled: np.ndarray | None = None,
    skin_hued: np.ndarray | None = None,
) -> np.ndarray:
    """What moves with the head (float32 H×W in [0, 1]): the person about the face (inside the polygon ``reach``,
    above the jaw's corners), the face itself, and the ``worn`` hair and hats; only what is connected to the face,
    with the person segmentation's soft edge.
    ``refilled`` (float32) is what the edit filled in where the portrait's own hair was removed: the segmentation
    may still take it for the person, but it is backdrop. ``skin_hued`` (bool) is where the still has the face's
    skin colour."""
    size = regions.face_size(landmarks)
    oval = face_oval(landmarks, shape)
    above = above_the_jaw_corners(landmarks, shape)
    # The face and a margin beyond it; below the jaw's corners only onto skin (the jaw's edge and the skin just
    # under it move with it), never onto clothes, which stay put.
    skin = np.maximum(above, skin_hued.astype(np.float32)) if skin_hued is not None else above
    face = np.maximum(oval, cv2.dilate(oval, _disc(0.03 * size)) * skin)
    zone = fill_polygons(shape, [reach]) * above
    if refilled is not None:
        zone = zone * (1.0 - refilled)
    head = np.maximum(person * zone, face * np.clip(person * 1.5, 0.0, 1.0))
    # What lies just under the jaw fades out of the head over THROAT_FADE face sizes below it: the jaw's edge
    # is then the still's own, warped in one piece with what lies under it, not two layers' edges meeting there.
    # Deeper, it would carry a collar close under the chin with it.
    throat = below_the_jaw(landmarks, shape, depth=THROAT_FADE).astype(np.float32)
    below_face = cv2.distanceTransform((oval < 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    fade = np.clip(1.0 - below_face / (THROAT_FADE * size), 0.0, 1.0)
    head = np.maximum(head, throat * fade * np.clip(person * 1.5, 0.0, 1.0))
    for mask in worn:
        head = np.maximum(head, mask)
    connected = keep_connected(head > 0.05, face > 0.5)
    head = head * feather(connected.astype(np.float32), 0.005 * size)
    return np.clip(head, 0.0, 1.0).astype(np.float32)


def under_the_chin(image: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray) -> np.ndarray:
    """The least the neck layer holds (bool): the person under the jaw, as wide as a neck, down to
    :data:`NECK_MIN` face sizes below the chin, where it is skin-hued. A neck that shows little skin still has this
    much to stretch when the chin rises, so the old chin's shadow is not uncovered beneath the new one; a collar's
    cloth, light or dark, stays with the body."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    jaw = landmarks[list(regions.JAW)][NECK_JAW:-NECK_JAW]
    bottom = float(landmarks[regions.CHIN, 1] + NECK_MIN * size)
    band = fill_polygons(shape, [np.concatenate([jaw, [[jaw[-1][0], bottom], [jaw[0][0], bottom]]])]) > 0.5
    band &= (face_oval(landmarks, shape) < 0.5) & (person > 0.5)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    cheeks = _mean_lab(lab, landmarks, (regions.RIGHT_CHEEK, regions.LEFT_CHEEK), 0.04 * size)
    return band & _skin_hued(lab, cheeks)


def neck_matte(image: np.ndarray, neck: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray) -> np.ndarray:
    """The neck layer's opacity (float32): the ``neck``, reaching sideways out to the person's own edge through
    skin or the edge's soft pixels (a neck's shaded sides are neck too, and left in the plate they would stay behind
    as a second outline when it moves; a shoulder or a garment beside it is not), and the rim of the face just above
    the jaw line (the head layer's soft lower edge lies over it, so no gap opens between them)."""
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    face = face_oval(landmarks, shape)
    rim = (face > 0.5) & ~(cv2.erode((face > 0.5).astype(np.uint8), _disc(0.04 * size)) > 0)
    rim &= above_the_jaw_corners(landmarks, shape) < 0.5
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    cheeks = _mean_lab(lab, landmarks, (regions.RIGHT_CHEEK, regions.LEFT_CHEEK), 0.04 * size)
    reach = max(3, int(round(0.08 * size)) * 2 + 1)
    sides = cv2.dilate(neck.astype(np.uint8), np.ones((1, reach), np.uint8)) > 0
    sides &= (person > 0.3) & ((person < 0.9) | _skin_hued(lab, cheeks))
    region = (neck | rim | sides).astype(np.uint8)
    # The sides are found row by row: their ends step from row to row, which a stretched neck shows as a torn edge.
    region = cv2.morphologyEx(region, cv2.MORPH_CLOSE, _disc(0.015 * size))
    region = cv2.morphologyEx(region, cv2.MORPH_OPEN, _disc(0.015 * size)) | (neck | rim).astype(np.uint8)
    region = smooth_sides(region > 0, window=max(3, int(round(0.08 * size))))
    return feather(region.astype(np.float32), 0.008 * size) * np.clip(person * 1.5, 0.0, 1.0)


def smooth_sides(region: np.ndarray, *, window: int) -> np.ndarray:
    """``region`` (bool) without holes, its outer left and right edges smoothed row by row over ``window`` rows: a
    notch or a spur on a layer's side (a strand's end, a speck of the collar) is stretched with it into a streak
    when the layer moves."""
    from scipy.ndimage import binary_fill_holes

    filled = binary_fill_holes(region)
    rows = np.flatnonzero(filled.any(axis=1))
    if len(rows) < 3:
        return filled
    width = filled.shape[1]
    band = filled[rows]
    left = band.argmax(axis=1).astype(np.float64)
    right = (width - 1 - band[:, ::-1].argmax(axis=1)).astype(np.float64)

    span = window // 2 * 2 + 1
    smooth_left, smooth_right = (_running_mean(_running_median(edge, span), span) for edge in (left, right))
    columns = np.arange(width)[None, :]
    within = (columns >= np.round(smooth_left)[:, None]) & (columns <= np.round(smooth_right)[:, None])
    # Inside the smoothed edges: the region as it is, and the notches its sides had (not the gaps within it) where
    # they are narrow: a row whose region is a short piece is not widened into a line across what lies beside it.
    outside_before = (columns < left[:, None]) | (columns > right[:, None])
    near = cv2.dilate(band.astype(np.uint8), np.ones((1, 2 * window + 1), np.uint8)) > 0
    out = np.zeros_like(filled)
    out[rows] = within & (band | (outside_before & near))
    return out


def collar_seam(neck: np.ndarray, landmarks: np.ndarray, *, person: np.ndarray) -> np.ndarray:
    """The neck's lower end and the clothes' edge below it (bool, the person's pixels only): the plate keeps the
    still's own pixels there, so the soft lower edge of the pinned neck shows neck and collar through it, never the
    backdrop's fill."""
    size = regions.face_size(landmarks)
    rise = max(1, int(round(0.08 * size)))
    lifted = np.zeros_like(neck)
    lifted[:-rise] = neck[rise:]  # a pixel ``rise`` rows above the neck's end is still neck
    on_clothes = np.zeros_like(neck)
    drop = max(1, int(round(0.02 * size)))
    on_clothes[:-drop] = person[drop:] > 0.5  # the person goes on below: clothes, not the backdrop beside the neck
    end = neck & ~lifted & on_clothes
    return (cv2.dilate(end.astype(np.uint8), _disc(0.02 * size)) > 0) & (person > 0.5)


def background_plate(
    still: np.ndarray,
    matte: np.ndarray,
    landmarks: np.ndarray,
    *,
    person: np.ndarray,
    keep: np.ndarray | None = None,
) -> np.ndarray:
    """The still with the head (the ``matte``, and a margin beyond its edge) filled from the background around it
    with the background's own texture; the body and ``keep`` (bool) are left as they are."""
    size = regions.face_size(landmarks)
    body = (person > 0.3) & (matte < 0.02)  # the soft edge of a shoulder is shoulder, not a hole to fill
    hole = (cv2.dilate((matte > 0.02).astype(np.uint8), _disc(0.01 * size)) > 0) & ~body
    if keep is not None:
        hole &= ~keep
    known = (person < 0.3) & ~hole
    if not hole.any():
        return still.copy()
    if known.sum() < 64:
        known = ~hole  # a portrait all person: the body is what there is to fill from
    plate = textured_background(still, known, hole, size=size)
    return np.ascontiguousarray(plate)


def layer_colours(
    still: np.ndarray, matte: np.ndarray, plate: np.ndarray, *, under: np.ndarray | None = None
) -> np.ndarray:
    """The layer's own colours at its soft edge (uint8), without the backdrop that shows through it: each pixel of
    the still is the layer's colour over what lies behind, mixed by the matte, and what lies behind is the
    ``plate``; solved for the layer's colour, the layer over the plate gives the still back exactly where the head
    has not moved, and carries no halo of the old backdrop where it has. The solved colour is held between the
    still's pixel and the layer's own colour inside (carried out by push-pull), give or take a little: where the
    plate guesses the backdrop wrong, it would overshoot, and a fringe would travel with the head. Where the layer
    ``under`` this one (its opacity) or the plate shows the still itself, the still's pixels are kept."""
    solid = matte > 0.9
    if not solid.any():
        return still.copy()
    alpha = matte[..., None].astype(np.float32)
    image = still.astype(np.float32)
    inside = push_pull(still, solid)
    unmixed = (image - (1.0 - alpha) * plate.astype(np.float32)) / np.maximum(alpha, 1e-3)
    colours = np.clip(unmixed, np.minimum(image, inside) - 12.0, np.maximum(image, inside) + 12.0)
    if under is not None:
        keep = np.clip(under, 0.0, 1.0)[..., None]
        colours = image * keep + colours * (1.0 - keep)
    return np.clip(colours + 0.5, 0, 255).astype(np.uint8)


def slivers_beside(person: np.ndarray, layered: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The person's thin slivers below the jaw's corners, right beside the head or neck layers (``layered``, bool)
    and in neither (bool): a rim of light along the jaw, the shaded edge of a neck. Left in the plate they would stay
    put while the jaw moves off them, a second outline; they are too thin to be the body that stays (a collar, a
    shoulder)."""
    size = regions.face_size(landmarks)
    body = (person > 0.3) & (above_the_jaw_corners(landmarks, person.shape) < 0.5) & ~layered
    solid = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_OPEN, _disc(SLIVER * size)) > 0
    near = cv2.dilate(layered.astype(np.uint8), _disc(SLIVER * size)) > 0
    # A sliver runs along the layers' edge; what the opening trims off a shoulder's corner is a small blob.
    count, labels, stats, _ = cv2.connectedComponentsWithStats((body & ~solid & near).astype(np.uint8))
    long = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= 4 * SLIVER * size
    long[0] = False
    return long[labels]
