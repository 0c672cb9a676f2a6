#!/usr/bin/env python
"""Write Kinetics-format lists for a folder of class sub-folders.

    python data_prep/folder_to_list.py VIDEOS_ROOT OUT_DIR [--split 0.8 0.1 0.1] [--seed 0]

VIDEOS_ROOT/{class_name}/{video} -> OUT_DIR/{train,val,test}.csv (``path label``, paths relative
to VIDEOS_ROOT: set DATA.PATH_PREFIX to it) and OUT_DIR/classes.json (sorted class names -> label).
A fraction of 1.0 puts every video in that split (e.g. ``--split 1 0 1`` for a demo that trains
and tests on the same files).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.folders import scan_class_folders, split_per_class, write_kinetics_lists  # noqa: E402
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos_root")
    parser.add_argument("out_dir")
    parser.add_argument("--split", type=float, nargs=3, default=(0.8, 0.1, 0.1), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out_dir, "the output folder")
        classes = scan_class_folders(args.videos_root)
        splits = split_per_class(classes, tuple(args.split), seed=args.seed)
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    sep = write_kinetics_lists(args.out_dir, splits, sorted(classes))
    counts = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    hint = " DATA.PATH_LABEL_SEPARATOR ','" if sep == "," else ""
    print(f"{len(classes)} classes, {sum(len(v) for v in classes.values())} videos -> {args.out_dir} ({counts}); "
          f"set DATA.PATH_TO_DATA_DIR {args.out_dir} DATA.PATH_PREFIX {os.path.abspath(args.videos_root)}{hint}")
    if sep == ",":
        print("paths contain spaces: the lists are comma-separated (path,label)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
