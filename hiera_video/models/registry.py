"""Model factories with the official Hiera names, ``create_model`` and ``list_models``.

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
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from .checkpoint import load_pretrained
from .hiera import Hiera
from .mae import MaskedAutoencoderHiera
from .pretrained import PRETRAINED_TAGS, pretrained_cfg, resolve_tag
from .weights import Source, is_hub_id, read_weights

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

_MODELS: Dict[str, Callable[..., Hiera]] = {}
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
        _MODELS[fn.__name__] = fn
        _CLASSES[fn.__name__] = cls
        return fn

    return wrap


def _check_name(name: str) -> None:
    if name not in _MODELS:
        close = difflib.get_close_matches(name, list(_MODELS), n=5, cutoff=0.5)
        hint = f"; did you mean {close}?" if close else ""
        raise ValueError(f"unknown model {name!r}{hint} Available: {list_models()}")


def model_config(name: str, **overrides: Any) -> Dict[str, Any]:
    """Full constructor keyword arguments of model ``name`` with ``overrides`` applied.

    ``Hiera(**model_config(name))`` (ours) and ``hiera.Hiera(**model_config(name))`` (official) build the
    same architecture; for ``mae_*`` names ``MaskedAutoencoderHiera`` and the official
    ``hiera.hiera_mae.MaskedAutoencoderHiera`` do, once ``mae.EXTRA_ARGS`` (ours only) are left out.
    Raises ``ValueError`` for an unknown name, ``TypeError`` for an unknown override.
    """
    _check_name(name)
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
    names = sorted(_MODELS)
    return [n for n in names if fnmatch.fnmatch(n, pattern)] if pattern else names


def create_model(
    name: str,
    *,
    pretrained: Union[bool, str] = False,
    num_classes: Optional[int] = None,
    checkpoint: Optional[Source] = None,
    **overrides: Any,
) -> Hiera:
    """Build a registered model, optionally with weights (timm's ``create_model``; everything after the name is
    keyword-only).

    Args:
        name: a name from ``list_models()`` (``list_models("mae_*")``: the MAE models).
        pretrained: ``True`` for the official weights of the default tag, or a tag (``"mae_k400_ft_k400"``,
            ``"mae_k400"``; images ``"mae_in1k_ft_in1k"``, ``"mae_in1k"``; see ``pretrained.PRETRAINED_TAGS``),
            read from the tag's URL through ``torch.hub``'s cache.
        num_classes: head size; ``None`` keeps the factory default (400 video / 1000 image) or, when weights
            with a head are loaded, their head size. A size other than the weights' resets the head (logged, see
            ``load_pretrained``). Unused by MAE models (no head).
        checkpoint: weights from elsewhere: a local file (``.pth`` / ``.pyth`` / ``.safetensors``), a folder
            with ``config.json`` + ``model.safetensors`` (what ``save_pretrained`` writes), ``hf-hub:ORG/NAME``,
            an http(s) URL, an in-memory state dict, or ``"official"`` (= ``pretrained=True``).
        **overrides: any ``Hiera.__init__`` argument, e.g. ``input_size=(8, 128, 128)``,
            ``drop_path_rate=0.1``, ``head_dropout=0.5``; for MAE models also ``decoder_depth``,
            ``decoder_embed_dim``, ``decoder_num_heads``, ``norm_pix_loss``, ``mask_ratio``.

    Returns:
        The model, with ``model.pretrained_cfg`` (``pretrained.pretrained_cfg``): weights URL / Hub id of the
        tag, data settings, and ``label_names`` (Kinetics-400 / ImageNet-1k names for the official fine-tuned
        weights, the class names recorded in one of our training checkpoints, else None).

    Raises:
        ValueError: unknown name (close matches listed), bad ``input_size``, an unknown tag or official weights
            for a model that has none, or both ``pretrained`` and ``checkpoint``.
        TypeError: an override that ``Hiera`` does not take.
        CheckpointError: unreadable weights (one line naming the file); ``CheckpointMismatchError`` (a
            subclass): keys that cannot be reconciled with the model.
    """
    _check_name(name)
    if isinstance(checkpoint, str) and checkpoint == "official":
        if pretrained:
            raise ValueError("give either pretrained or checkpoint='official', not both")
        pretrained, checkpoint = True, None
    if pretrained and checkpoint is not None:
        raise ValueError(f"create_model({name!r}): give either pretrained (official weights) or checkpoint, not both")
    tag = None
    if pretrained:
        try:
            tag = resolve_tag(name, pretrained)
        except ValueError as e:
            raise ValueError(str(e).replace("has no official weights", "has no official checkpoint")) from None
        checkpoint = PRETRAINED_TAGS[name][tag]["url"]
    weights = read_weights(checkpoint) if checkpoint is not None else None
    if weights is not None:
        head = weights.state_dict.get("head.projection.weight")
        if num_classes is None and head is not None:
            num_classes = int(head.shape[0])
    if num_classes is not None:
        overrides["num_classes"] = int(num_classes)
    model = _MODELS[name](**overrides)
    if weights is not None and weights.config:
        _check_config(name, model, weights)
    cfg = pretrained_cfg(name, tag, is_video=len(model.input_size) == 3)
    cfg["input_size"] = (model.in_chans, *model.input_size)  # what this model takes
    if len(model.input_size) == 3:
        cfg["num_frames"] = model.input_size[0]
    if weights is not None:
        load_pretrained(model, weights)
        if tag is None:  # weights from a file: describe them, not the official ones
            cfg.update(tag=None, url=weights.source if "://" in weights.source else None,
                       hf_hub_id=weights.source[len("hf-hub:"):] if is_hub_id(weights.source) else None,
                       label_names=None, license=None)
    cfg["num_classes"] = model.num_classes if hasattr(model, "head") else None
    if weights is not None:
        _apply_meta(cfg, weights.meta, model)
    else:  # no weights loaded: keep the default tag's references, but its class names do not apply
        cfg["label_names"] = None
    if cfg.get("label_names") is not None and len(cfg["label_names"]) != cfg.get("num_classes"):
        cfg["label_names"] = None  # a head of another size than the tag's classes
    model.pretrained_cfg = cfg
    return model


#: constructor arguments that fix the architecture (a config.json that disagrees names other weights).
_ARCH_KEYS = ("embed_dim", "num_heads", "stages", "q_pool", "q_stride", "mask_unit_size", "mask_unit_attn",
              "dim_mul", "head_mul", "patch_kernel", "patch_stride", "patch_padding", "mlp_ratio", "sep_pos_embed",
              "in_chans")


def _check_config(name: str, model: Hiera, weights) -> None:
    """Compare a folder's ``config.json`` with the model built for ``name``.

    Raises:
        CheckpointMismatchError: an architecture argument differs (the message names each).
    """
    from .checkpoint import CheckpointMismatchError

    def norm(v):
        return [norm(x) for x in v] if isinstance(v, (list, tuple)) else v

    diffs = [f"{k}={weights.config[k]!r} (model {model.config[k]!r})" for k in _ARCH_KEYS
             if k in weights.config and k in model.config and norm(weights.config[k]) != norm(model.config[k])]
    if diffs:
        raise CheckpointMismatchError(f"{weights.source}: config.json describes another architecture than {name}: "
                                      + ", ".join(diffs))


def _apply_meta(cfg: Dict[str, Any], meta: Dict[str, Any], model: Hiera) -> None:
    """Our training checkpoints record class names and data settings (``meta``); they describe the weights."""
    names = meta.get("class_names")
    if names and len(names) == cfg.get("num_classes"):
        cfg["label_names"] = [str(n) for n in names]
    data = meta.get("data") or {}
    for key in ("num_frames", "sampling_rate", "fps", "mean", "std"):
        if key in data:
            cfg[key] = data[key]

