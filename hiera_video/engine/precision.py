"""Mixed precision for training and testing.

Training (``TRAIN.MIXED_PRECISION``): bf16 autocast on GPUs that support it, else fp16 (with the scaler); nothing on
the CPU. Testing, validation and the demo (``TEST.PRECISION``):

* ``auto``: on CUDA as training (``TRAIN.MIXED_PRECISION``); on the CPU bf16 autocast only when the CPU has AMX
  (``amx_bf16`` in ``/proc/cpuinfo``), else fp32. Measured on a 2-core CPU with ``avx512_bf16`` but no AMX
  (``benchmarks/cpu_inference.py``): bf16 made ``hiera_base_16x224`` 0.66x as fast as fp32 (oneDNN's bf16 matmul
  ran at 80 GMAC/s against 120 for fp32), so fp32 is the right default there.
* ``fp32``: no autocast; ``bf16`` / ``fp16``: autocast to that type on any device.
"""

from __future__ import annotations

import functools
from contextlib import nullcontext

import torch

__all__ = ["PRECISIONS", "autocast_context", "cpu_has_amx", "test_autocast", "test_dtype"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_context(device: torch.device, enabled: bool):
    """bf16 autocast where the GPU supports it, else fp16; nothing on the CPU (``TRAIN.MIXED_PRECISION``)."""
    if not enabled or device.type != "cuda":
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@functools.lru_cache(maxsize=1)
def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles for bf16 (``amx_bf16`` in ``/proc/cpuinfo``; False where unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            return any("amx_bf16" in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def test_dtype(device: torch.device, precision: str, mixed_precision: bool = True):
    """The autocast dtype of ``TEST.PRECISION`` on ``device`` (None: fp32).

    Raises:
        ValueError: an unknown ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"TEST.PRECISION must be one of {list(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision in ("bf16", "fp16"):
        return torch.bfloat16 if precision == "bf16" else torch.float16
    if device.type == "cuda":
        if not mixed_precision:
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if cpu_has_amx() else None


def test_autocast(device: torch.device, precision: str, mixed_precision: bool = True):
    """The autocast context for inference under ``TEST.PRECISION`` (see the module docstring)."""
    dtype = test_dtype(device, precision, mixed_precision)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
