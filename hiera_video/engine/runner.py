"""Build and run a job from a config: train (``TRAIN.ENABLE``) then multi-view test (``TEST.ENABLE``).

Outputs under ``OUTPUT_DIR``: ``config.yaml`` (the merged config), ``log.txt``,
``stats.jsonl`` (one JSON object per train / val epoch), ``checkpoints/``
(one per ``TRAIN.CHECKPOINT_PERIOD`` epochs, written atomically),
``train_bad_videos.csv`` (videos replaced during training, if any),
``tensorboard/`` (scalars, with ``TENSORBOARD``) and ``test/`` (the multi-view test report).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
from typing import Dict, Optional

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
from fvcore.common.config import CfgNode
from iopath.common.file_io import g_pathmgr

from hiera_video.data.bad_videos import BadVideosInARowError, check_bad_fraction
from hiera_video.engine import distributed as du
from hiera_video.engine.checkpoint import (
    last_checkpoint,
    load_resume_checkpoint,
    remove_stale_temp_files,
    restore_checkpoint_state,
    rng_state_for_rank,
    write_epoch_checkpoints,
)
from hiera_video.engine.loaders import build_train_loader, keep_eval_loaders
from hiera_video.engine.multiview_eval import ModelUnderTest
from hiera_video.engine.optim import build_optimizer
from hiera_video.engine.precision import configure_cuda_tf32, needs_grad_scaler
from hiera_video.engine.tasks import build_task
from hiera_video.engine.train_loop import train_epoch
from hiera_video.models import CheckpointMismatchError, load_pretrained, read_weights
from hiera_video.utils.atomic import ensure_dir
from hiera_video.utils.errors import ConfigError

logger = logging.getLogger("hiera_video")


def setup_logging(output_dir: str) -> None:
    """Log INFO to stdout and ``{output_dir}/log.txt`` on the main process, warnings elsewhere."""
    root = logging.getLogger("hiera_video")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.INFO if du.is_main_process() else logging.WARNING)
    fmt = logging.Formatter("[%(asctime)s %(levelname)s %(name)s] %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    if du.is_main_process():
        file_handler = logging.FileHandler(os.path.join(output_dir, "log.txt"))
        file_handler.setFormatter(fmt)
        root.addHandler(file_handler)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def append_stats(cfg: CfgNode, record: Dict) -> None:
    """Append one JSON line to ``OUTPUT_DIR/stats.jsonl`` (main process only)."""
    if du.is_main_process():
        with g_pathmgr.open(os.path.join(cfg.OUTPUT_DIR, "stats.jsonl"), "a") as f:
            f.write(json.dumps(record) + "\n")


def train(cfg: CfgNode, task, device: torch.device, dataset=None):
    """Train for ``SOLVER.MAX_EPOCH`` epochs, resuming from ``OUTPUT_DIR`` if ``TRAIN.AUTO_RESUME``.

    ``dataset``: the training split when the caller built it already (``run`` does, at start).

    Returns:
        ``(model, ema)``: the trained model and its ``AveragedModel`` EMA (None unless ``MODEL.EMA.ENABLE``).
    """
    model = task.build_model().to(device)
    optimizer = build_optimizer(model, cfg)
    # fp16 (TRAIN.PRECISION fp16, or auto on a GPU without native bf16) needs loss scaling, on the CPU too
    scaler = torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(device, str(cfg.TRAIN.PRECISION)))

    start_epoch, best_score = 0, None  # the best validation task.metric (kept under "best_top1" in checkpoints)
    resume, state = None, None
    if du.is_main_process():
        remove_stale_temp_files(cfg.OUTPUT_DIR)
    if cfg.TRAIN.AUTO_RESUME:
        resume, state = load_resume_checkpoint(cfg.OUTPUT_DIR)
    if not resume and cfg.TRAIN.CHECKPOINT_FILE_PATH:
        load_pretrained(model, cfg.TRAIN.CHECKPOINT_FILE_PATH)
        logger.info("initialised from %s", cfg.TRAIN.CHECKPOINT_FILE_PATH)
    ema = build_ema(model, cfg)
    if resume:
        rank, world = du.get_rank(), du.get_world_size()
        start_epoch = restore_checkpoint_state(state, model, optimizer, scaler, ema=ema, rank=rank, world_size=world)
        best_score = state.get("best_top1")
        logger.info("resumed from %s (finished epochs: %d)", resume, start_epoch)
        if rng_state_for_rank(state, rank, world) is None:
            saved = len(state.get("rng_per_rank") or [1])
            logger.warning("%s holds the RNG states of %d process(es), this run has %d: each rank draws from a "
                           "fresh seed (RNG_SEED + rank, offset by the epoch); augmentations differ from an "
                           "uninterrupted run", resume, saved, world)
            seed_everything(int(cfg.RNG_SEED) + 100_003 * start_epoch + rank)

    model.set_grad_checkpointing(bool(cfg.MODEL.ACT_CHECKPOINT))
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("model %s: %.2fM parameters, input %s", cfg.MODEL.ARCH, n_params / 1e6, getattr(model, "input_size", "?"))
    train_model: nn.Module = model
    if du.get_world_size() > 1:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.MODEL.COMPILE:  # checkpoints keep saving `model`, so their keys stay the official ones
        train_model = torch.compile(train_model, backend=str(cfg.MODEL.COMPILE_BACKEND))

    dataset = dataset if dataset is not None else task.train_dataset()
    has_test = task.has_test  # a task without labels (MAE pretraining) is never validated
    if cfg.TRAIN.EVAL_PERIOD > 0 and not has_test:
        logger.info("TASK %s has no validation: TRAIN.EVAL_PERIOD %d ignored", cfg.TASK, cfg.TRAIN.EVAL_PERIOD)
    val_cfg = task.validation_cfg() if cfg.TRAIN.EVAL_PERIOD > 0 and has_test else None
    val_set = task.test_dataset(val_cfg) if val_cfg is not None else None
    bad_seen: Dict[str, str] = {}
    writer = _tensorboard_writer(cfg)
    run = _TrainState(model, train_model, optimizer, scaler, ema, writer, best_score, checkpoint_meta(cfg))
    try:
        with keep_eval_loaders():  # the validation loader's workers start once per run
            _train_epochs(cfg, task, run, dataset, val_cfg, val_set, start_epoch, device, bad_seen)
    finally:
        if writer is not None:
            writer.close()
    return model, ema


def build_ema(model: nn.Module, cfg: CfgNode):
    """``AveragedModel`` with decay ``MODEL.EMA.DECAY`` over parameters and buffers, or None.

    Raises:
        ValueError: ``MODEL.EMA.DECAY`` outside [0, 1).
    """
    if not cfg.MODEL.EMA.ENABLE:
        return None
    decay = float(cfg.MODEL.EMA.DECAY)
    if not 0.0 <= decay < 1.0:
        raise ConfigError(f"MODEL.EMA.DECAY must be in [0, 1), got {decay}")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


class _TrainState:
    """What the epochs share: the model (and its DDP wrapper), optimizer, scaler, EMA, writer, the best validation
    ``task.metric`` and the checkpoints' ``meta``."""

    def __init__(self, model, train_model, optimizer, scaler, ema, writer, best_score, meta):
        self.model, self.train_model, self.optimizer, self.scaler = model, train_model, optimizer, scaler
        self.ema, self.writer, self.best_score, self.meta = ema, writer, best_score, meta


def checkpoint_meta(cfg: CfgNode) -> Dict:
    """What a training checkpoint records so that it alone predicts named classes: ``arch``, ``class_names``
    (``classes.json``, or None) and the data settings (frames, sampling rate, fps, crop size, mean / std)."""
    return {
        "arch": cfg.MODEL.ARCH,
        "class_names": read_class_names(cfg, quiet=True),
        "data": {"num_frames": int(cfg.DATA.NUM_FRAMES), "sampling_rate": int(cfg.DATA.SAMPLING_RATE),
                 "fps": float(cfg.DATA.TARGET_FPS), "crop_size": int(cfg.DATA.TRAIN_CROP_SIZE),
                 "mean": [float(v) for v in cfg.DATA.MEAN], "std": [float(v) for v in cfg.DATA.STD]},
    }


def _tensorboard_writer(cfg: CfgNode):
    """A ``SummaryWriter`` on ``OUTPUT_DIR/tensorboard`` on the main process when ``TENSORBOARD``, else None."""
    if not cfg.TENSORBOARD or not du.is_main_process():
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=os.path.join(cfg.OUTPUT_DIR, "tensorboard"))


def _validate(cfg, task, run: _TrainState, val_cfg, val_set, device, epoch: int) -> Optional[float]:
    """Validation of the raw weights (and the EMA's, on the same decoded clips) with ``task.evaluate`` on the
    single-view ``val_cfg``; returns the raw weights' ``task.metric`` (top-1 or frame-mAP)."""
    targets = {"val": ModelUnderTest(run.model)}
    if run.ema is not None:
        targets["val_ema"] = ModelUnderTest(run.ema.module)
    reports = task.evaluate(val_cfg, targets, val_set, device, desc="val")
    for split, report in reports.items():
        numbers = task.report_stats(report)
        append_stats(cfg, {"split": split, "epoch": epoch + 1, **numbers})
        logger.info("epoch %d %s (1 view): %s", epoch + 1, split, task.summary(report))
        if run.writer is not None:
            for key, value in numbers.items():
                if isinstance(value, (int, float)) and value is not None:
                    run.writer.add_scalar(f"{split}/{key}", value, epoch + 1)
    return reports["val"][task.metric]


def _write_bad_videos(cfg: CfgNode, bad_seen: Dict[str, str], partial_seen: Dict[str, str]) -> None:
    """``OUTPUT_DIR/train_bad_videos.csv`` (``path, error, used``): videos that failed (replaced, ``used`` False) and
    partial ones trained on with the frames that decode (``used`` True, error ``truncated: ...``); main process."""
    if (bad_seen or partial_seen) and du.is_main_process():
        rows = [(p, e, False) for p, e in sorted(bad_seen.items())] + [(p, r, True) for p, r in sorted(partial_seen.items())]
        pd.DataFrame(rows, columns=["path", "error", "used"]).to_csv(
            os.path.join(cfg.OUTPUT_DIR, "train_bad_videos.csv"), index=False)


def _train_epochs(cfg, task, run: _TrainState, dataset, val_cfg, val_set, start_epoch, device, bad_seen) -> None:
    """Epochs ``start_epoch .. SOLVER.MAX_EPOCH - 1``: train, record stats / bad videos / scalars,
    validate every ``TRAIN.EVAL_PERIOD`` epochs and checkpoint every ``TRAIN.CHECKPOINT_PERIOD``
    (keeping the newest ``TRAIN.CHECKPOINT_KEEP`` and the best)."""
    optimizer, scaler, writer = run.optimizer, run.scaler, run.writer
    partial_seen: Dict[str, str] = {}
    loader, sampler = build_train_loader(cfg, dataset, task.collate_train)  # once: its workers serve every epoch
    for epoch in range(start_epoch, cfg.SOLVER.MAX_EPOCH):
        sampler.set_epoch(epoch)
        try:
            stats, bad, partial = train_epoch(cfg, run.train_model, task, loader, optimizer, scaler, epoch, device,
                                              writer, run.ema)
        except BadVideosInARowError as e:  # record what failed, then stop with the split's fraction if it is over
            bad_seen.update(dict(e.bad))
            partial_seen.update(dict(e.partial))
            _write_bad_videos(cfg, bad_seen, partial_seen)
            check_bad_fraction(len(bad_seen), len(dataset), cfg.DATA.MAX_BAD_FRACTION, "train")
            raise
        for part in du.all_gather_objects(bad):
            bad_seen.update({p: e for p, e in part})
        for part in du.all_gather_objects(partial):
            partial_seen.update({p: r for p, r in part})
        stats["num_bad_videos_total"] = len(bad_seen)
        stats["num_partial_videos_total"] = len(partial_seen)
        append_stats(cfg, {"split": "train", **stats})
        if writer is not None:
            for key in ("loss", "top1", "top5", "clips_per_s", "grad_norm", "num_bad_samples", "num_partial_samples"):
                if key in stats:
                    writer.add_scalar(f"train_epoch/{key}", stats[key], epoch + 1)
        acc = f", top-1 {stats['top1']:.2f}%" if "top1" in stats else ""
        logger.info("epoch %d/%d: loss %.4f%s, %.3g clips/s, %d bad samples replaced, %d partial (truncated) used",
                    epoch + 1, cfg.SOLVER.MAX_EPOCH, stats["loss"], acc, stats["clips_per_s"], stats["num_bad_samples"],
                    stats["num_partial_samples"])
        _write_bad_videos(cfg, bad_seen, partial_seen)
        check_bad_fraction(len(bad_seen), len(dataset), cfg.DATA.MAX_BAD_FRACTION, "train")
        if du.is_main_process():  # task-specific outputs (e.g. MAE reconstructions)
            task.on_epoch_end(run.model, epoch, writer)

        last = epoch + 1 == cfg.SOLVER.MAX_EPOCH
        improved = False
        if val_set is not None and ((epoch + 1) % cfg.TRAIN.EVAL_PERIOD == 0 or last):
            score = _validate(cfg, task, run, val_cfg, val_set, device, epoch)
            improved = score is not None and (run.best_score is None or score > run.best_score)
            if improved:
                run.best_score = score
        periodic = (epoch + 1) % cfg.TRAIN.CHECKPOINT_PERIOD == 0 or last
        if periodic or improved:
            write_epoch_checkpoints(cfg, run, epoch, periodic, improved, task.metric)


def read_class_names(cfg: CfgNode, quiet: bool = False) -> Optional[list]:
    """Class names from ``{PATH_TO_DATA_DIR}/classes.json`` (``{name: label}``, PySlowFast's classids
    format), or None when absent or not covering labels ``0..NUM_CLASSES-1`` (a warning says so unless
    ``quiet``)."""
    path = os.path.join(cfg.DATA.PATH_TO_DATA_DIR, "classes.json")
    if not g_pathmgr.exists(path):
        return None
    with g_pathmgr.open(path) as f:
        ids = json.load(f)
    names = {int(v): str(k) for k, v in ids.items()}
    if sorted(names) != list(range(cfg.MODEL.NUM_CLASSES)):
        if quiet:
            return None
        logger.warning("%s does not map labels 0..%d; reporting without class names", path, cfg.MODEL.NUM_CLASSES - 1)
        return None
    return [names[i] for i in range(cfg.MODEL.NUM_CLASSES)]


def test(cfg: CfgNode, task, device: torch.device, model: Optional[nn.Module] = None, ema=None,
         dataset=None) -> Dict:
    """Multi-view test; weights from ``TEST.CHECKPOINT_FILE_PATH``, else ``model``, else the newest checkpoint.

    The test is ``task.evaluate`` (multi-view classification, or AVA frame-mAP for ``TASK detection``). With ``ema``
    (the run's ``AveragedModel``) its weights are tested the same way into ``OUTPUT_DIR/test_ema/``; the returned
    report then also has ``ema_{task.metric}`` (``ema_top1`` / ``ema_mAP``) and ``ema_report_path``. ``summary``: the
    task's one-line description of the report.
    ``dataset``: the test split, when the caller built it already (``run`` does, before training).

    Raises:
        ConfigError: nothing to test (no checkpoint file, none in ``OUTPUT_DIR``, no model of this run) unless
            ``TEST.ALLOW_RANDOM_HEAD``.
        CheckpointMismatchError: the checkpoint's head does not fit ``MODEL.NUM_CLASSES`` (or it has none: an MAE
            checkpoint), so the head would be random, unless ``TEST.ALLOW_RANDOM_HEAD``.
    """
    source, recorded_names, loaded = None, None, {}
    allow_random = bool(cfg.TEST.ALLOW_RANDOM_HEAD)
    if cfg.TEST.CHECKPOINT_FILE_PATH or model is None:
        source = cfg.TEST.CHECKPOINT_FILE_PATH or last_checkpoint(cfg.OUTPUT_DIR)
        model = task.build_model().to(device)
        if source:
            weights = read_weights(source)
            report = load_pretrained(model, weights)
            recorded_names = weights.meta.get("class_names")  # our checkpoints record them
            head = sorted(k for k in report["reset"] if k.startswith("head."))
            if head and not allow_random:
                classes = weights.state_dict.get("head.projection.weight")
                has = f"a head of {classes.shape[0]} classes" if classes is not None else "no classification head"
                raise CheckpointMismatchError(
                    f"{source}: has {has}, MODEL.NUM_CLASSES is {cfg.MODEL.NUM_CLASSES}: the test would score a "
                    f"randomly initialised head; set MODEL.NUM_CLASSES to the checkpoint's classes, or "
                    f"TEST.ALLOW_RANDOM_HEAD True to test it anyway")
            loaded = {"loaded_keys": len(weights.state_dict) - len(report["dropped"]),
                      "reset_keys": sorted(report["reset"]), "dropped_keys": len(report["dropped"])}
        elif not allow_random:
            raise ConfigError("nothing to test: TEST.CHECKPOINT_FILE_PATH is empty and OUTPUT_DIR "
                              f"{cfg.OUTPUT_DIR} holds no checkpoint; set TEST.CHECKPOINT_FILE_PATH, or "
                              "TEST.ALLOW_RANDOM_HEAD True to test randomly initialised weights")
        else:
            logger.warning("no checkpoint to test (TEST.CHECKPOINT_FILE_PATH empty, none in OUTPUT_DIR): "
                           "testing randomly initialised weights (TEST.ALLOW_RANDOM_HEAD)")
    else:
        source = last_checkpoint(cfg.OUTPUT_DIR) or "weights trained in this run"
    dataset = dataset if dataset is not None else task.test_dataset()
    extra = {"checkpoint": source, "arch": cfg.MODEL.ARCH, "split": cfg.TEST.SPLIT, **loaded}
    targets = {"test": ModelUnderTest(model, os.path.join(cfg.OUTPUT_DIR, "test"), extra)}
    if ema is not None:  # the EMA weights of this run, on the same decoded views, into test_ema/
        targets["test_ema"] = ModelUnderTest(ema.module, os.path.join(cfg.OUTPUT_DIR, "test_ema"),
                                         {**extra, "weights": "ema"})
    class_names = read_class_names(cfg)
    if class_names is None and recorded_names and len(recorded_names) == cfg.MODEL.NUM_CLASSES:
        class_names = list(recorded_names)
    reports = task.evaluate(cfg, targets, dataset, device, desc="test", class_names=class_names)
    report = reports["test"]
    report["report_path"] = os.path.join(targets["test"].out_dir, "report.json")
    report["summary"] = task.summary(report)
    logger.info("test: %s; report: %s", report["summary"], report["report_path"])
    if ema is not None:
        report[f"ema_{task.metric}"] = reports["test_ema"][task.metric]
        report["ema_report_path"] = os.path.join(targets["test_ema"].out_dir, "report.json")
        logger.info("test (EMA weights): %s; report: %s", task.summary(reports["test_ema"]),
                    report["ema_report_path"])
    return report


def run(cfg: CfgNode) -> Dict:
    """Run the job ``cfg`` describes; returns ``{"model": ..., "test_report": ... or None}``."""
    device = du.init_distributed(cfg.NUM_GPUS, cfg.DIST_BACKEND, float(cfg.DIST_TIMEOUT_MINUTES))
    if device.type == "cuda":
        configure_cuda_tf32(bool(cfg.CUDA_TF32))
    try:
        if du.is_main_process():
            ensure_dir(cfg.OUTPUT_DIR, "OUTPUT_DIR")
            with g_pathmgr.open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
                f.write(cfg.dump())
        setup_logging(cfg.OUTPUT_DIR)
        task = build_task(cfg)
        if cfg.DATA.MAKE_SYNTHETIC and du.is_main_process():
            info = task.prepare_data()
            logger.info("synthetic dataset ready: %s", info)
        du.barrier()
        seed_everything(cfg.RNG_SEED + du.get_rank())
        # both lists are read at start: an empty or malformed test list stops the run before training, not after
        train_set = task.train_dataset() if cfg.TRAIN.ENABLE else None
        test_set = task.test_dataset() if cfg.TEST.ENABLE else None
        model, ema = train(cfg, task, device, dataset=train_set) if cfg.TRAIN.ENABLE else (None, None)
        report = test(cfg, task, device, model, ema, dataset=test_set) if cfg.TEST.ENABLE else None
        return {"model": model, "test_report": report}
    finally:
        du.cleanup()
