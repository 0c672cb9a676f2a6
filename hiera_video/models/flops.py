"""FLOPs and parameters of a model, counted as the Hiera paper's tables count them.

FLOPs are fvcore's (``FlopCountAnalysis``: one multiply-add = one FLOP, as the paper and PySlowFast report
GFLOPs) with two handles added: ``aten::scaled_dot_product_attention`` (which fvcore skips: the ``Q K^T`` and
``A V`` matmuls, ``B * heads * N_q * N_k * (d_qk + d_v)``), and ``aten::layer_norm`` for any rank (fvcore's own
handle asserts 2-5 dimensions). Without the attention handle a Hiera-L's count would miss its attention matmuls.
Parameters are all of ``model.parameters()`` (the paper's "params").

Paper (Ryali et al. 2023, Table 3 / Sec. 4, video models at 16 x 224 x 224, one view): Hiera-B 51 M / 102 G,
B+ 69 M / 133 G, L 213 M / 413 G, H 672 M / 1159 G.
"""

from __future__ import annotations

import math
import warnings
from typing import Dict, Tuple

import torch

__all__ = ["PAPER_VIDEO", "count_flops", "count_params", "sdpa_flop_jit", "layer_norm_flop_jit"]

#: model name -> (params in millions, GFLOPs per 16 x 224 x 224 view), as the paper reports them.
PAPER_VIDEO: Dict[str, Tuple[float, float]] = {
    "hiera_base_16x224": (51.0, 102.0),
    "hiera_base_plus_16x224": (69.0, 133.0),
    "hiera_large_16x224": (213.0, 413.0),
    "hiera_huge_16x224": (672.0, 1159.0),
}


def sdpa_flop_jit(inputs, outputs) -> int:
    """fvcore handle for ``aten::scaled_dot_product_attention``: multiply-adds of ``Q K^T`` and ``A V`` for
    ``Q (*batch, N_q, d)``, ``K (*batch, N_k, d)``, ``V (*batch, N_k, d_v)``."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(i) for i in inputs[:3])
    return math.prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def layer_norm_flop_jit(inputs, outputs) -> int:
    """fvcore's LayerNorm count (5 per element with an affine transform, else 4) for inputs of any rank."""
    from fvcore.nn.jit_handles import get_shape

    return math.prod(get_shape(inputs[0])) * (5 if get_shape(inputs[2]) is not None else 4)


def count_params(model: torch.nn.Module) -> int:
    """Number of parameters (all of ``model.parameters()``)."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: torch.nn.Module, *inputs: torch.Tensor) -> Dict[str, object]:
    """Forward FLOPs of ``model(*inputs)`` (e.g. one ``(1, 3, 16, 224, 224)`` clip) traced once with fvcore.

    Returns:
        ``{"flops": total with attention, "fvcore": fvcore's own count (attention left out), "attention": the
        SDPA part, "by_operator": {op: flops}}`` (multiply-adds).
    """
    from fvcore.nn import FlopCountAnalysis

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer / jit deprecation warnings
        analysis = FlopCountAnalysis(model, inputs if len(inputs) > 1 else inputs[0])
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.set_op_handle("aten::layer_norm", layer_norm_flop_jit)
        analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
        by_op = dict(analysis.by_operator())
    total = sum(by_op.values())
    attention = by_op.get("scaled_dot_product_attention", 0)  # fvcore drops the "aten::" prefix
    return {"flops": total, "fvcore": total - attention, "attention": attention, "by_operator": by_op}
