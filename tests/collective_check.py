"""Run a script with every tensor collective checked as NCCL checks it, on a CPU (gloo) process group.

    python -m torch.distributed.run --nproc_per_node 2 tests/collective_check.py tools/run_net.py --cfg ...

NCCL moves only tensors on the process's CUDA device; gloo moves CPU tensors. On a machine without a GPU the two
cannot be told apart by device, so this check marks instead: ``hiera_video.utils.distributed.to_backend_device`` (the
one function through which the project stages a tensor on its backend's device: ``cuda:current_device()`` under
NCCL) returns a copy marked :class:`OnBackendDevice`, and every tensor collective of ``torch.distributed``
(``all_reduce``, ``broadcast``, ``all_gather``, ...) raises unless each tensor it gets carries the mark. A tensor
that reaches a collective any other way (a CPU tensor under NCCL: "No backend type associated with device type
cpu") fails the run with ``collective_check: ...`` naming the collective and the caller.

torch's object collectives (``all_gather_object``, ``gather_object``, ``broadcast_object_list``) and DDP's gradient
buckets stage their tensors themselves (on the CUDA device under NCCL) and are not checked. The number of checked
calls is printed on exit (``collective_check: N checked calls on rank R``) so a test can see the check ran.
"""

from __future__ import annotations

import atexit
import functools
import inspect
import os
import runpy
import sys

import torch
import torch.distributed as dist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import hiera_video.utils.distributed as ud  # noqa: E402

#: torch.distributed's tensor collectives: each argument that is a tensor (or a list of them) is checked.
COLLECTIVES = ("all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor", "gather", "scatter",
               "reduce_scatter", "reduce_scatter_tensor", "all_to_all", "all_to_all_single", "send", "recv",
               "isend", "irecv")


class OnBackendDevice(torch.Tensor):
    """A CPU tensor standing for one on the backend's device (made only by the patched ``to_backend_device``)."""


_calls = {"checked": 0}


def _staged(t: torch.Tensor, group=None) -> torch.Tensor:
    return t.detach().clone().as_subclass(OnBackendDevice)


def _tensors(value):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _tensors(v)


def _checked(name, fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for t in [t for a in (*args, *kwargs.values()) for t in _tensors(a)]:
            if type(t) is not OnBackendDevice:
                caller = next((f for f in inspect.stack()[1:] if not f.filename.endswith(
                    (os.path.join("utils", "distributed.py"), "collective_check.py"))), inspect.stack()[1])
                raise RuntimeError(
                    f"collective_check: torch.distributed.{name} got a {t.dtype} tensor {tuple(t.shape)} on "
                    f"{t.device} that did not go through to_backend_device (NCCL would raise 'No backend type "
                    f"associated with device type cpu'); called from {caller.filename}:{caller.lineno}")
        _calls["checked"] += 1
        return fn(*args, **kwargs)

    return wrapper


def install() -> None:
    """Mark staged tensors and check every tensor collective (see the module docstring)."""
    ud.to_backend_device = _staged
    for name in COLLECTIVES:
        if hasattr(dist, name):
            setattr(dist, name, _checked(name, getattr(dist, name)))
    rank = os.environ.get("RANK", "0")
    atexit.register(lambda: print(f"collective_check: {_calls['checked']} checked calls on rank {rank}",
                                  file=sys.stderr, flush=True))


if __name__ == "__main__":
    script, sys.argv = sys.argv[1], sys.argv[1:]
    install()
    runpy.run_path(script, run_name="__main__")
