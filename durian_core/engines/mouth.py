"""The inside of the animated mouth: the portrait's own teeth riding its lips, over a dark (not black) interior.

A still that shows its teeth keeps them: the upper row is cut from the still once and rides the upper lip (turned
and scaled with the skull), the lower row rides the lower lip and chin, and what opens between them is the
interior. The interior is the driver's own mouth (its tongue and throat) carried onto the portrait's inner lips
and re-lit, where the driver's mouth is open wide enough in its own pixels to show one; a painted interior (darker
towards the throat) elsewhere. Its shadows are lifted, so the throat is dark but never a black hole.

A still with a closed mouth has no teeth of its own to show: it takes the driver's (the driver's mouth carries
them, scaled onto the portrait's lips and re-lit; a driver whose mouth shows no teeth gives none). The fallback,
where there is no driver's mouth to take them from (no driver frame, its face lost, its mouth closed or a smudge of
under 3 pixels while the portrait's opens), is a painted row of front upper teeth under the upper lip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from durian_core.face import regions
from durian_core.face.masks import fill_polygons

TEETH_SHARE = 0.15  # the share of the still's mouth opening that must be teeth for the portrait to keep its own
SHADOW_FLOOR = 12.0  # L*: the darkest inside of a mouth is lifted to this (a throat in a photo is dark, not black)
SHADOW_KNEE = 25.0  # L*: above this, the inside keeps its own lightness
TOOTH_WIDTHS = (0.045, 0.035, 0.032)  # face sizes: a central incisor, a lateral one and a canine, seen from the front
UPPER_LIP = (13, 82, 312)  # the middle of the upper inner lip: where the upper teeth hang from
LOWER_LIP = (14, 87, 317)  # the middle of the lower inner lip: where the lower teeth stand on


def point_box(points: np.ndarray, shape: tuple[int, ...], *, margin: float = 0.0) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the pixels ``points`` span, ``margin`` more on every side, clipped to an image of
    ``shape``; ``None`` where less than 2 × 2 pixels remain."""
    height, width = shape[:2]
    x0, y0 = np.maximum(np.floor(points.min(axis=0) - margin).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(points.max(axis=0) + margin).astype(int) + 1, [width, height])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return int(x0), int(y0), int(x1), int(y1)


def lip_chroma(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The lips' mean colour without its lightness (Lab a and b, 8-bit scale), between their outer and inner edge."""
    outer, inner = landmarks[list(regions.LIPS_OUTER)], landmarks[list(regions.LIPS_INNER)]
    box = point_box(outer, image.shape)
    if box is None:
        return np.full(2, 128.0, np.float32)
    x0, y0, x1, y1 = box
    corner = np.array([x0, y0], np.float32)
    lips = fill_polygons((y1 - y0, x1 - x0), [outer - corner]) - fill_polygons((y1 - y0, x1 - x0), [inner - corner])
    lab = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB)
    chosen = lab[lips > 0.5]
    return chosen[:, 1:].astype(np.float32).mean(axis=0) if len(chosen) else np.full(2, 128.0, np.float32)


def cheek_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """Mean RGB of small discs on both cheeks: the face's light and skin, for matching one face to another."""
    size = regions.face_size(landmarks)
    height, width = image.shape[:2]
    samples = []
    for index in (regions.RIGHT_CHEEK, regions.LEFT_CHEEK):
        x, y = landmarks[index]
        radius = max(1, int(0.04 * size))
        x0, x1 = int(max(0, x - radius)), int(min(width, x + radius + 1))
        y0, y1 = int(max(0, y - radius)), int(min(height, y + radius + 1))
        if x1 > x0 and y1 > y0:
            samples.append(image[y0:y1, x0:x1].reshape(-1, 3))
    if not samples:
        return np.full(3, 128.0, np.float32)
    return np.concatenate(samples).astype(np.float32).mean(axis=0)


def lip_gap(landmarks: np.ndarray) -> float:
    """The inner lips' opening at the mouth's middle, in pixels."""
    return float(np.linalg.norm(landmarks[regions.LOWER_LIP_INNER] - landmarks[regions.UPPER_LIP_INNER]))


def mouth_visible(landmarks: np.ndarray) -> bool:
    """Whether a face's mouth is open enough to see into (inner-lip gap over 2 % of the face size)."""
    return bool(lip_gap(landmarks) > 0.02 * regions.face_size(landmarks))


def lift_shadows(patch: np.ndarray) -> np.ndarray:
    """``patch`` (RGB, float32 or uint8) with its darks raised: L* below :data:`SHADOW_KNEE` is mapped linearly onto
    :data:`SHADOW_FLOOR` .. knee, hue and chroma kept. A mouth's inside then reads as shade, not a hole."""
    lab = cv2.cvtColor(np.clip(patch, 0, 255).astype(np.uint8), cv2.COLOR_RGB2LAB).astype(np.float32)
    lightness = lab[..., 0] * (100.0 / 255.0)
    lifted = SHADOW_FLOOR + lightness * (SHADOW_KNEE - SHADOW_FLOOR) / SHADOW_KNEE
    lab[..., 0] = np.where(lightness < SHADOW_KNEE, lifted, lightness) * (255.0 / 100.0)
    return cv2.cvtColor(np.clip(lab + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)


def whiteness(lab: np.ndarray) -> np.ndarray:
    """How tooth-like each Lab (8-bit) pixel is: its L* less one and a half times its chroma."""
    lightness = lab[..., 0] * (100.0 / 255.0)
    chroma = np.hypot(lab[..., 1] - 128.0, lab[..., 2] - 128.0)
    return lightness - 1.5 * chroma


@dataclass(frozen=True, eq=False)
class TeethRow:
    """One row of the portrait's own teeth, cut from the still: colour and opacity on a patch, and the lip point
    it rides (the mean of ``lip``'s landmarks)."""

    layer: np.ndarray  # h×w×4 float32: RGB, then opacity in [0, 1]
    origin: np.ndarray  # (x, y) of the patch's top-left corner in the still
    anchor: np.ndarray  # (x, y): where the lip point was in the still
    lip: tuple[int, ...]

    def place(self, landmarks: np.ndarray, linear: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The row over ``box`` (h×w×4) of a frame whose lips are at ``landmarks``: turned and scaled by ``linear``
        (the head's 2×2), its anchor on the frame's lip point."""
        x0, y0, x1, y1 = box
        target = landmarks[list(self.lip)].mean(axis=0)
        # Patch pixel p ↦ still origin + p ↦ linear·(· − anchor) + target ↦ minus the box's corner.
        shift = target - linear @ (self.anchor - self.origin) - np.array([x0, y0], np.float32)
        matrix = np.hstack([linear, shift[:, None]]).astype(np.float32)
        return cv2.warpAffine(
            self.layer, matrix, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )


def own_teeth(image: np.ndarray, landmarks: np.ndarray) -> tuple[TeethRow, ...]:
    """The teeth the still shows between its inner lips, as an upper row (and a lower one where the still shows
    one apart from the upper); none where the mouth is closed or shows less than :data:`TEETH_SHARE` teeth.

    Teeth are the whitest part of the opening (Otsu's split of :func:`whiteness`), and whiter than the lips by a
    margin. A row is continued past its visible end towards its lip, column by column, so a lip that moves off it
    uncovers more tooth, not a gap."""
    size = regions.face_size(landmarks)
    inner = landmarks[list(regions.LIPS_INNER)]
    if lip_gap(landmarks) < 0.02 * size:
        return ()
    box = point_box(inner, image.shape, margin=0.06 * size)
    if box is None:
        return ()
    x0, y0, x1, y1 = box
    corner = np.array([x0, y0], np.float32)
    mouth = fill_polygons((y1 - y0, x1 - x0), [inner - corner])
    lab = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2LAB).astype(np.float32)
    score = whiteness(lab)
    inside = mouth > 0.5
    if inside.sum() < 20:
        return ()
    lips = fill_polygons((y1 - y0, x1 - x0), [landmarks[list(regions.LIPS_OUTER)] - corner]) > 0.5
    if not (lips & ~inside).any():
        return ()
    lips_white = float(np.median(score[lips & ~inside]))
    # Otsu's split of the opening, but never below the lips' own whiteness and a margin: the landmarks' inner
    # outline often takes in a strip of a pale lip, which is not a tooth.
    values = np.clip(score[inside] + 100.0, 0, 255).astype(np.uint8)
    otsu = cv2.threshold(values, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0] - 100.0
    threshold = max(otsu, lips_white + 8.0)
    dim = score[inside & (score < otsu)]
    if len(dim) and dim.mean() > lips_white + 20.0:
        threshold = lips_white + 8.0  # an opening of teeth only: Otsu split the teeth themselves
    teeth = np.clip((score - threshold) / 8.0 + 0.5, 0.0, 1.0) * mouth
    chosen = teeth > 0.5
    if chosen.sum() < TEETH_SHARE * inside.sum():
        return ()
    upper_line = np.interp(np.arange(x0, x1), *_contour(landmarks, upper=True)) - y0
    lower_line = np.interp(np.arange(x0, x1), *_contour(landmarks, upper=False)) - y0
    count, labels = cv2.connectedComponents(chosen.astype(np.uint8), connectivity=8)
    rows = np.arange(y1 - y0, dtype=np.float32)[:, None]
    depth = (rows - upper_line[None]) / np.maximum(lower_line - upper_line, 1.0)[None]  # 0 at the upper lip, 1 lower
    upper, lower = np.zeros_like(chosen), np.zeros_like(chosen)
    for label in range(1, count):
        part = labels == label
        # A tooth row hangs from its lip: a part nearer the lower lip, apart from the rest, is the lower row.
        (lower if depth[part].mean() > 0.6 else upper)[part] = True
    colour = image[y0:y1, x0:x1].astype(np.float32)
    # The edge of a row against the dark is as soft as its whiteness says, but the opacity reaches at most a pixel
    # past the row, and stops a pixel short of the other lip: a lip's highlight is not a tooth.
    opacity = np.clip((score - threshold) / 8.0 + 0.5, 0.0, 1.0)
    clear = score > threshold + 8.0  # surely tooth: where a column's tooth is continued from
    short_of = {
        False: np.clip(lower_line[None] - rows - 0.5, 0.0, 1.0),  # the upper row, short of the lower lip
        True: np.clip(rows - upper_line[None] - 0.5, 0.0, 1.0),
    }
    found = []
    for part, lip, downward in ((upper, UPPER_LIP, False), (lower, LOWER_LIP, True)):
        if part.sum() < 0.05 * inside.sum():
            continue
        near = cv2.dilate(part.astype(np.uint8), np.ones((3, 3), np.uint8))
        row = np.dstack([colour, opacity * near * short_of[downward]])
        layer = _continued(row, part & clear, downward=downward)
        found.append(TeethRow(layer, corner, landmarks[list(lip)].mean(axis=0).astype(np.float32), lip))
    return tuple(found)


def _contour(landmarks: np.ndarray, *, upper: bool) -> tuple[np.ndarray, np.ndarray]:
    """The upper or lower inner lip as (x, y) samples sorted by x, for interpolating its height at any column."""
    inner = landmarks[list(regions.LIPS_INNER)]
    # LIPS_INNER runs from the right corner (78) along the lower lip to the left corner (308), then back above.
    half = inner[:11] if not upper else np.concatenate([inner[10:], inner[:1]])
    order = np.argsort(half[:, 0])
    return half[order, 0], half[order, 1]


def _continued(layer: np.ndarray, clear: np.ndarray, *, downward: bool) -> np.ndarray:
    """``layer`` (h×w×4) with each column continued, opaque, from its ``clear`` tooth nearest the lip to the patch's
    edge (up for the upper row, down for the lower): the tooth's root, under the lip in the still, is more tooth,
    and the lip's own pixels inside the landmarks' outline are painted over by it."""
    out = layer.copy()
    for column in np.flatnonzero(clear.any(axis=0)):
        rows = np.flatnonzero(clear[:, column])
        end = rows[-1] if downward else rows[0]
        span = slice(end, None) if downward else slice(0, end + 1)
        out[span, column, :3] = layer[end, column, :3]
        out[span, column, 3] = 1.0
    return out


class MouthInterior:
    """The open mouth's inside, each frame: see the module's docstring. Built once per still."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.size = regions.face_size(landmarks)
        self.rest_gap = lip_gap(landmarks)
        self.skin = cheek_colour(image, landmarks)
        self.lips = lip_chroma(image, landmarks)
        self.teeth = own_teeth(image, landmarks)
        self.rigid = landmarks[list(regions.RIGID)].astype(np.float32)
        lips = fill_polygons(image.shape[:2], [landmarks[list(regions.LIPS_OUTER)]]) > 0.5
        lip_colour = image[lips].mean(axis=0) if lips.any() else np.array([120, 60, 60], np.float32)
        self.throat = (lip_colour * 0.3).astype(np.float32)
        self.painted_teeth = painted_tooth_colour(self.skin)

    def strength(self, landmarks: np.ndarray) -> float:
        """How much of the inside is drawn anew, from how far the mouth opens past the still's own opening: 0 (the
        still's own mouth, warped) to 1. A still with its own teeth switches within a hundredth of a face size, so
        its teeth are never seen stretched by the mesh; a closed one fades its new inside in as the lips part."""
        excess = lip_gap(landmarks) - self.rest_gap
        if self.teeth:
            return float(np.clip((excess - 0.015 * self.size) / (0.015 * self.size), 0.0, 1.0))
        return float(np.clip((excess - 0.01 * self.size) / (0.03 * self.size), 0.0, 1.0))

    def __call__(
        self,
        frame: np.ndarray,
        landmarks: np.ndarray,
        driver_frame: np.ndarray | None = None,
        driver_landmarks: np.ndarray | None = None,
        *,
        linear: np.ndarray | None = None,
    ) -> np.ndarray:
        """``frame`` with the mouth's inside drawn within the inner lips at ``landmarks``; ``linear`` is the head's
        rotation and scale from the still (2×2), which the teeth turn with."""
        strength = self.strength(landmarks)
        if strength <= 0:
            return frame
        inner = landmarks[list(regions.LIPS_INNER)]
        box = point_box(inner, frame.shape, margin=2)
        if box is None:
            return frame
        x0, y0, x1, y1 = box
        corner = np.array([x0, y0], np.float32)
        inside, resolved = self.interior(landmarks, box, driver_frame, driver_landmarks)
        if self.teeth:
            linear = np.eye(2, dtype=np.float32) if linear is None else linear
            for row in sorted(self.teeth, key=lambda row: row.lip != LOWER_LIP):  # the upper row in front
                placed = row.place(landmarks, linear, box)
                opacity = placed[..., 3:]
                inside = inside * (1.0 - opacity) + placed[..., :3] * opacity
        elif resolved <= 0:
            # No driver's mouth to take teeth from (closed, lost, or a smudge of a few pixels): painted ones.
            inside = self.painted_band(inside, landmarks, box)
        mouth = cv2.GaussianBlur(fill_polygons((y1 - y0, x1 - x0), [inner - corner]), (3, 3), 0.8)
        alpha = (mouth * strength)[..., None]
        out = frame.copy()
        region = out[y0:y1, x0:x1].astype(np.float32)
        out[y0:y1, x0:x1] = np.clip(region * (1 - alpha) + inside * alpha + 0.5, 0, 255).astype(np.uint8)
        return out

    def interior(
        self,
        landmarks: np.ndarray,
        box: tuple[int, int, int, int],
        driver_frame: np.ndarray | None,
        driver_landmarks: np.ndarray | None,
    ) -> tuple[np.ndarray, float]:
        """What lies behind the teeth over ``box`` (float32 RGB), shadows lifted: the driver's mouth where its own
        pixels resolve one, the painted throat elsewhere, blended by the driver's opening in pixels; and how far the
        driver's mouth was resolved (0 to 1)."""
        painted = self.painted(landmarks, box)
        if driver_frame is None or driver_landmarks is None or not mouth_visible(driver_landmarks):
            return lift_shadows(painted), 0.0
        # Under 3 pixels of opening a driver's mouth is a smudge; from 9 on it shows a tongue and teeth.
        resolved = float(np.clip((lip_gap(driver_landmarks) - 3.0) / 6.0, 0.0, 1.0))
        if resolved <= 0:
            return lift_shadows(painted), 0.0
        patch = self.drivers_mouth(landmarks, box, driver_frame, driver_landmarks)
        return lift_shadows(painted * (1.0 - resolved) + patch * resolved), resolved

    def painted(self, landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """A throat (float32 RGB over ``box``): the lips' colour darkened, darkest at the opening's middle."""
        x0, y0, x1, y1 = box
        inner = landmarks[list(regions.LIPS_INNER)]
        centre = inner.mean(axis=0)
        half = np.maximum((inner.max(axis=0) - inner.min(axis=0)) / 2.0, 1.0)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        reach = np.sqrt(((xs - centre[0]) / half[0]) ** 2 + ((ys - centre[1]) / half[1]) ** 2)
        shade = 0.55 + 0.45 * np.clip(reach, 0.0, 1.0)
        return self.throat[None, None, :] * shade[..., None]

    def drivers_mouth(
        self,
        landmarks: np.ndarray,
        box: tuple[int, int, int, int],
        driver_frame: np.ndarray,
        driver_landmarks: np.ndarray,
    ) -> np.ndarray:
        """The driver's mouth carried onto ``box`` by the inner lips' affine fit (float32 RGB), re-lit by the two
        faces' cheek brightness and shifted to the portrait's colour as both faces' lips measure it."""
        x0, y0, x1, y1 = box
        inner = landmarks[list(regions.LIPS_INNER)]
        source = driver_landmarks[list(regions.LIPS_INNER)]
        design = np.hstack([inner - np.array([x0, y0], np.float32), np.ones((len(inner), 1), np.float32)])
        matrix = np.linalg.lstsq(design, source, rcond=None)[0].T.astype(np.float32)  # 2×3, box → driver
        patch = cv2.warpAffine(
            driver_frame,
            matrix,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        # One gain for all channels: the portrait's light, not the driver's colour cast.
        gain = float(self.skin.mean() / max(cheek_colour(driver_frame, driver_landmarks).mean(), 1.0))
        patch = np.clip(patch.astype(np.float32) * np.clip(gain, 0.5, 2.0), 0, 255).astype(np.uint8)
        # And the portrait's colour, matched at the lips, which both faces show: a mouth's inside is mostly shadow,
        # where a webcam or a compressed clip turns blue.
        lab = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[..., 1:] += self.lips - lip_chroma(driver_frame, driver_landmarks)
        return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB).astype(np.float32)

    def painted_band(self, inside: np.ndarray, landmarks: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """The fallback for a closed-mouth still with no driver's mouth to take teeth from: the edges of the front
        upper teeth under the upper lip (a thirtieth of a face size deep, at most a third of the opening), in the
        portrait's light, fading out towards the mouth's corners, with a soft lower edge."""
        x0, y0, x1, y1 = box
        upper = landmarks[list(UPPER_LIP)].mean(axis=0)
        corners = landmarks[[regions.LIPS_INNER[0], regions.LIPS_INNER[10]]]
        depth = max(min(0.035 * self.size, 0.33 * lip_gap(landmarks)), 1.0)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        # The band's top follows the upper lip's curve from corner to corner; each tooth's lower corners are
        # rounded off and the teeth parted by a fine shadow, so the band reads as teeth, not a bar.
        below = ys - np.interp(xs[0], *_contour(landmarks, upper=True))[None, :]
        parting = self._partings(xs[0] - upper[0])[None, :]
        edge = depth * (1.0 - 0.35 * parting)
        band = np.clip(1.0 - (below - edge) / 1.5, 0.0, 1.0) * (below > -2)
        half = max(float(np.abs(corners[:, 0] - upper[0]).max()), 1.0)
        # The front teeth only: full over the middle half of the mouth, gone at two thirds of the way to a corner.
        band = band * np.clip((0.66 - np.abs(xs - upper[0]) / half) / 0.16, 0.0, 1.0)
        shade = (0.85 + 0.15 * np.clip(below / depth, 0.0, 1.0)) * (1.0 - 0.3 * parting)  # darker at the gum
        colour = self.painted_teeth[None, None, :] * shade[..., None]
        band = band[..., None]
        return inside * (1.0 - band) + colour * band

    def _partings(self, offsets: np.ndarray) -> np.ndarray:
        """How close each column (``offsets`` from the mouth's middle, pixels) is to a parting between two front
        teeth, 1 on it to 0 a pixel away: the middle, then the widths of the incisors and the canine on each side."""
        edges = np.cumsum(TOOTH_WIDTHS) * self.size
        partings = np.concatenate([-edges[::-1], [0.0], edges])
        distance = np.abs(offsets[:, None] - partings[None, :]).min(axis=1)
        return np.clip(1.0 - distance / 1.2, 0.0, 1.0)


def painted_tooth_colour(skin: np.ndarray) -> np.ndarray:
    """A tooth's colour in the light of a face whose cheeks are ``skin`` (RGB): off-white, well lighter than the skin
    (L* between 68 and 88) and a little warm."""
    lab = cv2.cvtColor(np.clip(skin, 0, 255).astype(np.uint8)[None, None], cv2.COLOR_RGB2LAB)[0, 0].astype(np.float32)
    lightness = float(np.clip(lab[0] * 100.0 / 255.0 + 25.0, 68.0, 88.0))
    tooth = np.array([[[lightness * 255.0 / 100.0, 130.0, 138.0]]], np.float32)
    return cv2.cvtColor(tooth.astype(np.uint8), cv2.COLOR_LAB2RGB)[0, 0].astype(np.float32)
