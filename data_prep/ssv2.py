#!/usr/bin/env python
r"""Write lists for Something-Something-v2 from the official JSON files: video lists or frame lists.

    python data_prep/ssv2.py --labels something-something-v2-labels.json \
        --train something-something-v2-train.json --val something-something-v2-validation.json \
        (--videos ROOT [--ext webm] | --frames FRAMES_ROOT) --out OUT_DIR

Labels: {template: "id"} (174 classes). Train/validation: lists of {"id", "label", "template",
"placeholders"}; the label id is found by stripping "[" and "]" from "template". Entries whose
template is not in the labels file are skipped and counted.

--videos ROOT: clips are ROOT/{id}.{ext}. Writes OUT_DIR/{train,val}.csv ("{id}.{ext} label" per
line, paths relative to ROOT: set DATA.PATH_PREFIX to ROOT).

--frames FRAMES_ROOT: clips are JPEG frames FRAMES_ROOT/{id}/{id}_{k:06d}.jpg, k = 1..n (as
data_prep/extract_frames.py writes them). Writes OUT_DIR/{train,val}.csv as PySlowFast frame lists:
header "original_vido_id video_id frame_id path labels", space-separated, one row per frame (clip id,
0-based clip index in the list, 0-based frame index, path relative to FRAMES_ROOT, class id); set
DATA.PATH_PREFIX to FRAMES_ROOT and DATA.INPUT_FORMAT frames. A clip with no frame folder, an empty
one or a hole in its frame numbers is not listed.

Both modes also write OUT_DIR/classes.json ({template: id}) and OUT_DIR/missing.csv
(split,id,template,expected: annotated clips not found; expected = the file looked for, in frame
mode the first absent frame). Files are replaced atomically; nothing is written when an input is
bad. Prints one line per split (found, missing, annotated) and the config keys to set. Exit code
2 on bad input.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.prep.stats import prepared_lists_summary  # noqa: E402
from hiera_video.prep.ssv2 import prepare_ssv2, prepare_ssv2_frames  # noqa: E402
from hiera_video.utils.atomic import check_output_dir  # noqa: E402
from hiera_video.utils.cli import report_input_error  # noqa: E402
from hiera_video.utils.errors import InputError  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", required=True, help="something-something-v2-labels.json")
    parser.add_argument("--train", required=True, help="something-something-v2-train.json")
    parser.add_argument("--val", required=True, help="something-something-v2-validation.json")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--videos", metavar="ROOT", help="folder holding {id}.{ext}: write video lists")
    source.add_argument("--frames", metavar="FRAMES_ROOT",
                        help="folder holding {id}/{id}_{k:06d}.jpg: write PySlowFast frame lists")
    parser.add_argument("--out", required=True, metavar="OUT_DIR", help="where the lists are written")
    parser.add_argument("--ext", default=None, help="video extension, with --videos (default: webm)")
    args = parser.parse_args(argv)
    if args.frames is not None and args.ext is not None:
        parser.error("--ext applies to --videos only")
    splits = {"train": args.train, "val": args.val}
    try:
        check_output_dir(args.out, "the output folder")
        if args.frames is not None:
            result = prepare_ssv2_frames(args.labels, splits, args.frames, args.out)
        else:
            result = prepare_ssv2(args.labels, splits, args.videos, args.out, args.ext or "webm")
    except (InputError, FileNotFoundError, ValueError) as e:
        return report_input_error(e)
    print(prepared_lists_summary(result.stats, len(result.classes), args.out, args.frames or args.videos))
    if result.input_format == "frames":
        print("frame lists (original_vido_id video_id frame_id path labels): set DATA.INPUT_FORMAT frames")
    return 0


if __name__ == "__main__":
    sys.exit(main())
