#!/usr/bin/env python
"""Point a video classifier at videos: top classes per video, predictions over time, a timeline PNG, an MP4.

    python tools/demo_net.py --cfg configs/quickstart/hiera_tiny.yaml --input VIDEO [KEY VALUE ...]
    python tools/demo_net.py --model hiera_base_16x224 --input videos/            # official K400 weights
    python tools/demo_net.py --model hiera_base_16x224 --checkpoint hf-hub:ORG/NAME --input 'clips/*.mp4'
    python tools/demo_net.py --cfg configs/ava/hiera_l.yaml --checkpoint AVA.pyth --input VIDEO --proposals P.csv

``--cfg`` takes a training config (its model, data settings, test views and newest checkpoint in OUTPUT_DIR, or
``--checkpoint`` / ``TEST.CHECKPOINT_FILE_PATH``) with trailing ``KEY VALUE`` overrides; ``--model NAME`` takes the
official weights of that model, or ``--checkpoint PATH|URL|hf-hub:ID``, whose recorded settings decide the input.
Written under ``--output`` (default ``output/demo``): ``predictions.csv`` (video,start_s,end_s,rank,class,
probability per sliding window), ``video_predictions.csv`` (the multi-view ensemble's top-k per video), a
``{video}_timeline.png`` per video, ``{video}_labels.mp4`` with ``--output-video``, and ``summary.json``. A video
that cannot be read is reported and skipped. An input problem prints one ``error: ...`` line and exits with 2.

With a ``TASK detection`` config (AVA mode) the actions of each person are predicted at keyframes: person boxes
from ``--proposals CSV`` (PySlowFast's layout; ``video_id`` = the video's file name without extension, ``timestamp``
= seconds) or from torchvision's COCO person detector (``--person-detector``, boxes scoring at least
``--det-score-thresh`` on each keyframe's middle frame, keyframes every ``--keyframe-stride`` seconds); written:
AVA-format ``detections.csv``, ``persons.csv``, ``summary.json`` and, with ``--output-video``,
``{video}_actions.mp4``.
"""

import argparse
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.utils.cli import run_cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", dest="cfg_file", help="training config (YAML, may use _BASE_)")
    parser.add_argument("--model", help="a registered classifier, e.g. hiera_base_16x224")
    parser.add_argument("--checkpoint", help="weights: file, save_pretrained folder, URL or hf-hub:ORG/NAME")
    parser.add_argument("--input", nargs="+", required=True, help="video files, folders or globs")
    parser.add_argument("--labels", help="class names: one per line, a JSON list or a {name: id} JSON")
    parser.add_argument("--output", default="output/demo", help="folder for everything written")
    parser.add_argument("--topk", type=int, default=5, help="classes listed per video and per window")
    parser.add_argument("--window-stride", type=float, default=1.0, help="seconds between window starts")
    parser.add_argument("--views", type=int, nargs=2, metavar=("TEMPORAL", "SPATIAL"),
                        help="whole-video views (default the config's TEST.NUM_ENSEMBLE_VIEWS x NUM_SPATIAL_CROPS)")
    parser.add_argument("--output-video", action="store_true", help="write {video}_labels.mp4 with the labels")
    ava = parser.add_argument_group("AVA mode (a TASK detection config)")
    ava.add_argument("--proposals", help="person boxes: an AVA-format proposals CSV")
    ava.add_argument("--person-detector", default="fasterrcnn_resnet50_fpn_v2",
                     help="torchvision COCO detector for person boxes when no --proposals")
    ava.add_argument("--detector-weights", help="its weights file (default: torchvision's file in torch.hub's cache)")
    ava.add_argument("--det-score-thresh", type=float, default=0.9, help="minimum person score (detector or CSV)")
    ava.add_argument("--keyframe-stride", type=int, default=1, help="seconds between keyframes (detector)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda[:N]")
    parser.add_argument("--batch-size", type=int, default=8, help="clips per forward pass")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input errors too")
    args, rest = parser.parse_known_args(argv)
    if any(r.startswith("--") for r in rest[::2]):
        parser.error(f"unrecognised arguments: {rest}")
    if rest and not args.cfg_file:
        parser.error(f"KEY VALUE overrides need --cfg: {rest}")
    if not (args.cfg_file or args.model or args.checkpoint):
        parser.error("give --cfg FILE, --model NAME or --checkpoint PATH")
    args.overrides = list(rest)
    return args


def demo(args) -> dict:
    """Run the demo ``args`` describe (``parse_args``); returns ``summary.json``'s content."""
    from hiera_video.config import load_config
    from hiera_video.demo import load_predictor, run_demo

    cfg = load_config(args.cfg_file, args.overrides) if args.cfg_file else None
    if cfg is not None and cfg.TASK == "detection":
        return _ava_demo(args, cfg)
    predictor = load_predictor(cfg, model_name=args.model, checkpoint=args.checkpoint, labels_file=args.labels,
                               device=args.device, views=args.views)
    backend = cfg.DATA.DECODING_BACKEND if cfg is not None else "pyav"
    return run_demo(predictor, args.input, output_dir=args.output, window_stride=args.window_stride,
                    topk=args.topk, output_video=args.output_video, backend=backend, batch_size=args.batch_size)


def _ava_demo(args, cfg) -> dict:
    from hiera_video.demo import load_action_predictor, read_proposals, run_ava_demo, torchvision_person_detector

    predictor = load_action_predictor(cfg, checkpoint=args.checkpoint, device=args.device)
    persons = detector = None
    if args.proposals:
        persons = read_proposals(args.proposals, args.det_score_thresh)
    else:
        detector = torchvision_person_detector(args.person_detector, args.detector_weights, args.det_score_thresh,
                                               device=str(predictor.device))
    return run_ava_demo(predictor, args.input, persons=persons, detector=detector, output_dir=args.output,
                        keyframe_stride=args.keyframe_stride, output_video=args.output_video,
                        backend=cfg.DATA.DECODING_BACKEND)


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    def _run() -> int:
        from hiera_video.demo import first_line
        from hiera_video.utils.errors import DataError

        summary = demo(args)
        for v in summary["videos"]:
            if "topk" in v:
                top = ", ".join(f"{t['class']} {t['probability']:.3f}" for t in v["topk"][:3])
                print(f"{v['video']}: {top}")
            else:
                print(f"{v['video']}: {v['num_persons']} person boxes at {v['num_keyframes']} keyframes")
        print(first_line(summary))
        if summary["failed"] and not summary["videos"]:  # nothing to show: fail, naming the first reason
            first = summary["failed"][0]
            raise DataError(f"every input failed ({len(summary['failed'])}); first: {first['path']}: "
                            f"{first['error']}")
        return 0

    return run_cli(_run, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
