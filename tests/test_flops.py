"""FLOPs and parameters as the paper's table counts them (hiera_video.models.flops)."""

import torch

from hiera_video.models import create_model
from hiera_video.models.flops import PAPER_VIDEO, count_flops, count_params


def test_hiera_base_matches_the_papers_params_and_gflops():
    """Hiera-B at 16 x 224 x 224: 51 M parameters and 102 GFLOPs (paper, Table 3), within 2%; without the attention
    handle fvcore alone would report 71 G."""
    torch.manual_seed(0)
    model = create_model("hiera_base_16x224").eval()
    params_ref, gflops_ref = PAPER_VIDEO["hiera_base_16x224"]
    flops = count_flops(model, torch.zeros(1, 3, 16, 224, 224))
    assert abs(count_params(model) / 1e6 / params_ref - 1) < 0.02
    assert abs(flops["flops"] / 1e9 / gflops_ref - 1) < 0.02
    assert flops["flops"] == flops["fvcore"] + flops["attention"] and flops["attention"] > 0.25 * flops["flops"]


def test_attention_handle_counts_qk_and_av():
    """One SDPA call of (B=2, heads=3, N_q=5, d=4) queries on N_k=7 keys with d_v=6: 2*3*5*7*(4+6) multiply-adds."""

    class Attn(torch.nn.Module):
        def forward(self, q, k, v):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    q, k, v = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 6)
    assert count_flops(Attn(), q, k, v)["attention"] == 2 * 3 * 5 * 7 * (4 + 6)
