#!/usr/bin/env python
"""Rebuild and compare multi-view test reports from stored per-view logits, without re-running the test.

    python tools/report.py output/k400_l                                     # rebuild the report of a run
    python tools/report.py output/k400_l --temporal-clips 1,3,5 --spatial-crops 1,3   # + accuracy vs views
    python tools/report.py output/k400_l --num-temporal-clips 3 --num-spatial-crops 1 --out /tmp/r3x1
    python tools/report.py output/run_a output/run_b/test_ema --names a,b_ema --out /tmp/compare

A RUN is a run's ``OUTPUT_DIR`` (its ``test/view_logits.npz``), a test folder (``test/``, ``test_ema/``) or a
``view_logits.npz`` file (``TEST.SAVE_VIEW_LOGITS``, written by every test). One RUN: its report (``report.json``,
``report.md``, ``predictions.csv``, ``views.png``, ``confusion.png`` or the most confused class pairs above 100
classes) from all views or ``--num-temporal-clips`` x ``--num-spatial-crops`` of them, and with
``--temporal-clips`` / ``--spatial-crops`` the table of top-1 / top-5 for each count of clips x crops
(``views_table.md``), into ``--out`` (default ``{folder}/report_rebuilt``). Several RUNs: compared on the videos
they share (``comparison.md`` / ``.json`` / ``.png``, per-class changes) and each one's report under
``--out/{name}/``. The failed videos listed in the folder's ``report.json`` are carried over. An input problem
prints one ``error: ...`` line and exits with 2.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.utils.cli import run_cli  # noqa: E402
from hiera_video.utils.errors import ConfigError  # noqa: E402


def _counts(text):
    if not text:
        return []
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated counts such as 1,3,5, got {text!r}") from None
    if any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"counts must be >= 1, got {text!r}")
    return values


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="OUTPUT_DIR, test folder or view_logits.npz (several: compare)")
    parser.add_argument("--out", help="output folder (default: {first folder}/report_rebuilt)")
    parser.add_argument("--names", help="comma-separated names of the runs in the comparison")
    parser.add_argument("--temporal-clips", type=_counts, default=[], help="counts for the views table, e.g. 1,3,5")
    parser.add_argument("--spatial-crops", type=_counts, default=[], help="counts for the views table, e.g. 1,3")
    parser.add_argument("--num-temporal-clips", type=int, help="rebuild from this many temporal clips")
    parser.add_argument("--num-spatial-crops", type=int, help="rebuild from this many spatial crops")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input errors too")
    return parser.parse_args(argv)


def resolve(run: str) -> str:
    """The ``view_logits.npz`` a RUN argument names.

    Raises:
        ConfigError: nothing stored there.
    """
    for candidate in (run, os.path.join(run, "view_logits.npz"), os.path.join(run, "test", "view_logits.npz")):
        if os.path.isfile(candidate):
            return candidate
    raise ConfigError(f"{run}: no view_logits.npz there (nor in {run}/test/); the test writes it unless "
                      f"TEST.SAVE_VIEW_LOGITS is csv or none")


def _failed(npz: str) -> list:
    path = os.path.join(os.path.dirname(npz), "report.json")
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return json.load(f).get("failed", [])


def report(args) -> dict:
    from hiera_video.evaluation.stored_reports import compare_runs, rebuild_report
    from hiera_video.evaluation.view_logits import load_view_logits
    from hiera_video.utils.atomic import check_output_dir

    files = [resolve(r) for r in args.runs]
    names = args.names.split(",") if args.names else [os.path.relpath(os.path.dirname(f)) for f in files]
    if len(names) != len(files):
        raise ConfigError(f"--names gives {len(names)} names for {len(files)} runs")
    out = args.out or os.path.join(os.path.dirname(files[0]), "report_rebuilt")
    check_output_dir(out, "--out" if args.out else "output folder")  # before reading the logits
    stored = [load_view_logits(f) for f in files]
    if bool(args.temporal_clips) != bool(args.spatial_crops):
        raise ConfigError("give --temporal-clips and --spatial-crops together (e.g. 1,3,5 and 1,3)")
    for s, f in zip(stored, files):  # name the flag, not the helper's argument
        tested = {"temporal": len({t for t, _ in s.view_ids}), "spatial": len({c for _, c in s.view_ids})}
        for flag, axis, values in (("--temporal-clips", "temporal", args.temporal_clips or []),
                                   ("--spatial-crops", "spatial", args.spatial_crops or []),
                                   ("--num-temporal-clips", "temporal",
                                    [] if args.num_temporal_clips is None else [args.num_temporal_clips]),
                                   ("--num-spatial-crops", "spatial",
                                    [] if args.num_spatial_crops is None else [args.num_spatial_crops])):
            bad = [v for v in values if not 1 <= v <= tested[axis]]
            if bad:
                what = "temporal clips" if axis == "temporal" else "spatial crops"
                raise ConfigError(f"{flag} {bad[0]}: {f} was tested with {tested[axis]} {what}; choose 1 to "
                                  f"{tested[axis]}")
    result = {"reports": {}}
    for name, s, f in zip(names, stored, files):
        folder = out if len(files) == 1 else os.path.join(out, name.replace(os.sep, "_"))
        try:
            rep = rebuild_report(s, folder, args.num_temporal_clips, args.num_spatial_crops, args.temporal_clips,
                                 args.spatial_crops, failed=_failed(f))
        except ValueError as e:  # more clips or crops asked for than were tested
            raise ConfigError(f"{f}: {e}") from None
        result["reports"][name] = {"folder": folder, "top1": rep["top1"], "top5": rep["top5"],
                                   "views": rep["num_views"], "views_table": rep.get("views_table")}
    if len(files) > 1:
        try:
            result["comparison"] = compare_runs(stored, names, out)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    result["out"] = out
    return result


def main(argv=None) -> int:
    args = parse_args(argv)

    def _run() -> int:
        result = report(args)
        for name, r in result["reports"].items():
            print(f"{name}: top-1 {r['top1']:.2f}% (top-5 {r['top5']:.2f}%) from {r['views']} views; "
                  f"report: {os.path.join(r['folder'], 'report.json')}")
            for row in r["views_table"] or []:
                print(f"  {row['temporal_clips']} clips x {row['spatial_crops']} crops ({row['views']} views): "
                      f"top-1 {row['top1']:.2f}%, top-5 {row['top5']:.2f}%")
        if "comparison" in result:
            print(f"comparison on {result['comparison']['videos_compared']} shared videos: "
                  f"{os.path.join(result['out'], 'comparison.md')}")
        return 0

    return run_cli(_run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
