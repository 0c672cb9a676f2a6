"""Hiera models: official-architecture Hiera (video and image), factories and checkpoint loading.

Public API::

    create_model(name, num_classes=None, checkpoint=None, **overrides) -> Hiera
    list_models(pattern=None) -> list[str]
    load_pretrained(model, source) -> {"reset": [...], "interpolated": [...], "dropped": [...]}
"""

from .checkpoint import CheckpointMismatchError, load_pretrained, read_state_dict
from .hiera import Head, Hiera, HieraBlock, MaskUnitAttention, PatchEmbed
from .layout import Reroll, Unroll, undo_windowing
from .registry import OFFICIAL_CHECKPOINTS, OFFICIAL_MAE_CHECKPOINTS, create_model, list_models, model_config

__all__ = [
    "create_model",
    "list_models",
    "model_config",
    "Hiera",
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
