"""decord backend (``DATA.DECODING_BACKEND decord``).

decord 0.6 returns wrong frames after any seek in B-frame streams in AVI or of the MPEG-4 part 2 family; such
files are read sequentially from frame 0 (``base.seek_unsafe``), which is exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .base import VideoDecodeError, VideoReader, check_indices, local_path, seek_unsafe, short_error

_DECORD_CHUNK = 16


class DecordReader(VideoReader):
    """decord backend. ``len`` comes from the packet index decord builds on open (the real
    count for truncated AVI/MKV files; dmlc/decord#373: a file whose index over-counts
    makes ``get_batch`` hang, which cannot be caught)."""

    def __init__(self, path: str, num_threads: int = 0):
        self.path = path
        self._local = local_path(path)
        self._threads = num_threads
        self.sequential = seek_unsafe(path, self._local)  # raises for a still image
        try:
            import decord
        except ImportError as e:
            raise VideoDecodeError(path, "decord is not installed (pip install decord)") from e
        self._decord = decord
        self._vr = self._open()
        try:
            n = len(self._vr)
            self.fps = float(self._vr.get_avg_fps())
        except Exception as e:
            raise VideoDecodeError(path, f"cannot open: {short_error(e)}") from e
        if n <= 0:
            raise VideoDecodeError(path, "no decodable video frames")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise VideoDecodeError(path, "unknown frame rate")
        self.num_frames = self.decoded_num_frames = n

    def _open(self):
        try:
            return self._decord.VideoReader(self._local, ctx=self._decord.cpu(0), num_threads=self._threads)
        except Exception as e:  # decord.DECORDError, RuntimeError
            raise VideoDecodeError(self.path, f"cannot open: {short_error(e)}") from e

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        idx = [min(i, self.decoded_num_frames - 1) for i in check_indices(indices)]
        try:
            if not self.sequential:
                batch = self._vr.get_batch(idx).asnumpy()
            else:
                self._vr, wanted, got = self._open(), set(idx), {}  # a fresh reader is at frame 0
                for start in range(0, max(idx) + 1, _DECORD_CHUNK):
                    chunk = list(range(start, min(start + _DECORD_CHUNK, max(idx) + 1)))
                    frames = self._vr.get_batch(chunk).asnumpy()  # (skip_frames seeks: inexact)
                    got.update({i: frames[k] for k, i in enumerate(chunk) if i in wanted})
                batch = np.stack([got[i] for i in idx])
        except VideoDecodeError:
            raise
        except Exception as e:
            raise VideoDecodeError(self.path, f"decoding failed: {short_error(e)}") from e
        return torch.from_numpy(np.ascontiguousarray(batch))

    def count_frames(self) -> int:
        return self.decoded_num_frames

    def close(self) -> None:
        self._vr = None
