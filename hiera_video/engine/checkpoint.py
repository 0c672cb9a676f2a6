"""Training checkpoints: atomic save, newest-checkpoint lookup, load, resume.

Layout: ``{OUTPUT_DIR}/checkpoints/checkpoint_epoch_{epoch:05d}.pyth`` where
``epoch`` is the number of finished epochs (1-based: the file written after the
first epoch is ``checkpoint_epoch_00001.pyth``).

A checkpoint is a dict that ``torch.load(..., weights_only=True)`` can read:

* ``model``: the model's ``state_dict()`` (unwrapped from DDP),
* ``optimizer``: ``optimizer.state_dict()``,
* ``scaler``: ``GradScaler.state_dict()`` or ``None``,
* ``epoch``: finished epochs (int),
* ``cfg``: the run's configuration as a YAML string (``cfg.dump()``),
* ``rng``: :func:`capture_rng_state` of rank 0 – tensors, ints, floats and strings only,
* ``rng_per_rank``: every process's :func:`capture_rng_state`, indexed by rank (a list of one in a world of one):
  each rank resumes with its own states, so ranks keep drawing different augmentations, masks and drop-path after a
  resume, exactly as in an uninterrupted run,
* ``ema``: the EMA model's ``state_dict()`` (``MODEL.EMA.ENABLE``) or ``None``,
* ``best_top1``: the best validation top-1 (percent) so far, or ``None``,
* ``meta``: what a checkpoint alone needs to predict named classes: ``arch``, ``class_names`` (from
  ``classes.json``, or None) and ``data`` (``num_frames``, ``sampling_rate``, ``fps``, ``crop_size``,
  ``mean``, ``std``); ``create_model(..., checkpoint=path)`` puts them in ``model.pretrained_cfg``.

``checkpoint_best.pyth`` in the same folder holds the checkpoint of the epoch with the best validation metric (a
hard link to that epoch's file where the filesystem allows, else a copy; written directly when that epoch wrote no
periodic file); :func:`prune_checkpoints` keeps it and the newest ``TRAIN.CHECKPOINT_KEEP``.
"""

from __future__ import annotations

import logging
import os
import random
import re
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from iopath.common.file_io import g_pathmgr

from hiera_video.engine import distributed as du
from hiera_video.models.weights import CheckpointError, read_checkpoint
from hiera_video.utils.atomic import atomic_link_or_copy, atomic_write

__all__ = [
    "checkpoint_dir",
    "checkpoint_path",
    "save_checkpoint",
    "list_checkpoints",
    "last_checkpoint",
    "load_checkpoint",
    "load_resume_checkpoint",
    "remove_stale_temp_files",
    "capture_rng_state",
    "restore_rng_state",
    "rng_state_for_rank",
    "make_checkpoint_state",
    "restore_checkpoint_state",
    "best_checkpoint_path",
    "prune_checkpoints",
    "write_epoch_checkpoints",
]

logger = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^checkpoint_epoch_(\d+)\.pyth$")
_TMP_RE = re.compile(r"^\.checkpoint_.*\.pyth\..*\.tmp$")  # utils.atomic's temp names for checkpoint_*.pyth


def checkpoint_dir(output_dir: str) -> str:
    """``{output_dir}/checkpoints``."""
    return os.path.join(output_dir, "checkpoints")


def checkpoint_path(output_dir: str, epoch: int) -> str:
    """``{output_dir}/checkpoints/checkpoint_epoch_{epoch:05d}.pyth``.

    Args:
        epoch: number of finished epochs, >= 1.

    Raises:
        ValueError: if ``epoch < 1``.
    """
    if int(epoch) < 1:
        raise ValueError(f"epoch counts finished epochs and must be >= 1, got {epoch}")
    return os.path.join(checkpoint_dir(output_dir), f"checkpoint_epoch_{int(epoch):05d}.pyth")


def best_checkpoint_path(output_dir: str) -> str:
    """``{output_dir}/checkpoints/checkpoint_best.pyth`` (not listed by :func:`list_checkpoints`)."""
    return os.path.join(checkpoint_dir(output_dir), "checkpoint_best.pyth")


def prune_checkpoints(output_dir: str, keep: int) -> List[str]:
    """Delete all but the newest ``keep`` epoch checkpoints (``keep <= 0``: delete none).

    ``checkpoint_best.pyth`` and other files are never touched. Returns the deleted paths.
    """
    if keep <= 0:
        return []
    old = list_checkpoints(output_dir)[:-keep]
    for path in old:
        g_pathmgr.rm(path)
    return old


def save_checkpoint(path: str, state: Dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically.

    ``torch.save`` goes to a temporary file in the same folder (hidden, ending in
    ``.tmp``), which is flushed, fsync'ed and then renamed onto ``path`` with
    ``os.replace``. If anything fails, the temp file is removed and the exception
    propagates: ``path`` then holds either its previous content or nothing, never a
    partial file. The folder is created if missing. ``path`` must be local.
    """
    atomic_write(path, lambda f: torch.save(state, f))


def list_checkpoints(output_dir: str) -> List[str]:
    """Checkpoint paths in ``{output_dir}/checkpoints``, sorted by epoch (oldest first).

    Only names matching ``checkpoint_epoch_NNNNN.pyth`` count (temp files and other
    files are ignored). A missing folder gives ``[]``.
    """
    folder = checkpoint_dir(output_dir)
    if not g_pathmgr.isdir(folder):
        return []
    found = []
    for name in g_pathmgr.ls(folder):
        m = _NAME_RE.match(name)
        if m and g_pathmgr.isfile(os.path.join(folder, name)):
            found.append((int(m.group(1)), name))
    return [os.path.join(folder, name) for _, name in sorted(found)]


def last_checkpoint(output_dir: str) -> Optional[str]:
    """Path of the checkpoint with the most finished epochs, or ``None`` if there is none."""
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def load_checkpoint(path_or_url: str) -> Dict[str, Any]:
    """The whole checkpoint dict at ``path_or_url`` (any source ``models.weights.read_checkpoint`` reads:
    local or iopath path, URL through ``torch.hub``'s cache, folder, ``.safetensors``), ``weights_only=True``.

    Raises:
        CheckpointError: missing, empty, truncated, damaged or unsafe file (one line naming it).
    """
    return read_checkpoint(path_or_url)


def remove_stale_temp_files(output_dir: str) -> List[str]:
    """Delete the ``.checkpoint_*.tmp`` files that a killed :func:`save_checkpoint` left in
    ``{output_dir}/checkpoints`` (they can be as large as a checkpoint). Returns the deleted paths."""
    folder = checkpoint_dir(output_dir)
    if not os.path.isdir(folder):
        return []
    stale = [os.path.join(folder, n) for n in sorted(os.listdir(folder)) if _TMP_RE.match(n)]
    for path in stale:
        size = os.path.getsize(path)
        os.remove(path)
        logger.warning("removed %s (%.1f MB), left by an interrupted checkpoint write", path, size / 2**20)
    return stale


def load_resume_checkpoint(output_dir: str) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """The newest epoch checkpoint in ``output_dir`` that loads, as ``(path, state)``; ``(None, None)`` if none.

    A newer one that does not load (truncated after a crash or a full disk, damaged) is skipped with one warning
    line naming it and the reason; the search goes on with the next older one.
    """
    for path in reversed(list_checkpoints(output_dir)):
        try:
            state = load_checkpoint(path)
        except CheckpointError as e:
            logger.warning("TRAIN.AUTO_RESUME: skipping %s, it does not load: %s", path, e)
            continue
        if "model" not in state or "epoch" not in state:
            logger.warning("TRAIN.AUTO_RESUME: skipping %s, not a training checkpoint (keys %s)", path, sorted(state))
            continue
        return path, state
    return None, None


# --------------------------------------------------------------------------- RNG state
def capture_rng_state() -> Dict[str, Any]:
    """The torch (CPU and CUDA), Python and NumPy RNG states as ``weights_only``-safe data.

    Returns:
        ``{"torch": uint8 tensor, "cuda": [uint8 tensor per device], "python":
        {"version": int, "state": int64 tensor (625,), "gauss_next": float | None},
        "numpy": {"algorithm": str, "keys": int64 tensor (624,), "pos": int,
        "has_gauss": int, "cached_gaussian": float}}``.
    """
    version, internal, gauss_next = random.getstate()
    algorithm, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": {
            "version": int(version),
            "state": torch.tensor(internal, dtype=torch.int64),
            "gauss_next": gauss_next,
        },
        "numpy": {
            "algorithm": str(algorithm),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
    }


def restore_rng_state(rng: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`; parts that are absent are left alone.

    CUDA states are restored only when the same number of devices is visible.
    """
    if rng.get("torch") is not None:
        torch.set_rng_state(rng["torch"].to(torch.uint8).cpu())
    cuda = rng.get("cuda") or []
    if cuda and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
        else:
            logger.warning("checkpoint has CUDA RNG states for %d devices, %d visible: not restored",
                           len(cuda), torch.cuda.device_count())
    py = rng.get("python")
    if py is not None:
        internal = tuple(int(x) for x in py["state"].tolist())
        random.setstate((int(py["version"]), internal, py["gauss_next"]))
    npy = rng.get("numpy")
    if npy is not None:
        np.random.set_state((
            npy["algorithm"],
            npy["keys"].numpy().astype(np.uint32),
            int(npy["pos"]),
            int(npy["has_gauss"]),
            float(npy["cached_gaussian"]),
        ))


def rng_state_for_rank(state: Dict[str, Any], rank: int, world_size: int) -> Optional[Dict[str, Any]]:
    """The RNG states that process ``rank`` of ``world_size`` resumes with: its own entry of ``rng_per_rank`` when
    the checkpoint was written by as many processes; ``rng`` (rank 0's) in a world of one; else None (a different
    number of processes, or an older checkpoint with rank 0's states only: the caller seeds each rank afresh, since
    every rank restoring rank 0's states would make all ranks draw the same numbers)."""
    per_rank = state.get("rng_per_rank")
    if per_rank and len(per_rank) == world_size:
        return per_rank[rank]
    if world_size == 1:
        return state.get("rng")
    return None


# --------------------------------------------------------------------------- resume
def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def make_checkpoint_state(model, optimizer, scaler, epoch: int, cfg, ema=None,
                          best_top1: Optional[float] = None, meta: Optional[Dict[str, Any]] = None,
                          rng_per_rank: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The dict :func:`save_checkpoint` should write after ``epoch`` finished epochs.

    ``model`` may be DDP-wrapped (its ``.module`` is saved); ``scaler`` may be ``None``
    or disabled (saved as ``None``); ``cfg`` is a CfgNode (dumped to YAML) or a string;
    ``ema`` a ``torch.optim.swa_utils.AveragedModel`` or ``None``; ``meta`` plain data (see the module
    docstring), ``{}`` when None; ``rng_per_rank`` every process's :func:`capture_rng_state` indexed by rank
    (gathered by the caller), ``[this process's]`` when None.
    """
    scaler_state = scaler.state_dict() if scaler is not None and scaler.is_enabled() else None
    rng_per_rank = list(rng_per_rank) if rng_per_rank is not None else [capture_rng_state()]
    return {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler_state,
        "epoch": int(epoch),
        "cfg": cfg if isinstance(cfg, str) else cfg.dump(),
        "rng": rng_per_rank[0],
        "rng_per_rank": rng_per_rank,
        "ema": ema.state_dict() if ema is not None else None,
        "best_top1": best_top1,
        "meta": dict(meta or {}),
    }


def restore_checkpoint_state(
    state: Dict[str, Any], model, optimizer=None, scaler=None, restore_rng: bool = True, ema=None,
    rank: int = 0, world_size: int = 1,
) -> int:
    """Load a checkpoint dict into ``model`` (strict), ``optimizer``, ``scaler``, ``ema`` and this process's RNGs
    (:func:`rng_state_for_rank` of ``rank`` / ``world_size``; left alone when it gives None).

    An ``ema`` given for a checkpoint without EMA state starts from the restored weights
    (a warning says so).

    Returns:
        The number of finished epochs (``state["epoch"]``), i.e. the epoch to start at.

    Raises:
        CheckpointError: ``state`` lacks ``model`` or ``epoch`` (not a training checkpoint), or
            ``optimizer`` is given but ``state`` has no optimizer state.
    """
    missing = [k for k in ("model", "epoch") if k not in state]
    if optimizer is not None and state.get("optimizer") is None:
        missing.append("optimizer")
    if missing:
        raise CheckpointError(f"not a training checkpoint: missing {missing} (keys: {sorted(state)})")
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    if ema is not None:
        if state.get("ema"):
            ema.load_state_dict(state["ema"])
        else:
            logger.warning("checkpoint has no EMA weights; the EMA starts from the restored model")
            ema.module.load_state_dict(_unwrap(model).state_dict())
    rng = rng_state_for_rank(state, rank, world_size) if restore_rng else None
    if rng:
        restore_rng_state(rng)
    return int(state["epoch"])


# --------------------------------------------------------------------------- writing during training
def write_epoch_checkpoints(cfg, run, epoch: int, periodic: bool, improved: bool, metric: str = "top1") -> None:
    """After epoch ``epoch`` (0-based): the epoch checkpoint (``periodic``) and/or ``checkpoint_best.pyth``
    (``improved``: the validation ``metric`` improved), written by rank 0 with every rank's RNG states; the newest
    ``TRAIN.CHECKPOINT_KEEP`` epoch files are kept.

    The best is a hard link to (or a copy of) the epoch file when there is one, never a second serialisation of the
    state. Every process calls it; the others wait for rank 0 at a barrier (``DIST_TIMEOUT_MINUTES``).

    Args:
        run: the training state (``model``, ``optimizer``, ``scaler``, ``ema``, ``best_score``, ``meta``).
    """
    rng_per_rank = du.gather_objects(capture_rng_state())  # every rank's states, on rank 0
    if du.is_main_process():
        state = make_checkpoint_state(run.model, run.optimizer, run.scaler, epoch + 1, cfg, run.ema, run.best_score,
                                      run.meta, rng_per_rank=rng_per_rank)
        best = best_checkpoint_path(cfg.OUTPUT_DIR)
        if periodic:
            path = checkpoint_path(cfg.OUTPUT_DIR, epoch + 1)
            save_checkpoint(path, state)
            logger.info("wrote %s", path)
            if improved:
                how = atomic_link_or_copy(path, best)
                logger.info("best validation %s so far (%.2f%%): %s (%s of %s)", metric, run.best_score, best, how,
                            os.path.basename(path))
        elif improved:
            save_checkpoint(best, state)
            logger.info("best validation %s so far (%.2f%%): wrote %s", metric, run.best_score, best)
        del state
        for old in prune_checkpoints(cfg.OUTPUT_DIR, int(cfg.TRAIN.CHECKPOINT_KEEP)):
            logger.info("removed %s (TRAIN.CHECKPOINT_KEEP %d)", old, cfg.TRAIN.CHECKPOINT_KEEP)
    du.barrier()
