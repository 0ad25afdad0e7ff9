"""Self-reconstruction samples: frame choice, complementary masking, augmentation and guidance dropout.

From one video the sampler picks an attribute frame, a portrait frame and the target frame(s) (one frame in stage 1,
a clip of F frames at a stride in stage 2). The attribute reference keeps only the attribute
(``I_attr ⊙ M_attr``); the portrait reference keeps everything but an expanded attribute region
(``I_port ⊙ (1 − M_port)``), so the model must take the attribute from one reference and the rest from the other,
as it will at inference where the two come from different people. Random affine warps and colour jitter on both
references (never on the target) stop it from copying pixels in place, and references, keypoints and the image
embedding are dropped now and then, as the pipeline's guidance branches drop them, so signal-fusion guidance has
trained branches to combine.

Every random choice comes from a generator seeded by (seed, sample index): a sample is a pure function of its
index, so a resumed run sees exactly the data an unbroken one would.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from durian_core.errors import DurianInputError
from durian_core.face.masks import expand_mask
from durian_core.training import store


@dataclass(frozen=True)
class SamplingConfig:
    """How training samples are drawn and disturbed. Probabilities are per sample."""

    num_frames: int = 1  # target frames per sample: 1 in stage 1, a clip (e.g. 16) in stage 2
    frame_stride: int = 1  # frames between consecutive target frames of a clip
    mask_growth: float = 0.04  # landmark-guided growth of M_port, in face sizes
    max_random_growth: float = 0.12  # plus a uniform random extra growth up to this
    generated_expansion_probability: float = 0.5  # use the generated expansion mask from disk when there is one
    augment_probability: float = 0.9  # apply the random affine + colour jitter to a reference
    max_translate: float = 0.08  # fraction of the side
    scale_range: tuple[float, float] = (0.9, 1.1)
    max_rotate_degrees: float = 12.0
    brightness: float = 0.15  # ± multiplicative
    contrast: float = 0.15
    saturation: float = 0.15
    max_hue_shift: float = 0.03  # fraction of the hue circle
    # Attribute recolouring: the attribute's pixels, in the target frames and the attribute reference alike, turn
    # by one random hue (any on the circle). Small data then holds more attribute colours than it has people, and
    # the colour can only come from the attribute reference. 0 (the paper's recipe) for real data.
    recolour_probability: float = 0.0
    # Identity recolouring: everything but the attribute (skin, eyes, background, clothes), in the target frames and
    # the portrait reference alike, turns by one random hue and brightens or darkens by one random gain (up to
    # ``identity_gain``). The face's colours then vary far more than a few people's do, and can only come from the
    # portrait reference. 0 (the paper's recipe) for real data.
    identity_recolour_probability: float = 0.0
    identity_gain: float = 0.3
    # Guidance dropout, nested like the pipeline's signal-fusion branches (ε_u, ε_p, ε_pa, ε_pam), so each branch
    # the pipeline runs at inference has been trained: no signal at all; the portrait alone (no attribute, no image
    # embedding, no motion); both references without motion. The rest of the samples carry every signal.
    unconditional_probability: float = 0.05
    portrait_only_probability: float = 0.05
    no_motion_probability: float = 0.05
    min_mask_fraction: float = 0.002  # an attribute covering less of the frame is treated as absent
    # Draw the attribute kind first, each kind of the dataset equally often, then a video that has it. The paper's
    # recipe (False) draws a video, then one of its kinds: where every video has hair and only some a second
    # attribute, hair is then the attribute of most samples, and a toy model learns to paint hair from whatever
    # attribute reference it is given.
    balance_kinds: bool = False
    # A second attribute reference, of another kind and from another video, that the sample's portrait keeps its own
    # region of: the target still shows the portrait's own, so the model learns that a reference changes only the
    # region the portrait gives up, not whatever its colour could paint. Without it a single-reference recipe never
    # sees two attribute references, and composing a beard beside hair mixes the two colours in both regions.
    # 0 (the paper's recipe): every sample holds one attribute reference.
    other_kind_probability: float = 0.0
    # Of the samples that carry a second reference, the share whose second reference is the sample's own video's
    # other attribute (when it wears one), the portrait giving up both regions: the two-reference composition the
    # pipeline runs, trained as such. 0: every second reference is a distractor from another video.
    composed_share: float = 0.0

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_stride < 1:
            raise DurianInputError(
                f"need num_frames >= 1 and frame_stride >= 1, got {self.num_frames}/{self.frame_stride}"
            )
        if len(self.scale_range) != 2:
            raise DurianInputError(f"scale_range must be two numbers (low, high), got {self.scale_range}")
        low, high = self.scale_range
        if not 0 < low <= high:
            raise DurianInputError(f"scale_range must be increasing and positive, got {self.scale_range}")
        if not 0.0 <= self.identity_gain < 1.0:
            raise DurianInputError(f"identity_gain must be within [0, 1), got {self.identity_gain}")
        for name in (
            "generated_expansion_probability",
            "augment_probability",
            "unconditional_probability",
            "portrait_only_probability",
            "no_motion_probability",
            "recolour_probability",
            "identity_recolour_probability",
            "other_kind_probability",
            "composed_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise DurianInputError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        dropped = self.unconditional_probability + self.portrait_only_probability + self.no_motion_probability
        if dropped > 1.0:
            raise DurianInputError(f"the three guidance-dropout probabilities add up to {dropped:.3f} > 1")


NO_AUGMENTATION = dict(
    augment_probability=0.0,
    unconditional_probability=0.0,
    portrait_only_probability=0.0,
    no_motion_probability=0.0,
    max_random_growth=0.0,
    generated_expansion_probability=0.0,
)
"""Overrides that make sampling deterministic apart from the frame choice (evaluation)."""


@dataclass(frozen=True, eq=False)
class Sample:
    """One self-reconstruction example, images as uint8 and masks as float32 in [0, 1]."""

    video_id: str
    kind: str
    frame_indices: tuple[int, int, tuple[int, ...]]  # (attribute frame, portrait frame, target frames)
    target: np.ndarray  # F×R×R×3
    keypoints: np.ndarray  # F×R×R×3
    attribute_reference: np.ndarray  # R×R×3, I_attr ⊙ M_attr after augmentation
    attribute_mask: np.ndarray  # R×R, M_attr
    portrait_reference: np.ndarray  # R×R×3, I_port ⊙ (1 − M_port) after augmentation
    portrait_mask: np.ndarray  # R×R, M_port (the removed region)
    drop_portrait: bool
    drop_attribute: bool
    drop_motion: bool
    # A second attribute reference of another kind (see ``SamplingConfig.other_kind_probability``): I ⊙ M and M.
    other_reference: np.ndarray | None = None
    other_mask: np.ndarray | None = None
    other_kind: str = ""
    other_video: str = ""


def choose_frames(
    num_available: int, *, num_frames: int, stride: int, rng: np.random.Generator
) -> tuple[int, int, tuple[int, ...]]:
    """Pick (attribute frame, portrait frame, target frames); references avoid the targets when the video allows."""
    span = (num_frames - 1) * stride + 1
    if num_available < span:
        raise DurianInputError(
            f"a video of {num_available} frames is too short for {num_frames} frames at stride {stride}"
        )
    start = int(rng.integers(0, num_available - span + 1))
    targets = tuple(range(start, start + span, stride))
    others = np.setdiff1d(np.arange(num_available), targets)
    pool = others if len(others) >= 2 else np.arange(num_available)
    attribute, portrait = rng.choice(pool, size=2, replace=len(pool) < 2)
    return int(attribute), int(portrait), targets


def random_affine(size: int, rng: np.random.Generator, config: SamplingConfig) -> np.ndarray:
    """A 2×3 matrix: rotation and scale about the centre, then a shift."""
    angle = rng.uniform(-config.max_rotate_degrees, config.max_rotate_degrees)
    scale = rng.uniform(*config.scale_range)
    matrix = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), angle, scale)
    matrix[:, 2] += rng.uniform(-config.max_translate, config.max_translate, size=2) * size
    return matrix


def colour_jitter(image: np.ndarray, rng: np.random.Generator, config: SamplingConfig) -> np.ndarray:
    """Brightness, contrast, saturation and hue changes of an RGB uint8 image."""
    work = image.astype(np.float32)
    work *= 1.0 + rng.uniform(-config.brightness, config.brightness)
    mean = work.mean()
    work = (work - mean) * (1.0 + rng.uniform(-config.contrast, config.contrast)) + mean
    grey = work.mean(axis=2, keepdims=True)
    work = (work - grey) * (1.0 + rng.uniform(-config.saturation, config.saturation)) + grey
    work = np.clip(work, 0, 255).astype(np.uint8)
    if config.max_hue_shift > 0:
        work = rotate_hue(work, rng.uniform(-config.max_hue_shift, config.max_hue_shift))
    return work


def rotate_hue(image: np.ndarray, shift: float) -> np.ndarray:
    """An RGB uint8 image with every pixel's hue turned by ``shift`` (a fraction of the circle)."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(shift * 256)) % 256).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)


def turn_hue(image: np.ndarray, mask: np.ndarray, shift: float, gain: float = 1.0) -> np.ndarray:
    """``image`` with its hue turned by ``shift`` (a fraction of the circle) and its values times ``gain`` where
    ``mask`` (in [0, 1]) lies, blended by the mask."""
    turned = rotate_hue(image, shift).astype(np.float32)
    if gain != 1.0:
        turned = np.clip(turned * gain, 0, 255)
    weight = mask[..., None]
    return np.round(image.astype(np.float32) * (1 - weight) + turned * weight).astype(np.uint8)


def augment_reference(
    image: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    config: SamplingConfig,
    *,
    mask_border: str = "zero",
) -> tuple[np.ndarray, np.ndarray]:
    """Warp an image and its mask with one random affine (so they stay aligned), then jitter the image's colour.

    The image's exposed border is filled by replicating its edge. ``mask_border`` is ``"zero"`` for a mask whose
    outside is empty (the attribute) and ``"replicate"`` for one that must keep covering what it covered at the
    frame edge (the portrait's removed region).
    """
    if rng.uniform() >= config.augment_probability:
        return image, mask
    size = image.shape[0]
    matrix = random_affine(size, rng, config)
    warped = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    border = cv2.BORDER_CONSTANT if mask_border == "zero" else cv2.BORDER_REPLICATE
    warped_mask = cv2.warpAffine(
        mask.astype(np.float32), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0.0
    )
    return colour_jitter(warped, rng, config), np.clip(warped_mask, 0.0, 1.0)


def portrait_removal_mask(
    attribute_mask: np.ndarray,
    landmarks: np.ndarray,
    rng: np.random.Generator,
    config: SamplingConfig,
    *,
    generated: np.ndarray | None = None,
) -> np.ndarray:
    """``M_port``: the attribute's region grown along the face (landmark-guided plus random), with the generated
    expansion mask united in when one is given, and covering every pixel the attribute touches at all."""
    extra = None
    if generated is not None and rng.uniform() < config.generated_expansion_probability:
        extra = generated
    grown = expand_mask(
        attribute_mask,
        landmarks,
        growth=config.mask_growth,
        rng=rng,
        max_random_growth=config.max_random_growth,
        extra=extra,
    )
    # Soft attribute edges count as attribute: the portrait reference must not keep a trace of them.
    return np.maximum(grown, (attribute_mask > 0).astype(np.float32))


def mask_image(image: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``image ⊙ keep`` in uint8 (keep in [0, 1])."""
    return np.round(image.astype(np.float32) * keep[..., None]).astype(np.uint8)


def _as_float_mask(mask: np.ndarray) -> np.ndarray:
    return mask.astype(np.float32) / 255.0 if mask.dtype == np.uint8 else mask.astype(np.float32)


def _choose_kind(
    video: store.VideoArrays, attribute: int, portrait: int, rng: np.random.Generator, minimum: float
) -> str | None:
    usable = [
        kind
        for kind in video.record.kinds
        if _as_float_mask(video.masks[kind][attribute]).mean() >= minimum
        and _as_float_mask(video.masks[kind][portrait]).mean() >= minimum
    ]
    return str(rng.choice(usable)) if usable else None


def sample_self_reconstruction(
    video: store.VideoArrays,
    *,
    rng: np.random.Generator,
    config: SamplingConfig,
    kind: str | None = None,
    also: str | None = None,
) -> Sample:
    """Draw one training example from one video (see the module docstring for the recipe). ``also``, a second kind
    the video wears, makes it a composed example: the portrait gives up that region too, and a second reference
    (``other_*``) carries it from the attribute frame."""
    attribute, portrait, targets = choose_frames(
        video.record.num_frames, num_frames=config.num_frames, stride=config.frame_stride, rng=rng
    )
    if kind is None:
        kind = _choose_kind(video, attribute, portrait, rng, config.min_mask_fraction)
    if kind is None:  # no attribute visible in both frames: an attribute-free sample, like a dropped reference
        kind = video.record.kinds[0] if video.record.kinds else ""
    size = video.frames.shape[1]
    zeros = np.zeros((size, size), np.float32)
    attribute_mask = _as_float_mask(video.masks[kind][attribute]) if kind else zeros
    own_mask = _as_float_mask(video.masks[kind][portrait]) if kind else zeros
    generated = video.expansions.get(kind)
    attribute_frame = np.asarray(video.frames[attribute])
    target = np.asarray(video.frames[list(targets)])
    target_masks = [_as_float_mask(video.masks[kind][index]) if kind else zeros for index in targets]
    if kind and config.recolour_probability > 0 and rng.uniform() < config.recolour_probability:
        shift = float(rng.uniform())
        attribute_frame = turn_hue(attribute_frame, attribute_mask, shift)
        target = np.stack([turn_hue(frame, mask, shift) for frame, mask in zip(target, target_masks)])
    portrait_frame = np.asarray(video.frames[portrait])
    if (
        also
        and min(_as_float_mask(video.masks[also][frame]).mean() for frame in (attribute, portrait))
        < config.min_mask_fraction
    ):
        also = None  # not seen in both frames: a plain example
    if also:  # the second attribute is an attribute too: identity recolouring leaves it as its reference shows it
        target_masks = [
            np.maximum(mask, _as_float_mask(video.masks[also][index])) for mask, index in zip(target_masks, targets)
        ]
    if config.identity_recolour_probability > 0 and rng.uniform() < config.identity_recolour_probability:
        shift = float(rng.uniform())
        gain = float(rng.uniform(1 - config.identity_gain, 1 + config.identity_gain))
        # The portrait's attribute region is removed from its reference anyway; the targets keep their attribute.
        portrait_frame = turn_hue(portrait_frame, 1.0 - zeros, shift, gain)
        target = np.stack([turn_hue(frame, 1.0 - mask, shift, gain) for frame, mask in zip(target, target_masks)])
    portrait_mask = portrait_removal_mask(
        own_mask,
        np.asarray(video.landmarks[portrait]),
        rng,
        config,
        generated=None if generated is None else _as_float_mask(generated[portrait]),
    )
    other = None
    if also:
        also_mask = _as_float_mask(video.masks[also][attribute])
        also_generated = video.expansions.get(also)
        portrait_mask = np.maximum(
            portrait_mask,
            portrait_removal_mask(
                _as_float_mask(video.masks[also][portrait]),
                np.asarray(video.landmarks[portrait]),
                rng,
                config,
                generated=None if also_generated is None else _as_float_mask(also_generated[portrait]),
            ),
        )
        other_image, other_mask = augment_reference(attribute_frame, also_mask, rng, config, mask_border="zero")
        other = (mask_image(other_image, other_mask), other_mask)
    attribute_image, attribute_mask = augment_reference(
        attribute_frame, attribute_mask, rng, config, mask_border="zero"
    )
    portrait_image, portrait_mask = augment_reference(
        portrait_frame, portrait_mask, rng, config, mask_border="replicate"
    )
    level = rng.uniform()
    thresholds = np.cumsum(
        [config.unconditional_probability, config.portrait_only_probability, config.no_motion_probability]
    )
    unconditional, portrait_only = level < thresholds[0], thresholds[0] <= level < thresholds[1]
    no_motion = level < thresholds[2]
    return Sample(
        video_id=video.record.video_id,
        kind=kind,
        frame_indices=(attribute, portrait, targets),
        target=target,
        keypoints=np.asarray(video.keypoints[list(targets)]),
        attribute_reference=mask_image(attribute_image, attribute_mask),
        attribute_mask=attribute_mask,
        portrait_reference=mask_image(portrait_image, 1.0 - portrait_mask),
        portrait_mask=portrait_mask,
        drop_portrait=bool(unconditional),
        drop_attribute=bool(unconditional or portrait_only),
        drop_motion=bool(no_motion),
        other_reference=None if other is None else other[0],
        other_mask=None if other is None else other[1],
        other_kind=also or "",
        other_video=video.record.video_id if also else "",
    )


def other_kind_reference(
    video: store.VideoArrays, kind: str, rng: np.random.Generator, config: SamplingConfig
) -> tuple[np.ndarray, np.ndarray] | None:
    """A random frame of ``video``'s ``kind``, masked to it and augmented like an attribute reference; ``None``
    when that frame shows too little of it."""
    frame = int(rng.integers(video.record.num_frames))
    mask = _as_float_mask(video.masks[kind][frame])
    if mask.mean() < config.min_mask_fraction:
        return None
    image, mask = augment_reference(np.asarray(video.frames[frame]), mask, rng, config, mask_border="zero")
    return mask_image(image, mask), mask


def _image_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 …×H×W×3 → float …×3×H×W in [-1, 1] (the VAE's range)."""
    tensor = torch.from_numpy(np.ascontiguousarray(images)).float().div(127.5).sub(1.0)
    return tensor.movedim(-1, -3)


def sample_to_tensors(sample: Sample) -> dict[str, torch.Tensor]:
    """The tensors the training step consumes.

    Images stay as they are when a signal is dropped: the step leaves a dropped reference's tokens out of the
    attention, zeroes a dropped image embedding and dropped guider features, exactly the "nothing" the pipeline's
    unconditional branches get. The ``keep_*`` flags say which signals this sample carries.
    """
    return {
        "target": _image_tensor(sample.target),  # F×3×R×R in [-1, 1]
        "keypoints": torch.from_numpy(np.ascontiguousarray(sample.keypoints)).float().div(255.0).movedim(-1, -3),
        "attribute_reference": _image_tensor(sample.attribute_reference),  # 3×R×R, already I ⊙ M_attr
        "attribute_mask": torch.from_numpy(np.ascontiguousarray(sample.attribute_mask))[None],  # 1×R×R
        "portrait_reference": _image_tensor(sample.portrait_reference),  # already I ⊙ (1 − M_port)
        "portrait_mask": torch.from_numpy(np.ascontiguousarray(sample.portrait_mask))[None],  # M_port
        "keep_portrait": torch.tensor(not sample.drop_portrait),
        "keep_attribute": torch.tensor(not sample.drop_attribute),
        "keep_motion": torch.tensor(not sample.drop_motion),
    }


def other_reference_tensors(sample: Sample) -> dict[str, torch.Tensor]:
    """The second reference's tensors (blank, with ``keep_other`` false, for a sample without one), so every
    sample of a run that draws second references collates alike."""
    if sample.other_reference is None or sample.other_mask is None:
        size = sample.attribute_mask.shape[0]
        image, mask, keep = np.zeros((size, size, 3), np.uint8), np.zeros((size, size), np.float32), False
    else:
        image, mask, keep = sample.other_reference, sample.other_mask, True
    return {
        "other_reference": _image_tensor(image),
        "other_mask": torch.from_numpy(np.ascontiguousarray(mask))[None],
        "keep_other": torch.tensor(keep),
    }


class SelfReconstructionDataset(torch.utils.data.Dataset):
    """Index-addressed samples over a training cache: index ``i`` always gives the same sample for one seed.

    ``len`` is nominal (``epoch_size``): the training loop asks for consecutive indices from where it stands, so
    a resumed run continues the same sequence.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        config: SamplingConfig,
        seed: int = 0,
        epoch_size: int = 10**9,
        video_ids: tuple[str, ...] | None = None,
    ):
        self.root = Path(root)
        self.manifest = store.read_manifest(self.root)
        span = (config.num_frames - 1) * config.frame_stride + 1
        records = [
            r
            for r in self.manifest.videos
            if r.num_frames >= span and r.kinds and (video_ids is None or r.video_id in video_ids)
        ]
        if not records:
            raise DurianInputError(f"{root} has no video with a mask and at least {span} frames")
        self.records = tuple(records)
        self.kinds = tuple(sorted({kind for record in records for kind in record.kinds}))
        self._holding = {kind: [i for i, r in enumerate(records) if kind in r.kinds] for kind in self.kinds}
        self._positions = {record.video_id: index for index, record in enumerate(records)}
        self.config = config
        self.seed = seed
        self.epoch_size = epoch_size
        self._open: dict[str, store.VideoArrays] = {}

    def __len__(self) -> int:
        return self.epoch_size

    def video(self, position: int) -> store.VideoArrays:
        record = self.records[position]
        if record.video_id not in self._open:  # memory maps open lazily, once per worker
            self._open[record.video_id] = store.open_video(self.root, record)
        return self._open[record.video_id]

    def sample(self, index: int) -> Sample:
        rng = np.random.default_rng([self.seed, index])
        if not self.config.balance_kinds:
            sample = sample_self_reconstruction(
                self.video(int(rng.integers(len(self.records)))), rng=rng, config=self.config
            )
        else:
            kind = str(self.kinds[int(rng.integers(len(self.kinds)))])
            holding = self._holding[kind]
            video = self.video(holding[int(rng.integers(len(holding)))])
            sample = sample_self_reconstruction(video, rng=rng, config=self.config, kind=kind)
        if self.config.other_kind_probability > 0 and rng.uniform() < self.config.other_kind_probability:
            if self.config.composed_share > 0 and rng.uniform() < self.config.composed_share:
                return self._composed(sample, index)
            sample = self._with_other_kind(sample, rng)
        return sample

    def _composed(self, sample: Sample, index: int) -> Sample:
        """A composed example of ``sample``'s video and kind and another kind the video wears (``sample`` itself
        when it wears no other)."""
        video = self.video(self._positions[sample.video_id])
        others = [kind for kind in video.record.kinds if kind != sample.kind]
        if not others or not sample.kind:
            return sample
        # A generator of its own, so a composed example never shares its draws with the plain one.
        rng = np.random.default_rng([self.seed, index, 1])
        also = str(others[int(rng.integers(len(others)))])
        return sample_self_reconstruction(video, rng=rng, config=self.config, kind=sample.kind, also=also)

    def _with_other_kind(self, sample: Sample, rng: np.random.Generator) -> Sample:
        """``sample`` with a reference of another kind from another video (unchanged when the data has none)."""
        kinds = [kind for kind in self.kinds if kind != sample.kind]
        if not kinds:
            return sample
        kind = str(kinds[int(rng.integers(len(kinds)))])
        holding = [i for i in self._holding[kind] if self.records[i].video_id != sample.video_id]
        if not holding:
            return sample
        video = self.video(holding[int(rng.integers(len(holding)))])
        other = other_kind_reference(video, kind, rng, self.config)
        if other is None:
            return sample
        return dataclasses.replace(
            sample, other_reference=other[0], other_mask=other[1], other_kind=kind, other_video=video.record.video_id
        )

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        # The index travels with the sample: the training step draws the sample's noise from it.
        sample = self.sample(index)
        tensors = sample_to_tensors(sample) | {"index": torch.tensor(index)}
        if self.config.other_kind_probability > 0:
            tensors |= other_reference_tensors(sample)
        return tensors


class ConsecutiveSampler(torch.utils.data.Sampler[int]):
    """Indices ``start + k·world + rank`` for k = 0, 1, …: each process takes its share of one global sequence."""

    def __init__(self, *, start: int, rank: int = 0, world: int = 1, length: int = 10**9):
        self.start, self.rank, self.world, self.length = start, rank, world, length

    def __iter__(self):
        index = self.start + self.rank
        while index < self.length:
            yield index
            index += self.world

    def __len__(self) -> int:
        return max(0, (self.length - self.start - self.rank + self.world - 1) // self.world)
