#!/usr/bin/env python
"""Decode-check every video of a Kinetics-format list (a report: bad videos never fail the run).

    python data_prep/validate.py LIST [--prefix DATA.PATH_PREFIX] [--separator SEP]
        [--backend pyav|decord|torchcodec] [--workers N] [--out DIR] [--clean OUT_LIST]

Each video is opened, its real frame count taken and its first, middle and last frame
decoded (a decord failure is retried with PyAV, as training does). Writes DIR/bad_videos.csv
(path,error; DIR defaults to the list's folder), DIR/video_info.csv (fps, frames, size of
every video) and, with --clean, OUT_LIST holding only the good lines, unchanged and in order.
Prints "N videos: a ok, b failed". Exit code 0 even when videos are bad; 2 for bad input
(missing list, unknown backend).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.data.decoding import BACKENDS  # noqa: E402
from hiera_video.prep.validate import validate_list, write_reports  # noqa: E402
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("list", help="Kinetics-format list (path label per line)")
    parser.add_argument("--prefix", default="", help="joined to relative paths (DATA.PATH_PREFIX)")
    parser.add_argument("--separator", default="",
                        help="DATA.PATH_LABEL_SEPARATOR (default '': a comma or whitespace)")
    parser.add_argument("--backend", default="pyav", choices=BACKENDS)
    parser.add_argument("--workers", type=int, default=2, help="decoding processes (0: this process; default 2)")
    parser.add_argument("--out", default=None, metavar="DIR", help="report folder (default: the list's folder)")
    parser.add_argument("--clean", default=None, metavar="OUT_LIST", help="write the good lines to this list")
    args = parser.parse_args(argv)
    try:
        if args.out:
            check_output_dir(args.out, "--out")
        results = validate_list(args.list, args.prefix, args.separator, args.backend, args.workers)
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    out_dir = args.out or os.path.dirname(os.path.abspath(args.list))
    written = write_reports(results, out_dir, args.clean)
    ok = sum(r.status == "ok" for r in results)
    print(f"{len(results)} videos: {ok} ok, {len(results) - ok} failed")
    print("wrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
