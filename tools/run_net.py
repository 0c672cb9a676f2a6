#!/usr/bin/env python
"""Train and/or multi-view test a Hiera video model, PySlowFast style.

    python tools/run_net.py --cfg configs/k400/hiera_l.yaml [KEY VALUE ...]
    python tools/run_net.py --cfg FILE --opts KEY VALUE ...
    torchrun --nproc_per_node 8 tools/run_net.py --cfg FILE NUM_GPUS 1

``TRAIN.ENABLE`` and ``TEST.ENABLE`` (both on by default) pick the phases.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.config import ConfigKeyError, load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_file", required=True, help="YAML config (may use _BASE_)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides")
    args, rest = parser.parse_known_args(argv)
    if any(r.startswith("--") for r in rest[::2]):
        parser.error(f"unrecognised arguments: {rest}")
    args.overrides = list(rest) + list(args.opts)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        cfg = load_config(args.cfg_file, args.overrides)
    except (ConfigKeyError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from hiera_video.data.bad_videos import TooManyBadVideosError
    from hiera_video.data.decoding import BackendUnavailableError
    from hiera_video.data.lists import ListFormatError
    from hiera_video.engine.runner import run
    from hiera_video.models import CheckpointError

    try:
        result = run(cfg)
    except (ListFormatError, TooManyBadVideosError, CheckpointError, FileNotFoundError,
            BackendUnavailableError) as e:
        # Input problems get one clear line, not a traceback; everything written so far stays.
        print(f"error: {e}", file=sys.stderr)
        return 1
    report = result["test_report"]
    is_main = int(os.environ.get("RANK", "0")) == 0  # torchrun: one summary line, from rank 0
    if is_main and report is not None and report.get("top1") is not None:
        print(f"top-1 {report['top1']:.2f}% (top-5 {report['top5']:.2f}%) on {report['num_videos']} videos "
              f"x {report['num_views']} views; report: {report['report_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
