#!/usr/bin/env python
"""Train and/or multi-view test a Hiera video model, PySlowFast style.

    python tools/run_net.py --cfg configs/k400/hiera_l.yaml [KEY VALUE ...]
    python tools/run_net.py --cfg FILE --opts KEY VALUE ...
    torchrun --nproc_per_node 8 tools/run_net.py --cfg FILE NUM_GPUS 1

``TRAIN.ENABLE`` and ``TEST.ENABLE`` (both on by default) pick the phases. An input problem (config key or
value, list line, videos, weights file, environment) prints one line, ``error: ...``, and exits with status 2;
``--debug`` (or ``HIERA_VIDEO_DEBUG=1``) shows its traceback.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.config import load_config  # noqa: E402
from hiera_video.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_file", required=True, help="YAML config (may use _BASE_)")
    parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], help="KEY VALUE overrides")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of input errors too (also: HIERA_VIDEO_DEBUG=1)")
    args, rest = parser.parse_known_args(argv)
    if any(r.startswith("--") for r in rest[::2]):
        parser.error(f"unrecognised arguments: {rest}")
    args.overrides = list(rest) + list(args.opts)
    return args


def main(argv=None) -> int:
    """Exit status 0, or 2 for an input problem (config, list, data, weights, environment: one line on stderr,
    ``hiera_video.utils.errors``); bugs keep their traceback."""
    args = parse_args(argv)
    return run_cli(lambda: _run(args), debug=args.debug)


def _run(args) -> int:
    cfg = load_config(args.cfg_file, args.overrides)

    from hiera_video.engine.runner import run

    result = run(cfg)
    report = result["test_report"]
    is_main = int(os.environ.get("RANK", "0")) == 0  # torchrun: one summary line, from rank 0
    if is_main and report is not None:
        print(f"{report['summary']}; report: {report['report_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
