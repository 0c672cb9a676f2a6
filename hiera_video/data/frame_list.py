"""Videos stored as JPEG frames: PySlowFast frame lists and a frame reader with the ``VideoReader`` interface.

A frame list (what :func:`hiera_video.data.frames.write_frame_list` and ``data_prep/extract_frames.py``
write) is a header line and one space-separated line per frame::

    original_vido_id video_id frame_id path labels
    abc 0 0 abc/abc_000001.jpg 3
    abc 0 1 abc/abc_000002.jpg 3
    xyz 1 0 xyz/xyz_000001.jpg 5,7

- ``original_vido_id``: the video's string id; rows are grouped by it (videos keep the order of their
  first row). ``video_id``: an integer ``>= 0``, one per ``original_vido_id``.
- ``frame_id``: the 0-based frame number; a video's frame ids must be exactly ``0 .. n-1`` (any row
  order; frame ``k`` of the video is ``frame_id`` ``k``, at ``k / DATA.FRAME_FPS`` seconds).
- ``path``: the JPEG, relative to ``DATA.PATH_PREFIX`` (absolute paths and URLs are kept).
- ``labels``: comma-separated class ids (surrounding ``"`` are ignored). This is a classification
  dataset, so every frame of a video must carry the same labels and the video's label is the first
  one (``5,7`` -> 5). A video without a label (``""``, as ``write_frame_list`` writes when it had
  none) or with a negative one (``-1``) is rejected in EVERY split: training needs it and the test
  report scores against it.

Any violation raises :class:`~hiera_video.data.lists.ListFormatError` naming ``file:line``.

:class:`FrameReader` serves a video's frames through the
:class:`~hiera_video.data.decoders.VideoReader` interface (``fps`` = the extraction rate
``DATA.FRAME_FPS``, ``num_frames`` = frames listed) and :func:`decode_frame_clips` mirrors
:func:`~hiera_video.data.decoders.decode_clips`, so datasets sample frames and videos with the same
code. Only the requested JPEGs are read (iopath ``g_pathmgr``) and decoded (Pillow: JPEG, or any
format Pillow reads; torchvision's image decoders are deprecated since 0.29); a missing, empty,
truncated or undecodable one raises :class:`~hiera_video.data.decoders.VideoDecodeError` naming that file.

Source: the list format follows PySlowFast ``slowfast/datasets/utils.py`` ``load_image_lists``
(header check, 5 whitespace-separated fields, ``"``-stripped comma-separated labels, rows grouped by
``original_vido_id``); unlike it, rows are ordered by ``frame_id`` rather than file order, and
malformed rows are ``file:line`` errors instead of asserts.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from iopath.common.file_io import g_pathmgr
from PIL import Image, UnidentifiedImageError

from .decoders import DecodedClips, IndicesFn, VideoDecodeError, VideoReader, _check_indices
from .lists import ListFormatError, join_prefix

logger = logging.getLogger(__name__)

__all__ = ["FrameRecord", "FrameReader", "read_frame_list", "decode_frame_clips", "read_image", "HEADERS"]

# PySlowFast's spelling ("vido") first; the corrected spelling (MMAction2's Charades lists) is accepted too.
HEADERS = (
    ("original_vido_id", "video_id", "frame_id", "path", "labels"),
    ("original_video_id", "video_id", "frame_id", "path", "labels"),
)
_HEADER = " ".join(HEADERS[0])


@dataclass(frozen=True)
class FrameRecord:
    """One video of a frame list.

    Attributes:
        path: ``{PATH_PREFIX}/{original_vido_id}`` — the video's frame folder in the layout
            ``extract_frames.py`` (and PySlowFast's AVA / Charades / SSv2 lists) use; unique per
            video. Reports and ``"bad"`` entries name the video by it.
        label: class index ``>= 0`` (the first of the frames' labels).
        frames: JPEG paths (prefix joined) of frames ``0 .. n-1``, ordered by ``frame_id``.
        video_id: the ``original_vido_id`` string.
    """

    path: str
    label: int
    frames: tuple[str, ...]
    video_id: str


class _Video:
    def __init__(self, index: int, lineno: int, line: str, labels: list[int]):
        self.index, self.lineno, self.line, self.labels = index, lineno, line, labels
        self.frames: dict[int, str] = {}


def _parse_labels(text: str, require: bool = True) -> list[int] | str:
    """Class ids of a ``labels`` field (``[-1]`` for an empty one when not ``require``), or why it is unusable."""
    body = text.replace('"', "").strip()
    if not body and not require:
        return [-1]
    if not body:
        return "missing label (a class id >= 0 is needed for every video in every split)"
    out = []
    for part in body.split(","):
        try:
            value = int(part)
        except ValueError:
            return f"label {part!r} is not an integer"
        if value < 0:
            return f"label {value} is negative (a class id >= 0 is needed for every video in every split)"
        out.append(value)
    return out


def _int_field(name: str, text: str) -> int | str:
    try:
        value = int(text)
    except ValueError:
        return f"{name} {text!r} is not an integer"
    return value if value >= 0 else f"{name} {value} is negative"


def _add_row(videos: dict[str, _Video], owner: dict[int, str], line: str, lineno: int, prefix: str,
             require_labels: bool = True) -> str | None:
    """Add one frame row to ``videos``; returns why the row is malformed, or ``None``."""
    fields = line.split()
    if len(fields) != 5:
        return f"expected 5 space-separated fields ({_HEADER}), got {len(fields)}"
    vid, index_text, frame_text, path, label_text = fields
    index, frame_id = _int_field("video_id", index_text), _int_field("frame_id", frame_text)
    labels = _parse_labels(label_text, require_labels)
    for parsed in (index, frame_id, labels):
        if isinstance(parsed, str):
            return parsed
    video = videos.get(vid)
    if video is None:
        if owner.setdefault(index, vid) != vid:
            return f"video_id {index} is already used by original_vido_id {owner[index]!r}"
        video = videos[vid] = _Video(index, lineno, line, labels)
    elif index != video.index:
        return f"video_id {index} differs from {video.index} on line {video.lineno} for video {vid!r}"
    elif labels != video.labels:
        return (f"labels differ from {','.join(map(str, video.labels))} on line {video.lineno}: "
                f"all frames of video {vid!r} must have the same labels")
    if frame_id in video.frames:
        return f"frame_id {frame_id} of video {vid!r} is listed twice"
    video.frames[frame_id] = join_prefix(prefix, path)
    return None


def read_frame_list(list_path: str, path_prefix: str = "", require_labels: bool = True) -> list[FrameRecord]:
    """Read a PySlowFast frame list into one record per video (see the module docstring).

    Args:
        list_path: the frame list (any iopath path).
        path_prefix: joined to every relative frame path (``DATA.PATH_PREFIX``).
        require_labels: when False an empty ``labels`` field is accepted as label ``-1``
            (unlabelled lists for MAE pretraining).

    Returns:
        :class:`FrameRecord` per video, in order of each video's first row; ``frames`` ordered by
        ``frame_id``. A header-only list gives ``[]``.

    Raises:
        FileNotFoundError: ``list_path`` does not exist (the message names it).
        ListFormatError: ``"{file}:{lineno}: {why}: {line!r}"`` for a missing or wrong header, a row
            without exactly 5 fields, a non-integer or negative ``video_id`` / ``frame_id``, a
            ``video_id`` not one-to-one with ``original_vido_id``, a repeated ``frame_id``, a missing,
            negative or non-integer label, labels that differ between frames of a video, or frame ids
            that are not ``0 .. n-1`` (reported at the video's first row).
    """
    if not g_pathmgr.exists(list_path):
        raise FileNotFoundError(f"frame list not found: {list_path}")
    videos: dict[str, _Video] = {}
    owner: dict[int, str] = {}  # video_id -> original_vido_id
    header = False
    with g_pathmgr.open(list_path, "r") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if header:
                why = _add_row(videos, owner, line, lineno, path_prefix, require_labels)
            else:
                header = tuple(line.split()) in HEADERS
                why = None if header else f"expected the header '{_HEADER}'"
            if why:
                raise ListFormatError(list_path, lineno, why, line)
    if not header:
        raise ListFormatError(list_path, 1, f"empty file: expected the header '{_HEADER}'", "")
    records = []
    for vid, video in videos.items():
        n = len(video.frames)
        if max(video.frames) != n - 1:  # ids are distinct and >= 0, so this finds any gap
            gap = min(set(range(n)) - set(video.frames))
            raise ListFormatError(list_path, video.lineno, f"video {vid!r} has no frame_id {gap} "
                                  f"(frame ids must be 0 .. n-1; got {n} frames up to {max(video.frames)})",
                                  video.line)
        records.append(FrameRecord(path=join_prefix(path_prefix, vid), label=video.labels[0],
                                   frames=tuple(video.frames[k] for k in range(n)), video_id=vid))
    logger.debug("read %d videos (%d frames) from %s", len(records), sum(len(r.frames) for r in records), list_path)
    return records


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
    """:class:`~hiera_video.data.decoders.VideoReader` over the JPEG frames of one :class:`FrameRecord`.

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
        idx = [min(i, self.num_frames - 1) for i in _check_indices(indices)]
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
    :func:`~hiera_video.data.decoders.decode_clips` (same ``indices_fn`` contract, same result).

    Args:
        record: the video (:func:`read_frame_list`).
        indices_fn: ``(num_frames, fps) -> [indices of clip 0, indices of clip 1, ...]``, called once
            with ``len(record.frames)`` and ``fps``.
        fps: the rate the frames were extracted at (frames/s, ``DATA.FRAME_FPS``).

    Returns:
        :class:`~hiera_video.data.decoders.DecodedClips`: ``clips`` uint8 ``(T, H, W, C)`` each;
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
        frames = reader.get_frames(union)
        pos = {i: k for k, i in enumerate(union)}
        clips = [frames[[pos[i] for i in c]] for c in clips_idx]
        return DecodedClips(clips=clips, indices=clips_idx, fps=reader.fps, num_frames=n)
