#!/usr/bin/env python
r"""Write PySlowFast lists for Kinetics-400/600/700 from the official annotation CSVs.

    python data_prep/kinetics.py --annotations DIR_OR_FILES... --videos ROOT --out OUT_DIR \
        [--extensions mp4 webm mkv avi] [--workers N]

Annotations: the official CSVs (label,youtube_id,time_start,time_end,split[,is_cc]), given as
files or as a folder holding train.csv / validate.csv / test.csv. Clips: files named
{youtube_id}_{time_start:06d}_{time_end:06d}.{ext} anywhere under ROOT (flat or in class folders).

Writes OUT_DIR/{train,val,test}.csv ("path label", paths relative to ROOT: set DATA.PATH_PREFIX
to ROOT), OUT_DIR/classes.json (sorted train class names -> label) and OUT_DIR/missing.csv (every
annotated clip with no file). Files are replaced atomically; re-running gives identical output.
When a path contains a space the lists are comma-separated: set DATA.PATH_LABEL_SEPARATOR ",".
Rows without a label (label-less test CSVs) are skipped and counted. Exit code 2 on bad input.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.kinetics import DEFAULT_EXTENSIONS, prepare_kinetics  # noqa: E402
from hiera_video.prep.stats import prepared_lists_summary  # noqa: E402
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotations", nargs="+", required=True, metavar="DIR_OR_FILE",
                        help="official annotation CSV files and/or folders holding them")
    parser.add_argument("--videos", required=True, metavar="ROOT", help="folder of downloaded clips")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where the lists are written")
    parser.add_argument("--extensions", nargs="+", default=list(DEFAULT_EXTENSIONS),
                        help="video extensions, in order of preference (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=0,
                        help="processes scanning the top-level folders of ROOT (default: 0, this process)")
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out, "the output folder")
        result = prepare_kinetics(args.annotations, args.videos, args.out, args.extensions, args.workers)
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    print(prepared_lists_summary(result.stats, len(result.classes), args.out, args.videos, result.separator))
    return 0


if __name__ == "__main__":
    sys.exit(main())
