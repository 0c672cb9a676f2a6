"""Temporal sampling: which source frames make a clip (pure functions).

Units: ``video_frames`` and all returned indices are *source* frames (the stream's
own frame rate ``video_fps``); ``num_frames`` is frames per clip; ``sampling_rate``
is the stride between sampled frames measured in frames at ``target_fps``.

A clip covers ``clip_span = num_frames * sampling_rate * video_fps / target_fps``
source frames. Its ``num_frames`` indices are spread evenly from its start to
``start + span - 1`` and truncated to integers, then clamped to
``[0, video_frames - 1]``: a video shorter than the span is padded by repeating
its last frame (and the clip starts at 0).

Source: PySlowFast ``slowfast/datasets/decoder.py`` — ``get_start_end_idx``
(random start ``uniform(0, delta)``; offset test sampling
``start = clip_idx * floor(delta / (num_clips - 1))``, ``floor(delta / 2)`` for one
clip; ``delta = max(video_frames - span, 0)``) and ``temporal_sampling``
(``linspace(start, end, num_frames)`` clamped, converted with ``.long()``, i.e.
truncated). The functions here are re-implementations; they return plain lists.
"""

from __future__ import annotations

import math
import random
from typing import Protocol

__all__ = [
    "clip_span",
    "random_clip_start",
    "test_clip_start",
    "clip_indices",
    "train_clip_indices",
    "test_clip_indices",
]


class _UniformRNG(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


def _check_common(video_frames: int, num_frames: int, sampling_rate: float, video_fps: float, target_fps: float):
    if video_frames < 1:
        raise ValueError(f"video_frames must be >= 1, got {video_frames}")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be > 0, got {sampling_rate}")
    if not (video_fps > 0 and target_fps > 0):
        raise ValueError(f"fps must be > 0, got video_fps={video_fps}, target_fps={target_fps}")


def clip_span(num_frames: int, sampling_rate: float, video_fps: float, target_fps: float) -> float:
    """Source frames covered by one clip: ``num_frames * sampling_rate * video_fps / target_fps``.

    E.g. 16 frames at stride 4 defined at 30 fps cover 64 frames of a 30 fps video,
    53.3 of a 25 fps video and 128 of a 60 fps video (PySlowFast's ``clip_size``).

    Raises:
        ValueError: non-positive ``num_frames``, ``sampling_rate`` or fps.
    """
    if num_frames < 1 or sampling_rate <= 0 or not (video_fps > 0 and target_fps > 0):
        raise ValueError(
            f"invalid clip parameters: num_frames={num_frames}, sampling_rate={sampling_rate}, "
            f"video_fps={video_fps}, target_fps={target_fps}"
        )
    return num_frames * sampling_rate * video_fps / target_fps


def random_clip_start(video_frames: int, span: float, rng: _UniformRNG | None = None) -> float:
    """Random clip start (source frames), uniform in ``[0, max(video_frames - span, 0)]``.

    Args:
        video_frames: decodable frames in the video.
        span: clip span in source frames (:func:`clip_span`).
        rng: anything with ``uniform(a, b)`` (``random.Random``); default the
            ``random`` module (seeded per DataLoader worker by PyTorch).
    """
    delta = max(video_frames - span, 0.0)
    return (rng or random).uniform(0.0, delta)


def test_clip_start(video_frames: int, span: float, clip_idx: int, num_clips: int) -> float:
    """Start (source frames) of the ``clip_idx``-th of ``num_clips`` test clips.

    PySlowFast's offset sampling: ``delta = max(video_frames - span, 0)``; one clip →
    ``floor(delta / 2)`` (centre); otherwise ``clip_idx * floor(delta / (num_clips - 1))``,
    so the first clip starts at frame 0 and the last ends near the end of the video.

    Raises:
        ValueError: ``num_clips < 1`` or ``clip_idx`` outside ``[0, num_clips)``.
    """
    if num_clips < 1 or not 0 <= clip_idx < num_clips:
        raise ValueError(f"clip_idx must be in [0, {num_clips}), got {clip_idx} (num_clips={num_clips})")
    delta = max(video_frames - span, 0.0)
    if num_clips == 1:
        return float(math.floor(delta / 2))
    return float(clip_idx * math.floor(delta / (num_clips - 1)))


def clip_indices(start: float, span: float, num_frames: int, video_frames: int) -> list[int]:
    """``num_frames`` source-frame indices evenly spread over ``[start, start + span - 1]``.

    Values are truncated to integers (PySlowFast ``temporal_sampling``) and clamped to
    ``[0, video_frames - 1]``; indices past the end repeat the last frame (padding).

    Returns:
        A list of ``num_frames`` non-decreasing ints.
    """
    end = start + span - 1.0
    if num_frames == 1:
        points = [start]
    else:
        step = (end - start) / (num_frames - 1)
        points = [start + k * step for k in range(num_frames)]
    last = video_frames - 1
    return [min(max(int(p), 0), last) for p in points]


def train_clip_indices(
    video_frames: int,
    num_frames: int,
    sampling_rate: float,
    video_fps: float,
    target_fps: float,
    rng: _UniformRNG | None = None,
) -> list[int]:
    """Indices of a random training clip (random temporal window; PySlowFast ``clip_idx=-1``).

    Args:
        video_frames: decodable frames in the video (the real count, not the header's).
        num_frames: frames per clip (``DATA.NUM_FRAMES``).
        sampling_rate: stride at ``target_fps`` (``DATA.SAMPLING_RATE``).
        video_fps: the stream's real frame rate.
        target_fps: ``DATA.TARGET_FPS``.
        rng: ``random.Random``-like; default the ``random`` module.

    Returns:
        ``num_frames`` indices in ``[0, video_frames - 1]``.

    Raises:
        ValueError: ``video_frames < 1`` or non-positive parameters.
    """
    _check_common(video_frames, num_frames, sampling_rate, video_fps, target_fps)
    span = clip_span(num_frames, sampling_rate, video_fps, target_fps)
    return clip_indices(random_clip_start(video_frames, span, rng), span, num_frames, video_frames)


def test_clip_indices(
    video_frames: int,
    clip_idx: int,
    num_clips: int,
    num_frames: int,
    sampling_rate: float,
    video_fps: float,
    target_fps: float,
) -> list[int]:
    """Indices of the ``clip_idx``-th deterministic test clip (PySlowFast offset sampling).

    See :func:`test_clip_start` for the start and :func:`clip_indices` for the spread,
    truncation and padding. ``num_clips == 1`` gives the centre clip (used for validation).

    Raises:
        ValueError: ``clip_idx`` outside ``[0, num_clips)``, ``video_frames < 1`` or
            non-positive parameters.
    """
    _check_common(video_frames, num_frames, sampling_rate, video_fps, target_fps)
    span = clip_span(num_frames, sampling_rate, video_fps, target_fps)
    start = test_clip_start(video_frames, span, clip_idx, num_clips)
    return clip_indices(start, span, num_frames, video_frames)


# Not pytest tests, even when imported into a test module's namespace.
test_clip_start.__test__ = False  # type: ignore[attr-defined]
test_clip_indices.__test__ = False  # type: ignore[attr-defined]
