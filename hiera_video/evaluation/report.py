"""The multi-view test report: JSON numbers, a Markdown summary, CSV tables and a plot.

:func:`write_test_report` writes into ``out_dir``:

* ``report.json`` – every number (accuracies in percent; ``null`` when undefined).
* ``report.md`` – a readable summary: main numbers, per-view accuracy, accuracy vs
  number of temporal clips, failed videos.
* ``view_logits.npz`` – the per-view logits of the evaluated videos as float16 with their ids
  (:mod:`.view_logits`; what ``tools/report.py`` rebuilds reports from), and/or
  ``view_logits.csv`` – long format, one row per (evaluated video, view):
  ``video_index, path, label, temporal_clip, spatial_crop, logit_0 .. logit_{K-1}``
  (``save_view_logits``: ``auto`` writes the npz, and the CSV up to 50,000 rows).
* ``predictions.csv`` – one row per evaluated video: ``video_index, path, label, pred,
  prob, top5, correct`` (+ ``label_name, pred_name`` with class names); ``top5`` is
  the space-separated top-5 class indices, best first.
* ``views.png`` – single-view top-1 per view and ensemble top-1 vs temporal clips.

Every file is written to a temporary file in ``out_dir`` and renamed over the final
name (``os.replace``), so an interrupted run never leaves a half-written file.
``out_dir`` must therefore be a local folder.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
import torch
from iopath.common.file_io import g_pathmgr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hiera_video.utils.atomic import atomic_write

from .meters import topk_accuracy
from .multiview import ensemble_probs
from .view_logits import csv_wanted, csv_writer, write_view_logits_csv
from .view_logits import save_view_logits as write_npz

__all__ = ["write_test_report", "clips_for_k"]


def _text_writer(text: str) -> Callable[[io.BufferedWriter], None]:
    return lambda f: f.write(text.encode("utf-8"))


def _num(x: float) -> Optional[float]:
    """JSON-safe float: ``None`` for nan."""
    x = float(x)
    return None if math.isnan(x) else x


def clips_for_k(temporal_clips: Sequence[int], k: int) -> List[int]:
    """The ``k`` of the ``T`` sorted temporal clips used for "top-1 with k clips".

    They are spread evenly over the video: clip ``floor((i + 0.5) * T / k)`` for
    ``i < k`` (T=5: k=1 -> [2], k=2 -> [1, 3], k=3 -> [0, 2, 4], k=5 -> all), which
    approximates testing with ``k`` evenly placed clips better than the first ``k``
    (those all sit near the start of the video).
    """
    clips = sorted(set(int(c) for c in temporal_clips))
    t = len(clips)
    if not 1 <= k <= t:
        raise ValueError(f"k must lie in [1, {t}], got {k}")
    return [clips[int((i + 0.5) * t / k)] for i in range(k)]


def _validate(paths, labels, view_logits, view_ids, evaluated, failed, class_names):
    if view_logits.dim() != 3:
        raise ValueError(f"view_logits must be (N_videos, V, K), got {tuple(view_logits.shape)}")
    n, v, k = view_logits.shape
    if len(paths) != n:
        raise ValueError(f"paths has {len(paths)} entries, view_logits has N_videos={n}")
    if labels.shape != (n,):
        raise ValueError(f"labels must be (N_videos,)=({n},), got {tuple(labels.shape)}")
    if evaluated.shape != (n,) or evaluated.dtype != torch.bool:
        raise ValueError(f"evaluated must be a bool (N_videos,)=({n},) tensor, "
                         f"got {evaluated.dtype} {tuple(evaluated.shape)}")
    if len(view_ids) != v or any(len(t) != 2 for t in view_ids):
        raise ValueError(f"view_ids must hold V={v} (temporal_clip, spatial_crop) pairs")
    if len(set(map(tuple, view_ids))) != v:
        raise ValueError(f"view_ids has duplicates: {view_ids}")
    lab = labels[evaluated]
    if lab.numel() and (int(lab.min()) < 0 or int(lab.max()) >= k):
        raise ValueError(f"labels of evaluated videos must lie in [0, {k - 1}]")
    if class_names is not None and len(class_names) != k:
        raise ValueError(f"class_names has {len(class_names)} names, K={k}")
    for item in failed:
        if not isinstance(item, dict) or "path" not in item or "error" not in item:
            raise ValueError(f"failed entries must be dicts with 'path' and 'error', got {item!r}")
    return n, v, k


def _compute(labels_e, logits_e, view_ids, class_names) -> Dict:
    """All accuracies over the evaluated videos (``logits_e (n, V, K)``)."""
    n, v, k = logits_e.shape
    empty = n == 0
    probs = ensemble_probs(logits_e)  # (n, K)
    acc = topk_accuracy(probs, labels_e, (1, 5)) if not empty else {1: math.nan, 5: math.nan}
    per_view = []
    for j, (tc, sc) in enumerate(view_ids):
        top1 = topk_accuracy(logits_e[:, j], labels_e, (1,))[1] if not empty else math.nan
        per_view.append({"view": j, "temporal_clip": int(tc), "spatial_crop": int(sc),
                         "top1": _num(top1)})
    singles = [p["top1"] for p in per_view]
    tcs = [int(tc) for tc, _ in view_ids]
    vs_clips = []
    for kk in range(1, len(set(tcs)) + 1):
        chosen = clips_for_k(tcs, kk)
        mask = torch.tensor([tc in chosen for tc in tcs])
        top1 = (topk_accuracy(ensemble_probs(logits_e, mask), labels_e, (1,))[1]
                if not empty else math.nan)
        vs_clips.append({"num_temporal_clips": kk, "temporal_clips": chosen,
                         "num_views": int(mask.sum()), "top1": _num(top1)})
    out = {
        "top1": _num(acc[1]),
        "top5": _num(acc[5]),
        "single_view_top1": None if empty else float(np.mean(singles)),
        "per_view_top1": per_view,
        "top1_vs_num_temporal_clips": vs_clips,
    }
    if class_names is not None:
        pred = probs.argmax(dim=1) if not empty else labels_e
        per_class = []
        for c, name in enumerate(class_names):
            sel = labels_e == c
            cnt = int(sel.sum())
            top1 = 100.0 * int((pred[sel] == c).sum()) / cnt if cnt else None
            per_class.append({"class_index": c, "name": str(name), "num_videos": cnt, "top1": top1})
        seen = [p["top1"] for p in per_class if p["top1"] is not None]
        out["mean_class_top1"] = float(np.mean(seen)) if seen else None
        out["per_class_top1"] = per_class
    return out, probs


def _fmt(x: Optional[float]) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _md_cell(s) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _markdown(rep: Dict) -> str:
    lines = ["# Multi-view test report", ""]
    if rep["num_videos"] == 0:
        lines += ["> **No video was evaluated** (all failed or none given): accuracies are "
                  "undefined and shown as n/a.", ""]
    lines += [
        "| metric | value |", "|---|---|",
        f"| top-1 (%), ensemble of {rep['num_views']} views by mean softmax | {_fmt(rep['top1'])} |",
        f"| top-5 (%) | {_fmt(rep['top5'])} |",
        f"| single-view top-1 (%), mean over views | {_fmt(rep['single_view_top1'])} |",
    ]
    if "mean_class_top1" in rep:
        lines.append(f"| mean per-class top-1 (%) | {_fmt(rep['mean_class_top1'])} |")
    lines += [
        f"| videos evaluated / listed | {rep['num_videos']} / {rep['num_videos_listed']} |",
        f"| failed videos | {len(rep['failed'])} |",
        f"| views per video | {rep['num_views']} = {rep['num_temporal_clips']} temporal clips "
        f"x {rep['num_spatial_crops']} spatial crops |",
        f"| classes | {rep['num_classes']} |",
    ]
    for key, val in rep.get("extra", {}).items():
        lines.append(f"| {_md_cell(key)} | {_md_cell(val)} |")
    lines += ["", "## Single views", "", "| view | temporal clip | spatial crop | top-1 (%) |",
              "|---|---|---|---|"]
    for p in rep["per_view_top1"]:
        lines.append(f"| {p['view']} | {p['temporal_clip']} | {p['spatial_crop']} | {_fmt(p['top1'])} |")
    lines += ["", "## Ensemble top-1 vs number of temporal clips", "",
              "All spatial crops of k temporal clips spread evenly over the video.", "",
              "| k | temporal clips | views | top-1 (%) |", "|---|---|---|---|"]
    for p in rep["top1_vs_num_temporal_clips"]:
        clips = ", ".join(map(str, p["temporal_clips"]))
        lines.append(f"| {p['num_temporal_clips']} | {clips} | {p['num_views']} | {_fmt(p['top1'])} |")
    if "per_class_top1" in rep:
        lines += ["", "<details><summary>Per-class top-1</summary>", "",
                  "| class | name | videos | top-1 (%) |", "|---|---|---|---|"]
        for p in rep["per_class_top1"]:
            lines.append(f"| {p['class_index']} | {_md_cell(p['name'])} | {p['num_videos']} "
                         f"| {_fmt(p['top1'])} |")
        lines += ["", "</details>"]
    lines += ["", f"## Failed videos ({len(rep['failed'])})", ""]
    if not rep["failed"]:
        lines.append("None.")
    for item in rep["failed"]:
        lines.append(f"- `{_md_cell(item['path'])}`: {_md_cell(item['error'])}")
    return "\n".join(lines) + "\n"


def _plot(rep: Dict, f) -> None:
    fig = Figure(figsize=(12, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
    fig.suptitle(f"Multi-view test: {rep['num_videos']} videos, {rep['num_views']} views "
                 f"({rep['num_temporal_clips']} temporal clips x {rep['num_spatial_crops']} "
                 "spatial crops)")
    if rep["num_videos"] == 0:
        for ax in (ax1, ax2):
            ax.text(0.5, 0.5, "no evaluated videos", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
        fig.savefig(f, format="png", dpi=110)
        return
    views = rep["per_view_top1"]
    x = np.arange(len(views))
    tops = [p["top1"] for p in views]
    bars = ax1.bar(x, tops, color="tab:blue", alpha=0.8, label="single view")
    if len(views) <= 20:
        ax1.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax1.axhline(rep["top1"], color="tab:red", ls="--",
                label=f"ensemble of all {rep['num_views']} views: {rep['top1']:.1f}%")
    ax1.axhline(rep["single_view_top1"], color="0.3", ls=":",
                label=f"mean single view: {rep['single_view_top1']:.1f}%")
    ax1.set_xticks(x, [f"t{p['temporal_clip']}\ns{p['spatial_crop']}" for p in views],
                   fontsize=8 if len(views) <= 20 else 6)
    ax1.set_xlim(-0.6, len(views) - 0.4)
    ax1.set_xlabel("view (t = temporal clip, s = spatial crop)")
    ax1.set_ylabel("top-1 accuracy (%)")
    ax1.set_ylim(0, 100)
    ax1.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    curve = rep["top1_vs_num_temporal_clips"]
    ks = [p["num_temporal_clips"] for p in curve]
    ys = [p["top1"] for p in curve]
    ax2.plot(ks, ys, marker="o", color="tab:red", label="ensemble (clips spread evenly)")
    for kk, y in zip(ks, ys):
        ax2.annotate(f"{y:.1f}", (kk, y), textcoords="offset points", xytext=(0, 7),
                     ha="center", fontsize=8)
    ax2.set_xticks(ks)
    ax2.set_xlim(0.5, max(ks) + 0.5)
    ax2.set_xlabel(f"temporal clips ensembled (each with {rep['num_spatial_crops']} crops)")
    ax2.set_ylabel("ensemble top-1 accuracy (%)")
    lo, hi = min(ys), max(ys)
    pad = max(2.0, 0.2 * (hi - lo))
    ax2.set_ylim(max(0.0, lo - pad), min(100.0, hi + pad) + 2.0)
    ax2.grid(alpha=0.3)
    ax2.set_title("ensemble top-1 vs temporal clips", fontsize=10)
    fig.savefig(f, format="png", dpi=110)


def write_test_report(
    out_dir: Optional[str],
    *,
    paths: Sequence[str],
    labels: torch.Tensor,
    view_logits: torch.Tensor,
    view_ids: Sequence[Tuple[int, int]],
    evaluated: torch.Tensor,
    failed: Sequence[Dict],
    class_names: Optional[Sequence[str]] = None,
    extra: Optional[Dict] = None,
    save_view_logits: str = "auto",
    view_counts: Optional[torch.Tensor] = None,
) -> Dict:
    """Write the multi-view test report into ``out_dir`` (created if missing).

    Args:
        out_dir: local folder; ``None`` computes and returns the report, writing nothing
            (non-main processes, per-epoch validation).
        paths: ``N_videos`` video paths, in video-index order.
        labels: ``(N_videos,)`` integer labels (only evaluated videos' are checked/used).
        view_logits: ``(N_videos, V, K)`` per-view logits.
        view_ids: ``V`` pairs ``(temporal_clip, spatial_crop)`` naming the views.
        evaluated: ``(N_videos,)`` bool; accuracies use these videos only (typically
            the videos that decoded and got all ``V`` views).
        failed: ``[{"path": str, "error": str}, ...]`` videos that could not be tested.
        class_names: optional ``K`` names; adds per-class top-1 and name columns.
        extra: optional JSON-serialisable items merged into ``report.json`` and listed
            in ``report.md`` (checkpoint, config file, timing...); non-JSON values are
            stored as strings.
        save_view_logits: which per-view logit files to write (``TEST.SAVE_VIEW_LOGITS``: ``auto``, ``npz``,
            ``csv``, ``both``, ``none``; see :func:`~.view_logits.csv_wanted`).
        view_counts: ``(N_videos, V)`` how many times each view was computed (stored in the npz); default ones.

    Returns:
        The ``report.json`` content: ``top1``, ``top5``, ``single_view_top1`` (percent or
        ``None`` when no video was evaluated), ``num_videos`` (evaluated),
        ``num_videos_listed``, ``num_views``, ``num_temporal_clips``, ``num_spatial_crops``,
        ``num_classes``, ``view_ids``, ``per_view_top1``, ``top1_vs_num_temporal_clips``
        (see :func:`clips_for_k`), ``failed``, ``extra`` keys, and with ``class_names``
        ``mean_class_top1`` and ``per_class_top1``.

    Raises:
        ValueError: on inconsistent shapes/lengths, out-of-range labels of evaluated
            videos, malformed ``failed`` entries, or ``extra`` keys that clash with
            computed keys.
    """
    labels = torch.as_tensor(labels).cpu()
    view_logits = torch.as_tensor(view_logits).detach().float().cpu()
    evaluated = torch.as_tensor(evaluated).cpu()
    n, v, k = _validate(paths, labels, view_logits, view_ids, evaluated, failed, class_names)
    ev_idx = torch.nonzero(evaluated).flatten()
    labels_e = labels[ev_idx].long()
    logits_e = view_logits[ev_idx]  # (n_eval, V, K)
    metrics, probs = _compute(labels_e, logits_e, view_ids, class_names)
    rep = {
        "num_videos": int(ev_idx.numel()),
        "num_videos_listed": n,
        "num_views": v,
        "num_temporal_clips": len({int(t) for t, _ in view_ids}),
        "num_spatial_crops": len({int(s) for _, s in view_ids}),
        "num_classes": k,
        "ensemble": "mean of per-view softmax",
        "view_ids": [[int(t), int(s)] for t, s in view_ids],
        **metrics,
        "failed": [{"path": str(d["path"]), "error": str(d["error"])} for d in failed],
    }
    extra = dict(extra or {})
    clash = sorted(set(extra) & set(rep))
    if clash:
        raise ValueError(f"extra keys clash with report keys: {clash}")
    extra = json.loads(json.dumps(extra, default=str))
    rep.update(extra)
    if out_dir is None:
        return rep
    rep_md = dict(rep, extra=extra)

    g_pathmgr.mkdirs(out_dir)
    # Tables.
    names = list(class_names) if class_names is not None else None
    ev_list = ev_idx.tolist()
    ev_paths = [str(paths[i]) for i in ev_list]
    want_npz, want_csv = csv_wanted(save_view_logits, len(ev_list) * v)
    top = probs.topk(min(5, k), dim=1) if len(ev_list) else None
    pred = top.indices[:, 0] if top is not None else torch.zeros(0, dtype=torch.long)
    preds = pd.DataFrame({
        "video_index": np.array(ev_list, dtype=np.int64),
        "path": ev_paths,
        "label": labels_e.numpy().astype(np.int64),
        "pred": pred.numpy().astype(np.int64),
        "prob": top.values[:, 0].numpy() if top is not None else np.zeros(0, np.float32),
        "top5": [" ".join(map(str, r)) for r in top.indices.tolist()] if top is not None else [],
        "correct": (pred == labels_e).numpy(),
    })
    if names is not None:
        preds["label_name"] = [names[i] for i in preds["label"]]
        preds["pred_name"] = [names[i] for i in preds["pred"]]

    join = lambda name: os.path.join(out_dir, name)  # noqa: E731
    if want_npz:
        write_npz(join("view_logits.npz"), logits=logits_e, video_index=ev_list, paths=ev_paths,
                         labels=labels_e, view_ids=view_ids, class_names=names,
                         view_counts=None if view_counts is None else torch.as_tensor(view_counts)[ev_idx])
    if want_csv:
        write_view_logits_csv(join("view_logits.csv"), logits=logits_e, video_index=ev_list, paths=ev_paths,
                              labels=labels_e, view_ids=view_ids)
    atomic_write(join("predictions.csv"), csv_writer(preds))
    atomic_write(join("views.png"), lambda f: _plot(rep, f))
    atomic_write(join("report.md"), _text_writer(_markdown(rep_md)))
    # Last, so a complete report.json means every other file is there too.
    text = json.dumps(rep, indent=2, allow_nan=False)
    atomic_write(join("report.json"), _text_writer(text + "\n"))
    return rep
