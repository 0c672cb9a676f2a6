"""The data loaders of a run: the training loader (built once; with ``DATA_LOADER.PERSISTENT_WORKERS`` its worker
processes live for the whole run) and the test / validation loaders (kept between the validations of a run).

Workers that outlive an epoch would carry their random state from one epoch into the next, and a resumed run (fresh
workers) would then draw other augmentations than an uninterrupted one. So every index the training sampler yields
carries its epoch (``(epoch, index)``), and :class:`EpochSeeded` reseeds a worker's ``random``, NumPy and torch
generators at its first item of each epoch from ``(RNG_SEED + rank, epoch, worker id)``; the loader's own base seed
comes from a generator of its own, so the main process's random state is never consumed by the loader. An epoch's
draws are then a function of the seed, the epoch and the rank alone: resuming at any epoch repeats them exactly.
Without workers (``DATA_LOADER.NUM_WORKERS 0``) items are drawn in the main process, whose states the checkpoints
save per rank.
"""

from __future__ import annotations

import contextlib
import random
from typing import Callable, Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from fvcore.common.config import CfgNode

from hiera_video.engine import distributed as du
from hiera_video.utils.errors import ConfigError

__all__ = ["EpochSeeded", "EpochSampler", "build_train_loader", "keep_eval_loaders", "eval_loader", "worker_seed"]


def worker_seed(seed: int, epoch: int, worker_id: int) -> int:
    """A 64-bit seed for loader worker ``worker_id`` in epoch ``epoch`` of a process seeded ``seed`` (NumPy's
    ``SeedSequence``: well-mixed, distinct for distinct triples)."""
    a, b = np.random.SeedSequence([int(seed) % 2**63, int(epoch), int(worker_id)]).generate_state(2)
    return (int(a) << 32 | int(b)) & (2**63 - 1)


class EpochSampler(torch.utils.data.Sampler):
    """``(epoch, index)`` for every index of ``sampler``: the epoch travels to the workers with each index.

    ``set_epoch`` sets it (and is passed on to a ``DistributedSampler``); with ``shuffle_seed`` the order is
    ``torch.randperm(N)`` from a generator seeded ``shuffle_seed + epoch`` (the single-process order), else
    ``sampler``'s.
    """

    def __init__(self, sampler: Optional[torch.utils.data.Sampler] = None, num_items: int = 0,
                 shuffle_seed: Optional[int] = None) -> None:
        self.sampler, self.num_items, self.shuffle_seed, self.epoch = sampler, int(num_items), shuffle_seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def __iter__(self) -> Iterator[Tuple[int, int]]:
        if self.sampler is not None:
            order = iter(self.sampler)
        else:
            gen = torch.Generator().manual_seed(int(self.shuffle_seed) + self.epoch)
            order = iter(torch.randperm(self.num_items, generator=gen).tolist())
        return ((self.epoch, int(i)) for i in order)

    def __len__(self) -> int:
        return len(self.sampler) if self.sampler is not None else self.num_items


class EpochSeeded(torch.utils.data.Dataset):
    """``dataset`` indexed by ``(epoch, index)``: in a loader worker, the first item of each epoch reseeds the
    worker's ``random``, NumPy and torch generators with :func:`worker_seed` ``(seed, epoch, worker id)``; in the main
    process nothing is reseeded. Items are ``dataset[index]``."""

    def __init__(self, dataset: torch.utils.data.Dataset, seed: int) -> None:
        self.dataset, self.seed, self._epoch = dataset, int(seed), None

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: Tuple[int, int]):
        epoch, index = key
        info = torch.utils.data.get_worker_info()
        if info is not None and epoch != self._epoch:
            self._epoch = epoch
            s = worker_seed(self.seed, epoch, info.id)
            random.seed(s)
            np.random.seed(s % 2**32)
            torch.manual_seed(s)
        return self.dataset[index]


def build_train_loader(cfg: CfgNode, dataset, collate: Callable) -> Tuple[torch.utils.data.DataLoader, EpochSampler]:
    """The training loader of a run and its sampler (call ``sampler.set_epoch(epoch)`` before each epoch).

    ``TRAIN.BATCH_SIZE / world`` items per process and step; under torchrun a ``DistributedSampler`` (seed
    ``RNG_SEED``) shards and shuffles, else a permutation seeded ``RNG_SEED + epoch``. The last short batch is
    dropped when the split holds at least one full batch. Workers: ``DATA_LOADER.NUM_WORKERS``, kept across epochs
    with ``DATA_LOADER.PERSISTENT_WORKERS``, reseeded per epoch (module docstring).

    Raises:
        ConfigError: ``TRAIN.BATCH_SIZE`` not divisible by the number of processes.
    """
    world = du.get_world_size()
    if cfg.TRAIN.BATCH_SIZE % world:
        raise ConfigError(f"TRAIN.BATCH_SIZE ({cfg.TRAIN.BATCH_SIZE}) must be divisible by the {world} processes")
    if world > 1:
        sampler = EpochSampler(torch.utils.data.distributed.DistributedSampler(dataset, shuffle=True,
                                                                               seed=cfg.RNG_SEED))
    else:
        sampler = EpochSampler(num_items=len(dataset), shuffle_seed=int(cfg.RNG_SEED))
    workers = int(cfg.DATA_LOADER.NUM_WORKERS)
    loader = torch.utils.data.DataLoader(
        EpochSeeded(dataset, int(cfg.RNG_SEED) + du.get_rank()),
        batch_size=cfg.TRAIN.BATCH_SIZE // world,
        sampler=sampler,
        num_workers=workers,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and cfg.NUM_GPUS > 0,
        drop_last=len(dataset) >= cfg.TRAIN.BATCH_SIZE,
        collate_fn=collate,
        persistent_workers=bool(cfg.DATA_LOADER.PERSISTENT_WORKERS) and workers > 0,
        generator=torch.Generator().manual_seed(int(cfg.RNG_SEED) + du.get_rank()),  # not the global RNG
    )
    return loader, sampler


#: the loaders kept while :func:`keep_eval_loaders` is active: (id(dataset), settings) -> (dataset, loader); the
#: dataset is kept beside its loader so that the id cannot be reused meanwhile.
_kept: Optional[Dict[tuple, tuple]] = None


@contextlib.contextmanager
def keep_eval_loaders():
    """Within this context :func:`eval_loader` keeps its loaders (with ``DATA_LOADER.PERSISTENT_WORKERS``), so
    their workers start once, however often a dataset is tested (the runner: every validation of a training run);
    on exit they are dropped and their worker processes end."""
    global _kept
    outer = _kept
    if outer is None:
        _kept = {}
    try:
        yield
    finally:
        if outer is None:
            _kept = None


def eval_loader(cfg: CfgNode, dataset, batch_size: Optional[int], device: torch.device,
                collate: Optional[Callable] = None) -> torch.utils.data.DataLoader:
    """The loader of this process's strided shard (``range(rank, N, world)``) of a test / validation ``dataset``, in
    order, ``batch_size`` items per batch (None: items as the dataset yields them).

    Inside :func:`keep_eval_loaders`, with ``DATA_LOADER.PERSISTENT_WORKERS`` and workers, the loader is kept and
    returned again for the same dataset and settings (its workers stay up between validations).
    """
    world, rank = du.get_world_size(), du.get_rank()
    workers = int(cfg.DATA_LOADER.NUM_WORKERS)
    persistent = bool(cfg.DATA_LOADER.PERSISTENT_WORKERS) and workers > 0 and _kept is not None
    pin = bool(cfg.DATA_LOADER.PIN_MEMORY) and device.type == "cuda"
    key = (id(dataset), world, rank, batch_size, workers, pin, collate)
    if persistent and key in _kept:
        return _kept[key][1]
    shard = torch.utils.data.Subset(dataset, list(range(rank, len(dataset), world)))
    loader = torch.utils.data.DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         collate_fn=collate, pin_memory=pin, persistent_workers=persistent)
    if persistent:
        _kept[key] = (dataset, loader)
    return loader
