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
