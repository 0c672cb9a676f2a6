"""Model factories with the official Hiera names, ``create_model`` and ``list_models``.

Video models (``hiera_*_16x224``) follow the official video template (``hiera.hiera_base_16x224``): input
``(T, H, W) = (16, 224, 224)``, q_stride ``(1, 2, 2)``, mask unit ``(1, 8, 8)``, patch Conv3d kernel
``(3, 7, 7)`` stride ``(2, 4, 4)`` padding ``(1, 3, 3)`` (8x56x56 tokens), separate spatial / temporal
position embeddings, q_pool 3, mask-unit attention in stages 1-2, 400 classes (Kinetics-400).
Image models (``hiera_*_224``) follow the official 2-D template: input ``(224, 224)``, q_stride ``(2, 2)``,
mask unit ``(8, 8)``, patch Conv2d kernel 7 stride 4 padding 3, one joint position embedding, 1000 classes.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from .checkpoint import Source, load_pretrained, read_state_dict
from .hiera import Hiera

_BASE_URL = "https://dl.fbaipublicfiles.com/hiera"

#: model name -> official fine-tuned checkpoint (K400 for video, IN-1K for images); weights CC BY-NC 4.0.
OFFICIAL_CHECKPOINTS: Dict[str, str] = {
    **{f"hiera_{s}_16x224": f"{_BASE_URL}/hiera_{s}_16x224.pth" for s in ("base", "base_plus", "large", "huge")},
    **{
        f"hiera_{s}_224": f"{_BASE_URL}/hiera_{s}_224.pth"
        for s in ("tiny", "small", "base", "base_plus", "large", "huge")
    },
}
#: model name -> official MAE-pretrained (not fine-tuned) checkpoint; load with ``load_pretrained``.
OFFICIAL_MAE_CHECKPOINTS: Dict[str, str] = {
    name: url.replace("/hiera_", "/mae_hiera_") for name, url in OFFICIAL_CHECKPOINTS.items()
}

VIDEO_TEMPLATE: Dict[str, Any] = dict(
    input_size=(16, 224, 224),
    q_stride=(1, 2, 2),
    mask_unit_size=(1, 8, 8),
    patch_kernel=(3, 7, 7),
    patch_stride=(2, 4, 4),
    patch_padding=(1, 3, 3),
    sep_pos_embed=True,
    q_pool=3,
    mask_unit_attn=(True, True, False, False),
    num_classes=400,
)
IMAGE_TEMPLATE: Dict[str, Any] = dict(
    input_size=(224, 224),
    q_stride=(2, 2),
    mask_unit_size=(8, 8),
    patch_kernel=(7, 7),
    patch_stride=(4, 4),
    patch_padding=(3, 3),
    sep_pos_embed=False,
    q_pool=3,
    mask_unit_attn=(True, True, False, False),
    num_classes=1000,
)

_MODELS: Dict[str, Callable[..., Hiera]] = {}
_ARCHS: Dict[str, Dict[str, Any]] = {}
_HIERA_ARGS = frozenset(inspect.signature(Hiera.__init__).parameters) - {"self"}


def register(template: Dict[str, Any], embed_dim: int, num_heads: int, stages: Tuple[int, ...]):
    """Decorator registering a factory under its function name with its full ``Hiera`` configuration."""

    def wrap(fn: Callable[..., Hiera]) -> Callable[..., Hiera]:
        _ARCHS[fn.__name__] = {**template, "embed_dim": embed_dim, "num_heads": num_heads, "stages": stages}
        _MODELS[fn.__name__] = fn
        return fn

    return wrap


def _check_name(name: str) -> None:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} Available: {list_models()}")


def model_config(name: str, **overrides: Any) -> Dict[str, Any]:
    """Full ``Hiera.__init__`` keyword arguments of model ``name`` with ``overrides`` applied.

    ``Hiera(**model_config(name))`` (ours) and ``hiera.Hiera(**model_config(name))`` (official) build the
    same architecture. Raises ``ValueError`` for an unknown name, ``TypeError`` for an unknown override.
    """
    _check_name(name)
    unknown = sorted(set(overrides) - _HIERA_ARGS)
    if unknown:
        raise TypeError(f"unknown Hiera argument(s) {unknown}; valid: {sorted(_HIERA_ARGS)}")
    config = {**_ARCHS[name], **overrides}
    config["input_size"] = tuple(int(v) for v in config["input_size"])
    return config


def _build(name: str, overrides: Dict[str, Any]) -> Hiera:
    return Hiera(**model_config(name, **overrides))


# ----------------------------------------------------------------------------------------------- video


@register(VIDEO_TEMPLATE, 96, 1, (1, 2, 7, 2))
def hiera_tiny_16x224(**overrides) -> Hiera:
    """Hiera-T video (embed 96, 1 head, stages (1, 2, 7, 2)). No official video checkpoint exists."""
    return _build("hiera_tiny_16x224", overrides)


@register(VIDEO_TEMPLATE, 96, 1, (1, 2, 11, 2))
def hiera_small_16x224(**overrides) -> Hiera:
    """Hiera-S video (embed 96, 1 head, stages (1, 2, 11, 2)). No official video checkpoint exists."""
    return _build("hiera_small_16x224", overrides)


@register(VIDEO_TEMPLATE, 96, 1, (2, 3, 16, 3))
def hiera_base_16x224(**overrides) -> Hiera:
    """Hiera-B video (embed 96, 1 head, stages (2, 3, 16, 3); 51.1M params with 400 classes).

    Official K400 checkpoint: https://dl.fbaipublicfiles.com/hiera/hiera_base_16x224.pth
    (MAE pretrain: https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_16x224.pth).
    """
    return _build("hiera_base_16x224", overrides)


@register(VIDEO_TEMPLATE, 112, 2, (2, 3, 16, 3))
def hiera_base_plus_16x224(**overrides) -> Hiera:
    """Hiera-B+ video (embed 112, 2 heads, stages (2, 3, 16, 3); 69.4M params with 400 classes).

    Official K400 checkpoint: https://dl.fbaipublicfiles.com/hiera/hiera_base_plus_16x224.pth
    (MAE pretrain: https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_plus_16x224.pth).
    """
    return _build("hiera_base_plus_16x224", overrides)


@register(VIDEO_TEMPLATE, 144, 2, (2, 6, 36, 4))
def hiera_large_16x224(**overrides) -> Hiera:
    """Hiera-L video (embed 144, 2 heads, stages (2, 6, 36, 4); 213.1M params with 400 classes).

    Official K400 checkpoint: https://dl.fbaipublicfiles.com/hiera/hiera_large_16x224.pth
    (MAE pretrain: https://dl.fbaipublicfiles.com/hiera/mae_hiera_large_16x224.pth).
    """
    return _build("hiera_large_16x224", overrides)


@register(VIDEO_TEMPLATE, 256, 4, (2, 6, 36, 4))
def hiera_huge_16x224(**overrides) -> Hiera:
    """Hiera-H video (embed 256, 4 heads, stages (2, 6, 36, 4); 671.6M params with 400 classes).

    Official K400 checkpoint: https://dl.fbaipublicfiles.com/hiera/hiera_huge_16x224.pth
    (MAE pretrain: https://dl.fbaipublicfiles.com/hiera/mae_hiera_huge_16x224.pth).
    """
    return _build("hiera_huge_16x224", overrides)


# ----------------------------------------------------------------------------------------------- image


@register(IMAGE_TEMPLATE, 96, 1, (1, 2, 7, 2))
def hiera_tiny_224(**overrides) -> Hiera:
    """Hiera-T image (96, 1, (1, 2, 7, 2)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_tiny_224.pth"""
    return _build("hiera_tiny_224", overrides)


@register(IMAGE_TEMPLATE, 96, 1, (1, 2, 11, 2))
def hiera_small_224(**overrides) -> Hiera:
    """Hiera-S image (96, 1, (1, 2, 11, 2)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_small_224.pth"""
    return _build("hiera_small_224", overrides)


@register(IMAGE_TEMPLATE, 96, 1, (2, 3, 16, 3))
def hiera_base_224(**overrides) -> Hiera:
    """Hiera-B image (96, 1, (2, 3, 16, 3)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_base_224.pth"""
    return _build("hiera_base_224", overrides)


@register(IMAGE_TEMPLATE, 112, 2, (2, 3, 16, 3))
def hiera_base_plus_224(**overrides) -> Hiera:
    """Hiera-B+ image (112, 2, (2, 3, 16, 3)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_base_plus_224.pth"""
    return _build("hiera_base_plus_224", overrides)


@register(IMAGE_TEMPLATE, 144, 2, (2, 6, 36, 4))
def hiera_large_224(**overrides) -> Hiera:
    """Hiera-L image (144, 2, (2, 6, 36, 4)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_large_224.pth"""
    return _build("hiera_large_224", overrides)


@register(IMAGE_TEMPLATE, 256, 4, (2, 6, 36, 4))
def hiera_huge_224(**overrides) -> Hiera:
    """Hiera-H image (256, 4, (2, 6, 36, 4)). Official IN-1K checkpoint:
    https://dl.fbaipublicfiles.com/hiera/hiera_huge_224.pth"""
    return _build("hiera_huge_224", overrides)


# ------------------------------------------------------------------------------------------------- API


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered model names, optionally filtered by an ``fnmatch`` pattern (e.g. ``"*16x224"``)."""
    names = sorted(_MODELS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def create_model(
    name: str,
    num_classes: Optional[int] = None,
    checkpoint: Optional[Source] = None,
    **overrides: Any,
) -> Hiera:
    """Build a registered model, optionally loading weights.

    Args:
        name: a name from ``list_models()``.
        num_classes: head size; ``None`` keeps the factory default (400 video / 1000 image) or, when a
            checkpoint with a head is given, the checkpoint's head size. A different size than the
            checkpoint's resets the head (see ``load_pretrained``).
        checkpoint: local path, http(s) URL, an in-memory state dict, or ``"official"`` for
            ``OFFICIAL_CHECKPOINTS[name]``.
        **overrides: any ``Hiera.__init__`` argument, e.g. ``input_size=(8, 128, 128)``,
            ``drop_path_rate=0.1``, ``head_dropout=0.5``.

    Raises:
        ValueError: unknown name (close matches listed), bad ``input_size``, or ``"official"`` for a
            model without an official checkpoint.
        TypeError: an override that ``Hiera`` does not take.
        CheckpointMismatchError: checkpoint keys that cannot be reconciled with the model.
    """
    _check_name(name)
    state_dict = None
    if checkpoint is not None:
        if isinstance(checkpoint, str) and checkpoint == "official":
            if name not in OFFICIAL_CHECKPOINTS:
                raise ValueError(f"{name} has no official checkpoint; known: {sorted(OFFICIAL_CHECKPOINTS)}")
            checkpoint = OFFICIAL_CHECKPOINTS[name]
        state_dict = read_state_dict(checkpoint)
        head = state_dict.get("head.projection.weight")
        if num_classes is None and head is not None:
            num_classes = int(head.shape[0])
    if num_classes is not None:
        overrides["num_classes"] = int(num_classes)
    model = _MODELS[name](**overrides)
    if state_dict is not None:
        load_pretrained(model, state_dict)
    return model
