"""Top-k accuracy.

Accuracies are in percent (0-100). Counts are plain Python ``int`` so they can be
summed across batches (and, by the caller, across processes) without rounding.
"""

from __future__ import annotations

import math
from typing import Dict, Sequence

import torch

__all__ = ["topk_correct", "topk_accuracy"]


def _check_logits_labels(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, K), got shape {tuple(logits.shape)}")
    if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must be (N,) with N={logits.shape[0]}, got shape {tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]):
        raise ValueError(
            f"labels must lie in [0, {logits.shape[1] - 1}], got range "
            f"[{int(labels.min())}, {int(labels.max())}]"
        )


def topk_correct(
    logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> Dict[int, int]:
    """Count the samples whose label is among the ``k`` highest scores.

    Args:
        logits: ``(N, K)`` scores (logits or probabilities; only the order matters).
        labels: ``(N,)`` integer class indices in ``[0, K)``.
        ks: the ``k`` values; each is clipped to ``K`` (top-5 of 3 classes is top-3),
            but the returned dict is keyed by the requested ``k``.

    Returns:
        ``{k: number of correct samples}`` (ints, ``0 <= value <= N``).

    Raises:
        ValueError: on bad shapes, non-integer or out-of-range labels, or ``k < 1``.
    """
    _check_logits_labels(logits, labels)
    ks = list(ks)
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {ks}")
    num_classes = logits.shape[1]
    if logits.shape[0] == 0 or not ks:
        return {int(k): 0 for k in ks}
    max_k = min(max(int(k) for k in ks), num_classes)
    top = logits.detach().topk(max_k, dim=1).indices  # (N, max_k)
    hits = top.eq(labels.to(top.device).view(-1, 1))  # (N, max_k), at most one True per row
    cum = hits.cumsum(dim=1).clamp_(max=1)  # (N, max_k): hit within the first j+1
    return {int(k): int(cum[:, min(int(k), num_classes) - 1].sum()) for k in ks}


def topk_accuracy(
    logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)
) -> Dict[int, float]:
    """Top-k accuracy in percent: ``100 * topk_correct / N``.

    Args and errors as :func:`topk_correct`. With ``N == 0`` every value is ``nan``.
    """
    correct = topk_correct(logits, labels, ks)
    n = logits.shape[0]
    return {k: (100.0 * c / n if n else math.nan) for k, c in correct.items()}
