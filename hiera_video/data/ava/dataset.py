"""The AVA dataset (``TRAIN.DATASET ava``): one item per keyframe, a clip of JPEG frames centred on it, its boxes.

Files and keys (PySlowFast's, see ``config/defaults.py``): frame lists ``{AVA.FRAME_LIST_DIR}/{AVA.TRAIN_LISTS |
AVA.TEST_LISTS}`` (paths relative to ``AVA.FRAME_DIR``), boxes and labels from ``{AVA.ANNOTATION_DIR}``: training
``AVA.TRAIN_GT_BOX_LISTS`` (+ ``AVA.TRAIN_PREDICT_BOX_LISTS``), test ``AVA.TEST_PREDICT_BOX_LISTS`` at
``AVA.DETECTION_SCORE_THRESH``, scored against ``AVA.GROUNDTRUTH_FILE`` minus ``AVA.EXCLUSION_FILE`` for the classes of
``AVA.LABEL_MAP_FILE``.

Clip: the keyframe of second ``s`` is frame ``c = (s - AVA.FRAME_START_SEC) * DATA.FRAME_FPS``; the clip is
``DATA.NUM_FRAMES`` frames at ``DATA.SAMPLING_RATE`` (frames at ``DATA.TARGET_FPS``), ``range(c - L/2, c + L/2,
rate)`` with ``L = NUM_FRAMES * rate``, indices clamped to the movie (PySlowFast ``ava_helper.get_sequence``).
Geometry: :mod:`.box_transforms` (``DETECTION.INPUT_SIZE``). Frames are read with Pillow
(``data.decoding.jpeg``: ``torchvision.io.decode_jpeg`` is deprecated since torchvision 0.29).

Items (uint8 clips, normalised on the device by the task):

* train: ``{"clip": (C, T, H, W), "boxes": (K, 4) pixels of the clip, "labels": (K, MODEL.NUM_CLASSES) multi-hot,
  "index", "bad": [(path, error)]}``; a keyframe whose frames fail is logged and replaced by a random other one, at most
  ``DATA.MAX_RETRIES`` times (then ``"clip"`` None: the train loop stops, naming them). Keyframes of seconds outside
  ``AVA.TRAIN_KEYFRAME_RANGE`` are left out, as PySlowFast keeps 902-1798.
* test: ``{"clip" or None, "boxes": (K, 4) pixels, "proposals": (K, 4) normalised, "video_id", "timestamp",
  "index", "error"}``; never retried or substituted: a failed keyframe is listed and its ground truth still counts.
  Validation (``TEST.SPLIT val``, the runner's single-view config) keeps PySlowFast's ``second % 4 == 0`` keyframes
  unless ``AVA.FULL_TEST_ON_VAL``; :attr:`Ava.groundtruth` is restricted the same way.

Input problems: malformed rows raise ``ListFormatError`` (``file:line``) at construction; boxes outside [0, 1] are
clipped, counted and warned once; training action ids outside ``1..MODEL.NUM_CLASSES`` are ignored and counted (ids
inside it but not in the label map are trained on and not scored, as PySlowFast's 80-class head is); keyframes of
movies missing from the frame lists are counted (train: left out; test: their ground truth counts as missed).
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any, Dict, List

import pandas as pd
import torch
from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError, ListError

from ..build import register_dataset
from ..decoding import VideoDecodeError
from ..decoding.jpeg import FrameReader
from ..frame_list import FrameRecord, read_frame_list
from .annotations import read_box_csv, read_exclusions, read_label_map
from .box_transforms import fit_clip, jitter_clip, pad_fill
from .keyframes import Keyframe, clip_boxes, label_counts, test_keyframes, train_keyframes
from .suspicious import suspicious_rows

__all__ = ["Ava", "collate_detection", "clip_frame_indices"]

logger = logging.getLogger(__name__)


def clip_frame_indices(center: int, num_frames: int, rate: int, total: int) -> List[int]:
    """PySlowFast's ``get_sequence``: ``range(center - L // 2, center + L // 2, rate)`` with ``L = num_frames *
    rate``, clamped to ``[0, total - 1]`` (frames)."""
    half = num_frames * rate // 2
    return [min(max(i, 0), total - 1) for i in range(center - half, center + half, rate)][:num_frames]


@register_dataset("ava")
class Ava(torch.utils.data.Dataset):
    #: what an item is (``build.item_kind``): a keyframe's clip with its person boxes and their actions.
    item_kind = "keyframes"
    """AVA-format action detection keyframes for ``split`` ``"train"`` or ``"test"`` (see the module docstring).

    Raises:
        ValueError: unknown split, ``DETECTION.INPUT_SIZE`` not two multiples of 32, no keyframe left.
        ListNotFoundError / ListFormatError: a missing or malformed list, CSV or label map.
    """

    def __init__(self, cfg: CfgNode, split: str, **kwargs: Any):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        a, d = cfg.AVA, cfg.DATA
        size = [int(v) for v in cfg.DETECTION.INPUT_SIZE]
        if len(size) != 2 or any(v <= 0 or v % 32 for v in size):
            raise ConfigError(f"DETECTION.INPUT_SIZE must be [H, W], multiples of 32 pixels, got {size}")
        if not float(d.FRAME_FPS) > 0:
            raise ConfigError(f"DATA.FRAME_FPS must be > 0 frames/s, got {d.FRAME_FPS}")
        self.cfg, self.split, self.input_size = cfg, split, size
        self.num_classes = int(cfg.MODEL.NUM_CLASSES)
        self.validation = split == "test" and cfg.TEST.SPLIT == "val" and not a.FULL_TEST_ON_VAL
        self.fps, self.start_sec = float(d.FRAME_FPS), float(a.FRAME_START_SEC)
        self.rate = max(1, round(int(d.SAMPLING_RATE) * self.fps / float(d.TARGET_FPS)))
        self.num_frames, self.max_retries = int(d.NUM_FRAMES), int(d.MAX_RETRIES)
        self.fill = pad_fill(d.MEAN)
        self.label_map = read_label_map(os.path.join(a.ANNOTATION_DIR, a.LABEL_MAP_FILE))
        lists = a.TRAIN_LISTS if split == "train" else a.TEST_LISTS
        self.videos: Dict[str, FrameRecord] = {}
        for name in lists:
            for record in read_frame_list(os.path.join(a.FRAME_LIST_DIR, name), a.FRAME_DIR, require_labels=False):
                self.videos[record.video_id] = record
        self.counts: Dict[str, Any] = {}
        self.keyframes = self._train_keyframes() if split == "train" else self._test_keyframes()
        missing = sorted({k.video_id for k in self.keyframes} - set(self.videos))
        if missing:
            self.counts["movies_not_in_frame_lists"] = len(missing)
            logger.warning("%s: %d movies of the annotations are not in the frame lists %s (e.g. %s): their "
                           "keyframes are %s", split, len(missing), list(lists), missing[0],
                           "left out" if split == "train" else "not scored (their ground truth counts as missed)")
            self.keyframes = [k for k in self.keyframes if k.video_id in self.videos]
        if not self.keyframes and split == "train":
            raise ListError(f"train: no keyframe with ground-truth boxes of the movies in {list(lists)} of "
                            f"{a.FRAME_LIST_DIR} (check {list(a.TRAIN_GT_BOX_LISTS)} in {a.ANNOTATION_DIR} and "
                            f"AVA.TRAIN_KEYFRAME_RANGE {list(a.TRAIN_KEYFRAME_RANGE)})")
        if not self.keyframes:
            raise ListError(f"test: no keyframe with a proposal at score >= AVA.DETECTION_SCORE_THRESH "
                            f"{a.DETECTION_SCORE_THRESH} in {list(a.TEST_PREDICT_BOX_LISTS)} of {a.ANNOTATION_DIR} "
                            f"for the movies in {list(lists)}: nothing to detect")
        logger.info("%s: %d keyframes, %d boxes, %d movies%s", split, len(self.keyframes),
                    sum(len(k.boxes) for k in self.keyframes), len(self.videos),
                    " (validation: seconds % 4 == 0)" if self.validation else "")

    # ----------------------------------------------------------------------------------------------- building
    def _boxes(self, names, kind: str) -> pd.DataFrame:
        a = self.cfg.AVA
        tables = [read_box_csv(os.path.join(a.ANNOTATION_DIR, n), kind) for n in names]
        for t in tables:
            for line in suspicious_rows(t.rows, t.path, kind, self.label_map.ids):
                logger.warning("%s: %s", self.split, line)
        rows = pd.concat([t.rows for t in tables], ignore_index=True)
        rows, outside = clip_boxes(rows)
        if outside:
            self.counts[f"{kind}_boxes_clipped"] = outside
            logger.warning("%s: %d rows of %s have box coordinates outside [0, 1]: clipped", self.split, outside,
                           [t.path for t in tables])
        return rows

    def _train_keyframes(self) -> List[Keyframe]:
        a = self.cfg.AVA
        gt = self._boxes(a.TRAIN_GT_BOX_LISTS, "groundtruth")
        ignored = label_counts(gt, self.num_classes, self.label_map.ids)
        if ignored["out_of_range"]:
            self.counts["rows_out_of_range_ignored"] = sum(ignored["out_of_range"].values())
            logger.warning("train: %d rows with action ids outside 1..MODEL.NUM_CLASSES %d ignored: %s",
                           self.counts["rows_out_of_range_ignored"], self.num_classes, ignored["out_of_range"])
        if ignored["not_in_label_map"]:
            logger.info("train: %d action ids are trained on but not in the label map (not scored): %s",
                        len(ignored["not_in_label_map"]), sorted(ignored["not_in_label_map"]))
        span = list(a.TRAIN_KEYFRAME_RANGE)
        if span:
            if len(span) != 2:
                raise ConfigError(f"AVA.TRAIN_KEYFRAME_RANGE must be [first, last] seconds or [], got {span}")
            inside = gt["timestamp"].between(int(span[0]), int(span[1]))
            if (~inside).any():
                self.counts["keyframes_outside_range"] = int((~inside).sum())
            gt = gt[inside]
        predicted = (self._boxes(a.TRAIN_PREDICT_BOX_LISTS, "proposals") if a.TRAIN_PREDICT_BOX_LISTS else None)
        return train_keyframes(gt, self.num_classes, predicted, float(a.TRAIN_PREDICT_BOX_IOU),
                               float(a.DETECTION_SCORE_THRESH))

    def _test_keyframes(self) -> List[Keyframe]:
        a = self.cfg.AVA
        proposals = self._boxes(a.TEST_PREDICT_BOX_LISTS, "proposals")
        keyframes, below = test_keyframes(proposals, float(a.DETECTION_SCORE_THRESH), self.num_classes)
        self.counts["proposals_below_threshold"] = below
        gt = self._boxes([a.GROUNDTRUTH_FILE], "groundtruth")
        self.excluded = read_exclusions(os.path.join(a.ANNOTATION_DIR, a.EXCLUSION_FILE)) if a.EXCLUSION_FILE else set()
        if self.validation:
            subset = [k for k in keyframes if k.timestamp % 4 == 0]
            if subset:
                keyframes, gt = subset, gt[gt["timestamp"] % 4 == 0]
            else:
                self.validation = False
                logger.warning("validation: no keyframe at a second divisible by 4 (PySlowFast's validation "
                               "subset): validating on all %d keyframes", len(keyframes))
        self.groundtruth = gt.reset_index(drop=True)
        with_proposals = {(k.video_id, k.timestamp) for k in keyframes}
        gt_keys = set(zip(gt["video_id"].tolist(), gt["timestamp"].tolist())) - self.excluded
        self.counts["keyframes_without_proposals"] = len(gt_keys - with_proposals)
        if self.counts["keyframes_without_proposals"]:
            logger.info("test: %d ground-truth keyframes have no proposal at score >= %g: no detections there (their "
                        "ground truth still counts)", self.counts["keyframes_without_proposals"],
                        a.DETECTION_SCORE_THRESH)
        return keyframes

    # ------------------------------------------------------------------------------------------------- items
    @property
    def num_videos(self) -> int:  # what the runner's bad-fraction check and logs count
        return len(self.keyframes)

    def __len__(self) -> int:
        return len(self.keyframes)

    def keyframe_path(self, k: Keyframe) -> str:
        return f"{self.videos[k.video_id].path},{k.timestamp:04d}" if k.video_id in self.videos else k.video_id

    def _read_clip(self, k: Keyframe) -> torch.Tensor:
        """uint8 ``(T, H, W, C)`` of keyframe ``k``. Raises ``VideoDecodeError`` naming a frame that fails."""
        record = self.videos[k.video_id]
        center = int(round((k.timestamp - self.start_sec) * self.fps))
        total = len(record.frames)
        if not 0 <= center < total:
            raise VideoDecodeError(record.path, f"keyframe {k.timestamp} s is frame {center}, outside the "
                                   f"{total} frames listed (AVA.FRAME_START_SEC {self.start_sec:g}, DATA.FRAME_FPS "
                                   f"{self.fps:g})")
        with FrameReader(record, self.fps) as reader:
            return reader.get_frames(clip_frame_indices(center, self.num_frames, self.rate, total))

    def __getitem__(self, index: int) -> Dict[str, Any]:
        return self._train_item(index) if self.split == "train" else self._test_item(index)

    def _pixels(self, k: Keyframe, clip: torch.Tensor) -> torch.Tensor:
        h, w = clip.shape[1], clip.shape[2]
        return torch.from_numpy(k.boxes) * torch.tensor([w, h, w, h], dtype=torch.float32)

    def _train_item(self, index: int) -> Dict[str, Any]:
        bad = []
        current = index
        d = self.cfg.DATA
        for _ in range(self.max_retries + 1):
            k = self.keyframes[current]
            try:
                clip = self._read_clip(k)
                out, boxes, kept = jitter_clip(clip, self._pixels(k, clip), self.input_size, d.TRAIN_JITTER_SCALES,
                                               bool(d.RANDOM_FLIP), self.fill)
                labels = torch.from_numpy(k.labels)[kept]
                return {"clip": out, "boxes": boxes, "labels": labels, "index": current, "bad": bad}
            except Exception as e:  # VideoDecodeError (missing / corrupt frame) or a library error
                reason = str(e) if isinstance(e, RuntimeError) and str(e) else f"{type(e).__name__}: {e}"
                logger.warning("train: replacing keyframe %s: %s", self.keyframe_path(k), reason)
                bad.append((self.keyframe_path(k), reason))
            if len(self.keyframes) > 1:  # another keyframe than the one that just failed
                other = random.randrange(len(self.keyframes) - 1)
                current = other + (other >= current)
        return {"clip": None, "boxes": None, "labels": None, "index": index, "bad": bad}

    def _test_item(self, index: int) -> Dict[str, Any]:
        k = self.keyframes[index]
        item: Dict[str, Any] = {"clip": None, "boxes": None, "proposals": torch.from_numpy(k.boxes),
                                "video_id": k.video_id, "timestamp": k.timestamp, "index": index, "error": None,
                                "path": self.keyframe_path(k)}
        try:
            clip = self._read_clip(k)
            item["clip"], item["boxes"], _ = fit_clip(clip, self._pixels(k, clip), self.input_size, self.fill)
        except Exception as e:  # never raise at test: listed, its ground truth still counts
            item["error"] = str(e) if isinstance(e, RuntimeError) and str(e) else f"{type(e).__name__}: {e}"
            logger.warning("test: no detections for keyframe %s: %s", item["path"], item["error"])
        return item


def collate_detection(items: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Collate :class:`Ava` items (train or test) into a batch.

    Returns:
        ``{"clip": uint8 (B, C, T, H, W) or None, "boxes": (K, 5) [batch_index, x1, y1, x2, y2] pixels,
        "labels": (K, num_classes) or None (test), "index": (B,), "bad": [...], "failed_items": int,
        "items": [the test items' metadata without their clips], "failed": [test items that failed]}``.
    """
    ok = [it for it in items if it["clip"] is not None]
    out: Dict[str, Any] = {"bad": [x for it in items for x in it.get("bad", [])],
                           "failed_items": sum(1 for it in items if it["clip"] is None and "bad" in it),
                           "failed": [it for it in items if it["clip"] is None and "error" in it],
                           "items": [{k: v for k, v in it.items() if k != "clip"} for it in ok]}
    if not ok:
        return {"clip": None, "boxes": torch.zeros(0, 5), "labels": None,
                "index": torch.zeros(0, dtype=torch.long), **out}
    boxes = torch.cat([torch.cat([torch.full((len(it["boxes"]), 1), float(b)), it["boxes"].float()], dim=1)
                       for b, it in enumerate(ok)])
    labels = torch.cat([it["labels"] for it in ok]) if "labels" in ok[0] and ok[0]["labels"] is not None else None
    return {"clip": torch.stack([it["clip"] for it in ok]), "boxes": boxes, "labels": labels,
            "index": torch.tensor([it["index"] for it in ok], dtype=torch.long), **out}
