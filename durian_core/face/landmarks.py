"""Face landmarks with MediaPipe face mesh: 478 points per face, in pixels.

MediaPipe graphs are not thread-safe, so each thread keeps its own detectors; video tracking uses a fresh
tracking graph per call because the graph carries the previous frame's face.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from durian_core.config import FaceSettings
from durian_core.errors import DurianInputError, NoFaceError
from durian_core.face.regions import NUM_LANDMARKS

_local = threading.local()


def _mediapipe():
    # Imported lazily: mediapipe takes a second to import and pulls TensorFlow Lite in.
    import mediapipe as mp

    return mp


def _static_mesh(settings: FaceSettings):
    mesh = getattr(_local, "static_mesh", None)
    if mesh is None:
        mesh = _mediapipe().solutions.face_mesh.FaceMesh(
            static_image_mode=True,
            max_num_faces=4,
            refine_landmarks=True,
            min_detection_confidence=settings.min_detection_confidence,
        )
        _local.static_mesh = mesh
    return mesh


def _face_detector():
    detector = getattr(_local, "face_detector", None)
    if detector is None:
        # Full-range model: finds the small faces of half-body shots that the mesh's own detector misses.
        detector = _mediapipe().solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
        _local.face_detector = detector
    return detector


def _to_pixels(face, width: int, height: int) -> np.ndarray:
    points = np.array([(p.x, p.y) for p in face.landmark], np.float32)
    if len(points) != NUM_LANDMARKS:
        raise RuntimeError(f"face mesh returned {len(points)} landmarks, expected {NUM_LANDMARKS}")
    points[:, 0] *= width
    points[:, 1] *= height
    return points


def _area(points: np.ndarray) -> float:
    span = points.max(axis=0) - points.min(axis=0)
    return float(span[0] * span[1])


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DurianInputError(f"expected an RGB uint8 image, got shape {image.shape} and dtype {image.dtype}")


def _mesh_faces(image: np.ndarray, settings: FaceSettings) -> list[np.ndarray]:
    height, width = image.shape[:2]
    result = _static_mesh(settings).process(np.ascontiguousarray(image))
    return [_to_pixels(face, width, height) for face in (result.multi_face_landmarks or [])]


def detect_faces(image: np.ndarray, *, settings: FaceSettings = FaceSettings()) -> list[np.ndarray]:
    """Landmarks of every face found (up to four), largest first: 478×2 float32 pixel coordinates each.

    Faces are ordered by the area of their landmarks' bounding box, so face 0 is the largest and face 1 the next;
    equal sizes are ordered left to right. Raises :class:`NoFaceError` when there is none.
    """
    _check_image(image)
    height, width = image.shape[:2]
    scale = min(1.0, settings.detect_size / max(height, width))
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    faces = _mesh_faces(small, settings)
    # The mesh's own detector misses small faces (half-body shots, the back row of a group): the full-range
    # detector finds some, and the mesh run on overlapping tiles of a large photo finds the rest.
    extras = _faces_via_detector(small, settings)
    if max(height, width) > 1.5 * settings.detect_size:
        extras += [face * scale for face in _faces_on_tiles(image, settings)]
    for extra in extras:
        centre, size = extra.mean(axis=0), max(np.ptp(extra, axis=0))
        if all(np.linalg.norm(face.mean(axis=0) - centre) > 0.5 * size for face in faces):
            faces.append(extra)
    if not faces:
        raise NoFaceError("no face found in the image: use a photo where one face is clearly visible")
    faces = [face / scale for face in faces]
    return sorted(faces, key=lambda face: (-_area(face), float(face[:, 0].mean())))


def detect_landmarks(image: np.ndarray, *, face: int = 0, settings: FaceSettings = FaceSettings()) -> np.ndarray:
    """Landmarks of one face in an RGB image (``face`` 0 = the largest), a 478×2 float32 array of pixel coordinates.

    Raises :class:`NoFaceError` when there is no face, and :class:`DurianInputError` when there are fewer faces
    than ``face`` asks for.
    """
    return choose_face(detect_faces(image, settings=settings), face)


def choose_face(faces: list[np.ndarray], face: int) -> np.ndarray:
    """Face ``face`` of :func:`detect_faces`'s list (0 = the largest), or a clear error naming how many there are."""
    if not 0 <= face < len(faces):
        count = f"{len(faces)} face" + ("s" if len(faces) != 1 else "")
        raise DurianInputError(
            f"the image shows {count}, so there is no face {face}: choose 0 (the largest) to {len(faces) - 1}"
        )
    return faces[face]


def _faces_on_tiles(image: np.ndarray, settings: FaceSettings) -> list[np.ndarray]:
    """Faces found by the mesh on overlapping tiles of ``detect_size`` (full-image pixels)."""
    height, width = image.shape[:2]
    side = settings.detect_size
    step = int(side * 0.75)
    faces = []
    for y0 in range(0, max(1, height - side // 4), step):
        for x0 in range(0, max(1, width - side // 4), step):
            tile = np.ascontiguousarray(image[y0 : y0 + side, x0 : x0 + side])
            if min(tile.shape[:2]) < 64:
                continue
            for points in _mesh_faces(tile, settings):
                faces.append(points + np.array([x0, y0], np.float32))
    return faces


def _faces_via_detector(image: np.ndarray, settings: FaceSettings) -> list[np.ndarray]:
    """Find small faces with the full-range detector, then run the mesh on a crop around each."""
    height, width = image.shape[:2]
    detections = _face_detector().process(np.ascontiguousarray(image)).detections or []
    faces = []
    for detection in detections:
        box = detection.location_data.relative_bounding_box
        cx, cy = (box.xmin + box.width / 2) * width, (box.ymin + box.height / 2) * height
        half = max(box.width * width, box.height * height) * 1.2
        x0, y0 = int(max(0, cx - half)), int(max(0, cy - half))
        x1, y1 = int(min(width, cx + half)), int(min(height, cy + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            continue
        crop = cv2.resize(image[y0:y1, x0:x1], (256, round(256 * (y1 - y0) / (x1 - x0))))
        for points in _mesh_faces(crop, settings):
            points[:, 0] = points[:, 0] * (x1 - x0) / crop.shape[1] + x0
            points[:, 1] = points[:, 1] * (y1 - y0) / crop.shape[0] + y0
            faces.append(points)
    return faces


def tracking_mesh(settings: FaceSettings = FaceSettings()):
    """MediaPipe's face mesh in tracking mode, for one stream of frames (not to be shared between streams)."""
    return _mediapipe().solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=settings.min_detection_confidence,
        min_tracking_confidence=settings.min_tracking_confidence,
    )


def main_face(mesh, frame: np.ndarray) -> np.ndarray | None:
    """The landmarks (478×2 float32, pixels) of the face a :func:`tracking_mesh` follows in ``frame``, or None."""
    result = mesh.process(np.ascontiguousarray(frame))
    if not result.multi_face_landmarks:
        return None
    height, width = frame.shape[:2]
    return _to_pixels(result.multi_face_landmarks[0], width, height)


def track_landmarks(frames: np.ndarray, *, settings: FaceSettings = FaceSettings()) -> np.ndarray:
    """Landmarks of the main face in every frame of a video, F×478×2 float32 in pixels.

    Frames where the face is lost are filled from their neighbours; light temporal smoothing removes the
    detector's jitter on still faces. Raises :class:`NoFaceError` when most frames have no face.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise DurianInputError(f"expected F×H×W×3 video frames, got shape {frames.shape}")
    height, width = frames.shape[1:3]
    tracked = np.full((len(frames), NUM_LANDMARKS, 2), np.nan, np.float32)
    with tracking_mesh(settings) as mesh:
        for index, frame in enumerate(frames):
            points = main_face(mesh, frame)
            if points is not None:
                tracked[index] = points
    found = ~np.isnan(tracked[:, 0, 0])
    if found.sum() == 0 or 1.0 - found.mean() > settings.max_missing_fraction:
        raise NoFaceError(
            f"no face found in {int((~found).sum())} of {len(frames)} driving frames: "
            "use a video where one face stays visible"
        )
    return smooth_track(fill_missing(tracked, found), sigma=settings.smoothing_sigma)


class LandmarkTracker:
    """The main face of a video, frame by frame as the frames arrive (MediaPipe in tracking mode).

    Each frame's landmarks come out ``lookahead`` frames later than the frame went in: by then a lost face is
    filled from the frames around it (linearly between the last frame with a face and the next one; held when
    the face does not come back within the look-ahead) and jitter is smoothed over the same neighbours as
    :func:`track_landmarks` smooths. Memory holds ``lookahead`` frames, whatever the video's length.
    """

    def __init__(self, *, settings: FaceSettings = FaceSettings(), lookahead: int = 8, give_up_after: int = 90):
        self.settings = settings
        self.lookahead = max(lookahead, int(round(3 * settings.smoothing_sigma)) + 1)
        self.give_up_after = give_up_after  # frames from the start without any face: the video is refused
        self._mesh = tracking_mesh(settings)
        radius = max(1, int(round(3 * settings.smoothing_sigma))) if settings.smoothing_sigma > 0 else 0
        taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / max(settings.smoothing_sigma, 1e-6)) ** 2)
        self._taps = (taps / taps.sum()).astype(np.float32)
        self._radius = radius
        self._pending: list[tuple[object, np.ndarray | None]] = []  # (item, raw landmarks or None), not yet out
        self._history: list[np.ndarray] = []  # the last emitted (filled, unsmoothed) landmarks, for smoothing
        self._last: np.ndarray | None = None  # last filled landmarks
        self.frames = 0
        self.missing = 0

    def push(self, frame: np.ndarray, item: object = None) -> list[tuple[object, np.ndarray]]:
        """Track one frame; returns the ``(item, landmarks)`` pairs that are settled now (``item`` defaults to the
        frame itself: whatever the caller needs back with the landmarks)."""
        points = main_face(self._mesh, frame)
        self.frames += 1
        self.missing += points is None
        if self._last is None and all(raw is None for _, raw in self._pending) and points is None:
            if self.frames >= self.give_up_after:
                raise NoFaceError(
                    f"no face found in the first {self.frames} driving frames: use a video where one face stays "
                    "visible"
                )
        self._pending.append((frame if item is None else item, points))
        return self._settle(final=False)

    def finish(self) -> list[tuple[object, np.ndarray]]:
        """The remaining pairs, once the video has ended; raises :class:`NoFaceError` when most frames had no
        face."""
        self._mesh.close()
        if self.frames and (
            self.frames == self.missing or self.missing / self.frames > self.settings.max_missing_fraction
        ):
            raise NoFaceError(
                f"no face found in {self.missing} of {self.frames} driving frames: use a video where one face "
                "stays visible"
            )
        return self._settle(final=True)

    def _settle(self, *, final: bool) -> list[tuple[object, np.ndarray]]:
        out = []
        while self._pending and (final or len(self._pending) > self.lookahead):
            if self._last is None and all(raw is None for _, raw in self._pending) and not final:
                break  # no face seen yet: wait for one to fill these from
            item, raw = self._pending.pop(0)
            if raw is None:
                raw = self._fill()
            self._last = raw
            self._history.append(raw)
            out.append((item, self._smoothed()))
        return out

    def _fill(self) -> np.ndarray:
        ahead = next((index for index, (_, raw) in enumerate(self._pending) if raw is not None), None)
        if self._last is None:
            return self._pending[ahead][1] if ahead is not None else np.zeros((NUM_LANDMARKS, 2), np.float32)
        if ahead is None:
            return self._last  # not back within the look-ahead: hold the last pose
        weight = 1.0 / (ahead + 2)
        return (self._last * (1 - weight) + self._pending[ahead][1] * weight).astype(np.float32)

    def _smoothed(self) -> np.ndarray:
        """Smoothing over emitted frames behind and pending frames ahead (raw ahead, filled by holding)."""
        if self._radius == 0:
            return self._history[-1]
        behind = self._history[-(self._radius + 1) :]
        ahead = [raw if raw is not None else behind[-1] for _, raw in self._pending[: self._radius]]
        window = [behind[0]] * (self._radius + 1 - len(behind)) + behind + ahead
        window += [window[-1]] * (2 * self._radius + 1 - len(window))
        del self._history[: -(self._radius + 1)]
        return np.tensordot(self._taps, np.stack(window), axes=1).astype(np.float32)


def fill_missing(tracked: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Linearly interpolate the frames without a face from the nearest frames with one."""
    if found.all():
        return tracked
    frame_index = np.arange(len(tracked))
    flat = tracked.reshape(len(tracked), -1)
    filled = np.empty_like(flat)
    for column in range(flat.shape[1]):
        filled[:, column] = np.interp(frame_index, frame_index[found], flat[found, column])
    return filled.reshape(tracked.shape)


def smooth_track(tracked: np.ndarray, *, sigma: float) -> np.ndarray:
    """Gaussian smoothing along time (edges padded by reflection)."""
    if sigma <= 0 or len(tracked) < 3:
        return tracked
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    padded = np.pad(tracked, ((radius, radius), (0, 0), (0, 0)), mode="reflect" if len(tracked) > radius else "edge")
    smoothed = np.zeros_like(tracked)
    for offset, tap in enumerate(taps):
        smoothed += tap * padded[offset : offset + len(tracked)]
    return smoothed.astype(np.float32)
