#!/usr/bin/env python
"""Extract JPEG frames at a fixed frame rate (PyAV decoding), optionally with a PySlowFast frame list.

    python data_prep/extract_frames.py IN_ROOT_OR_LIST OUT_ROOT [--fps 30] [--start-sec S] [--end-sec E]
        [--ava] [--quality 90] [--workers 2] [--frame-list OUT_CSV] [--labels-from-list LIST]

IN_ROOT_OR_LIST: a folder (searched recursively for videos) or a list file (``path [label]`` per
line, relative paths joined to --path-prefix, default the list's folder). Frames go to
OUT_ROOT/{video_id}/{video_id}_{k:06d}.jpg, k = 1, 2, ...; video_id = file name without extension.

Time mapping: file k (frame_id k - 1) is the source frame nearest to start + (k - 1) / fps seconds
(source frame j at j / source_fps; ties to the later frame); frames are written while that time is
before --end-sec (default: the video's end). --ava = --fps 30 --start-sec 900 --end-sec 1800, so the
AVA keyframe at second s is frame_id (s - 900) * 30, file number (s - 900) * 30 + 1.

Resumable: a video whose folder already has the expected number of frames is skipped. Failures are
listed in OUT_ROOT/extract_failed.csv (path,error) and the run goes on (exit 0; 2 for bad arguments).
--frame-list writes ``original_vido_id video_id frame_id path labels`` rows (space-separated, paths
relative to OUT_ROOT, labels "" or the video's labels from --labels-from-list joined by commas).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.folders import VIDEO_EXTENSIONS
from hiera_video.prep.extract_frames import AVA_PRESET, FAILED_CSV, extract_tree
from hiera_video.utils.parallel import summarize
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="IN_ROOT_OR_LIST", help="folder of videos or a list file")
    parser.add_argument("out_root", metavar="OUT_ROOT")
    parser.add_argument("--fps", type=float, default=None, help="output frames per second (default 30)")
    parser.add_argument("--start-sec", type=float, default=None, help="window start in seconds (default 0)")
    parser.add_argument("--end-sec", type=float, default=None, help="window end in seconds (default: video end)")
    parser.add_argument("--ava", action="store_true", help="AVA preset: fps 30, seconds 900-1800 (explicit flags win)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    parser.add_argument("--workers", type=int, default=2, help="processes (0: run in this process)")
    parser.add_argument("--extensions", nargs="+", default=list(VIDEO_EXTENSIONS), help="video extensions (folders)")
    parser.add_argument("--path-prefix", default=None, help="prefix for relative paths in a list input")
    parser.add_argument("--frame-list", default=None, metavar="OUT_CSV", help="write a PySlowFast frame list here")
    parser.add_argument("--labels-from-list", default=None, metavar="LIST", help="Kinetics list 'path label'")
    args = parser.parse_args(argv)
    preset = dict(AVA_PRESET) if args.ava else {"fps": 30, "start_sec": 0.0, "end_sec": None}
    for key in ("fps", "start_sec", "end_sec"):
        if getattr(args, key) is not None:
            preset[key] = getattr(args, key)
    try:
        check_output_dir(args.out_root, "the output folder")
        results = extract_tree(args.input, args.out_root, quality=args.quality, workers=args.workers,
                               extensions=args.extensions, path_prefix=args.path_prefix, frame_list=args.frame_list,
                               labels_from_list=args.labels_from_list, **preset)
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    print(summarize(results, "videos"))
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"  failed: {r.item}: {r.error}", file=sys.stderr)
    if failed:
        print(f"failures listed in {os.path.join(args.out_root, FAILED_CSV)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
