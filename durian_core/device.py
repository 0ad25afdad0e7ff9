"""The one place that chooses where models run."""

from __future__ import annotations

import os

import torch


def resolve_device(prefer: str | None = None) -> tuple[torch.device, torch.dtype]:
    """Pick the device and dtype for the diffusion engine.

    ``prefer`` (or ``DURIAN_DEVICE``) forces a device such as ``"cpu"`` or ``"cuda:1"``. CUDA runs in bf16
    where supported (fp16 otherwise); CPU and MPS run in fp32 because half precision there is slow or lossy.
    """
    name = prefer or os.environ.get("DURIAN_DEVICE")
    if name:
        device = torch.device(name)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    else:
        dtype = torch.float32
    return device, dtype
