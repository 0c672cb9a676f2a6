"""Mixup / CutMix on a training batch of clips, with label-smoothed soft targets.

:class:`MixupCutmix` takes clips ``(B, C, T, H, W)`` and integer labels ``(B,)`` and returns
the mixed clips with soft targets ``(B, K)``, for ``F.cross_entropy`` with probability
targets. The mixing itself is ``torchvision.transforms.v2.MixUp`` / ``v2.CutMix``; a CutMix box
covers the same ``(H, W)`` region in every frame of a clip.

- With probability ``prob`` a batch is mixed: CutMix with probability ``switch_prob`` (when both
  are enabled), otherwise Mixup; an unmixed batch gets one-hot targets.
- Targets are label-smoothed: ``(1 - eps) * target + eps / K``. Smoothing is affine, so smoothing
  the mixed one-hot targets equals mixing smoothed targets (PySlowFast's order).
- torchvision pairs clip ``i`` with clip ``i - 1``. Under repeated augmentation
  (``AUG.NUM_SAMPLE > 1``) neighbours are samples of the same video, so the batch is first
  shuffled by a random permutation; the returned hard labels follow it.

Source: the MIXUP.* keys and their meaning follow PySlowFast ``slowfast/datasets/mixup.py``
(itself from timm); the operations are torchvision's.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from hiera_video.utils.errors import ConfigError

__all__ = ["MixupCutmix", "build_mixup", "smooth_one_hot"]


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """int64 ``(B,)`` → float32 ``(B, K)`` one-hot with ``smoothing / K`` added to every class
    and ``1 - smoothing`` on the true one (rows sum to 1)."""
    out = torch.nn.functional.one_hot(labels, num_classes).float()
    return out * (1.0 - smoothing) + smoothing / num_classes


class MixupCutmix:
    """Batch mixing for clip classification (see the module docstring).

    Args:
        num_classes: ``K`` (``MODEL.NUM_CLASSES``).
        mixup_alpha: Beta(alpha, alpha) of Mixup's weight (``MIXUP.ALPHA``); 0 disables Mixup.
        cutmix_alpha: Beta of CutMix's area (``MIXUP.CUTMIX_ALPHA``); 0 disables CutMix.
        prob: probability that a batch is mixed (``MIXUP.PROB``).
        switch_prob: probability of CutMix when both are enabled (``MIXUP.SWITCH_PROB``).
        label_smoothing: ``eps`` (``MIXUP.LABEL_SMOOTH_VALUE``).

    Raises:
        ValueError: both alphas 0, negative alpha, a probability outside [0, 1], ``num_classes < 2``.
    """

    def __init__(self, num_classes: int, mixup_alpha: float = 0.8, cutmix_alpha: float = 1.0, prob: float = 1.0,
                 switch_prob: float = 0.5, label_smoothing: float = 0.1):
        if num_classes < 2:
            raise ConfigError(f"Mixup/CutMix needs at least 2 classes, got {num_classes}")
        if mixup_alpha < 0 or cutmix_alpha < 0 or mixup_alpha == cutmix_alpha == 0:
            raise ConfigError(f"MIXUP.ALPHA and MIXUP.CUTMIX_ALPHA must be >= 0 and not both 0, "
                             f"got {mixup_alpha}, {cutmix_alpha}")
        for name, p in (("MIXUP.PROB", prob), ("MIXUP.SWITCH_PROB", switch_prob), ("MIXUP.LABEL_SMOOTH_VALUE", label_smoothing)):
            if not 0.0 <= p <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {p}")
        self.num_classes, self.prob, self.label_smoothing = num_classes, prob, label_smoothing
        self.mixup = v2.MixUp(alpha=mixup_alpha, num_classes=num_classes) if mixup_alpha > 0 else None
        self.cutmix = v2.CutMix(alpha=cutmix_alpha, num_classes=num_classes) if cutmix_alpha > 0 else None
        self.switch_prob = switch_prob if self.mixup and self.cutmix else (1.0 if self.cutmix else 0.0)

    def __call__(self, clips: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mix a batch.

        Args:
            clips: float ``(B, C, T, H, W)``.
            labels: int64 ``(B,)`` in ``[0, K)``.

        Returns:
            ``(clips, targets, labels)``: mixed clips ``(B, C, T, H, W)`` (batch order permuted),
            soft targets float32 ``(B, K)`` (rows sum to 1) and the permuted hard labels ``(B,)``.

        Raises:
            ValueError: ``clips`` not 5-D or batch sizes differ.
        """
        if clips.ndim != 5 or clips.shape[0] != labels.shape[0]:
            raise ValueError(f"expected clips (B, C, T, H, W) and labels (B,), got {tuple(clips.shape)} and "
                             f"{tuple(labels.shape)}")
        perm = torch.randperm(clips.shape[0], device=clips.device)
        clips, labels = clips[perm], labels[perm]
        targets = smooth_one_hot(labels, self.num_classes, self.label_smoothing)
        if clips.shape[0] < 2 or float(torch.rand(())) >= self.prob:
            return clips, targets, labels
        op = self.cutmix if float(torch.rand(())) < self.switch_prob else self.mixup
        # The batch as a Video (B, C, T, H, W): the ops only use the batch axis and the last two.
        mixed, targets = op(tv_tensors.Video(clips), targets)
        return mixed.as_subclass(torch.Tensor), targets, labels


def build_mixup(cfg) -> MixupCutmix | None:
    """:class:`MixupCutmix` from ``cfg.MIXUP`` and ``MODEL.NUM_CLASSES``; None unless ``MIXUP.ENABLE``."""
    m = cfg.MIXUP
    if not m.ENABLE:
        return None
    return MixupCutmix(cfg.MODEL.NUM_CLASSES, mixup_alpha=m.ALPHA, cutmix_alpha=m.CUTMIX_ALPHA, prob=m.PROB,
                       switch_prob=m.SWITCH_PROB, label_smoothing=m.LABEL_SMOOTH_VALUE)
