"""Model factories with the official Hiera names, ``model_config`` and ``list_models`` (``create_model``: factory.py).

Video models (``hiera_*_16x224``) follow the official video template (``hiera.hiera_base_16x224``): input
``(T, H, W) = (16, 224, 224)``, q_stride ``(1, 2, 2)``, mask unit ``(1, 8, 8)``, patch Conv3d kernel
``(3, 7, 7)`` stride ``(2, 4, 4)`` padding ``(1, 3, 3)`` (8x56x56 tokens), separate spatial / temporal
position embeddings, q_pool 3, mask-unit attention in stages 1-2, 400 classes (Kinetics-400).
Image models (``hiera_*_224``) follow the official 2-D template: input ``(224, 224)``, q_stride ``(2, 2)``,
mask unit ``(8, 8)``, patch Conv2d kernel 7 stride 4 padding 3, one joint position embedding, 1000 classes.
MAE models (``mae_hiera_*_16x224``, ``mae_hiera_*_224``; ``mae.MaskedAutoencoderHiera``) use the same templates
with ``q_pool=2`` (official ``hiera_mae`` factories), decoder 8 blocks x 512 dims x 16 heads and a default mask
ratio of 0.9 (video) / 0.6 (images).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from .hiera import Hiera
from .mae import MaskedAutoencoderHiera
from .pretrained import PRETRAINED_TAGS

#: model name -> official fine-tuned checkpoint (K400 for video, IN-1K for images); weights CC BY-NC 4.0.
OFFICIAL_CHECKPOINTS: Dict[str, str] = {
    name: next(iter(tags.values()))["url"] for name, tags in PRETRAINED_TAGS.items() if not name.startswith("mae_")
}
#: classifier name -> official MAE-pretrained (not fine-tuned) checkpoint: loads strictly into the MAE model
#: ``mae_<name>`` (``create_model("mae_<name>", pretrained=True)``) and, decoder dropped, into ``<name>``
#: (``create_model(name, pretrained="mae_k400")``).
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

_MAE_DECODER: Dict[str, Any] = dict(q_pool=2, decoder_embed_dim=512, decoder_depth=8, decoder_num_heads=16)
MAE_VIDEO_TEMPLATE: Dict[str, Any] = {**VIDEO_TEMPLATE, **_MAE_DECODER, "mask_ratio": 0.9}
MAE_IMAGE_TEMPLATE: Dict[str, Any] = {**IMAGE_TEMPLATE, **_MAE_DECODER, "mask_ratio": 0.6}

#: model name -> factory (``create_model`` builds through it).
MODELS: Dict[str, Callable[..., Hiera]] = {}
_ARCHS: Dict[str, Dict[str, Any]] = {}
_CLASSES: Dict[str, type] = {}


def _init_args(cls: type) -> frozenset:
    """Keyword arguments ``cls.__init__`` accepts, following ``**kwargs`` up to ``Hiera``."""
    names = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params = inspect.signature(klass.__init__).parameters.values()
            names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if klass is Hiera:
            break
    return frozenset(names - {"self"})


_ARGS = {cls: _init_args(cls) for cls in (Hiera, MaskedAutoencoderHiera)}


def register(template: Dict[str, Any], embed_dim: int, num_heads: int, stages: Tuple[int, ...],
             cls: type = Hiera):
    """Decorator registering a factory under its function name with its full ``cls`` configuration."""

    def wrap(fn: Callable[..., Hiera]) -> Callable[..., Hiera]:
        _ARCHS[fn.__name__] = {**template, "embed_dim": embed_dim, "num_heads": num_heads, "stages": stages}
        MODELS[fn.__name__] = fn
        _CLASSES[fn.__name__] = cls
        return fn

    return wrap


def check_name(name: str) -> None:
    """Raise ``ValueError`` for an unregistered ``name``, listing close matches and every model."""
    if name not in MODELS:
        close = difflib.get_close_matches(name, list(MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} Available: {list_models()}")


def model_config(name: str, **overrides: Any) -> Dict[str, Any]:
    """Full constructor keyword arguments of model ``name`` with ``overrides`` applied.

    ``Hiera(**model_config(name))`` (ours) and ``hiera.Hiera(**model_config(name))`` (official) build the
    same architecture; for ``mae_*`` names ``MaskedAutoencoderHiera`` and the official
    ``hiera.hiera_mae.MaskedAutoencoderHiera`` do, once ``mae.EXTRA_ARGS`` (ours only) are left out.
    Raises ``ValueError`` for an unknown name, ``TypeError`` for an unknown override.
    """
    check_name(name)
    valid = _ARGS[_CLASSES[name]]
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise TypeError(f"unknown {_CLASSES[name].__name__} argument(s) {unknown}; valid: {sorted(valid)}")
    config = {**_ARCHS[name], **overrides}
    config["input_size"] = tuple(int(v) for v in config["input_size"])
    return config


def _build(name: str, overrides: Dict[str, Any]) -> Hiera:
    return _CLASSES[name](**model_config(name, **overrides))


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


# ------------------------------------------------------------------------------------------------- MAE
# Same encoder layouts with q_pool 2, decoder 8 x 512 x 16 heads (MAE_*_TEMPLATE). Official MAE checkpoints
# (weights under "model_state") load strictly; the encoder part also loads into the hiera_* classifiers.


@register(MAE_VIDEO_TEMPLATE, 96, 1, (1, 2, 7, 2), cls=MaskedAutoencoderHiera)
def mae_hiera_tiny_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-T MAE (video, mask ratio 0.9; 96, 1, (1, 2, 7, 2)). No official MAE checkpoint exists."""
    return _build("mae_hiera_tiny_16x224", overrides)


@register(MAE_VIDEO_TEMPLATE, 96, 1, (1, 2, 11, 2), cls=MaskedAutoencoderHiera)
def mae_hiera_small_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-S MAE (video, mask ratio 0.9; 96, 1, (1, 2, 11, 2)). No official MAE checkpoint exists."""
    return _build("mae_hiera_small_16x224", overrides)


@register(MAE_VIDEO_TEMPLATE, 96, 1, (2, 3, 16, 3), cls=MaskedAutoencoderHiera)
def mae_hiera_base_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-B MAE (video, mask ratio 0.9; 96, 1, (2, 3, 16, 3)). Official K400 MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_16x224.pth"""
    return _build("mae_hiera_base_16x224", overrides)


@register(MAE_VIDEO_TEMPLATE, 112, 2, (2, 3, 16, 3), cls=MaskedAutoencoderHiera)
def mae_hiera_base_plus_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-B+ MAE (video, mask ratio 0.9; 112, 2, (2, 3, 16, 3)). Official K400 MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_plus_16x224.pth"""
    return _build("mae_hiera_base_plus_16x224", overrides)


@register(MAE_VIDEO_TEMPLATE, 144, 2, (2, 6, 36, 4), cls=MaskedAutoencoderHiera)
def mae_hiera_large_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-L MAE (video, mask ratio 0.9; 144, 2, (2, 6, 36, 4)). Official K400 MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_large_16x224.pth"""
    return _build("mae_hiera_large_16x224", overrides)


@register(MAE_VIDEO_TEMPLATE, 256, 4, (2, 6, 36, 4), cls=MaskedAutoencoderHiera)
def mae_hiera_huge_16x224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-H MAE (video, mask ratio 0.9; 256, 4, (2, 6, 36, 4)). Official K400 MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_huge_16x224.pth"""
    return _build("mae_hiera_huge_16x224", overrides)


@register(MAE_IMAGE_TEMPLATE, 96, 1, (1, 2, 7, 2), cls=MaskedAutoencoderHiera)
def mae_hiera_tiny_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-T MAE (image, mask ratio 0.6; 96, 1, (1, 2, 7, 2)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_tiny_224.pth"""
    return _build("mae_hiera_tiny_224", overrides)


@register(MAE_IMAGE_TEMPLATE, 96, 1, (1, 2, 11, 2), cls=MaskedAutoencoderHiera)
def mae_hiera_small_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-S MAE (image, mask ratio 0.6; 96, 1, (1, 2, 11, 2)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_small_224.pth"""
    return _build("mae_hiera_small_224", overrides)


@register(MAE_IMAGE_TEMPLATE, 96, 1, (2, 3, 16, 3), cls=MaskedAutoencoderHiera)
def mae_hiera_base_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-B MAE (image, mask ratio 0.6; 96, 1, (2, 3, 16, 3)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_224.pth"""
    return _build("mae_hiera_base_224", overrides)


@register(MAE_IMAGE_TEMPLATE, 112, 2, (2, 3, 16, 3), cls=MaskedAutoencoderHiera)
def mae_hiera_base_plus_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-B+ MAE (image, mask ratio 0.6; 112, 2, (2, 3, 16, 3)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_plus_224.pth"""
    return _build("mae_hiera_base_plus_224", overrides)


@register(MAE_IMAGE_TEMPLATE, 144, 2, (2, 6, 36, 4), cls=MaskedAutoencoderHiera)
def mae_hiera_large_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-L MAE (image, mask ratio 0.6; 144, 2, (2, 6, 36, 4)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_large_224.pth"""
    return _build("mae_hiera_large_224", overrides)


@register(MAE_IMAGE_TEMPLATE, 256, 4, (2, 6, 36, 4), cls=MaskedAutoencoderHiera)
def mae_hiera_huge_224(**overrides) -> MaskedAutoencoderHiera:
    """Hiera-H MAE (image, mask ratio 0.6; 256, 4, (2, 6, 36, 4)). Official IN-1K MAE checkpoint:
    https://dl.fbaipublicfiles.com/hiera/mae_hiera_huge_224.pth"""
    return _build("mae_hiera_huge_224", overrides)


# ------------------------------------------------------------------------------------------------- API


def list_models(pattern: Optional[str] = None) -> List[str]:
    """Sorted registered model names, optionally filtered by an ``fnmatch`` pattern (e.g. ``"*16x224"``)."""
    names = sorted(MODELS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names
