"""The distributed set-up in one process: the backend's device, staging and copy-back of every reduction, the GPU a
process drives, the process-group timeout, the stop decision, NUM_GPUS, and the best checkpoint as a link.
(tests/test_distributed.py runs the real loops in 2 processes with the collectives checked as under NCCL.)"""

from __future__ import annotations

import datetime
import os

import pytest
import torch
import torch.distributed as dist

import hiera_video.utils.distributed as ud
from hiera_video.engine import distributed as du
from hiera_video.utils.errors import ConfigError, SetupError


@pytest.fixture
def fake_group(monkeypatch):
    """A 2-process group as the helpers see it, with the backend named by ``fake_group(name)``."""

    def make(backend: str, device_index: int = 1):
        monkeypatch.setattr(ud, "is_distributed", lambda: True)
        monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
        monkeypatch.setattr(dist, "get_rank", lambda group=None: 0)
        monkeypatch.setattr(dist, "get_backend", lambda group=None: backend)
        monkeypatch.setattr(torch.cuda, "current_device", lambda: device_index)

    return make


def test_backend_device_is_the_current_gpu_under_nccl_and_the_cpu_under_gloo(fake_group):
    assert ud.backend_device() == torch.device("cpu")  # no process group
    fake_group("nccl", device_index=3)
    assert ud.backend_device() == torch.device("cuda", 3)
    fake_group("gloo")
    assert ud.backend_device() == torch.device("cpu")


def test_all_reduce_stages_the_tensor_and_copies_the_result_back(fake_group, monkeypatch):
    """A float64 CPU tensor (the train loop's sums) goes to the collective only as the staged buffer, and the reduced
    values come back into the caller's tensor, on its own device and dtype; ``op`` maps to the right ReduceOp."""
    fake_group("nccl")
    staged, seen = [], []
    monkeypatch.setattr(ud, "to_backend_device", lambda t, group=None: staged.append(t.clone()) or staged[-1])

    def fake_all_reduce(t, op=None, group=None):
        seen.append((t, op))
        t.mul_(2)  # "the other process held the same values"

    monkeypatch.setattr(dist, "all_reduce", fake_all_reduce)
    sums = torch.tensor([1.5, 2.0, 3.0], dtype=torch.float64)
    out = ud.all_reduce_sum(sums)
    assert out is sums and sums.tolist() == [3.0, 4.0, 6.0] and sums.dtype == torch.float64
    assert seen[0][0] is staged[0] and seen[0][1] == dist.ReduceOp.SUM
    ud.all_reduce_max(torch.tensor([1]))
    assert seen[1][1] == dist.ReduceOp.MAX
    with pytest.raises(ValueError, match="op must be one of"):
        ud.all_reduce(sums, "mean")


def test_helpers_do_nothing_in_a_world_of_one(monkeypatch):
    monkeypatch.setattr(dist, "all_reduce", lambda *a, **k: pytest.fail("no collective in a world of one"))
    t = torch.tensor([2.0])
    assert ud.all_reduce_sum(t) is t and t.item() == 2.0
    assert ud.all_gather_objects("x") == ["x"] and ud.gather_objects("x") == ["x"]
    assert ud.broadcast_object({"a": 1}) == {"a": 1}
    ud.barrier()


@pytest.mark.parametrize("local_rank, visible, expected", [(0, 8, 0), (5, 8, 5), (3, 1, 0), (0, 1, 0)])
def test_cuda_device_index(local_rank, visible, expected):
    """torchrun shows each process every GPU (device LOCAL_RANK); SLURM binding one GPU per task shows one (device 0)."""
    assert du.cuda_device_index(local_rank, visible) == expected


def test_cuda_device_index_without_a_gpu_for_the_rank():
    with pytest.raises(SetupError, match="LOCAL_RANK is 5 but this process sees 4 GPUs"):
        du.cuda_device_index(5, 4)


def test_init_distributed_passes_the_timeout_and_refuses_several_gpus_per_process(monkeypatch):
    calls = []
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.append(kw))
    assert du.init_distributed(0, "nccl", 45) == torch.device("cpu")
    assert calls[0]["backend"] == "gloo" and calls[0]["timeout"] == datetime.timedelta(minutes=45)
    with pytest.raises(SetupError, match="torchrun --nproc_per_node 8"):
        du.init_distributed(8)


def test_num_gpus_and_timeout_config_checks():
    from hiera_video.config import load_config

    from helpers import ROOT

    quick = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")
    with pytest.raises(ConfigError, match=r"NUM_GPUS must be 0 \(the CPU\) or 1"):
        load_config(quick, ["NUM_GPUS", "8"])
    with pytest.raises(ConfigError, match="DIST_TIMEOUT_MINUTES must be positive"):
        load_config(quick, ["DIST_TIMEOUT_MINUTES", "0"])
    with pytest.raises(ConfigError, match="was replaced by TRAIN.PRECISION"):
        load_config(quick, ["TRAIN.MIXED_PRECISION", "True"])
    assert load_config(quick, ["DIST_TIMEOUT_MINUTES", "5"]).DIST_TIMEOUT_MINUTES == 5


def test_stop_decision_in_a_world_of_one():
    from hiera_video.data.bad_videos import BadVideosInARowError
    from hiera_video.engine.train_loop import NonFiniteLossError, stop_if_any_process_must

    stop_if_any_process_must(0, "")  # nothing to stop
    with pytest.raises(BadVideosInARowError, match="^streak$") as e:
        stop_if_any_process_must(1, "streak", [("a.mp4", "bad")], [("b.mp4", "short")])
    assert e.value.bad == [("a.mp4", "bad")] and e.value.partial == [("b.mp4", "short")]
    with pytest.raises(NonFiniteLossError, match="^loss is nan$"):
        stop_if_any_process_must(2, "loss is nan")


def test_atomic_link_or_copy(tmp_path, monkeypatch):
    """The best checkpoint is the epoch file's inode (no bytes written) where links work, a complete copy where they
    do not; an existing destination is replaced; no temp file is left either way."""
    from hiera_video.utils.atomic import atomic_link_or_copy

    src, dst = tmp_path / "checkpoint_epoch_00002.pyth", tmp_path / "checkpoint_best.pyth"
    src.write_bytes(b"epoch 2")
    dst.write_bytes(b"an older best")
    assert atomic_link_or_copy(str(src), str(dst)) == "link"
    assert dst.read_bytes() == b"epoch 2" and os.stat(dst).st_ino == os.stat(src).st_ino
    assert atomic_link_or_copy(str(src), str(dst)) == "link"  # the same file again: still one name each
    src.unlink()
    assert dst.read_bytes() == b"epoch 2"  # pruning the epoch file leaves the best intact
    src.write_bytes(b"epoch 3")

    def no_links(a, b):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert atomic_link_or_copy(str(src), str(dst)) == "copy"
    assert dst.read_bytes() == b"epoch 3" and os.stat(dst).st_ino != os.stat(src).st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_best.pyth", "checkpoint_epoch_00002.pyth"]
