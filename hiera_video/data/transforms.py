"""Clip transforms built from ``torchvision.transforms.v2``.

Decoders give uint8 frames ``(T, H, W, C)``; torchvision's video transforms take
``tv_tensors.Video`` ``(T, C, H, W)`` and draw ONE set of random parameters per call,
so every frame of a clip gets the same crop and flip. The model wants float
``(C, T, H, W)``.

- Train (:class:`TrainTransform`): random-resized crop (or short-side jitter + random crop),
  optional flip, RandAugment and random erasing (``AUG.*``, :mod:`hiera_video.data.augment`),
  ``ToDtype(float32, scale=True)`` (pixels to [0, 1]), ``Normalize(DATA.MEAN, DATA.STD)``.
- Test / val: short side resized to ``DATA.TEST_CROP_SIZE`` (antialiased bilinear), then
  1 centre crop or 3 square crops (left / centre / right of a landscape frame, top /
  centre / bottom of a portrait one), then the same scaling and normalisation
  (:func:`test_views` for one clip, :func:`multi_views` for all clips of a video at once).

Source: the test crops follow PySlowFast ``transform.uniform_crop`` (centre offset
``ceil((side - size) / 2)``); the train crop follows PySlowFast ``spatial_sampling``
with relative scale/aspect jitter (its ``random_resized_crop`` path, used by the
MAE-ST / Hiera fine-tuning configs).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from .augment import ClipRandAugment, parse_rand_augment, random_erasing

__all__ = ["train_transform", "TrainTransform", "resize_short_side", "spatial_crops", "normalize_clip", "test_views",
           "multi_views", "normalize_views"]


def _as_video(frames: torch.Tensor) -> tv_tensors.Video:
    """uint8 ``(T, H, W, C)`` → ``tv_tensors.Video`` ``(T, C, H, W)``."""
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise ValueError(f"expected frames (T, H, W, C), got shape {tuple(frames.shape)}")
    return tv_tensors.Video(frames.permute(0, 3, 1, 2))


class TrainTransform:
    """Callable: uint8 ``(T, H, W, C)`` → float32 ``(C, T, crop, crop)``, normalised.

    Wraps a ``v2.Compose`` (attribute ``transform``) of, in order:

    1. the spatial crop: ``v2.RandomResizedCrop(crop_size, scale, ratio)`` when ``scale`` is
       given, else short-side jitter ``v2.RandomShortestSize(jitter_scales[0]..jitter_scales[1])``
       + ``v2.RandomCrop(crop_size)`` (PySlowFast ``spatial_sampling``'s two paths);
    2. ``v2.RandomHorizontalFlip`` when ``flip``;
    3. ``rand_augment`` (a :class:`~hiera_video.data.augment.ClipRandAugment`) on the uint8 crop;
    4. ``ToDtype(float32, scale=True)`` (pixels to [0, 1]) and ``Normalize(mean, std)``;
    5. the ``erasing`` ops (:func:`~hiera_video.data.augment.random_erasing`) on the normalised clip.

    All random parameters are drawn once per call: every frame gets the same crop, flip,
    RandAugment ops and erased boxes. RandAugment runs on the crop, not the full frame as in
    PySlowFast (the same op space at a fraction of the pixels; translations are relative to
    the crop).
    """

    def __init__(
        self,
        crop_size: int,
        scale: Sequence[float] | None = (0.08, 1.0),
        ratio: Sequence[float] = (0.75, 4 / 3),
        flip: bool = True,
        mean: Sequence[float] = (0.45, 0.45, 0.45),
        std: Sequence[float] = (0.225, 0.225, 0.225),
        jitter_scales: Sequence[int] = (256, 320),
        rand_augment=None,
        erasing: Sequence = (),
    ):
        if scale:
            ops = [v2.RandomResizedCrop(crop_size, scale=tuple(scale), ratio=tuple(ratio), antialias=True)]
        else:
            lo, hi = int(jitter_scales[0]), int(jitter_scales[1])
            if not crop_size <= lo <= hi:
                raise ValueError(f"DATA.TRAIN_JITTER_SCALES must satisfy TRAIN_CROP_SIZE <= min <= max, "
                                 f"got {list(jitter_scales)} with crop {crop_size}")
            ops = [v2.RandomShortestSize(list(range(lo, hi + 1)), antialias=True), v2.RandomCrop(crop_size)]
        if flip:
            ops.append(v2.RandomHorizontalFlip())
        if rand_augment is not None:
            ops.append(rand_augment)
        ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
        ops += list(erasing)
        self.transform = v2.Compose(ops)

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        out = self.transform(_as_video(frames))  # (T, C, H, W)
        return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()

    def __repr__(self) -> str:
        return f"TrainTransform({self.transform})"


def train_transform(cfg, flip: bool | None = None) -> TrainTransform:
    """Training transform from the config; ``flip`` overrides ``DATA.RANDOM_FLIP``.

    Keys read: DATA.{TRAIN_CROP_SIZE, TRAIN_JITTER_SCALES_RELATIVE (empty: short-side jitter),
    TRAIN_JITTER_ASPECT_RELATIVE, TRAIN_JITTER_SCALES, RANDOM_FLIP, MEAN, STD};
    AUG.{ENABLE, AA_TYPE (empty: no RandAugment), INTERPOLATION, RE_PROB, RE_MODE, RE_COUNT}
    (RandAugment and erasing only when AUG.ENABLE).

    Returns:
        :class:`TrainTransform`: uint8 ``(T, H, W, C)`` → float ``(C, T, TRAIN_CROP_SIZE, TRAIN_CROP_SIZE)``.

    Raises:
        ValueError: a malformed AUG.AA_TYPE, AUG.RE_* or DATA.TRAIN_JITTER_SCALES value.
    """
    d, a = cfg.DATA, cfg.AUG
    rand_augment, erasing = None, []
    if a.ENABLE:
        if a.AA_TYPE:
            fill = [int(round(255 * m)) for m in d.MEAN]
            rand_augment = ClipRandAugment(parse_rand_augment(a.AA_TYPE), interpolation=a.INTERPOLATION, fill=fill)
        erasing = random_erasing(a.RE_PROB, a.RE_MODE, a.RE_COUNT)
    return TrainTransform(
        d.TRAIN_CROP_SIZE,
        scale=d.TRAIN_JITTER_SCALES_RELATIVE or None,
        ratio=d.TRAIN_JITTER_ASPECT_RELATIVE or (0.75, 4 / 3),
        flip=d.RANDOM_FLIP if flip is None else flip,
        mean=d.MEAN,
        std=d.STD,
        jitter_scales=d.TRAIN_JITTER_SCALES,
        rand_augment=rand_augment,
        erasing=erasing,
    )


def resize_short_side(frames: torch.Tensor, size: int) -> tv_tensors.Video:
    """uint8 ``(T, H, W, C)`` → ``tv_tensors.Video`` ``(T, C, H', W')`` with ``min(H', W') == size``.

    The long side becomes ``int(size * long / short)`` (``v2.functional.resize`` with one
    int; antialiased bilinear).
    """
    return F.resize(_as_video(frames), [size], antialias=True)


def spatial_crops(video: torch.Tensor, size: int, num_crops: int) -> list[torch.Tensor]:
    """Square crops of side ``size`` from ``(T, C, H, W)`` (``H, W >= size``).

    ``num_crops == 1``: the centre crop. ``num_crops == 3``: left, centre, right when
    ``W >= H`` (top, centre, bottom when ``H > W``), in that order (spatial index 0, 1, 2).

    Raises:
        ValueError: ``num_crops`` not 1 or 3, or the frame smaller than ``size``.
    """
    if num_crops not in (1, 3):
        raise ValueError(f"NUM_SPATIAL_CROPS must be 1 or 3, got {num_crops}")
    h, w = video.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"cannot cut {size}x{size} crops from {h}x{w} frames")
    top, left = int(math.ceil((h - size) / 2)), int(math.ceil((w - size) / 2))
    if num_crops == 1:
        offsets = [(top, left)]
    elif h > w:
        offsets = [(0, left), (top, left), (h - size, left)]
    else:
        offsets = [(top, 0), (top, left), (top, w - size)]
    return [F.crop(video, t, l, size, size) for t, l in offsets]


def normalize_clip(video: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(T, C, H, W)`` → float32 ``(C, T, H, W)`` scaled to [0, 1] and normalised."""
    out = F.normalize(F.to_dtype(video, torch.float32, scale=True), mean=list(mean), std=list(std))
    return out.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()


def test_views(
    frames: torch.Tensor,
    crop_size: int,
    num_spatial_crops: int,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> torch.Tensor:
    """All spatial views of one temporal clip, as uint8 (the form test items travel in; 4x smaller than float32).

    Args:
        frames: uint8 ``(T, H, W, C)``.
        crop_size: ``DATA.TEST_CROP_SIZE`` (pixels): short side resize and crop side.
        num_spatial_crops: ``TEST.NUM_SPATIAL_CROPS``, 1 or 3.
        mean, std: when given, the views come back normalised (:func:`normalize_views`).

    Returns:
        uint8 ``(S, C, T, crop_size, crop_size)`` (float32 with ``mean`` / ``std``), ``S = num_spatial_crops``, in
        spatial-index order (see :func:`spatial_crops`).

    Raises:
        ValueError: bad ``frames`` shape or ``num_spatial_crops``.
    """
    views = multi_views(frames, [range(len(frames))], crop_size, num_spatial_crops)
    return views if mean is None else normalize_views(views, mean, std)


def multi_views(frames: torch.Tensor, positions: Sequence[Sequence[int]], crop_size: int,
                num_spatial_crops: int) -> torch.Tensor:
    """Every view of a multi-view test from the frames decoded once: equal, element for element, to stacking
    :func:`test_views` of each temporal clip ``frames[positions[t]]``, at less cost: each distinct frame is resized
    once (clips of a short video share frames) and every crop is written straight into the one output tensor.

    Args:
        frames: uint8 ``(U, H, W, C)``, the frames the clips use (:attr:`DecodedClips.frames`).
        positions: per temporal clip, the ``T`` rows of ``frames`` it is made of (:attr:`DecodedClips.positions`).
        crop_size: ``DATA.TEST_CROP_SIZE`` (pixels); num_spatial_crops: ``TEST.NUM_SPATIAL_CROPS``, 1 or 3.

    Returns:
        uint8 ``(N * S, C, T, crop_size, crop_size)``, ``N = len(positions)`` temporal clips, ``S`` spatial crops,
        temporal-major (view ``t * S + s``), as the test items carry them.

    Raises:
        ValueError: bad ``frames`` shape, clips of different lengths, or a bad ``num_spatial_crops``.
    """
    lengths = {len(p) for p in positions}
    if len(lengths) != 1:
        raise ValueError(f"temporal clips must have one length, got {sorted(lengths)}")
    # resized (U, C, h, w) -> planar (C, U, h, w) once: the per-frame copies below then read whole rows
    planar = resize_short_side(frames, crop_size).as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()
    crops = spatial_crops(planar, crop_size, num_spatial_crops)  # views (C, U, crop, crop)
    out = torch.empty((len(positions), len(crops), frames.shape[-1], lengths.pop(), crop_size, crop_size),
                      dtype=frames.dtype)
    for t, rows in enumerate(positions):
        for s, crop in enumerate(crops):
            for k, row in enumerate(rows):
                out[t, s, :, k].copy_(crop[:, row])
    return out.flatten(0, 1)


def normalize_views(views: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 views ``(..., C, T, H, W)`` -> float32 scaled to [0, 1] and normalised per channel (``DATA.MEAN`` /
    ``DATA.STD``), on ``views``' device: the multi-view evaluation calls it after moving a batch of views to the
    device. Equal, element for element, to :func:`normalize_clip` of the same pixels.

    Raises:
        ValueError: ``views`` is not uint8, or a ``std`` entry is 0.
    """
    if views.dtype != torch.uint8:
        raise ValueError(f"normalize_views expects uint8 views, got {views.dtype}")
    if not all(float(s) != 0.0 for s in std):
        raise ValueError(f"DATA.STD {list(std)} has a zero entry: cannot normalise")
    x = F.to_dtype(views, torch.float32, scale=True)
    m = torch.as_tensor(list(mean), dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    s = torch.as_tensor(list(std), dtype=x.dtype, device=x.device).view(-1, 1, 1, 1)
    return x.sub_(m).div_(s)


test_views.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
