"""Hiera models: official-architecture Hiera (video and image), its MAE, factories and checkpoint loading.

Public API::

    create_model(name, num_classes=None, checkpoint=None, **overrides) -> Hiera  # or MaskedAutoencoderHiera
    model(x) -> logits                                    # hiera_*: x (B, 3, T, H, W) -> (B, num_classes)
    mae(x, mask_ratio=None, mask=None) -> (loss, pred, label, mask)   # mae_hiera_*: see mae.py
    list_models(pattern=None) -> list[str]
    load_pretrained(model, source) -> {"reset": [...], "interpolated": [...], "dropped": [...]}
"""

from .checkpoint import CheckpointMismatchError, load_pretrained, read_state_dict
from .hiera import Head, Hiera, HieraBlock, MaskUnitAttention, PatchEmbed
from .layout import Reroll, Unroll, undo_windowing
from .mae import MaskedAutoencoderHiera
from .registry import OFFICIAL_CHECKPOINTS, OFFICIAL_MAE_CHECKPOINTS, create_model, list_models, model_config

__all__ = [
    "create_model",
    "list_models",
    "model_config",
    "Hiera",
    "MaskedAutoencoderHiera",
    "load_pretrained",
    "read_state_dict",
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
