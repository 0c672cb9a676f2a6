"""Hiera against the models the paper compares it with, in one run on the same input and device.

Models (random weights; speed does not depend on them), all at one 16 x 224 x 224 view ``(B, 3, 16, 224, 224)``:

* ``ours_B`` / ``ours_L`` (/ ``ours_H``): ``hiera_video``'s ``hiera_{base,large,huge}_16x224``;
* ``official_B`` / ``official_L`` (/ ``official_H``): the official ``hiera-transformer`` package's ``Hiera`` with
  the same config;
* ``mvit_v2_s``: torchvision's builder (MViTv2-S 16x4);
* ``mvit_v2_b`` / ``mvit_v2_l``: torchvision's ``MViT`` class built from PySlowFast's published MViTv2-B
  (``configs/Kinetics/MVITv2_B_32x3.yaml``) and MViTv2-L (``MVITv2_L_40x3_test.yaml``) configurations, at 16 x 224
  input (:mod:`peers` documents every setting);
* ``videomae_B``: a video ViT-B of VideoMAE's shape: timm's ``VisionTransformer`` (depth 12, width 768, 12 heads,
  global average pooling, fixed 1568 position embeddings) on 2 x 16 x 16 tubelets (a ``Conv3d`` patch embedding),
  1568 tokens.

Printed: parameters (M), GFLOPs per view (:func:`hiera_video.models.flops.count_flops`: fvcore multiply-adds with
``scaled_dot_product_attention`` counted; MViT's and timm's attention are counted by fvcore's matmul handle or
SDPA), clips/s (median of ``--iters`` timed forward passes after ``--warmup``, ``torch.inference_mode``; on CUDA
bf16 autocast and synchronised timings), and the ratios the paper reports: Hiera-L / MViTv2-L (paper: 40.8 vs 20.5
clips/s on an A100 in fp16, 2.0x) and ours / official.

    python benchmarks/compare_peers.py --threads 2 --iters 3                       # CPU fp32
    python benchmarks/compare_peers.py --device cuda --batch-size 8 --iters 20      # GPU bf16
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from hiera_video.models import create_model, model_config  # noqa: E402
from hiera_video.models.flops import count_flops, count_params  # noqa: E402


class TubeletViT(nn.Module):
    """VideoMAE-shaped video ViT: ``(B, 3, T, H, W)`` -> tubelets ``(B, T/2 * H/16 * W/16, 768)`` -> timm ViT
    blocks -> logits ``(B, num_classes)``."""

    def __init__(self, num_frames: int = 16, crop: int = 224, num_classes: int = 400):
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        tokens = (num_frames // 2) * (crop // 16) ** 2
        self.embed = nn.Conv3d(3, 768, kernel_size=(2, 16, 16), stride=(2, 16, 16))
        self.vit = VisionTransformer(img_size=crop, patch_size=16, embed_dim=768, depth=12, num_heads=12,
                                     num_classes=num_classes, global_pool="avg", class_token=False, no_embed_class=True)
        self.vit.pos_embed = nn.Parameter(torch.zeros(1, tokens, 768))

    def forward(self, x):
        x = self.embed(x).flatten(2).transpose(1, 2) + self.vit.pos_embed
        x = self.vit.norm(self.vit.blocks(self.vit.norm_pre(x)))
        return self.vit.forward_head(x)


def build(name: str) -> nn.Module:
    import peers

    if name.startswith("ours_"):
        return create_model(SIZES[name[-1]])
    if name.startswith("official_"):
        import hiera

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return hiera.Hiera(**model_config(SIZES[name[-1]]))
    if name == "mvit_v2_s":
        return peers.mvit_v2_s_tv()
    if name == "mvit_v2_b":
        return peers.mvit_v2_b()
    if name == "mvit_v2_l":
        return peers.mvit_v2_l()
    if name == "videomae_B":
        return TubeletViT()
    raise ValueError(name)


SIZES = {"B": "hiera_base_16x224", "L": "hiera_large_16x224", "H": "hiera_huge_16x224"}
#: the default list; ours_H / official_H are also built (``--models``), for the GPU check.
MODELS = ["ours_B", "official_B", "ours_L", "official_L", "mvit_v2_s", "mvit_v2_b", "mvit_v2_l", "videomae_B"]


def clips_per_s(model, x, device, iters, warmup) -> float:
    times = []
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast:
        for i in range(warmup + iters):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return x.shape[0] / statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-flops", action="store_true", help="skip the FLOP count (a trace per model)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    precision = "bf16 autocast" if device.type == "cuda" else "fp32"
    print(f"{device}{' ' + torch.cuda.get_device_name() if device.type == 'cuda' else ''}, {precision}, "
          f"batch {args.batch_size}, {torch.get_num_threads()} threads, median of {args.iters}")
    print("| model | params (M) | GFLOPs / view | clips/s |\n| --- | --- | --- | --- |")
    speed = {}
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = build(name).eval()
        params = count_params(model) / 1e6
        gflops = float("nan") if args.no_flops else count_flops(model, torch.zeros(1, 3, 16, 224, 224))["flops"] / 1e9
        model = model.to(device)
        x = torch.randn(args.batch_size, 3, 16, 224, 224, device=device)
        speed[name] = clips_per_s(model, x, device, args.iters, args.warmup)
        print(f"| {name} | {params:.1f} | {gflops:.1f} | {speed[name]:.3f} |", flush=True)
        del model, x
        if device.type == "cuda":
            torch.cuda.empty_cache()
    for a, b, note in (("ours_L", "mvit_v2_l", "paper: 2.0x, A100 fp16"), ("ours_B", "mvit_v2_b", ""),
                       ("ours_B", "official_B", ""), ("ours_L", "official_L", ""), ("ours_H", "official_H", ""),
                       ("ours_B", "videomae_B", "")):
        if a in speed and b in speed:
            print(f"{a} / {b}: {speed[a] / speed[b]:.2f}x" + (f" ({note})" if note else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
