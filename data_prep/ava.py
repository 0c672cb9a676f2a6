#!/usr/bin/env python
r"""AVA v2.2 data preparation in PySlowFast's layout (frames {vid}/{vid}_%06d.jpg from 1, CSVs, frame lists).

    python data_prep/ava.py lists --frame-dir F --annotation-dir A --out FRAME_LIST_DIR [--splits train val]
    python data_prep/ava.py check --frame-dir F --frame-list-dir L --annotation-dir A \
        [--num-frames 16 --sampling-rate 4 --fps 30 --start-sec 900] [--score-thresh 0.9] [--out REPORT_DIR]
    python data_prep/ava.py convert-proposals --pkl IN.pkl --out OUT.csv [--score-thresh 0]
    python data_prep/ava.py own-videos --videos DIR_OR_LIST --annotations CSV --out ROOT \
        [--val-videos v1,v2 | --val-fraction 0.2] [--fps 30] [--workers N]

lists: frame lists {out}/{train,val}.csv for the movies of ava_{split}_v2.2.csv, from the frames on disk (1..n
  contiguous; a gap ends a movie there). Movies left out or cut short: {out}/frame_problems.csv.
check: every problem, one line per kind, one CSV per kind in --out (default {annotation_dir}/check) and
  summary.json. Exit 0: clean or warnings only; 1: data would be lost (missing files / movies, frames missing from a
  keyframe's clip, keyframes outside the frames, malformed rows).
convert-proposals: MMAction2 pickles {'vid,0902': N x 5 [x1,y1,x2,y2,score]} (normalised) -> rows
  vid,0902,x1,y1,x2,y2,,score. The pickle is read with an unpickler that allows only NumPy arrays: any other global
  (a pickle that would run code) is refused, nothing runs. N x 4 arrays get score 1.0 (MMAction2 keeps them all).
own-videos: your videos + a CSV 'video,second,x1,y1,x2,y2,action' (video = file name without extension; second from
  the first frame; boxes in pixels or normalised: any value > 1 means pixels) -> ROOT/frames, ROOT/frame_lists,
  ROOT/annotations (GT, label map, proposals = GT boxes at score 1.0, empty exclusions) and the config overrides
  (printed and in ROOT/config_overrides.txt). Split by video.

Input problems print one 'error: ...' line (file:line for a bad row) and exit 2.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.ava import (SPLITS, check_ava, convert_proposals, prepare_own_videos,  # noqa: E402
                                  write_ava_frame_lists)
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import run_cli  # noqa: E402


def _lists(args) -> int:
    check_output_dir(args.out, "the frame list folder")
    results = write_ava_frame_lists(args.frame_dir, args.annotation_dir, args.out, args.splits)
    for result in results.values():
        print(result.line())
        for p in result.problems[:5]:
            print(f"  {p.video_id}: {p.problem()[1]}")
    problems = sum(len(r.problems) for r in results.values())
    print(f"lists in {args.out}" + (f"; {problems} movies left out or cut short: see "
                                     f"{os.path.join(args.out, 'frame_problems.csv')}" if problems else ""))
    return 0


def _check(args) -> int:
    report = check_ava(args.frame_dir, args.frame_list_dir, args.annotation_dir, args.num_frames, args.sampling_rate,
                       args.fps, args.start_sec, args.score_thresh, args.out)
    print("\n".join(report.summary_lines()))
    print(f"report: {os.path.join(report.out_dir, 'summary.json')}")
    return 1 if report.errors else 0


def _convert(args) -> int:
    check_output_dir(os.path.dirname(os.path.abspath(args.out)), "the output folder")
    print(convert_proposals(args.pkl, args.out, args.score_thresh).line(args.out))
    return 0


def _own(args) -> int:
    check_output_dir(args.out, "the output folder")
    val_videos = [v.strip() for v in args.val_videos.split(",") if v.strip()] if args.val_videos else None
    result = prepare_own_videos(args.videos, args.annotations, args.out, val_videos, args.val_fraction, args.fps,
                                args.workers)
    print("\n".join(result.lines()))
    print(f"check it: python data_prep/ava.py check --frame-dir {result.root}/frames --frame-list-dir "
          f"{result.root}/frame_lists --annotation-dir {result.root}/annotations --fps {args.fps} --start-sec 0")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of input errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("lists", help="frame folders -> PySlowFast frame lists")
    p.add_argument("--frame-dir", required=True, help="AVA.FRAME_DIR: {vid}/{vid}_%%06d.jpg")
    p.add_argument("--annotation-dir", required=True, help="holds ava_{split}_v2.2.csv")
    p.add_argument("--out", required=True, metavar="FRAME_LIST_DIR", help="where {split}.csv are written")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    p.set_defaults(run=_lists)

    p = sub.add_parser("check", help="report every problem of an AVA-format dataset (exit 1 if data would be lost)")
    p.add_argument("--frame-dir", required=True)
    p.add_argument("--frame-list-dir", required=True)
    p.add_argument("--annotation-dir", required=True)
    p.add_argument("--num-frames", type=int, default=16, help="DATA.NUM_FRAMES (default 16)")
    p.add_argument("--sampling-rate", type=int, default=4, help="DATA.SAMPLING_RATE in frames (default 4)")
    p.add_argument("--fps", type=float, default=30, help="DATA.FRAME_FPS of the frames (default 30)")
    p.add_argument("--start-sec", type=float, default=900, help="AVA.FRAME_START_SEC (900 for AVA, 0 own videos)")
    p.add_argument("--score-thresh", type=float, default=0.9, help="AVA.DETECTION_SCORE_THRESH (default 0.9)")
    p.add_argument("--out", default=None, metavar="REPORT_DIR", help="default {annotation_dir}/check")
    p.set_defaults(run=_check)

    p = sub.add_parser("convert-proposals", help="MMAction2 proposal pickle -> PySlowFast proposal CSV (safe: "
                       "only NumPy arrays are unpickled, any other global is refused and nothing runs)")
    p.add_argument("--pkl", required=True, metavar="IN.pkl", help="{'vid,%%04d': N x 5 [x1,y1,x2,y2,score]}")
    p.add_argument("--out", required=True, metavar="OUT.csv")
    p.add_argument("--score-thresh", type=float, default=0.0, help="drop boxes below it (default 0: keep all)")
    p.set_defaults(run=_convert)

    p = sub.add_parser("own-videos", help="your videos + a box CSV -> an AVA-format dataset")
    p.add_argument("--videos", required=True, metavar="DIR_OR_LIST")
    p.add_argument("--annotations", required=True, metavar="CSV", help="header video,second,x1,y1,x2,y2,action")
    p.add_argument("--out", required=True, metavar="ROOT")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--val-videos", default=None, metavar="V1,V2", help="the val videos (comma-separated ids)")
    group.add_argument("--val-fraction", type=float, default=0.2, help="else this share of the videos (default 0.2)")
    p.add_argument("--fps", type=int, default=30, help="frames per second to extract = DATA.FRAME_FPS (default 30)")
    p.add_argument("--workers", type=int, default=0, help="extraction processes (default 0: this process)")
    p.set_defaults(run=_own)

    args = parser.parse_args(argv)
    return run_cli(lambda: args.run(args), debug=args.debug, also=(FileNotFoundError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
