"""AVA frame-mAP@0.5: the ActivityNet AVA evaluator's numbers, ties included, vectorised with NumPy.

Semantics (the ActivityNet challenge's ``get_ava_performance.py`` reader on the TF object-detection
``PascalDetectionEvaluator``, run as PySlowFast ``slowfast/utils/ava_eval_helper.py`` runs it):

1. Only the label map's classes count: rows of other action ids are dropped from ground truth and detections.
2. A keyframe is ``(video_id, timestamp)``; excluded keyframes are dropped from both sides.
3. Rows are taken in the order the reference's reader hands them on (:mod:`~hiera_video.evaluation.ava_order`): per
   keyframe a ``heapq`` of ``(score, action_id, y1, x1, y2, x2)``, then a stable sort by score, so tied scores keep
   the heap's order; keyframes in first-appearance order. ``max_detections_per_frame = N > 0`` is the heap's
   capacity (a full heap takes a row only with a strictly larger score, evicting its smallest tuple): the challenge
   script uses 50; 0 keeps all (PySlowFast and MMAction2 do, and the published numbers are computed so). Ground
   truth goes through the same reader without a cap (its "score" is the person id where the row has one).
4. Detections with zero or negative width or height (``x1 >= x2`` or ``y1 >= y2``) are dropped (after the cap).
5. Per keyframe and class, detections are visited in that order; each takes the ground-truth box it overlaps most
   (IoU, the first such box in the reader's order on a tie) and is a true positive when that IoU is >= 0.5 and no
   earlier detection took that box; otherwise it is a false positive. Detections on keyframes without ground truth
   of their class (or without any ground truth) are false positives.
6. Per class, its detections are concatenated keyframe by keyframe in the order above and ranked with
   ``np.argsort(scores)[::-1]`` - NumPy's default sort kind, as in the reference, which is not stable for more than 16
   elements (and may use a SIMD sort): the same call on the same array gives the reference's order of tied scores on
   the same machine. The AP is the PASCAL VOC all-point interpolated area under the precision / recall curve,
   computed with the reference's operations. A class with ground truth but no detection has AP 0; a class without
   ground truth has no AP (NaN) and is left out of the mean.
7. Group mAPs (MMAction2's split of AVA's 80 ids): person movement ``id <= 14``, object manipulation
   ``14 < id < 64``, person interaction ``id >= 64``.

Inputs are DataFrames with the columns ``video_id, timestamp, x1, y1, x2, y2, action_id`` (+ ``score`` for
detections); boxes are normalised ``x1y1x2y2`` (any consistent unit works: IoU is scale-free). Reading the files is
:mod:`hiera_video.data.ava.annotations`' job (``tools/ava_eval.py`` joins the two).

Speed: sorts and segment reductions; the reader's heaps are replayed, vectorised over keyframes, only for keyframes with
tied scores; one ``argsort`` per class. No Python loop over keyframes or rows. See ``benchmarks/ava_eval.py`` for the
timing against the reference evaluator, with continuous and with rounded (tie-heavy) scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .ava_order import reference_order

__all__ = ["FrameMAP", "frame_map", "GROUPS", "group_of"]

#: MMAction2's action groups of AVA's ids, by name.
GROUPS = ("person_movement", "object_manipulation", "person_interaction")


def group_of(action_id: int) -> str:
    """The group of an AVA action id: ``person_movement`` (<= 14), ``object_manipulation`` (15-63) or
    ``person_interaction`` (>= 64)."""
    return GROUPS[0] if action_id <= 14 else GROUPS[1] if action_id < 64 else GROUPS[2]


@dataclass
class FrameMAP:
    """The result of :func:`frame_map` (percentages; NaN where undefined).

    Attributes:
        mAP: mean AP over the classes with ground truth (NaN when no class has any).
        class_ids: the evaluated action ids, ascending.
        ap: AP per class (aligned with ``class_ids``), NaN for a class without ground truth.
        num_gt / num_detections: ground-truth boxes and detection rows evaluated per class.
        groups: mAP per group (:data:`GROUPS`), NaN for a group without ground truth.
        num_keyframes: ground-truth keyframes evaluated (after exclusions); ``num_detection_rows``: detection rows
            evaluated (after class filter, exclusions, the per-frame cap and zero-area removal).
    """

    mAP: float
    class_ids: np.ndarray
    ap: np.ndarray
    num_gt: np.ndarray
    num_detections: np.ndarray
    groups: Dict[str, float] = field(default_factory=dict)
    num_keyframes: int = 0
    num_detection_rows: int = 0

    def per_class(self, names: Optional[Dict[int, str]] = None) -> List[dict]:
        """``[{id, name, AP, num_gt, num_detections}]`` with ``AP`` None where undefined (JSON-ready)."""
        names = names or {}
        return [{"id": int(c), "name": names.get(int(c), str(int(c))), "AP": _json(a), "num_gt": int(n),
                 "num_detections": int(d)}
                for c, a, n, d in zip(self.class_ids, self.ap, self.num_gt, self.num_detections)]

    def summary(self, names: Optional[Dict[int, str]] = None) -> dict:
        """JSON-ready ``{mAP, per_class, groups, num_keyframes, num_detection_rows}`` (None for NaN)."""
        return {"mAP": _json(self.mAP), "per_class": self.per_class(names),
                "groups": {k: _json(v) for k, v in self.groups.items()},
                "num_keyframes": int(self.num_keyframes), "num_detection_rows": int(self.num_detection_rows)}


def _json(x: float) -> Optional[float]:
    x = float(x)
    return None if math.isnan(x) else x


def _keys(frames: Sequence[pd.DataFrame], excluded: Iterable[Tuple[str, int]]) -> Tuple[List[np.ndarray], np.ndarray]:
    """An int64 keyframe code per row of each frame (same code for the same ``(video_id, timestamp)``) and the codes
    of ``excluded``."""
    excluded = list(excluded)
    videos = pd.concat([f["video_id"].astype(str) for f in frames]
                       + [pd.Series([v for v, _ in excluded], dtype=str)], ignore_index=True)
    codes, _ = pd.factorize(videos)
    times = np.concatenate([f["timestamp"].to_numpy(dtype=np.int64) for f in frames]
                           + [np.array([int(t) for _, t in excluded], dtype=np.int64)])
    times = times - times.min() if len(times) else times
    key = codes.astype(np.int64) * (int(times.max()) + 1 if len(times) else 1) + times
    out, start = [], 0
    for f in frames:
        out.append(key[start:start + len(f)])
        start += len(f)
    return out, key[start:]


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of paired boxes ``a[i]`` / ``b[i]`` (``(P, 4)`` x1y1x2y2); 0 where the union is empty."""
    iw = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _true_positives(det_group: np.ndarray, det_boxes: np.ndarray, gt_group: np.ndarray, gt_boxes: np.ndarray,
                    iou_threshold: float) -> np.ndarray:
    """TP flags of detections already sorted by (group, score desc); ``gt_*`` sorted by group (stable)."""
    n = len(det_group)
    tp = np.zeros(n, dtype=bool)
    if n == 0 or len(gt_group) == 0:
        return tp
    lo = np.searchsorted(gt_group, det_group, side="left")
    count = np.searchsorted(gt_group, det_group, side="right") - lo
    has = np.flatnonzero(count)
    if len(has) == 0:
        return tp
    cnt = count[has]
    det_of_pair = np.repeat(has, cnt)
    seg_start = np.cumsum(cnt) - cnt
    gt_of_pair = np.repeat(lo[has] - seg_start, cnt) + np.arange(cnt.sum())
    iou = _iou(det_boxes[det_of_pair], gt_boxes[gt_of_pair])
    best = np.maximum.reduceat(iou, seg_start)  # per detection in `has`
    at_best = iou == np.repeat(best, cnt)
    first_pair = np.unique(det_of_pair[at_best], return_index=True)[1]  # first GT with the best IoU (np.argmax)
    best_gt = gt_of_pair[at_best][first_pair]
    hit = best >= iou_threshold
    cand, cand_gt = has[hit], best_gt[hit]
    first = np.unique(cand_gt, return_index=True)[1]  # earliest detection (in visiting order) takes the box
    tp[cand[first]] = True
    return tp


def _reference_ap(scores: np.ndarray, tp: np.ndarray, num_gt: int) -> float:
    """VOC all-point AP of one class, with the reference's own operations (``metrics.compute_precision_recall`` and
    ``compute_average_precision``): detections ranked by ``np.argsort(scores)[::-1]`` (NumPy's default sort kind, as
    there, so tied scores take the same order on the same machine), NaN without ground truth, 0 without detections."""
    if num_gt == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    labels = tp.astype(int)[np.argsort(scores)[::-1]]
    cum_tp, cum_fp = np.cumsum(labels), np.cumsum(1 - labels)
    precision = np.concatenate([[0], cum_tp.astype(float) / (cum_tp + cum_fp), [0]])
    recall = np.concatenate([[0], cum_tp.astype(float) / num_gt, [1]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]  # the reference's backward running max
    changed = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[changed] - recall[changed - 1]) * precision[changed]))


def _read_order(key: np.ndarray, score: np.ndarray, cls: np.ndarray, boxes: np.ndarray, capacity: int) -> np.ndarray:
    """Positions (into these rows, in file order) that the reference reader keeps, in the order it hands them on
    (:func:`~hiera_video.evaluation.ava_order.reference_order`); ``cls`` stands for the action id (same order)."""
    frame, _ = pd.factorize(key)
    return reference_order(frame.astype(np.int64), score, (cls, boxes[:, 1], boxes[:, 0], boxes[:, 3], boxes[:, 2]),
                           capacity, group=cls)


def frame_map(groundtruth: pd.DataFrame, detections: pd.DataFrame, class_ids: Sequence[int], *,
              excluded: Iterable[Tuple[str, int]] = (), max_detections_per_frame: int = 0,
              iou_threshold: float = 0.5) -> FrameMAP:
    """Frame-level mAP of AVA action detections (see the module docstring for every rule).

    Args:
        groundtruth: rows ``video_id, timestamp, x1, y1, x2, y2, action_id`` (one per box and action).
        detections: the same columns + ``score``.
        class_ids: the evaluated action ids (the label map's).
        excluded: ``(video_id, timestamp)`` keyframes to drop from both sides.
        max_detections_per_frame: keep this many highest-scoring detection rows per keyframe; 0 keeps all.
        iou_threshold: a detection is a true positive at IoU >= this (0.5).

    Returns:
        :class:`FrameMAP` (AP and mAP in percent).

    Raises:
        ValueError: a missing column, ``class_ids`` empty, or ``max_detections_per_frame < 0``.
    """
    if max_detections_per_frame < 0:
        raise ValueError(f"max_detections_per_frame must be >= 0, got {max_detections_per_frame}")
    classes = np.array(sorted({int(c) for c in class_ids}), dtype=np.int64)
    if len(classes) == 0:
        raise ValueError("no class to evaluate (empty label map)")
    cols = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"]
    for name, frame, need in (("groundtruth", groundtruth, cols), ("detections", detections, cols + ["score"])):
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} lacks the columns {missing}")
    lut = np.full(int(max(classes.max(), groundtruth["action_id"].max() if len(groundtruth) else 0,
                          detections["action_id"].max() if len(detections) else 0)) + 2, -1, dtype=np.int64)
    lut[classes] = np.arange(len(classes))

    def class_index(frame):
        ids = frame["action_id"].to_numpy(dtype=np.int64)
        return np.where(ids >= 0, lut[np.clip(ids, 0, len(lut) - 1)], -1)

    (gt_key, det_key), excl_key = _keys([groundtruth, detections], excluded)
    gt_cls, det_cls = class_index(groundtruth), class_index(detections)
    excl = np.unique(excl_key)
    gt_all_boxes = groundtruth[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)
    det_all_boxes = detections[["x1", "y1", "x2", "y2"]].to_numpy(dtype=np.float64)

    # ground truth in the reference reader's order (no cap; its "score" is the person id where the row has one)
    gt_rows = np.flatnonzero(gt_cls >= 0)
    person = (groundtruth["person_id"].to_numpy(dtype=np.float64) if "person_id" in groundtruth.columns
              else np.full(len(groundtruth), -1.0))
    gt_score = np.where(person >= 0, person, 1.0)
    gt_rows = gt_rows[_read_order(gt_key[gt_rows], gt_score[gt_rows], gt_cls[gt_rows], gt_all_boxes[gt_rows], 0)]
    gt_rows = gt_rows[~np.isin(gt_key[gt_rows], excl)]
    gt_boxes, gt_key, gt_cls = gt_all_boxes[gt_rows], gt_key[gt_rows], gt_cls[gt_rows]

    # detections: the reader's order and cap, then excluded keyframes and empty boxes dropped, as the reference does
    det_rows = np.flatnonzero(det_cls >= 0)
    det_score_all = detections["score"].to_numpy(dtype=np.float64)
    det_rows = det_rows[_read_order(det_key[det_rows], det_score_all[det_rows], det_cls[det_rows],
                                    det_all_boxes[det_rows], max_detections_per_frame)]
    det_boxes = det_all_boxes[det_rows]
    keep = ~np.isin(det_key[det_rows], excl) & (det_boxes[:, 0] < det_boxes[:, 2]) & (det_boxes[:, 1] < det_boxes[:, 3])
    det_rows, det_boxes = det_rows[keep], det_boxes[keep]
    det_score, det_key, det_cls = det_score_all[det_rows], det_key[det_rows], det_cls[det_rows]

    # match per (keyframe, class): detections in the reader's order, each against the GT in the reader's order
    ncls = len(classes)
    _, inverse = np.unique(np.concatenate([gt_key, det_key]), return_inverse=True)
    g_gt = inverse[:len(gt_key)].astype(np.int64) * ncls + gt_cls
    g_det = inverse[len(gt_key):].astype(np.int64) * ncls + det_cls
    gt_order = np.argsort(g_gt, kind="stable")
    det_order = np.argsort(g_det, kind="stable")
    tp_sorted = _true_positives(g_det[det_order], det_boxes[det_order], g_gt[gt_order], gt_boxes[gt_order],
                                iou_threshold)
    tp = np.empty_like(tp_sorted)
    tp[det_order] = tp_sorted

    num_gt = np.bincount(gt_cls, minlength=ncls)
    num_det = np.bincount(det_cls, minlength=ncls)
    # per class: its detections in the order the reference concatenates them (keyframes as added, each in read order)
    by_class = np.argsort(det_cls, kind="stable")
    bounds = np.searchsorted(det_cls[by_class], np.arange(ncls + 1))
    fraction = np.array([_reference_ap(det_score[by_class[lo:hi]], tp[by_class[lo:hi]], int(num_gt[c]))
                         for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:]))])
    ap = fraction * 100.0
    with np.errstate(invalid="ignore"):
        mean = float(np.nanmean(fraction)) * 100.0 if np.any(num_gt > 0) else float("nan")
    groups = {}
    for name in GROUPS:
        sel = np.array([group_of(int(c)) == name for c in classes]) & (num_gt > 0)
        groups[name] = float(np.mean(ap[sel])) if sel.any() else float("nan")
    return FrameMAP(mAP=mean, class_ids=classes, ap=ap, num_gt=num_gt, num_detections=num_det, groups=groups,
                    num_keyframes=int(len(np.unique(gt_key))), num_detection_rows=int(len(det_key)))
