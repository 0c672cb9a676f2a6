"""TEST.PRECISION: which autocast test, validation and the demo use, and bf16 inference staying within bf16 tolerance
of fp32 through the multi-view test."""

from __future__ import annotations

import os

import pytest
import torch

from hiera_video.engine import precision
from hiera_video.engine.precision import test_autocast as autocast_for
from hiera_video.engine.precision import test_dtype as dtype_for

CPU = torch.device("cpu")

pytestmark = pytest.mark.amx


def test_precision_choices(monkeypatch):
    assert dtype_for(CPU, "fp32") is None and dtype_for(CPU, "bf16") is torch.bfloat16
    assert dtype_for(CPU, "fp16") is torch.float16
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert dtype_for(CPU, "auto") is None  # avx512_bf16 without AMX: bf16 measured slower, so fp32
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    assert dtype_for(CPU, "auto") is torch.bfloat16
    assert dtype_for(torch.device("cuda"), "auto", train_precision="fp32") is None
    with pytest.raises(ValueError, match="TEST.PRECISION must be one of"):
        dtype_for(CPU, "int8")
    with autocast_for(CPU, "bf16"):
        assert torch.get_autocast_dtype("cpu") is torch.bfloat16 and torch.is_autocast_enabled("cpu")
    with autocast_for(CPU, "fp32"):
        assert not torch.is_autocast_enabled("cpu")


def test_bf16_and_fp16_multiview_tests_stay_within_tolerance_of_fp32(tmp_path):
    """The same checkpoint tested on the same videos with TEST.PRECISION fp32, bf16 and fp16: per-view logits agree
    to each type's precision (fp16 keeps 3 more mantissa bits than bf16, so its bound is tighter), and every video
    whose fp32 ensemble is decided by a clear margin gets the same prediction."""
    from hiera_video.config import load_config
    from hiera_video.data import build_dataset
    from hiera_video.engine.multiview_eval import ModelUnderTest, run_multiview_tests
    from hiera_video.engine.tasks import build_task
    from hiera_video.evaluation.multiview import ensemble_probs
    from hiera_video.evaluation.view_logits import load_view_logits
    from hiera_video.prep.synthetic import make_motion_dataset

    from helpers import ROOT

    data = str(tmp_path / "data")
    make_motion_dataset(data, num_train_per_class=1, num_val_per_class=1, num_test_per_class=2, size=(40, 48),
                        num_frames=16)
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml"), [
        "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "DATA.MAKE_SYNTHETIC", "False",
        "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
        "DATA_LOADER.NUM_WORKERS", "0", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3",
        "OUTPUT_DIR", str(tmp_path / "run")])
    task = build_task(cfg)
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():
        torch.nn.init.normal_(model.head.projection.weight, std=0.2)  # spread logits: few near-ties
    dataset = build_dataset("kinetics", cfg, "test")
    stored = {}
    for name in ("fp32", "bf16", "fp16"):
        cfg.defrost()
        cfg.TEST.PRECISION = name
        out = str(tmp_path / name)
        run_multiview_tests(cfg, {"test": ModelUnderTest(model, out)}, task, dataset, CPU)
        stored[name] = load_view_logits(os.path.join(out, "view_logits.npz"))
    a = stored["fp32"].logits
    pa = ensemble_probs(a)
    top2 = pa.topk(2, dim=1).values
    clear = (top2[:, 0] - top2[:, 1]) > 0.05
    assert clear.sum() >= 6
    errors = {}
    for name, bound in (("bf16", 0.03), ("fp16", 0.005)):  # bf16 keeps 8 significant bits, fp16 11
        b = stored[name].logits
        assert a.shape == b.shape == (12, 6, 6) and not torch.equal(a, b)  # the reduced precision did run
        errors[name] = ((a - b).abs().max() / a.abs().max()).item()
        assert errors[name] <= bound, (name, errors[name])
        assert torch.equal(pa.argmax(1)[clear], ensemble_probs(b).argmax(1)[clear])
    assert errors["fp16"] < errors["bf16"]


def test_train_precision_choices(monkeypatch):
    """TRAIN.PRECISION auto: bf16 where it is native, fp16 + GradScaler on GPUs that only emulate bf16 (V100, T4:
    ``is_bf16_supported()`` says True there, ``including_emulation=False`` says False), fp32 on CPUs without AMX."""
    gpu = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert precision.train_dtype(gpu, "auto") is torch.float16 and precision.needs_grad_scaler(gpu, "auto")
    assert dtype_for(gpu, "auto", train_precision="auto") is torch.float16  # the test follows training on CUDA
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert precision.train_dtype(gpu, "auto") is torch.bfloat16 and not precision.needs_grad_scaler(gpu, "auto")
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: False)
    assert precision.train_dtype(CPU, "auto") is None and not precision.needs_grad_scaler(CPU, "auto")
    monkeypatch.setattr(precision, "cpu_has_amx", lambda: True)
    assert precision.train_dtype(CPU, "auto") is torch.bfloat16
    for device in (CPU, gpu):
        assert precision.train_dtype(device, "fp32") is None
        assert precision.train_dtype(device, "bf16") is torch.bfloat16
        assert precision.train_dtype(device, "fp16") is torch.float16 and precision.needs_grad_scaler(device, "fp16")
    with pytest.raises(ValueError, match="TRAIN.PRECISION must be one of"):
        precision.train_dtype(CPU, "amp")


def test_fp16_train_epoch_with_grad_scaler_on_the_cpu(tmp_path):
    """The project's own train_epoch with TRAIN.PRECISION fp16 and a GradScaler on the CPU: the forward runs in fp16;
    a scale of 2^20 overflows the first steps' fp16 gradients, so the scaler skips them (halving its scale each
    time) and the EMA is updated only on the steps that were taken."""
    from hiera_video.config import load_config
    from hiera_video.engine.optim import build_optimizer
    from hiera_video.engine.runner import build_ema
    from hiera_video.engine.tasks import build_task
    from hiera_video.engine.train_loop import train_epoch

    from helpers import ROOT

    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml"), [
        "TRAIN.PRECISION", "fp16", "NUM_GPUS", "0", "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "32",
        "DATA.TEST_CROP_SIZE", "32", "MODEL.EMA.ENABLE", "True", "SOLVER.WARMUP_EPOCHS", "0.0",
        "OUTPUT_DIR", str(tmp_path)])
    torch.manual_seed(0)
    task = build_task(cfg)
    model = task.build_model()
    optimizer = build_optimizer(model, cfg)
    ema = build_ema(model, cfg)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**20, growth_interval=1000)
    head_dtypes = []
    model.head.register_forward_hook(lambda m, i, o: head_dtypes.append(o.dtype))
    gen = torch.Generator().manual_seed(0)
    loader = [{"clip": torch.randn(2, 3, 4, 32, 32, generator=gen), "label": torch.tensor([0, 1])} for _ in range(8)]
    before = [p.detach().clone() for p in model.parameters()]
    stats, bad, _ = train_epoch(cfg, model, task, loader, optimizer, scaler, 0, CPU, None, ema)
    skipped = stats["skipped_steps"]
    assert set(head_dtypes) == {torch.float16} and len(head_dtypes) == 8
    assert 1 <= skipped < 8 and scaler.get_scale() == 2.0**20 * 0.5**skipped
    assert int(ema.n_averaged) == 8 - skipped
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert bad == [] and torch.isfinite(torch.tensor(stats["loss"]))


def test_cuda_tf32_switch():
    """CUDA_TF32 sets the flags cuBLAS and cuDNN read (settable without a GPU); restored afterwards."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        precision.configure_cuda_tf32(True)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        precision.configure_cuda_tf32(False)
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_auto_follows_the_cpu_and_the_override_both_ways(monkeypatch):
    """HIERA_VIDEO_CPU_AMX forces the AMX check: with 1, TEST.PRECISION auto runs a model in bf16 (logits within bf16
    precision of fp32, not equal), TRAIN.PRECISION auto is bf16; with 0, auto is exactly fp32. Anything else is one
    SetupError naming the variable."""
    from hiera_video.models import create_model
    from hiera_video.utils.errors import SetupError

    torch.manual_seed(0)
    model = create_model("hiera_tiny_16x224", num_classes=5, input_size=(4, 32, 32)).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        reference = model(x)
        logits = {}
        for value in ("1", "0"):
            monkeypatch.setenv(precision.AMX_ENV, value)
            with autocast_for(CPU, "auto"):
                logits[value] = model(x).float()
            assert precision.train_dtype(CPU, "auto") is (torch.bfloat16 if value == "1" else None)
    assert torch.equal(logits["0"], reference)
    error = ((logits["1"] - reference).abs().max() / reference.abs().max()).item()
    assert 0 < error < 0.05
    monkeypatch.setenv(precision.AMX_ENV, "yes")
    with pytest.raises(SetupError, match="HIERA_VIDEO_CPU_AMX must be 0 or 1"):
        precision.cpu_has_amx()
