"""Action-detection test: every keyframe's proposals scored once, frame-mAP@0.5 and the report.

Each process scores a strided shard of the keyframes (``range(rank, N, world)``: disjoint, nothing padded or
repeated, so under torchrun every keyframe is scored exactly once) and keeps its results compact: per box the
keyframe, the box and one score per class (:class:`ShardDetections`). They are gathered on the main process only,
which expands them to detection rows, scores them against the dataset's ground truth
(``evaluation.detection_report.score_detections``), writes the report and broadcasts it (a few kB) to the other
processes. A keyframe whose frames fail is listed under ``failed`` and gets no detections: its ground truth still
counts, so the mAP is never inflated by skipping. Clips travel as uint8 and are normalised on the device.

Memory at full AVA v2.2 val size (57k keyframes, about 150k proposals, 60 classes), measured on arrays of that size: a
process other than the main one holds only its shard's arrays (``150k / world`` boxes x (60 float64 scores + 4
coordinates + an id): 84 MiB / world, 10.5 MiB with 8 processes); the main process holds the gathered arrays (84 MiB)
and, while scoring, the 9.0 M detection rows (549 MiB, built in 3 s; before, every process held them all).
"""

from __future__ import annotations

import logging
from typing import Dict, List, NamedTuple

import numpy as np
import pandas as pd
import torch
from fvcore.common.config import CfgNode
from tqdm import tqdm

from hiera_video.data.ava import collate_detection
from hiera_video.data.bad_videos import check_bad_fraction
from hiera_video.data.transforms import normalize_views
from hiera_video.engine import distributed as du
from hiera_video.engine.loaders import eval_loader
from hiera_video.engine.precision import test_autocast
from hiera_video.evaluation.detection_report import score_detections

logger = logging.getLogger("hiera_video.engine")

__all__ = ["ShardDetections", "run_detection_tests"]


class ShardDetections(NamedTuple):
    """One process's detections, one entry per box: ``video_id (K,)`` str, ``timestamp (K,)`` int64 seconds,
    ``boxes (K, 4)`` float64 x1y1x2y2 normalised to [0, 1], ``scores (K, C)`` float64 sigmoid scores of ``class_ids``
    (``(C,)`` int64 label-map ids)."""

    video_id: np.ndarray
    timestamp: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray

    @staticmethod
    def concat(parts: List["ShardDetections"], num_classes: int) -> "ShardDetections":
        """The parts (batches, or processes' shards) one after the other; empty arrays when there are none."""
        parts = [p for p in parts if len(p.video_id)]
        if not parts:
            return ShardDetections(np.array([], dtype=object), np.zeros(0, np.int64), np.zeros((0, 4)),
                                   np.zeros((0, num_classes)))
        return ShardDetections(*(np.concatenate(arrays) for arrays in zip(*parts)))

    def rows(self, class_ids: np.ndarray) -> pd.DataFrame:
        """Detection rows (``DETECTION_COLUMNS``): one per box and class, boxes in order, classes in ``class_ids``
        order within a box."""
        k, c = self.scores.shape
        return pd.DataFrame({"video_id": np.repeat(self.video_id, c), "timestamp": np.repeat(self.timestamp, c),
                             "x1": np.repeat(self.boxes[:, 0], c), "y1": np.repeat(self.boxes[:, 1], c),
                             "x2": np.repeat(self.boxes[:, 2], c), "y2": np.repeat(self.boxes[:, 3], c),
                             "action_id": np.tile(class_ids, k), "score": self.scores.reshape(-1)})


def _batch_detections(items: List[dict], probs: torch.Tensor, class_ids: np.ndarray) -> ShardDetections:
    """The boxes of ``items`` (in order) with their scores for ``class_ids``; ``probs (K, MODEL.NUM_CLASSES)``."""
    counts = [len(it["proposals"]) for it in items]
    return ShardDetections(
        video_id=np.repeat(np.array([it["video_id"] for it in items], dtype=object), counts),
        timestamp=np.repeat(np.array([int(it["timestamp"]) for it in items], dtype=np.int64), counts),
        boxes=torch.cat([it["proposals"] for it in items]).numpy().astype(np.float64),
        scores=probs[:, class_ids - 1].numpy().astype(np.float64))


@torch.no_grad()
def run_detection_tests(cfg: CfgNode, targets: Dict, dataset, device: torch.device,
                        desc: str = "test") -> Dict[str, Dict]:
    """Score every keyframe of ``dataset`` (an :class:`~hiera_video.data.ava.Ava` test split) with every model of
    ``targets`` (name -> ``ModelUnderTest``: raw and EMA weights share the decoded clips).

    Scores are the sigmoid of the logits for the label map's classes (``action_id - 1`` of the ``MODEL.NUM_CLASSES``
    outputs). Each report (``score_detections``: ``mAP``, ``per_class``, ``groups``, ``num_keyframes``,
    ``num_boxes``, ``failed``, + the target's ``extra``) is written by the main process to the target's
    ``out_dir`` (``detections.csv``, ``report.json``, ``report.md``, ``per_class_ap.png``) from the detections of
    every process, gathered on it alone, and broadcast to the others.

    Returns:
        name -> report (the same on every process).

    Raises:
        TooManyBadVideosError: after the reports are written, when more than ``DATA.MAX_BAD_FRACTION`` of the
            keyframes failed.
    """
    for target in targets.values():
        target.model.eval()
    world = du.get_world_size()
    class_ids = np.array([c for c in dataset.label_map.ids if c <= dataset.num_classes], dtype=np.int64)
    if len(class_ids) < len(dataset.label_map.ids):
        logger.warning("%s: label map ids above MODEL.NUM_CLASSES %d are never detected: %s", desc,
                       dataset.num_classes, [c for c in dataset.label_map.ids if c > dataset.num_classes])
    loader = eval_loader(cfg, dataset, max(int(cfg.TEST.BATCH_SIZE) // world, 1), device, collate_detection)
    parts: Dict[str, List[ShardDetections]] = {name: [] for name in targets}
    failed: List[dict] = []
    for batch in tqdm(loader, desc=desc, disable=not du.is_main_process(), dynamic_ncols=True):
        failed += [{"video_id": f["video_id"], "timestamp": int(f["timestamp"]), "path": f["path"],
                    "error": f["error"]} for f in batch["failed"]]
        if batch["clip"] is None:
            continue
        clips = normalize_views(batch["clip"].to(device, non_blocking=True), cfg.DATA.MEAN, cfg.DATA.STD)
        boxes = batch["boxes"].to(device)
        for name, target in targets.items():
            with test_autocast(device, cfg.TEST.PRECISION, cfg.TRAIN.PRECISION):
                logits = target.model(clips, boxes)
            parts[name].append(_batch_detections(batch["items"], torch.sigmoid(logits.float()).cpu(), class_ids))
    failed = [f for part in du.all_gather_objects(failed) for f in part]
    reports = {}
    for name, target in targets.items():  # same order on every process: the collectives pair up
        shard = ShardDetections.concat(parts[name], len(class_ids))
        parts[name] = []
        gathered = du.gather_objects(shard)  # the list on the main process, None elsewhere
        report = None
        if gathered is not None:
            detections = ShardDetections.concat(gathered, len(class_ids)).rows(class_ids)
            del gathered
            report = score_detections(
                target.out_dir, dataset.groundtruth, detections, dataset.label_map.ids, dataset.label_map.names,
                excluded=dataset.excluded, max_detections_per_frame=int(cfg.AVA.MAX_DETECTIONS_PER_FRAME),
                failed=failed, extra={**(target.extra or {}), **dataset.counts})
        reports[name] = du.broadcast_object(report)
    check_bad_fraction(len(failed), len(dataset), cfg.DATA.MAX_BAD_FRACTION, desc)
    return reports
