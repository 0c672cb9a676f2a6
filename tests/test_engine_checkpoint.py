"""Checkpoints: naming, atomic save, lookup, weights_only round trip, RNG and resume."""

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from hiera_video.config import get_cfg
from hiera_video.models import CheckpointError
from hiera_video.engine.checkpoint import (
    capture_rng_state,
    checkpoint_dir,
    checkpoint_path,
    last_checkpoint,
    list_checkpoints,
    load_checkpoint,
    make_checkpoint_state,
    restore_checkpoint_state,
    restore_rng_state,
    save_checkpoint,
)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3))


def _trained_state(cfg, epoch=3):
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(5, 4)).sum().backward()
    opt.step()  # so the optimizer state holds exp_avg tensors and a step count
    return model, opt, make_checkpoint_state(model, opt, None, epoch, cfg)


def test_paths(tmp_path):
    out = str(tmp_path)
    assert checkpoint_dir(out) == os.path.join(out, "checkpoints")
    assert checkpoint_path(out, 7) == os.path.join(out, "checkpoints", "checkpoint_epoch_00007.pyth")
    with pytest.raises(ValueError):
        checkpoint_path(out, 0)


def test_list_and_last_checkpoint(tmp_path):
    out = str(tmp_path)
    assert list_checkpoints(out) == [] and last_checkpoint(out) is None
    for epoch in (10, 2, 1):
        save_checkpoint(checkpoint_path(out, epoch), {"epoch": epoch})
    folder = checkpoint_dir(out)
    # noise that must be ignored: a temp file, an unrelated file, a folder with a matching name
    open(os.path.join(folder, ".checkpoint_epoch_00011.pyth.abc.tmp"), "wb").close()
    open(os.path.join(folder, "notes.txt"), "w").close()
    os.mkdir(os.path.join(folder, "checkpoint_epoch_00099.pyth"))
    names = [os.path.basename(p) for p in list_checkpoints(out)]
    assert names == ["checkpoint_epoch_00001.pyth", "checkpoint_epoch_00002.pyth",
                     "checkpoint_epoch_00010.pyth"]
    assert last_checkpoint(out) == checkpoint_path(out, 10)
    assert load_checkpoint(last_checkpoint(out)) == {"epoch": 10}


def test_full_state_round_trips_with_weights_only(tmp_path):
    cfg = get_cfg()
    cfg.SOLVER.BASE_LR = 0.123
    model, opt, state = _trained_state(cfg)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    state["scaler"] = scaler.state_dict()
    assert state["scaler"]["scale"] == 1024.0
    path = checkpoint_path(str(tmp_path), 3)
    save_checkpoint(path, state)
    loaded = load_checkpoint(path)  # torch.load(..., weights_only=True) must accept it all
    assert loaded["epoch"] == 3
    assert "BASE_LR: 0.123" in loaded["cfg"]
    for k, v in model.state_dict().items():
        assert torch.equal(loaded["model"][k], v)
    assert loaded["optimizer"]["state"][0]["step"] == 1
    assert torch.equal(loaded["optimizer"]["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert loaded["scaler"]["scale"] == 1024.0
    rng = loaded["rng"]
    assert torch.equal(rng["torch"], state["rng"]["torch"])
    assert torch.equal(rng["python"]["state"], state["rng"]["python"]["state"])
    assert torch.equal(rng["numpy"]["keys"], state["rng"]["numpy"]["keys"])


def test_rng_restore_reproduces_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached gaussian in the python state
    np.random.standard_normal()  # and one in numpy's
    path = str(tmp_path / "rng.pyth")
    save_checkpoint(path, {"rng": capture_rng_state()})
    first = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    random.seed(99), np.random.seed(99), torch.manual_seed(99)
    restore_rng_state(load_checkpoint(path)["rng"])
    again = (random.random(), random.gauss(0, 1), np.random.standard_normal(3).tolist(), torch.rand(3))
    assert first[:3] == again[:3] and torch.equal(first[3], again[3])


def test_save_is_atomic_when_torch_save_fails(tmp_path, monkeypatch):
    path = checkpoint_path(str(tmp_path), 1)
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})
    real_save = torch.save

    def half_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 garbage, half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", half_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    new_path = checkpoint_path(str(tmp_path), 2)
    with pytest.raises(OSError):
        save_checkpoint(new_path, {"epoch": 2})
    monkeypatch.setattr(torch, "save", real_save)
    # the old file is intact, the new one never appeared, no temp file is left behind
    assert torch.equal(load_checkpoint(path)["w"], torch.ones(3))
    assert not os.path.exists(new_path)
    assert os.listdir(checkpoint_dir(str(tmp_path))) == ["checkpoint_epoch_00001.pyth"]
    assert last_checkpoint(str(tmp_path)) == path


def test_atomically_written_files_get_the_umask_mode_not_mkstemps_0600(tmp_path):
    """A checkpoint or report must be as readable as a plain open() would make it (e.g. by a teammate's
    TensorBoard on a shared cluster), not owner-only like mkstemp's temp file."""
    from hiera_video.utils.atomic import atomic_write_text

    for umask, mode in ((0o022, 0o644), (0o027, 0o640)):
        out = tmp_path / oct(umask)
        old = os.umask(umask)
        try:
            save_checkpoint(checkpoint_path(str(out), 1), {"epoch": 1})
            atomic_write_text(str(out / "report.json"), "{}")
            with open(out / "plain.txt", "w"):
                pass
        finally:
            os.umask(old)
        modes = {p.name: p.stat().st_mode & 0o777 for p in [*out.iterdir(), *out.glob("*/*.pyth")] if p.is_file()}
        assert modes == {"report.json": mode, "plain.txt": mode, "checkpoint_epoch_00001.pyth": mode}


def test_load_errors_and_url(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="missing.pyth: no such file"):
        load_checkpoint(str(tmp_path / "missing.pyth"))
    calls = {}

    def fake_hub(url, **kwargs):
        calls.update(kwargs, url=url)
        return {"model": {}}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    assert load_checkpoint("https://example.com/w.pth") == {"model": {}}
    assert calls == {"url": "https://example.com/w.pth", "map_location": "cpu", "weights_only": True}


class Arbitrary:
    """A plain Python object: pickle can save it, weights_only loading must refuse it."""


def test_weights_only_refuses_arbitrary_objects(tmp_path):
    path = str(tmp_path / "evil.pyth")
    save_checkpoint(path, {"obj": Arbitrary()})
    with pytest.raises(CheckpointError, match="evil.pyth: refused: .*weights_only=True.*Arbitrary"):
        load_checkpoint(path)


def test_resume_restores_model_optimizer_epoch(tmp_path):
    cfg = get_cfg()
    model, opt, state = _trained_state(cfg, epoch=4)
    save_checkpoint(checkpoint_path(str(tmp_path), 4), state)
    fresh = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    epoch = restore_checkpoint_state(load_checkpoint(last_checkpoint(str(tmp_path))), fresh, fresh_opt)
    assert epoch == 4
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    assert fresh_opt.state_dict()["state"][0]["step"] == 1
    with pytest.raises(CheckpointError, match="missing"):
        restore_checkpoint_state({"model": {}}, fresh)


def test_prune_keeps_the_newest_k_and_best(tmp_path):
    from hiera_video.engine.checkpoint import best_checkpoint_path, checkpoint_path, prune_checkpoints

    for e in range(1, 6):
        save_checkpoint(checkpoint_path(str(tmp_path), e), {"epoch": e})
    save_checkpoint(best_checkpoint_path(str(tmp_path)), {"epoch": 2})
    assert prune_checkpoints(str(tmp_path), 0) == []
    removed = prune_checkpoints(str(tmp_path), 2)
    assert [os.path.basename(p) for p in removed] == [f"checkpoint_epoch_0000{e}.pyth" for e in (1, 2, 3)]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "checkpoint_best.pyth", "checkpoint_epoch_00004.pyth", "checkpoint_epoch_00005.pyth"]


def test_ema_state_round_trip_and_missing_ema(caplog):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    ema.update_parameters(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update_parameters(model)  # 0.9 * w + 0.1 * (w + 1)
    assert torch.allclose(ema.module.weight, model.weight - 0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    state = make_checkpoint_state(model, opt, None, 3, "cfg: 1", ema=ema, best_top1=55.0)
    model2 = torch.nn.Linear(4, 2)
    ema2 = AveragedModel(model2, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    assert restore_checkpoint_state(state, model2, restore_rng=False, ema=ema2) == 3
    assert torch.equal(ema2.module.weight, ema.module.weight) and int(ema2.n_averaged) == 2
    assert state["best_top1"] == 55.0
    state["ema"] = None  # a checkpoint written without EMA: the EMA starts from the weights
    ema3 = AveragedModel(torch.nn.Linear(4, 2), multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    restore_checkpoint_state(state, model2, restore_rng=False, ema=ema3)
    assert torch.equal(ema3.module.weight, model.weight) and "no EMA weights" in caplog.text


def test_resume_skips_a_newest_checkpoint_that_does_not_load(tmp_path, caplog):
    from hiera_video.engine.checkpoint import load_resume_checkpoint, remove_stale_temp_files

    out = str(tmp_path)
    cfg = get_cfg()
    _, _, state = _trained_state(cfg, epoch=2)
    save_checkpoint(checkpoint_path(out, 2), state)
    good = open(checkpoint_path(out, 2), "rb").read()
    with open(checkpoint_path(out, 3), "wb") as f:  # a crash or a full disk cut the newest one short
        f.write(good[: len(good) // 3])
    with open(checkpoint_path(out, 4), "wb") as f:  # 0 bytes
        pass
    stale = os.path.join(out, "checkpoints", ".checkpoint_epoch_00005.pyth.abc123.tmp")
    with open(stale, "wb") as f:
        f.write(b"x" * 1000)
    other = os.path.join(out, "checkpoints", "notes.tmp")
    open(other, "w").close()
    with caplog.at_level("WARNING", logger="hiera_video"):
        assert remove_stale_temp_files(out) == [stale]
        path, loaded = load_resume_checkpoint(out)
    assert not os.path.exists(stale) and os.path.exists(other)
    assert path == checkpoint_path(out, 2) and loaded["epoch"] == 2
    skipped = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(skipped) == 2 and "checkpoint_epoch_00004.pyth" in skipped[0] and "empty file" in skipped[0]
    assert "checkpoint_epoch_00003.pyth" in skipped[1] and all("\n" not in m for m in skipped)
    assert load_resume_checkpoint(str(tmp_path / "nothing")) == (None, None)
