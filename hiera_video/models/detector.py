"""Action detection on a Hiera video backbone: per-box multi-label logits from ROI-aligned features (AVA).

``HieraDetector(clips, boxes)``:

1. ``backbone.forward_intermediates(clips, indices=[-1])``: the last stage's map ``(B, C, T', H', W')`` in spatial
   order. Hiera's last stage is at stride 32 (7 x 7 for a 224 input), too coarse for people; :func:`create_detector`
   builds the backbone with its **last q-pool skipped** (``q_pool = len(stages) - 2``) so the last stage runs at
   stride 16. Q-pooling has no parameters, so every weight of a K400 classifier or MAE checkpoint still loads; the
   last stage's global attention then sees 4x the tokens (``benchmarks/detection_step.py`` measures it);
2. the backbone's final LayerNorm on every token (its K400 weights: the features the K400 head was trained on),
   then the mean over time ``T'`` -> ``(B, C, H', W')``;
3. ``torchvision.ops.roi_align`` (``aligned=True``, ``sampling_ratio=0``, output ``resolution x resolution``,
   ``spatial_scale = 1 / stride``) -> max over the cells -> dropout -> linear -> **logits** ``(K, num_classes)``:
   no sigmoid, so the loss is ``BCEWithLogits`` (safe under AMP; PySlowFast's head applies the sigmoid before
   ``BCELoss``).

Source: PySlowFast ``ResNetRoIHead`` / MViT AVA head (mean over time, ROIAlign 7x7, max-pool, dropout, linear) and
VideoMAE's AVA head (stride-16 ViT features); detectron2's ROIAlign default ``aligned=True``.

Weights: ``load_pretrained(model, source)`` on a detector reads a detector checkpoint whole (``backbone.*`` +
``head.*``), and a classifier / MAE checkpoint (official ``.pth``, ours, ``hf-hub:``) into the backbone with a fresh
head; position embeddings are resampled to the detector's input size (e.g. 16 x 224 x 384 from 16 x 224 x 224).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torchvision.ops import roi_align

from .checkpoint import CheckpointMismatchError, load_pretrained
from .hiera import Hiera
from .registry import MODELS, model_config
from .weights import Weights

__all__ = ["ROIActionHead", "HieraDetector", "create_detector", "roi_boxes"]

logger = logging.getLogger(__name__)


class ROIActionHead(nn.Module):
    """ROIAlign -> spatial max -> dropout -> linear: per-box logits from a feature map.

    Args:
        dim: channels ``C`` of the feature map. ``num_classes``: outputs per box.
        resolution: ROIAlign output side (``DETECTION.ROI_XFORM_RESOLUTION``). ``spatial_scale``: feature cells per
            input pixel (``1 / stride``). ``aligned``: ``roi_align``'s half-pixel offset (``DETECTION.ALIGNED``).
        dropout: before the linear layer.
        prior_prob: the initial probability of every class: the bias starts at ``log(p / (1 - p))`` (the prior
            initialisation of RetinaNet, Lin et al. 2017, sec. 4.1), so training does not start by pushing every
            logit of a rare multi-label target down through the backbone; 0 starts it at 0 (PySlowFast's head).

    Raises:
        ValueError: ``prior_prob`` outside [0, 1).
    """

    def __init__(self, dim: int, num_classes: int, resolution: int = 7, spatial_scale: float = 1 / 16,
                 aligned: bool = True, dropout: float = 0.0, prior_prob: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= float(prior_prob) < 1.0:
            raise ValueError(f"prior_prob must be in [0, 1), got {prior_prob}")
        self.resolution, self.spatial_scale, self.aligned = int(resolution), float(spatial_scale), bool(aligned)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.projection = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.projection.weight, std=0.01)
        p = float(prior_prob)
        nn.init.constant_(self.projection.bias, math.log(p / (1.0 - p)) if p > 0 else 0.0)

    def forward(self, features: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """``features (B, C, H', W')``, ``boxes (K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` in input pixels ->
        logits ``(K, num_classes)``."""
        cells = roi_align(features, boxes.to(features.dtype), output_size=self.resolution,
                          spatial_scale=self.spatial_scale, sampling_ratio=0, aligned=self.aligned)  # (K, C, r, r)
        return self.projection(self.dropout(cells.amax(dim=(2, 3))))


class HieraDetector(nn.Module):
    """A video Hiera backbone and an :class:`ROIActionHead` on its last stage (see the module docstring).

    Args:
        backbone: a video ``Hiera`` (its classification head is removed here).
        num_classes: per-box outputs (AVA: 80, scored on the label map's 60).
        resolution, aligned, dropout: the head's (``DETECTION.ROI_XFORM_RESOLUTION``, ``DETECTION.ALIGNED``,
            ``MODEL.HEAD_DROPOUT``).

    Raises:
        ValueError: ``backbone`` is not a video (3-D input) Hiera.
    """

    def __init__(self, backbone: Hiera, num_classes: int, resolution: int = 7, aligned: bool = True,
                 dropout: float = 0.0, prior_prob: float = 0.0) -> None:
        super().__init__()
        if len(backbone.input_size) != 3:
            raise ValueError(f"a detector needs a video Hiera (input (T, H, W)), got input_size {backbone.input_size}")
        backbone.reset_classifier(0)
        self.backbone = backbone
        info = backbone.feature_info[-1]
        self.feature_stride = int(info["reduction"])
        self.num_features = int(info["num_chs"])
        self.num_classes = int(num_classes)
        self.input_size = tuple(backbone.input_size)
        self.head = ROIActionHead(self.num_features, num_classes, resolution, 1.0 / self.feature_stride, aligned,
                                  dropout, prior_prob)

    def forward_features(self, clips: torch.Tensor) -> torch.Tensor:
        """``clips (B, 3, T, H, W)`` (normalised, the backbone's input size) -> the map the boxes are pooled from,
        ``(B, C, H / stride, W / stride)``: last stage, per-token LayerNorm, mean over time."""
        fmap = self.backbone.forward_intermediates(clips, indices=[-1], intermediates_only=True)[0]
        fmap = self.backbone.norm(fmap.movedim(1, -1)).movedim(-1, 1)  # (B, C, T', H', W')
        return fmap.mean(dim=2)

    def forward(self, clips: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Per-box logits ``(K, num_classes)`` (no sigmoid) for ``boxes (K, 5)`` = ``[batch_index, x1, y1, x2, y2]``
        in pixels of the input clip ``(B, 3, T, H, W)``.

        Raises:
            ValueError: ``clips`` is not ``(B, 3, *input_size)`` or ``boxes`` is not ``(K, 5)``.
        """
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be (K, 5) [batch_index, x1, y1, x2, y2], got {tuple(boxes.shape)}")
        return self.head(self.forward_features(clips), boxes)

    # ------------------------------------------------------------------------------ training-loop protocol
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.backbone.set_grad_checkpointing(enable)

    def no_weight_decay(self) -> set:
        return {f"backbone.{name}" for name in self.backbone.no_weight_decay()}

    @property
    def num_layers(self) -> int:
        """Layer ids for layer-wise lr decay: the backbone's, the head with its final norm (the top layer)."""
        return self.backbone.num_layers

    def get_layer_id(self, param_name: str) -> int:
        if param_name.startswith("backbone."):
            return self.backbone.get_layer_id(param_name[len("backbone."):])
        return self.num_layers - 1

    @property
    def config(self) -> Dict[str, Any]:
        return {"backbone": dict(self.backbone.config), "num_classes": self.num_classes,
                "resolution": self.head.resolution, "aligned": self.head.aligned}

    # ------------------------------------------------------------------------------------------- weights
    def load_pretrained(self, weights: Weights) -> Dict[str, List[str]]:
        """Load ``weights``: a detector's (``backbone.*`` keys: whole, the head reset when its class count differs)
        or a classifier / MAE encoder's (into the backbone; the head stays fresh and is reported reset).

        Returns:
            ``{"reset", "interpolated", "dropped"}`` with detector key names (as ``models.load_pretrained``).

        Raises:
            CheckpointMismatchError: keys or shapes that do not fit beyond the above.
        """
        state = weights.state_dict
        head_keys = sorted(f"head.{k}" for k in self.head.state_dict())
        if any(k.startswith("backbone.") for k in state):
            inner = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
            head = {k: v for k, v in state.items() if k.startswith("head.")}
            other = sorted(set(state) - set(head) - {f"backbone.{k}" for k in inner})
            if other:
                raise CheckpointMismatchError(f"{weights.source}: unexpected keys {other} for HieraDetector")
            report = load_pretrained(self.backbone, Weights(inner, weights.source, weights.config, weights.meta))
            fits = sorted(head) == head_keys and all(
                head[k].shape == v.shape for k, v in self.state_dict().items() if k in head)
            if fits:
                self.load_state_dict(head, strict=False)
            else:
                logger.warning("load_pretrained: %s: detection head %s does not fit %d classes: reset",
                               weights.source, {k: list(v.shape) for k, v in head.items()}, self.num_classes)
            prefix = {key: [f"backbone.{k}" for k in report[key]] for key in report}
            prefix["reset"] += [] if fits else head_keys
            prefix["dropped"] += [] if fits else sorted(head)
            return prefix
        classifier_head = sorted(k for k in state if k.startswith("head."))
        inner = {k: v for k, v in state.items() if not k.startswith("head.")}
        report = load_pretrained(self.backbone, Weights(inner, weights.source, weights.config, weights.meta))
        out = {key: [f"backbone.{k}" for k in report[key]] for key in report}
        out["reset"] += head_keys
        out["dropped"] += classifier_head
        return out


def create_detector(name: str, *, num_classes: int, input_size: Sequence[int], feature_stride: int = 16,
                    resolution: int = 7, aligned: bool = True, dropout: float = 0.0, prior_prob: float = 0.0,
                    **overrides: Any) -> HieraDetector:
    """A :class:`HieraDetector` on the video Hiera ``name`` (e.g. ``hiera_large_16x224``) at ``input_size``
    ``(T, H, W)`` (frames, pixels; H and W multiples of 32).

    Args:
        feature_stride: 16 (the last stage without its q-pool; all weights still load) or 32 (the plain last
            stage) (``DETECTION.SPATIAL_SCALE_FACTOR``).
        resolution, aligned, dropout, prior_prob: the head's (:class:`ROIActionHead`).
        **overrides: further ``Hiera`` arguments (e.g. ``drop_path_rate``).

    Raises:
        ValueError: an unknown or image ``name``, a ``feature_stride`` the backbone cannot give, or an invalid
            input size.
    """
    if name not in MODELS or name.startswith("mae_"):
        raise ValueError(f"unknown video backbone {name!r} for a detector; use a hiera_* video model")
    cfg = model_config(name)
    stages = tuple(cfg.get("stages", (2, 3, 16, 3)))
    full_pools = int(cfg.get("q_pool", len(stages) - 1))
    pools: Optional[int] = {32: full_pools, 16: full_pools - 1}.get(int(feature_stride))
    if pools is None or pools < 0:
        raise ValueError(f"feature_stride {feature_stride}: a Hiera detector pools at stride 16 or 32")
    backbone = MODELS[name](input_size=tuple(int(v) for v in input_size), q_pool=pools, num_classes=1,
                            **overrides)  # its head is removed by HieraDetector
    if len(backbone.input_size) != 3:
        raise ValueError(f"{name} is an image model; a detector needs a video Hiera")
    model = HieraDetector(backbone, num_classes, resolution=resolution, aligned=aligned, dropout=dropout,
                          prior_prob=prior_prob)
    if model.feature_stride != int(feature_stride):
        raise ValueError(f"{name}: last stage at stride {model.feature_stride}, asked for {feature_stride}")
    return model


def roi_boxes(boxes: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-clip box tensors ``[(K_i, 4)]`` -> ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]`` and the clip index
    ``(K,)`` of each row."""
    index = torch.cat([torch.full((len(b),), i, dtype=torch.long) for i, b in enumerate(boxes)]) if boxes else \
        torch.zeros(0, dtype=torch.long)
    flat = torch.cat([b.float() for b in boxes]) if boxes else torch.zeros(0, 4)
    return torch.cat([index.float().unsqueeze(1), flat], dim=1), index
