"""torchcodec backend of :func:`hiera_video.data.decoding.open_video` (``backend="torchcodec"``).

torchcodec (https://github.com/meta-pytorch/torchcodec) decodes with the FFmpeg shared
libraries installed on the system (major versions 4-8; Debian/Ubuntu: ``apt-get install
ffmpeg``) and returns torch tensors. It is optional and imported on first use (about 3 s:
it imports ``torch._dynamo``); the versions from 0.12 on are built for torch >= 2.11
(torchcodec's compatibility table). When it or the FFmpeg libraries cannot be loaded,
:func:`load_torchcodec` raises :class:`~hiera_video.data.decoding.BackendUnavailableError`
naming what to install, for every video: a setup error is not silently replaced by PyAV.

Indexing is exact: ``VideoDecoder(seek_mode="exact")`` scans the packets on open (no
decoding) and numbers frames in presentation order, so frame ``i`` is the ``i``-th frame
the decoder outputs, as with PyAV and decord, variable frame rate included. ``fps`` is the
header's rate when it agrees with the scanned average (within 0.5%), else the scanned
average (frames / duration: variable frame rate, AVIs with dropped-frame slots).

Handled torchcodec 0.17 behaviour, found on this project's test videos:

- AVI with B-frames (packed MPEG-4 part 2 B-frames as in opencv-doc's Megamind.avi, or
  H.264 in AVI): frames carry packet times (AVI has no pts), so seeks return neighbouring
  frames. Such files are read sequentially from frame 0 on a fresh decoder
  (``sequential``), which is exact, except that torchcodec never outputs the decoder's
  last reordered frames: 1 of Megamind.avi's 270, 2 of an x264 AVI (FFmpeg decodes them).
- The packet count over-claims when the last packets do not decode (a file cut mid-frame,
  or the case above): torchcodec then raises. The reader finds the last frame that
  decodes, lowers ``decoded_num_frames`` to it (warning) and clamps to it, as PyAV does at
  a truncated end.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import torch

from .base import (BackendUnavailableError, VideoDecodeError, VideoReader, check_indices, local_path,
                   seek_unsafe)

logger = logging.getLogger(__name__)

__all__ = ["TorchCodecReader", "load_torchcodec", "INSTALL_HINT"]

INSTALL_HINT = ("install FFmpeg's shared libraries (Debian/Ubuntu: apt-get install ffmpeg) and "
                "torchcodec for this torch (pip install 'torchcodec>=0.12,<0.18')")
_state: dict = {}  # "decoder": torchcodec's VideoDecoder class, or "error": why it cannot be loaded


def load_torchcodec(path: str):
    """torchcodec's ``VideoDecoder`` class, imported once per process.

    Raises:
        BackendUnavailableError: ``path: torchcodec cannot be loaded (reason); install ...``
            when torchcodec is missing, finds no FFmpeg shared libraries, or does not match
            this torch (the failure is remembered; later calls raise at once).
    """
    if "decoder" not in _state and "error" not in _state:
        try:
            from torchcodec.decoders import VideoDecoder

            _state["decoder"] = VideoDecoder
        except Exception as e:  # ImportError; RuntimeError/OSError from loading libtorchcodec + FFmpeg
            _state["error"] = short_error(e, 200)
    if "error" in _state:
        raise BackendUnavailableError(path, f"torchcodec cannot be loaded ({_state['error']}); {INSTALL_HINT}")
    return _state["decoder"]


def short_error(e: Exception, limit: int = 300) -> str:
    """``Type: message`` on one line, without torchcodec's C++ source location prefix."""
    text = re.sub(r"^.*?\.cpp:\d+, ", "", " ".join(str(e).split()))
    return f"{type(e).__name__}: {text[:limit]}"


class TorchCodecReader(VideoReader):
    """torchcodec backend (see the module docstring): ``num_frames`` is the header's count
    (the scanned one when the header has none), ``decoded_num_frames`` the scanned count,
    lowered when the last frames turn out not to decode. Frames are uint8 ``(N, H, W, C)``
    RGB (torchcodec's ``dimension_order="NHWC"``, the same memory as its ``(N, C, H, W)``
    permuted). ``num_threads``: FFmpeg decoder threads (0: FFmpeg's choice)."""

    def __init__(self, path: str, num_threads: int = 0):
        self.path = path
        self._local = local_path(path)
        self.sequential = seek_unsafe(path, self._local, codecs=())  # raises for a still image
        self._decoder_cls = load_torchcodec(path)
        self._threads = num_threads
        self._dec = self._open()
        meta = self._dec.metadata
        n = int(meta.num_frames or 0)  # exact mode: counted by the packet scan
        if n <= 0:
            raise VideoDecodeError(path, "no decodable video frames")
        header, scanned = meta.average_fps_from_header, meta.average_fps
        if header and scanned and abs(header - scanned) <= 0.005 * header:
            self.fps = float(header)  # the nominal rate, as PyAV and decord report it
        else:
            self.fps = float(scanned or header or 0)
        if not self.fps > 0:
            raise VideoDecodeError(path, "unknown frame rate")
        self.num_frames = int(meta.num_frames_from_header or n)
        self.decoded_num_frames = n
        self._end_checked = False  # whether frame decoded_num_frames - 1 is known to decode

    def _open(self):
        try:
            return self._decoder_cls(self._local, seek_mode="exact", device="cpu", dimension_order="NHWC",
                                     num_ffmpeg_threads=self._threads)
        except ValueError as e:  # "The best video stream is unknown ..."
            reason = "no video stream" if "video stream" in str(e) else f"cannot open: {short_error(e)}"
            raise VideoDecodeError(self.path, reason) from e
        except Exception as e:  # RuntimeError from FFmpeg: not a video, unreadable header
            raise VideoDecodeError(self.path, f"cannot open: {short_error(e)}") from e

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 ``(N, H, W, C)`` RGB frames for ``indices``, clamped to the last decodable frame.
        Raises ``VideoDecodeError`` (decoding fails) or ``ValueError`` (no or negative index)."""
        idx = check_indices(indices)
        for attempt in range(2):
            clamped = [min(i, self.decoded_num_frames - 1) for i in idx]
            if self.sequential:
                return self._read_sequential(clamped)
            try:
                frames = self._dec.get_frames_at(clamped).data
            except Exception as e:  # RuntimeError from FFmpeg
                if attempt == 0 and self._find_end():
                    continue  # the claimed end did not decode: clamp to the real one and retry
                raise VideoDecodeError(self.path, f"decoding failed: {short_error(e)}") from e
            if max(clamped) == self.decoded_num_frames - 1:
                self._end_checked = True
            return frames.contiguous()

    def _read_sequential(self, idx: list[int]) -> torch.Tensor:
        """``idx`` frames by decoding forward from frame 0 on a fresh decoder, one frame a call
        (never a seek); a decoder error after some frames ends the stream there."""
        dec, wanted, got, last = self._open(), set(idx), {}, None
        for k in range(max(idx) + 1):
            try:
                frame = dec.get_frame_at(k).data
            except Exception as e:
                if k == 0:
                    raise VideoDecodeError(self.path, f"decoding failed: {short_error(e)}") from e
                self._set_end(k)
                break
            last = frame
            if k in wanted:
                got[k] = frame
        else:
            if max(idx) == self.decoded_num_frames - 1:
                self._end_checked = True
        return torch.stack([got.get(i, last) for i in idx]).contiguous()  # past an early end: the last frame

    def _decodes(self, dec, k: int) -> bool:
        try:
            dec.get_frame_at(k)
            return True
        except Exception:
            return False

    def _find_end(self) -> bool:
        """After a decoding error: probe back from the claimed end (frames n-1, n-2, n-4, ...)
        to one that decodes, then forward frame by frame (no seek) to the first that does not.
        Lowers ``decoded_num_frames`` to it; returns False when nothing decodes or the end does."""
        n, dec, k, step, good = self.decoded_num_frames, self._open(), self.decoded_num_frames - 1, 1, None
        while good is None:
            if self._decodes(dec, k):
                good = k
            elif k == 0:
                break
            k, step = max(0, k - step), step * 2
        if good is None or good == n - 1:
            return False
        end = good + 1
        while end < n and self._decodes(dec, end):
            end += 1
        if end == n:
            return False
        self._dec = self._open()  # a decoder that has not failed
        self._set_end(end)
        return True

    def _set_end(self, real: int) -> None:
        if real < self.decoded_num_frames:
            logger.warning("%s: %d frames indexed, %d decode", self.path, self.decoded_num_frames, real)
            self.decoded_num_frames = real
        self._end_checked = True

    def count_frames(self) -> int:
        """The real count: the scanned one once its last frame is known to decode (decodes it,
        or with ``sequential`` the whole stream, once)."""
        if not self._end_checked:
            self.get_frames([self.decoded_num_frames - 1])
        return self.decoded_num_frames

    def close(self) -> None:
        self._dec = None
