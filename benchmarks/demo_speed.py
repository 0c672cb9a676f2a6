"""``tools/demo_net.py``'s speed: videos/s for a 10-second clip, against the model alone on the same clips.

What is measured: ``hiera_base_16x224`` (random weights written with ``save_pretrained``: the speed does not depend
on them; the demo loads them as ``--model hiera_base_16x224 --checkpoint FOLDER``) on a ``--seconds`` long 30 fps
H.264 clip of ``--height`` x ``--width`` pixels that this script writes, through ``hiera_video.demo.run_demo``
(the whole-video 5 x 3 views decoded in one pass, sliding windows every ``--window-stride`` seconds, the timeline
PNG; ``--output-video`` adds the labelled MP4). Reference, in the same process: the model's forward passes alone on
the same number of already-normalised clips in the same batches, so the ratio is what decoding, resizing and
writing add. Best of ``--repeats``; pin ``--threads`` on a shared CPU.

    python benchmarks/demo_speed.py --threads 2 --repeats 2
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hiera_video.demo import load_predictor, run_demo, window_starts  # noqa: E402
from hiera_video.models import create_model, save_pretrained  # noqa: E402
from hiera_video.prep.synthetic import default_codec, write_video  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hiera_base_16x224")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--height", type=int, default=320)
    ap.add_argument("--width", type=int, default=568)
    ap.add_argument("--window-stride", type=float, default=1.0)
    ap.add_argument("--views", type=int, nargs=2, default=(5, 3))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--output-video", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work = tempfile.mkdtemp(prefix="demo_speed_")
    n = int(round(args.seconds * 30))
    g = np.random.default_rng(0)
    base = g.integers(0, 255, (args.height + n, args.width, 3), dtype=np.uint8)
    frames = np.stack([base[t:t + args.height] for t in range(n)])  # texture moving up one pixel per frame
    video = write_video(os.path.join(work, "clip.mp4"), frames, 30, default_codec())
    torch.manual_seed(0)
    folder = os.path.join(work, "weights")
    save_pretrained(create_model(args.model), folder)
    predictor = load_predictor(model_name=args.model, checkpoint=folder, device="cpu", views=args.views)
    views = args.views[0] * args.views[1]
    span = predictor.num_frames * predictor.sampling_rate  # source frames at 30 fps
    windows = len(window_starts(n, 30.0, span, args.window_stride))
    demo_times, model_times = [], []
    clip = torch.randn(1, 3, predictor.num_frames, predictor.crop_size, predictor.crop_size)
    for _ in range(args.repeats):
        start = time.perf_counter()
        run_demo(predictor, [video], output_dir=os.path.join(work, "out"), window_stride=args.window_stride,
                 output_video=args.output_video, batch_size=args.batch_size, progress=False)
        demo_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        for count in (views, windows):  # the same forward batches as the demo
            for b in range(0, count, args.batch_size):
                predictor.probabilities(clip.expand(min(args.batch_size, count - b), -1, -1, -1, -1).contiguous())
        model_times.append(time.perf_counter() - start)
    demo, model = min(demo_times), min(model_times)
    print(f"{args.model}, {args.seconds:g} s clip at {args.height}x{args.width}, 30 fps; {views} views + {windows} "
          f"windows = {views + windows} clips; {torch.get_num_threads()} threads, best of {args.repeats}")
    print(f"demo (decode, views, model, files{', video' if args.output_video else ''}): {demo:.2f} s/video "
          f"= {1 / demo:.3f} videos/s")
    print(f"model alone on the same clips: {model:.2f} s ({(views + windows) / model:.2f} clips/s)")
    print(f"demo / model alone: {demo / model:.3f}x (everything but the model: {100 * (demo - model) / demo:.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
