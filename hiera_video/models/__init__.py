"""Hiera models: official-architecture Hiera (video and image), its MAE, factories, weights.

Public API (timm's names)::

    create_model(name, *, pretrained=False, num_classes=None, checkpoint=None, **overrides)
    model(x) == model.forward_head(model.forward_features(x))   # hiera_*: (B, 3, T, H, W) -> (B, num_classes)
    model.forward_features(x) -> (B, N, C)                      # final-stage tokens
    model.forward_intermediates(x, indices=None, stop_early=False, intermediates_only=False)
    model.feature_info, model.pretrained_cfg, model.reset_classifier(n), model.set_grad_checkpointing()
    mae(x, mask_ratio=None, mask=None) -> (loss, pred, label, mask)   # mae_hiera_*: see mae.py
    list_models(pattern=None) -> list[str]
    read_weights(source) / read_checkpoint(source): the one reader of every weights format (weights.py)
    load_pretrained(model, source) -> {"reset": [...], "interpolated": [...], "dropped": [...]}
    save_pretrained(model, folder): config.json + model.safetensors (the official from_pretrained reads it)
    create_detector(name, *, num_classes, input_size, feature_stride=16) -> HieraDetector   # AVA: detector.py
    detector(clips (B, 3, T, H, W), boxes (K, 5) [batch_index, x1, y1, x2, y2] pixels) -> logits (K, num_classes)
"""

from .blocks import Head, HieraBlock, MaskUnitAttention, PatchEmbed
from .checkpoint import CheckpointMismatchError, load_pretrained
from .hiera import Hiera
from .layout import Reroll, Unroll, undo_windowing
from .mae import MaskedAutoencoderHiera
from .pretrained import PRETRAINED_TAGS, pretrained_cfg
from .factory import create_model
from .detector import HieraDetector, ROIActionHead, create_detector, roi_boxes
from .registry import OFFICIAL_CHECKPOINTS, OFFICIAL_MAE_CHECKPOINTS, list_models, model_config
from .weights import CheckpointError, Weights, read_checkpoint, read_state_dict, read_weights, save_pretrained

__all__ = [
    "create_model",
    "create_detector",
    "HieraDetector",
    "ROIActionHead",
    "roi_boxes",
    "list_models",
    "model_config",
    "pretrained_cfg",
    "PRETRAINED_TAGS",
    "Hiera",
    "MaskedAutoencoderHiera",
    "load_pretrained",
    "read_weights",
    "read_checkpoint",
    "read_state_dict",
    "save_pretrained",
    "Weights",
    "CheckpointError",
    "CheckpointMismatchError",
    "OFFICIAL_CHECKPOINTS",
    "OFFICIAL_MAE_CHECKPOINTS",
    "Head",
    "HieraBlock",
    "MaskUnitAttention",
    "PatchEmbed",
    "Unroll",
    "Reroll",
    "undo_windowing",
]
