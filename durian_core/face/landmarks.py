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


def _largest(faces: list[np.ndarray]) -> np.ndarray:
    def area(points: np.ndarray) -> float:
        span = points.max(axis=0) - points.min(axis=0)
        return float(span[0] * span[1])

    return max(faces, key=area)


def _check_image(image: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DurianInputError(f"expected an RGB uint8 image, got shape {image.shape} and dtype {image.dtype}")


def _mesh_faces(image: np.ndarray, settings: FaceSettings) -> list[np.ndarray]:
    height, width = image.shape[:2]
    result = _static_mesh(settings).process(np.ascontiguousarray(image))
    return [_to_pixels(face, width, height) for face in (result.multi_face_landmarks or [])]


def detect_landmarks(image: np.ndarray, *, settings: FaceSettings = FaceSettings()) -> np.ndarray:
    """Landmarks of the largest face in an RGB image, as a 478×2 float32 array of pixel coordinates.

    Raises :class:`NoFaceError` when there is no face.
    """
    _check_image(image)
    height, width = image.shape[:2]
    scale = min(1.0, settings.detect_size / max(height, width))
    small = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    faces = _mesh_faces(small, settings)
    if not faces:
        faces = _faces_via_detector(small, settings)
    if not faces:
        raise NoFaceError("no face found in the image: use a photo where one face is clearly visible")
    return _largest(faces) / scale


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


def track_landmarks(frames: np.ndarray, *, settings: FaceSettings = FaceSettings()) -> np.ndarray:
    """Landmarks of the main face in every frame of a video, F×478×2 float32 in pixels.

    Frames where the face is lost are filled from their neighbours; light temporal smoothing removes the
    detector's jitter on still faces. Raises :class:`NoFaceError` when most frames have no face.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise DurianInputError(f"expected F×H×W×3 video frames, got shape {frames.shape}")
    height, width = frames.shape[1:3]
    tracked = np.full((len(frames), NUM_LANDMARKS, 2), np.nan, np.float32)
    mesh = _mediapipe().solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=True,
        min_detection_confidence=settings.min_detection_confidence,
        min_tracking_confidence=settings.min_tracking_confidence,
    )
    with mesh:
        for index, frame in enumerate(frames):
            result = mesh.process(np.ascontiguousarray(frame))
            if result.multi_face_landmarks:
                tracked[index] = _to_pixels(result.multi_face_landmarks[0], width, height)
    found = ~np.isnan(tracked[:, 0, 0])
    if found.sum() == 0 or 1.0 - found.mean() > settings.max_missing_fraction:
        raise NoFaceError(
            f"no face found in {int((~found).sum())} of {len(frames)} driving frames: "
            "use a video where one face stays visible"
        )
    return smooth_track(fill_missing(tracked, found), sigma=settings.smoothing_sigma)


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
