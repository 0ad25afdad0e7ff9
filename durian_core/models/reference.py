"""Reference attention: how the portrait and attribute references reach the denoiser.

The reference UNets (PRNet, ARNet) run once per reference, at timestep 0, with a :class:`ReferenceWriteProcessor` on
every spatial self-attention (``attn1``) that records the layer's input. In the denoiser, a
:class:`ReferenceReadProcessor` on the same layers appends the recorded tokens of any number of banks (portrait,
attribute 1..N) to the keys and values, repeated over frames. Motion-module attention is left alone.

Per-request state never lives on the processors: the recorded banks and the per-branch plan travel in
``cross_attention_kwargs`` (``reference_recorder`` for the writers, ``reference`` for the readers) on every call.
The installed processors are therefore stateless, and one pipeline can serve concurrent requests without a lock.
Diffusers filters ``cross_attention_kwargs`` against each processor's ``__call__`` signature and warns about the
rest, so the cross-attention (``attn2``) layers get a :class:`ReferencePassThroughProcessor` that accepts and
ignores these keywords.

Every processor wraps the layer's original processor and calls it whenever no reference tokens are involved, so a
branch without references (the unconditional one) computes exactly what the stock UNet computes, and
:func:`remove_reference_attention` restores the original processors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

ROUTE_FLOOR = 0.02  # composed, a token wholly outside an attribute's region reads its bank at this weight

Banks = Mapping[str, Mapping[str, torch.Tensor]]
"""Bank name (``"portrait"``, ``"attribute_0"``, ...) → layer name → recorded tokens, shape (1, N, C)."""


@dataclass(frozen=True)
class ReferenceTerm:
    """One attention over the frame's tokens plus the tokens of ``banks``, weighted by ``weight`` in the blend."""

    banks: tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class ReferenceContext:
    """What the read processors need for one denoiser call; built per request, passed as an argument.

    The denoiser batch is ``len(branches)`` blocks of equal size (a classifier-free-guidance branch each, every
    block holding its frames). A branch is a tuple of terms whose attention outputs are summed with their weights:
    ``()`` means no reference tokens at all (the unconditional branch), ``(ReferenceTerm(("portrait", "attribute_0",
    "attribute_1")),)`` composes two attributes, and two terms of weights ``1 − α`` and ``α`` give the paper's
    interpolation ``(1 − α)·SA(x, port, attr₁) + α·SA(x, port, attr₂)``.
    """

    banks: Banks
    branches: tuple[tuple[ReferenceTerm, ...], ...]
    bank_weights: Mapping[str, float] = field(default_factory=dict)  # missing banks weigh 1
    # Where each attribute bank's attribute lies on the frame ((h, w) in [0, 1], the latent grid): in a term that
    # composes several attribute banks, a frame token reads a bank by how much it lies in that bank's region.
    bank_regions: Mapping[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for terms in self.branches:
            for term in terms:
                unknown = [name for name in term.banks if name not in self.banks]
                if unknown:
                    raise ValueError(f"reference term names banks {unknown} that were not recorded")
        for name, weight in self.bank_weights.items():
            if weight < 0:
                raise ValueError(f"bank weight for {name!r} must be non-negative, got {weight}")


def is_spatial_self_attention(name: str) -> bool:
    """True for ``attn1`` of the spatial transformers; the motion modules' temporal attention is excluded."""
    return name.endswith("attn1.processor") and "motion_modules" not in name


def _layer(name: str) -> str:
    return name.removesuffix(".processor")


class ReferencePassThroughProcessor:
    """Runs the layer's original processor; accepts (and ignores) the reference keywords so none is filtered."""

    def __init__(self, original) -> None:
        self.original = original

    def __call__(
        self,
        attn: nn.Module,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        reference: ReferenceContext | None = None,
        reference_recorder: MutableMapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        return _call_original(self.original, attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceWriteProcessor(ReferencePassThroughProcessor):
    """Records the input of a reference net's spatial self-attention into ``reference_recorder[layer]``."""

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
        reference: ReferenceContext | None = None,
        reference_recorder: MutableMapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if reference_recorder is not None:
            # Not detached: stage-1 training backpropagates from the denoiser into the reference nets.
            reference_recorder[self.layer] = hidden_states
        return _call_original(self.original, attn, hidden_states, encoder_hidden_states, attention_mask, temb)


class ReferenceReadProcessor(ReferencePassThroughProcessor):
    """Spatial self-attention whose keys and values also hold the tokens of the reference banks."""

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
        reference: ReferenceContext | None = None,
        reference_recorder: MutableMapping[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if reference is None or not any(reference.branches):
            return _call_original(self.original, attn, hidden_states, encoder_hidden_states, attention_mask, temb)
        if hidden_states.ndim != 3 or attention_mask is not None or encoder_hidden_states is not None:
            raise ValueError(f"reference attention at {self.layer} expects plain token self-attention")
        count = len(reference.branches)
        if hidden_states.shape[0] % count:
            raise ValueError(f"batch of {hidden_states.shape[0]} does not split into {count} guidance branches")
        rows = hidden_states.shape[0] // count

        # Project the frame tokens once for all branches and every bank once, not once per frame.
        query = attn.to_q(hidden_states)
        key = attn.to_k(hidden_states)
        value = attn.to_v(hidden_states)
        bank_names = {name for terms in reference.branches for term in terms for name in term.banks}
        projected = {}
        for name in bank_names:
            tokens = reference.banks[name][self.layer].to(hidden_states.dtype)
            projected[name] = (attn.to_k(tokens), attn.to_v(tokens))

        outputs = []
        for index, terms in enumerate(reference.branches):
            part = slice(index * rows, (index + 1) * rows)
            if not terms:
                outputs.append(_call_original(self.original, attn, hidden_states[part], None, None, temb))
                continue
            blended = None
            for term in terms:
                if term.weight == 0:
                    continue  # skipped, not multiplied by zero: α = 0 reproduces the one-attribute output exactly
                attended = self._attend(attn, query[part], key[part], value[part], term, projected, reference)
                attended = attended if term.weight == 1 else attended * term.weight
                blended = attended if blended is None else blended + attended
            if blended is None:
                blended = _call_original(self.original, attn, hidden_states[part], None, None, temb)
            outputs.append(blended)
        return torch.cat(outputs) if len(outputs) > 1 else outputs[0]

    @staticmethod
    def _attend(attn, query, key, value, term: ReferenceTerm, projected, reference: ReferenceContext) -> torch.Tensor:
        frames, tokens = query.shape[:2]
        keys, values, biases = [key], [value], [0.0]
        routed = [name for name in term.banks if name in reference.bank_regions]
        regions = {}
        if len(routed) > 1:
            for name in routed:
                region = _on_token_grid(reference.bank_regions[name], tokens)
                regions[name] = torch.log(ROUTE_FLOOR + (1 - ROUTE_FLOOR) * region).to(query.device, query.dtype)
        for name in term.banks:
            weight = reference.bank_weights.get(name, 1.0)
            if weight == 0:
                continue
            bank_key, bank_value = projected[name]
            keys.append(bank_key.expand(frames, -1, -1))
            values.append(bank_value.expand(frames, -1, -1))
            biases.append(regions[name][:, None] + math.log(weight) if name in regions else math.log(weight))
        mask = None
        if regions or any(not isinstance(bias, float) or bias != 0.0 for bias in biases):
            # A bank's weight scales its share of the attention mass: log(w) added to its logits; routed, the log of
            # how much the query lies in the bank's region too (then one row per query, else one row for all).
            rows = tokens if regions else 1
            parts = []
            for part, bias in zip(keys, biases):
                block = torch.zeros((rows, part.shape[1]), dtype=query.dtype, device=query.device)
                parts.append(block + bias)
            mask = torch.cat(parts, dim=1)[None, None]  # broadcast over frames and heads (and queries, unrouted)
        return attend(attn, query, torch.cat(keys, dim=1), torch.cat(values, dim=1), mask=mask)


def _on_token_grid(region: torch.Tensor, tokens: int) -> torch.Tensor:
    """A region (h, w) on the latent grid, area-averaged onto a layer's grid of ``tokens`` tokens, flattened."""
    height, width = region.shape
    scale = math.sqrt(tokens / (height * width))
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    if size[0] * size[1] != tokens:
        raise ValueError(f"a layer of {tokens} tokens is not a grid of the {height}×{width} latent's shape")
    return F.interpolate(region[None, None].float(), size=size, mode="area").flatten()


def attend(
    attn: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, mask: torch.Tensor | None
) -> torch.Tensor:
    """The attention maths of a diffusers self-attention layer, on projected tokens that may hold extra keys.

    ``query`` (B, Q, C) and ``key``/``value`` (B, K, C) come out of the layer's ``to_q``/``to_k``/``to_v``; ``mask``
    is an additive bias broadcastable to (B, heads, Q, K). Heads, the optional query/key norms, scaled-dot-product
    attention, the output projection and the output rescale are the layer's own. Inference (the reference readers)
    and training (per-sample banks) both call this, so the two can never drift apart.
    """
    if attn.residual_connection:
        raise ValueError("reference attention does not support residual-connection attention layers")
    rows = query.shape[0]
    heads = attn.heads
    head_dim = key.shape[-1] // heads
    query = query.view(rows, -1, heads, head_dim).transpose(1, 2)
    key = key.view(rows, -1, heads, head_dim).transpose(1, 2)
    value = value.view(rows, -1, heads, head_dim).transpose(1, 2)
    if attn.norm_q is not None:
        query = attn.norm_q(query)
    if attn.norm_k is not None:
        key = attn.norm_k(key)
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False)
    out = out.transpose(1, 2).reshape(rows, -1, heads * head_dim).to(query.dtype)
    out = attn.to_out[1](attn.to_out[0](out))
    return out / attn.rescale_output_factor


def _call_original(original, attn, hidden_states, encoder_hidden_states, attention_mask, temb) -> torch.Tensor:
    return original(
        attn, hidden_states, encoder_hidden_states=encoder_hidden_states, attention_mask=attention_mask, temb=temb
    )


def _original_processors(model: nn.Module) -> dict:
    processors = dict(model.attn_processors)
    return {
        name: processor.original if isinstance(processor, ReferencePassThroughProcessor) else processor
        for name, processor in processors.items()
    }


def install_reference_attention(model: nn.Module, *, mode: str) -> list[str]:
    """Install write (``mode="write"``, reference nets) or read (``mode="read"``, denoiser) processors.

    Idempotent: installing twice wraps the original processors, never a wrapper. Returns the names of the spatial
    self-attention layers that record or read banks; the two lists of a reference net and its denoiser match.
    """
    if mode not in ("write", "read"):
        raise ValueError(f"mode must be 'write' or 'read', got {mode!r}")
    kind = ReferenceWriteProcessor if mode == "write" else ReferenceReadProcessor
    processors = {}
    layers = []
    for name, original in _original_processors(model).items():
        if is_spatial_self_attention(name):
            processors[name] = kind(original, _layer(name))
            layers.append(_layer(name))
        elif "motion_modules" in name:
            processors[name] = original  # temporal attention never receives cross_attention_kwargs: left alone
        else:
            processors[name] = ReferencePassThroughProcessor(original)
    model.set_attn_processor(processors)  # a fresh dict: set_attn_processor pops the entries it installs
    return layers


def remove_reference_attention(model: nn.Module) -> None:
    """Put back the processors that were in place before :func:`install_reference_attention`."""
    model.set_attn_processor(_original_processors(model))


def has_reference_attention(model: nn.Module) -> bool:
    return any(isinstance(p, ReferencePassThroughProcessor) for p in model.attn_processors.values())


def reference_layers(model: nn.Module) -> list[str]:
    """Names of the spatial self-attention layers of ``model`` (where banks are recorded or read)."""
    return [_layer(name) for name in model.attn_processors if is_spatial_self_attention(name)]
