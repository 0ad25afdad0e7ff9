"""Signal-fusion guidance: which denoiser branches run for a request, their coefficients, banks and embeddings.

Pure planning: it takes encoded references and the blend terms both engines share
(:func:`durian_core.types.blend_terms`) and returns a :class:`GuidancePlan`; the pipeline runs the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from durian_core.models.reference import ReferenceContext, ReferenceTerm
from durian_core.types import BlendTerm

BRANCHES = ("uncond", "portrait", "attribute", "motion")
"""Guidance branches, each adding one signal to the previous: ε_u, ε_p, ε_pa, ε_pam."""


@dataclass(frozen=True, eq=False)
class EncodedReference:
    """Everything a reference contributes, computed once per image and mask and cached."""

    latents: torch.Tensor  # (1, 4, h, w), VAE latent of the masked image, scaled
    mask: torch.Tensor  # (1, 1, h, w), the mask on the latent grid
    embedding: torch.Tensor  # (1, 1, D), CLIP image embedding of the masked image
    banks: dict[str, torch.Tensor]  # layer → (1, N, C) spatial self-attention input of the reference net


@dataclass(frozen=True, eq=False)
class GuidancePlan:
    """The guidance branches of one request: which run, their coefficients, references and embeddings."""

    active: tuple[str, ...]  # names from BRANCHES whose coefficient is not zero, in batch order
    coefficients: tuple[float, ...]
    context: ReferenceContext  # reference terms per active branch
    embeddings: torch.Tensor  # (len(active), 1, D) cross-attention embedding per branch


def guidance_weights(portrait: float, attribute: float, motion: float) -> dict[str, float]:
    """Coefficients of ε_u, ε_p, ε_pa, ε_pam in ``ε_u + λ_p(ε_p − ε_u) + λ_a(ε_pa − ε_p) + λ_m(ε_pam − ε_pa)``.

    Branches whose coefficient is zero are never computed: equal scales λ give plain classifier-free guidance
    (two branches), and all scales at 1 give a single conditional pass.
    """
    return {
        "uncond": 1.0 - portrait,
        "portrait": portrait - attribute,
        "attribute": attribute - motion,
        "motion": motion,
    }


def plan_branches(
    portrait: EncodedReference,
    attributes: Sequence[EncodedReference],
    *,
    guidance: dict[str, float],
    terms: Sequence[BlendTerm],
    route: bool = True,
) -> GuidancePlan:
    """Which guidance branches run, their coefficients, the reference terms per branch, and their embeddings.

    With ``route``, a term that composes several attributes reads each one's bank by region: a frame token takes
    an attribute bank's tokens by how much it lies in that attribute's aligned mask (fully inside it, at
    :data:`~durian_core.models.reference.ROUTE_FLOOR` weight wholly outside). Trained on one attribute at a time, the
    model reads every reference for whatever its colour can paint: composed without it, a beard's region mixed the
    hair reference's colour in.

    The unconditional branch sees no reference tokens, no attribute embedding and no motion; the portrait branch
    adds the portrait bank; the attribute branch adds the attribute banks (one attention per blend term, mixed by
    the terms' coefficients, e.g. ``(1 − α)·SA(x, port, attr₁) + α·SA(x, port, attr₂)``) and their embedding; the
    motion branch adds the guider's features.
    """
    if any(len(term.weights) != len(attributes) for term in terms):
        raise ValueError(f"every blend term needs one weight per attribute ({len(attributes)})")
    coefficients = guidance_weights(guidance["portrait"], guidance["attribute"], guidance["motion"])
    active = [name for name in BRANCHES if coefficients[name] != 0.0]
    names = [f"attribute_{index}" for index in range(len(attributes))]
    banks = {"portrait": portrait.banks} | {name: encoded.banks for name, encoded in zip(names, attributes)}
    # A bank's weight scales its share of the attention; an attribute keeps its own weight in every term holding it.
    bank_weights = {name: weight for term in terms for name, weight in zip(names, term.weights) if weight > 0}
    attribute_terms = tuple(
        ReferenceTerm(
            ("portrait", *(name for name, weight in zip(names, term.weights) if weight > 0)), term.coefficient
        )
        for term in terms
    )
    attribute_embeddings = torch.cat([encoded.embedding for encoded in attributes])  # (N, 1, D)
    # The attribute embedding mixes like the attention: by the terms' coefficients and the attributes' weights.
    mixing = sum(term.coefficient * torch.tensor(term.weights, dtype=torch.float32) for term in terms)
    mixing = mixing.to(attribute_embeddings.device, attribute_embeddings.dtype)
    attribute_embedding = (mixing[:, None, None] * attribute_embeddings).sum(0, keepdim=True)
    attribute_embedding = attribute_embedding / mixing.sum().clamp(min=1e-6)
    empty = torch.zeros_like(attribute_embedding)

    plans = {
        "uncond": ((), empty),  # no reference tokens, no attribute embedding, no motion
        "portrait": ((ReferenceTerm(("portrait",)),), empty),
        "attribute": (attribute_terms, attribute_embedding),
        "motion": (attribute_terms, attribute_embedding),
    }
    context = ReferenceContext(
        banks=banks,
        branches=tuple(plans[name][0] for name in active),
        bank_weights=bank_weights,
        bank_regions=attribute_regions(names, attributes) if route and len(attributes) > 1 else {},
    )
    embeddings = torch.cat([plans[name][1] for name in active])
    return GuidancePlan(tuple(active), tuple(coefficients[name] for name in active), context, embeddings)


def attribute_regions(names: Sequence[str], attributes: Sequence[EncodedReference]) -> dict[str, torch.Tensor]:
    """Each attribute bank's region on the latent grid ((h, w) in [0, 1]): its aligned mask, grown by a latent
    pixel so a region's edge reads its own bank."""
    regions = {}
    for name, encoded in zip(names, attributes):
        mask = encoded.mask[0, 0].float()
        regions[name] = torch.nn.functional.max_pool2d(mask[None, None], 3, stride=1, padding=1)[0, 0]
    return regions
