"""Opening a video with a backend and decoding the frames of several clips in one pass.

``decode_clips(path, indices_fn, backend)`` is what datasets call: it asks ``indices_fn(num_frames, fps)`` for the
index lists of one or more clips, decodes the union of their frames in ONE pass, and samples again with the real
count when the header's was wrong (so test time decodes each video once for all its views).

Failures (missing/empty file, not a video, no video stream, no decodable frame, a decoder error before any frame)
raise ``VideoDecodeError``; a decoder error after some frames ends the stream there (warning). torchcodec
(optional; needs FFmpeg's shared libraries) raises ``BackendUnavailableError`` when it cannot be loaded, which
:func:`decode_clips` does not hide.

Sources: decode-once for all test clips as in MMAction2; torchcodec https://github.com/meta-pytorch/torchcodec.
"""

from __future__ import annotations

import logging
import os

from .base import BACKENDS, BackendUnavailableError, DecodedClips, IndicesFn, VideoDecodeError, VideoReader
from .decord import DecordReader
from .pyav import PyAVReader

logger = logging.getLogger("hiera_video.data.decoding")


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
        return PyAVReader(path, num_threads)
    if backend == "decord":
        return DecordReader(path, num_threads)
    if backend == "torchcodec":
        from .torchcodec import TorchCodecReader

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
        from .torchcodec import load_torchcodec

        load_torchcodec("torchcodec")


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
        claimed = int(reader.num_frames or 0)  # the container's count (decord / torchcodec: their packet index)
        n = reader.decoded_num_frames or reader.num_frames or reader.count_frames()
        for _ in range(3):
            clips_idx = [list(map(int, c)) for c in indices_fn(n, reader.fps)]
            union = sorted({i for c in clips_idx for i in c})
            frames = reader.get_frames(union)
            real = reader.decoded_num_frames
            if real is None or real == n:
                break
            n = real  # the header's count was wrong: sample again with the real one
        return DecodedClips.from_union(frames, union, clips_idx, fps=reader.fps, num_frames=n,
                                       claimed_num_frames=claimed)
