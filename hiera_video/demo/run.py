"""The demo over many videos: predictions, files and pictures under one output folder.

For each input video (a file, a folder's videos, or a glob), :func:`run_demo` writes under ``output_dir``:

* ``predictions.csv``: ``video,start_s,end_s,rank,class,probability``: the top ``topk`` classes of every window
  (seconds, 3 decimals; probability 6 decimals);
* ``video_predictions.csv``: ``video,rank,class,probability,views``: the whole-video multi-view ensemble's top
  ``topk``;
* ``{video}_timeline.png``: probability over time of the leading classes;
* with ``output_video``: ``{video}_labels.mp4``, the input with the current window's top-3 labels on each frame;
* ``summary.json``: per video the top-k, fps, frames, windows, views and files written; ``failed``
  (``{path, error}``) for inputs that could not be read: each is logged with its reason and skipped, the rest go on.

``{video}`` is the file name without its extension (``_2``, ``_3`` ... appended when two inputs share a name).
"""

from __future__ import annotations

import csv
import glob
import io
import json
import logging
import os
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

from hiera_video.prep.folders import VIDEO_EXTENSIONS
from hiera_video.utils.atomic import atomic_write_text, ensure_dir
from hiera_video.utils.errors import ConfigError

from .clips import VideoPrediction, predict_video
from .draw import draw_labels, plot_timeline, write_labelled_video
from .predictor import ClipPredictor

logger = logging.getLogger(__name__)

__all__ = ["VIDEO_EXTENSIONS", "expand_inputs", "run_demo"]



def expand_inputs(inputs: Sequence[str]) -> List[str]:
    """Video paths from files, folders (their files with one of ``prep.folders.VIDEO_EXTENSIONS``, sorted; not
    recursive) and globs.

    Raises:
        ConfigError: an input that is none of these, or no video at all.
    """
    out: List[str] = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(os.path.join(item, f) for f in os.listdir(item) if f.lower().endswith(VIDEO_EXTENSIONS))
        elif os.path.exists(item):
            found = [item]
        else:
            found = sorted(glob.glob(item))
            if not found:
                raise ConfigError(f"--input {item}: no such file or folder, and no file matches it as a glob")
        out.extend(p for p in found if p not in out)
    if not out:
        raise ConfigError(f"--input {' '.join(inputs)}: no video found")
    return out


def video_stems(paths: Sequence[str]) -> Dict[str, str]:
    """Each path's file name without extension; ``_2``, ``_3`` ... appended to repeats (the ``{video}`` of the
    files written)."""
    seen: Dict[str, int] = {}
    stems = {}
    for p in paths:
        stem = os.path.splitext(os.path.basename(p))[0]
        seen[stem] = seen.get(stem, 0) + 1
        stems[p] = stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"
    return stems


def _label_lines(pred: VideoPrediction, seconds: float, k: int = 3) -> List[str]:
    w = pred.window_at(seconds)
    p, i = pred.window_probs[w].topk(min(k, pred.window_probs.shape[1]))
    return [f"{pred.class_names[j]} {q:.2f}" for q, j in zip(p.tolist(), i.tolist())]


def run_demo(predictor: ClipPredictor, inputs: Sequence[str], output_dir: str = "output/demo",
             window_stride: float = 1.0, topk: int = 5, output_video: bool = False, backend: str = "pyav",
             batch_size: int = 8, progress: bool = True) -> dict:
    """Predict every input video and write the files of the module docstring; returns the summary dict.

    Raises:
        ConfigError: no input video, ``topk < 1`` or ``window_stride <= 0``.
    """
    if topk < 1:
        raise ConfigError(f"--topk must be >= 1, got {topk}")
    if not window_stride > 0:
        raise ConfigError(f"--window-stride must be > 0 seconds, got {window_stride}")
    paths = expand_inputs(inputs)
    ensure_dir(output_dir, "--output")
    stems = video_stems(paths)
    rows, video_rows, videos, failed = [], [], [], []
    for path in tqdm(paths, desc="demo", unit="video", disable=not progress, dynamic_ncols=True):
        stem = stems[path]
        try:
            pred = predict_video(predictor, path, window_stride=window_stride, batch_size=batch_size,
                                 backend=backend)
        except Exception as e:  # a bad file: reported and skipped, the rest go on
            reason = " ".join(str(e).split()) or type(e).__name__
            logger.warning("demo: skipping %s: %s", path, reason)
            failed.append({"path": path, "error": reason})
            continue
        if pred.partial:
            logger.warning("demo: %s is truncated (%s): predicted on the frames that decode", path, pred.partial)
        k = min(topk, len(pred.class_names))
        for w in range(len(pred.window_probs)):
            p, i = pred.window_probs[w].topk(k)
            for r, (q, j) in enumerate(zip(p.tolist(), i.tolist()), 1):
                rows.append([stem, f"{float(pred.window_start_s[w]):.3f}", f"{float(pred.window_end_s[w]):.3f}", r,
                             pred.class_names[j], f"{q:.6f}"])
        top = pred.topk(k)
        for r, (name, q) in enumerate(top, 1):
            video_rows.append([stem, r, name, f"{q:.6f}", pred.num_views])
        files = {"timeline": os.path.join(output_dir, f"{stem}_timeline.png")}
        plot_timeline(pred, files["timeline"])
        if output_video:
            files["video"] = os.path.join(output_dir, f"{stem}_labels.mp4")
            write_labelled_video(path, files["video"], lambda im, t: draw_labels(im, _label_lines(pred, t)))
        videos.append({"video": stem, "path": path, "fps": pred.fps, "num_frames": pred.num_frames,
                       "duration_s": round(pred.duration_s, 3), "num_views": pred.num_views,
                       "num_windows": len(pred.window_probs), "partial": pred.partial,
                       "topk": [{"class": n, "probability": q} for n, q in top], "files": files})
        logger.info("%s: %s", stem, ", ".join(f"{n} {q:.3f}" for n, q in top[:3]))
    _write_csv(os.path.join(output_dir, "predictions.csv"),
               ["video", "start_s", "end_s", "rank", "class", "probability"], rows)
    _write_csv(os.path.join(output_dir, "video_predictions.csv"),
               ["video", "rank", "class", "probability", "views"], video_rows)
    summary = {"model": predictor.source, "clip_seconds": predictor.clip_seconds, "window_stride_s": window_stride,
               "views": [predictor.num_temporal_clips, predictor.num_spatial_crops], "videos": videos,
               "failed": failed, "output_dir": output_dir}
    atomic_write_text(os.path.join(output_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary


def _write_csv(path: str, header: List[str], rows: List[list]) -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def first_line(summary: dict) -> Optional[str]:
    """One line for the console: videos done / failed and where the files are."""
    done, bad = len(summary["videos"]), len(summary["failed"])
    written = summary.get("detections") or os.path.join(summary["output_dir"], "predictions.csv")
    return (f"{done} video(s) predicted" + (f", {bad} failed (listed in summary.json)" if bad else "")
            + f"; predictions: {written}")
