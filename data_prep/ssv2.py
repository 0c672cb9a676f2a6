#!/usr/bin/env python
"""Write Kinetics-format lists for Something-Something-v2 from the official JSON files.

    python data_prep/ssv2.py --labels something-something-v2-labels.json \
        --train something-something-v2-train.json --val something-something-v2-validation.json \
        --videos ROOT --out OUT_DIR [--ext webm]

Labels: {template: "id"} (174 classes). Train/validation: lists of {"id", "label", "template",
"placeholders"}; the label id is found by stripping "[" and "]" from "template". Clips are
ROOT/{id}.{ext}.

Writes OUT_DIR/{train,val}.csv ("{id}.{ext} label", paths relative to ROOT: set DATA.PATH_PREFIX
to ROOT), OUT_DIR/classes.json ({template: id}) and OUT_DIR/missing.csv (annotated clips with no
file). Entries whose template is not in the labels file are skipped and counted. Files are
replaced atomically. Exit code 2 on bad input.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.data.ssv2_prep import prepare_ssv2
from hiera_video.data.lists import prepared_lists_summary  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", required=True, help="something-something-v2-labels.json")
    parser.add_argument("--train", required=True, help="something-something-v2-train.json")
    parser.add_argument("--val", required=True, help="something-something-v2-validation.json")
    parser.add_argument("--videos", required=True, metavar="ROOT", help="folder holding {id}.{ext}")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where the lists are written")
    parser.add_argument("--ext", default="webm", help="video extension (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        result = prepare_ssv2(args.labels, {"train": args.train, "val": args.val}, args.videos, args.out, args.ext)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(prepared_lists_summary(result.stats, len(result.classes), args.out, args.videos))
    return 0


if __name__ == "__main__":
    sys.exit(main())
