"""``create_model``: build a registered model by name and give it weights (timm's entry point)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

from .checkpoint import load_pretrained
from .hiera import Hiera
from .pretrained import PRETRAINED_TAGS, pretrained_cfg, resolve_tag
from .registry import MODELS, check_name
from .weights import CheckpointMismatchError, Source, Weights, is_hub_id, read_weights


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
    check_name(name)
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
    model = MODELS[name](**overrides)
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


def _check_config(name: str, model: Hiera, weights: Weights) -> None:
    """Compare a folder's ``config.json`` with the model built for ``name``.

    Raises:
        CheckpointMismatchError: an architecture argument differs (the message names each).
    """
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

