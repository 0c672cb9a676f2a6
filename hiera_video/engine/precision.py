"""Mixed precision for training and testing on CUDA."""

from __future__ import annotations

from contextlib import nullcontext

import torch


def autocast_context(device: torch.device, enabled: bool):
    """bf16 autocast where the GPU supports it, else fp16; nothing on the CPU (``TRAIN.MIXED_PRECISION``)."""
    if not enabled or device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
