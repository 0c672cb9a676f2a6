"""A clip classifier ready for the demo: the model, its data settings and its class names, from a config or a name.

:func:`load_predictor` builds the model with the timm-style ``create_model`` in one of three ways:

* ``--cfg FILE`` (a training config): ``MODEL.ARCH`` at ``(DATA.NUM_FRAMES, DATA.TEST_CROP_SIZE, same)`` with
  ``MODEL.NUM_CLASSES`` classes; weights from ``checkpoint``, else ``TEST.CHECKPOINT_FILE_PATH``, else the newest
  checkpoint in ``OUTPUT_DIR``; data settings (frames, sampling rate, fps, crop, mean / std, test views) from the
  config, as ``tools/run_net.py`` tests it;
* ``--model NAME`` with a ``checkpoint``: the weights' own record decides the input and data settings (our
  training checkpoints' ``meta.data``; a ``save_pretrained`` folder's ``config.json`` ``input_size``), else the
  model's ``pretrained_cfg`` (16 frames at rate 4 from 30 fps, 224 crops, mean 0.45 / std 0.225);
* ``--model NAME`` alone: the official weights of its default tag (``pretrained=True``: downloaded once into
  ``torch.hub``'s cache, Kinetics-400 class names); a ``checkpoint`` alone: the architecture its ``meta.arch`` names.

Class names, first found: ``labels_file`` (one name per line, or a JSON list, or a ``{name: id}`` JSON such as
PySlowFast's ``classids.json``), the config's ``{DATA.PATH_TO_DATA_DIR}/classes.json``, the checkpoint's recorded
names / the ``pretrained_cfg``'s ``label_names``; else ``class 0``, ``class 1``, ...
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode
from iopath.common.file_io import g_pathmgr

from hiera_video.engine.checkpoint import last_checkpoint
from hiera_video.engine.precision import test_autocast
from hiera_video.engine.runner import read_class_names
from hiera_video.models import create_model, list_models
from hiera_video.models.weights import CheckpointMismatchError, read_checkpoint, state_dict_of
from hiera_video.utils.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["ClipPredictor", "load_predictor", "read_labels_file", "resolve_device"]


@dataclass
class ClipPredictor:
    """A classifier and what its input must look like.

    ``num_frames`` frames per clip taken every ``sampling_rate`` frames at ``fps`` (so a clip spans
    ``num_frames * sampling_rate / fps`` seconds of any video), short side resized to ``crop_size`` pixels and
    square crops of that side, normalised with ``mean`` / ``std`` (0-1 scale); ``num_temporal_clips`` x
    ``num_spatial_crops`` views for the whole-video ensemble.
    """

    model: nn.Module
    class_names: List[str]
    num_frames: int
    sampling_rate: int
    fps: float
    crop_size: int
    mean: Sequence[float]
    std: Sequence[float]
    num_temporal_clips: int
    num_spatial_crops: int
    device: torch.device
    train_precision: str = "auto"
    precision: str = "auto"
    source: str = ""

    @property
    def clip_seconds(self) -> float:
        """Seconds one clip spans."""
        return self.num_frames * self.sampling_rate / self.fps

    @torch.no_grad()
    def probabilities(self, views: torch.Tensor) -> torch.Tensor:
        """Softmax ``(N, K)`` float32 on the CPU of normalised views ``(N, C, T, H, W)``."""
        views = views.to(self.device)
        with test_autocast(self.device, self.precision, self.train_precision):
            logits = self.model(views)
        return logits.float().softmax(dim=-1).cpu()


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; anything else as ``torch.device`` reads it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def read_labels_file(path: str) -> List[str]:
    """Class names from ``path``: a JSON list, a ``{name: id}`` JSON (ids ``0..K-1``), or one name per line.

    Raises:
        ConfigError: the file is missing, empty, or a JSON mapping whose ids are not ``0..K-1``.
    """
    if not g_pathmgr.exists(path):
        raise ConfigError(f"--labels file not found: {path}")
    with g_pathmgr.open(path) as f:
        text = f.read()
    if path.endswith(".json"):
        data = json.loads(text)
        if isinstance(data, dict):
            ids = {int(v): str(k) for k, v in data.items()}
            if sorted(ids) != list(range(len(ids))):
                raise ConfigError(f"{path}: the ids of a {{name: id}} label file must be 0..{len(ids) - 1}")
            return [ids[i] for i in range(len(ids))]
        names = [str(n) for n in data]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ConfigError(f"--labels file {path} holds no class name")
    return names


def _input_from_weights(obj: dict) -> dict:
    """Input and data settings recorded with the weights (our ``meta.data``, a folder's ``config.json``)."""
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    data = meta.get("data") or {}
    out = {}
    if "num_frames" in data and "crop_size" in data:
        out["input_size"] = (int(data["num_frames"]), int(data["crop_size"]), int(data["crop_size"]))
    config = obj.get("_config") if isinstance(obj.get("_config"), dict) else {}
    if "input_size" not in out and config.get("input_size"):
        out["input_size"] = tuple(int(v) for v in config["input_size"])
    return out


def _names(model: nn.Module, labels_file: Optional[str], cfg: Optional[CfgNode]) -> List[str]:
    k = int(model.num_classes)
    for source, names in (("--labels", read_labels_file(labels_file) if labels_file else None),
                          ("classes.json", read_class_names(cfg, quiet=True) if cfg is not None else None),
                          ("the weights", (getattr(model, "pretrained_cfg", None) or {}).get("label_names"))):
        if names is None:
            continue
        if len(names) != k:
            if source == "--labels":  # asked for by name: a file that does not fit is an error, not a fallback
                raise ConfigError(f"--labels {labels_file} gives {len(names)} class names, the model has {k} "
                                  f"classes")
            logger.warning("%s gives %d class names, the model has %d classes: not used", source, len(names), k)
            continue
        return [str(n) for n in names]
    return [f"class {i}" for i in range(k)]


def load_predictor(cfg: Optional[CfgNode] = None, model_name: Optional[str] = None,
                   checkpoint: Optional[str] = None, labels_file: Optional[str] = None,
                   device: str = "auto", views: Optional[Sequence[int]] = None) -> ClipPredictor:
    """Build the classifier the demo runs (see the module docstring for the three ways).

    Args:
        cfg: a loaded config (``load_config``), or None with ``model_name`` / ``checkpoint``.
        model_name: a registered classifier (``list_models()``); overrides ``cfg.MODEL.ARCH``.
        checkpoint: weights: a file, a ``save_pretrained`` folder, an http(s) URL or ``hf-hub:ORG/NAME``.
        labels_file: class names (see :func:`read_labels_file`).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:N]"``.
        views: ``(temporal_clips, spatial_crops)`` for the whole-video ensemble; default the config's
            ``TEST.NUM_ENSEMBLE_VIEWS`` x ``TEST.NUM_SPATIAL_CROPS`` (5 x 3 by default).

    Raises:
        ConfigError: neither a config, a model nor a checkpoint; an MAE or unknown model; a config with nothing to
            load; a bad ``views``.
        CheckpointError: unreadable weights (one line naming them); ``CheckpointMismatchError``: weights without a
            classification head, or with another number of classes than ``MODEL.NUM_CLASSES``.
    """
    from hiera_video.config import get_cfg

    if cfg is None and model_name is None and checkpoint is None:
        raise ConfigError("give --cfg FILE, --model NAME or --checkpoint PATH")
    dev = resolve_device(device)
    given_cfg = cfg is not None
    cfg = cfg.clone() if given_cfg else get_cfg()
    source = checkpoint or (cfg.TEST.CHECKPOINT_FILE_PATH if given_cfg else "")
    if given_cfg and not source:
        source = last_checkpoint(cfg.OUTPUT_DIR) or ""
        if not source and model_name is None:
            raise ConfigError(f"nothing to load: no --checkpoint, TEST.CHECKPOINT_FILE_PATH is empty and OUTPUT_DIR "
                              f"{cfg.OUTPUT_DIR} holds no checkpoint")
    obj = read_checkpoint(source) if source else None
    meta = (obj.get("meta") if obj is not None and isinstance(obj.get("meta"), dict) else {}) or {}
    name = model_name or (cfg.MODEL.ARCH if given_cfg else meta.get("arch"))
    if not name:
        raise ConfigError(f"{source} does not record its architecture: give --model NAME")
    if name.startswith("mae_") or name not in list_models():
        raise ConfigError(f"--model {name}: not a registered classifier (list_models() names them)")
    kwargs: dict = {}
    if given_cfg:
        crop = int(cfg.DATA.TEST_CROP_SIZE)
        kwargs = {"input_size": (int(cfg.DATA.NUM_FRAMES), crop, crop), "num_classes": int(cfg.MODEL.NUM_CLASSES)}
    elif obj is not None:
        kwargs = _input_from_weights(obj)
    if obj is not None:
        head = state_dict_of(obj, source).get("head.projection.weight")
        if head is None or ("num_classes" in kwargs and head.shape[0] != kwargs["num_classes"]):
            has = f"a head of {head.shape[0]} classes" if head is not None else "no classification head"
            raise CheckpointMismatchError(f"{source}: has {has}; the demo needs a trained classifier of "
                                          f"{kwargs.get('num_classes', 'its')} classes (MODEL.NUM_CLASSES)")
        model = create_model(name, checkpoint=obj, **kwargs)
    else:
        model = create_model(name, pretrained=True, **kwargs)
    model = model.to(dev).eval()
    pcfg = model.pretrained_cfg
    if given_cfg:
        d = cfg.DATA
        settings = dict(num_frames=d.NUM_FRAMES, sampling_rate=d.SAMPLING_RATE, fps=d.TARGET_FPS,
                        crop_size=d.TEST_CROP_SIZE, mean=list(d.MEAN), std=list(d.STD))
    else:
        settings = dict(num_frames=model.input_size[0], sampling_rate=pcfg["sampling_rate"], fps=pcfg["fps"],
                        crop_size=model.input_size[-1], mean=list(pcfg["mean"]), std=list(pcfg["std"]))
    n_t, n_s = views if views is not None else (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS)
    if int(n_t) < 1 or int(n_s) not in (1, 3):
        raise ConfigError(f"views must be (temporal clips >= 1, spatial crops 1 or 3), got ({n_t}, {n_s})")
    predictor = ClipPredictor(model=model, class_names=_names(model, labels_file, cfg if given_cfg else None),
                              num_temporal_clips=int(n_t), num_spatial_crops=int(n_s), device=dev,
                              train_precision=str(cfg.TRAIN.PRECISION), precision=str(cfg.TEST.PRECISION),
                              source=source or f"official {pcfg.get('tag')} weights", **settings)
    logger.info("demo model %s (%s): %d classes, %d frames at rate %d from %g fps, %d px crops, %d x %d views",
                name, predictor.source, len(predictor.class_names), predictor.num_frames, predictor.sampling_rate,
                predictor.fps, predictor.crop_size, predictor.num_temporal_clips, predictor.num_spatial_crops)
    return predictor
