"""Box-aware clip transforms for action detection (torchvision v2 ops on ``tv_tensors.Video`` + ``BoundingBoxes``).

Hiera fixes its input size at build (``DETECTION.INPUT_SIZE = [H, W]``, pixels), while AVA's frames are mostly 16:9
and vary. The geometry policy:

* **test** (:func:`fit_clip`): the whole frame is resized to fit inside ``H x W`` keeping its aspect ratio, then padded
  at the right / bottom with the mean colour (0 after normalisation). Nothing is cropped, so a test box is never cut
  away, and boxes scale with the frame. A 16:9 frame at ``[224, 384]`` fills 224 x 384 minus 8 px of padding.
* **train** (:func:`jitter_clip`): the short side is resized to a random length in ``DATA.TRAIN_JITTER_SCALES``
  (pixels, PySlowFast's AVA scale jitter), a random ``H x W`` window is cut (padded first where the frame is smaller),
  the clip is flipped horizontally with probability 0.5 (``DATA.RANDOM_FLIP``); boxes follow, are clamped to the
  window and those left under ``MIN_BOX_SIDE`` pixels wide or high are dropped (``v2.SanitizeBoundingBoxes``). A
  window that keeps no box is redrawn (up to ``CROP_TRIES`` times), then the clip is fitted as at test.

Clips are uint8 ``(T, H, W, C)`` in and uint8 ``(C, T, H, W)`` out (normalised later, on the device); boxes are
``(K, 4)`` float ``x1y1x2y2`` in pixels of the clip they belong to.
"""

from __future__ import annotations

import random
from typing import Optional, Sequence, Tuple

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

__all__ = ["fit_clip", "jitter_clip", "MIN_BOX_SIDE", "CROP_TRIES", "pad_fill"]

#: boxes narrower or lower than this (pixels) after a crop are dropped in training.
MIN_BOX_SIDE = 2.0
#: random windows tried before falling back to the whole frame.
CROP_TRIES = 10


def pad_fill(mean: Sequence[float]) -> list:
    """The padding colour (uint8 per channel) that normalises to 0: ``round(255 * mean)``."""
    return [int(round(255 * float(m))) for m in mean]


def _wrap(clip: torch.Tensor, boxes: torch.Tensor) -> Tuple[tv_tensors.Video, tv_tensors.BoundingBoxes]:
    video = tv_tensors.Video(clip.permute(0, 3, 1, 2))  # (T, C, H, W)
    canvas = (int(clip.shape[1]), int(clip.shape[2]))
    return video, tv_tensors.BoundingBoxes(boxes.float().reshape(-1, 4), format="XYXY", canvas_size=canvas)


def _pad_to(video, boxes, height: int, width: int, fill):
    h, w = video.shape[-2:]
    pad = [0, 0, max(width - w, 0), max(height - h, 0)]  # left, top, right, bottom
    if pad[2] or pad[3]:
        video, boxes = F.pad(video, pad, fill=fill), F.pad(boxes, pad)
    return video, boxes


def _out(video) -> torch.Tensor:
    return video.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()  # (C, T, H, W)


def fit_clip(clip: torch.Tensor, boxes: torch.Tensor, size: Sequence[int],
             fill: Sequence[int] = (115, 115, 115)) -> Tuple[torch.Tensor, torch.Tensor, Tuple[float, float]]:
    """Resize ``clip`` to fit inside ``size = (H, W)`` keeping its aspect ratio, pad right / bottom with ``fill``.

    Args:
        clip: uint8 ``(T, h, w, C)``. boxes: ``(K, 4)`` x1y1x2y2 pixels of ``clip``.

    Returns:
        ``(clip (C, T, H, W) uint8, boxes (K, 4) pixels of the output, (sx, sy))``: output / input pixels along x
        and y (equal up to rounding of the resized size).
    """
    height, width = int(size[0]), int(size[1])
    h, w = int(clip.shape[1]), int(clip.shape[2])
    scale = min(height / h, width / w)
    new = [min(height, max(1, round(h * scale))), min(width, max(1, round(w * scale)))]
    video, bb = _wrap(clip, boxes)
    if new != [h, w]:
        video, bb = F.resize(video, new, antialias=True), F.resize(bb, new)
    video, bb = _pad_to(video, bb, height, width, list(fill))
    return _out(video), bb.as_subclass(torch.Tensor), (new[1] / w, new[0] / h)


def jitter_clip(clip: torch.Tensor, boxes: torch.Tensor, size: Sequence[int], scales: Sequence[int],
                flip: bool = True, fill: Sequence[int] = (115, 115, 115),
                rng: Optional[random.Random] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Training geometry: short-side scale jitter, random ``size`` window, horizontal flip (module docstring).

    Args:
        clip: uint8 ``(T, h, w, C)``. boxes: ``(K, 4)`` x1y1x2y2 pixels of ``clip`` (K >= 1).
        size: ``(H, W)`` output pixels. scales: ``[lo, hi]`` short-side lengths (pixels, inclusive).
        rng: a ``random.Random`` (default: the module's).

    Returns:
        ``(clip (C, T, H, W) uint8, boxes (K', 4) pixels of the output, kept (K',) long)``: ``kept`` indexes the
        input boxes that survived (their labels go with them); ``K' >= 1`` always (fallback: :func:`fit_clip`).
    """
    rng = rng or random
    height, width = int(size[0]), int(size[1])
    lo, hi = int(scales[0]), int(scales[-1])
    short = rng.randint(min(lo, hi), max(lo, hi))
    h, w = int(clip.shape[1]), int(clip.shape[2])
    ratio = short / min(h, w)
    new = [max(1, round(h * ratio)), max(1, round(w * ratio))]
    video, bb = _wrap(clip, boxes)
    video, bb = F.resize(video, new, antialias=True), F.resize(bb, new)
    video, bb = _pad_to(video, bb, height, width, list(fill))
    sanitize = v2.SanitizeBoundingBoxes(min_size=MIN_BOX_SIDE, labels_getter=lambda sample: sample["index"])
    index = torch.arange(len(boxes))
    H, W = video.shape[-2:]
    for _ in range(CROP_TRIES):
        top, left = rng.randint(0, H - height), rng.randint(0, W - width)
        cv, cb = F.crop(video, top, left, height, width), F.crop(bb, top, left, height, width)
        out = sanitize({"video": cv, "boxes": F.clamp_bounding_boxes(cb), "index": index})
        if len(out["index"]):
            cv, cb, kept = out["video"], out["boxes"], out["index"]
            break
    else:  # no window kept a box: the whole frame, as at test
        out_clip, out_boxes, _ = fit_clip(clip, boxes, size, fill)
        cv, cb = _wrap(out_clip.permute(1, 2, 3, 0), out_boxes)
        kept = index
    if flip and rng.random() < 0.5:
        cv, cb = F.horizontal_flip(cv), F.horizontal_flip(cb)
    return _out(cv), cb.as_subclass(torch.Tensor), kept
