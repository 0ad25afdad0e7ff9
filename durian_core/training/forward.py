"""The training forward pass: a batch of different videos through PRNet, ARNet, the guider and the denoiser.

The inference read processors (:class:`durian_core.models.reference.ReferenceReadProcessor`) attend to one set of
reference banks shared by the whole batch, which is what a request needs. Training batches hold a different person
per sample, each with its own banks, and some samples drop a reference for guidance. :class:`BatchedReferenceRead`
is the training-side processor for that: sample ``b``'s frames attend to sample ``b``'s banks, and a dropped bank is
masked out of the attention so the result equals the pipeline's branch without it. It is installed only for
training (:func:`batched_reference_attention`) and the inference processors are put back afterwards.

Everything the pipeline does to a reference is repeated here with the same conventions: the portrait keeps what
lies outside ``M_port``, the attribute what lies inside ``M_attr``, each reference net gets the VAE latent (the
distribution's mode) with the area-downsampled mask as a fifth channel and the CLIP embedding of its masked image,
and the denoiser's cross-attention gets the attribute's embedding (zeros when dropped).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass

import torch
from torch import nn

from durian_core.models.durian import DurianModel
from durian_core.models.reference import (
    ReferenceContext,
    ReferencePassThroughProcessor,
    attend,
    install_reference_attention,
    is_spatial_self_attention,
)


@dataclass(frozen=True, eq=False)
class BatchedBanks:
    """Per-sample reference tokens for one denoiser call (passed as the ``reference`` attention keyword)."""

    banks: dict[str, dict[str, torch.Tensor]]  # bank name → layer → (B, N, C)
    keep: dict[str, torch.Tensor]  # bank name → (B,) bool: False leaves the bank out for that sample
    frames: int  # the denoiser batch is B·frames rows, frames of one sample together


class BatchedReferenceRead(ReferencePassThroughProcessor):
    """Spatial self-attention over the frame's tokens plus its own sample's bank tokens."""

    def __init__(self, original, layer: str) -> None:
        super().__init__(original)
        self.layer = layer

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        reference: ReferenceContext | BatchedBanks | None = None,
        reference_recorder: MutableMapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if not isinstance(reference, BatchedBanks) or not reference.banks:
            return super().__call__(attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        rows, length, _ = hidden_states.shape
        frames = reference.frames
        query = attn.to_q(hidden_states)
        keys, values = [attn.to_k(hidden_states)], [attn.to_v(hidden_states)]
        biases = [hidden_states.new_zeros(rows, length)]
        for name, bank in reference.banks.items():
            tokens = bank[self.layer].to(hidden_states.dtype)
            # Project each sample's bank once, then repeat it for the sample's frames.
            keys.append(attn.to_k(tokens).repeat_interleave(frames, dim=0))
            values.append(attn.to_v(tokens).repeat_interleave(frames, dim=0))
            keep = reference.keep[name].to(hidden_states.device).repeat_interleave(frames)
            bias = torch.where(keep, 0.0, -math.inf).to(hidden_states.dtype)
            biases.append(bias[:, None].expand(rows, tokens.shape[1]))
        mask = torch.cat(biases, dim=1)[:, None, None, :]  # (rows, heads=1, queries=1, keys)
        return attend(attn, query, torch.cat(keys, dim=1), torch.cat(values, dim=1), mask=mask)


def install_batched_reference_read(model: DurianModel) -> None:
    """Put :class:`BatchedReferenceRead` on the denoiser's spatial self-attention (training mode)."""
    processors = {}
    for name, processor in model.denoiser.attn_processors.items():
        original = processor.original if isinstance(processor, ReferencePassThroughProcessor) else processor
        if is_spatial_self_attention(name):
            processors[name] = BatchedReferenceRead(original, name.removesuffix(".processor"))
        else:
            processors[name] = ReferencePassThroughProcessor(original)
    model.denoiser.set_attn_processor(processors)


@contextlib.contextmanager
def batched_reference_attention(model: DurianModel) -> Iterator[None]:
    """Within the block, the denoiser reads per-sample banks (training); afterwards the inference readers return."""
    install_batched_reference_read(model)
    try:
        yield
    finally:
        install_reference_attention(model.denoiser, mode="read")


class DurianTrainingModule(nn.Module):
    """The trainable parts behind one ``forward`` (what accelerate wraps for distributed data parallel).

    ``forward`` takes what the frozen VAE and image encoder produced and returns the denoiser's prediction.
    """

    def __init__(self, model: DurianModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self,
        noisy_latents: torch.Tensor,
        timesteps: torch.Tensor,
        *,
        portrait_latents: torch.Tensor,
        portrait_mask: torch.Tensor,
        portrait_embedding: torch.Tensor,
        attribute_latents: torch.Tensor,
        attribute_mask: torch.Tensor,
        attribute_embedding: torch.Tensor,
        keypoints: torch.Tensor,
        keep_portrait: torch.Tensor,
        keep_attribute: torch.Tensor,
        keep_motion: torch.Tensor,
        other_latents: torch.Tensor | None = None,
        other_mask: torch.Tensor | None = None,
        other_embedding: torch.Tensor | None = None,
        keep_other: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``noisy_latents`` (B, 4, F, h, w); references (B, 4, h, w) with masks (B, 1, h, w) on the latent grid and
        embeddings (B, 1, D); ``keypoints`` (B·F, 3, H, W) in [0, 1]; ``keep_*`` (B,) bool. Returns (B, 4, F, h, w).

        ``other_*`` is a second attribute reference (of another kind) where ``keep_other`` holds: a second attribute
        bank, read as the pipeline reads two composed attributes, and the mean of the two image embeddings.
        """
        model = self.model
        frames = noisy_latents.shape[2]
        banks = {
            "portrait": model.record_banks("prnet", portrait_latents, portrait_mask, portrait_embedding),
            "attribute": model.record_banks("arnet", attribute_latents, attribute_mask, attribute_embedding),
        }
        keep = {"portrait": keep_portrait, "attribute": keep_attribute}
        embedding = attribute_embedding
        if keep_other is not None and other_latents is not None and bool(keep_other.any()):
            banks["attribute_1"] = _record_some(model, other_latents, other_mask, other_embedding, keep_other)
            keep["attribute_1"] = keep_other & keep_attribute
            weight = keep_other.to(attribute_embedding.dtype)[:, None, None]
            embedding = attribute_embedding + weight * (other_embedding - attribute_embedding) / 2
        keep_motion_rows = keep_motion.repeat_interleave(frames).to(keypoints.dtype)[:, None, None, None]
        features = model.guider(keypoints.to(model.guider.dtype)) * keep_motion_rows
        embedding = embedding * keep_attribute.to(attribute_embedding.dtype)[:, None, None]
        return model.predict_noise(
            noisy_latents,
            timesteps,
            embeddings=embedding,
            reference=BatchedBanks(banks, keep, frames),  # type: ignore[arg-type]
            motion_features=features,
        )


def _record_some(
    model: DurianModel, latents: torch.Tensor, mask: torch.Tensor, embedding: torch.Tensor, where: torch.Tensor
) -> dict[str, torch.Tensor]:
    """The attribute net's banks of the samples ``where`` holds, zeros for the rest (left out of the attention by
    their keep flag): a second reference costs the net's pass only for the samples that carry one."""
    rows = where.nonzero().flatten()
    recorded = model.record_banks("arnet", latents[rows], mask[rows], embedding[rows])
    return {
        layer: tokens.new_zeros((len(where), *tokens.shape[1:])).index_copy(0, rows, tokens)
        for layer, tokens in recorded.items()
    }
