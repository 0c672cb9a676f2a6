"""Kinetics-style video classification dataset (PySlowFast's ``Kinetics`` contract).

``Kinetics(cfg, split)`` reads ``{DATA.PATH_TO_DATA_DIR}/{stem}.csv`` with ``stem`` =
``"train"`` or, for ``split="test"``, ``TEST.SPLIT`` (validation is the ``"test"`` split of
``config.single_view_cfg(cfg)``: ``val.csv`` with one centre view). Frame indices are
computed at ``DATA.TARGET_FPS`` from each stream's real fps and real frame count
(see :mod:`hiera_video.data.sampling`, :func:`hiera_video.data.decoding.decode_clips`).

``DATA.INPUT_FORMAT`` says what the lists name: ``"video"`` (``path label`` lines,
:func:`~hiera_video.data.lists.read_video_list`) or ``"frames"`` (PySlowFast frame lists of
JPEGs, :func:`~hiera_video.data.frame_list.read_frame_list`; a video's frames are taken to be
``DATA.FRAME_FPS`` frames/s and are read by :func:`~hiera_video.data.decoding.decode_frame_clips`).
Only the record reader and the decode call differ: sampling, transforms, retries, bad-sample
accounting, test views and the item dicts below are the same code for both. A missing or
corrupt JPEG fails its video like an undecodable file (the error names the JPEG).

Items (one dataset index = one video):

- ``"train"``: ``{"clip": float (C, T, H, W), "label": int, "index": int, "bad": [(path, error), ...]}``
  — a random temporal window and :func:`~hiera_video.data.transforms.train_transform`
  (``T = DATA.NUM_FRAMES``, ``H = W = DATA.TRAIN_CROP_SIZE``). With ``AUG.NUM_SAMPLE = N > 1``
  (repeated augmentation) the window is decoded once and transformed ``N`` times
  independently: ``"clip"`` is ``(N, C, T, H, W)`` and :func:`collate_train` flattens it
  (``DATA.TRAIN_CROP_NUM_TEMPORAL = K > 1`` takes ``K`` random windows, ``K * N`` clips). A video that fails is
  logged (warning, with path and reason), appended to ``"bad"`` as ``(record path, error)`` and replaced by a
  random other index, at most ``DATA.MAX_RETRIES`` times; then ``RuntimeError``
  naming the failed paths. ``"index"`` is the index actually returned (the replacement
  when there was one). Callers count per-epoch failures from ``"bad"``.
- ``"test"``: ``{"views": uint8 (V, C, T, H, W) or None (normalised on the device by
  :func:`~hiera_video.data.transforms.normalize_views`: a K400 5 x 3 item is ~35 MiB instead of ~138), "label": int, "index": int,
  "path": str, "view_ids": [(temporal_clip, spatial_crop), ...], "error": str or None}``
  with ``V = TEST.NUM_ENSEMBLE_VIEWS * TEST.NUM_SPATIAL_CROPS`` in temporal-major order
  (``view v`` is temporal clip ``v // S``, crop ``v % S``). The frames of all temporal
  clips are decoded in one pass. A failing video gives ``views=None`` and ``error``
  set (and a warning log naming the path) — never an exception, never a substitute
  video. Use a DataLoader with ``batch_size=None``.

Config keys read: DATA.{PATH_TO_DATA_DIR, PATH_PREFIX, PATH_LABEL_SEPARATOR (video lists),
INPUT_FORMAT, FRAME_FPS (frame lists), NUM_FRAMES, SAMPLING_RATE, TARGET_FPS, TRAIN_CROP_SIZE, TEST_CROP_SIZE,
TRAIN_JITTER_SCALES_RELATIVE, TRAIN_JITTER_ASPECT_RELATIVE, RANDOM_FLIP, MEAN, STD,
DECODING_BACKEND, MAX_RETRIES, LABEL_AWARE_FLIP (used by SSv2; a warning here)}, TEST.{SPLIT, NUM_ENSEMBLE_VIEWS, NUM_SPATIAL_CROPS},
AUG.NUM_SAMPLE (and the AUG.* keys of :func:`~hiera_video.data.transforms.train_transform`).

Source: the split files, retry-with-another-index for training and the
``NUM_ENSEMBLE_VIEWS x NUM_SPATIAL_CROPS`` test views follow PySlowFast
``slowfast/datasets/kinetics.py``; unlike it, test never retries or substitutes, and
failures are reported instead of printed.
"""

from __future__ import annotations

import logging
import os
import random
from typing import Any

import torch

from hiera_video.utils.errors import ConfigError, ListError

from .build import register_dataset
from .decoding import (
    BACKENDS,
    DecodedClips,
    IndicesFn,
    check_backend,
    decode_clips,
    decode_frame_clips,
)
from .frame_list import FrameRecord, read_frame_list
from .lists import ListFormatError, VideoRecord, read_video_list
from .sampling import test_clip_indices, train_clip_indices
from .transforms import multi_views, train_transform

logger = logging.getLogger(__name__)

__all__ = ["Kinetics", "collate_train", "SPLITS"]

SPLITS = ("train", "test")
INPUT_FORMATS = ("video", "frames")


@register_dataset("kinetics")
class Kinetics(torch.utils.data.Dataset):
    #: what an item is (``build.item_kind``): a labelled clip (or a video's views at test).
    item_kind = "clips"
    """Video dataset over a Kinetics-format list; see the module docstring for items.

    Args:
        cfg: the run's config (fvcore ``CfgNode``).
        split: "train" or "test" (validation: "test" of a ``single_view_cfg``).
        require_labels: False accepts list lines without a label (label ``-1``), for tasks that
            need none (MAE pretraining).

    Attributes:
        records: the list's :class:`~hiera_video.data.lists.VideoRecord` objects, or
            :class:`~hiera_video.data.frame_list.FrameRecord` objects with ``DATA.INPUT_FORMAT "frames"``.
        num_videos: ``len(records)``.

    Raises:
        BackendUnavailableError: ``DATA.DECODING_BACKEND torchcodec`` without torchcodec or FFmpeg's libraries.
        ValueError: unknown split, backend or ``DATA.INPUT_FORMAT``, ``DATA.FRAME_FPS <= 0``,
            ``NUM_SPATIAL_CROPS`` not 1 or 3, an empty list.
        FileNotFoundError / ListFormatError: from reading the list.
    """

    # Whether DATA.RANDOM_FLIP may flip clips; datasets with left/right classes set False.
    horizontal_flip = True

    def __init__(self, cfg, split: str, require_labels: bool = True):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        d, t = cfg.DATA, cfg.TEST
        if d.INPUT_FORMAT not in INPUT_FORMATS:
            raise ConfigError(f"DATA.INPUT_FORMAT must be one of {INPUT_FORMATS}, got {d.INPUT_FORMAT!r}")
        if d.INPUT_FORMAT == "frames" and not float(d.FRAME_FPS) > 0:
            raise ConfigError(f"DATA.FRAME_FPS must be > 0 frames/s, got {d.FRAME_FPS}")
        if d.DECODING_BACKEND not in BACKENDS:
            raise ConfigError(f"DATA.DECODING_BACKEND must be one of {BACKENDS}, got {d.DECODING_BACKEND!r}")
        if d.INPUT_FORMAT == "video":
            check_backend(d.DECODING_BACKEND)  # torchcodec without FFmpeg: one clear error now, not one per video
        if t.NUM_SPATIAL_CROPS not in (1, 3):
            raise ConfigError(f"TEST.NUM_SPATIAL_CROPS must be 1 or 3, got {t.NUM_SPATIAL_CROPS}")
        if t.NUM_ENSEMBLE_VIEWS < 1:
            raise ConfigError(f"TEST.NUM_ENSEMBLE_VIEWS must be >= 1, got {t.NUM_ENSEMBLE_VIEWS}")
        self.cfg = cfg
        self.split = split
        stem = (t.SPLIT or "test") if split == "test" else split
        self.list_path = os.path.join(d.PATH_TO_DATA_DIR, f"{stem}.csv")
        self.input_format, self.frame_fps = d.INPUT_FORMAT, float(d.FRAME_FPS)
        if self.input_format == "frames":
            self.records: list[VideoRecord] | list[FrameRecord] = read_frame_list(
                self.list_path, d.PATH_PREFIX, require_labels)
        else:
            self.records = read_video_list(self.list_path, d.PATH_PREFIX, d.PATH_LABEL_SEPARATOR, require_labels)
        if not self.records:
            raise ListError(f"{self.list_path}: the list is empty (no videos)")
        if require_labels:
            self._check_labels(int(cfg.MODEL.NUM_CLASSES))
        self.backend = d.DECODING_BACKEND
        self.num_frames, self.sampling_rate, self.target_fps = d.NUM_FRAMES, d.SAMPLING_RATE, d.TARGET_FPS
        self.max_retries = int(d.MAX_RETRIES)
        self.num_temporal, self.num_spatial = int(t.NUM_ENSEMBLE_VIEWS), int(t.NUM_SPATIAL_CROPS)
        self.num_samples = int(cfg.AUG.NUM_SAMPLE)
        if self.num_samples < 1:
            raise ConfigError(f"AUG.NUM_SAMPLE must be >= 1, got {self.num_samples}")
        self.num_temporal_crops = int(d.TRAIN_CROP_NUM_TEMPORAL)
        if self.num_temporal_crops < 1:
            raise ConfigError(f"DATA.TRAIN_CROP_NUM_TEMPORAL must be >= 1, got {self.num_temporal_crops}")
        flip = bool(d.RANDOM_FLIP) and self.horizontal_flip
        if d.LABEL_AWARE_FLIP and type(self)._train_frames is Kinetics._train_frames:
            logger.warning("DATA.LABEL_AWARE_FLIP is for datasets with left/right classes (TRAIN.DATASET ssv2); "
                           "%s ignores it (DATA.RANDOM_FLIP applies)", type(self).__name__)
        self._train_tf = train_transform(cfg, flip=flip) if split == "train" else None
        source = f"frames at {self.frame_fps:g} fps" if self.input_format == "frames" else f"backend {self.backend}"
        logger.info("%s: %d videos from %s (%s)", split, len(self.records), self.list_path, source)

    def _check_labels(self, num_classes: int) -> None:
        """Every label within ``[0, MODEL.NUM_CLASSES)``, checked when the list is read (not mid-epoch).

        Raises:
            ListFormatError: ``file:line`` of the first label out of range, with the count of such lines.
        """
        bad = [r for r in self.records if not 0 <= r.label < num_classes]
        if bad:
            more = f" ({len(bad)} lines in all)" if len(bad) > 1 else ""
            raise ListFormatError(self.list_path, bad[0].lineno, f"label {bad[0].label} is not below "
                                  f"MODEL.NUM_CLASSES {num_classes}{more}", f"{bad[0].path} {bad[0].label}")

    @property
    def num_videos(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self.split == "test":
            return self._test_item(index)
        return self._clip_item(index)

    # -------------------------------------------------------------------- sampling
    def _clip_frame_indices(self, n: int, fps: float, clip_idx: int, num_clips: int) -> list[int]:
        """Frame indices of temporal clip ``clip_idx`` of ``num_clips`` (``-1``: a random training
        clip) in a video of ``n`` frames at ``fps``. Subclasses change the sampling here only."""
        if clip_idx < 0:
            return train_clip_indices(n, self.num_frames, self.sampling_rate, fps, self.target_fps)
        return test_clip_indices(n, clip_idx, num_clips, self.num_frames, self.sampling_rate, fps, self.target_fps)

    def _decode(self, record: VideoRecord | FrameRecord, indices_fn: IndicesFn) -> DecodedClips:
        """The clips ``indices_fn`` asks for, from a video file or a frame-list video (the one place
        the two input formats differ). Raises ``VideoDecodeError``."""
        if self.input_format == "frames":
            return decode_frame_clips(record, indices_fn, self.frame_fps)
        return decode_clips(record.path, indices_fn, self.backend)

    # -------------------------------------------------------------------- train
    def _train_frames(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        """Hook for label-dependent augmentation of a training item's decoded uint8 ``(T, H, W, C)``
        frames, applied once per item before the ``AUG.NUM_SAMPLE`` transforms; returns
        ``(frames, label)``. Identity here; SSv2 applies its label-aware flip."""
        return frames, label

    def _load_clip(self, record: VideoRecord | FrameRecord) -> tuple[torch.Tensor, int, str | None]:
        """``(clip, label, partial)``: ``K = DATA.TRAIN_CROP_NUM_TEMPORAL`` random temporal clips decoded in one
        pass, each transformed ``N = AUG.NUM_SAMPLE`` times: ``(C, T, H, W)`` when ``K * N == 1``, else
        ``(K * N, C, T, H, W)`` (clip-major: the N samples of temporal clip 0 first); ``partial``: the reason the
        video is truncated (``DecodedClips.partial``) or None."""

        def indices_fn(n, fps):
            return [self._clip_frame_indices(n, fps, -1, 1) for _ in range(self.num_temporal_crops)]

        decoded = self._decode(record, indices_fn)
        frames, label = self._train_frames(torch.cat(decoded.clips), record.label)  # one label decision per item
        out = [self._train_tf(c) for c in frames.split(self.num_frames) for _ in range(self.num_samples)]
        return (out[0] if len(out) == 1 else torch.stack(out)), label, decoded.partial

    def _clip_item(self, index: int) -> dict[str, Any]:
        bad: list[tuple[str, str]] = []
        partial: list[tuple[str, str]] = []
        current = index
        for attempt in range(self.max_retries + 1):
            record = self.records[current]
            try:
                clip, label, truncated = self._load_clip(record)
                if truncated:  # used with the frames that decode, and counted
                    partial.append((record.path, truncated))
                return {"clip": clip, "label": label, "index": current, "bad": bad, "partial": partial}
            except Exception as e:  # VideoDecodeError, or a library error on a broken file
                reason = _describe(e)
                logger.warning("%s: skipping unreadable video %s: %s", self.split, record.path, reason)
                bad.append((record.path, reason))
            current = random.randrange(len(self.records))
        # DATA.MAX_RETRIES + 1 videos failed in a row: no clip; the train loop stops the run, naming them
        return {"clip": None, "label": -1, "index": index, "bad": bad, "partial": partial}

    # -------------------------------------------------------------------- test
    def _test_item(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        n_t, n_s = self.num_temporal, self.num_spatial
        item: dict[str, Any] = {
            "views": None,
            "label": record.label,
            "index": index,
            "path": record.path,
            "view_ids": [(i, j) for i in range(n_t) for j in range(n_s)],
            "error": None,
            "partial": None,
        }

        def indices_fn(n, fps):
            return [self._clip_frame_indices(n, fps, i, n_t) for i in range(n_t)]

        d = self.cfg.DATA
        try:
            decoded = self._decode(record, indices_fn)
            item["partial"] = decoded.partial  # truncated: scored on the frames that decode, and listed
            # uint8 (n_t * n_s, C, T, H, W), temporal-major; each decoded frame resized once
            item["views"] = multi_views(decoded.frames, decoded.positions, d.TEST_CROP_SIZE, n_s)
        except Exception as e:  # never raise at test time: report and exclude
            item["error"] = _describe(e)
            logger.warning("test: excluding unreadable video %s: %s", record.path, item["error"])
        return item


def _describe(e: Exception) -> str:
    text = str(e)
    return text if isinstance(e, RuntimeError) and text else f"{type(e).__name__}: {text}"


def collate_train(batch: list[dict[str, Any]]) -> dict[str, Any]:
    """Collate train items.

    Items with ``"clip"`` ``(N, C, T, H, W)`` (repeated augmentation, ``AUG.NUM_SAMPLE = N``)
    are flattened: the ``N`` clips of a video are consecutive and share its label and index. An item
    whose retries all failed (``"clip"`` None) is left out and counted in ``"failed_items"``.

    Returns:
        ``{"clip": float (B * N, C, T, H, W) or None (no item left), "label": int64 (B * N,), "index": int64
        (B * N,), "bad": [(path, error), ...], "partial": [(path, reason), ...], "failed_items": int}``
        (``N = 1`` for ordinary items) — ``"bad"`` and ``"partial"`` concatenate the items' lists.
    """
    kept = [b for b in batch if b["clip"] is not None]
    out: dict[str, Any] = {"bad": [x for b in batch for x in b["bad"]],
                           "partial": [x for b in batch for x in b.get("partial", [])],
                           "failed_items": len(batch) - len(kept)}
    if not kept:
        empty = torch.zeros(0, dtype=torch.long)
        return {"clip": None, "label": empty, "index": empty, **out}
    clips = [b["clip"] if b["clip"].ndim == 5 else b["clip"].unsqueeze(0) for b in kept]
    repeats = torch.tensor([c.shape[0] for c in clips])
    return {
        "clip": torch.cat(clips),
        "label": torch.tensor([b["label"] for b in kept], dtype=torch.long).repeat_interleave(repeats),
        "index": torch.tensor([b["index"] for b in kept], dtype=torch.long).repeat_interleave(repeats),
        **out,
    }
