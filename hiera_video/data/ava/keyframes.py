"""AVA keyframes: box CSV rows grouped into one record per ``(video_id, timestamp)`` with its boxes and labels.

* Training (:func:`train_keyframes`): the ground-truth rows of a person (same keyframe, same box) become one box with
  a multi-hot label over ``num_classes`` (action id ``a`` -> index ``a - 1``, AVA's 80 ids -> 80 outputs). Detected
  boxes (``AVA.TRAIN_PREDICT_BOX_LISTS``) are added with the union of the labels of the ground-truth boxes they
  overlap at IoU >= ``AVA.TRAIN_PREDICT_BOX_IOU`` (no label otherwise: a negative), as PySlowFast's
  ``include_negative`` box files label them.
* Test (:func:`test_keyframes`): proposals at score >= ``AVA.DETECTION_SCORE_THRESH``, one box per row (PySlowFast).

Boxes are normalised ``x1y1x2y2``; those outside [0, 1] are clipped and counted (:func:`clip_boxes`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np
import pandas as pd
import torch
from torchvision.ops import box_iou

__all__ = ["Keyframe", "clip_boxes", "train_keyframes", "test_keyframes", "label_counts"]


@dataclass
class Keyframe:
    """One annotated second: ``boxes`` ``(K, 4)`` float32 normalised x1y1x2y2, ``labels`` ``(K, num_classes)``
    float32 multi-hot (zeros at test), ``scores`` ``(K,)`` (detector scores; 1 for ground truth)."""

    video_id: str
    timestamp: int
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray


def clip_boxes(rows: pd.DataFrame) -> Tuple[pd.DataFrame, int]:
    """``rows`` with ``x1 y1 x2 y2`` clipped to [0, 1], and the number of rows that had a coordinate outside."""
    coords = rows[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    outside = int(((coords < 0) | (coords > 1)).any(axis=1).sum())
    if outside:
        rows = rows.copy()
        rows[["x1", "y1", "x2", "y2"]] = np.clip(coords, 0.0, 1.0)
    return rows, outside


def label_counts(rows: pd.DataFrame, num_classes: int, label_ids: Iterable[int]) -> Dict[str, Dict[int, int]]:
    """Rows per action id that training ignores (``out_of_range``: not in ``1..num_classes``) and that it trains
    on but the evaluation does not score (``not_in_label_map``)."""
    ids = rows["action_id"].to_numpy(dtype=np.int64)
    ids = ids[ids >= 0]
    known = set(int(i) for i in label_ids)
    values, counts = np.unique(ids, return_counts=True)
    out: Dict[str, Dict[int, int]] = {"out_of_range": {}, "not_in_label_map": {}}
    for v, c in zip(values.tolist(), counts.tolist()):
        if not 1 <= v <= num_classes:
            out["out_of_range"][v] = c
        elif v not in known:
            out["not_in_label_map"][v] = c
    return out


def _groups(rows: pd.DataFrame):
    keys = list(zip(rows["video_id"].tolist(), rows["timestamp"].tolist()))
    order: Dict[Tuple[str, int], List[int]] = {}
    for i, key in enumerate(keys):
        order.setdefault(key, []).append(i)
    return order


def train_keyframes(gt: pd.DataFrame, num_classes: int, predicted: Optional[pd.DataFrame] = None,
                    iou: float = 0.9, score_thresh: float = 0.0) -> List[Keyframe]:
    """One :class:`Keyframe` per ground-truth keyframe (in order of first appearance).

    Args:
        gt: ground-truth rows (``read_box_csv(..., "groundtruth").rows``, boxes clipped); action ids outside
            ``1..num_classes`` add no label (the box is kept if another row labels it).
        predicted: detected boxes to add (``proposals`` rows); only those with ``score >= score_thresh`` on keyframes
            that have ground truth.
        iou: a detected box takes the labels of the ground-truth boxes it overlaps at IoU >= ``iou``.
    """
    coords = gt[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float32)
    ids = gt["action_id"].to_numpy(dtype=np.int64)
    extra = {}
    if predicted is not None and len(predicted):
        predicted = predicted[predicted["score"].to_numpy() >= score_thresh]
        extra = {k: predicted.iloc[v] for k, v in _groups(predicted).items()}
    out = []
    for key, idx in _groups(gt).items():
        boxes: Dict[Tuple[float, ...], np.ndarray] = {}
        for i in idx:
            label = boxes.setdefault(tuple(coords[i].tolist()), np.zeros(num_classes, dtype=np.float32))
            if 1 <= ids[i] <= num_classes:
                label[ids[i] - 1] = 1.0
        box_arr = np.array(list(boxes), dtype=np.float32).reshape(-1, 4)
        labels = np.stack(list(boxes.values()))
        scores = np.ones(len(box_arr), dtype=np.float32)
        det = extra.get(key)
        if det is not None and len(det):
            det_boxes = det[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float32)
            overlap = box_iou(torch.from_numpy(det_boxes), torch.from_numpy(box_arr)).numpy() >= iou  # (D, G)
            det_labels = (overlap.astype(np.float32) @ labels > 0).astype(np.float32)
            box_arr = np.concatenate([box_arr, det_boxes])
            labels = np.concatenate([labels, det_labels])
            scores = np.concatenate([scores, det["score"].to_numpy(dtype=np.float32)])
        out.append(Keyframe(key[0], int(key[1]), box_arr, labels, scores))
    return out


def test_keyframes(proposals: pd.DataFrame, score_thresh: float, num_classes: int) -> Tuple[List[Keyframe], int]:
    """One :class:`Keyframe` per keyframe with a proposal at ``score >= score_thresh`` (labels all zero), and the
    number of proposal rows below the threshold."""
    keep = proposals["score"].to_numpy() >= score_thresh
    below = int((~keep).sum())
    kept = proposals[keep]
    coords = kept[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float32)
    scores = kept["score"].to_numpy(dtype=np.float32)
    out = [Keyframe(key[0], int(key[1]), coords[idx], np.zeros((len(idx), num_classes), dtype=np.float32),
                    scores[idx]) for key, idx in _groups(kept).items()]
    return out, below
