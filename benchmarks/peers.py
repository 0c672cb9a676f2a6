"""MViTv2-B and MViTv2-L (Kinetics-400) built with torchvision's ``MViT`` class, as peers for benchmarks.

The architectures come from PySlowFast (https://github.com/facebookresearch/SlowFast):

* MViTv2-B: ``configs/Kinetics/MVITv2_B_32x3.yaml`` (32 frames, sampling rate 3, 224x224).
* MViTv2-L: ``configs/Kinetics/MVITv2_L_40x3_test.yaml`` (40 frames, sampling rate 3, 312x312).

Where each setting comes from:

* From the YAML files: DEPTH (24 / 48), EMBED_DIM (96 / 144), NUM_HEADS (1 / 2), DIM_MUL and HEAD_MUL (x2 at
  blocks 2, 5, 21 for B; at 2, 8, 44 for L), POOL_Q_STRIDE (every block is listed; [1, 2, 2] at those same
  blocks, [1, 1, 1] elsewhere), POOL_KVQ_KERNEL [3, 3, 3], POOL_KV_STRIDE_ADAPTIVE [1, 8, 8], PATCH_KERNEL
  (3, 7, 7), PATCH_STRIDE (2, 4, 4), PATCH_PADDING (1, 3, 3), MLP_RATIO 4.0, QKV_BIAS True, MODE "conv",
  CLS_EMBED_ON True, USE_ABS_POS False, REL_POS_SPATIAL True, REL_POS_TEMPORAL True, RESIDUAL_POOLING True,
  DIM_MUL_IN_ATT True, DROPPATH_RATE (0.3 / 0.75), MVIT.DROPOUT_RATE 0.0, MODEL.DROPOUT_RATE 0.5, NUM_CLASSES 400.
* From ``slowfast/config/defaults.py`` (not overridden): POOL_FIRST False, SEPARATE_QKV False, NORM_STEM False,
  LAYER_SCALE_INIT_VALUE 0.0, USE_MEAN_POOLING False (LayerNorm, then the class token), REL_POS_ZERO_INIT False,
  HEAD_INIT_SCALE 1.0, MODEL.HEAD_ACT "softmax"; SEP_POS_EMBED False is moot because USE_ABS_POS is False.
* From ``slowfast/models/video_model_builder.py`` (class MViT) and ``slowfast/models/attention.py``: how the lists
  above become per-block settings (reproduced by ``block_settings``): heads and widths change *at* the block
  listed in DIM_MUL/HEAD_MUL (DIM_MUL_IN_ATT: qkv projects to the new width; the skip path gets a Linear of the
  normed input), widths are rounded by ``round_width`` with the head count as divisor, every block listed in
  POOL_Q_STRIDE pools q with the 3x3x3 kernel (even at stride 1), the k/v stride starts at [1, 8, 8] and is divided
  by each q stride, LayerNorm eps 1e-6, stochastic depth rising linearly from 0 to DROPPATH_RATE, and the residual
  pooling adds q to every token except the class token (torchvision ``residual_with_cls_embed=False``).

``block_settings`` applied to ``configs/Kinetics/MVITv2_S_16x4.yaml`` gives exactly torchvision's ``mvit_v2_s``
(checked in ``__main__``), which is the evidence that the mapping is the one torchvision uses.

Not expressible with torchvision's MViT, stated rather than approximated:

* MODEL.HEAD_ACT "softmax": PySlowFast's head applies softmax in eval mode; torchvision returns logits.
* MODEL.ACT_CHECKPOINT True (L config): activation checkpointing, a memory setting with no flag in torchvision
  (the architecture and the parameters are unaffected).
* Initialisation: PySlowFast sets Linear and LayerNorm biases to 0.02, torchvision to 0 (weights here are random).
* Input: PySlowFast's forward takes a list ``[x]``, torchvision's the tensor x (B, C, T, H, W); both need exactly
  the (T, H, W) = (num_frames, crop, crop) given at construction.

Parameter counts depend on the input size only through the relative-position tables (``rel_pos_t`` has
2 * T' - 1 rows for T' = num_frames // 2 tokens in time, ``rel_pos_h``/``rel_pos_w`` 2 * H' - 1 rows for the
block's token grid H'), so 16x224 counts sit slightly below those at the published inputs; ``__main__`` prints both.
At the published inputs these models have exactly as many parameters, of the same shapes, as PySlowFast's own
``MViT`` built from the two YAML files (B 32x224: 51,230,128; L 40x312: 213,390,112), and with the same weights
they give the same outputs (checked at 8x64x64). ``projects/mvitv2/README.md`` lists 51.2M for B but 217.6M
for L on Kinetics-400; 213.4M is what the published L config builds (its SSv2 MViTv2-L row, 213.1M, is this
network with a 174-class head): the 4.2M gap lies between the listed number and what PySlowFast's current code
builds from that config, not in this translation.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models.video import MViT, mvit_v2_s
from torchvision.models.video.mvit import MSBlockConfig

POOL_KVQ_KERNEL = (3, 3, 3)
POOL_KV_STRIDE_ADAPTIVE = (1, 8, 8)
PATCH = {"patch_embed_kernel": (3, 7, 7), "patch_embed_stride": (2, 4, 4), "patch_embed_padding": (1, 3, 3)}


@dataclass(frozen=True)
class MViTv2Spec:
    """The MVIT.* fields of one PySlowFast config that vary between MViTv2 sizes.

    ``stage_starts`` are the block indices carrying DIM_MUL = HEAD_MUL = 2.0 and POOL_Q_STRIDE [1, 2, 2]
    (identical lists in all three Kinetics MViTv2 configs); every other block has POOL_Q_STRIDE [1, 1, 1].
    """

    depth: int
    embed_dim: int
    num_heads: int
    stage_starts: tuple[int, ...]
    droppath_rate: float


SPECS = {
    "S_16x4": MViTv2Spec(16, 96, 1, (1, 3, 14), 0.2),  # configs/Kinetics/MVITv2_S_16x4.yaml (self-check only)
    "B_32x3": MViTv2Spec(24, 96, 1, (2, 5, 21), 0.3),  # configs/Kinetics/MVITv2_B_32x3.yaml
    "L_40x3": MViTv2Spec(48, 144, 2, (2, 8, 44), 0.75),  # configs/Kinetics/MVITv2_L_40x3_test.yaml
}


def _round_width(width: float, multiplier: float, divisor: int = 1) -> int:
    """PySlowFast's width rounding: nearest multiple of ``divisor``, bumped up if it lost over 10%."""
    scaled = width * multiplier
    out = max(1, int(scaled + divisor / 2) // divisor * divisor)
    return out + divisor if out < 0.9 * scaled else out


def block_settings(spec: MViTv2Spec) -> list[MSBlockConfig]:
    """Per-block torchvision configs (heads, in/out channels, q/kv kernels and strides) for one spec."""
    mul = [2.0 if i in spec.stage_starts else 1.0 for i in range(spec.depth + 1)]  # DIM_MUL == HEAD_MUL
    kv_stride, heads, dim, blocks = list(POOL_KV_STRIDE_ADAPTIVE), spec.num_heads, spec.embed_dim, []
    for i in range(spec.depth):
        q_stride = [1, 2, 2] if i in spec.stage_starts else [1, 1, 1]
        kv_stride = [max(kv // q, 1) for kv, q in zip(kv_stride, q_stride)]  # POOL_KV_STRIDE_ADAPTIVE
        heads = _round_width(heads, mul[i])
        dim_out = _round_width(dim, mul[i], divisor=_round_width(heads, mul[i]))  # DIM_MUL_IN_ATT: mul[i]
        blocks.append(MSBlockConfig(heads, dim, dim_out, list(POOL_KVQ_KERNEL), list(POOL_KVQ_KERNEL),
                                    q_stride, kv_stride))
        dim = dim_out
    return blocks


def build(spec: MViTv2Spec, num_frames: int = 16, crop: int = 224, num_classes: int = 400) -> MViT:
    """torchvision MViT for ``spec``; input (B, C=3, T=num_frames, H=crop, W=crop) -> logits (B, num_classes)."""
    return MViT(
        spatial_size=(crop, crop),
        temporal_size=num_frames,
        block_setting=block_settings(spec),
        residual_pool=True,  # RESIDUAL_POOLING
        residual_with_cls_embed=False,  # PySlowFast adds q to the patch tokens only
        rel_pos_embed=True,  # REL_POS_SPATIAL and REL_POS_TEMPORAL, no absolute embedding (USE_ABS_POS False)
        proj_after_attn=True,  # DIM_MUL_IN_ATT
        dropout=0.5,  # MODEL.DROPOUT_RATE, before the classifier
        attention_dropout=0.0,  # MVIT.DROPOUT_RATE
        stochastic_depth_prob=spec.droppath_rate,
        num_classes=num_classes,
        **PATCH,
    )


def mvit_v2_b(num_frames: int = 16, crop: int = 224, num_classes: int = 400) -> nn.Module:
    """MViTv2-B (published at 32x3, 224); input (B, 3, T, H, W) -> logits (B, num_classes). Random weights."""
    return build(SPECS["B_32x3"], num_frames, crop, num_classes)


def mvit_v2_l(num_frames: int = 16, crop: int = 224, num_classes: int = 400) -> nn.Module:
    """MViTv2-L (published at 40x3, 312); input (B, 3, T, H, W) -> logits (B, num_classes). Random weights."""
    return build(SPECS["L_40x3"], num_frames, crop, num_classes)


def mvit_v2_s_tv(num_frames: int = 16, crop: int = 224, num_classes: int = 400) -> nn.Module:
    """torchvision's own MViTv2-S builder; input (B, 3, T=16, H=224, W=224) -> logits (B, num_classes).

    ``mvit_v2_s`` hard-codes 16x224 (it passes temporal_size/spatial_size itself); other sizes:
    ``build(SPECS["S_16x4"], num_frames, crop)``, which is the same network.
    """
    if (num_frames, crop) != (16, 224):
        raise ValueError("torchvision's mvit_v2_s is fixed at 16x224; use build(SPECS['S_16x4'], ...)")
    return mvit_v2_s(weights=None, num_classes=num_classes)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _main() -> None:
    parser = argparse.ArgumentParser(description="Parameter counts of the MViTv2 peers (and optionally one forward)")
    parser.add_argument("--forward", action="store_true", help="one CPU forward of a (1, 3, 16, 224, 224) input each")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    with torch.device("meta"):  # shapes only: counting needs no memory or initialisation
        ours_s = [(p.shape, n) for n, p in build(SPECS["S_16x4"]).named_parameters()]
        tv_s = [(p.shape, n) for n, p in mvit_v2_s_tv().named_parameters()]
        assert ours_s == tv_s, "block_settings(S_16x4) differs from torchvision's mvit_v2_s"
        print("block_settings(MVITv2_S_16x4.yaml) == torchvision mvit_v2_s: same parameter names and shapes")
        # name, builder, published (frames, crop), published params (M), PySlowFast MODEL_ZOO / projects/mvitv2
        rows = [("mvit_v2_s (torchvision)", mvit_v2_s_tv, (16, 224), 34.5),
                ("mvit_v2_b", mvit_v2_b, (32, 224), 51.2),
                ("mvit_v2_l", mvit_v2_l, (40, 312), 217.6)]
        print(f"{'model':<24}{'16x224 (M)':>12}{'published input':>17}{'ours there (M)':>16}{'published (M)':>15}")
        for name, fn, (t, s), published in rows:
            at_16 = count_params(fn(16, 224)) / 1e6
            at_pub = count_params(fn(t, s)) / 1e6
            print(f"{name:<24}{at_16:>12.2f}{f'{t}x{s}':>17}{at_pub:>16.2f}{published:>15.1f}")

    if args.forward:
        x = torch.randn(1, 3, 16, 224, 224)  # (B, C, T, H, W)
        for name, fn, _, _ in rows:
            torch.manual_seed(0)
            model = fn(16, 224).eval()
            with torch.inference_mode():
                y = model(x)
            print(f"{name}: forward {tuple(x.shape)} -> {tuple(y.shape)}, finite={bool(torch.isfinite(y).all())}")
            del model


if __name__ == "__main__":
    _main()
