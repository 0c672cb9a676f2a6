"""The ``Task`` protocol: what the train and test loops ask of a task, documented once, and the task registry.

The loops never branch on a model or dataset name; they call a task. A task (``cfg.TASK``) is a class
registered with ``@register_task("name")`` and built by :func:`build_task` from the config.

Required (abstract here):

* ``build_model() -> nn.Module``: the model for ``cfg`` (``models.create_model``);
* ``train_dataset() -> Dataset``: the training split (``data.build_dataset``), items collated by
  ``data.collate_train``;
* ``training_loss(model, batch, device) -> (loss, counts)``: the scalar loss of a training batch and detached
  numbers to log: ``count`` (clips) and, for tasks with labels, ``top1_correct`` / ``top5_correct``.

Optional (defaults here):

* ``has_test`` (True): the task can be validated and tested; False (MAE pretraining) makes the runner skip
  validation and forbids ``TEST.ENABLE``;
* ``test_dataset(cfg=None) -> Dataset``: per-video multi-view items (``data`` datasets' ``"test"`` split) for
  ``cfg`` (the run's, or a single-view validation config);
* ``view_scores(model, views) -> (N, K)``: scores of a stack of views ``(N, C, T, H, W)`` (normalised float),
  ensembled by the multi-view evaluation;
* ``on_epoch_end(model, epoch, writer) -> Optional[str]``: called on the main process after every training
  epoch (e.g. MAE reconstruction pictures); returns a path it wrote, or None.
"""

from __future__ import annotations

import abc
from typing import Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError

#: task classes by ``cfg.TASK`` name.
TASKS: Dict[str, Type["Task"]] = {}


def register_task(name: str) -> Callable[[Type["Task"]], Type["Task"]]:
    """Class decorator: register a :class:`Task` subclass under ``name`` (its ``cfg.TASK`` value)."""

    def wrap(cls: Type["Task"]) -> Type["Task"]:
        cls.name = name
        TASKS[name] = cls
        return cls

    return wrap


def build_task(cfg: CfgNode) -> "Task":
    """The task named by ``cfg.TASK``, built from ``cfg``.

    Raises:
        ValueError: unknown task name (the known ones are listed).
    """
    if cfg.TASK not in TASKS:
        raise ConfigError(f"unknown TASK '{cfg.TASK}'; known: {sorted(TASKS)}")
    return TASKS[cfg.TASK](cfg)


class Task(abc.ABC):
    """Base class of every task; see the module docstring for the protocol."""

    name: str = ""
    has_test: bool = True

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg

    @abc.abstractmethod
    def build_model(self) -> nn.Module:
        """The model for ``self.cfg``."""

    @abc.abstractmethod
    def train_dataset(self) -> torch.utils.data.Dataset:
        """The training split."""

    @abc.abstractmethod
    def training_loss(self, model: nn.Module, batch: dict,
                      device: torch.device) -> Tuple[torch.Tensor, Dict[str, float]]:
        """``(loss, counts)`` for a training batch (see the module docstring)."""

    def test_dataset(self, cfg: Optional[CfgNode] = None) -> torch.utils.data.Dataset:
        """Per-video multi-view items for ``cfg`` (default: the run's).

        Raises:
            RuntimeError: the task has no test (``has_test`` False).
        """
        raise RuntimeError(f"TASK {self.name} has no test or validation split")

    def view_scores(self, model: nn.Module, views: torch.Tensor) -> torch.Tensor:
        """Scores ``(N, K)`` of views ``(N, C, T, H, W)``.

        Raises:
            RuntimeError: the task has no test (``has_test`` False).
        """
        raise RuntimeError(f"TASK {self.name} has no scores to test")

    def on_epoch_end(self, model: nn.Module, epoch: int, writer=None) -> Optional[str]:
        """After training epoch ``epoch`` (0-based), on the main process; nothing by default."""
        return None
