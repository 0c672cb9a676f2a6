"""The order in which the ActivityNet AVA script sees a box CSV's rows, computed on arrays (ties included).

``get_ava_performance.py``'s ``read_csv`` pushes each row of a keyframe, as the tuple
``(score, action_id, y1, x1, y2, x2)``, onto that keyframe's ``heapq`` heap; with a capacity (50 for detections), a
full heap takes a new row only when its score is strictly larger than the heap's smallest entry's
(``heapq.heapreplace``). Each keyframe's list is then sorted with ``sorted(..., key=-score)``: stable, so rows of
equal score keep the order they have in the heap's list, which depends on every push, sift and tuple comparison.
Keyframes come in the order their first row appears. (Ground truth goes through the same reader without a cap; its
"score" is the 8th column, the person id, when the row has one, else 1.0.)

Where a keyframe's scores are all distinct, the result is simply its rows by score, the top ``capacity`` of them.
Where they tie, :func:`heap_positions` replays CPython's ``heapq`` (``heappush`` = append + ``_siftdown``;
``heapreplace`` = ``_siftup`` + ``_siftdown``) for all such keyframes at once: step ``j`` pushes every keyframe's
``j``-th row, each sift level is one vectorised compare-and-move over the keyframes still sifting. Tuples are
compared through their rank in a lexicographic sort of all rows (equal tuples, equal ranks), exactly as Python
compares them.

Source: ActivityNet ``Evaluation/get_ava_performance.py`` (``read_csv``); CPython ``Lib/heapq.py``.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["reference_order", "heap_positions", "tuple_ranks"]


def tuple_ranks(*columns: np.ndarray) -> np.ndarray:
    """Dense ranks of the rows' tuples ``(columns[0][i], columns[1][i], ...)`` in Python's lexicographic order:
    ``rank[a] < rank[b]`` exactly when ``tuple_a < tuple_b``, equal tuples equal ranks (``-0.0 == 0.0``)."""
    n = len(columns[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(columns[::-1])  # the last key is the primary one
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for col in columns:
        c = col[order]
        new[1:] |= c[1:] != c[:-1]
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank


def heap_positions(starts: np.ndarray, lengths: np.ndarray, rows: np.ndarray, key: np.ndarray, score: np.ndarray,
                   capacity: int) -> Tuple[np.ndarray, np.ndarray]:
    """Replay ``heapq`` for several keyframes at once.

    Args:
        starts, lengths: keyframe ``k``'s rows are ``rows[starts[k] : starts[k] + lengths[k]]``, in file order.
        rows: row indices into ``key`` / ``score``.
        key: each row's tuple rank (:func:`tuple_ranks`); ``score``: each row's score.
        capacity: the heap's capacity; 0 for none.

    Returns:
        ``(kept_rows, position)``: the rows left in the heaps and each one's index in its keyframe's heap list.
    """
    num = len(starts)
    width = int(lengths.max()) if num else 0
    if capacity > 0:
        width = min(width, capacity)
    heap = np.full((num, max(width, 1)), -1, dtype=np.int64)
    size = np.zeros(num, dtype=np.int64)
    for j in range(int(lengths.max()) if num else 0):
        act = np.flatnonzero(lengths > j)
        item = rows[starts[act] + j]
        push = size[act] < width if capacity > 0 else np.ones(len(act), dtype=bool)
        a, new = act[push], item[push]
        if len(a):
            pos = size[a].copy()
            size[a] += 1
            _siftdown(heap, key, a, pos, new)
        b, new = act[~push], item[~push]
        if len(b):
            replace = score[new] > score[heap[b, 0]]
            b, new = b[replace], new[replace]
            if len(b):
                _siftup(heap, key, size, b, new)
    filled = np.arange(heap.shape[1])[None, :] < size[:, None]
    kept = heap[filled]
    position = np.broadcast_to(np.arange(heap.shape[1]), heap.shape)[filled]
    return kept, position


def _siftdown(heap: np.ndarray, key: np.ndarray, k: np.ndarray, pos: np.ndarray, new: np.ndarray) -> None:
    """``heapq._siftdown(heap_k, 0, pos)`` for every ``k`` with ``new`` as the item at ``pos``."""
    k, pos, new = k.copy(), pos.copy(), new.copy()
    new_key = key[new]
    while len(k):
        parent = (pos - 1) >> 1
        move = pos > 0
        move[move] = new_key[move] < key[heap[k[move], parent[move]]]
        stop = ~move
        heap[k[stop], pos[stop]] = new[stop]
        k, pos, new, new_key, parent = k[move], pos[move], new[move], new_key[move], parent[move]
        heap[k, pos] = heap[k, parent]
        pos = parent


def _siftup(heap: np.ndarray, key: np.ndarray, size: np.ndarray, k: np.ndarray, new: np.ndarray) -> None:
    """``heapq.heapreplace(heap_k, new)``: the smaller child moves up until a leaf, then ``_siftdown`` from there."""
    end = size[k]
    pos = np.zeros(len(k), dtype=np.int64)
    child = np.ones(len(k), dtype=np.int64)
    going = child < end
    while going.any():
        g = np.flatnonzero(going)
        kg, c = k[g], child[g]
        right = c + 1
        has_right = right < end[g]
        use_right = has_right.copy()
        use_right[has_right] = ~(key[heap[kg[has_right], c[has_right]]] < key[heap[kg[has_right], right[has_right]]])
        c = np.where(use_right, right, c)
        heap[kg, pos[g]] = heap[kg, c]
        pos[g] = c
        child[g] = 2 * c + 1
        going[g] = child[g] < end[g]
    _siftdown(heap, key, k, pos, new)


def reference_order(frame: np.ndarray, score: np.ndarray, columns: Tuple[np.ndarray, ...],
                    capacity: int = 0) -> np.ndarray:
    """The rows ``read_csv`` keeps, in the order it hands them on (module docstring).

    Args:
        frame: each row's keyframe as first-appearance codes ``0, 1, ...`` (``pd.factorize`` of the keys), rows in
            file order.
        score: each row's score (float64, as parsed).
        columns: the rest of the reader's tuple after the score, ``(action_id, y1, x1, y2, x2)`` (any monotone
            stand-in for the action id works); compared only where scores tie inside a keyframe.
        capacity: the per-keyframe cap (0: none).

    Returns:
        Row indices: keyframes in first-appearance order, each keyframe's kept rows by score (descending), tied
        scores in the reference's heap-list order.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(frame)
    by_score = np.lexsort((-score, frame))  # keyframe, then score descending (file order on ties)
    f, sc = frame[by_score], score[by_score]
    tie = (f[1:] == f[:-1]) & (sc[1:] == sc[:-1])
    tied = np.zeros(len(counts), dtype=bool)
    tied[f[1:][tie]] = True
    if not tied.any():  # distinct scores: each keyframe's rows by score, its `capacity` best
        order = by_score
    else:  # replay the heaps of the keyframes with ties; the others as above
        rows = np.flatnonzero(tied[frame])  # in file order
        local = np.argsort(frame[rows], kind="stable")  # grouped by keyframe, file order within
        sub = rows[local]
        key = np.zeros(n, dtype=np.int64)
        key[sub] = tuple_ranks(score[sub], *(c[sub] for c in columns))
        t = np.flatnonzero(tied)
        starts = np.concatenate([[0], np.cumsum(counts[t])[:-1]])
        kept, pos = heap_positions(starts, counts[t], sub, key, score, capacity)
        position = np.zeros(n, dtype=np.int64)
        position[kept] = pos
        keep = ~tied[frame]
        keep[kept] = True
        order = np.lexsort((position, -score, frame))
        order = order[keep[order]]
        if capacity <= 0:
            return order
        f = frame[order]
        within = np.arange(len(order)) - np.searchsorted(f, f, side="left")
        return order[(within < capacity) | tied[f]]
    if capacity > 0:
        within = np.arange(n) - np.searchsorted(f, f, side="left")
        order = order[within < capacity]
    return order
