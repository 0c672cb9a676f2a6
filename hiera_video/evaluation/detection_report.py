"""The action-detection test report: detections CSV, frame-mAP JSON, a Markdown summary and a per-class AP chart.

:func:`score_detections` scores detections and writes into ``out_dir`` (each file to a temporary name, then renamed):

* ``detections.csv`` – ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` per (box, class of the label map), no
  header: the layout ``tools/ava_eval.py`` scores (and PySlowFast's ``detections_latest.csv``); the numbers in
  ``report.json`` are those of this file: boxes (``%.6f``) and scores (``%.9g``) are scored exactly as written
  (:mod:`~hiera_video.evaluation.written`), without a text round trip;
* ``report.json`` – ``mAP`` (percent), ``per_class`` (``{id, name, AP, num_gt, num_detections}``, AP ``null`` for a
  class without ground truth), ``groups`` (person movement / object manipulation / person interaction),
  ``num_keyframes`` (with detections), ``num_keyframes_with_gt`` (after exclusions), ``num_boxes``, ``failed``
  (``{video_id, timestamp, path, error}``: keyframes without detections because their frames failed; their ground
  truth counts), and the caller's ``extra``;
* ``report.md`` – the numbers above as tables; ``per_class_ap.png`` – the per-class APs as horizontal bars.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Dict, List, Optional

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hiera_video.utils.atomic import atomic_write, atomic_write_text

from .ava_map import frame_map
from .written import BOX_DECIMALS, SCORE_DIGITS, format_significant, round_decimals, round_significant

__all__ = ["score_detections", "detections_csv", "DETECTION_COLUMNS"]

DETECTION_COLUMNS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"]


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.2f}"


def _markdown(rep: dict) -> str:
    lines = ["# Action detection test", "", "| | |", "|---|---|",
             f"| frame-mAP@0.5 (%) | {_fmt(rep['mAP'])} |"]
    lines += [f"| {k.replace('_', ' ')} mAP (%) | {_fmt(v)} |" for k, v in rep["groups"].items()]
    lines += [f"| keyframes scored / with ground truth | {rep['num_keyframes']} / {rep['num_keyframes_with_gt']} |",
              f"| boxes scored | {rep['num_boxes']} |", f"| keyframes failed | {len(rep['failed'])} |"]
    for key in ("checkpoint", "arch", "weights"):
        if key in rep:
            lines.append(f"| {key} | {rep[key]} |")
    lines += ["", "## Per class", "", "| id | name | AP (%) | ground-truth boxes | detections |",
              "|---|---|---|---|---|"]
    lines += [f"| {c['id']} | {c['name']} | {_fmt(c['AP'])} | {c['num_gt']} | {c['num_detections']} |"
              for c in rep["per_class"]]
    if rep["failed"]:
        lines += ["", "## Failed keyframes (no detections; their ground truth counts)", "", "| keyframe | error |",
                  "|---|---|"]
        lines += [f"| {f['video_id']},{f['timestamp']:04d} | {f['error']} |" for f in rep["failed"]]
    return "\n".join(lines) + "\n"


def _chart(rep: dict) -> bytes:
    rows = [(c["name"], c["AP"]) for c in rep["per_class"] if c["AP"] is not None]
    rows.sort(key=lambda r: r[1])
    fig = Figure(figsize=(7, max(2.0, 0.22 * len(rows) + 1)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(range(len(rows)), [r[1] for r in rows], color="#4c72b0")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0][:40] for r in rows], fontsize=7)
    ax.set_xlim(0, 100)
    ax.set_xlabel("AP@0.5 (%)")
    ax.set_title(f"per-class AP; frame-mAP {_fmt(rep['mAP'])}%", fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def detections_csv(detections: pd.DataFrame) -> str:
    """``detections`` (:data:`DETECTION_COLUMNS`) as ``detections.csv`` text: no header, timestamps ``%04d``, boxes
    ``%.6f`` (``written.BOX_DECIMALS``), scores ``%.9g`` (``written.SCORE_DIGITS`` significant digits: float32 scores
    round-trip, so rows tie only where the model's scores do) (about 1 s per million rows)."""
    frame = detections[DETECTION_COLUMNS].copy()
    frame["timestamp"] = frame["timestamp"].astype("int64").astype(str).str.zfill(4)
    frame["action_id"] = frame["action_id"].astype("int64")
    frame["score"] = format_significant(frame["score"].to_numpy(dtype=np.float64), SCORE_DIGITS)
    return frame.to_csv(header=False, index=False, float_format=f"%.{BOX_DECIMALS}f")


def score_detections(out_dir: Optional[str], groundtruth: pd.DataFrame, detections: pd.DataFrame,
                     label_ids, names: Dict[int, str], excluded=(), max_detections_per_frame: int = 0,
                     failed: Optional[List[dict]] = None, extra: Optional[dict] = None) -> dict:
    """Frame-mAP of ``detections`` against ``groundtruth`` and the report files (module docstring).

    The detections are scored as ``detections.csv`` holds them (:mod:`~hiera_video.evaluation.written`: the same
    float64 values a reader of the file gets, without writing and parsing the text; the text is made only when
    ``out_dir`` is set), so ``tools/ava_eval.py`` on that file gives the same numbers.

    Args:
        out_dir: where the files go; None writes nothing (other processes of a distributed run).
        groundtruth: rows ``video_id, timestamp, x1, y1, x2, y2, action_id`` (boxes normalised).
        detections: rows with :data:`DETECTION_COLUMNS`.
        label_ids / names: the label map's ids (the classes scored) and names.
        excluded: ``(video_id, timestamp)`` keyframes left out on both sides.
        failed: ``{video_id, timestamp, path, error}`` per keyframe whose frames failed (no detections).

    Returns:
        The report dict (``report.json``'s content).
    """
    scored = pd.DataFrame({
        "video_id": detections["video_id"].astype(str).to_numpy(dtype=object),
        "timestamp": detections["timestamp"].to_numpy().astype(np.int64),
        **{c: round_decimals(detections[c].to_numpy(), BOX_DECIMALS) for c in ("x1", "y1", "x2", "y2")},
        "action_id": detections["action_id"].to_numpy().astype(np.int64),
        "score": round_significant(detections["score"].to_numpy(), SCORE_DIGITS)})
    result = frame_map(groundtruth, scored, label_ids, excluded=excluded,
                       max_detections_per_frame=max_detections_per_frame)
    summary = result.summary(names)
    num_boxes = int(len(scored[["video_id", "timestamp", "x1", "y1", "x2", "y2"]].drop_duplicates()))
    rep = {"mAP": summary["mAP"], "per_class": summary["per_class"], "groups": summary["groups"],
           "num_keyframes": int(len(scored[["video_id", "timestamp"]].drop_duplicates())),
           "num_keyframes_with_gt": int(result.num_keyframes), "num_boxes": num_boxes,
           "num_detection_rows": int(len(scored)), "max_detections_per_frame": int(max_detections_per_frame),
           "failed": list(failed or []), **(extra or {})}
    if out_dir is None:
        return rep
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "detections.csv"), detections_csv(detections))
    atomic_write_text(os.path.join(out_dir, "report.json"), json.dumps(rep, indent=1, default=str))
    atomic_write_text(os.path.join(out_dir, "report.md"), _markdown(rep))
    png = _chart(rep)
    atomic_write(os.path.join(out_dir, "per_class_ap.png"), lambda f: f.write(png))
    return rep
