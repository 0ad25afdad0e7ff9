"""Face landmarks with MediaPipe face mesh: 478 points per face, in pixels.

MediaPipe graphs are not thread-safe, so the detectors for stills are lent one call at a time from pools that every
thread shares (:mod:`durian_core.face.graphs`); every stream of frames gets a tracking graph of its own
(:class:`FaceFollower`) because the graph carries the previous frame's face. The one tracker that turns a video's
detections into landmarks, decoded or streamed alike, is :class:`durian_core.face.tracking.LandmarkTracker`.
"""

from __future__ import annotations

import threading
from collections import deque

import cv2
import numpy as np

from durian_core.config import FaceSettings
from durian_core.errors import DurianInputError, FaceIndexError, NoFaceError
from durian_core.face import regions
from durian_core.face.blocks import blockiness, deblocked
from durian_core.face.graphs import GraphPool
from durian_core.face.regions import NUM_LANDMARKS


def _mediapipe():
    # Imported lazily: mediapipe takes a second to import and pulls TensorFlow Lite in.
    import mediapipe as mp

    return mp


_static_meshes: dict[float, GraphPool] = {}  # by detection confidence, the one setting a static mesh is made with
_static_meshes_lock = threading.Lock()


def _static_meshes_for(settings: FaceSettings) -> GraphPool:
    confidence = settings.min_detection_confidence
    with _static_meshes_lock:
        if confidence not in _static_meshes:
            _static_meshes[confidence] = GraphPool(
                lambda: _mediapipe().solutions.face_mesh.FaceMesh(
                    static_image_mode=True, max_num_faces=4, refine_landmarks=True, min_detection_confidence=confidence
                )
            )
        return _static_meshes[confidence]


# Full-range model: finds the small faces of half-body shots that the mesh's own detector misses.
_face_detectors = GraphPool(
    lambda: _mediapipe().solutions.face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5)
)


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
    with _static_meshes_for(settings).checkout() as mesh:
        result = mesh.process(np.ascontiguousarray(image))
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
    small = deblocked(small) if scale == 1.0 else small  # a resized picture has lost its block grid
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
    """Face ``face`` of :func:`detect_faces`'s list (0 = the largest); :class:`FaceIndexError` names how many there
    are."""
    if not 0 <= face < len(faces):
        raise FaceIndexError(face, len(faces))
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
    with _face_detectors.checkout() as detector:
        detections = detector.process(np.ascontiguousarray(image)).detections or []
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


def _tracking_mesh(settings: FaceSettings, faces: int = 1):
    """MediaPipe's face mesh in tracking mode, for one stream of frames (not to be shared between streams)."""
    return _mediapipe().solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=faces,
        refine_landmarks=True,
        min_detection_confidence=settings.min_detection_confidence,
        min_tracking_confidence=settings.min_tracking_confidence,
    )


PRIOR_FRAMES = 15
"""Frames during which the last face found stays the prior: where to look again, and what a new find must be
near."""
MAX_STEP = 0.6
"""Face sizes the face may move, or (as a factor) grow or shrink by, from one frame to the next; further is a
jump to something else (on a blocky frame the mesh can slide onto the background)."""
SEARCH_SPAN = 2.4  # side of the crop searched around the last face, in face sizes
SEARCH_SIDE = 256  # the crop is resized to this side: a small face is looked at larger
BLOCKINESS_FRAMES = 15  # frames over which a stream's blockiness is taken (several key-frame intervals)
CHECK_FRAMES = 30
"""Frames after the face is first found, or found again, in which the graph's face is checked against the
still-image mesh (:meth:`FaceFollower._check`)."""
AGREE = 0.12  # face sizes apart the two may be (their usual difference is a few hundredths)


class FaceFollower:
    """The detection step of every tracker (drivers, decoded or streamed, and the live camera): MediaPipe's face
    mesh in tracking mode, following the main face of one stream of frames.

    What it adds for small and heavily compressed video: frames that are blocky (the median
    :func:`~durian_core.face.blocks.blockiness` of the latest frames) are smoothed before the mesh sees them
    (:func:`~durian_core.face.blocks.deblocked`); and the last face found
    is a prior: when the mesh loses the face, or jumps away from it, the face is searched again in a crop around
    its last place, resized up, for :data:`PRIOR_FRAMES` frames; and for :data:`CHECK_FRAMES` frames after the
    face is found (again), the graph's face is checked against the still-image mesh on such a crop.

    The graph carries the previous frame's face, so each stream needs a follower of its own; it opens on the first
    frame and is released by :meth:`close` (or a ``with`` block). ``faces`` above 1 follows that many faces (a
    video portrait's chosen person among others); MediaPipe then looks for the missing ones on every frame.
    """

    def __init__(self, settings: FaceSettings = FaceSettings(), *, faces: int = 1) -> None:
        self.settings = settings
        self.faces = faces
        self._mesh = None
        self._prior: np.ndarray | None = None  # the last face found
        self._lost = 0  # frames since then
        self._checking = CHECK_FRAMES  # frames the graph's finds are still to be checked against the still mesh
        self._blocky: deque[float] = deque(maxlen=BLOCKINESS_FRAMES)  # the latest frames' blockiness

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        """The main face's landmarks in ``frame`` (478×2 float32, pixels), or None when there is none."""
        image = self._clean(np.ascontiguousarray(frame))
        points = self._track(image)
        if points is not None and self._prior is not None and not _close_to(points, self._prior):
            points = None
            self._release_graph()  # it holds on to what it slid onto: start it afresh
        if points is None and self._prior is not None:
            points = self._search(image, self._prior)
        elif points is not None and self._checking:
            points = self._check(image, points)
        if points is None:
            self._lost += 1
            self._checking = CHECK_FRAMES  # whatever the graph finds next is checked for a while
            if self._lost > PRIOR_FRAMES:
                self._prior = None  # long gone: whatever shows next is the face
            return None
        self._prior, self._lost = points, 0
        return points

    def _check(self, image: np.ndarray, points: np.ndarray) -> np.ndarray:
        """The graph's face, or the still-image mesh's beside it where the two disagree.

        Found afresh, the graph's face can settle on a face-like patch beside the face (a chin and a collar on a
        smeared frame) and follow it from then on; the still-image mesh looks at the crop anew each time.
        """
        self._checking -= 1
        fresh = self._search(image, points)
        if fresh is None or _apart(fresh, points) <= AGREE:
            return points
        self._release_graph()
        self._checking = CHECK_FRAMES  # it may settle there again: keep checking
        return fresh

    def _clean(self, frame: np.ndarray) -> np.ndarray:
        # The median of the latest frames: a stream is blocky or not as a whole (its key frames are blockier than
        # the rest), so the choice does not flicker from frame to frame.
        self._blocky.append(blockiness(frame))
        return deblocked(frame, measured=float(np.median(self._blocky)))

    def _track(self, image: np.ndarray) -> np.ndarray | None:
        if self._mesh is None:
            self._mesh = _tracking_mesh(self.settings, self.faces)
        result = self._mesh.process(image)
        if not result.multi_face_landmarks:
            return None
        height, width = image.shape[:2]
        return _to_pixels(result.multi_face_landmarks[0], width, height)

    def all_faces(self, frame: np.ndarray) -> list[np.ndarray]:
        """Landmarks of every face followed in ``frame`` (478×2 float32 each, pixels), in MediaPipe's order (no
        prior: a video portrait's chosen person is picked among them by its caller)."""
        if self._mesh is None:
            self._mesh = _tracking_mesh(self.settings, self.faces)
        result = self._mesh.process(np.ascontiguousarray(frame))
        height, width = frame.shape[:2]
        return [_to_pixels(face, width, height) for face in result.multi_face_landmarks or []]

    def _search(self, image: np.ndarray, prior: np.ndarray) -> np.ndarray | None:
        """The face near ``prior``, found by the still-image mesh in a crop around it, resized up."""
        height, width = image.shape[:2]
        centre, half = regions.face_center(prior), 0.5 * SEARCH_SPAN * regions.face_size(prior)
        x0, y0 = int(max(0, centre[0] - half)), int(max(0, centre[1] - half))
        x1, y1 = int(min(width, centre[0] + half)), int(min(height, centre[1] + half))
        if x1 - x0 < 16 or y1 - y0 < 16:
            return None
        scale = SEARCH_SIDE / max(x1 - x0, y1 - y0)
        crop = cv2.resize(image[y0:y1, x0:x1], (round((x1 - x0) * scale), round((y1 - y0) * scale)))
        found = [points / scale + np.array([x0, y0], np.float32) for points in _mesh_faces(crop, self.settings)]
        found = [points for points in found if _close_to(points, prior)]
        if not found:
            return None
        return min(found, key=lambda points: float(np.linalg.norm(points.mean(axis=0) - prior.mean(axis=0))))

    def _release_graph(self) -> None:
        if self._mesh is not None:
            self._mesh.close()
            self._mesh = None

    def close(self) -> None:
        self._release_graph()
        self._prior, self._lost, self._checking = None, 0, CHECK_FRAMES
        self._blocky.clear()

    def __enter__(self) -> FaceFollower:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _apart(points: np.ndarray, other: np.ndarray) -> float:
    """How far apart two faces' landmarks are, on average, in face sizes."""
    return float(np.linalg.norm(points - other, axis=-1).mean()) / regions.face_size(other)


def _close_to(points: np.ndarray, prior: np.ndarray) -> bool:
    """Whether a face found is where the face was a frame ago (a step, not a jump; about its size)."""
    size = regions.face_size(prior)
    step = float(np.linalg.norm(regions.face_center(points) - regions.face_center(prior)))
    growth = regions.face_size(points) / size
    return step <= MAX_STEP * size and 1 / (1 + MAX_STEP) <= growth <= 1 + MAX_STEP
