"""Loading pretrained weights into ``Hiera``: official checkpoints, plain state dicts, our training checkpoints.

``load_pretrained`` reconciles a checkpoint with a model in a fixed, logged way (logger ``hiera_video.models``):

* container formats: official ``{"model_state": sd}`` (``dl.fbaipublicfiles.com/hiera/*.pth``), our training
  checkpoints ``{"model": sd, "epoch": ...}``, ``{"state_dict": sd}``, or a plain ``sd``;
* key prefixes ``module.`` (DDP) and ``_orig_mod.`` (``torch.compile``) are stripped;
* MAE-only keys (``decoder*``, ``mask_token``, ``encoder_norm*``, ``multi_scale_fusion_heads*``) are dropped
  when the model has none (a classifier); for such an MAE checkpoint the model's ``norm.*`` / ``head.*`` (absent
  from MAE encoders) stay freshly initialised and are reported as reset. An MAE model
  (``mae.MaskedAutoencoderHiera``) takes them all, strictly;
* a head of another size than the model's is dropped (the model keeps its fresh head, reported as reset);
* position embeddings of another grid are resampled: ``pos_embed_spatial [1, h*w, C]`` bicubic in 2-D,
  ``pos_embed_temporal [1, t, C]`` linear in 1-D (both ``align_corners=False``), a joint ``pos_embed``
  bicubic (2-D) or trilinear (3-D, same T), an MAE ``decoder_pos_embed`` over the prediction grid likewise (3-D:
  the checkpoint's T read from its ``pos_embed_temporal`` when present);
* anything else that is missing, unexpected or of the wrong shape raises ``CheckpointMismatchError``.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Dict, List, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .weights import CheckpointError, CheckpointMismatchError, Source, Weights, read_weights  # noqa: F401

logger = logging.getLogger("hiera_video.models")

MAE_ONLY_PREFIXES = ("decoder", "mask_token", "encoder_norm", "multi_scale_fusion_heads")
_HEAD_KEYS = ("head.projection.weight", "head.projection.bias")


def interpolate_pos_embed(
    embed: torch.Tensor, old_grid: List[int], new_grid: List[int]
) -> torch.Tensor:
    """Resample a raster-ordered position embedding ``[1, prod(old_grid), C] -> [1, prod(new_grid), C]``.

    1-D grids use linear, 2-D bicubic and 3-D trilinear interpolation, all with ``align_corners=False``.
    Computed in float32, returned in ``embed``'s dtype.
    """
    modes = {1: "linear", 2: "bicubic", 3: "trilinear"}
    channels = embed.shape[-1]
    # [1, prod(old), C] -> [1, *old, C] -> [1, C, *old]
    grid = embed.float().reshape(1, *old_grid, channels).movedim(-1, 1)
    grid = F.interpolate(grid, size=tuple(new_grid), mode=modes[len(old_grid)], align_corners=False)
    # [1, C, *new] -> [1, *new, C] -> [1, prod(new), C]
    return grid.movedim(1, -1).reshape(1, -1, channels).to(embed.dtype)


def _square_side(count: int, key: str) -> int:
    side = math.isqrt(count)
    if side * side != count:
        raise CheckpointMismatchError(f"{key}: {count} positions do not form a square grid; cannot resample")
    return side


def _source_grid(key: str, old: torch.Tensor, model: nn.Module, token_frames: int) -> List[int]:
    """Guess the checkpoint's grid for a position embedding (square spatial grids, as all official ones).

    ``token_frames``: the checkpoint's number of token frames (3-D joint embeddings only)."""
    grid = _target_grid(key, model)
    count = old.shape[1]
    if key == "pos_embed_temporal":
        return [count]
    if key == "pos_embed_spatial" or len(grid) == 2:
        side = _square_side(count, key)
        return [side, side]
    frames = token_frames
    if key == "decoder_pos_embed":  # prediction grid: the token grid after q_pool temporal strides
        frames //= model.q_stride[0] ** model.q_pool
    if count % frames:
        raise CheckpointMismatchError(f"{key}: {count} positions are not a multiple of T={frames}")
    side = _square_side(count // frames, key)
    return [frames, side, side]


def _target_grid(key: str, model: nn.Module) -> List[int]:
    if key == "decoder_pos_embed":
        return list(getattr(model, "tokens_spatial_shape_final"))
    grid = list(getattr(model, "tokens_spatial_shape"))
    if key == "pos_embed_temporal":
        return grid[:1]
    if key == "pos_embed_spatial":
        return grid[1:]
    return grid


def load_pretrained(model: nn.Module, source: Union[Source, Weights]) -> Dict[str, List[str]]:
    """Load ``source`` into ``model`` (a ``Hiera`` or ``MaskedAutoencoderHiera``), adapting head, position
    embeddings and MAE keys. A model with its own ``load_pretrained(weights)`` method (``HieraDetector``) is
    handed the read weights instead.

    Args:
        model: the model to fill; its parameters not in the checkpoint are only allowed for a reset head.
            An MAE model needs every key of an MAE checkpoint (official ``mae_hiera_*.pth`` or our own).
        source: anything ``weights.read_weights`` reads (path, folder, URL, ``hf-hub:`` id, loaded dict) or
            the ``Weights`` it returned.

    Returns:
        ``{"reset": [...], "interpolated": [...], "dropped": [...]}``: keys kept at the model's fresh init,
        position embeddings that were resampled, checkpoint keys that were discarded.

    Raises:
        CheckpointMismatchError: missing keys, unexpected keys or shape mismatches other than the above.
    """
    weights = source if isinstance(source, Weights) else read_weights(source)
    own = getattr(model, "load_pretrained", None)
    if callable(own):  # composite models (HieraDetector) map checkpoint keys onto their parts themselves
        return own(weights)
    state = dict(weights.state_dict)
    expected = model.state_dict()
    report: Dict[str, List[str]] = {"reset": [], "interpolated": [], "dropped": []}

    mae_keys = sorted(k for k in state if k.startswith(MAE_ONLY_PREFIXES) and k not in expected)
    for key in mae_keys:
        del state[key]
    if mae_keys:
        report["dropped"] += mae_keys
        logger.info("load_pretrained: dropped %d MAE-only keys: %s", len(mae_keys), compact_keys(mae_keys))

    head_key = _HEAD_KEYS[0]
    if head_key in state and head_key in expected and state[head_key].shape != expected[head_key].shape:
        checkpoint_classes = state[head_key].shape[0]
        removed = [k for k in _HEAD_KEYS if k in state]
        for key in removed:
            del state[key]
        reset = [k for k in _HEAD_KEYS if k in expected]
        report["dropped"] += removed
        report["reset"] += reset
        logger.warning(
            "load_pretrained: checkpoint head has %d classes, model has %d; reset keys %s",
            checkpoint_classes, expected[head_key].shape[0], reset,
        )
    if mae_keys:  # MAE encoders have no final norm / head: keep the fresh ones
        fresh = [k for k in expected if k.startswith(("norm.", "head.")) and k not in state]
        fresh = [k for k in fresh if k not in report["reset"]]
        if fresh:
            report["reset"] += fresh
            logger.warning("load_pretrained: MAE checkpoint has no %s; keeping fresh init", fresh)

    grid = list(getattr(model, "tokens_spatial_shape"))
    # the checkpoint's token frames (3-D), read before pos_embed_temporal is resampled; else assume the model's
    token_frames = state["pos_embed_temporal"].shape[1] if "pos_embed_temporal" in state else grid[0]
    for key in ("pos_embed", "pos_embed_spatial", "pos_embed_temporal", "decoder_pos_embed"):
        if key not in state or key not in expected or state[key].shape == expected[key].shape:
            continue
        old, new = state[key], expected[key]
        if old.ndim != 3 or old.shape[0] != 1 or old.shape[2] != new.shape[2]:
            raise CheckpointMismatchError(f"{key}: checkpoint {list(old.shape)} vs model {list(new.shape)}")
        state[key] = interpolate_pos_embed(old, _source_grid(key, old, model, token_frames), _target_grid(key, model))
        report["interpolated"].append(key)
        logger.info("load_pretrained: interpolated %s %s -> %s", key, list(old.shape), list(new.shape))

    missing = sorted(k for k in expected if k not in state and k not in report["reset"])
    unexpected = sorted(k for k in state if k not in expected)
    wrong_shape = sorted(
        f"{k}: checkpoint {list(state[k].shape)} vs model {list(expected[k].shape)}"
        for k in state
        if k in expected and state[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong_shape:
        parts = [f"{title} {keys}" for title, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", wrong_shape))
                 if keys]
        raise CheckpointMismatchError(f"{weights.source}: does not match {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(state, strict=False)
    where = weights.source
    logger.info(
        "load_pretrained: %s into %s: used %d checkpoint keys %s; dropped %d %s; initialised %d model keys fresh "
        "%s; interpolated %s", where, type(model).__name__, len(state), compact_keys(state), len(report["dropped"]),
        compact_keys(report["dropped"]), len(report["reset"]), compact_keys(report["reset"]),
        compact_keys(report["interpolated"]),
    )
    return report


_INDEXED = re.compile(r"^(.*?)\.(\d+)\.(.+)$")


def compact_keys(keys) -> str:
    """State-dict keys as one exact, short string: keys that differ only in their first numeric component are
    merged with that component written as index ranges, e.g. ``blocks.[0-11].attn.qkv.weight`` or
    ``decoder_blocks.[0,2-3].norm1.bias``; ``[]`` when empty. Every key is listed (no elision)."""
    groups: Dict[tuple, List[int]] = {}
    order: List[tuple] = []
    for key in sorted(keys):
        m = _INDEXED.match(key)
        group, index = ((m.group(1), m.group(3)), int(m.group(2))) if m else ((key, None), None)
        if group not in groups:
            groups[group] = []
            order.append(group)
        if index is not None:
            groups[group].append(index)
    parts = []
    for prefix, suffix in order:
        if suffix is None:
            parts.append(prefix)
            continue
        idx, runs, start = sorted(set(groups[(prefix, suffix)])), [], None
        for i, v in enumerate(idx):
            start = v if start is None else start
            if i + 1 == len(idx) or idx[i + 1] != v + 1:
                runs.append(str(v) if start == v else f"{start}-{v}")
                start = None
        parts.append(f"{prefix}.[{','.join(runs)}].{suffix}")
    return "[" + ", ".join(parts) + "]"
