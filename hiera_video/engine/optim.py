"""Optimiser with weight-decay parameter groups, and the warmup + cosine LR schedule.

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

__all__ = ["build_optimizer", "param_groups", "lr_at_epoch", "set_lr", "OPTIMIZERS"]

OPTIMIZERS = ("adamw", "sgd")


def _no_weight_decay_names(model: torch.nn.Module) -> set:
    inner = model.module if hasattr(model, "module") else model
    fn = getattr(inner, "no_weight_decay", None)
    return set(fn()) if callable(fn) else set()


def param_groups(model: torch.nn.Module, cfg: CfgNode) -> List[Dict]:
    """Split the trainable parameters into a decay and a no-decay group.

    With ``SOLVER.ZERO_WD_1D_PARAM`` the no-decay group holds every parameter with
    ``ndim <= 1`` (biases, norm weights) and every name returned by
    ``model.no_weight_decay()`` (e.g. position embeddings; a DDP ``module.`` prefix is
    ignored); otherwise every parameter decays. Parameters with
    ``requires_grad=False`` are left out. Empty groups are dropped.

    Returns:
        ``[{"name": "decay", "params": [...], "weight_decay": SOLVER.WEIGHT_DECAY},
        {"name": "no_decay", "params": [...], "weight_decay": 0.0}]``.

    Raises:
        ValueError: if the model has no trainable parameter.
    """
    skip = _no_weight_decay_names(model)
    zero_1d = bool(cfg.SOLVER.ZERO_WD_1D_PARAM)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        bare = name[len("module."):] if name.startswith("module.") else name
        if zero_1d and (p.ndim <= 1 or bare in skip):
            no_decay.append(p)
        else:
            decay.append(p)
    if not decay and not no_decay:
        raise ValueError("the model has no parameter with requires_grad=True")
    groups = [
        {"name": "decay", "params": decay, "weight_decay": float(cfg.SOLVER.WEIGHT_DECAY)},
        {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


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
        raise ValueError(
            f"SOLVER.OPTIMIZING_METHOD={cfg.SOLVER.OPTIMIZING_METHOD!r} is not supported; "
            f"valid choices: {', '.join(OPTIMIZERS)}"
        )
    groups = param_groups(model, cfg)
    lr = lr_at_epoch(cfg, 0.0)
    if method == "adamw":
        betas = tuple(float(b) for b in cfg.SOLVER.BETAS)
        if len(betas) != 2:
            raise ValueError(f"SOLVER.BETAS must hold 2 numbers, got {cfg.SOLVER.BETAS}")
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def lr_at_epoch(cfg: CfgNode, cur_epoch: float) -> float:
    """Learning rate at fractional epoch ``cur_epoch`` (e.g. ``epoch + it / iters_per_epoch``).

    Pure function of ``cfg.SOLVER`` and ``cur_epoch``; see the module docstring.
    ``WARMUP_EPOCHS = 0`` disables warmup.

    Raises:
        ValueError: if ``cur_epoch < 0``, ``WARMUP_EPOCHS < 0`` or
            ``MAX_EPOCH <= WARMUP_EPOCHS`` (no room for the cosine).
    """
    s = cfg.SOLVER
    warmup, max_epoch = float(s.WARMUP_EPOCHS), float(s.MAX_EPOCH)
    base, end = float(s.BASE_LR), float(s.COSINE_END_LR)
    cur_epoch = float(cur_epoch)
    if cur_epoch < 0:
        raise ValueError(f"cur_epoch must be >= 0, got {cur_epoch}")
    if warmup < 0 or max_epoch <= warmup:
        raise ValueError(
            f"need 0 <= SOLVER.WARMUP_EPOCHS < SOLVER.MAX_EPOCH, got {warmup} and {max_epoch}"
        )

    def cosine(e: float) -> float:
        progress = min((e - warmup) / (max_epoch - warmup), 1.0)
        return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * progress))

    if cur_epoch < warmup:
        start = float(s.WARMUP_START_LR)
        return start + (cosine(warmup) - start) * cur_epoch / warmup
    return cosine(cur_epoch)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set ``lr`` on every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = float(lr)
