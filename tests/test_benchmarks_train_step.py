"""Smoke test of benchmarks/train_step.py: ``--quick`` (narrowed tiny models at 8x64x64). Figures are only checked
to be positive (no timing assertions); the FLOP counts and the MAE / supervised FLOP ratio must equal a count
computed by hand from the model structure (multiply-adds of every linear, conv and attention matmul plus
fvcore's 5 FLOPs per LayerNorm element)."""

import importlib.util
import json
import math
import os

import pytest
import torch
from helpers import ROOT


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("train_step", os.path.join(ROOT, "benchmarks", "train_step.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _blocks_macs(blocks, tokens: int) -> tuple:
    """(multiply-adds, tokens out) of a stack of HieraBlocks fed ``tokens`` tokens (one clip)."""
    total = 0
    for blk in blocks:
        attn, dim, out = blk.attn, blk.dim, blk.dim_out
        q_tokens = tokens // attn.q_stride
        windows = tokens // (attn.q_stride * attn.window_size) if attn.use_mask_unit_attn else 1
        keys = tokens // windows  # keys per window
        total += 5 * tokens * dim + 5 * q_tokens * out  # norm1, norm2
        total += tokens * dim * 3 * out  # qkv
        total += q_tokens * keys * out * 2  # Q K^T and A V over all heads (heads * head_dim = out)
        total += q_tokens * out * out  # attention proj
        total += 2 * q_tokens * out * blk.mlp.fc1.out_features  # fc1 + fc2
        if dim != out:
            total += tokens * dim * out  # residual proj (pooled after)
        tokens = q_tokens
    return total, tokens


def _patch_macs(model) -> int:
    conv = model.patch_embed.proj
    positions = math.prod(model.tokens_spatial_shape)  # the MAE conv runs over every position too
    return positions * conv.out_channels * conv.in_channels * math.prod(conv.kernel_size)


def supervised_macs(model) -> int:
    blocks, _ = _blocks_macs(model.blocks, math.prod(model.tokens_spatial_shape))
    c = model.num_features
    return _patch_macs(model) + blocks + 5 * c + c * model.num_classes  # + final norm + head


def mae_macs(model) -> int:
    units = math.prod(model.mask_spatial_shape)
    kept = int(units * (1 - model.mask_ratio))
    encoder, _ = _blocks_macs(model.blocks, kept * model.mu_size)
    final = kept * math.prod(model.mask_unit_spatial_shape_final)  # encoder tokens after the last q-pool
    c = model.num_features
    fusion = sum(final * h.out_channels * h.in_channels * math.prod(h.kernel_size)
                 for h in model.multi_scale_fusion_heads if hasattr(h, "kernel_size"))
    positions = math.prod(model.tokens_spatial_shape_final)
    d = model.decoder_embed.out_features
    decoder, _ = _blocks_macs(model.decoder_blocks, positions)
    return (_patch_macs(model) + encoder + fusion + 5 * final * c + final * c * d + decoder
            + 5 * positions * d + positions * d * model.decoder_pred.out_features)


def test_train_step_quick(tmp_path, capsys):
    pytest.importorskip("fvcore")
    out = tmp_path / "train_step.json"
    bench = _load_benchmark()
    threads = torch.get_num_threads()
    try:  # in-process (no second torch import); one thread: tiny ops slow down a lot on a busy machine otherwise
        bench.main(["--quick", "--threads", "1", "--json", str(out)])
    finally:
        torch.set_num_threads(threads)
    stdout = capsys.readouterr().out
    rows = [ln.replace("/", " ").split() for ln in stdout.splitlines()
            if ln.startswith(("hiera_tiny_16x224 ", "mae_hiera_tiny_16x224 "))]
    assert [r[0] for r in rows] == ["hiera_tiny_16x224", "mae_hiera_tiny_16x224"] * 2  # time table, memory table
    for row in rows:  # params, FLOPs, s/step, clips/s, G/s, fwd/bwd/opt s; activation / peak MB, s/step ckpt
        assert all(float(v) > 0 for v in row[1:]), row
    assert "MAE / sup (tiny): FLOPs" in stdout

    res = json.loads(out.read_text())["results"][0]
    for name in ("sup", "mae"):
        r = res[name]
        for key in ("step_s", "fwd_s", "bwd_s", "opt_s", "clips_per_s", "fwd_gflops", "step_gflops"):
            assert r[key] > 0, (name, key)
        assert r["fwd_gflops"] > r["fwd_gflops_fvcore"] > 0  # SDPA added on top of fvcore's count
        for variant in ("plain", "act_checkpoint"):
            assert r["memory"][variant]["activation_mb"] > 0 and r["memory"][variant]["peak_step_mb"] > 0
    # checkpointing keeps only block inputs: far fewer saved activations in the supervised model
    assert res["sup"]["memory"]["act_checkpoint"]["activation_mb"] < res["sup"]["memory"]["plain"]["activation_mb"]

    sup, mae = bench.build_models("tiny", bench.parse_args(["--quick"]))
    assert math.isclose(res["sup"]["fwd_gflops"], supervised_macs(sup) / 1e9, rel_tol=1e-6)
    assert math.isclose(res["mae"]["fwd_gflops"], mae_macs(mae) / 1e9, rel_tol=1e-6)
    assert math.isclose(res["ratio"]["flops"], mae_macs(mae) / supervised_macs(sup), rel_tol=1e-6)
    assert res["mae"]["step_gflops"] == pytest.approx(3 * 2 * res["mae"]["fwd_gflops"])  # 3 x fwd x batch 2
