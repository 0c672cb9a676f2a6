"""Per-view test logits stored compactly: ``view_logits.npz`` (NumPy, no pickle), read back in one line.

At Kinetics-400 val scale (about 20k videos x 15 views x 400 classes) the long CSV ``view_logits.csv`` is about
1.3 GB; the same logits as float16 in an uncompressed ``.npz`` are 2 bytes each (about 240 MB) and written in about
a second. float16 keeps 11 significant bits: a logit of magnitude 10 is stored to within 0.004, far below what
changes a softmax ensemble's ranking except between near-ties (``TEST.SAVE_VIEW_LOGITS`` explains the choice of
files).

Arrays in the file (``N`` evaluated videos, ``V`` views, ``K`` classes)::

    logits        float16 (N, V, K)   per-view logits of the evaluated videos
    video_index   int64   (N,)        index in the test list
    paths         <U      (N,)        video paths
    labels        int64   (N,)        labels
    view_ids      int64   (V, 2)      (temporal_clip, spatial_crop) of each view
    view_counts   int64   (N, V)      how many times each view was computed (1: each exactly once)
    class_names   <U      (K,)        optional

``np.load("view_logits.npz")["logits"]`` is the whole array; :func:`load_view_logits` returns them all, and
:func:`to_frame` the long pandas table of the CSV (``video_index, path, label, temporal_clip, spatial_crop,
logit_0 ..``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch

from hiera_video.utils.atomic import atomic_write
from hiera_video.utils.errors import ListError

__all__ = ["StoredViewLogits", "save_view_logits", "load_view_logits", "to_frame", "MODES", "csv_wanted",
           "csv_writer", "write_view_logits_csv"]

#: ``TEST.SAVE_VIEW_LOGITS`` values: ``auto`` (npz always, the CSV too for small sets), ``npz``, ``csv``, ``both``,
#: ``none``.
MODES = ("auto", "npz", "csv", "both", "none")
#: ``auto`` writes the CSV too up to this many rows (videos x views).
CSV_ROWS_AUTO = 50_000


def csv_wanted(mode: str, rows: int) -> Tuple[bool, bool]:
    """``(npz, csv)``: which files ``mode`` writes for ``rows`` (videos x views) rows.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"TEST.SAVE_VIEW_LOGITS must be one of {list(MODES)}, got {mode!r}")
    return (mode in ("auto", "npz", "both"), mode in ("csv", "both") or (mode == "auto" and rows <= CSV_ROWS_AUTO))


@dataclass
class StoredViewLogits:
    """The content of a ``view_logits.npz`` (see the module docstring); ``logits`` as float32 torch tensor."""

    logits: torch.Tensor
    video_index: np.ndarray
    paths: List[str]
    labels: torch.Tensor
    view_ids: List[Tuple[int, int]]
    view_counts: np.ndarray
    class_names: Optional[List[str]]
    path: str = ""


def save_view_logits(path: str, *, logits: torch.Tensor, video_index: Sequence[int], paths: Sequence[str],
                     labels: torch.Tensor, view_ids: Sequence[Tuple[int, int]],
                     view_counts: Optional[torch.Tensor] = None,
                     class_names: Optional[Sequence[str]] = None) -> None:
    """Write ``path`` (``.npz``, atomically) from ``logits (N, V, K)`` and the per-video arrays (see the module
    docstring); ``view_counts`` default all ones."""
    n, v, _ = logits.shape
    arrays = {
        "logits": torch.as_tensor(logits).detach().cpu().to(torch.float16).numpy(),
        "video_index": np.asarray(video_index, dtype=np.int64).reshape(n),
        "paths": np.asarray([str(p) for p in paths], dtype=str).reshape(n),
        "labels": torch.as_tensor(labels).cpu().numpy().astype(np.int64).reshape(n),
        "view_ids": np.asarray(view_ids, dtype=np.int64).reshape(v, 2),
        "view_counts": (np.ones((n, v), dtype=np.int64) if view_counts is None
                        else torch.as_tensor(view_counts).cpu().numpy().astype(np.int64).reshape(n, v)),
    }
    if class_names is not None:
        arrays["class_names"] = np.asarray([str(c) for c in class_names], dtype=str)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_view_logits(path: str) -> StoredViewLogits:
    """Read a ``view_logits.npz``.

    Raises:
        ListError: the file is missing, not an npz, or lacks an array (the message names the file).
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ListError(f"stored view logits not found: {path}") from None
    except (OSError, ValueError) as e:
        raise ListError(f"{path}: not a view_logits.npz ({e})") from None
    need = ("logits", "video_index", "paths", "labels", "view_ids")
    missing = [k for k in need if k not in data]
    if missing:
        raise ListError(f"{path}: not a view_logits.npz (no {', '.join(missing)})")
    n, v = data["logits"].shape[:2]
    counts = data.get("view_counts", np.ones((n, v), dtype=np.int64))
    names = [str(c) for c in data["class_names"]] if "class_names" in data else None
    logits = torch.from_numpy(data["logits"]).float()  # torch's float16 -> float32 is vectorised, NumPy's is not
    return StoredViewLogits(logits, data["video_index"],
                            [str(p) for p in data["paths"]], torch.from_numpy(data["labels"]),
                            [(int(t), int(s)) for t, s in data["view_ids"]], counts, names, path)


def to_frame(stored: StoredViewLogits) -> pd.DataFrame:
    """The long table of ``view_logits.csv``: one row per (video, view)."""
    n, v, k = stored.logits.shape
    rows = pd.DataFrame({
        "video_index": np.repeat(stored.video_index, v),
        "path": np.repeat(np.asarray(stored.paths, dtype=object), v),
        "label": np.repeat(stored.labels.numpy(), v),
        "temporal_clip": np.tile([t for t, _ in stored.view_ids], n),
        "spatial_crop": np.tile([s for _, s in stored.view_ids], n),
    })
    return pd.concat([rows, pd.DataFrame(stored.logits.reshape(-1, k).numpy(),
                                         columns=[f"logit_{c}" for c in range(k)])], axis=1)


def csv_writer(df: pd.DataFrame):
    """A writer for :func:`~hiera_video.utils.atomic.atomic_write`: ``df`` as CSV (no index, floats ``%.8g``)."""
    def write(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8", newline="")
        df.to_csv(text, index=False, float_format="%.8g")
        text.flush()
        text.detach()  # keep ``f`` open for the fsync

    return write


def write_view_logits_csv(path: str, *, logits: torch.Tensor, video_index: Sequence[int], paths: Sequence[str],
                          labels: torch.Tensor, view_ids: Sequence[Tuple[int, int]]) -> None:
    """Write the long ``view_logits.csv`` (:func:`to_frame`'s table, float32 logits ``%.8g``) atomically."""
    n, v, _ = logits.shape
    stored = StoredViewLogits(torch.as_tensor(logits).float(), np.asarray(video_index, dtype=np.int64).reshape(n),
                              [str(p) for p in paths], torch.as_tensor(labels).long(),
                              [(int(t), int(s)) for t, s in view_ids], np.ones((n, v), dtype=np.int64), None, path)
    atomic_write(path, csv_writer(to_frame(stored)))
