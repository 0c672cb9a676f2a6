"""The paper's model table: parameters and GFLOPs per 16 x 224 x 224 view of Hiera B / B+ / L / H, next to the paper.

Counted with :func:`hiera_video.models.flops.count_flops` (fvcore, one multiply-add = one FLOP, attention matmuls
of ``scaled_dot_product_attention`` added; fvcore alone skips them) on one ``(1, 3, 16, 224, 224)`` clip, classifier
with its 400-class head, random weights. Also printed: fvcore's count without attention, to show what it misses.
The paper (Ryali et al. 2023, Table 3): B 51 M / 102 G, B+ 69 M / 133 G, L 213 M / 413 G, H 672 M / 1159 G; the bar
is 2%.

    python benchmarks/flops.py                       # B, B+, L, H (H's trace takes a few minutes and ~10 GB)
    python benchmarks/flops.py --models base,large
"""

from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.models import create_model  # noqa: E402
from hiera_video.models.flops import PAPER_VIDEO, count_flops, count_params  # noqa: E402

SIZES = {"base": "hiera_base_16x224", "base_plus": "hiera_base_plus_16x224", "large": "hiera_large_16x224",
         "huge": "hiera_huge_16x224"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="base,base_plus,large,huge", help=f"comma-separated of {list(SIZES)}")
    args = ap.parse_args(argv)
    print("| model | params (M) | paper | diff | GFLOPs | paper | diff | fvcore alone (no attention) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    worst = 0.0
    for size in args.models.split(","):
        name = SIZES[size]
        torch.manual_seed(0)
        model = create_model(name).eval()
        params = count_params(model) / 1e6
        flops = count_flops(model, torch.randn(1, 3, 16, 224, 224))
        g, g_fv = flops["flops"] / 1e9, flops["fvcore"] / 1e9
        p_ref, g_ref = PAPER_VIDEO[name]
        dp, dg = 100 * (params / p_ref - 1), 100 * (g / g_ref - 1)
        worst = max(worst, abs(dp), abs(dg))
        print(f"| {name} | {params:.1f} | {p_ref:.0f} | {dp:+.1f}% | {g:.1f} | {g_ref:.0f} | {dg:+.1f}% | {g_fv:.1f} |",
              flush=True)
        del model
    print(f"largest difference from the paper: {worst:.1f}% ({'within' if worst <= 2 else 'outside'} 2%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
