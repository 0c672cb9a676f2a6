"""Stored per-view logits at Kinetics-400 val scale: the long CSV (before) vs ``view_logits.npz`` (after), and
``tools/report.py``'s rebuild time.

What is measured, on synthetic logits of ``--videos`` x ``--views`` x ``--classes`` (default K400 val: 19,881
videos x 5 x 3 views x 400 classes; normal logits with the label's raised, so the accuracies are not trivial):

* **csv**: ``view_logits.csv`` as ``write_test_report`` writes it with ``TEST.SAVE_VIEW_LOGITS csv`` (pandas,
  ``%.8g``): seconds and bytes;
* **npz**: ``view_logits.npz`` (float16, uncompressed, :func:`~hiera_video.evaluation.view_logits.save_view_logits`):
  seconds and bytes;
* **rebuild**: ``tools/report.py``'s work from the npz in-process: load, the full report (JSON, Markdown, predictions,
  plot, most-confused pairs) and the clips x crops table for 1,3,5 x 1,3: seconds.

Each is run once (``--repeats`` for more, best kept); interpreter start-up is not timed. Files go to ``--workdir``
(a temporary folder by default, removed after).

    python benchmarks/view_logits_storage.py
    python benchmarks/view_logits_storage.py --skip-csv          # the CSV alone takes minutes
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hiera_video.evaluation.report import write_test_report  # noqa: E402
from hiera_video.evaluation.stored_reports import rebuild_report  # noqa: E402
from hiera_video.evaluation.view_logits import load_view_logits  # noqa: E402


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=19881)
    ap.add_argument("--temporal", type=int, default=5)
    ap.add_argument("--spatial", type=int, default=3)
    ap.add_argument("--classes", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--skip-csv", action="store_true")
    ap.add_argument("--workdir")
    args = ap.parse_args(argv)
    work = args.workdir or tempfile.mkdtemp(prefix="view_logits_")
    n, k = args.videos, args.classes
    views = [(t, s) for t in range(args.temporal) for s in range(args.spatial)]
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, k, (n,), generator=g)
    logits = torch.randn(n, len(views), k, generator=g) * 2
    logits[torch.arange(n), :, labels] += 3.0 * torch.rand(n, len(views), generator=g)
    common = dict(paths=[f"k400/val/{i:06d}_abcdefghijk_000010_000020.mp4" for i in range(n)], labels=labels,
                  view_logits=logits, view_ids=views, evaluated=torch.ones(n, dtype=torch.bool), failed=[],
                  class_names=[f"class {c}" for c in range(k)])
    print(f"{n} videos x {len(views)} views x {k} classes ({n * len(views):,} rows)")
    results = {}
    for mode in (("npz",) if args.skip_csv else ("npz", "csv")):
        folder = os.path.join(work, mode)
        write_test_report(folder, **common, save_view_logits="none")  # the rest of the report, not timed below
        from hiera_video.evaluation import view_logits as vl

        if mode == "npz":
            def write():
                vl.save_view_logits(os.path.join(folder, "view_logits.npz"), logits=logits, video_index=range(n),
                                    paths=common["paths"], labels=labels, view_ids=views,
                                    class_names=common["class_names"])
        else:
            def write():  # what write_test_report does for the CSV
                vl.write_view_logits_csv(os.path.join(folder, "view_logits.csv"), logits=logits,
                                         video_index=range(n), paths=common["paths"], labels=labels, view_ids=views)
        seconds = _best(write, args.repeats)
        size = os.path.getsize(os.path.join(folder, f"view_logits.{mode}"))
        results[mode] = (seconds, size)
        print(f"{mode:4s}: write {seconds:6.2f} s, {size / 2**20:8.1f} MiB")
    if "csv" in results:
        (tc, sc), (tn, sn) = results["csv"], results["npz"]
        print(f"npz vs csv: {tc / tn:.1f}x faster to write, {sc / sn:.1f}x smaller")

    def rebuild():
        stored = load_view_logits(os.path.join(work, "npz", "view_logits.npz"))
        rebuild_report(stored, os.path.join(work, "rebuilt"), temporal=[1, 3, 5], spatial=[1, 3])

    print(f"rebuild (load + report + 1,3,5 x 1,3 table): {_best(rebuild, args.repeats):.2f} s")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
