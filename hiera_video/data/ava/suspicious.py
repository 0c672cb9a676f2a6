"""Legal but suspicious rows of an AVA box CSV, as warning lines naming ``file:line`` (the rules of
``data_prep/ava.py check``, applied whenever a box CSV is read for a run or an evaluation).

A row can be well formed and still be almost certainly wrong; each of these gets one line, counted, with the first
line it occurs on:

* inverted boxes (``x1 > x2`` or ``y1 > y2``): a reader drops them as empty (the evaluator) or trains on nothing;
* pixel coordinates (a coordinate above 1.5): AVA boxes are normalised to [0, 1];
* action id 0 or below (0-based ids?): AVA's ids start at 1;
* action ids above the label map's largest id (another label map?);
* detection / proposal scores outside [0, 1], or all integers (a ground-truth file's person ids read as scores?);
* proposals that all carry an action id (a ground-truth file given as proposals?).
"""

from __future__ import annotations

import os
from typing import Iterable, List, Optional

import numpy as np
import pandas as pd

__all__ = ["suspicious_rows"]


def _first(path: str, rows: pd.DataFrame, mask: np.ndarray) -> str:
    return f"{os.path.basename(path)}:{int(rows['line'].to_numpy()[np.flatnonzero(mask)[0]])}"


def suspicious_rows(rows: pd.DataFrame, path: str, kind: str, label_ids: Optional[Iterable[int]] = None) -> List[str]:
    """Warning lines for the suspicious rows of one box CSV (module docstring); ``[]`` when there are none.

    Args:
        rows: the file's rows as ``read_box_csv`` returns them (with ``line``).
        path: the file (named in each line).
        kind: ``"groundtruth"``, ``"proposals"`` or ``"detections"``.
        label_ids: the label map's ids, if any (enables the check of ids above the largest one).
    """
    out: List[str] = []
    if rows.empty:
        return out
    x1, y1, x2, y2 = (rows[c].to_numpy(dtype=np.float64) for c in ("x1", "y1", "x2", "y2"))
    n = len(rows)

    def warn(mask: np.ndarray, what: str) -> None:
        count = int(mask.sum())
        if count:
            out.append(f"{path}: {count} of {n} rows {what} (first at {_first(path, rows, mask)})")

    warn((x1 > x2) | (y1 > y2), "have x1 > x2 or y1 > y2: inverted boxes, which count as empty")
    warn(np.maximum.reduce([x1, y1, x2, y2]) > 1.5, "have coordinates above 1.5: pixels? AVA boxes are normalised "
                                                     "to [0, 1]")
    if "action_id" in rows and kind != "proposals":
        ids = rows["action_id"].to_numpy()
        warn(ids < 1, "have action id 0 or below: 0-based ids? AVA's start at 1")
        if label_ids:
            top = max(int(i) for i in label_ids)
            warn(ids > top, f"have action ids above the label map's largest, {top}: another label map?")
    if kind == "proposals" and "action_id" in rows and (rows["action_id"].to_numpy() >= 0).all():
        out.append(f"{path}: every row has an action id in column 7, which proposals leave empty: a ground-truth "
                   f"file given as proposals?")
    if "score" in rows and kind != "groundtruth":
        scores = rows["score"].to_numpy(dtype=np.float64)
        warn((scores < 0) | (scores > 1), "have scores outside [0, 1]")
        if n >= 2 and np.all(scores == np.round(scores)) and scores.max() > 1:
            out.append(f"{path}: every score is a whole number (up to {scores.max():g}): a ground-truth file's person "
                       f"ids read as scores?")
    return out
