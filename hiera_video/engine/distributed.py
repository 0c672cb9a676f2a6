"""torch.distributed set-up for runs launched by ``torchrun`` (env:// rendezvous).

A plain ``python tools/run_net.py ...`` is a world of one process. Under
``torchrun --nproc_per_node N`` each process reads ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` from the environment; on GPUs process ``LOCAL_RANK`` drives
``cuda:LOCAL_RANK``. No launcher or protocol of our own.
"""

from __future__ import annotations

import os
from typing import Optional

import torch
import torch.distributed as dist

from hiera_video.utils.errors import SetupError


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another env:// launcher) set ``WORLD_SIZE``."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_distributed(num_gpus: int, backend: str = "nccl") -> torch.device:
    """Initialise the process group if launched by torchrun; return this process's device.

    Args:
        num_gpus: ``cfg.NUM_GPUS``; 0 selects the CPU (and the gloo backend).
        backend: backend for GPU runs (``cfg.DIST_BACKEND``).

    Raises:
        SetupError: ``num_gpus > 0`` but CUDA is not available.
    """
    if num_gpus > 0 and not torch.cuda.is_available():
        raise SetupError(
            f"NUM_GPUS is {num_gpus} but CUDA is not available; run with 'NUM_GPUS 0' for the CPU"
        )
    if num_gpus > 0:
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if launched_by_torchrun() and not dist.is_initialized():
        dist.init_process_group(backend=backend if num_gpus > 0 else "gloo", init_method="env://")
    return device


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes in place (no-op in a world of one); returns ``t``."""
    if get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_gather_objects(obj) -> list:
    """Every process's ``obj`` as a list indexed by rank (``[obj]`` in a world of one)."""
    if get_world_size() == 1:
        return [obj]
    out: list = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def cleanup(device: Optional[torch.device] = None) -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
