"""What lies under removed hair: the background around the head continued from the background alone, and the skull
continued as the face's own skin.

A single inpainting of the whole hole draws from hair, skin and background at once and leaves a blurred oval, pale
where it met the face and dark where it met the old hair. Here the hole is split at the skull's outline: outside it
the fill sees only background pixels, inside it only the face's own skin. Both work as a healing brush does: a smooth
continuation of the colours around the hole (the background's stripes followed along their direction), plus fine
detail copied block by block from real background or skin nearby, so the fill has the photo's own grain rather than
a blur or a printed noise.

The smooth continuation, the background's grain and the copied detail are :mod:`durian_core.face.texture`'s; here
the hole is split and each side filled. The two fills are made once per portrait (:func:`fill_plates`); where the
skull ends depends on the new hair, and choosing between them there (:meth:`FillPlates.under`) is cheap, so a nudge
of the new hair or a blend between two re-composes in milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.masks import face_oval, feather, fill_polygons, person_mask, skin_likeness
from durian_core.face.texture import _known_average, push_pull, sampled_detail, textured_background

# How much darker a refilled scalp is at the skull's outline than in its middle.
SKULL_SHADE = 0.25
# How far (in face sizes) the skull beside a cheek may be cut in to the real skin's width: the landmarks' oval runs
# about a tenth of a face size wide of a face framed by hair.
CHEEK_CUT = 0.15
# The scale (in face sizes) below which a fill's colours are detail copied from real pixels rather than carried in
# smoothly: a skin's pores and blotches (a background's: :data:`durian_core.face.texture.BACKGROUND_DETAIL`).
SKIN_DETAIL = 0.01


def skull_region(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The head without its hair (float32 H×W): the face oval, and above it an ellipse as wide as the face rising a
    fifth of a face size above the forehead's top landmark (a skull's curve), in the face's own orientation."""
    size = regions.face_size(landmarks)
    right, left = landmarks[regions.RIGHT_FACE_SIDE], landmarks[regions.LEFT_FACE_SIDE]
    across = left - right
    angle = float(np.degrees(np.arctan2(across[1], across[0])))
    up = np.array([across[1], -across[0]]) / max(np.linalg.norm(across), 1e-6)
    top = landmarks[regions.FOREHEAD_TOP] + up * 0.2 * size
    middle = (right + left) / 2
    centre = (middle + top) / 2
    half_height = np.linalg.norm(top - middle) * 1.05
    half_width = np.linalg.norm(across) * 0.52
    canvas = np.zeros(shape, np.uint8)
    cv2.ellipse(
        canvas,
        (int(round(centre[0])), int(round(centre[1]))),
        (int(round(half_width)), int(round(half_height))),
        angle,
        0,
        360,
        255,
        -1,
        cv2.LINE_AA,
    )
    skull = canvas.astype(np.float32) / 255.0
    return np.maximum(skull, face_oval(landmarks, shape))


def above_the_top(mask: np.ndarray) -> np.ndarray:
    """Pixels above the topmost pixel of ``mask`` in their column (False in columns ``mask`` does not reach)."""
    rows = np.arange(mask.shape[0])[:, None]
    present = mask.any(axis=0)
    top = np.where(present, mask.argmax(axis=0), mask.shape[0])
    return rows < top[None, :]


def head_under_hair(skull: np.ndarray, hair: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``skull`` (bool) widened, above the eyes, out to the inner edge of new ``hair`` lying beside it: hair with more
    volume than the portrait's skull sits on the head, not on a strip of background between them. Row by row, on each
    side, up to the first hair pixel within a third of a face size."""
    size = regions.face_size(landmarks)
    reach = int(round(0.33 * size))
    eye_line = int(landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].min())
    head = skull.copy()
    rows = max(0, min(eye_line, skull.shape[0]))
    if rows == 0:
        return head
    width = skull.shape[1]
    above, strands = skull[:rows], hair[:rows]
    present = above.any(axis=1) & strands.any(axis=1)
    first = above.argmax(axis=1)
    last = width - 1 - above[:, ::-1].argmax(axis=1)
    columns = np.arange(width)
    # Per row and column, the nearest hair at or after it, and at or before it.
    following = np.minimum.accumulate(np.where(strands, columns, width)[:, ::-1], axis=1)[:, ::-1]
    preceding = np.maximum.accumulate(np.where(strands, columns, -1), axis=1)
    index = np.arange(rows)
    right = np.where(last + 1 < width, following[index, np.minimum(last + 1, width - 1)], width)
    left = np.where(first > 0, preceding[index, np.maximum(first - 1, 0)], -1)
    widen_right = present & (right < width) & (right <= last + reach)
    widen_left = present & (left >= 0) & (left >= first - reach)
    grid = columns[None, :]
    head[:rows] |= widen_right[:, None] & (grid >= last[:, None]) & (grid < right[:, None])
    head[:rows] |= widen_left[:, None] & (grid > left[:, None]) & (grid < first[:, None])
    return head


def _within_the_cheeks(skull: np.ndarray, real: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``skull`` (bool) cut, below the eyes, to the width of the ``real`` skin at that row or below (by at most
    CHEEK_CUT face sizes on a side), and above them widening by at most three columns a row (a steep slope, at any
    size). The landmarks' oval runs a little wide of a face framed by hair, and the hair it takes in beside the cheeks
    is background behind the face, not more face: filled as skin it stands out as a tab beside the cheek, or as a step
    where the wider skull begins. The limit keeps a cheek under hanging hair, whose skin shows nowhere, a cheek."""
    size = regions.face_size(landmarks)
    slack = max(1, int(round(0.02 * size)))
    most = CHEEK_CUT * size
    eye_line = int(landmarks[list(regions.RIGHT_EYE + regions.LEFT_EYE), 1].mean())
    # Skin-coloured specks apart from the face (a lit strand, a hair's end: pieces under a thirtieth of a face size
    # square) do not widen it: one of them beside the jaw had kept a tab of skin the width of the skull's oval beside
    # every cheek row above it.
    count, labels, stats, _ = cv2.connectedComponentsWithStats((real & skull).astype(np.uint8), connectivity=8)
    large = stats[:, cv2.CC_STAT_AREA] >= max(4.0, (0.03 * size) ** 2)
    large[0] = False
    real = large[labels]
    height, width = skull.shape
    present = skull.any(axis=1)
    left = np.where(present, skull.argmax(axis=1), width).astype(np.float64)
    right = np.where(present, width - 1 - skull[:, ::-1].argmax(axis=1), -1).astype(np.float64)
    # A face is no narrower at a row than anywhere below it down to the chin (its cheekbones are its widest), so the
    # real skin's widest extent at or below each row bounds it, and hair over a temple does not narrow the face there.
    start = max(0, eye_line)
    if start < height:
        wide = real[start:].sum(axis=1) >= 2
        real_first = np.where(wide, real[start:].argmax(axis=1), width).astype(np.float64)
        real_last = np.where(wide, width - 1 - real[start:, ::-1].argmax(axis=1), -1).astype(np.float64)
        widest_left = np.minimum.accumulate(real_first[::-1])[::-1]
        widest_right = np.maximum.accumulate(real_last[::-1])[::-1]
        known = widest_right >= 0
        below_left, below_right = left[start:], right[start:]
        left[start:] = np.where(
            known, np.maximum(below_left, np.minimum(widest_left - slack, below_left + most)), below_left
        )
        right[start:] = np.where(
            known, np.minimum(below_right, np.maximum(widest_right + slack, below_right - most)), below_right
        )
    # Above the eyes, each row at most three columns wider than the row below it: the row's own extent, or the
    # nearest row below's less three columns a row between them.
    top = min(eye_line, height - 1)
    if top > 0:
        steps = 3.0 * np.arange(top + 1)
        left[: top + 1] = np.maximum.accumulate((left[: top + 1] - steps)[::-1])[::-1] + steps
        right[: top + 1] = np.minimum.accumulate((right[: top + 1] + steps)[::-1])[::-1] - steps
    columns = np.arange(width)[None, :]
    return skull & (columns >= left[:, None]) & (columns <= right[:, None])


def forehead_skin(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Skin of the upper face, where the scalp's colour is best predicted (bool): the forehead and, beside and
    between the eyes, down to the nose's middle (a fringe may hide the whole forehead)."""
    face = face_oval(landmarks, shape) > 0.5
    rows = np.arange(shape[0])[:, None]
    above = rows < landmarks[regions.NOSE_BRIDGE[3], 1]
    eyes_and_brows = fill_polygons(
        shape,
        [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    return face & above & (eyes_and_brows < 0.5)


def _skin_continuation(
    image: np.ndarray, source: np.ndarray, target: np.ndarray, *, reach: float
) -> np.ndarray | None:
    """The skin of ``source`` continued over ``target``: a plane per Lab channel fitted to the source (the face's
    shading), plus the source's own departure from that plane carried in from the nearest source pixels and fading
    over about ``reach`` pixels, so the fill meets the real skin without an edge; with the skin's fine grain."""
    ys, xs = np.nonzero(source)
    if len(xs) < 24:
        return None
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    samples = lab[ys, xs]
    design = np.stack([np.ones_like(xs), xs, ys], axis=1).astype(np.float32)
    # Two rounds: the second drops the brightest and darkest tenth (a highlight, a stray hair).
    weights = np.ones(len(xs), np.float32)
    for _ in range(2):
        coefficients = np.linalg.lstsq(design * weights[:, None], samples * weights[:, None], rcond=None)[0]
        residual = np.abs(samples - design @ coefficients).sum(axis=1)
        weights = (residual <= np.percentile(residual, 90)).astype(np.float32)
    height, width = image.shape[:2]
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    # Above the skin it was fitted on, the scalp keeps the colour of the skin's middle rows: a plane extrapolated
    # upwards drifts, and the hairline's own rows are shaded by the hair.
    grid_y = np.maximum(grid_y, float(np.median(ys)))
    plane = coefficients[0] + grid_x[..., None] * coefficients[1] + grid_y[..., None] * coefficients[2]
    # What the plane misses next to the hole (the skin under a fringe is often shaded) is carried into it from the
    # nearest skin, smoothly: an average over all the source would bring in the eye sockets' shade.
    trusted = cv2.erode(source.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if trusted.sum() < 24:
        trusted = source
    sigma = max(1.0, 0.04 * reach)
    local, _ = _known_average(lab, trusted, sigma)
    distance, labels = cv2.distanceTransformWithLabels(
        (~trusted).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    nearest_y, nearest_x = np.zeros(labels.max() + 1, np.intp), np.zeros(labels.max() + 1, np.intp)
    trusted_y, trusted_x = np.nonzero(trusted)
    nearest_y[labels[trusted_y, trusted_x]], nearest_x[labels[trusted_y, trusted_x]] = trusted_y, trusted_x
    departure = (local - plane)[nearest_y[labels], nearest_x[labels]]
    # Smoothed along the hole only: the source's own rows below would darken it again.
    departure, _ = _known_average(departure, ~trusted, 4 * sigma)
    fade = np.exp(-distance / max(reach, 1.0))[..., None]
    filled_lab = plane + departure * fade
    grey = lab[..., 0]
    detail = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.5))[trusted]
    grain = float(np.median(detail)) if detail.size else 0.0
    noise = np.random.default_rng(0).normal(0.0, grain, (height, width)).astype(np.float32)
    filled_lab[..., 0] += cv2.GaussianBlur(noise, (3, 3), 0.7)
    filled = cv2.cvtColor(np.clip(filled_lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
    return np.where(target[..., None], filled, image)


def _rounded(
    skin: np.ndarray,
    head: np.ndarray,
    forehead: np.ndarray,
    source: np.ndarray,
    target: np.ndarray,
    *,
    size: float,
    box: tuple[slice, slice],
) -> np.ndarray:
    """The refilled scalp and temples (within ``box``) shaded as a round head is: darker towards the ``head``'s
    outline, where it turns away from the light (by SKULL_SHADE at the outline, fading over a fifth of a face size),
    but not on the ``forehead`` (float, soft-edged: it follows the shading fitted to the face) and only away from the
    real skin (``source``), which the fill must meet without a step."""
    to_edge = cv2.distanceTransform(head.astype(np.uint8), cv2.DIST_L2, 5)[box]
    to_skin = cv2.distanceTransform((~source).astype(np.uint8), cv2.DIST_L2, 5)[box]
    edge = (1.0 - np.clip(to_edge / (0.2 * size), 0.0, 1.0)) ** 1.5
    away = np.clip(to_skin / (0.1 * size), 0.0, 1.0)
    gain = 1.0 - SKULL_SHADE * edge * away * target[box] * (1.0 - forehead[box])
    return np.clip(skin[box].astype(np.float32) * gain[..., None] + 0.5, 0, 255).astype(np.uint8)


def heal_skin(
    image: np.ndarray, source: np.ndarray, target: np.ndarray, *, size: float, texture: np.ndarray | None = None
) -> np.ndarray | None:
    """``target`` refilled as the skin of ``source`` continues, as a healing brush does (uint8 RGB; None when too
    little skin shows): the skin's colours, smoothed over a hundredth of a face size, carried in smoothly from the
    skin around (a membrane: :func:`push_pull`, so the fill meets the real skin at its edge exactly), with the skin's
    own pores and blotches copied in from ``texture`` skin (``source`` when not given, :func:`sampled_detail`)."""
    if source.sum() < 24:
        return None
    trusted = cv2.erode(source.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    if trusted.sum() < 24:
        trusted = source
    local, _ = _known_average(image, trusted, max(1.0, SKIN_DETAIL * size))
    smooth = push_pull(local, trusted)
    texture = trusted if texture is None or texture.sum() < 24 else texture
    smooth += sampled_detail(image, texture, target, smooth=smooth, size=size, scale=SKIN_DETAIL, seed=1)
    filled = np.clip(smooth + 0.5, 0, 255).astype(np.uint8)
    return np.where(target[..., None], filled, image)


def plane_skin(image: np.ndarray, source: np.ndarray, target: np.ndarray, *, reach: float) -> np.ndarray | None:
    """The skin of ``source`` continued over ``target`` as the fill did before :func:`heal_skin` (kept as the fill
    benchmark's baseline): a plane per Lab channel fitted to the source, plus the source's own departure from it
    carried in from the nearest source pixels and fading over about ``reach`` pixels, and a printed Gaussian grain."""
    return _skin_continuation(image, source, target, reach=reach)


@dataclass(frozen=True, eq=False)
class FillPlates:
    """A hole refilled both ways, background and skin, before it is known where the new hair puts the skull's top:
    :meth:`under` picks between them for a given cover, cheaply."""

    image: np.ndarray  # RGB uint8, the portrait
    hole: np.ndarray  # bool H×W, what is refilled
    landmarks: np.ndarray  # 478×2, the portrait's face
    background: np.ndarray  # RGB uint8: the hole filled as background throughout
    skin: np.ndarray | None  # RGB uint8: the hole filled as skin throughout (None when no skin shows)
    skin_like: np.ndarray  # bool H×W: the image's skin-coloured pixels outside the hole
    source: np.ndarray  # bool H×W: the skin the fill continues
    forehead: np.ndarray  # float32 H×W: the face above the brows, soft-edged (the fill follows it unshaded)

    @property
    def box(self) -> tuple[slice, slice]:
        """The rows and columns the refill can change: the hole's box with a margin wider than its soft edges."""
        ys, xs = np.nonzero(self.hole)
        if not len(ys):
            return slice(0, 0), slice(0, 0)
        margin = int(0.03 * regions.face_size(self.landmarks)) + 4
        height, width = self.hole.shape
        return (
            slice(max(0, ys.min() - margin), min(height, ys.max() + margin + 1)),
            slice(max(0, xs.min() - margin), min(width, xs.max() + margin + 1)),
        )

    def under(self, covered: np.ndarray | None = None) -> np.ndarray:
        """The portrait with the hole refilled under new hair lying at ``covered`` (float H×W, None: no new hair):
        skin on the skull up to the top of the new hair, shaded darker towards the head's outline; background
        outside it. The skull is the landmarks' (:func:`skull_region`), widened to new hair standing beside it
        (:func:`head_under_hair`) and, beside the cheeks, no wider than the real face."""
        if not self.hole.any():
            return self.image.copy()
        shape = self.hole.shape
        size = regions.face_size(self.landmarks)
        head = skull_region(self.landmarks, shape) > 0.5
        cover = None if covered is None else covered > 0.5
        if cover is not None:
            head = head_under_hair(head, cover, self.landmarks)
        head = _within_the_cheeks(head, self.skin_like, self.landmarks)
        skull = head & ~above_the_top(cover) if cover is not None else head
        # Composed within the hole's box only: its margin is wider than the soft edges, so nothing else changes.
        box = self.box
        result = self.background[box].astype(np.float32)
        if self.skin is not None:
            skin = _rounded(self.skin, head, self.forehead, self.source, self.hole & skull, size=size, box=box)
            # Skull and background meet softly, as a head's outline does in a photo.
            skull_alpha = feather(skull[box].astype(np.float32), 0.012 * size)[..., None]
            result = skin.astype(np.float32) * skull_alpha + result * (1 - skull_alpha)
        alpha = feather(self.hole[box].astype(np.float32), 0.006 * size)[..., None]
        out = self.image.copy()
        out[box] = np.clip(self.image[box] * (1 - alpha) + result * alpha + 0.5, 0, 255).astype(np.uint8)
        return out


def fill_plates(
    image: np.ndarray,
    hole: np.ndarray,
    landmarks: np.ndarray,
    *,
    person: np.ndarray | None = None,
    likeness: np.ndarray | None = None,
) -> FillPlates:
    """``hole`` (> 0.5) of ``image`` refilled as background (from pixels outside the ``person`` mask, the skull and
    the hole: :func:`textured_background`) and as skin (from the upper face's skin: :func:`heal_skin`, its grain from
    the skin of the face above the mouth). ``person`` and ``likeness`` (the image's skin likeness) are computed when
    not given."""
    hole = hole > 0.5
    shape = image.shape[:2]
    size = regions.face_size(landmarks)
    likeness = skin_likeness(image, landmarks) if likeness is None else likeness
    skin_like = (likeness > 0.5) & ~hole
    if hole.sum() < 16:
        return FillPlates(image, hole, landmarks, image, None, skin_like, hole, np.zeros(shape, np.float32))
    person = person_mask(image) if person is None else person
    skull = skull_region(landmarks, shape) > 0.5
    known_background = (person < 0.3) & ~hole & ~skull
    background = textured_background(image, known_background, hole, size=size)
    # The fill meets all the forehead's skin along the hole, its highlights too (only what is unlike skin is not
    # skin: a stray hair); its grain is read where the skin is surely skin.
    source = forehead_skin(landmarks, shape) & (likeness > 0.15) & ~hole
    skin = heal_skin(image, source, hole, size=size, texture=_skin_texture(landmarks, skin_like, shape))
    forehead = face_oval(landmarks, shape)
    forehead[max(0, int(landmarks[list(regions.RIGHT_BROW + regions.LEFT_BROW), 1].max())) :] = 0
    return FillPlates(image, hole, landmarks, background, skin, skin_like, source, feather(forehead, 0.03 * size))


def _skin_texture(landmarks: np.ndarray, skin_like: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Where the skin's grain is read (bool): skin-coloured pixels of the face above the mouth, clear of the eyes
    and brows (cheeks and forehead, not lips or stubble)."""
    upper = forehead_skin(landmarks, shape) | (face_oval(landmarks, shape) > 0.5)
    upper &= np.arange(shape[0])[:, None] < landmarks[regions.NOSE_TIP, 1]
    features = fill_polygons(
        shape,
        [
            cv2.convexHull(landmarks[list(regions.RIGHT_BROW + regions.RIGHT_EYE)]).reshape(-1, 2),
            cv2.convexHull(landmarks[list(regions.LEFT_BROW + regions.LEFT_EYE)]).reshape(-1, 2),
        ],
    )
    features = cv2.dilate(features, np.ones((5, 5), np.uint8))
    return upper & (features < 0.5) & skin_like


def fill_hole(
    image: np.ndarray,
    hole: np.ndarray,
    landmarks: np.ndarray,
    *,
    person: np.ndarray | None = None,
    covered: np.ndarray | None = None,
    likeness: np.ndarray | None = None,
) -> np.ndarray:
    """``image`` with ``hole`` (> 0.5) replaced by what lies under it (:func:`fill_plates`), for new hair lying at
    ``covered`` (:meth:`FillPlates.under`)."""
    return fill_plates(image, hole, landmarks, person=person, likeness=likeness).under(covered)
