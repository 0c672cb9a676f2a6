"""Optimiser with weight-decay and layer-decay parameter groups, and the warmup + cosine LR schedule.

Layer-wise learning-rate decay (``SOLVER.LAYER_DECAY = d < 1``, the MAE / MAE-ST fine-tuning
recipe): the model says which layer each parameter belongs to (``model.get_layer_id(name)``, ids
``0 .. model.num_layers - 1``; for Hiera with ``n`` blocks: 0 the input, ``i + 1`` block ``i``,
``n + 1`` the final norm and head) and a layer's learning rate is ``lr x d^(num_layers - 1 - id)``.
Each group carries its ``lr_scale`` and :func:`set_lr` applies it. Source: BEiT / MAE
``param_groups_lrd`` and PySlowFast ``get_param_groups`` (``SOLVER.LAYER_DECAY``), re-implemented.

Schedule (PySlowFast's ``get_lr_at_epoch`` with the cosine starting after warmup),
for a fractional epoch ``e`` (epochs run ``0 .. SOLVER.MAX_EPOCH``)::

    W = WARMUP_EPOCHS, M = MAX_EPOCH
    cosine(e) = COSINE_END_LR + (BASE_LR - COSINE_END_LR) * (1 + cos(pi * (e - W) / (M - W))) / 2
    lr(e) = WARMUP_START_LR + (cosine(W) - WARMUP_START_LR) * e / W   if e < W   (cosine(W) = BASE_LR)
          = cosine(e)                                                 if W <= e <= M
          = COSINE_END_LR                                             if e > M
"""

from __future__ import annotations

import math
from typing import Dict, List

import torch
from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError

__all__ = ["build_optimizer", "param_groups", "lr_at_epoch", "set_lr", "OPTIMIZERS"]

OPTIMIZERS = ("adamw", "sgd")


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside DDP (``.module``) and ``torch.compile`` (``._orig_mod``) wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or getattr(model, "_orig_mod")
    return model


def param_groups(model: torch.nn.Module, cfg: CfgNode) -> List[Dict]:
    """Split the trainable parameters into weight-decay (and layer-decay) groups.

    With ``SOLVER.ZERO_WD_1D_PARAM`` the no-decay group holds every parameter with
    ``ndim <= 1`` (biases, norm weights) and every name returned by
    ``model.no_weight_decay()`` (e.g. position embeddings; a DDP ``module.`` prefix is
    ignored); otherwise every parameter decays. Parameters with
    ``requires_grad=False`` are left out. Empty groups are dropped.

    Returns:
        With ``SOLVER.LAYER_DECAY == 1``: ``[{"name": "decay", "params": [...], "weight_decay":
        SOLVER.WEIGHT_DECAY, "lr_scale": 1.0}, {"name": "no_decay", ..., "weight_decay": 0.0}]``.
        With ``LAYER_DECAY = d < 1``: one such pair per layer (``"layer{id}_decay"`` /
        ``"layer{id}_no_decay"``) with ``"lr_scale": d ** (num_layers - 1 - id)`` (``model.get_layer_id``).

    Raises:
        ValueError: no trainable parameter; ``LAYER_DECAY`` outside (0, 1]; layer decay on a
            model without ``get_layer_id``.
    """
    inner = _unwrap(model)
    no_wd_fn = getattr(inner, "no_weight_decay", None)
    skip = set(no_wd_fn()) if callable(no_wd_fn) else set()
    zero_1d = bool(cfg.SOLVER.ZERO_WD_1D_PARAM)
    decay_rate = float(cfg.SOLVER.LAYER_DECAY)
    if not 0.0 < decay_rate <= 1.0:
        raise ConfigError(f"SOLVER.LAYER_DECAY must be in (0, 1], got {decay_rate}")
    if decay_rate < 1.0 and not callable(getattr(inner, "get_layer_id", None)):
        raise ConfigError(f"SOLVER.LAYER_DECAY < 1 needs a model with get_layer_id() / num_layers; "
                         f"{type(inner).__name__} has none")
    groups: Dict[str, Dict] = {}
    for name, p in inner.named_parameters():
        if not p.requires_grad:
            continue
        no_wd = zero_1d and (p.ndim <= 1 or name in skip)
        kind = "no_decay" if no_wd else "decay"
        if decay_rate < 1.0:
            lid = inner.get_layer_id(name)
            key, scale = f"layer{lid}_{kind}", decay_rate ** (inner.num_layers - 1 - lid)
        else:
            key, scale = kind, 1.0
        if key not in groups:
            wd = 0.0 if no_wd else float(cfg.SOLVER.WEIGHT_DECAY)
            groups[key] = {"name": key, "params": [], "weight_decay": wd, "lr_scale": scale}
        groups[key]["params"].append(p)
    if not groups:
        raise ValueError("the model has no parameter with requires_grad=True")
    if decay_rate == 1.0:  # decay first, as without layer decay
        return [groups[k] for k in ("decay", "no_decay") if k in groups]
    return list(groups.values())  # input layer first, head last


def build_optimizer(model: torch.nn.Module, cfg: CfgNode) -> torch.optim.Optimizer:
    """AdamW (or SGD) over :func:`param_groups`, at the learning rate ``lr_at_epoch(cfg, 0)``.

    ``SOLVER.OPTIMIZING_METHOD`` (case-insensitive): ``"adamw"`` uses betas
    ``SOLVER.BETAS``; ``"sgd"`` uses momentum 0.9. The training loop is expected to
    call :func:`set_lr` every iteration.

    Raises:
        ValueError: for another method, bad ``SOLVER.BETAS``, or no trainable parameter.
    """
    method = str(cfg.SOLVER.OPTIMIZING_METHOD).lower()
    if method not in OPTIMIZERS:
        raise ConfigError(
            f"SOLVER.OPTIMIZING_METHOD={cfg.SOLVER.OPTIMIZING_METHOD!r} is not supported; "
            f"valid choices: {', '.join(OPTIMIZERS)}"
        )
    groups = param_groups(model, cfg)
    lr = lr_at_epoch(cfg, 0.0)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    if method == "adamw":
        betas = tuple(float(b) for b in cfg.SOLVER.BETAS)
        if len(betas) != 2:
            raise ConfigError(f"SOLVER.BETAS must hold 2 numbers, got {cfg.SOLVER.BETAS}")
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def lr_at_epoch(cfg: CfgNode, cur_epoch: float) -> float:
    """Learning rate at fractional epoch ``cur_epoch`` (e.g. ``epoch + it / iters_per_epoch``).

    Pure function of ``cfg.SOLVER`` and ``cur_epoch``; see the module docstring.
    ``WARMUP_EPOCHS = 0`` disables warmup.

    Raises:
        ValueError: if ``cur_epoch < 0``, ``WARMUP_EPOCHS < 0`` or ``MAX_EPOCH < WARMUP_EPOCHS``
            (``load_config`` clamps such a warm-up to the run, with a warning).
    """
    s = cfg.SOLVER
    warmup, max_epoch = float(s.WARMUP_EPOCHS), float(s.MAX_EPOCH)
    base, end = float(s.BASE_LR), float(s.COSINE_END_LR)
    cur_epoch = float(cur_epoch)
    if cur_epoch < 0:
        raise ValueError(f"cur_epoch must be >= 0, got {cur_epoch}")
    if warmup < 0 or max_epoch < warmup or max_epoch <= 0:
        raise ValueError(
            f"need 0 <= SOLVER.WARMUP_EPOCHS <= SOLVER.MAX_EPOCH, got {warmup} and {max_epoch}"
        )

    def cosine(e: float) -> float:
        if max_epoch == warmup:  # a warm-up as long as the run (load_config clamps longer ones): no cosine
            return base
        progress = min((e - warmup) / (max_epoch - warmup), 1.0)
        return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    if cur_epoch < warmup:
        start = float(s.WARMUP_START_LR)
        return start + (cosine(warmup) - start) * cur_epoch / warmup
    return cosine(cur_epoch)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate to ``lr x group["lr_scale"]`` (1 when absent)."""
    for group in optimizer.param_groups:
        group["lr"] = float(lr) * float(group.get("lr_scale", 1.0))
