"""The CUDA paths, run by ``benchmarks/gpu_check.sh`` on a machine with a GPU (``pytest -m cuda``); skipped without
CUDA. Each is a real step on a tiny model: bf16 autocast, fp16 with the GradScaler, one NCCL DDP process,
``MODEL.COMPILE`` end to end, activation checkpointing (identical gradients), and the fused SDPA kernels accepting
Hiera's 4-D attention inputs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from helpers import ROOT
from hiera_video.models import create_model

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (benchmarks/gpu_check.sh)")]

SIZE = (8, 64, 64)


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return create_model("hiera_tiny_16x224", num_classes=10, input_size=SIZE, **kw).cuda()


def _batch(n=4):
    g = torch.Generator(device="cuda").manual_seed(1)
    return torch.randn(n, 3, *SIZE, device="cuda", generator=g), torch.randint(0, 10, (n,), device="cuda",
                                                                                 generator=g)


def _step(model, x, y, dtype, scaler=None):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.autocast("cuda", dtype=dtype):
        loss = F.cross_entropy(model(x).float(), y)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    else:
        loss.backward()
        opt.step()
    changed = sum(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    return float(loss), changed


def test_bf16_training_step():
    if not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    model = _tiny()
    loss, changed = _step(model, *_batch(), torch.bfloat16)
    assert torch.isfinite(torch.tensor(loss)) and changed == len(list(model.parameters()))


def test_fp16_training_step_with_grad_scaler():
    scaler = torch.amp.GradScaler("cuda")
    loss, changed = _step(_tiny(), *_batch(), torch.float16, scaler)
    assert torch.isfinite(torch.tensor(loss)) and changed > 0 and scaler.get_scale() > 0


def test_one_process_nccl_ddp_step():
    import torch.distributed as dist

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        model = torch.nn.parallel.DistributedDataParallel(_tiny(), device_ids=[torch.cuda.current_device()])
        loss, changed = _step(model, *_batch(), torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16,
                              None if torch.cuda.is_bf16_supported() else torch.amp.GradScaler("cuda"))
        assert torch.isfinite(torch.tensor(loss)) and changed > 0
    finally:
        dist.destroy_process_group()


def test_activation_checkpointing_gives_identical_gradients():
    x, y = _batch()
    grads = []
    for ckpt in (False, True):
        model = _tiny(seed=3, drop_path_rate=0.0)
        model.set_grad_checkpointing(ckpt)
        model.train()
        F.cross_entropy(model(x), y).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_fused_sdpa_kernels_take_hieras_attention():
    """Hiera's q, k, v (B', heads, N, d) run under the flash and memory-efficient backends alone (no math fallback)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    model = create_model("hiera_base_16x224", num_classes=10, input_size=(16, 224, 224)).cuda().eval()
    x = torch.randn(2, 3, 16, 224, 224, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16 if torch.cuda.is_bf16_supported()
                                                  else torch.float16):
        reference = model(x).float()
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            with sdpa_kernel([backend]):
                torch.testing.assert_close(model(x).float(), reference, rtol=2e-2, atol=2e-2)


def test_model_compile_trains_and_tests_end_to_end(tmp_path):
    """tools/run_net.py with NUM_GPUS 1, MODEL.COMPILE True and mixed precision on the quickstart config, shrunk."""
    from hiera_video.prep.synthetic import make_motion_dataset

    data = str(tmp_path / "data")
    make_motion_dataset(data, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1, size=(48, 64),
                        num_frames=24)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "run_net.py"), "--cfg",
                           os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml"), "NUM_GPUS", "1",
                           "MODEL.COMPILE", "True", "TRAIN.PRECISION", "auto", "OUTPUT_DIR", str(tmp_path / "o"),
                           "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "DATA.MAKE_SYNTHETIC", "False",
                           "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "1", "DATA_LOADER.NUM_WORKERS", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("top-1 ")
