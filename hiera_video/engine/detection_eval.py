"""Action-detection test: every keyframe's proposals scored once, frame-mAP@0.5 and the report.

Each process scores a strided shard of the keyframes (``range(rank, N, world)``: disjoint, nothing padded or
repeated, so under torchrun every keyframe is scored exactly once); the detection rows are gathered on the main
process, which scores them against the dataset's ground truth (``evaluation.detection_report.score_detections``)
and writes the report. A keyframe whose frames fail is listed under ``failed`` and gets no detections: its ground
truth still counts, so the mAP is never inflated by skipping. Clips travel as uint8 and are normalised on the device.
"""

from __future__ import annotations

import logging
from typing import Dict, List

import numpy as np
import pandas as pd
import torch
from fvcore.common.config import CfgNode
from tqdm import tqdm

from hiera_video.data.ava import collate_detection
from hiera_video.data.bad_videos import check_bad_fraction
from hiera_video.data.transforms import normalize_views
from hiera_video.engine import distributed as du
from hiera_video.engine.precision import test_autocast
from hiera_video.evaluation.detection_report import DETECTION_COLUMNS, score_detections

logger = logging.getLogger("hiera_video.engine")

__all__ = ["run_detection_tests"]


def _rows(items: List[dict], probs: torch.Tensor, class_ids: np.ndarray) -> pd.DataFrame:
    """Detection rows (one per box and scored class) for the boxes of ``items``, in order; ``probs (K, C)``."""
    boxes = torch.cat([it["proposals"] for it in items]).numpy().astype(np.float64)  # (K, 4) normalised
    vids = np.concatenate([[it["video_id"]] * len(it["proposals"]) for it in items])
    secs = np.concatenate([[it["timestamp"]] * len(it["proposals"]) for it in items]).astype(np.int64)
    scores = probs[:, class_ids - 1].numpy().astype(np.float64)  # (K, len(class_ids))
    k, c = scores.shape
    return pd.DataFrame({"video_id": np.repeat(vids, c), "timestamp": np.repeat(secs, c),
                         "x1": np.repeat(boxes[:, 0], c), "y1": np.repeat(boxes[:, 1], c),
                         "x2": np.repeat(boxes[:, 2], c), "y2": np.repeat(boxes[:, 3], c),
                         "action_id": np.tile(class_ids, k), "score": scores.reshape(-1)})


@torch.no_grad()
def run_detection_tests(cfg: CfgNode, targets: Dict, dataset, device: torch.device,
                        desc: str = "test") -> Dict[str, Dict]:
    """Score every keyframe of ``dataset`` (an :class:`~hiera_video.data.ava.Ava` test split) with every model of
    ``targets`` (name -> ``ModelUnderTest``: raw and EMA weights share the decoded clips).

    Scores are the sigmoid of the logits for the label map's classes (``action_id - 1`` of the ``MODEL.NUM_CLASSES``
    outputs). Each report (``score_detections``: ``mAP``, ``per_class``, ``groups``, ``num_keyframes``,
    ``num_boxes``, ``failed``, + the target's ``extra``) is written by the main process to the target's
    ``out_dir`` (``detections.csv``, ``report.json``, ``report.md``, ``per_class_ap.png``).

    Returns:
        name -> report (the same on every process).

    Raises:
        TooManyBadVideosError: after the reports are written, when more than ``DATA.MAX_BAD_FRACTION`` of the
            keyframes failed.
    """
    for target in targets.values():
        target.model.eval()
    world, rank = du.get_world_size(), du.get_rank()
    class_ids = np.array([c for c in dataset.label_map.ids if c <= dataset.num_classes], dtype=np.int64)
    if len(class_ids) < len(dataset.label_map.ids):
        logger.warning("%s: label map ids above MODEL.NUM_CLASSES %d are never detected: %s", desc,
                       dataset.num_classes, [c for c in dataset.label_map.ids if c > dataset.num_classes])
    shard = torch.utils.data.Subset(dataset, list(range(rank, len(dataset), world)))
    loader = torch.utils.data.DataLoader(
        shard, batch_size=max(int(cfg.TEST.BATCH_SIZE) // world, 1), shuffle=False,
        num_workers=cfg.DATA_LOADER.NUM_WORKERS, collate_fn=collate_detection,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and device.type == "cuda")
    parts: Dict[str, List[pd.DataFrame]] = {name: [] for name in targets}
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
            parts[name].append(_rows(batch["items"], torch.sigmoid(logits.float()).cpu(), class_ids))
    failed = [f for part in du.all_gather_objects(failed) for f in part]
    reports = {}
    empty = pd.DataFrame({c: pd.Series(dtype=object if c == "video_id" else "float64") for c in DETECTION_COLUMNS})
    for name, target in targets.items():  # same order on every process
        gathered = du.all_gather_objects(pd.concat(parts[name], ignore_index=True) if parts[name] else empty)
        detections = pd.concat(gathered, ignore_index=True)
        out_dir = target.out_dir if du.is_main_process() else None
        extra = {**(target.extra or {}), **dataset.counts}
        reports[name] = score_detections(
            out_dir, dataset.groundtruth, detections, dataset.label_map.ids, dataset.label_map.names,
            excluded=dataset.excluded, max_detections_per_frame=int(cfg.AVA.MAX_DETECTIONS_PER_FRAME),
            failed=failed, extra=extra)
    check_bad_fraction(len(failed), len(dataset), cfg.DATA.MAX_BAD_FRACTION, desc)
    return reports
