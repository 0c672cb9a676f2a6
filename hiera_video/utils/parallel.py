"""Run a function over many items with a process pool and a tqdm bar, collecting per-item results.

Used by the ``data_prep/`` scripts: every item's outcome (ok, skipped because already
done, or failed with a reason) is returned, never lost, and a one-line summary can be
printed at the end.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional, Sequence

from tqdm import tqdm

__all__ = ["ItemResult", "run_parallel", "summarize"]

OK, SKIPPED, FAILED = "ok", "skipped", "failed"


@dataclass
class ItemResult:
    """Outcome of one item: ``status`` is "ok", "skipped" (already done) or "failed"."""

    item: Any
    status: str = OK
    error: str = ""
    value: Any = None
    extra: dict = field(default_factory=dict)


def _call(args):
    fn, item = args
    try:
        out = fn(item)
    except Exception as e:  # noqa: BLE001 - every failure is reported with its item, never raised mid-run
        return ItemResult(item, FAILED, f"{type(e).__name__}: {e}")
    return out if isinstance(out, ItemResult) else ItemResult(item, OK, value=out)


def run_parallel(
    fn: Callable[[Any], Any],
    items: Sequence[Any],
    num_workers: int = 0,
    desc: str = "",
    chunksize: int = 1,
    disable_bar: Optional[bool] = None,
) -> List[ItemResult]:
    """Apply ``fn`` to every item; ``num_workers`` processes (0 runs in this process).

    ``fn`` returns an :class:`ItemResult` (to say "skipped" or attach extras) or any value
    (taken as "ok"); an exception becomes a "failed" result carrying ``"Type: message"``.
    Results come back in the order of ``items``. ``fn`` must be picklable (a module-level
    function or a ``functools.partial`` of one) when ``num_workers > 0``.
    """
    jobs: Iterable = ((fn, item) for item in items)
    bar = dict(total=len(items), desc=desc, dynamic_ncols=True, disable=disable_bar)
    if num_workers <= 0:
        return [_call(job) for job in tqdm(jobs, **bar)]
    ctx = mp.get_context("spawn")  # fork + threaded decoders (FFmpeg) can deadlock
    with ctx.Pool(num_workers) as pool:
        return list(tqdm(pool.imap(_call, jobs, chunksize=chunksize), **bar))


def summarize(results: Sequence[ItemResult], what: str = "items") -> str:
    """``"N items: a ok, b skipped (already done), c failed"``."""
    counts = {s: sum(r.status == s for r in results) for s in (OK, SKIPPED, FAILED)}
    return (f"{len(results)} {what}: {counts[OK]} ok, {counts[SKIPPED]} skipped (already done), "
            f"{counts[FAILED]} failed")
