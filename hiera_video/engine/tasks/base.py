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
  epoch (e.g. MAE reconstruction pictures); returns a path it wrote, or None;
* ``collate_train(items) -> batch``: how training items are batched (``data.collate_train``);
* ``metric`` (``"top1"``): the report key that validation logs and that picks ``checkpoint_best.pyth``;
* ``validation_cfg() -> Optional[CfgNode]``: the config of the validation split (``single_view_cfg`` of
  ``{PATH_TO_DATA_DIR}/val.csv``), or None when there is none;
* ``evaluate(cfg, targets, dataset, device, desc, class_names) -> {name: report}``: test every model of ``targets``
  (``engine.multiview_eval.ModelUnderTest``) on ``dataset``; the multi-view test by default;
* ``report_stats(report) -> dict`` (the numbers ``stats.jsonl`` and TensorBoard get) and ``summary(report) -> str``
  (the one line the runner logs and ``tools/run_net.py`` prints);
* ``prepare_data()``: write the task's synthetic dataset when ``DATA.MAKE_SYNTHETIC`` (the quickstarts).
"""

from __future__ import annotations

import abc
import logging
import os
from typing import Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError

logger = logging.getLogger("hiera_video.engine")

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
    metric: str = "top1"
    #: what the task's datasets must yield (``data.build.item_kind``): ``"clips"`` or ``"keyframes"``.
    dataset_kind: str = "clips"

    def __init__(self, cfg: CfgNode) -> None:
        self.cfg = cfg
        self._check_datasets()

    def _check_datasets(self) -> None:
        """Raise ``ConfigError`` when ``TRAIN.DATASET`` (or, for a task with a test, ``TEST.DATASET``) yields items of
        another kind than the task reads (e.g. ``TEST.DATASET ava`` with ``TASK classification``)."""
        from hiera_video.data.build import datasets_of_kind, item_kind

        keys = ["TRAIN.DATASET"] + (["TEST.DATASET"] if self.has_test else [])
        for key in keys:
            section, field = key.split(".")
            name = self.cfg[section][field]
            kind = item_kind(name)
            if kind and kind != self.dataset_kind:
                raise ConfigError(
                    f"{key} {name} yields {kind}, but TASK {self.name} reads {self.dataset_kind}: set {key} to one of "
                    f"{datasets_of_kind(self.dataset_kind)} (or TASK to the task for {name})")

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

    def collate_train(self, items: list) -> dict:
        """Batch training items (``data.collate_train``)."""
        from hiera_video.data import collate_train

        return collate_train(items)

    def validation_cfg(self) -> Optional[CfgNode]:
        """``single_view_cfg(cfg)`` (centre clip, centre crop of ``{PATH_TO_DATA_DIR}/val.csv``); None if there is
        no val list or it lists no video."""
        from hiera_video.config import single_view_cfg
        from iopath.common.file_io import g_pathmgr

        cfg = self.cfg
        path = os.path.join(cfg.DATA.PATH_TO_DATA_DIR, "val.csv")
        if not g_pathmgr.exists(path):
            return None
        with g_pathmgr.open(path) as f:
            lines = [line for line in f if line.strip()]
        if lines and cfg.DATA.INPUT_FORMAT == "frames" and lines[0].split()[0].startswith("original_vid"):
            lines = lines[1:]  # a frame list's header line
        if not lines:
            logger.info("%s lists no video: no validation during training", path)
            return None
        return single_view_cfg(cfg, "val")

    def evaluate(self, cfg: CfgNode, targets: dict, dataset, device: torch.device, desc: str = "test",
                 class_names: Optional[list] = None) -> Dict[str, dict]:
        """The multi-view test of every model in ``targets`` (``engine.multiview_eval.run_multiview_tests``)."""
        from hiera_video.engine.multiview_eval import run_multiview_tests

        return run_multiview_tests(cfg, targets, self, dataset, device, desc=desc, class_names=class_names)

    def report_stats(self, report: dict) -> Dict[str, float]:
        """The numbers of a validation report for ``stats.jsonl`` / TensorBoard."""
        return {"top1": report["top1"], "top5": report["top5"], "num_videos": report["num_videos"],
                "failed": len(report["failed"])}

    def summary(self, report: dict) -> str:
        """One line describing a test report."""
        def pct(x):
            return "n/a" if x is None else f"{x:.2f}%"

        failed = f" ({len(report['failed'])} failed)" if report["failed"] else ""
        return (f"top-1 {pct(report['top1'])} (top-5 {pct(report['top5'])}) on {report['num_videos']} videos x "
                f"{report['num_views']} views{failed}")

    def prepare_data(self) -> Optional[dict]:
        """Write the synthetic motion dataset to ``DATA.PATH_TO_DATA_DIR`` unless its lists exist
        (``prep.synthetic.make_motion_dataset``); returns its summary."""
        from hiera_video.prep.synthetic import make_motion_dataset

        cfg = self.cfg
        n_train, n_val, n_test = cfg.DATA.SYNTHETIC_VIDEOS_PER_CLASS
        return make_motion_dataset(cfg.DATA.PATH_TO_DATA_DIR, num_train_per_class=n_train,
                                   num_val_per_class=n_val, num_test_per_class=n_test, seed=cfg.RNG_SEED)
