"""The decoding interface every backend implements, its errors, and the helpers backends share.

:class:`VideoReader` (an ABC) is what ``open_video`` returns: ``fps`` (the stream's real frame rate, frames/s),
``num_frames`` (the header's count or an estimate from the duration, 0 if unknown: headers lie, a truncated AVI
still claims all its frames), ``decoded_num_frames`` (the real count once known, else None), ``get_frames(indices)``
-> uint8 ``(N, H, W, C)`` RGB (any order, repeats allowed; indices past the real end are clamped to the last
decodable frame) and ``count_frames()``. Frame ``i`` is the ``i``-th frame the decoder outputs (presentation
order), for every backend and for variable-frame-rate streams, whose ``fps`` is then an average.
"""

from __future__ import annotations

import abc
import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import av
import torch
from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import DataError, SetupError

__all__ = ["BACKENDS", "VideoDecodeError", "BackendUnavailableError", "VideoReader", "DecodedClips", "IndicesFn",
           "check_indices", "local_path", "seek_unsafe", "short_error", "SEEK_UNSAFE_CODECS", "truncation",
           "still_image_format", "container_frame_count", "PARTIAL_TOLERANCE"]

BACKENDS = ("pyav", "decord", "torchcodec")


class VideoDecodeError(DataError):
    """A video could not be decoded. ``str(e)`` is ``"{path}: {reason}"``."""

    def __init__(self, path: str, reason: str = ""):
        super().__init__(f"{path}: {reason}" if reason else str(path))
        self.path = path
        self.reason = reason

    def __reduce__(self):  # picklable across DataLoader workers
        return (type(self), (self.path, self.reason))


class BackendUnavailableError(VideoDecodeError, SetupError):
    """The backend itself cannot be loaded (torchcodec or FFmpeg's shared libraries missing):
    a setup error, not a bad file, so :func:`decode_clips` does not retry it with PyAV."""


class VideoReader(abc.ABC):
    """Common interface of the backends (see the module docstring). Use as a context manager."""

    path: str
    fps: float
    num_frames: int
    decoded_num_frames: int | None

    @abc.abstractmethod
    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 ``(N, H, W, C)`` RGB frames for ``indices`` (source frames, clamped to the real end).
        Raises ``VideoDecodeError`` (decoding fails) or ``ValueError`` (no or negative index)."""

    @abc.abstractmethod
    def count_frames(self) -> int:
        """Real number of decodable frames (may decode the whole stream once)."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def check_indices(indices: Sequence[int]) -> list[int]:
    """``indices`` as ints. Raises ``ValueError``: none, or a negative one."""
    idx = [int(i) for i in indices]
    if not idx:
        raise ValueError("no frame indices requested")
    if min(idx) < 0:
        raise ValueError(f"negative frame index {min(idx)}")
    return idx


def local_path(path: str) -> str:
    """A local file for ``path`` (iopath fetches remote ones). Raises ``VideoDecodeError``: missing, empty or
    unfetchable."""
    if not g_pathmgr.exists(path):
        raise VideoDecodeError(path, "file not found")
    try:
        local = g_pathmgr.get_local_path(path)
    except Exception as e:  # remote handler failures
        raise VideoDecodeError(path, f"cannot fetch: {short_error(e)}") from e
    if os.path.isfile(local) and os.path.getsize(local) == 0:
        raise VideoDecodeError(path, "empty file")
    return local


def short_error(e: Exception, limit: int = 300) -> str:
    """``"{type}: {message}"`` on one line, at most ``limit`` characters of message."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text[:limit]}"


# decord 0.6 returns wrong frames after any seek in B-frame streams in AVI or of the MPEG-4
# part 2 family (opencv-doc's Megamind.avi: frame 100 comes back as frame 2; dmlc/decord#195,
# #252, #365). Contiguous reads from frame 0 are exact: such files are read so ("sequential").
SEEK_UNSAFE_CODECS = ("mpeg4", "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "msmpeg4", "h263", "flv1")
_DECORD_CHUNK = 16


def seek_unsafe(path: str, local: str, codecs: Sequence[str] = SEEK_UNSAFE_CODECS) -> bool:
    """One PyAV probe of ``local`` for the decord and torchcodec readers: B-frames in an AVI, or in a stream of one
    of ``codecs`` (torchcodec passes none: its seeks are only wrong in AVI). False when PyAV cannot tell: the backend
    then reports the error.

    Raises:
        VideoDecodeError: FFmpeg reads the file as a single image (a PNG / JPEG named ``.mp4``): not a video.
    """
    try:
        with av.open(local, metadata_errors="ignore") as container:
            name = container.format.name
            if still_image_format(name):
                raise VideoDecodeError(path, f"a still image ({name}), not a video")
            ctx = container.streams.video[0].codec_context
            return bool(ctx.has_b_frames) and ("avi" in name or ctx.name in codecs)
    except VideoDecodeError:
        raise
    except Exception:
        return False


@dataclass
class DecodedClips:
    """Result of :func:`decode_clips`: the decoded ``frames`` (uint8 ``(U, H, W, C)``, each source frame any clip
    uses once, in source order), ``positions`` (per clip, the rows of ``frames`` it is made of, ``T`` each), their
    source-frame ``indices``, the stream's real ``fps`` and ``num_frames``, the count the indices were computed from
    (the real one when a pass found the header's wrong), and ``claimed_num_frames``, the container's count (0 when
    unknown). ``clips`` (uint8 ``(T, H, W, C)`` each) are cut from ``frames`` on first use; code that transforms
    every clip the same way per frame (the multi-view test: :func:`~hiera_video.data.transforms.multi_views`) can
    work on ``frames`` once instead."""

    frames: torch.Tensor
    positions: list[list[int]]
    indices: list[list[int]]
    fps: float
    num_frames: int
    claimed_num_frames: int = 0

    @classmethod
    def from_union(cls, frames: torch.Tensor, union: Sequence[int], indices: list[list[int]], **kw) -> "DecodedClips":
        """``frames`` decoded for the sorted source indices ``union``; ``indices``: each clip's source indices."""
        pos = {i: k for k, i in enumerate(union)}
        return cls(frames=frames, positions=[[pos[i] for i in c] for c in indices], indices=indices, **kw)

    @functools.cached_property
    def clips(self) -> list[torch.Tensor]:
        """uint8 ``(T, H, W, C)`` per clip; a clip that is all of ``frames`` in order is ``frames`` (no copy, once)."""
        everything, out = list(range(len(self.frames))), []
        for p in self.positions:
            shared = p == everything and not any(c is self.frames for c in out)
            out.append(self.frames if shared else self.frames[p])
        return out

    @property
    def partial(self) -> str | None:
        """``"truncated: header N frames, M decodable"`` when the video is partial (:func:`truncation`), else None."""
        return truncation(self.claimed_num_frames, self.num_frames)


#: a video is *partial* (truncated) when its decodable frames fall short of what its container claims by more than
#: this fraction of the claim and more than PARTIAL_MIN_FRAMES frames (headers estimated from a duration are often a
#: frame or two off).
PARTIAL_TOLERANCE = 0.05
PARTIAL_MIN_FRAMES = 2


def container_frame_count(local: str) -> int:
    """The frame count the container claims (header, else the duration x fps; PyAV), 0 if unknown or unreadable:
    what a decode's real count is compared with (:func:`truncation`), whatever backend decodes."""
    from .pyav_index import header_count, stream_fps

    try:
        with av.open(local, metadata_errors="ignore") as container:
            if not container.streams.video:
                return 0
            stream = container.streams.video[0]
            fps = stream_fps(stream)
            return int(header_count(container, stream, fps)) if fps else 0
    except Exception:
        return 0


def truncation(claimed: int, decodable: int) -> str | None:
    """The reason a video with ``claimed`` frames in its header and ``decodable`` real ones is partial, or None."""
    if claimed and decodable < claimed and claimed - decodable > max(PARTIAL_MIN_FRAMES, PARTIAL_TOLERANCE * claimed):
        return f"truncated: header {claimed} frames, {decodable} decodable"
    return None


#: container formats FFmpeg uses for single images: such a file is not a video.
def still_image_format(format_name: str) -> bool:
    """Whether an FFmpeg container format name is a still-image one (``png_pipe``, ``jpeg_pipe``, ``image2``, ...)."""
    return format_name.endswith("_pipe") or format_name in ("image2", "image2pipe")


#: ``(num_frames, fps) -> [indices of clip 0, indices of clip 1, ...]`` (source frame indices).
IndicesFn = Callable[[int, float], Sequence[Sequence[int]]]


#: ``(num_frames, fps) -> [indices of clip 0, indices of clip 1, ...]`` (source frame indices).
IndicesFn = Callable[[int, float], Sequence[Sequence[int]]]
