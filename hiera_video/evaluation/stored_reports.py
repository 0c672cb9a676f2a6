"""Reports from stored per-view logits (``view_logits.npz``), without re-running the test.

* :func:`views_table`: ensemble top-1 / top-5 for every combination of ``k`` temporal clips and ``s`` spatial crops
  (the accuracy-vs-views table papers report: Hiera's Table 8 style ``clips x crops``) from one test pass. The
  ``k`` clips of the ``T`` tested ones are spread evenly over the video (:func:`~.report.clips_for_k`: ``T=5, k=1``
  is the centre clip), and the ``s`` crops likewise (``s=1`` of 3 is the centre crop).
* :func:`rebuild_report`: the full test report (``report.json``, ``report.md``, ``predictions.csv``, ``views.png``)
  for all views or a subset, with the confusion picture (or the most confused pairs above 100 classes).
* :func:`compare_runs`: several runs side by side on the videos they share: top-1 / top-5 per run, per-class top-1
  and its change from the first run, a bar chart.
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hiera_video.utils.atomic import atomic_write, atomic_write_text

from .confusion import MAX_MATRIX_CLASSES, confusion_matrix, most_confused, plot_confusion
from .meters import topk_accuracy
from .multiview import ensemble_probs
from .report import clips_for_k, write_test_report
from .view_logits import StoredViewLogits

__all__ = ["views_table", "view_mask", "rebuild_report", "compare_runs"]


def view_mask(view_ids: Sequence[tuple], num_temporal: int, num_spatial: int) -> torch.Tensor:
    """``(V,)`` bool: the views of ``num_temporal`` temporal clips x ``num_spatial`` spatial crops, each spread
    evenly over the tested ones (:func:`~.report.clips_for_k`).

    Raises:
        ValueError: more clips or crops than were tested.
    """
    clips = clips_for_k([t for t, _ in view_ids], num_temporal)
    crops = clips_for_k([s for _, s in view_ids], num_spatial)
    return torch.tensor([t in clips and s in crops for t, s in view_ids])


def views_table(stored: StoredViewLogits, temporal: Sequence[int], spatial: Sequence[int]) -> List[Dict]:
    """``[{temporal_clips, spatial_crops, views, top1, top5}, ...]`` (percent) for each ``(k, s)`` pair."""
    out = []
    for k in temporal:
        for s in spatial:
            mask = view_mask(stored.view_ids, int(k), int(s))
            acc = topk_accuracy(ensemble_probs(stored.logits, mask), stored.labels, (1, 5))
            out.append({"temporal_clips": int(k), "spatial_crops": int(s), "views": int(mask.sum()),
                        "top1": float(acc[1]), "top5": float(acc[5])})
    return out


def _table_md(rows: List[Dict]) -> str:
    lines = ["| temporal clips | spatial crops | views | top-1 (%) | top-5 (%) |", "|---|---|---|---|---|"]
    lines += [f"| {r['temporal_clips']} | {r['spatial_crops']} | {r['views']} | {r['top1']:.2f} | {r['top5']:.2f} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def rebuild_report(stored: StoredViewLogits, out_dir: str, num_temporal: Optional[int] = None,
                   num_spatial: Optional[int] = None, temporal: Sequence[int] = (), spatial: Sequence[int] = (),
                   failed: Sequence[Dict] = ()) -> Dict:
    """Write the test report of ``stored`` (its views, or ``num_temporal`` x ``num_spatial`` of them) to
    ``out_dir`` with ``confusion.png`` (or ``most_confused`` in the JSON above 100 classes) and, given
    ``temporal`` / ``spatial`` counts, ``views_table.md`` / ``views_table`` in the JSON. Returns the report."""
    ids = stored.view_ids
    mask = view_mask(ids, num_temporal or len({t for t, _ in ids}), num_spatial or len({s for _, s in ids}))
    chosen = [v for v, m in zip(ids, mask.tolist()) if m]
    extra: Dict = {"rebuilt_from": stored.path, "views_used": [list(v) for v in chosen]}
    k = stored.logits.shape[2]
    probs = ensemble_probs(stored.logits, mask)
    cm = confusion_matrix(stored.labels, probs.argmax(dim=1), k)
    if k > MAX_MATRIX_CLASSES:
        extra["most_confused"] = most_confused(cm, stored.class_names)
    if temporal and spatial:
        extra["views_table"] = views_table(stored, temporal, spatial)
    rep = write_test_report(out_dir, paths=stored.paths, labels=stored.labels, view_logits=stored.logits[:, mask],
                            view_ids=chosen, evaluated=torch.ones(len(stored.paths), dtype=torch.bool),
                            failed=list(failed), class_names=stored.class_names, extra=extra,
                            save_view_logits="none")
    if k <= MAX_MATRIX_CLASSES:
        atomic_write(os.path.join(out_dir, "confusion.png"),
                     lambda f: plot_confusion(cm, f, stored.class_names, f"confusion, top-1 {rep['top1']:.2f}%"))
    if temporal and spatial:
        atomic_write_text(os.path.join(out_dir, "views_table.md"), "# Ensemble accuracy vs views\n\n"
                          + _table_md(extra["views_table"]))
    return rep


def _per_class_top1(pred: torch.Tensor, labels: torch.Tensor, k: int) -> np.ndarray:
    correct = torch.bincount(labels[pred == labels], minlength=k).numpy()
    count = torch.bincount(labels, minlength=k).numpy()
    return np.where(count > 0, 100.0 * correct / np.maximum(count, 1), np.nan)


def _video_keys(runs: Sequence[StoredViewLogits]) -> Tuple[List[List[str]], int]:
    """Keys that match the same video across runs: the paths themselves, or, where that matches fewer videos (runs
    tested with a relative and an absolute ``DATA.PATH_PREFIX``, or on another machine), the last ``k`` path
    components with the smallest ``k`` that is unique inside every run. Returns ``(keys per run, k)`` (0: whole
    paths)."""
    paths = [[os.path.normpath(p) for p in r.paths] for r in runs]
    best, best_k = paths, 0
    shared = len(set.intersection(*[set(p) for p in paths]))
    depth = max((p.count(os.sep) + 1 for ps in paths for p in ps), default=1)
    for k in range(1, depth + 1):
        keys = [[os.sep.join(p.split(os.sep)[-k:]) for p in ps] for ps in paths]
        if all(len(set(ks)) == len(ks) for ks in keys):
            if len(set.intersection(*[set(ks) for ks in keys])) > shared:
                best, best_k = keys, k
            break
    return best, best_k


def compare_runs(runs: Sequence[StoredViewLogits], names: Sequence[str], out_dir: str) -> Dict:
    """Compare runs on the videos all of them evaluated (matched by path, or by the paths' last components when the
    runs' path prefixes differ: ``matched_by`` in the result); writes ``comparison.json``, ``comparison.md`` and
    ``comparison.png`` (top-1 per run) to ``out_dir``.

    Raises:
        ValueError: fewer than two runs, different class counts, or no video in common.
    """
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    k = runs[0].logits.shape[2]
    if any(r.logits.shape[2] != k for r in runs):
        raise ValueError(f"the runs have different class counts: {[r.logits.shape[2] for r in runs]}")
    keys, depth = _video_keys(runs)
    common = sorted(set.intersection(*[set(k) for k in keys]))
    if not common:
        raise ValueError(f"the runs share no video (not even by file name: e.g. {runs[0].paths[0]} in "
                         f"{names[0]}, {runs[1].paths[0]} in {names[1]})")
    rows, per_class = [], []
    labels = None
    for run, name, run_keys in zip(runs, names, keys):
        pos = {p: i for i, p in enumerate(run_keys)}
        sel = torch.tensor([pos[p] for p in common])
        probs, lab = ensemble_probs(run.logits[sel]), run.labels[sel].long()
        labels = lab if labels is None else labels
        if not torch.equal(lab, labels):
            raise ValueError(f"{name}: labels differ from {names[0]}'s on the same videos")
        acc = topk_accuracy(probs, lab, (1, 5))
        rows.append({"run": name, "path": run.path, "videos": len(common), "views": len(run.view_ids),
                     "top1": float(acc[1]), "top5": float(acc[5])})
        per_class.append(_per_class_top1(probs.argmax(dim=1), lab, k))
    class_names = runs[0].class_names or [str(c) for c in range(k)]
    deltas = [{"class_index": c, "name": class_names[c], "top1": [None if np.isnan(p[c]) else float(p[c])
                                                                   for p in per_class],
               "delta_vs_first": [None if np.isnan(p[c]) else float(p[c] - per_class[0][c]) for p in per_class]}
              for c in range(k)]
    matched_by = "path" if depth == 0 else f"the last {depth} path component{'s' if depth > 1 else ''}"
    out = {"videos_compared": len(common), "matched_by": matched_by, "videos_per_run": [len(r.paths) for r in runs],
           "runs": rows,
           "per_class": deltas}
    md = ["# Runs compared", "", f"On the {len(common)} videos every run evaluated.", "",
          "| run | views | top-1 (%) | top-5 (%) |", "|---|---|---|---|"]
    md += [f"| {r['run']} | {r['views']} | {r['top1']:.2f} | {r['top5']:.2f} |" for r in rows]
    changed = sorted((d for d in deltas if d["delta_vs_first"][-1]), key=lambda d: -abs(d["delta_vs_first"][-1]))
    md += ["", f"## Per-class top-1 change, {names[-1]} vs {names[0]} (largest first)", "",
           "| class | " + " | ".join(names) + " | change |", "|---|" + "---|" * (len(names) + 1)]
    md += [f"| {d['name']} | " + " | ".join("n/a" if t is None else f"{t:.1f}" for t in d["top1"])
           + f" | {d['delta_vs_first'][-1]:+.1f} |" for d in changed[:30]]
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_text(os.path.join(out_dir, "comparison.md"), "\n".join(md) + "\n")
    atomic_write_text(os.path.join(out_dir, "comparison.json"), json.dumps(out, indent=1) + "\n")
    atomic_write(os.path.join(out_dir, "comparison.png"), lambda f: _bars(rows, f))
    return out


def _bars(rows: List[Dict], f) -> None:
    fig = Figure(figsize=(max(4.0, 1.2 * len(rows) + 2), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    bars = ax.bar(range(len(rows)), [r["top1"] for r in rows], color="tab:blue")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(range(len(rows)), [r["run"][:20] for r in rows], fontsize=8)
    ax.set_ylabel("top-1 (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"top-1 on {rows[0]['videos']} shared videos", fontsize=10)
    fig.savefig(f, format="png", dpi=100)
