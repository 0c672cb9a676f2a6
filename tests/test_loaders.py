"""The run's loaders: training workers that persist across epochs yet draw exactly what fresh workers would (so a
resumed run repeats an uninterrupted one), a main-process RNG the loader never consumes, and test loaders kept only
inside keep_eval_loaders()."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from hiera_video.engine.loaders import build_train_loader, keep_eval_loaders, eval_loader


class Draws(torch.utils.data.Dataset):
    """Item ``i``: ``(i, worker pid, a draw from random, NumPy and torch)``: what an augmentation would draw."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        return i, os.getpid(), random.random(), float(np.random.rand()), float(torch.rand(()))


def _cfg(workers: int, persistent: bool = True):
    from hiera_video.config import load_config

    from helpers import ROOT

    return load_config(os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml"), [
        "TRAIN.BATCH_SIZE", "3", "DATA_LOADER.NUM_WORKERS", str(workers),
        "DATA_LOADER.PERSISTENT_WORKERS", str(persistent), "RNG_SEED", "5"])


def _epoch(loader, sampler, epoch):
    sampler.set_epoch(epoch)
    return [row for batch in loader for row in zip(*[list(col) for col in batch])]


def _collate(items):
    return [list(col) for col in zip(*items)]


def test_persistent_workers_draw_per_epoch_what_fresh_workers_draw():
    cfg = _cfg(workers=2)
    loader, sampler = build_train_loader(cfg, Draws(), _collate)
    state = torch.get_rng_state()
    first = [_epoch(loader, sampler, e) for e in range(3)]
    assert torch.equal(torch.get_rng_state(), state)  # the loader drew nothing from the main process's RNG
    pids = [{row[1] for row in rows} for rows in first]
    assert len(pids[0]) == 2 and pids[0] == pids[1] == pids[2] and os.getpid() not in pids[0]  # workers persisted
    resumed_loader, resumed_sampler = build_train_loader(cfg, Draws(), _collate)  # a resume at epoch 2: fresh workers
    resumed = _epoch(resumed_loader, resumed_sampler, 2)
    assert {r[1] for r in resumed}.isdisjoint(pids[0])
    strip = lambda rows: [(r[0], *r[2:]) for r in rows]  # noqa: E731  (all but the pid)
    assert strip(resumed) == strip(first[2])  # same order, same draws
    assert strip(first[1]) != strip(first[2]) and sorted(r[0] for r in first[1]) == list(range(12))


def test_without_workers_items_draw_from_the_main_process():
    loader, sampler = build_train_loader(_cfg(workers=0), Draws(), _collate)
    from hiera_video.engine.runner import seed_everything

    seed_everything(0)
    a = _epoch(loader, sampler, 1)
    seed_everything(0)
    b = _epoch(loader, sampler, 1)
    assert a == b and {r[1] for r in a} == {os.getpid()}


def test_eval_loaders_are_kept_only_inside_keep_eval_loaders():
    cfg, data = _cfg(workers=1), Draws()
    cpu = torch.device("cpu")
    assert eval_loader(cfg, data, 4, cpu) is not eval_loader(cfg, data, 4, cpu)
    with keep_eval_loaders():
        kept = eval_loader(cfg, data, 4, cpu)
        assert eval_loader(cfg, data, 4, cpu) is kept and kept.persistent_workers
        assert eval_loader(cfg, data, 2, cpu) is not kept  # other settings, another loader
        assert [int(i) for batch in kept for i in batch[0]] == list(range(12))
    assert eval_loader(cfg, data, 4, cpu) is not kept
    assert not eval_loader(_cfg(workers=1, persistent=False), data, 4, cpu).persistent_workers


def test_batch_size_must_divide_by_the_processes(monkeypatch):
    from hiera_video.engine import distributed as du
    from hiera_video.utils.errors import ConfigError

    monkeypatch.setattr(du, "get_world_size", lambda: 2)
    with pytest.raises(ConfigError, match=r"TRAIN.BATCH_SIZE \(3\) must be divisible by the 2 processes"):
        build_train_loader(_cfg(workers=0), Draws(), _collate)
