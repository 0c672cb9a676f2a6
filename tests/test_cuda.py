"""The CUDA paths, run by ``benchmarks/gpu_check.sh`` on a machine with a GPU (``pytest -m cuda``); skipped without
CUDA. Each runs the project's own code on a tiny model and asserts what could go wrong:

* NCCL: a CPU tensor in a collective raises (the premise), and the helpers stage it on the GPU and copy the result back;
* ``TRAIN.PRECISION``: ``auto`` picks native bf16 (else fp16 with a scaler), and our ``train_epoch`` in fp16 skips the
  steps whose gradients overflowed (the scale halves, the EMA stays) and trains on the others;
* the real loops (``tools/run_net.py``) of classification, MAE and detection with EMA, ``TRAIN.GRAD_ACCUM_STEPS 2``,
  ``MODEL.COMPILE`` (inductor) and ``MODEL.ACT_CHECKPOINT``, then resumed from the epoch-1 checkpoint;
* activation checkpointing gives the same gradients; the fused SDPA kernels take Hiera's attention inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from helpers import ROOT, RUN_NET, make_tiny_ava, subprocess_env, tiny_ava_overrides
from hiera_video.models import create_model

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (benchmarks/gpu_check.sh)")]

SIZE = (8, 64, 64)
QUICK = os.path.join(ROOT, "configs", "quickstart")


def _tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return create_model("hiera_tiny_16x224", num_classes=10, input_size=SIZE, **kw).cuda()


def _batch(n=4):
    g = torch.Generator(device="cuda").manual_seed(1)
    return torch.randn(n, 3, *SIZE, device="cuda", generator=g), torch.randint(0, 10, (n,), device="cuda",
                                                                                 generator=g)


def test_nccl_rejects_cpu_tensors_and_the_helpers_stage_them():
    import torch.distributed as dist

    import hiera_video.utils.distributed as ud

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1,
                            device_id=torch.device("cuda", torch.cuda.current_device()))
    try:
        with pytest.raises(RuntimeError):  # "No backend type associated with device type cpu": every run met it
            dist.all_reduce(torch.zeros(4, dtype=torch.float64))
        assert ud.backend_device() == torch.device("cuda", torch.cuda.current_device())
        sums = torch.tensor([1.5, 2.0], dtype=torch.float64)
        buf = ud.to_backend_device(sums)
        assert buf.is_cuda and buf.dtype == torch.float64
        dist.all_reduce(buf)
        sums.copy_(buf)
        assert sums.tolist() == [1.5, 2.0]
        assert ud.broadcast_object({"a": 1}) == {"a": 1}
    finally:
        dist.destroy_process_group()


def test_auto_precision_is_native_bf16_or_fp16_with_a_scaler():
    from hiera_video.engine.precision import needs_grad_scaler, train_dtype

    gpu = torch.device("cuda")
    native = torch.cuda.is_bf16_supported(including_emulation=False)
    assert native == (torch.cuda.get_device_capability() >= (8, 0))
    assert train_dtype(gpu, "auto") is (torch.bfloat16 if native else torch.float16)
    assert needs_grad_scaler(gpu, "auto") is (not native)


def test_fp16_train_epoch_skips_overflowing_steps_and_spares_the_ema(tmp_path):
    """Our train_epoch with TRAIN.PRECISION fp16 on the GPU, a GradScaler starting at 2^20: the first steps' fp16
    gradients overflow and are skipped (scale halved each time, EMA untouched), the later ones train."""
    from hiera_video.config import load_config
    from hiera_video.engine.optim import build_optimizer
    from hiera_video.engine.runner import build_ema
    from hiera_video.engine.tasks import build_task
    from hiera_video.engine.train_loop import train_epoch

    cfg = load_config(os.path.join(QUICK, "hiera_tiny.yaml"), [
        "TRAIN.PRECISION", "fp16", "NUM_GPUS", "1", "DATA.NUM_FRAMES", "8", "DATA.TRAIN_CROP_SIZE", "64",
        "DATA.TEST_CROP_SIZE", "64", "MODEL.EMA.ENABLE", "True", "SOLVER.WARMUP_EPOCHS", "0.0",
        "OUTPUT_DIR", str(tmp_path)])
    torch.manual_seed(0)
    task = build_task(cfg)
    model = task.build_model().cuda()
    optimizer = build_optimizer(model, cfg)
    ema = build_ema(model, cfg)
    scaler = torch.amp.GradScaler("cuda", init_scale=2.0**20, growth_interval=1000)
    x, y = _batch(4)
    loader = [{"clip": x.cpu() + 0.1 * i, "label": y.cpu()} for i in range(12)]
    stats, _, _ = train_epoch(cfg, model, task, loader, optimizer, scaler, 0, torch.device("cuda"), None, ema)
    skipped = stats["skipped_steps"]
    assert 1 <= skipped < 12 and scaler.get_scale() == 2.0**20 * 0.5**skipped
    assert int(ema.n_averaged) == 12 - skipped and torch.isfinite(torch.tensor(stats["loss"]))


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
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16
    with torch.inference_mode(), torch.autocast("cuda", dtype=dtype):
        reference = model(x).float()
        for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION):
            with sdpa_kernel([backend]):
                torch.testing.assert_close(model(x).float(), reference, rtol=2e-2, atol=2e-2)


def _run(cfg: str, args: list, nproc: int = 1):
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] if nproc > 1 else []
    proc = subprocess.run([sys.executable, *launcher, RUN_NET, "--cfg", cfg, *map(str, args)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def _stats(out, split="train"):
    return [json.loads(line) for line in open(os.path.join(out, "stats.jsonl")) if json.loads(line)["split"] == split]


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    from hiera_video.prep.synthetic import make_motion_dataset

    root = str(tmp_path_factory.mktemp("motion"))
    make_motion_dataset(root, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1, size=(72, 96),
                        num_frames=24)
    return root


def _job(kind: str, data, out):
    """(config, overrides) of a 2-epoch tiny run of ``kind`` on the GPU with every training feature on."""
    common = ["OUTPUT_DIR", out, "NUM_GPUS", "1", "MODEL.EMA.ENABLE", "True", "MODEL.EMA.DECAY", "0.9",
              "TRAIN.GRAD_ACCUM_STEPS", "2", "MODEL.COMPILE", "True", "MODEL.ACT_CHECKPOINT", "True",
              "TRAIN.PRECISION", "auto", "SOLVER.MAX_EPOCH", "2", "SOLVER.WARMUP_EPOCHS", "0.5",
              "TRAIN.CHECKPOINT_PERIOD", "1", "DATA_LOADER.NUM_WORKERS", "2"]
    if kind == "detection":
        return os.path.join(QUICK, "ava_hiera_tiny.yaml"), [*tiny_ava_overrides(data, out), *common]
    video = ["DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "DATA.MAKE_SYNTHETIC", "False",
             "DATA.NUM_FRAMES", "8", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "64",
             "DATA.TEST_CROP_SIZE", "64", "TRAIN.BATCH_SIZE", "4", *common]
    if kind == "mae":
        return os.path.join(QUICK, "mae_hiera_tiny.yaml"), [*video, "TEST.ENABLE", "False", "MASK.VIS_PERIOD", "0",
                                                            "MASK.DECODER_DEPTH", "1"]
    return os.path.join(QUICK, "hiera_tiny.yaml"), [*video, "TEST.NUM_ENSEMBLE_VIEWS", "2"]


@pytest.mark.parametrize("kind", ["classification", "mae", "detection"])
def test_real_loops_with_ema_accumulation_compile_checkpointing_and_resume(kind, motion, tmp_path):
    """tools/run_net.py on the GPU, every training feature on: 2 epochs, then the same run resumed from its epoch-1
    checkpoint (as after a requeue) repeats epoch 2 (the same loss, to GPU nondeterminism) and the EMA has averaged
    exactly the optimizer steps that were taken."""
    data = make_tiny_ava(str(tmp_path / "ava")) if kind == "detection" else motion
    full, cut = str(tmp_path / "full"), str(tmp_path / "cut")
    _run(*_job(kind, data, full))
    os.makedirs(os.path.join(cut, "checkpoints"))
    shutil.copy(os.path.join(full, "checkpoints", "checkpoint_epoch_00001.pyth"), os.path.join(cut, "checkpoints"))
    _run(*_job(kind, data, cut))
    ref, resumed = _stats(full), _stats(cut)
    assert [s["epoch"] for s in ref] == [1, 2] and [s["epoch"] for s in resumed] == [2]
    assert resumed[0]["loss"] == pytest.approx(ref[1]["loss"], rel=2e-2)
    for out, epochs in ((full, ref), (cut, [ref[0], *resumed])):
        state = torch.load(os.path.join(out, "checkpoints", "checkpoint_epoch_00002.pyth"), weights_only=True)
        assert int(state["ema"]["n_averaged"]) == sum(s["steps"] - s["skipped_steps"] for s in epochs) > 0
    if kind != "mae":
        report = json.loads(open(os.path.join(full, "test", "report.json")).read())
        assert report.get("top1", report.get("mAP")) is not None


def test_two_gpus_torchrun_mae_and_detection(motion, tmp_path):
    """2 processes under torchrun on 2 GPUs (NCCL), MAE and detection for one epoch each, with validation and test."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 GPUs")
    _run(*_job("mae", motion, str(tmp_path / "mae")), nproc=2)
    data = make_tiny_ava(str(tmp_path / "ava"))
    proc = _run(*_job("detection", data, str(tmp_path / "det")), nproc=2)
    assert sum(line.startswith("frame-mAP@0.5 ") for line in proc.stdout.splitlines()) == 1
