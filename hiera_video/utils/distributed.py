"""Collectives that work on every backend: the only place in the project that calls ``torch.distributed``'s
collectives.

NCCL moves only CUDA tensors (``all_reduce`` of a CPU tensor raises "No backend type associated with device type
cpu"); gloo moves CPU tensors. The helpers here take a tensor on any device, stage it on the device the process
group's backend needs (:func:`backend_device`: ``cuda:current_device()`` for NCCL, the CPU otherwise), run the
collective there and copy the result back into the caller's tensor, so callers keep their tensors where they are
(e.g. statistics summed in float64 on the CPU). Object collectives (``all_gather_object``, ``gather_object``,
``broadcast_object_list``) pickle through torch, which stages them on the right device itself (NCCL needs
``torch.cuda.set_device`` first, which ``engine.distributed.init_distributed`` does).

In a world of one process (no process group, or one member) every helper returns at once without communicating.
``tests/collective_check.py`` runs the project's real loops in 2 processes with every tensor collective checked
the way NCCL checks it: each tensor must come from :func:`to_backend_device`.
"""

from __future__ import annotations

from typing import Any, List, Optional

import torch
import torch.distributed as dist

__all__ = [
    "is_distributed",
    "get_world_size",
    "get_rank",
    "is_main_process",
    "backend_device",
    "to_backend_device",
    "all_reduce",
    "all_reduce_sum",
    "all_reduce_max",
    "all_gather_objects",
    "gather_objects",
    "broadcast_object",
    "barrier",
]

_OPS = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}


def is_distributed() -> bool:
    """True when a process group is initialised (``torchrun`` / env:// runs after ``init_distributed``)."""
    return dist.is_available() and dist.is_initialized()


def get_world_size() -> int:
    """Processes in the default group (1 without a process group)."""
    return dist.get_world_size() if is_distributed() else 1


def get_rank() -> int:
    """This process's rank in the default group (0 without a process group)."""
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """Rank 0: the process that logs, writes reports and checkpoints."""
    return get_rank() == 0


def backend_device(group=None) -> torch.device:
    """The device whose tensors the backend of ``group`` moves: ``cuda:torch.cuda.current_device()`` for NCCL,
    the CPU for gloo (and any other backend; no process group: the CPU)."""
    if is_distributed() and "nccl" in str(dist.get_backend(group)).lower():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def to_backend_device(t: torch.Tensor, group=None) -> torch.Tensor:
    """``t`` on :func:`backend_device` (``t`` itself when it is there already): the buffer a collective gets."""
    return t.to(backend_device(group))


def all_reduce(t: torch.Tensor, op: str = "sum", group=None) -> torch.Tensor:
    """Reduce ``t`` over all processes of ``group`` in place, on any backend; returns ``t``.

    ``t`` may live on any device (CPU statistics under NCCL included): it is staged on :func:`backend_device`,
    reduced there and copied back. Every process must call it with a tensor of the same shape and dtype.

    Args:
        op: ``"sum"``, ``"max"`` or ``"min"``.

    Raises:
        ValueError: an unknown ``op``.
    """
    if op not in _OPS:
        raise ValueError(f"op must be one of {sorted(_OPS)}, got {op!r}")
    if not is_distributed() or dist.get_world_size(group) == 1:
        return t
    buf = to_backend_device(t, group)
    dist.all_reduce(buf, op=_OPS[op], group=group)
    if buf is not t:
        t.copy_(buf)
    return t


def all_reduce_sum(t: torch.Tensor, group=None) -> torch.Tensor:
    """:func:`all_reduce` with ``op="sum"``."""
    return all_reduce(t, "sum", group)


def all_reduce_max(t: torch.Tensor, group=None) -> torch.Tensor:
    """:func:`all_reduce` with ``op="max"``."""
    return all_reduce(t, "max", group)


def all_gather_objects(obj: Any) -> List[Any]:
    """Every process's ``obj`` (picklable) as a list indexed by rank (``[obj]`` in a world of one)."""
    if get_world_size() == 1:
        return [obj]
    out: list = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_objects(obj: Any, dst: int = 0) -> Optional[List[Any]]:
    """Every process's ``obj`` as a list indexed by rank on ``dst`` only; None on the other processes (each holds
    only its own object: use it for large results that only ``dst`` reads, e.g. test outputs)."""
    if get_world_size() == 1:
        return [obj]
    out = [None] * get_world_size() if get_rank() == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``src``'s ``obj`` on every process (the argument is ignored elsewhere)."""
    if get_world_size() == 1:
        return obj
    box = [obj if get_rank() == src else None]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier() -> None:
    """Wait for every process (NCCL: on this process's current CUDA device)."""
    if get_world_size() == 1:
        return
    if backend_device().type == "cuda":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()
