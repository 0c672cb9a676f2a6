"""One training epoch: per-iteration learning rate, ``TRAIN.PRECISION`` (autocast, fp16 with a gradient scaler),
gradient accumulation, progress bar, TensorBoard scalars, bad-video accounting, and one decision to stop shared by
every process."""

from __future__ import annotations

import logging
import math
import time
from contextlib import nullcontext
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode
from tqdm import tqdm

from hiera_video.data.bad_videos import BadVideosInARowError
from hiera_video.engine import distributed as du
from hiera_video.engine.optim import lr_at_epoch, set_lr
from hiera_video.engine.precision import autocast_for, train_dtype
from hiera_video.utils.errors import ConfigError, InputError

logger = logging.getLogger("hiera_video.engine")


class NonFiniteLossError(InputError, RuntimeError):
    """The training loss became NaN or infinite (the run diverged: its settings, not a bug); the one-line message
    names the epoch, the iteration and what to change. ``tools/run_net.py`` prints it as ``error: ...`` (status 2)."""


#: what makes a process stop training: nothing, a streak of videos that failed, a loss that is not finite.
_GO, _BAD_VIDEOS, _NON_FINITE = 0, 1, 2


def stop_if_any_process_must(code: int, message: str, bad: Sequence[Tuple[str, str]] = (),
                             partial: Sequence[Tuple[str, str]] = ()) -> None:
    """Raise on *every* process when any process must stop: called by all processes at the same point of every
    iteration (after the forward pass, before the backward pass and its gradient all-reduce), so that an error on
    one rank never leaves the others waiting in a collective until the process-group timeout.

    One small ``all_reduce`` (max of the codes) per call; only when a code is set do the processes exchange their
    messages and bad-video lists. Every process then raises the error of the lowest rank that stopped, with that
    rank's one-line message (naming the rank when there are several processes), and a
    :class:`~hiera_video.data.bad_videos.BadVideosInARowError` carries the bad / partial videos of all processes.

    Args:
        code: this process's ``_GO`` (0), ``_BAD_VIDEOS`` (1) or ``_NON_FINITE`` (2).
        message: the error message this process would raise (ignored for ``_GO``).

    Raises:
        BadVideosInARowError, NonFiniteLossError: as described.
    """
    world = du.get_world_size()
    if world > 1:
        flag = du.all_reduce_max(torch.tensor([code], dtype=torch.int64))
        if int(flag.item()) == _GO:
            return
        seen = du.all_gather_objects((code, message, list(bad), list(partial)))
        rank = next(r for r, (c, *_rest) in enumerate(seen) if c != _GO)
        code, message = seen[rank][0], f"{seen[rank][1]} (on rank {rank} of {world})"
        bad = [b for part in seen for b in part[2]]
        partial = [p for part in seen for p in part[3]]
    if code == _BAD_VIDEOS:
        raise BadVideosInARowError(message, list(bad), list(partial))
    if code == _NON_FINITE:
        raise NonFiniteLossError(message)


def train_epoch(
    cfg: CfgNode,
    model: nn.Module,
    task,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    epoch: int,
    device: torch.device,
    writer=None,
    ema=None,
) -> Tuple[Dict[str, float], List[Tuple[str, str]]]:
    """Train ``model`` for one pass over ``loader``.

    Every iteration is one forward/backward pass; the optimizer steps every
    ``TRAIN.GRAD_ACCUM_STEPS`` iterations (and at the last one), with the loss of each pass
    divided by the number of passes in its step, so a step's gradient is the mean over all
    its clips. Under DDP the gradient all-reduce runs only on the passes that step.
    The forward pass runs under ``TRAIN.PRECISION``'s autocast (:func:`~hiera_video.engine.precision.train_dtype`);
    ``scaler`` (a ``GradScaler``, enabled for fp16) scales the loss, and an optimizer step it skips (gradients
    that overflowed) leaves the EMA alone too. After every forward pass all processes agree whether to go on
    (:func:`stop_if_any_process_must`): an error on one process stops all of them with its message.

    Args:
        epoch: 0-based index of this epoch; the learning rate follows
            :func:`lr_at_epoch` at fractional epoch ``epoch + it / len(loader)``.
        writer: a ``torch.utils.tensorboard.SummaryWriter`` (main process) or None; gets
            ``train/loss``, ``train/lr`` and ``train/grad_norm`` every ``LOG_PERIOD`` steps at global
            step ``epoch * len(loader) + it``.
        ema: a ``torch.optim.swa_utils.AveragedModel`` of the (unwrapped) model, updated after
            every optimizer step, or None.

    Returns:
        ``(stats, bad, partial)``: epoch statistics (loss, top-1/top-5 in percent when the task's counts
        have ``top1_correct`` / ``top5_correct``, lr, mean gradient
        L2 norm before clipping, clips/s, number of replaced bad samples, optimizer steps and those the gradient
        scaler skipped) summed over
        processes, the ``(path, error)`` of videos that failed to decode on this process (replaced), and the
        ``(path, reason)`` of partial (truncated) videos it used.

    Raises (on every process, whichever process met the problem):
        NonFiniteLossError: the loss is NaN or infinite.
        BadVideosInARowError: an item's ``DATA.MAX_RETRIES + 1`` videos all failed (carries ``bad`` / ``partial``
            of every process).
        ValueError: ``TRAIN.GRAD_ACCUM_STEPS < 1``.
    """
    model.train()
    num_iters = len(loader)
    accum = int(cfg.TRAIN.GRAD_ACCUM_STEPS)
    if accum < 1:
        raise ConfigError(f"TRAIN.GRAD_ACCUM_STEPS must be >= 1, got {accum}")
    dtype = train_dtype(device, str(cfg.TRAIN.PRECISION))
    sums = torch.zeros(4, dtype=torch.float64)  # loss*n, top1, top5, n
    norm_sum, num_steps, optimizer_steps, skipped_steps = 0.0, 0, 0, 0
    has_acc = False
    bad: List[Tuple[str, str]] = []
    partial: List[Tuple[str, str]] = []
    lr = optimizer.param_groups[0]["lr"]
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    bar = tqdm(
        loader,
        total=num_iters,
        desc=f"epoch {epoch + 1}/{cfg.SOLVER.MAX_EPOCH}",
        disable=not du.is_main_process(),
        dynamic_ncols=True,
        leave=True,
    )
    for it, batch in enumerate(bar):
        lr = lr_at_epoch(cfg, epoch + it / num_iters)
        set_lr(optimizer, lr)
        bad.extend(batch.get("bad", []))
        partial.extend(batch.get("partial", []))
        step_start = it - it % accum
        passes = min(accum, num_iters - step_start)  # passes in this step (the last may be short)
        steps_now = it == step_start + passes - 1

        sync = nullcontext() if steps_now or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            code, message, loss = _GO, "", None
            if batch.get("failed_items"):  # an item's DATA.MAX_RETRIES + 1 videos all failed: stop, naming them
                last = "; ".join(r if p in r else f"{p}: {r}" for p, r in bad[-3:])
                code, message = _BAD_VIDEOS, (
                    f"train: {int(cfg.DATA.MAX_RETRIES) + 1} videos failed to decode in a row (DATA.MAX_RETRIES "
                    f"{cfg.DATA.MAX_RETRIES}) at epoch {epoch + 1}, iteration {it + 1}; last failures: {last}")
            else:
                with autocast_for(device, dtype):
                    loss, counts = task.training_loss(model, batch, device)
                loss_value = loss.item()  # the one host sync of the step's loss
                if not math.isfinite(loss_value):
                    code, message = _NON_FINITE, (
                        f"loss is {loss_value} at epoch {epoch + 1}, iteration {it + 1}/{num_iters}; stopping (the "
                        "last checkpoint in OUTPUT_DIR/checkpoints is intact; a lower SOLVER.BASE_LR, a longer "
                        "SOLVER.WARMUP_EPOCHS or SOLVER.CLIP_GRAD_L2NORM may help)")
            stop_if_any_process_must(code, message, bad, partial)
            scaler.scale(loss / passes).backward()
        grad_norm: Optional[float] = None
        if steps_now:
            scaler.unscale_(optimizer)
            max_norm = cfg.SOLVER.CLIP_GRAD_L2NORM if cfg.SOLVER.CLIP_GRAD_L2NORM > 0 else float("inf")
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), max_norm))
            scale = scaler.get_scale() if scaler.is_enabled() else None
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            skipped = scale is not None and scaler.get_scale() < scale  # inf/nan gradients: no step was taken
            optimizer_steps, skipped_steps = optimizer_steps + 1, skipped_steps + int(skipped)
            if ema is not None and not skipped:
                ema.update_parameters(model.module if hasattr(model, "module") else model)
            if math.isfinite(grad_norm):
                norm_sum, num_steps = norm_sum + grad_norm, num_steps + 1

        n = counts["count"]
        has_acc = "top1_correct" in counts
        sums += torch.tensor(
            [loss_value * n, float(counts.get("top1_correct", 0)), float(counts.get("top5_correct", 0)), n],
            dtype=torch.float64,
        )
        if it % max(cfg.LOG_PERIOD, 1) == 0 or it == num_iters - 1:
            postfix = {"loss": f"{sums[0] / sums[3]:.4f}", "lr": f"{lr:.2e}"}
            if has_acc:
                postfix["top1"] = f"{100 * sums[1] / sums[3]:.1f}"
            bar.set_postfix(**postfix)
            if writer is not None:
                step = epoch * num_iters + it
                writer.add_scalar("train/loss", loss_value, step)
                writer.add_scalar("train/lr", lr, step)
                if grad_norm is not None:
                    writer.add_scalar("train/grad_norm", grad_norm, step)
    bar.close()

    elapsed = time.perf_counter() - start
    sums = du.all_reduce_sum(sums)
    n = max(sums[3].item(), 1.0)
    stats = {
        "epoch": epoch + 1,
        "loss": sums[0].item() / n,
        "lr": lr,
        "grad_norm": norm_sum / max(num_steps, 1),
        "clips_per_s": sums[3].item() / max(elapsed, 1e-9),
        "time_s": elapsed,
        "num_bad_samples": len(bad),
        "num_partial_samples": len(partial),
        "steps": optimizer_steps,
        "skipped_steps": skipped_steps,
    }
    if num_iters and has_acc:  # tasks that report accuracy counts (classification)
        stats["top1"], stats["top5"] = 100.0 * sums[1].item() / n, 100.0 * sums[2].item() / n
    return stats, bad, partial
