"""torch.distributed set-up for runs launched by ``torchrun`` or SLURM (env:// rendezvous).

A plain ``python tools/run_net.py ...`` is a world of one process. Under
``torchrun --nproc_per_node N`` (or ``tools/submit_slurm.py``) each process reads ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` from the environment and drives one GPU (``NUM_GPUS 1``) or the CPU (``NUM_GPUS 0``, gloo). No
launcher or protocol of our own. The collectives live in :mod:`hiera_video.utils.distributed` (re-exported here):
they work on any backend, CPU tensors under NCCL included.
"""

from __future__ import annotations

import datetime
import os
from typing import Optional

import torch
import torch.distributed as dist

from hiera_video.utils.distributed import (  # noqa: F401  (re-exported: the engine's one import for both)
    all_gather_objects,
    all_reduce,
    all_reduce_max,
    all_reduce_sum,
    backend_device,
    barrier,
    broadcast_object,
    gather_objects,
    get_rank,
    get_world_size,
    is_distributed,
    is_main_process,
    to_backend_device,
)
from hiera_video.utils.errors import SetupError


def launched_by_torchrun() -> bool:
    """True when ``torchrun`` (or another env:// launcher) set ``WORLD_SIZE`` and ``RANK``."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def cuda_device_index(local_rank: int, visible: int) -> int:
    """The CUDA device a process with ``LOCAL_RANK`` ``local_rank`` drives, of ``visible`` visible devices.

    ``torchrun`` shows every GPU of the node to every process: process ``LOCAL_RANK`` takes device ``LOCAL_RANK``.
    SLURM with one GPU bound per task (``--gpus-per-task 1``, or ``CUDA_VISIBLE_DEVICES`` set per task) shows each
    process only its own GPU: device 0, whatever the local rank.

    Raises:
        SetupError: several GPUs are visible but fewer than ``local_rank + 1``.
    """
    if visible == 1:
        return 0
    if 0 <= local_rank < visible:
        return local_rank
    raise SetupError(
        f"LOCAL_RANK is {local_rank} but this process sees {visible} GPUs "
        f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}): start at most {visible} "
        "processes per node, or bind one GPU to each process")


def init_distributed(num_gpus: int, backend: str = "nccl", timeout_minutes: float = 30) -> torch.device:
    """Initialise the process group if launched by torchrun; return this process's device.

    Args:
        num_gpus: ``cfg.NUM_GPUS`` (GPUs per process): 0 selects the CPU (and the gloo backend), 1 one GPU.
        backend: backend for GPU runs (``cfg.DIST_BACKEND``).
        timeout_minutes: ``cfg.DIST_TIMEOUT_MINUTES``: how long a collective waits for the other processes before
            the run fails (e.g. while rank 0 writes a large checkpoint). PyTorch's NCCL default is 10 minutes.

    Raises:
        SetupError: ``num_gpus > 0`` but CUDA is not available; ``num_gpus > 1`` (one process drives one GPU:
            launch ``torchrun --nproc_per_node N``); a ``LOCAL_RANK`` without a GPU of its own.
    """
    if num_gpus > 1:
        raise SetupError(
            f"NUM_GPUS is {num_gpus}, but each process drives one GPU: for {num_gpus} GPUs launch "
            f"'torchrun --nproc_per_node {num_gpus} tools/run_net.py ... NUM_GPUS 1'")
    if num_gpus > 0 and not torch.cuda.is_available():
        raise SetupError(
            f"NUM_GPUS is {num_gpus} but CUDA is not available; run with 'NUM_GPUS 0' for the CPU"
        )
    if num_gpus > 0:
        index = cuda_device_index(int(os.environ.get("LOCAL_RANK", 0)), torch.cuda.device_count())
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    else:
        device = torch.device("cpu")
    if launched_by_torchrun() and not dist.is_initialized():
        dist.init_process_group(backend=backend if num_gpus > 0 else "gloo", init_method="env://",
                                timeout=datetime.timedelta(minutes=float(timeout_minutes)),
                                device_id=device if device.type == "cuda" else None)
    return device


def cleanup(device: Optional[torch.device] = None) -> None:
    """Destroy the process group (if any)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
