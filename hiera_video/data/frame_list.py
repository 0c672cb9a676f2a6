"""Videos stored as JPEG frames: PySlowFast frame lists (the reader of their frames: ``decoding.jpeg``).

A frame list (what :func:`hiera_video.prep.extract_frames.write_frame_list` and ``data_prep/extract_frames.py``
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

:class:`~hiera_video.data.decoding.jpeg.FrameReader` serves a listed video's frames through the
``VideoReader`` interface and :func:`~hiera_video.data.decoding.jpeg.decode_frame_clips` mirrors
``decode_clips``, so datasets sample frames and videos with the same code.

Source: the list format follows PySlowFast ``slowfast/datasets/utils.py`` ``load_image_lists``
(header check, 5 whitespace-separated fields, ``"``-stripped comma-separated labels, rows grouped by
``original_vido_id``); unlike it, rows are ordered by ``frame_id`` rather than file order, and
malformed rows are ``file:line`` errors instead of asserts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import ListNotFoundError

from .lists import BOM, ListFormatError, join_prefix

logger = logging.getLogger(__name__)

__all__ = ["FrameRecord", "read_frame_list", "HEADERS"]

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
        lineno: the list line of the video's first row (not compared).
    """

    path: str
    label: int
    frames: tuple[str, ...]
    video_id: str
    lineno: int = field(default=0, compare=False)


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
        raise ListNotFoundError(f"frame list not found: {list_path}")
    videos: dict[str, _Video] = {}
    owner: dict[int, str] = {}  # video_id -> original_vido_id
    header = False
    with g_pathmgr.open(list_path, "r") as f:
        for lineno, raw in enumerate(f, start=1):
            line = raw.rstrip("\r\n")
            if lineno == 1:
                line = line.lstrip(BOM)  # a UTF-8 byte-order mark is tolerated
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
                                   frames=tuple(video.frames[k] for k in range(n)), video_id=vid,
                                   lineno=video.lineno))
    logger.debug("read %d videos (%d frames) from %s", len(records), sum(len(r.frames) for r in records), list_path)
    return records
