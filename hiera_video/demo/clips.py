"""What happens in a video, and when: a multi-view ensemble for the whole video and sliding-window predictions.

* **Whole video**: the test's views (``num_temporal_clips`` clips spread over the video as PySlowFast's test
  places them, x ``num_spatial_crops`` square crops), all decoded in one pass, softmax averaged over the views
  (as the multi-view test ensembles them, :func:`hiera_video.evaluation.multiview.ensemble_probs`).
* **Windows**: one clip every ``window_stride`` seconds, window ``k`` covering
  ``[k * stride, k * stride + clip_seconds)`` seconds (``clip_seconds = num_frames * sampling_rate / fps``), the
  last window ending at or before the end of the video (a video shorter than one clip: one window from 0, its
  last frame repeated); each window is one centre crop. Windows are decoded a batch at a time (frames shared by
  overlapping windows decoded once per batch), so memory does not grow with the video's length.

Frame indices follow :mod:`hiera_video.data.sampling` (``clip_indices``: frames evenly spread over the window at
the video's real fps), so a 25 fps or 60 fps video is sampled at the model's rate in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import List, Tuple

import torch

from hiera_video.data.decoding import decode_clips
from hiera_video.data.sampling import clip_indices, clip_span, test_clip_indices
from hiera_video.data.transforms import normalize_views, test_views

from .predictor import ClipPredictor

__all__ = ["VideoPrediction", "predict_video", "window_starts"]


@dataclass
class VideoPrediction:
    """Predictions for one video.

    ``probs``: ``(K,)`` whole-video ensemble over ``num_views`` views; ``window_start_s`` / ``window_end_s``:
    ``(W,)`` seconds; ``window_probs``: ``(W, K)``; ``fps`` and ``num_frames`` of the stream (real, decodable).
    """

    path: str
    fps: float
    num_frames: int
    num_views: int
    probs: torch.Tensor
    window_start_s: torch.Tensor
    window_end_s: torch.Tensor
    window_probs: torch.Tensor
    partial: str | None = None
    class_names: List[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.num_frames / self.fps if self.fps > 0 else 0.0

    def topk(self, k: int = 5) -> List[Tuple[str, float]]:
        """The ``k`` most probable classes of the whole video, ``[(name, probability), ...]`` descending."""
        p, i = self.probs.topk(min(k, self.probs.numel()))
        return [(self.class_names[j], float(q)) for q, j in zip(p.tolist(), i.tolist())]

    def window_at(self, seconds: float) -> int:
        """Index of the window whose centre is nearest to ``seconds``."""
        centres = (self.window_start_s + self.window_end_s) / 2
        return int((centres - seconds).abs().argmin())


def window_starts(num_frames: int, fps: float, span: float, stride_s: float) -> List[float]:
    """Start frames of the sliding windows (see the module docstring); ``span`` in source frames.

    Raises:
        ValueError: ``stride_s <= 0``.
    """
    if not stride_s > 0:
        raise ValueError(f"window stride must be > 0 seconds, got {stride_s}")
    step = stride_s * fps
    count = int(math.floor(max(num_frames - span, 0.0) / step + 1e-9)) + 1
    return [k * step for k in range(count)]


def _views_of(predictor: ClipPredictor, clips: List[torch.Tensor], num_crops: int) -> torch.Tensor:
    views = torch.stack([test_views(c, predictor.crop_size, num_crops) for c in clips]).flatten(0, 1)
    return normalize_views(views, predictor.mean, predictor.std)  # (N, C, T, S, S) float32


def predict_video(predictor: ClipPredictor, path: str, window_stride: float = 1.0, batch_size: int = 8,
                  backend: str = "pyav") -> VideoPrediction:
    """Whole-video top classes and per-window probabilities of ``path`` (see the module docstring).

    Args:
        window_stride: seconds between window starts.
        batch_size: windows (or views) per forward pass.
        backend: ``DATA.DECODING_BACKEND`` (``pyav``, ``decord`` or ``torchcodec``).

    Raises:
        VideoDecodeError: the video cannot be decoded (the caller reports and skips it).
    """
    p = predictor
    n_t, n_s = p.num_temporal_clips, p.num_spatial_crops

    def view_indices(n, fps):
        return [test_clip_indices(n, i, n_t, p.num_frames, p.sampling_rate, fps, p.fps) for i in range(n_t)]

    decoded = decode_clips(path, view_indices, backend)
    n, fps = decoded.num_frames, decoded.fps
    views = _views_of(p, decoded.clips, n_s)
    del decoded.clips[:]
    per_view = torch.cat([p.probabilities(views[i:i + batch_size]) for i in range(0, len(views), batch_size)])
    probs = per_view.mean(dim=0)  # mean softmax over the views

    span = clip_span(p.num_frames, p.sampling_rate, fps, p.fps)
    starts = window_starts(n, fps, span, window_stride)
    window_probs = []
    for b in range(0, len(starts), batch_size):
        chunk = starts[b:b + batch_size]
        windows = decode_clips(path, lambda n_, fps_: [clip_indices(s, span, p.num_frames, n_) for s in chunk],
                               backend)
        window_probs.append(p.probabilities(_views_of(p, windows.clips, 1)))
    start_s = torch.tensor(starts, dtype=torch.float64) / fps
    return VideoPrediction(path=path, fps=float(fps), num_frames=int(n), num_views=len(views), probs=probs,
                           window_start_s=start_s, window_end_s=start_s + span / fps,
                           window_probs=torch.cat(window_probs), partial=decoded.partial,
                           class_names=list(p.class_names))
