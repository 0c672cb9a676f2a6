"""Detection training step vs classification training step on the same input (AVA's 16 x 224 x 384 by default).

Three models of one Hiera size (``--model``, default ``hiera_base_16x224``), built for the same ``(B, 3, T, H, W)``
input, each with its own AdamW, measured in one process, steps alternating between them:

* **classifier**: ``create_model`` (last stage at stride 32, mean-pooled, linear head; cross-entropy);
* **detector, stride 32**: ``create_detector(feature_stride=32)``: the same backbone with the ROI head (LayerNorm,
  mean over time, ``roi_align`` 7 x 7, max, linear; ``BCEWithLogits``) on ``--boxes`` boxes per clip: the ratio to
  the classifier is the cost of the **head**;
* **detector, stride 16** (what the AVA configs train): the last q-pool skipped, so the last stage sees 4x the
  tokens: the ratio to the stride-32 detector is the cost of the **finer feature map**.

Reported per model: forward FLOPs per clip (fvcore, one multiply-add = one FLOP, attention matmuls added as in
``benchmarks/train_step.py``; ``roi_align`` is not counted: it is a few MFLOPs), the median wall time of a step
(``zero_grad`` + forward + loss + backward + ``optimizer.step``) over ``--steps`` steps after ``--warmup``, and the
ratios. On a shared CPU pin ``--threads``.

    python benchmarks/detection_step.py --threads 2 --steps 3              # hiera_base_16x224 at 16x224x384, CPU
    python benchmarks/detection_step.py --device cuda --batch 8 --steps 20  # GPU, bfloat16 autocast
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from hiera_video.models import create_detector, create_model  # noqa: E402
from train_step import forward_flops  # noqa: E402


class _WithBoxes(torch.nn.Module):
    """``detector(x, boxes)`` with fixed boxes, so fvcore traces a one-input module."""

    def __init__(self, detector, boxes) -> None:
        super().__init__()
        self.detector, self.boxes = detector, boxes

    def forward(self, x):
        return self.detector(x, self.boxes)


def make_boxes(batch: int, per_clip: int, height: int, width: int, device) -> torch.Tensor:
    """``(batch * per_clip, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in pixels: people-sized boxes (a quarter
    to half of the frame's width, half to all of its height), fixed seed."""
    g = torch.Generator().manual_seed(0)
    n = batch * per_clip
    w = width * (0.25 + 0.25 * torch.rand(n, generator=g))
    h = height * (0.5 + 0.5 * torch.rand(n, generator=g))
    x1 = (width - w) * torch.rand(n, generator=g)
    y1 = (height - h) * torch.rand(n, generator=g)
    index = torch.arange(batch).repeat_interleave(per_clip).float()
    return torch.stack([index, x1, y1, x1 + w, y1 + h], dim=1).to(device)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="hiera_base_16x224")
    p.add_argument("--input-size", type=int, nargs=3, default=(16, 224, 384), metavar=("T", "H", "W"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--boxes", type=int, default=3, help="boxes per clip (AVA's val: ~2.5 people per keyframe)")
    p.add_argument("--classes", type=int, default=80)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    size = tuple(args.input_size)
    x = torch.randn(args.batch, 3, *size, device=device)
    boxes = make_boxes(args.batch, args.boxes, size[1], size[2], device)
    labels = (torch.rand(len(boxes), args.classes, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    labels, target = labels.to(device), torch.arange(args.batch, device=device) % args.classes
    models = {
        "classifier": create_model(args.model, num_classes=args.classes, input_size=size),
        "detector_stride32": create_detector(args.model, num_classes=args.classes, input_size=size,
                                             feature_stride=32),
        "detector_stride16": create_detector(args.model, num_classes=args.classes, input_size=size,
                                             feature_stride=16),
    }
    losses = {
        "classifier": lambda m: F.cross_entropy(m(x).float(), target),
        "detector_stride32": lambda m: F.binary_cross_entropy_with_logits(m(x, boxes).float(), labels),
        "detector_stride16": lambda m: F.binary_cross_entropy_with_logits(m(x, boxes).float(), labels),
    }
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    results = {}
    for name, model in models.items():
        model.to(device).train()
        traced = model if name == "classifier" else _WithBoxes(model, boxes)
        flops = forward_flops(traced, x[:1] if name == "classifier" else x)["with_sdpa"] / args.batch
        results[name] = {"gflops_forward_per_clip": flops / 1e9, "times": []}
    optims = {name: torch.optim.AdamW(m.parameters(), lr=1e-4) for name, m in models.items()}
    for i in range(args.warmup + args.steps):
        for name, model in models.items():  # alternating: drift in machine load hits every model alike
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            optims[name].zero_grad(set_to_none=True)
            with autocast:
                loss = losses[name](model)
            loss.backward()
            optims[name].step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                results[name]["times"].append(time.perf_counter() - start)
    for r in results.values():
        r["step_s"] = statistics.median(r["times"])
    base, d32, d16 = (results[k] for k in ("classifier", "detector_stride32", "detector_stride16"))
    ratios = {
        "head (detector stride 32 / classifier)": (d32["step_s"] / base["step_s"],
                                                   d32["gflops_forward_per_clip"] / base["gflops_forward_per_clip"]),
        "stride 16 (detector stride 16 / stride 32)": (d16["step_s"] / d32["step_s"],
                                                       d16["gflops_forward_per_clip"] / d32["gflops_forward_per_clip"]),
        "AVA detector (stride 16) / classifier": (d16["step_s"] / base["step_s"],
                                                  d16["gflops_forward_per_clip"] / base["gflops_forward_per_clip"]),
    }
    where = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.model} at {size[0]}x{size[1]}x{size[2]}, batch {args.batch}, {args.boxes} boxes per clip, "
          f"{where}, median of {args.steps} steps")
    print(f"{'model':<20} {'GFLOPs fwd/clip':>16} {'s/step':>9}")
    for name, r in results.items():
        print(f"{name:<20} {r['gflops_forward_per_clip']:>16.1f} {r['step_s']:>9.3f}")
    for name, (t, f) in ratios.items():
        print(f"{name}: time x{t:.3f}, FLOPs x{f:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "device": where, "results": results,
                       "ratios": {k: {"time": t, "flops": f} for k, (t, f) in ratios.items()}}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
