"""Something-Something-v2: segment-based sampling dataset and the official-JSON list writer.

``SSv2(cfg, split)`` is :class:`~hiera_video.data.kinetics.Kinetics` (same list files
``{DATA.PATH_TO_DATA_DIR}/{train,val,TEST.SPLIT}.csv``, same item dicts, same bad-video
policy: retries for train/val, ``views=None`` + ``error`` at test) with two changes:

- Temporal sampling is segment based (TSN style), see :func:`segment_indices`: the whole
  video is cut into ``DATA.NUM_FRAMES`` equal segments and one frame is taken per segment.
  Train takes a random frame in each segment; val takes the segment centres; test view
  ``i`` of ``n = TEST.NUM_ENSEMBLE_VIEWS`` takes offset ``(i + 0.5) / n`` inside every
  segment, so the temporal test views really differ (PySlowFast's SSv2 test views are
  all the same clip). ``DATA.SAMPLING_RATE`` and ``DATA.TARGET_FPS`` are not used.
- No horizontal flip, whatever ``DATA.RANDOM_FLIP`` says: SSv2 has left/right classes
  ("Pushing something from left to right") that a flip would turn into each other.

List preparation from the official JSON files lives in :mod:`hiera_video.data.ssv2_prep`.

Source: annotation format and "strip the brackets from the template" from PySlowFast
``slowfast/datasets/ssv2.py``; segment sampling as in TSN / PySlowFast SSv2 (re-implemented;
the offsets for several test views are ours).
"""

from __future__ import annotations

import logging
import random

from .kinetics import Kinetics

logger = logging.getLogger(__name__)

__all__ = ["SSv2", "segment_indices"]

SEGMENT_MODES = ("train", "test")


def segment_indices(
    num_video_frames: int,
    num_segments: int,
    mode: str,
    offset: float | None = None,
    rng: random.Random | None = None,
) -> list[int]:
    """One frame index per equal temporal segment of the whole video.

    Segment ``s`` covers source frames ``[b_s, b_{s+1} - 1]`` with
    ``b_s = floor(s * num_video_frames / num_segments)``.

    Args:
        num_video_frames: frames in the video (``n >= 1``).
        num_segments: frames wanted (``DATA.NUM_FRAMES``).
        mode: ``"train"``: a uniformly random frame per segment (``rng``: ``random.Random``-like
            with ``random()``; default the ``random`` module); ``"test"``: the frame at
            relative ``offset`` in ``[0, 1)`` inside every segment (default 0.5, the centre;
            test view ``i`` of ``V`` uses ``(i + 0.5) / V``).
        offset: see ``mode``; only for ``"test"``.
        rng: see ``mode``; only for ``"train"``.

    Returns:
        ``num_segments`` ints in ``[0, n - 1]``, strictly increasing when
        ``n >= num_segments``; a shorter video repeats frames (non-decreasing).

    Raises:
        ValueError: ``n < 1``, ``num_segments < 1``, unknown mode, offset outside ``[0, 1)``.
    """
    n, k = int(num_video_frames), int(num_segments)
    if n < 1:
        raise ValueError(f"num_video_frames must be >= 1, got {num_video_frames}")
    if k < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    if mode not in SEGMENT_MODES:
        raise ValueError(f"mode must be one of {SEGMENT_MODES}, got {mode!r}")
    if mode == "test":
        offset = 0.5 if offset is None else float(offset)
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"offset must be in [0, 1), got {offset}")
    out = []
    for s in range(k):
        rel = (rng or random).random() if mode == "train" else offset
        if n >= k:
            lo, hi = (s * n) // k, ((s + 1) * n) // k  # integer bounds, hi - lo >= 1
            out.append(lo + min(int(rel * (hi - lo)), hi - lo - 1))
        else:  # fewer frames than segments: positions (s + rel) * n / k repeat frames
            out.append(min(int((s + rel) * n / k), n - 1))
    return out


class SSv2(Kinetics):
    """Something-Something-v2 video dataset; items as :class:`~hiera_video.data.kinetics.Kinetics`.

    Differences (see the module docstring): segment-based temporal sampling over the whole
    video (:func:`segment_indices`; test view ``i`` uses offset ``(i + 0.5) / TEST.NUM_ENSEMBLE_VIEWS``)
    and **horizontal flip always off** — ``DATA.RANDOM_FLIP`` is ignored because SSv2 has
    left/right classes.

    Config keys read: those of ``Kinetics`` (DATA.SAMPLING_RATE / TARGET_FPS are read but
    unused); sampling uses DATA.NUM_FRAMES and TEST.NUM_ENSEMBLE_VIEWS.
    """

    horizontal_flip = False  # left/right classes: DATA.RANDOM_FLIP is ignored

    def _clip_frame_indices(self, n: int, fps: float, clip_idx: int, num_clips: int) -> list[int]:
        """Segment sampling: a random frame per segment (``clip_idx == -1``), else the frame at
        offset ``(clip_idx + 0.5) / num_clips`` inside each segment (val: the centres)."""
        if clip_idx < 0:
            return segment_indices(n, self.num_frames, "train")
        return segment_indices(n, self.num_frames, "test", (clip_idx + 0.5) / num_clips)
