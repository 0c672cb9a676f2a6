"""Optimiser parameter groups and the warmup + cosine learning-rate schedule."""

import math

import pytest
import torch
from torch import nn

from hiera_video.config import get_cfg
from hiera_video.engine.optim import build_optimizer, lr_at_epoch, param_groups, set_lr


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))  # 3-D but named in no_weight_decay
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)

    def no_weight_decay(self):
        return {"pos_embed"}


def _cfg(**solver):
    cfg = get_cfg()
    cfg.TRAIN.PRECISION = "fp32"  # the updates are compared exactly: the same arithmetic on every CPU
    cfg.SOLVER.BASE_LR = 1e-3
    cfg.SOLVER.WARMUP_START_LR = 1e-5
    cfg.SOLVER.COSINE_END_LR = 1e-6
    cfg.SOLVER.WARMUP_EPOCHS = 5.0
    cfg.SOLVER.MAX_EPOCH = 25
    for k, v in solver.items():
        setattr(cfg.SOLVER, k, v)
    return cfg


def _ids(params):
    return {id(p) for p in params}


def test_param_groups_split():
    model = Tiny()
    opt = build_optimizer(model, _cfg(WEIGHT_DECAY=0.05, BETAS=[0.8, 0.95]))
    assert isinstance(opt, torch.optim.AdamW)
    groups = {g["name"]: g for g in opt.param_groups}
    assert _ids(groups["decay"]["params"]) == _ids([model.proj.weight, model.head.weight])
    assert _ids(groups["no_decay"]["params"]) == _ids(
        [model.pos_embed, model.proj.bias, model.norm.weight, model.norm.bias, model.head.bias])
    assert groups["decay"]["weight_decay"] == 0.05 and groups["no_decay"]["weight_decay"] == 0.0
    assert all(g["betas"] == (0.8, 0.95) for g in opt.param_groups)
    assert all(g["lr"] == pytest.approx(1e-5) for g in opt.param_groups)  # lr_at_epoch(cfg, 0)
    frozen = _ids(model.frozen.parameters())
    assert not frozen & _ids(p for g in opt.param_groups for p in g["params"])


def test_param_groups_without_zero_wd_and_under_ddp_prefix():
    model = Tiny()
    groups = param_groups(model, _cfg(ZERO_WD_1D_PARAM=False))
    assert [g["name"] for g in groups] == ["decay"] and len(groups[0]["params"]) == 7

    class Wrapper(nn.Module):  # like DDP: parameters named "module.*"
        def __init__(self, inner):
            super().__init__()
            self.module = inner

    groups = {g["name"]: g for g in param_groups(Wrapper(model), _cfg())}
    assert id(model.pos_embed) in _ids(groups["no_decay"]["params"])


def test_optimizer_method_checks():
    with pytest.raises(ValueError, match="valid choices: adamw, sgd"):
        build_optimizer(Tiny(), _cfg(OPTIMIZING_METHOD="lamb"))
    sgd = build_optimizer(Tiny(), _cfg(OPTIMIZING_METHOD="SGD"))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad"):
        build_optimizer(frozen, _cfg())


def test_lr_schedule_values():
    cfg = _cfg()
    base, start, end = 1e-3, 1e-5, 1e-6
    assert lr_at_epoch(cfg, 0.0) == pytest.approx(start)
    assert lr_at_epoch(cfg, 2.5) == pytest.approx((start + base) / 2)  # mid-warmup
    assert lr_at_epoch(cfg, 5.0) == pytest.approx(base)  # end of warmup
    assert lr_at_epoch(cfg, 5.0 - 1e-9) == pytest.approx(base)  # continuous at the joint
    assert lr_at_epoch(cfg, 15.0) == pytest.approx((base + end) / 2)  # cosine half-way
    quarter = end + (base - end) * 0.5 * (1 + math.cos(math.pi / 4))
    assert lr_at_epoch(cfg, 10.0) == pytest.approx(quarter)
    assert lr_at_epoch(cfg, 25.0) == pytest.approx(end)  # end
    assert lr_at_epoch(cfg, 30.0) == pytest.approx(end)  # past the end: held at the floor
    lrs = [lr_at_epoch(cfg, e / 10) for e in range(0, 251)]
    assert all(a <= b for a, b in zip(lrs[:50], lrs[1:51]))  # rises during warmup
    assert all(a >= b for a, b in zip(lrs[50:], lrs[51:]))  # falls after


def test_lr_schedule_edge_cases():
    no_warmup = _cfg(WARMUP_EPOCHS=0.0)
    assert lr_at_epoch(no_warmup, 0.0) == pytest.approx(1e-3)
    with pytest.raises(ValueError, match="cur_epoch"):
        lr_at_epoch(_cfg(), -0.1)
    with pytest.raises(ValueError, match="WARMUP_EPOCHS"):
        lr_at_epoch(_cfg(WARMUP_EPOCHS=25.5), 1.0)  # longer than the run (load_config clamps it)
    whole_run = _cfg(WARMUP_EPOCHS=25.0)  # a warm-up as long as the run: linear to BASE_LR, no cosine
    assert lr_at_epoch(whole_run, 12.5) == pytest.approx(1e-5 + (1e-3 - 1e-5) / 2)
    assert lr_at_epoch(whole_run, 25.0) == pytest.approx(1e-3)


def test_set_lr():
    opt = build_optimizer(Tiny(), _cfg())
    set_lr(opt, 0.25)
    assert [g["lr"] for g in opt.param_groups] == [0.25, 0.25]


def test_layer_decay_groups_follow_the_formula():
    """lr scale d^(n + 1 - id): id 0 = patch/pos embeddings, block i = i + 1, norm/head = n + 1."""
    from hiera_video.models import create_model

    model = create_model("hiera_tiny_16x224", num_classes=5, input_size=(4, 32, 32))
    n = len(model.blocks)
    assert model.num_layers == n + 2
    d = 0.75
    cfg = _cfg(LAYER_DECAY=d, WEIGHT_DECAY=0.05)
    groups = param_groups(model, cfg)
    scale_of = {id(p): (g["lr_scale"], g["weight_decay"]) for g in groups for p in g["params"]}
    assert len(scale_of) == sum(1 for p in model.parameters() if p.requires_grad)
    expected_ids = {"patch_embed.proj.weight": 0, "pos_embed_spatial": 0, "pos_embed_temporal": 0,
                    "blocks.0.attn.qkv.weight": 1, f"blocks.{n - 1}.mlp.fc1.bias": n, "head.projection.weight": n + 1,
                    "norm.weight": n + 1}
    params = dict(model.named_parameters())
    for name, lid in expected_ids.items():
        assert model.get_layer_id(name) == lid
        scale, wd = scale_of[id(params[name])]
        assert scale == pytest.approx(d ** (n + 1 - lid))
        assert wd == (0.0 if params[name].ndim <= 1 or name.startswith("pos_embed") else 0.05)
    assert {g["name"] for g in groups} >= {"layer0_no_decay", "layer1_decay", f"layer{n + 1}_decay"}
    opt = build_optimizer(model, cfg)
    set_lr(opt, 1e-3)
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(1e-3 * g["lr_scale"])
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="LAYER_DECAY"):
            param_groups(model, _cfg(LAYER_DECAY=bad))
    with pytest.raises(ValueError, match="needs a model with get_layer_id"):
        param_groups(Tiny(), _cfg(LAYER_DECAY=0.8))


class _MeanTask:
    """training_loss of a linear model on the clips' per-channel means (deterministic)."""

    def training_loss(self, model, batch, device):
        logits = model(batch["clip"].mean(dim=(2, 3, 4)))
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        return loss, {"top1_correct": 0, "top5_correct": 0, "count": batch["label"].numel()}


@pytest.mark.amx
@pytest.mark.parametrize("accum", [2, 4])
def test_gradient_accumulation_equals_the_large_batch(accum):
    """GRAD_ACCUM_STEPS k over k batches of 8 / k clips gives the same update as one batch of 8."""
    from hiera_video.engine.train_loop import train_epoch

    torch.manual_seed(0)
    clips, labels = torch.randn(8, 3, 2, 4, 4), torch.randint(0, 3, (8,))
    scaler = torch.amp.GradScaler("cuda", enabled=False)
    results = []
    for steps in (1, accum):
        cfg = _cfg(WARMUP_EPOCHS=0.0, BASE_LR=0.1, COSINE_END_LR=0.1, CLIP_GRAD_L2NORM=0.0, MAX_EPOCH=1)
        cfg.TRAIN.GRAD_ACCUM_STEPS = steps
        torch.manual_seed(1)
        model = nn.Linear(3, 3)
        w0 = model.weight.detach().clone()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        b = 8 // steps
        loader = [{"clip": clips[i:i + b], "label": labels[i:i + b]} for i in range(0, 8, b)]
        stats, _, _ = train_epoch(cfg, model, _MeanTask(), loader, opt, scaler, 0, torch.device("cpu"))
        assert not torch.allclose(model.weight, w0)  # it trained
        results.append((model.weight.detach().clone(), stats))
    (w_big, s_big), (w_acc, s_acc) = results
    assert torch.allclose(w_big, w_acc, atol=1e-6)
    assert s_big["grad_norm"] == pytest.approx(s_acc["grad_norm"], rel=1e-5)
    cfg.TRAIN.GRAD_ACCUM_STEPS = 0
    with pytest.raises(ValueError, match="GRAD_ACCUM_STEPS"):
        train_epoch(cfg, model, _MeanTask(), loader, opt, scaler, 0, torch.device("cpu"))
