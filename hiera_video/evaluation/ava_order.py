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

from typing import Optional, Tuple

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
    longest = int(lengths.max()) if num else 0
    width = max(min(longest, capacity) if capacity > 0 else longest, 1)
    heap = np.full(num * width, -1, dtype=np.int64)  # heap k's list is heap[k * width : k * width + size[k]]
    heap_key = np.zeros(num * width, dtype=np.int64)  # the tuple rank of each entry, kept beside it
    size = np.zeros(num, dtype=np.int64)
    base = np.arange(num, dtype=np.int64) * width
    for j in range(longest):
        act = np.flatnonzero(lengths > j)
        item = rows[starts[act] + j]
        push = size[act] < width if capacity > 0 else np.ones(len(act), dtype=bool)
        if push.any():
            a = act[push]
            pos = size[a].copy()
            size[a] += 1
            _siftdown(heap, heap_key, base[a], pos, item[push], key[item[push]])
        if not push.all():
            b, new = act[~push], item[~push]
            replace = score[new] > score[heap[base[b]]]
            if replace.any():
                b, new = b[replace], new[replace]
                _siftup(heap, heap_key, base[b], size[b], new, key[new])
    filled = (np.arange(width)[None, :] < size[:, None]).reshape(-1)
    position = np.tile(np.arange(width, dtype=np.int64), num)[filled]
    return heap[filled], position


def _siftdown(heap: np.ndarray, heap_key: np.ndarray, base: np.ndarray, pos: np.ndarray, new: np.ndarray,
              new_key: np.ndarray) -> None:
    """``heapq._siftdown(heap_k, 0, pos)`` for every heap (offset ``base``) with ``new`` as the item at ``pos``."""
    while len(base):
        parent = (pos - 1) >> 1
        move = pos > 0
        move[move] = new_key[move] < heap_key[base[move] + parent[move]]
        stop = ~move
        at = base[stop] + pos[stop]
        heap[at], heap_key[at] = new[stop], new_key[stop]
        base, pos, new, new_key, parent = base[move], pos[move], new[move], new_key[move], parent[move]
        src, dst = base + parent, base + pos
        heap[dst], heap_key[dst] = heap[src], heap_key[src]
        pos = parent


def _siftup(heap: np.ndarray, heap_key: np.ndarray, base: np.ndarray, end: np.ndarray, new: np.ndarray,
            new_key: np.ndarray) -> None:
    """``heapq.heapreplace(heap_k, new)``: the smaller child moves up until a leaf, then ``_siftdown`` from there."""
    pos = np.zeros(len(base), dtype=np.int64)
    g = np.flatnonzero(end > 1)  # heaps whose entry at pos still has a child
    while len(g):
        bg, eg = base[g], end[g]
        c = 2 * pos[g] + 1
        right = c + 1
        # heapq: take the right child unless the left one is smaller (`not heap[child] < heap[right]`)
        use_right = (right < eg) & (heap_key[bg + np.minimum(right, eg - 1)] <= heap_key[bg + c])
        c = np.where(use_right, right, c)
        dst, src = bg + pos[g], bg + c
        heap[dst], heap_key[dst] = heap[src], heap_key[src]
        pos[g] = c
        g = g[2 * c + 1 < eg]
    _siftdown(heap, heap_key, base, pos, new, new_key)


def _sort(*keys: np.ndarray) -> np.ndarray:
    """The permutation sorting by ``keys`` (the first the primary), all non-negative integers: packed into one int64
    when they fit (one ``argsort``, several times faster than ``np.lexsort``), else ``np.lexsort``. Rows equal in every
    key come in an unspecified order."""
    bits = [max(int(k.max()).bit_length(), 1) if len(k) else 1 for k in keys]
    if sum(bits) > 62:
        return np.lexsort(keys[::-1])
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for k, b in zip(keys, bits):
        packed = (packed << b) | k.astype(np.int64)
    return np.argsort(packed)


def reference_order(frame: np.ndarray, score: np.ndarray, columns: Tuple[np.ndarray, ...], capacity: int = 0,
                    group: Optional[np.ndarray] = None) -> np.ndarray:
    """The rows ``read_csv`` keeps, in the order it hands them on (module docstring).

    Args:
        frame: each row's keyframe as first-appearance codes ``0, 1, ...`` (``pd.factorize`` of the keys), rows in
            file order.
        score: each row's score (float64, as parsed).
        columns: the rest of the reader's tuple after the score, ``(action_id, y1, x1, y2, x2)`` (any monotone
            stand-in for the action id works); compared only where scores tie inside a keyframe.
        capacity: the per-keyframe cap (0: none).
        group: optional non-negative label per row (the class). With it, only the order among rows of the same group
            is guaranteed to be the reference's (rows of different groups with equal scores may come in either order,
            which no per-class result depends on), and keyframes whose ties are all between groups skip the replay.

    Returns:
        Row indices: keyframes in first-appearance order, each keyframe's kept rows by score (descending), tied
        scores in the reference's heap-list order.
    """
    n = len(frame)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.bincount(frame)
    _, srank = np.unique(score, return_inverse=True)  # dense score ranks
    srank = srank.reshape(-1).astype(np.int64)
    desc = int(srank.max()) - srank
    by_score = _sort(frame, desc)
    f, r = frame[by_score], srank[by_score]
    within = np.arange(n) - np.searchsorted(f, f, side="left")  # rank by score inside the keyframe
    same = (f[1:] == f[:-1]) & (r[1:] == r[:-1])
    kept = within < capacity if capacity > 0 else np.ones(n, dtype=bool)
    # which keyframes need the heap replayed: a tie across the cap's boundary (which rows stay depends on the heap),
    # or a tie among kept rows (of one group, when groups are given)
    replay = np.zeros(len(counts), dtype=bool)
    if capacity > 0:
        at_boundary = same & (within[:-1] == capacity - 1)
        replay[f[1:][at_boundary]] = True
    if group is None:
        replay[f[1:][same & kept[1:]]] = True
    else:
        g = group.astype(np.int64)
        by_group = _sort(frame, g, srank)
        fg, gg, rg = frame[by_group], g[by_group], srank[by_group]
        dup = (fg[1:] == fg[:-1]) & (gg[1:] == gg[:-1]) & (rg[1:] == rg[:-1])
        kept_row = np.zeros(n, dtype=bool)
        kept_row[by_score] = kept
        replay[fg[1:][dup & kept_row[by_group[1:]]]] = True
    if not replay.any():
        return by_score[kept]
    rows = np.flatnonzero(replay[frame])  # in file order
    sub = rows[np.argsort(frame[rows], kind="stable")]  # grouped by keyframe, file order within
    key = np.zeros(n, dtype=np.int64)
    key[sub] = tuple_ranks(score[sub], *(c[sub] for c in columns))
    t = np.flatnonzero(replay)
    starts = np.concatenate([[0], np.cumsum(counts[t])[:-1]])
    in_heap, pos = heap_positions(starts, counts[t], sub, key, score, capacity)
    position = np.zeros(n, dtype=np.int64)
    position[in_heap] = pos
    keep = np.zeros(n, dtype=bool)
    keep[by_score[kept & ~replay[f]]] = True
    keep[in_heap] = True
    order = _sort(frame, desc, position)
    return order[keep[order]]
