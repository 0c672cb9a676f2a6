"""Video decoding through PyAV, decord or torchcodec behind one small interface.

``open_video(path, backend)`` returns a :class:`VideoReader` with ``fps`` (the stream's
real frame rate, frames/s), ``num_frames`` (the header's count or an estimate from the
duration, 0 if unknown — headers lie: a truncated AVI still claims all its frames),
``decoded_num_frames`` (the real count once known, else ``None``: PyAV learns it when a
pass reaches the end of the stream, decord and torchcodec from the packet index they
build on open), ``get_frames(indices)`` → uint8 ``(N, H, W, C)`` RGB (any order, repeats
allowed; indices past the real end are clamped to the last decodable frame) and
``count_frames()`` (decodes to the end if needed).

Frame ``i`` is the ``i``-th frame the decoder outputs (presentation order), for every
backend and also for variable-frame-rate streams, whose ``fps`` is then an average.

``decode_clips(path, indices_fn, backend)`` is what datasets call: it asks
``indices_fn(num_frames, fps)`` for the index lists of one or more clips, decodes the
union of their frames in ONE pass, and samples again with the real count when the
header's was wrong (so test time decodes each video once for all its views).

PyAV indexing is exact, never keyframe-only: frames are decoded forward either from
the start (index = count) or from a seek to the keyframe at or before the first wanted
frame (index = ``round((pts - pts_of_frame_0) * time_base * fps)``). Seeking is only
used while pts match that formula: it is off from the start when the first packets' pts
are not evenly spaced at ``1/fps`` (variable frame rate), and the seek path checks itself
(pts missing or not increasing as in AVIs with packed B-frames, landing after the wanted
frame, consecutive frames not one index apart) and falls back to decoding from the start.
``pts_of_frame_0`` comes from MP4/Matroska containers where their first packets settle it
(else frame 0 is decoded on open); their seek passes then also skip unwanted H.264
non-reference frames and stop sending packets past the last wanted frame, checked frame by
frame (:mod:`hiera_video.data.pyav_index`; any doubt: the plain seek pass again).

torchcodec (optional; needs FFmpeg's shared libraries) lives in
:mod:`hiera_video.data.decoder_torchcodec`; when it cannot be loaded, opening a video with
it raises :class:`BackendUnavailableError`, which :func:`decode_clips` does not hide.

Failures (missing/empty file, not a video, no video stream, no decodable frame, a
decoder error before any frame) raise :class:`VideoDecodeError`; a decoder error after
some frames ends the stream there (warning).

Sources: seek-then-decode-forward as in PySlowFast ``pyav_decode_stream``; decode-once
for all test clips as in MMAction2; torchcodec https://github.com/meta-pytorch/torchcodec.
"""
from __future__ import annotations

import itertools
import logging
import math
import os
from dataclasses import dataclass
from typing import Callable, Sequence

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from iopath.common.file_io import g_pathmgr

from . import pyav_index as PX

logger = logging.getLogger(__name__)

__all__ = ["VideoDecodeError", "BackendUnavailableError", "VideoReader", "DecodedClips", "open_video",
           "decode_clips", "check_backend", "BACKENDS"]

BACKENDS = ("pyav", "decord", "torchcodec")


class VideoDecodeError(RuntimeError):
    """A video could not be decoded. ``str(e)`` is ``"{path}: {reason}"``."""

    def __init__(self, path: str, reason: str = ""):
        super().__init__(f"{path}: {reason}" if reason else str(path))
        self.path = path
        self.reason = reason

    def __reduce__(self):  # picklable across DataLoader workers
        return (type(self), (self.path, self.reason))


class BackendUnavailableError(VideoDecodeError):
    """The backend itself cannot be loaded (torchcodec or FFmpeg's shared libraries missing):
    a setup error, not a bad file, so :func:`decode_clips` does not retry it with PyAV."""


class VideoReader:
    """Common interface of the backends (see the module docstring). Use as a context manager."""

    path: str
    fps: float
    num_frames: int
    decoded_num_frames: int | None

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 ``(N, H, W, C)`` RGB frames for ``indices`` (source frames, clamped to the real end).
        Raises ``VideoDecodeError`` (decoding fails) or ``ValueError`` (no or negative index)."""
        raise NotImplementedError

    def count_frames(self) -> int:
        """Real number of decodable frames (may decode the whole stream once)."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_indices(indices: Sequence[int]) -> list[int]:
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("no frame indices requested")
    if min(idx) < 0:
        raise ValueError(f"negative frame index {min(idx)}")
    return idx


def _local_path(path: str) -> str:
    if not g_pathmgr.exists(path):
        raise VideoDecodeError(path, "file not found")
    try:
        local = g_pathmgr.get_local_path(path)
    except Exception as e:  # remote handler failures
        raise VideoDecodeError(path, f"cannot fetch: {_short(e)}") from e
    if os.path.isfile(local) and os.path.getsize(local) == 0:
        raise VideoDecodeError(path, "empty file")
    return local


# ---------------------------------------------------------------------------- PyAV
class _PyAVReader(VideoReader):
    """PyAV backend. The container opened to probe the stream serves the first decode pass
    (the only one :func:`decode_clips` makes unless the header's count is wrong); later passes
    open their own. ``close`` (or ``with``) closes it."""

    def __init__(self, path: str, num_threads: int = 0):
        self.path = path
        self._local = _local_path(path)
        self._threads = num_threads
        self.decoded_num_frames = None
        self.frames_decoded = 0  # diagnostic: frames pulled from the decoder so far
        self._seek_ok = True
        self._index = self._container = self._head = None
        self._rgb = VideoReformatter()  # one swscale context for every frame's RGB conversion
        try:
            self._container = container = av.open(self._local, metadata_errors="ignore")
            if not container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            stream = container.streams.video[0]
            self._prepare(stream)
            self._time_base = stream.time_base
            self.fps = PX.stream_fps(stream)
            if self.fps is None:
                raise VideoDecodeError(path, "unknown frame rate")
            self.num_frames = PX.header_count(container, stream, self.fps)
            self._skip_nonref = PX.may_skip_nonref(stream)
            head = PX.read_head(container, stream)
            if self._time_base is not None and not PX.evenly_spaced(head.pts, 1 / (self.fps * self._time_base)):
                logger.debug("%s: variable frame rate; frames are counted from the start", path)
                self._seek_ok = False
            first_pts = PX.container_first_pts(container, stream, head)
            self._fast_ok = first_pts is not None  # the container's pts are the frames' own
            if self._fast_ok:
                self._head = head  # decoder untouched: a first pass from the start replays the head
            elif (first := PX.decode_first_frame(container, stream, head)) is not None:
                first_pts = first.pts
            else:
                self.decoded_num_frames = 0
                raise VideoDecodeError(path, "no decodable video frames")
        except Exception as e:  # VideoDecodeError, av.FFmpegError, OSError, ...
            self.close()
            if isinstance(e, VideoDecodeError):
                raise
            raise VideoDecodeError(path, f"cannot open: {type(e).__name__}: {e}") from e
        if first_pts is None or self._time_base is None:
            self._seek_ok = False
        else:
            self._index = PX.FrameIndex(first_pts, self._time_base, self.fps)

    def _prepare(self, stream) -> None:
        stream.thread_type = "AUTO"
        if self._threads:
            stream.codec_context.thread_count = self._threads

    def _take_container(self, from_start: bool):
        """``(container, head packets to decode first)`` for a pass: the probe's container once
        (a pass from the start needs its decoder untouched, to replay the head), else a new one."""
        container, head, self._container, self._head = self._container, self._head, None, None
        if container is not None and from_start and head is None:  # its decoder has been used
            container.close()
            container = None
        if container is None:
            container = av.open(self._local, metadata_errors="ignore")
            self._prepare(container.streams.video[0])
        return container, (head if from_start else None)

    def _pass(self, wanted: set[int], hi: float, seek: bool, fast: bool = False):
        """One decode pass up to frame ``hi``: from the start (index = count) or from a seek to the
        keyframe at or before the first wanted frame (index from pts; ``fast``: a
        :class:`~hiera_video.data.pyav_index.FastSeek` plans and checks it). Returns ``({index:
        frame}, last_index, last_frame, reached_end)``, or ``None`` when the seek path is inconsistent."""
        found, last_i, last_frame, ended, prev_pts, started = {}, -1, None, False, None, not seek
        fast = PX.FastSeek(self._index, wanted, hi, self._skip_nonref) if fast else None
        container, head = self._take_container(from_start=not seek)
        with container:
            stream = container.streams.video[0]
            try:
                if seek:
                    container.seek(self._index.seek_target(min(wanted)), backward=True, any_frame=False, stream=stream)
                    frames = fast.frames(container, stream) if fast else container.decode(stream)
                else:
                    packets = container.demux(stream) if head is None else (
                        head.packets if head.complete else itertools.chain(head.packets, container.demux(stream)))
                    frames = (frame for packet in packets for frame in packet.decode())
                for frame in frames:
                    if frame is None:
                        return None
                    self.frames_decoded += 1
                    if not seek:
                        last_i += 1
                    else:
                        if frame.pts is None or (prev_pts is not None and frame.pts <= prev_pts):
                            return None  # no pts, or pts not in display order (AVI packed B-frames)
                        prev_pts = frame.pts
                        i = self._index(frame.pts)
                        if not started:  # skip leading frames until a keyframe
                            if not frame.key_frame:
                                continue
                            started = True
                            if i > min(wanted):
                                return None  # the seek landed after the first wanted frame
                        elif i != last_i + 1 and not (fast and fast.may_follow(last_i, i)):
                            return None  # a gap (not a skipped frame) or a repeat: variable frame rate
                        if fast and i not in fast.sent:
                            return None  # not the frame of a packet sent: pts do not identify frames
                        last_i = i
                    if last_i in wanted:
                        found[last_i] = frame
                    last_frame = frame
                    if last_i >= hi and not fast:
                        break
                else:
                    if fast and not fast.complete(last_i):
                        return None  # frame hi never came, or the real last frame may have been skipped
                    ended = not (fast and fast.drained)
            except av.FFmpegError as e:
                if last_i < 0 or fast:
                    if seek:
                        return None
                    raise VideoDecodeError(self.path, f"decoding failed: {e}") from e
                logger.warning("%s: decoding stopped after frame %d: %s", self.path, last_i, e)
                ended = True
        if seek and (last_i < (0 if ended else hi) or any(i not in found for i in wanted if i <= last_i)):
            return None  # gaps (variable frame rate), nothing decoded, or stopped before frame hi
        return found, last_i, last_frame, ended

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        idx = _check_indices(indices)
        if self.decoded_num_frames is not None:
            idx = [min(i, self.decoded_num_frames - 1) for i in idx]
        wanted = set(idx)
        hi, result = max(wanted), None
        if self._seek_ok and min(wanted) > 0:
            if self._fast_ok:
                result = self._pass(wanted, hi, seek=True, fast=True)
                self._fast_ok = result is not None
            if result is None:
                result = self._pass(wanted, hi, seek=True)
            if result is None:
                logger.debug("%s: pts not usable for seeking; decoding from the start", self.path)
                self._seek_ok = False
        if result is None:
            result = self._pass(wanted, hi, seek=False)
        found, last_i, last_frame, ended = result
        if ended:
            real = last_i + 1
            if self.decoded_num_frames is None and self.num_frames and real < self.num_frames:
                logger.warning("%s: header claims %d frames, %d decode", self.path, self.num_frames, real)
            self.decoded_num_frames = real
        if last_i < 0:
            raise VideoDecodeError(self.path, "no decodable video frames")
        arrays = {}
        for i in wanted:
            frame = found.get(i, last_frame if i > last_i else None)
            if frame is None:
                raise VideoDecodeError(self.path, f"frame {i} could not be decoded")
            arrays[i] = self._rgb.reformat(frame, format="rgb24").to_ndarray()
        return torch.from_numpy(np.stack([arrays[i] for i in idx]))

    def count_frames(self) -> int:
        if self.decoded_num_frames is None:
            _, last_i, _, _ = self._pass(set(), math.inf, seek=False)
            if last_i < 0:
                raise VideoDecodeError(self.path, "no decodable video frames")
            self.decoded_num_frames = last_i + 1
        return self.decoded_num_frames

    def close(self) -> None:
        container, self._container, self._head = self._container, None, None
        if container is not None:
            container.close()


# ---------------------------------------------------------------------------- decord
# decord 0.6 returns wrong frames after any seek in B-frame streams in AVI or of the MPEG-4
# part 2 family (opencv-doc's Megamind.avi: frame 100 comes back as frame 2; dmlc/decord#195,
# #252, #365). Contiguous reads from frame 0 are exact: such files are read so ("sequential").
_SEEK_UNSAFE_CODECS = ("mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "msmpeg4", "h263", "flv1")
_DECORD_CHUNK = 16


def _seek_unsafe(local: str, codecs: Sequence[str] = _SEEK_UNSAFE_CODECS) -> bool:
    """B-frames in an AVI, or in a stream of one of ``codecs`` (torchcodec passes none: its seeks
    are only wrong in AVI). False when PyAV cannot tell: the backend then reports the error."""
    try:
        with av.open(local, metadata_errors="ignore") as container:
            ctx = container.streams.video[0].codec_context
            return bool(ctx.has_b_frames) and ("avi" in container.format.name or ctx.name in codecs)
    except Exception:
        return False


class _DecordReader(VideoReader):
    """decord backend. ``len`` comes from the packet index decord builds on open (the real
    count for truncated AVI/MKV files; dmlc/decord#373: a file whose index over-counts
    makes ``get_batch`` hang, which cannot be caught)."""

    def __init__(self, path: str, num_threads: int = 0):
        self.path = path
        self._local = _local_path(path)
        self._threads = num_threads
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
            raise VideoDecodeError(path, f"cannot open: {_short(e)}") from e
        if n <= 0:
            raise VideoDecodeError(path, "no decodable video frames")
        if not (self.fps > 0 and math.isfinite(self.fps)):
            raise VideoDecodeError(path, "unknown frame rate")
        self.num_frames = self.decoded_num_frames = n
        self.sequential = _seek_unsafe(self._local)

    def _open(self):
        try:
            return self._decord.VideoReader(self._local, ctx=self._decord.cpu(0), num_threads=self._threads)
        except Exception as e:  # decord.DECORDError, RuntimeError
            raise VideoDecodeError(self.path, f"cannot open: {_short(e)}") from e

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        idx = [min(i, self.decoded_num_frames - 1) for i in _check_indices(indices)]
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
            raise VideoDecodeError(self.path, f"decoding failed: {_short(e)}") from e
        return torch.from_numpy(np.ascontiguousarray(batch))

    def count_frames(self) -> int:
        return self.decoded_num_frames

    def close(self) -> None:
        self._vr = None


def _short(e: Exception, limit: int = 300) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}"


# ---------------------------------------------------------------------------- API
def open_video(path: str, backend: str = "pyav", num_threads: int = 0) -> VideoReader:
    """Open ``path`` with ``backend`` (``DATA.DECODING_BACKEND``: "pyav", "decord" or
    "torchcodec"); ``num_threads`` decoder threads (0: FFmpeg's choice).

    Raises:
        ValueError: unknown backend.
        BackendUnavailableError: torchcodec or FFmpeg's shared libraries cannot be loaded
            (the message says what to install).
        VideoDecodeError: missing/empty file, not a video, no video stream, unknown
            frame rate, or (PyAV, where frame 0 is decoded on open) not even the first
            frame decodes (otherwise reading frames raises it).
    """
    if backend == "pyav":
        return _PyAVReader(path, num_threads)
    if backend == "decord":
        return _DecordReader(path, num_threads)
    if backend == "torchcodec":
        from .decoder_torchcodec import TorchCodecReader

        return TorchCodecReader(path, num_threads)
    raise ValueError(f"unknown decoding backend {backend!r}; expected one of {BACKENDS}")


def check_backend(backend: str) -> None:
    """Fail early, before any video is read, when ``backend`` cannot work here.

    Raises:
        ValueError: unknown backend.
        BackendUnavailableError: "torchcodec" cannot be loaded (not installed, no FFmpeg
            shared libraries, or a torch it was not built for); its ``path`` is "torchcodec".
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; expected one of {BACKENDS}")
    if backend == "torchcodec":
        from .decoder_torchcodec import load_torchcodec

        load_torchcodec("torchcodec")


@dataclass
class DecodedClips:
    """Result of :func:`decode_clips`: ``clips`` (uint8 ``(T, H, W, C)`` each), their
    source-frame ``indices``, the stream's real ``fps`` and ``num_frames``, the count the
    indices were computed from (the real one when a pass found the header's wrong)."""

    clips: list[torch.Tensor]
    indices: list[list[int]]
    fps: float
    num_frames: int


IndicesFn = Callable[[int, float], Sequence[Sequence[int]]]


def decode_clips(path: str, indices_fn: IndicesFn, backend: str = "pyav", num_threads: int = 0) -> DecodedClips:
    """Decode the frames of several clips of one video in one pass.

    If decord or torchcodec fails on an existing file (decord aborts on some damaged
    streams that FFmpeg through PyAV decodes up to the damage), the video is decoded again
    with PyAV and a warning names the file, so a video is only lost when PyAV fails too.
    A backend that cannot be loaded at all (:class:`BackendUnavailableError`) is not
    replaced: that is a setup error, raised for every video.

    Args:
        path: the video.
        indices_fn: ``(num_frames, fps) -> [indices of clip 0, indices of clip 1, ...]``;
            called again with the real count when the header's was wrong.
        backend: "pyav", "decord" or "torchcodec"; num_threads: decoder threads (0: FFmpeg's choice).

    Returns:
        :class:`DecodedClips`; frames shared by clips are decoded once.

    Raises:
        VideoDecodeError: the video cannot be decoded (see :func:`open_video`).
        BackendUnavailableError: ``backend`` cannot be loaded.
    """
    try:
        return _decode_clips(path, indices_fn, backend, num_threads)
    except BackendUnavailableError:
        raise
    except VideoDecodeError as e:
        if backend == "pyav" or not os.path.exists(path):
            raise
        logger.warning("%s failed (%s); retrying with PyAV", backend, e)
        return _decode_clips(path, indices_fn, "pyav", num_threads)


def _decode_clips(path: str, indices_fn: IndicesFn, backend: str, num_threads: int) -> DecodedClips:
    with open_video(path, backend, num_threads) as reader:
        n = reader.decoded_num_frames or reader.num_frames or reader.count_frames()
        for _ in range(3):
            clips_idx = [list(map(int, c)) for c in indices_fn(n, reader.fps)]
            union = sorted({i for c in clips_idx for i in c})
            frames = reader.get_frames(union)
            real = reader.decoded_num_frames
            if real is None or real == n:
                break
            n = real  # the header's count was wrong: sample again with the real one
        pos, clips = {i: k for k, i in enumerate(union)}, []
        for c in clips_idx:  # a clip that is the decoded set in order is that tensor (once; no copy)
            shared = c == union and not any(clip is frames for clip in clips)
            clips.append(frames if shared else frames[[pos[i] for i in c]])
        return DecodedClips(clips=clips, indices=clips_idx, fps=reader.fps, num_frames=n)
