"""Numeric precision of training (``TRAIN.PRECISION``) and inference (``TEST.PRECISION``): one switch each.

``auto`` picks bf16 autocast where bf16 is *native* and fp32 or fp16 elsewhere:

* CUDA: bf16 on GPUs with native bf16 (compute capability 8.0 and newer:
  ``torch.cuda.is_bf16_supported(including_emulation=False)``; the default ``True`` also counts V100 / T4, which
  emulate bf16 slowly and without fused attention); fp16 autocast with a ``GradScaler`` on the others.
* CPU: bf16 only with AMX tiles (``amx_bf16`` in ``/proc/cpuinfo``); fp32 otherwise. Measured on a 2-core CPU with
  ``avx512_bf16`` but no AMX (``benchmarks/cpu_inference.py``): bf16 made ``hiera_base_16x224`` 0.66x as fast as
  fp32 (oneDNN's bf16 matmul ran at 80 GMAC/s against 120 for fp32), so fp32 is the right default there.

``bf16`` / ``fp16`` autocast to that type on any device (``fp16`` training with a ``GradScaler``, on the CPU too);
``fp32`` uses no autocast. ``TEST.PRECISION auto`` follows ``TRAIN.PRECISION`` on CUDA. With ``CUDA_TF32`` (on by
default) fp32 matmuls and convolutions on CUDA use TF32 tensor cores (:func:`configure_cuda_tf32`).
"""

from __future__ import annotations

import functools
import os
from contextlib import nullcontext
from typing import Optional

import torch

from hiera_video.utils.errors import SetupError

__all__ = ["PRECISIONS", "autocast_for", "configure_cuda_tf32", "cpu_has_amx", "native_bf16", "needs_grad_scaler",
           "test_autocast", "test_dtype", "train_dtype"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


#: environment variable that overrides the AMX detection: "1" (act as on a CPU with AMX), "0" (as without).
AMX_ENV = "HIERA_VIDEO_CPU_AMX"


@functools.lru_cache(maxsize=1)
def _cpuinfo_has_amx() -> bool:
    try:
        with open("/proc/cpuinfo") as f:
            return any("amx_bf16" in line.split() for line in f if line.startswith("flags"))
    except OSError:
        return False


def cpu_has_amx() -> bool:
    """Whether this CPU has AMX tiles for bf16 (``amx_bf16`` in ``/proc/cpuinfo``; False where unreadable).

    ``HIERA_VIDEO_CPU_AMX=1`` / ``0`` forces the answer (read at every call), so that ``auto`` precision can be
    exercised both ways on any machine (the test suite runs its precision-sensitive tests both ways).

    Raises:
        SetupError: ``HIERA_VIDEO_CPU_AMX`` set to anything but ``0`` or ``1``.
    """
    forced = os.environ.get(AMX_ENV, "").strip()
    if forced:
        if forced not in ("0", "1"):
            raise SetupError(f"{AMX_ENV} must be 0 or 1 (or unset: read /proc/cpuinfo), got {forced!r}")
        return forced == "1"
    return _cpuinfo_has_amx()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: CUDA GPUs of compute capability >= 8.0 (emulation not counted),
    CPUs with AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return device.type == "cpu" and cpu_has_amx()


def _check(precision: str, key: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"{key} must be one of {list(PRECISIONS)}, got {precision!r}")


def train_dtype(device: torch.device, precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of ``TRAIN.PRECISION`` on ``device`` (None: fp32, no autocast).

    Raises:
        ValueError: an unknown ``precision``.
    """
    _check(precision, "TRAIN.PRECISION")
    if precision != "auto":
        return _DTYPES[precision]
    if native_bf16(device):
        return torch.bfloat16
    return torch.float16 if device.type == "cuda" else None


def needs_grad_scaler(device: torch.device, precision: str) -> bool:
    """Whether training at ``precision`` on ``device`` needs a ``GradScaler``: whenever it autocasts to fp16
    (fp16 gradients underflow without loss scaling)."""
    return train_dtype(device, precision) == torch.float16


def autocast_for(device: torch.device, dtype: Optional[torch.dtype]):
    """``torch.autocast(device.type, dtype)``, or a null context for ``dtype`` None (fp32)."""
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def test_dtype(device: torch.device, precision: str, train_precision: str = "auto") -> Optional[torch.dtype]:
    """The autocast dtype of ``TEST.PRECISION`` on ``device`` (None: fp32): ``auto`` is ``TRAIN.PRECISION``'s dtype on
    CUDA, bf16 on CPUs with AMX and fp32 on other CPUs.

    Raises:
        ValueError: an unknown ``precision`` or ``train_precision``.
    """
    _check(precision, "TEST.PRECISION")
    if precision != "auto":
        return _DTYPES[precision]
    if device.type == "cuda":
        return train_dtype(device, train_precision)
    return torch.bfloat16 if native_bf16(device) else None


def test_autocast(device: torch.device, precision: str, train_precision: str = "auto"):
    """The autocast context for inference under ``TEST.PRECISION`` (see the module docstring)."""
    return autocast_for(device, test_dtype(device, precision, train_precision))


def configure_cuda_tf32(enable: bool) -> None:
    """``CUDA_TF32``: let fp32 matmuls (cuBLAS) and convolutions (cuDNN) on CUDA use TF32 tensor cores (Ampere and
    newer: about 10 mantissa bits in the products, fp32 accumulation), or keep them in full fp32. Process-wide;
    nothing changes on the CPU."""
    # The flags every torch version reads (inductor among others); once the newer ``fp32_precision`` API is set,
    # reading these raises (torch 2.14), so it is left alone.
    torch.backends.cuda.matmul.allow_tf32 = bool(enable)
    torch.backends.cudnn.allow_tf32 = bool(enable)
