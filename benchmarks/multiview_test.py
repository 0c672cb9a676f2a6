"""Multi-view test throughput: decode once per video vs once per view, and uint8 vs float32 views from the workers.

What is measured: videos/s of the whole multi-view test (``engine.multiview_eval.run_multiview_tests``: DataLoader
workers decode each video once, cut ``TEST.NUM_ENSEMBLE_VIEWS x TEST.NUM_SPATIAL_CROPS`` views, send them to the
main process, which batches them through the model, ensembles and writes the report) on the same files in the
same run, two ways:

* ``uint8`` (ours now): the dataset's test items hold uint8 views ``(V, C, T, H, W)`` and the loop normalises them
  on the device (``data.transforms.normalize_views``), a 5 x 3 K400 item at 16 x 224 being ~35 MiB;
* ``float32`` (before): the same items normalised in the worker (``normalize_views`` inside ``__getitem__``), ~138
  MiB each through the workers' shared memory;
* ``per_view`` (PySlowFast's way): the same views, but each of the ``T x S`` views decodes the video again (its
  temporal clip's frames, then its one spatial crop), as PySlowFast's Kinetics test dataset does with one dataset
  index per view.

The model is a stand-in that reads every view (mean-pool + linear, ~0 FLOPs) so that the data path is what is
timed; ``--model NAME`` uses a real model instead (e.g. ``hiera_tiny_16x224``). Videos: K400-like 10 s, 30 fps,
320p H.264 with a keyframe every ``--gop`` frames (the loader benchmark's generator, cached in ``--workdir``). Each repeat runs both ways (order
alternating); the median videos/s over repeats is reported, and the ratio uint8 / float32.

    python benchmarks/multiview_test.py --num-videos 8 --workers 2 --repeats 3
    python benchmarks/multiview_test.py --num-videos 8 --workers 2 --repeats 3 --gop 250
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import loader as loader_bench  # noqa: E402  (benchmarks/loader.py: the K400-like video generator)

from hiera_video.config import load_config  # noqa: E402
from hiera_video.data import build_dataset  # noqa: E402
from hiera_video.data.transforms import normalize_views  # noqa: E402
from hiera_video.engine.multiview_eval import ModelUnderTest, run_multiview_tests  # noqa: E402
from hiera_video.engine.tasks import ClassificationTask  # noqa: E402
from hiera_video.models import create_model  # noqa: E402


class FloatViews(torch.utils.data.Dataset):
    """The dataset as it was: test views normalised to float32 in the loader worker."""

    def __init__(self, dataset, mean, std):
        self.dataset, self.mean, self.std = dataset, mean, std
        self.records, self.num_videos = dataset.records, dataset.num_videos

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        item = self.dataset[index]
        if item["views"] is not None:
            item["views"] = normalize_views(item["views"], self.mean, self.std)
        return item


class PerViewDecode(torch.utils.data.Dataset):
    """The same test items, each view decoded on its own (PySlowFast's one-index-per-view test)."""

    def __init__(self, dataset):
        self.dataset = dataset
        self.records, self.num_videos = dataset.records, dataset.num_videos

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        from hiera_video.data.decoding import decode_clips
        from hiera_video.data.transforms import test_views

        d = self.dataset
        record, n_t, n_s = d.records[index], d.num_temporal, d.num_spatial
        views = []
        for t in range(n_t):
            for s in range(n_s):
                clip = decode_clips(record.path, lambda n, fps: [d._clip_frame_indices(n, fps, t, n_t)]).clips[0]
                views.append(test_views(clip, d.cfg.DATA.TEST_CROP_SIZE, n_s)[s])
        return {"views": torch.stack(views), "label": record.label, "index": index, "path": record.path,
                "view_ids": [(t, s) for t in range(n_t) for s in range(n_s)], "error": None, "partial": None}


class MeanPool(nn.Module):
    """Reads every pixel of every view: ``(N, C, T, H, W) -> (N, num_classes)``."""

    def __init__(self, num_classes: int = 400):
        super().__init__()
        self.head = nn.Linear(3, num_classes)

    def forward(self, x):
        return self.head(x.float().mean(dim=(2, 3, 4)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-videos", type=int, default=8)
    p.add_argument("--workers", type=int, default=2, help="DataLoader workers (DATA_LOADER.NUM_WORKERS)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--views", default="5x3", help="temporal x spatial views")
    p.add_argument("--crop", type=int, default=224)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--model", default="", help="a model name instead of the mean-pool stand-in")
    p.add_argument("--threads", type=int, default=0, help="torch threads in the main process (0: torch's)")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "hiera_video_bench"))
    p.add_argument("--quick", action="store_true", help="tiny videos and input: a smoke test")
    p.add_argument("--gop", type=int, default=16, help="keyframe interval of the K400-like videos (frames): 16, "
                   "or 250 (libx264's default, what re-encoded YouTube clips usually have)")
    p.add_argument("--json", default="", help="write the results here")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    os.makedirs(args.workdir, exist_ok=True)
    gen = argparse.Namespace(num_videos=args.num_videos, quick=args.quick, gops=[args.gop], no_ssv2=True)
    lists = loader_bench.make_videos(args.workdir, gen)[f"k400-gop{args.gop}"]
    n_t, n_s = (int(v) for v in args.views.split("x"))
    crop, frames = (32, 4) if args.quick else (args.crop, args.frames)
    out = tempfile.mkdtemp(prefix="mv_bench_")
    cfg = load_config(os.path.join(ROOT, "configs", "k400", "hiera_b.yaml"), [
        "DATA.PATH_TO_DATA_DIR", lists, "DATA.PATH_PREFIX", "", "NUM_GPUS", "0", "OUTPUT_DIR", out,
        "TEST.NUM_ENSEMBLE_VIEWS", str(n_t), "TEST.NUM_SPATIAL_CROPS", str(n_s), "TEST.BATCH_SIZE", str(n_t * n_s),
        "DATA_LOADER.NUM_WORKERS", str(args.workers), "DATA.TEST_CROP_SIZE", str(crop),
        "DATA.TRAIN_CROP_SIZE", str(crop), "DATA.NUM_FRAMES", str(frames), "DATA.MAX_BAD_FRACTION", "1.0"])
    device = torch.device("cpu")
    model = (create_model(args.model, input_size=(frames, crop, crop)) if args.model else MeanPool()).eval()
    task = ClassificationTask(cfg)
    uint8_set = build_dataset("kinetics", cfg, "test")
    variants = {"uint8": uint8_set, "float32": FloatViews(uint8_set, cfg.DATA.MEAN, cfg.DATA.STD),
                "per_view": PerViewDecode(uint8_set)}
    item = uint8_set[0]["views"]
    sizes = {"uint8": item.numel() * item.element_size() / 2**20, "float32": item.numel() * 4 / 2**20}
    print(f"{args.num_videos} videos, {n_t}x{n_s} views of {frames}x{crop}x{crop}: an item is "
          f"{sizes['uint8']:.1f} MiB as uint8, {sizes['float32']:.1f} MiB as float32; {args.workers} workers; "
          f"model {args.model or 'mean-pool stand-in'}")
    rates = {name: [] for name in variants}
    top1 = {}
    for r in range(args.repeats + 1):  # repeat 0 warms the page cache and the code paths: not timed
        order = list(variants) if r % 2 == 0 else list(reversed(variants))
        if r == 0:
            order = ["uint8"]  # warm-up
        for name in order:
            t0 = time.perf_counter()
            report = run_multiview_tests(cfg, {"test": ModelUnderTest(model)}, task, variants[name], device,
                                         desc=name)["test"]
            elapsed = time.perf_counter() - t0
            top1[name] = report["top1"]
            if r:
                rates[name].append(report["num_videos"] / elapsed)
    result = {name: statistics.median(v) for name, v in rates.items()}
    result["ratio_uint8_over_float32"] = result["uint8"] / result["float32"]
    result["ratio_decode_once_over_per_view"] = result["uint8"] / result["per_view"]
    assert top1["uint8"] == top1["float32"] == top1["per_view"], top1  # the same predictions every way
    print(f"videos/s: uint8 {result['uint8']:.3f}, float32 {result['float32']:.3f}, decoded per view "
          f"{result['per_view']:.3f} (median of {args.repeats}); top-1 equal: {top1['uint8']}")
    print(f"decode once / decode per view: {result['ratio_decode_once_over_per_view']:.2f}x; "
          f"uint8 / float32: {result['ratio_uint8_over_float32']:.2f}x")
    result.update(item_mib=sizes, args=vars(args), rates=rates)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
