"""The frames of a frame-list video (JPEG files) behind the ``VideoReader`` interface.

:class:`FrameReader` serves a :class:`~hiera_video.data.frame_list.FrameRecord`'s frames (``fps`` = the extraction
rate ``DATA.FRAME_FPS``, ``num_frames`` = frames listed) and :func:`decode_frame_clips` mirrors
:func:`~hiera_video.data.decoding.decode_clips`. Only the requested JPEGs are read (iopath ``g_pathmgr``) and
decoded (Pillow: JPEG, or any format Pillow reads; torchvision's image decoders are deprecated since 0.29); a
missing, empty, truncated or undecodable one raises ``VideoDecodeError`` naming that file.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import torch
from iopath.common.file_io import g_pathmgr
from PIL import Image, UnidentifiedImageError

from ..frame_list import FrameRecord
from .base import DecodedClips, IndicesFn, VideoDecodeError, VideoReader, check_indices

__all__ = ["FrameReader", "decode_frame_clips", "read_image"]


def read_image(path: str) -> torch.Tensor:
    """Read one image file (iopath) and decode it with Pillow.

    Returns:
        uint8 ``(H, W, 3)`` RGB (grey, CMYK and palette images converted).

    Raises:
        VideoDecodeError: ``(path, reason)`` — file not found, unreadable, empty, truncated
            (``"cannot decode image: OSError: image file is truncated ..."``) or not an image.
    """
    try:
        with g_pathmgr.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError as e:
        raise VideoDecodeError(path, "file not found") from e
    except Exception as e:  # OSError, remote handler errors
        raise VideoDecodeError(path, f"cannot read: {type(e).__name__}: {e}") from e
    if not data:
        raise VideoDecodeError(path, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = np.array(image.convert("RGB"))  # decodes fully: truncation raises here
    except UnidentifiedImageError as e:
        raise VideoDecodeError(path, "cannot decode image: not an image format Pillow reads") from e
    except Exception as e:  # OSError (truncated), SyntaxError / ValueError (corrupt headers), ...
        raise VideoDecodeError(path, f"cannot decode image: {type(e).__name__}: {e}") from e
    return torch.from_numpy(rgb)


class FrameReader(VideoReader):
    """:class:`~hiera_video.data.decoding.VideoReader` over the JPEG frames of one :class:`FrameRecord`.

    ``path`` is the record's path, ``fps`` the extraction rate (frames/s, ``DATA.FRAME_FPS``),
    ``num_frames = decoded_num_frames = len(record.frames)`` (the list is the real count).

    Raises:
        ValueError: ``fps <= 0``.
        VideoDecodeError: the record lists no frames.
    """

    def __init__(self, record: FrameRecord, fps: float):
        if not float(fps) > 0:
            raise ValueError(f"frame rate must be > 0 frames/s (DATA.FRAME_FPS), got {fps}")
        self.path = record.path
        self.frames = tuple(record.frames)
        self.fps = float(fps)
        self.num_frames = self.decoded_num_frames = len(self.frames)
        if not self.frames:
            raise VideoDecodeError(record.path, "no frames listed")

    def get_frames(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 ``(N, H, W, C)`` RGB for frame ``indices`` (any order, repeats allowed, clamped to the
        last frame); each distinct frame's file is read once, others are not touched.

        Raises:
            ValueError: no or negative index.
            VideoDecodeError: ``(jpeg_path, reason)`` for a missing/empty/corrupt JPEG, or one whose
                size differs from the other frames'.
        """
        idx = [min(i, self.num_frames - 1) for i in check_indices(indices)]
        wanted = sorted(set(idx))
        decoded: dict[int, torch.Tensor] = {}
        for i in wanted:
            decoded[i] = image = read_image(self.frames[i])
            first = decoded[wanted[0]]
            if image.shape != first.shape:
                raise VideoDecodeError(self.frames[i], f"frame size {tuple(image.shape[:2])} differs from "
                                       f"{tuple(first.shape[:2])} of {self.frames[wanted[0]]}")
        return torch.stack([decoded[i] for i in idx])

    def count_frames(self) -> int:
        return self.num_frames


def decode_frame_clips(record: FrameRecord, indices_fn: IndicesFn, fps: float) -> DecodedClips:
    """Read the frames of several clips of one frame-list video; the frames counterpart of
    :func:`~hiera_video.data.decoding.decode_clips` (same ``indices_fn`` contract, same result).

    Args:
        record: the video (:func:`~hiera_video.data.frame_list.read_frame_list`).
        indices_fn: ``(num_frames, fps) -> [indices of clip 0, indices of clip 1, ...]``, called once
            with ``len(record.frames)`` and ``fps``.
        fps: the rate the frames were extracted at (frames/s, ``DATA.FRAME_FPS``).

    Returns:
        :class:`~hiera_video.data.decoding.DecodedClips`: ``clips`` uint8 ``(T, H, W, C)`` each;
        frames shared by clips are read once.

    Raises:
        VideoDecodeError: ``(jpeg_path, reason)`` when a needed frame cannot be read (see
            :meth:`FrameReader.get_frames`), ``(record.path, ...)`` when no frame is listed.
        ValueError: ``fps <= 0``.
    """
    with FrameReader(record, fps) as reader:
        n = reader.num_frames
        clips_idx = [list(map(int, c)) for c in indices_fn(n, reader.fps)]
        union = sorted({i for c in clips_idx for i in c})
        return DecodedClips.from_union(reader.get_frames(union), union, clips_idx, fps=reader.fps, num_frames=n)
