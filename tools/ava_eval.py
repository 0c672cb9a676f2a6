#!/usr/bin/env python
"""Score AVA action detections: frame-mAP@0.5 with the ActivityNet evaluator's rules, in seconds.

    python tools/ava_eval.py --gt ava_val_v2.2.csv --detections detections.csv \\
        --label-map ava_action_list_v2.2_for_activitynet_2019.pbtxt \\
        [--exclusions ava_val_excluded_timestamps_v2.2.csv] [--max-detections-per-frame 50] [--out OUT.json]

``--detections`` is ``video_id,timestamp,x1,y1,x2,y2,action_id,score`` per row (what ``tools/run_net.py`` writes to
``OUTPUT_DIR/test/detections.csv`` and PySlowFast's ``detections_latest.csv`` holds); ``--gt`` the AVA ground truth
CSV; ``--label-map`` either pbtxt dialect (``label { label_id }`` or ``item { id }``) and only its classes are scored.
``--max-detections-per-frame`` keeps the N highest-scoring rows per keyframe across classes, as the ActivityNet
script's reader does (its heap: with tied scores the smallest ``(score, action_id, y1, x1, y2, x2)`` tuple goes first);
the script uses 50 for detections, the default 0 keeps all, as PySlowFast and MMAction2 compute the published numbers.
Tied scores are ordered as the ActivityNet script orders them, so its numbers come out on any file (PySlowFast writes
scores with ``%.04f``: most rows tie).

Prints one line (mAP, classes, keyframes, the three group mAPs); ``--out`` writes JSON: ``mAP`` (percent),
``per_class`` (``{id, name, AP, num_gt, num_detections}``, AP ``null`` for a class without ground truth), ``groups``
(``person_movement``, ``object_manipulation``, ``person_interaction``), ``num_keyframes``, ``num_detection_rows``
and the inputs. The rules are listed in ``hiera_video/evaluation/ava_map.py``. A malformed row is one ``error:``
line naming ``file:line`` (exit status 2).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gt", required=True, help="ground-truth CSV (video_id,timestamp,x1,y1,x2,y2,action_id"
                                                    "[,person_id])")
    parser.add_argument("--detections", required=True, help="detections CSV (...,action_id,score)")
    parser.add_argument("--label-map", required=True, help="AVA label map (.pbtxt)")
    parser.add_argument("--exclusions", default=None, help="excluded timestamps CSV (video_id,timestamp)")
    parser.add_argument("--max-detections-per-frame", type=int, default=0, metavar="N",
                        help="keep the N highest-scoring rows per keyframe (0: all)")
    parser.add_argument("--out", default=None, help="write the JSON report here")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input errors too")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


def _run(args) -> int:
    from hiera_video.data.ava import read_box_csv, read_exclusions, read_label_map
    from hiera_video.data.ava.suspicious import suspicious_rows
    from hiera_video.evaluation.ava_map import frame_map
    from hiera_video.utils.atomic import atomic_write_text, check_output_file
    from hiera_video.utils.errors import ConfigError

    if args.max_detections_per_frame < 0:
        raise ConfigError(f"--max-detections-per-frame must be >= 0, got {args.max_detections_per_frame}")
    if args.out:  # before the scoring, so that a bad --out never costs a run's result
        check_output_file(args.out, "--out")
    start = time.perf_counter()
    labels = read_label_map(args.label_map)
    gt = read_box_csv(args.gt, "groundtruth")
    det = read_box_csv(args.detections, "detections")
    for table, kind in ((gt, "groundtruth"), (det, "detections")):  # legal but suspicious: said, then scored
        for line in suspicious_rows(table.rows, table.path, kind, labels.ids):
            print(f"warning: {line}", file=sys.stderr)
    excluded = read_exclusions(args.exclusions) if args.exclusions else set()
    result = frame_map(gt.rows, det.rows, labels.ids, excluded=excluded,
                       max_detections_per_frame=args.max_detections_per_frame)
    seconds = time.perf_counter() - start
    summary = result.summary(labels.names)
    summary.update({"groundtruth": args.gt, "detections": args.detections, "label_map": args.label_map,
                    "exclusions": args.exclusions, "max_detections_per_frame": args.max_detections_per_frame,
                    "num_classes": len(labels.ids), "num_classes_with_gt": int((result.num_gt > 0).sum()),
                    "seconds": round(seconds, 3)})
    if args.out:
        atomic_write_text(args.out, json.dumps(summary, indent=1))

    def pct(x):
        return "n/a" if x is None else f"{x:.2f}%"

    groups = ", ".join(f"{k.replace('_', ' ')} {pct(v)}" for k, v in summary["groups"].items())
    print(f"frame-mAP@0.5 {pct(summary['mAP'])} over {summary['num_classes_with_gt']} of {summary['num_classes']} "
          f"classes with ground truth, {summary['num_keyframes']} keyframes, {summary['num_detection_rows']} "
          f"detection rows ({groups}) in {seconds:.1f} s" + (f"; wrote {args.out}" if args.out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
