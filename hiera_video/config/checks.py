"""Config values checked for meaning when a config is loaded, each error naming its key (one place for all).

:func:`check_config` runs at the end of ``load_config``: before any list is read, video decoded or model built.
It raises :class:`~hiera_video.utils.errors.ConfigError` for a value that cannot work and adjusts, with one warning
line, the one value PySlowFast users expect to be adjusted: a warm-up longer than the run is clamped to the run.
"""

from __future__ import annotations

import logging
import math
from typing import Any, List

from fvcore.common.config import CfgNode

from hiera_video.utils.errors import ConfigError

logger = logging.getLogger("hiera_video.config")

#: decoding backends and input formats the data layer implements (checked here, before data is imported).
BACKENDS = ("pyav", "decord", "torchcodec")
INPUT_FORMATS = ("video", "frames")


def _get(cfg: CfgNode, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def _number(cfg: CfgNode, key: str) -> float:
    value = _get(cfg, key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def _check(cfg: CfgNode, key: str, ok, need: str) -> None:
    value = _get(cfg, key) if not key.endswith("]") else None
    if not ok(_number(cfg, key)):
        raise ConfigError(f"{key} must be {need}, got {value!r}")


def check_config(cfg: CfgNode) -> List[str]:
    """Check ``cfg`` (mutable) for values that cannot work; returns the warning lines it logged.

    Raises:
        ConfigError: naming the key: a batch size, frame count, sampling rate, crop size, class count, epoch count,
            retry count or view count that is not positive; a negative learning rate, warm-up or weight decay; a
            ``DATA.MEAN`` / ``DATA.STD`` that is not 3 numbers or a zero std; a fraction outside [0, 1]; an unknown
            backend or input format; train and test crop sizes that differ (Hiera's position embeddings fix the
            input size).
    """
    positive_int = [
        "TRAIN.BATCH_SIZE", "TEST.BATCH_SIZE", "DATA.NUM_FRAMES", "DATA.SAMPLING_RATE", "DATA.TRAIN_CROP_SIZE",
        "DATA.TEST_CROP_SIZE", "MODEL.NUM_CLASSES", "SOLVER.MAX_EPOCH", "TRAIN.GRAD_ACCUM_STEPS",
        "TRAIN.CHECKPOINT_PERIOD", "TEST.NUM_ENSEMBLE_VIEWS", "AUG.NUM_SAMPLE", "DATA.TRAIN_CROP_NUM_TEMPORAL",
    ]
    for key in positive_int:
        value = _get(cfg, key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")
    for key in ("SOLVER.BASE_LR", "SOLVER.WARMUP_START_LR", "SOLVER.COSINE_END_LR", "SOLVER.WEIGHT_DECAY",
                "SOLVER.WARMUP_EPOCHS", "SOLVER.CLIP_GRAD_L2NORM", "MODEL.DROP_PATH_RATE", "MODEL.LABEL_SMOOTHING",
                "TRAIN.EVAL_PERIOD", "DATA.MAX_RETRIES", "DATA_LOADER.NUM_WORKERS", "TRAIN.CHECKPOINT_KEEP"):
        _check(cfg, key, lambda v: v >= 0, "non-negative")
    for key in ("DATA.MAX_BAD_FRACTION", "MASK.RATIO", "MODEL.HEAD_DROPOUT"):
        _check(cfg, key, lambda v: 0.0 <= v <= 1.0, "in [0, 1]")
    _check(cfg, "DATA.TARGET_FPS", lambda v: v > 0, "positive (frames/s)")
    _check(cfg, "SOLVER.LAYER_DECAY", lambda v: 0.0 < v <= 1.0, "in (0, 1]")
    _check(cfg, "MODEL.EMA.DECAY", lambda v: 0.0 <= v < 1.0, "in [0, 1)")
    _check(cfg, "DETECTION.HEAD_PRIOR_PROB", lambda v: 0.0 <= v < 1.0, "in [0, 1)")
    if cfg.TEST.SAVE_VIEW_LOGITS not in ("auto", "npz", "csv", "both", "none"):
        raise ConfigError(f"TEST.SAVE_VIEW_LOGITS must be auto, npz, csv, both or none, got "
                          f"{cfg.TEST.SAVE_VIEW_LOGITS!r}")
    for key in ("TRAIN.PRECISION", "TEST.PRECISION"):
        if _get(cfg, key) not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError(f"{key} must be auto, fp32, bf16 or fp16, got {_get(cfg, key)!r}")
    if isinstance(cfg.NUM_GPUS, bool) or cfg.NUM_GPUS not in (0, 1):
        raise ConfigError(f"NUM_GPUS must be 0 (the CPU) or 1 (one GPU per process), got {cfg.NUM_GPUS!r}: for N GPUs "
                          f"launch 'torchrun --nproc_per_node N tools/run_net.py ... NUM_GPUS 1'")
    _check(cfg, "DIST_TIMEOUT_MINUTES", lambda v: v > 0, "positive (minutes)")
    if cfg.TEST.NUM_SPATIAL_CROPS not in (1, 3):
        raise ConfigError(f"TEST.NUM_SPATIAL_CROPS must be 1 or 3, got {cfg.TEST.NUM_SPATIAL_CROPS!r}")
    for key in ("DATA.MEAN", "DATA.STD"):
        value = list(_get(cfg, key))
        if len(value) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
            raise ConfigError(f"{key} must be 3 numbers (one per RGB channel), got {value!r}")
    if any(float(v) <= 0 for v in cfg.DATA.STD):
        raise ConfigError(f"DATA.STD must be positive on every channel (pixels are divided by it), got "
                          f"{list(cfg.DATA.STD)!r}")
    if cfg.DATA.DECODING_BACKEND not in BACKENDS:
        raise ConfigError(f"DATA.DECODING_BACKEND must be one of {BACKENDS}, got {cfg.DATA.DECODING_BACKEND!r}")
    if cfg.DATA.INPUT_FORMAT not in INPUT_FORMATS:
        raise ConfigError(f"DATA.INPUT_FORMAT must be one of {INPUT_FORMATS}, got {cfg.DATA.INPUT_FORMAT!r}")
    if cfg.DATA.TEST_CROP_SIZE != cfg.DATA.TRAIN_CROP_SIZE:
        raise ConfigError(f"DATA.TEST_CROP_SIZE ({cfg.DATA.TEST_CROP_SIZE}) must equal DATA.TRAIN_CROP_SIZE "
                          f"({cfg.DATA.TRAIN_CROP_SIZE}): Hiera's position embeddings fix the input size")
    warnings = []
    warmup, max_epoch = float(cfg.SOLVER.WARMUP_EPOCHS), float(cfg.SOLVER.MAX_EPOCH)
    if warmup > max_epoch:
        warnings.append(f"SOLVER.WARMUP_EPOCHS {warmup:g} is longer than SOLVER.MAX_EPOCH {max_epoch:g}: warming up "
                        f"over the whole run ({max_epoch:g} epochs; the learning rate rises linearly from "
                        f"SOLVER.WARMUP_START_LR to SOLVER.BASE_LR and the cosine never starts)")
        cfg.SOLVER.WARMUP_EPOCHS = max_epoch
    for line in warnings:
        logger.warning(line)
    return warnings
