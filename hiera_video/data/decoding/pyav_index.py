"""Helpers of the PyAV reader in :mod:`hiera_video.data.decoding`: what the first packets of a
stream say about frame indexing, and the fast seek pass.

- :func:`read_head` demuxes the first packets once on open (nothing decoded). They are
  checked for even pts spacing (:func:`evenly_spaced`; a variable frame rate turns seeking
  off), give the first frame's pts without decoding it where the container settles it
  (:func:`container_first_pts`; else :func:`decode_first_frame`), and are replayed by a
  first pass from the start, so the probe's container serves that pass too.
- :class:`FrameIndex`: frame index ``round((pts - first_pts) * time_base * fps)`` of a pts.
- :class:`FastSeek`: a seek pass over MP4/Matroska packets, whose pts are their frames' own.
  It stops sending packets once one's dts is past the last wanted frame and drains the
  decoder (no frames decoded past it for the reorder buffer or frame threads), and for H.264
  (:func:`may_skip_nonref`) sends unwanted non-keyframes with ``skip_frame="NONREF"``: the
  decoder drops those that are non-reference pictures (``nal_ref_idc == 0``), which no other
  picture may reference, so every other frame decodes bit-identically (FFmpeg hands
  ``skip_frame`` to its frame-threading workers with each packet). Every frame it outputs
  must then be the frame of a packet it sent, in increasing pts order, and each index it
  misses must be one it asked to skip or, past the last wanted frame, never sent; otherwise,
  or when it ends early, the reader runs the plain seek pass.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import av

__all__ = ["PTS_PROBE", "Head", "read_head", "evenly_spaced", "container_first_pts", "FrameIndex", "may_skip_nonref",
           "stream_fps", "header_count", "decode_first_frame", "FastSeek"]

PTS_PROBE, REORDER_DEPTH = 48, 16  # packets whose pts are checked on open; B-frame reorder margin
# Demuxers whose packet pts are presentation times from the file's own index or block times
# (ISO BMFF / QuickTime, Matroska / WebM): elsewhere (AVI, raw streams, ...) frame 0 is decoded.
_PTS_FORMATS = ("mov", "matroska")
_NONREF_CODECS = ("h264",)


@dataclass
class Head:
    """The first packets of the video stream, in demux order (``complete``: the stream ended
    within them and the last one is PyAV's flushing packet; ``error``: demuxing failed)."""

    packets: list = field(default_factory=list)
    complete: bool = False
    error: bool = False

    @property
    def pts(self) -> list[int]:
        return [p.pts for p in self.packets if p.pts is not None]


def read_head(container, stream, limit: int = PTS_PROBE) -> Head:
    """Demux packets of ``stream`` until ``limit`` of them carry a pts (nothing is decoded)."""
    head, count = Head(), 0
    try:
        for packet in container.demux(stream):
            head.packets.append(packet)
            count += packet.pts is not None
            if count >= limit:
                return head
        head.complete = True
    except av.FFmpegError:
        head.error = True
    return head


def evenly_spaced(pts: list[int], step: float) -> bool:
    """Whether sorted ``pts`` advance by ``step`` (one frame, in time-base units) within half a
    frame; the last ``REORDER_DEPTH`` are left out (their reordered neighbours may be missing)."""
    ordered = sorted(pts)[: max(2, len(pts) - REORDER_DEPTH)]
    return all(abs((b - a) - step) < step / 2 for a, b in itertools.pairwise(ordered))


def container_first_pts(container, stream, head: Head) -> int | None:
    """The pts of the first frame the decoder will output, read from the container without
    decoding, or ``None`` when that is not certain. It is the first packet's pts when the
    container is MP4/MOV or Matroska/WebM, that packet is an intact keyframe whose pts is the
    stream's ``start_time`` and the smallest of all head packets (so nothing is displayed
    before it), and no head packet lacks a pts or is marked to be discarded (edit lists)."""
    if not any(name in container.format.name for name in _PTS_FORMATS) or head.error or not head.packets:
        return None
    data = [p for p in head.packets if p.size]
    if not data or any(p.pts is None or p.is_discard or p.is_corrupt for p in data):
        return None
    first = data[0]
    if not first.is_keyframe or first.pts != stream.start_time or first.pts != min(p.pts for p in data):
        return None
    return first.pts


@dataclass(frozen=True)
class FrameIndex:
    """Frame index of a pts: ``round((pts - first_pts) * time_base * fps)``."""

    first_pts: int
    time_base: object  # fractions.Fraction
    fps: float

    def __call__(self, pts: int) -> int:
        return int(round(float((pts - self.first_pts) * self.time_base) * self.fps))

    def seek_target(self, index: int) -> int:
        """The pts of frame ``index``, rounded down (where a seek for it goes)."""
        return self.first_pts + int(math.floor(index / self.fps / self.time_base))


def may_skip_nonref(stream) -> bool:
    """Whether a fast seek pass may skip unwanted non-reference frames of ``stream`` (H.264)."""
    return stream.codec_context.name in _NONREF_CODECS


def stream_fps(stream) -> float | None:
    """The stream's frame rate (frames/s) from its header, ``None`` if unknown."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and float(rate) > 0 and math.isfinite(float(rate)):
            return float(rate)
    if stream.frames and stream.duration and stream.time_base:
        return stream.frames / float(stream.duration * stream.time_base)
    return None


def header_count(container, stream, fps: float) -> int:
    """The header's frame count, or an estimate from the duration; 0 if unknown."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration:  # microseconds
        return int(round(container.duration / 1e6 * fps))
    return 0


def decode_first_frame(container, stream, head: Head):
    """The first frame the decoder outputs, from the head packets and, if needed, the following
    ones (``None``: none decodes). Leaves the decoder used: the head cannot be replayed then."""
    packets = head.packets if head.complete or head.error else itertools.chain(head.packets, container.demux(stream))
    try:
        for packet in packets:
            for frame in packet.decode():
                return frame
    except av.FFmpegError:
        pass
    return None


class FastSeek:
    """Plan and checks of a fast seek pass (see the module docstring): packets are sent until
    one's dts is past frame ``hi`` (every later packet has pts >= dts: none is displayed by
    then), then the decoder is drained (``drained``). With ``skip_nonref``, unwanted
    non-keyframes are sent with ``skip_frame="NONREF"``. ``sent[index]``: whether the packet of
    frame ``index`` was sent so."""

    def __init__(self, index: FrameIndex, wanted: set[int], hi: int, skip_nonref: bool):
        self.index, self.wanted, self.hi, self.skip = index, wanted, hi, skip_nonref
        self.sent: dict[int, bool] = {}
        self.drained = False

    def frames(self, container, stream):
        """Frames of the packets after the seek; ``None`` (then stop) when they cannot be planned."""
        ctx, index = stream.codec_context, self.index
        for packet in container.demux(stream):
            if packet.size:
                if packet.pts is None or (packet.dts is None and index(packet.pts) > self.hi + REORDER_DEPTH):
                    yield None  # no timestamps to plan with (Matroska lacks dts only after a seek)
                    return
                if packet.dts is not None and index(packet.dts) > self.hi:
                    self.drained = True
                    yield from ctx.decode(None)
                    return
                i = index(packet.pts)
                self.sent[i] = self.skip and i not in self.wanted and not packet.is_keyframe
                ctx.skip_frame = "NONREF" if self.sent[i] else "DEFAULT"
            yield from packet.decode()

    def may_follow(self, last: int, i: int) -> bool:
        """Whether output frame ``i`` may follow frame ``last``: every index between was sent to be
        skipped or, past ``hi``, not sent at all."""
        return i > last and i in self.sent and all(
            self.sent.get(j) or (j > self.hi and j not in self.sent) for j in range(last + 1, i))

    def complete(self, last: int) -> bool:
        """Once the frames end at ``last``: frame ``hi`` came (drained), or at the end of the stream
        no frame after ``last`` was skipped (``last`` is then the real last frame)."""
        return last >= self.hi if self.drained else not any(s and i > last for i, s in self.sent.items())
