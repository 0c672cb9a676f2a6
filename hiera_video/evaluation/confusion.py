"""Confusion between classes: the matrix, its picture (up to ``MAX_MATRIX_CLASSES`` classes) and the most confused
pairs (any number of classes)."""

from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["MAX_MATRIX_CLASSES", "confusion_matrix", "most_confused", "plot_confusion"]

#: a confusion-matrix picture is drawn up to this many classes; above, :func:`most_confused` lists pairs instead.
MAX_MATRIX_CLASSES = 100


def confusion_matrix(labels: torch.Tensor, pred: torch.Tensor, num_classes: int) -> np.ndarray:
    """``(K, K)`` int64 counts, rows = true class, columns = predicted class."""
    idx = labels.long() * num_classes + pred.long()
    return torch.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes).numpy()


def most_confused(cm: np.ndarray, names: Optional[Sequence[str]] = None, top: int = 20) -> List[dict]:
    """The ``top`` off-diagonal cells with most videos: ``{true, predicted, true_name, predicted_name, count,
    fraction}`` (``fraction`` of the true class's videos), most first; ties by class indices."""
    off = cm.copy()
    np.fill_diagonal(off, 0)
    flat = np.argsort(-off, axis=None, kind="stable")[:top]
    rows = cm.sum(axis=1)
    out = []
    for f in flat:
        t, p = divmod(int(f), cm.shape[1])
        if off[t, p] == 0:
            break
        out.append({"true": t, "predicted": p, "true_name": names[t] if names else str(t),
                    "predicted_name": names[p] if names else str(p), "count": int(off[t, p]),
                    "fraction": float(off[t, p] / rows[t]) if rows[t] else None})
    return out


def plot_confusion(cm: np.ndarray, f, names: Optional[Sequence[str]] = None, title: str = "") -> None:
    """Row-normalised confusion matrix as a PNG written to the file object ``f``."""
    k = cm.shape[0]
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    side = min(14.0, 2.5 + 0.22 * k)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    labels = [str(n)[:24] for n in names] if names else [str(i) for i in range(k)]
    if k <= 40:
        ax.set_xticks(range(k), labels, rotation=90, fontsize=7)
        ax.set_yticks(range(k), labels, fontsize=7)
    if k <= 12:
        for t in range(k):
            for p in range(k):
                if cm[t, p]:
                    ax.text(p, t, str(cm[t, p]), ha="center", va="center", fontsize=7,
                            color="white" if norm[t, p] > 0.5 else "black")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "confusion (rows: fraction of the true class)", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.8)
    fig.savefig(f, format="png", dpi=100)
