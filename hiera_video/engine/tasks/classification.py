"""Supervised clip classification (``TASK classification``): cross-entropy in training, logits per view at test."""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fvcore.common.config import CfgNode

from hiera_video.data import build_dataset
from hiera_video.data.mixup import build_mixup
from hiera_video.evaluation.meters import topk_correct
from hiera_video.models import create_model
from hiera_video.utils.errors import ConfigError

from .base import Task, register_task


@register_task("classification")
class ClassificationTask(Task):
    """Supervised clip classification with cross-entropy.

    Without Mixup the loss is cross-entropy with ``MODEL.LABEL_SMOOTHING``; with
    ``MIXUP.ENABLE`` each training batch goes through
    :class:`~hiera_video.data.mixup.MixupCutmix` and the loss is soft-target cross-entropy
    against its label-smoothed mixed targets (``MIXUP.LABEL_SMOOTH_VALUE``).
    """

    def __init__(self, cfg: CfgNode):
        super().__init__(cfg)
        self.label_smoothing = float(cfg.MODEL.LABEL_SMOOTHING)
        self.mixup = build_mixup(cfg)

    def build_model(self) -> nn.Module:
        """Hiera sized to the data: input ``(DATA.NUM_FRAMES, TRAIN_CROP_SIZE, TRAIN_CROP_SIZE)``.

        Raises:
            ValueError: an ``mae_*`` arch, or train and test crop sizes differ (Hiera's position
                embeddings fix the spatial input size), or the size is invalid.
        """
        cfg = self.cfg
        if cfg.MODEL.ARCH.startswith("mae_"):
            raise ConfigError(f"MODEL.ARCH {cfg.MODEL.ARCH} is an MAE pretraining model: use TASK mae, or a "
                             f"classifier such as {cfg.MODEL.ARCH[len('mae_'):]} for TASK {self.name}")
        if cfg.DATA.TEST_CROP_SIZE != cfg.DATA.TRAIN_CROP_SIZE:
            raise ConfigError(
                f"DATA.TEST_CROP_SIZE ({cfg.DATA.TEST_CROP_SIZE}) must equal DATA.TRAIN_CROP_SIZE "
                f"({cfg.DATA.TRAIN_CROP_SIZE}): Hiera's position embeddings fix the input size"
            )
        size = cfg.DATA.TRAIN_CROP_SIZE
        return create_model(
            cfg.MODEL.ARCH,
            num_classes=cfg.MODEL.NUM_CLASSES,
            input_size=(cfg.DATA.NUM_FRAMES, size, size),
            drop_path_rate=cfg.MODEL.DROP_PATH_RATE,
            head_dropout=cfg.MODEL.HEAD_DROPOUT,
        )

    def train_dataset(self) -> torch.utils.data.Dataset:
        return build_dataset(self.cfg.TRAIN.DATASET, self.cfg, "train")

    def test_dataset(self, cfg: Optional[CfgNode] = None) -> torch.utils.data.Dataset:
        cfg = cfg or self.cfg
        return build_dataset(cfg.TEST.DATASET, cfg, "test")

    def training_loss(
        self, model: nn.Module, batch: dict, device: torch.device
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """Loss for a training batch and detached counts for logging.

        Args:
            batch: ``{"clip": (B, C, T, H, W) float, "label": (B,) long, ...}``.

        Returns:
            ``(loss, {"top1_correct", "top5_correct", "count"})``; with Mixup/CutMix the
            accuracy counts are against the clips' own (unmixed) labels.
        """
        clips = batch["clip"].to(device, non_blocking=True)
        labels = batch["label"].to(device, non_blocking=True)
        if self.mixup is not None:
            clips, targets, labels = self.mixup(clips, labels)  # targets: (B, K) soft, rows sum to 1
            logits = model(clips)  # (B, K)
            loss = F.cross_entropy(logits.float(), targets)
        else:
            logits = model(clips)  # (B, K)
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        with torch.no_grad():
            correct = topk_correct(logits.detach().float(), labels, ks=(1, 5))
        return loss, {"top1_correct": correct[1], "top5_correct": correct[5], "count": labels.numel()}

    @torch.no_grad()
    def view_scores(self, model: nn.Module, views: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` for a stack of views ``(N, C, T, H, W)``; ensembled by the test loop."""
        return model(views).float()

