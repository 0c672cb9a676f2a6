"""hiera_video.utils.parallel: every item's outcome comes back, in order, with or without workers."""

import functools

import pytest

from hiera_video.utils.parallel import ItemResult, run_parallel, summarize


def _work(x, fail_on=3):
    if x == fail_on:
        raise ValueError(f"bad item {x}")
    if x % 2:
        return ItemResult(x, "skipped")
    return x * 10


@pytest.mark.parametrize("workers", [0, 2])
def test_results_in_order_with_failures_reported(workers):
    results = run_parallel(functools.partial(_work, fail_on=3), list(range(6)), num_workers=workers, disable_bar=True)
    assert [r.item for r in results] == list(range(6))
    assert [r.status for r in results] == ["ok", "skipped", "ok", "failed", "ok", "skipped"]
    assert [r.value for r in results if r.status == "ok"] == [0, 20, 40]
    assert results[3].error == "ValueError: bad item 3"
    assert summarize(results, "videos") == "6 videos: 3 ok, 2 skipped (already done), 1 failed"
