"""Action detection (``TASK detection``): per-box multi-label actions on AVA-format data, frame-mAP@0.5 at test.

* model: :func:`~hiera_video.models.create_detector` on ``MODEL.ARCH`` (a ``hiera_*`` video model) at input
  ``(DATA.NUM_FRAMES, *DETECTION.INPUT_SIZE)``, last stage at stride ``DETECTION.SPATIAL_SCALE_FACTOR``,
  ``DETECTION.ROI_XFORM_RESOLUTION`` / ``DETECTION.ALIGNED``, ``MODEL.HEAD_DROPOUT``, ``DETECTION.HEAD_PRIOR_PROB``, ``MODEL.DROP_PATH_RATE``; the
  backbone starts from ``TRAIN.CHECKPOINT_FILE_PATH`` (a K400 classifier or MAE checkpoint in any format
  ``models.read_weights`` reads) with a fresh head, as the runner logs;
* data: ``TRAIN.DATASET`` / ``TEST.DATASET`` (``ava``) items batched by ``data.ava.collate_detection``; clips are
  uint8 and normalised here, on the device;
* loss: ``BCEWithLogits`` over the boxes' multi-hot labels (mean over boxes and ``MODEL.NUM_CLASSES`` classes; AMP-safe,
  unlike a sigmoid followed by ``BCELoss``); the logged ``count`` is clips;
* validation every ``TRAIN.EVAL_PERIOD`` epochs: frame-mAP on the val keyframes (``second % 4 == 0`` unless
  ``AVA.FULL_TEST_ON_VAL``), which picks ``checkpoint_best.pyth``; test: every keyframe of ``AVA.TEST_LISTS``
  (:func:`~hiera_video.engine.detection_eval.run_detection_tests`);
* ``DATA.MAKE_SYNTHETIC``: the quickstart's synthetic AVA-format dataset (``prep.synthetic_ava``).

EMA, AMP, DDP, gradient accumulation, layer decay and resume are the runner's and work as for classification.
Mixup / CutMix do not apply to boxes (a warning says so).
"""

from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fvcore.common.config import CfgNode

from hiera_video.config import single_view_cfg
from hiera_video.data import build_dataset
from hiera_video.data.ava import collate_detection
from hiera_video.data.transforms import normalize_views
from hiera_video.models import create_detector
from hiera_video.utils.errors import ConfigError

from .base import Task, register_task

logger = logging.getLogger("hiera_video.engine")


@register_task("detection")
class DetectionTask(Task):
    """AVA-style action detection (see the module docstring).

    Raises (at construction):
        ConfigError: an ``mae_*`` ``MODEL.ARCH``.
    """

    metric = "mAP"
    dataset_kind = "keyframes"

    def __init__(self, cfg: CfgNode):
        if str(cfg.MODEL.ARCH).startswith("mae_"):
            raise ConfigError(f"MODEL.ARCH {cfg.MODEL.ARCH} is an MAE pretraining model: TASK detection needs a "
                              f"video classifier architecture such as {cfg.MODEL.ARCH[len('mae_'):]} (load the MAE "
                              f"weights with TRAIN.CHECKPOINT_FILE_PATH)")
        if cfg.MIXUP.ENABLE:
            logger.warning("MIXUP.ENABLE is ignored by TASK detection (Mixup / CutMix do not apply to boxes)")
        super().__init__(cfg)

    def build_model(self) -> nn.Module:
        """The detector at input ``(DATA.NUM_FRAMES, *DETECTION.INPUT_SIZE)``.

        Raises:
            ConfigError: the input size or stride does not fit the architecture.
        """
        cfg = self.cfg
        input_size = (int(cfg.DATA.NUM_FRAMES), *[int(v) for v in cfg.DETECTION.INPUT_SIZE])
        try:
            return create_detector(
                cfg.MODEL.ARCH, num_classes=int(cfg.MODEL.NUM_CLASSES), input_size=input_size,
                feature_stride=int(cfg.DETECTION.SPATIAL_SCALE_FACTOR),
                resolution=int(cfg.DETECTION.ROI_XFORM_RESOLUTION), aligned=bool(cfg.DETECTION.ALIGNED),
                dropout=float(cfg.MODEL.HEAD_DROPOUT), prior_prob=float(cfg.DETECTION.HEAD_PRIOR_PROB),
                drop_path_rate=float(cfg.MODEL.DROP_PATH_RATE))
        except ValueError as e:
            raise ConfigError(f"MODEL.ARCH {cfg.MODEL.ARCH} at input {input_size} (DATA.NUM_FRAMES, "
                              f"DETECTION.INPUT_SIZE), DETECTION.SPATIAL_SCALE_FACTOR "
                              f"{cfg.DETECTION.SPATIAL_SCALE_FACTOR}: {e}") from e

    def train_dataset(self) -> torch.utils.data.Dataset:
        return build_dataset(self.cfg.TRAIN.DATASET, self.cfg, "train")

    def test_dataset(self, cfg: Optional[CfgNode] = None) -> torch.utils.data.Dataset:
        cfg = cfg or self.cfg
        return build_dataset(cfg.TEST.DATASET, cfg, "test")

    def collate_train(self, items: list) -> dict:
        return collate_detection(items)

    def validation_cfg(self) -> Optional[CfgNode]:
        """The test lists with ``TEST.SPLIT val``: the dataset keeps PySlowFast's validation keyframes."""
        return single_view_cfg(self.cfg, "val")

    def training_loss(self, model: nn.Module, batch: dict,
                      device: torch.device) -> Tuple[torch.Tensor, Dict[str, int]]:
        """``BCEWithLogits`` of the boxes' logits against their multi-hot labels.

        Args:
            batch: ``collate_detection`` output: ``clip`` uint8 ``(B, C, T, H, W)``, ``boxes`` ``(K, 5)``
                ``[batch_index, x1, y1, x2, y2]`` pixels, ``labels`` ``(K, MODEL.NUM_CLASSES)``.

        Returns:
            ``(loss, {"count": B, "boxes": K})``.
        """
        clips = normalize_views(batch["clip"].to(device, non_blocking=True), self.cfg.DATA.MEAN, self.cfg.DATA.STD)
        boxes = batch["boxes"].to(device, non_blocking=True)
        labels = batch["labels"].to(device, non_blocking=True)
        logits = model(clips, boxes)  # (K, num_classes)
        loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return loss, {"count": int(clips.shape[0]), "boxes": int(boxes.shape[0])}

    def evaluate(self, cfg: CfgNode, targets: dict, dataset, device: torch.device, desc: str = "test",
                 class_names=None) -> Dict[str, dict]:
        from hiera_video.engine.detection_eval import run_detection_tests

        return run_detection_tests(cfg, targets, dataset, device, desc=desc)

    def report_stats(self, report: dict) -> Dict[str, float]:
        return {"mAP": report["mAP"], "num_keyframes": report["num_keyframes"], "failed": len(report["failed"])}

    def summary(self, report: dict) -> str:
        value = "n/a" if report["mAP"] is None else f"{report['mAP']:.2f}%"
        failed = f", {len(report['failed'])} failed" if report["failed"] else ""
        return (f"frame-mAP@0.5 {value} on {report['num_keyframes']} keyframes ({report['num_boxes']} boxes; "
                f"{report['num_keyframes_with_gt']} with ground truth{failed})")

    def prepare_data(self) -> Optional[dict]:
        """Write the synthetic AVA-format dataset to ``AVA.FRAME_DIR`` / ``FRAME_LIST_DIR`` / ``ANNOTATION_DIR``
        (``prep.synthetic_ava.make_ava_dataset``; skipped when it is there already)."""
        from hiera_video.prep.synthetic_ava import make_ava_dataset

        a = self.cfg.AVA
        for key in ("FRAME_DIR", "FRAME_LIST_DIR", "ANNOTATION_DIR"):
            if not getattr(a, key):
                raise ConfigError(f"DATA.MAKE_SYNTHETIC with TASK detection needs AVA.{key}")
        return make_ava_dataset(a.FRAME_DIR, a.FRAME_LIST_DIR, a.ANNOTATION_DIR, seed=int(self.cfg.RNG_SEED))
