"""PyAV backend (``DATA.DECODING_BACKEND pyav``, the default).

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
frame (:mod:`hiera_video.data.decoding.pyav_index`; any doubt: the plain seek pass again).
For such streams a pass that starts at frame 0 is a fast seek pass too (nothing to seek past,
but the skipping still saves decoding), falling back to a pass from the start.

Source: seek-then-decode-forward as in PySlowFast ``pyav_decode_stream``.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from . import pyav_index as PX
from .base import VideoDecodeError, VideoReader, check_indices, local_path, still_image_format

logger = logging.getLogger("hiera_video.data.decoding")


class PyAVReader(VideoReader):
    """PyAV backend. The container opened to probe the stream serves the first decode pass
    (the only one :func:`decode_clips` makes unless the header's count is wrong); later passes
    open their own. ``close`` (or ``with``) closes it."""

    def __init__(self, path: str, num_threads: int = 0):
        self.path = path
        self._local = local_path(path)
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
            if still_image_format(container.format.name):
                raise VideoDecodeError(path, f"a still image ({container.format.name}), not a video")
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
        :class:`~hiera_video.data.decoding.pyav_index.FastSeek` plans and checks it). Returns ``({index:
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
        idx = check_indices(indices)
        if self.decoded_num_frames is not None:
            idx = [min(i, self.decoded_num_frames - 1) for i in idx]
        wanted = set(idx)
        hi, lo, result = max(wanted), min(wanted), None
        # from frame 0 a seek saves nothing, but the fast pass still skips unwanted non-reference frames
        if self._seek_ok and (lo > 0 or (self._fast_ok and self._skip_nonref)):
            if self._fast_ok:
                result = self._pass(wanted, hi, seek=True, fast=True)
                self._fast_ok = result is not None
            if result is None and lo > 0:
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
