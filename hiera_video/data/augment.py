"""Clip-level RandAugment and random erasing built from torchvision's v2 ops.

Every op here sees a whole clip, a ``tv_tensors.Video`` ``(T, C, H, W)``, and draws its
random parameters ONCE per call, so all frames of a clip get the same op, magnitude and
erased box (timm/PySlowFast applied RandAugment frame by frame through PIL with one draw per
clip; the result is the same, the work is batched here).

- :class:`ClipRandAugment`: timm's ``rand-m{M}-n{N}-mstd{S}-inc1`` policy (the one PySlowFast,
  MAE-ST and Hiera's fine-tuning use), executed by ``torchvision.transforms.v2.RandAugment``:
  ``N`` ops drawn with replacement, each applied with probability ``prob`` (timm: 0.5) at
  magnitude ``M`` out of 10, jittered per op by a normal draw of std ``S`` and clipped to
  [0, 10]. torchvision's op space is timm's "increasing" set (``inc1``: posterize, solarize and
  the enhance ops get stronger with the magnitude; the same ranges for shear 0.3, rotate 30
  degrees, translate 0.45 of the side) except that it has Identity where timm has Invert and
  SolarizeAdd. ``inc0`` (timm's legacy non-increasing ops) is therefore rejected rather than
  silently changed.
- :func:`parse_rand_augment`: the ``AUG.AA_TYPE`` string to :class:`RandAugmentSpec`.
- :func:`random_erasing`: ``AUG.RE_*`` to ``v2.RandomErasing`` ops (timm's area 0.02-1/3,
  aspect 0.3-3.3), applied to the normalised clip; "pixel" mode erases with per-pixel normal
  noise shared by all frames.

Source: policy string format and per-op probability / magnitude noise from timm
``timm/data/auto_augment.py`` ``rand_augment_transform`` (as vendored by PySlowFast
``slowfast/datasets/rand_augment.py``); random erasing settings from timm ``RandomErasing``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import torch
from torchvision.transforms import v2

from hiera_video.utils.errors import ConfigError

__all__ = ["RandAugmentSpec", "parse_rand_augment", "ClipRandAugment", "random_erasing", "RE_MODES", "INTERPOLATIONS"]

# Magnitude resolution: torchvision indexes a table of num_magnitude_bins values from 0 to the
# op's maximum; 101 bins give timm's continuous 0-10 scale in steps of 0.1.
_BINS = 101
_MAX_MAGNITUDE = 10.0
RE_MODES = ("pixel", "const")
INTERPOLATIONS = ("bilinear", "nearest")


@dataclass(frozen=True)
class RandAugmentSpec:
    """A parsed RandAugment policy: ``magnitude`` in [0, 10], ``num_ops``, ``magnitude_std``
    (0: fixed magnitude) and the per-op probability ``prob`` (timm's 0.5)."""

    magnitude: float
    num_ops: int = 2
    magnitude_std: float = 0.0
    prob: float = 0.5


def parse_rand_augment(spec: str) -> RandAugmentSpec:
    """Parse timm's policy string, e.g. ``"rand-m7-n4-mstd0.5-inc1"``.

    Keys after ``rand``: ``m`` magnitude (required, 0-10), ``n`` number of ops (default 2),
    ``mstd`` magnitude std (default 0), ``p`` per-op probability (default 0.5), ``inc`` (only 1).

    Raises:
        ValueError: not a ``rand-`` policy, a missing magnitude, an unknown key or bad value,
            or ``inc0`` (see the module docstring).
    """
    parts = spec.strip().split("-")
    if parts[0] != "rand":
        raise ConfigError(f"AUG.AA_TYPE must be a RandAugment policy 'rand-m<M>[-n<N>][-mstd<S>][-inc1]', got {spec!r}")
    values: dict[str, float] = {}
    for part in parts[1:]:
        m = re.fullmatch(r"(mstd|inc|m|n|p)(\d+(?:\.\d+)?)", part)
        if m is None:
            raise ConfigError(f"AUG.AA_TYPE {spec!r}: unknown or malformed part {part!r} (known: m, n, mstd, p, inc)")
        values[m.group(1)] = float(m.group(2))
    if "m" not in values:
        raise ConfigError(f"AUG.AA_TYPE {spec!r}: the magnitude 'm<M>' is required")
    if values.get("inc", 1.0) != 1.0:
        raise ConfigError(f"AUG.AA_TYPE {spec!r}: only the increasing ops (inc1) exist in torchvision's RandAugment")
    out = RandAugmentSpec(magnitude=values["m"], num_ops=int(values.get("n", 2)),
                          magnitude_std=values.get("mstd", 0.0), prob=values.get("p", 0.5))
    if not 0 <= out.magnitude <= _MAX_MAGNITUDE or out.num_ops < 1 or not 0 < out.prob <= 1:
        raise ConfigError(f"AUG.AA_TYPE {spec!r}: need 0 <= m <= 10, n >= 1 and 0 < p <= 1")
    return out


class ClipRandAugment:
    """RandAugment on a uint8 clip ``(T, C, H, W)`` with the same op and magnitude on every frame.

    Args:
        spec: the policy (:func:`parse_rand_augment`).
        interpolation: resampling of the geometric ops (``AUG.INTERPOLATION``: "bilinear" or
            "nearest"; torchvision's tensor affine kernels have no bicubic, which timm's PIL
            path used).
        fill: pixel value (0-255, per channel) for areas that rotate/shear/translate uncover;
            the dataset mean, as timm does.

    Uses the global torch RNG (seeded per DataLoader worker).

    Raises:
        ValueError: ``interpolation`` not "bilinear" or "nearest".
    """

    def __init__(self, spec: RandAugmentSpec, interpolation: str = "bilinear", fill: Sequence[int] | None = None):
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(f"AUG.INTERPOLATION must be one of {INTERPOLATIONS} (torchvision's tensor affine "
                             f"ops have no bicubic), got {interpolation!r}")
        self.spec = spec
        self._op = v2.RandAugment(num_ops=1, magnitude=0, num_magnitude_bins=_BINS,
                                  interpolation=v2.InterpolationMode(interpolation),
                                  fill=list(fill) if fill is not None else None)

    def _magnitude_index(self) -> int:
        m = float(self.spec.magnitude)
        if self.spec.magnitude_std > 0:
            m = m + self.spec.magnitude_std * float(torch.randn(()))
        m = min(max(m, 0.0), _MAX_MAGNITUDE)
        return int(round(m / _MAX_MAGNITUDE * (_BINS - 1)))

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        for _ in range(self.spec.num_ops):
            if float(torch.rand(())) >= self.spec.prob:
                continue
            self._op.magnitude = self._magnitude_index()
            video = self._op(video)
        return video

    def __repr__(self) -> str:
        s = self.spec
        return (f"ClipRandAugment(m={s.magnitude}, n={s.num_ops}, mstd={s.magnitude_std}, p={s.prob}, "
                f"interpolation={self._op.interpolation.value})")


def random_erasing(prob: float, mode: str = "pixel", count: int = 1) -> list[v2.RandomErasing]:
    """``count`` independent ``v2.RandomErasing`` ops for a normalised float clip ``(T, C, H, W)``.

    Args:
        prob: probability of each erasing (``AUG.RE_PROB``); 0 returns ``[]``.
        mode: ``AUG.RE_MODE``: "pixel" (per-pixel standard normal values, the same on every
            frame) or "const" (zeros, i.e. the dataset mean after normalisation).
        count: ``AUG.RE_COUNT`` boxes (each drawn with probability ``prob``).

    Raises:
        ValueError: ``prob`` outside [0, 1], unknown ``mode``, ``count < 1``.
    """
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"AUG.RE_PROB must be in [0, 1], got {prob}")
    if mode not in RE_MODES:
        raise ConfigError(f"AUG.RE_MODE must be one of {RE_MODES}, got {mode!r}")
    if count < 1:
        raise ConfigError(f"AUG.RE_COUNT must be >= 1, got {count}")
    if prob == 0:
        return []
    value = "random" if mode == "pixel" else 0.0
    return [v2.RandomErasing(p=prob, scale=(0.02, 1 / 3), ratio=(0.3, 3.3), value=value) for _ in range(count)]
