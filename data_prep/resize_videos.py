#!/usr/bin/env python
"""Re-encode every video under IN_ROOT to a smaller short side with a short GOP (PyAV).

    python data_prep/resize_videos.py IN_ROOT OUT_ROOT [--short-side 320] [--gop 16] [--codec libx264]
        [--crf 23] [--preset veryfast] [--workers 2] [--extensions .mp4 .avi ...] [--keep-ext] [--use-ffmpeg]

OUT_ROOT mirrors IN_ROOT (same relative paths; extension .mp4 unless --keep-ext). The short side
becomes exactly --short-side pixels, the long side keeps the aspect ratio (rounded to an even
number); a video already at or below --short-side is re-encoded at its own size (never upscaled).
Frame count and average frame rate are kept (output frame k has pts k at the input's average fps).
--gop is the keyframe interval in frames. AUDIO (and subtitles, data streams) IS DROPPED.

Resumable: an output that exists, is non-empty and decodes its first frame is skipped; outputs are
written to a temp file and renamed, so an interrupted run never leaves a half-written file. Files
that fail (corrupt input, ...) are listed in OUT_ROOT/resize_failed.csv (path,error) and the run goes
on; the exit status is 0 unless the arguments are wrong (2).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.folders import VIDEO_EXTENSIONS
from hiera_video.prep.resize import FAILED_CSV, resize_tree
from hiera_video.utils.parallel import summarize
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("in_root", help="folder of videos (searched recursively)")
    parser.add_argument("out_root", help="output folder (mirrors IN_ROOT)")
    parser.add_argument("--short-side", type=int, default=320, help="output short side in pixels (even; default 320)")
    parser.add_argument("--gop", type=int, default=16, help="keyframe interval in frames (0: encoder default)")
    parser.add_argument("--codec", default="libx264", help="FFmpeg encoder (default libx264)")
    parser.add_argument("--crf", type=float, default=23, help="constant rate factor, libx264/libx265 only")
    parser.add_argument("--preset", default="veryfast", help="x264/x265 preset (default veryfast)")
    parser.add_argument("--workers", type=int, default=2, help="processes (0: run in this process)")
    parser.add_argument("--extensions", nargs="+", default=list(VIDEO_EXTENSIONS), help="video file extensions")
    parser.add_argument("--keep-ext", action="store_true", help="keep each input's extension/container")
    parser.add_argument("--use-ffmpeg", action="store_true", help="encode with the ffmpeg binary (error if absent)")
    args = parser.parse_args(argv)
    try:
        check_output_dir(args.out_root, "the output folder")
        results = resize_tree(args.in_root, args.out_root, short_side=args.short_side, gop=args.gop or None,
                              codec=args.codec, crf=args.crf, preset=args.preset, workers=args.workers,
                              extensions=args.extensions, keep_ext=args.keep_ext, use_ffmpeg=args.use_ffmpeg)
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    print(summarize(results, "videos"))
    for r in results:
        if r.status == "failed":
            print(f"  failed: {r.item}: {r.error}", file=sys.stderr)
    if any(r.status == "failed" for r in results):
        print(f"failures listed in {os.path.join(args.out_root, FAILED_CSV)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
