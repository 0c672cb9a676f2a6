"""Decode-check every video of a Kinetics-format list.

For each line, :func:`check_video` opens the video (``open_video``), takes the decoder's
real frame count (``count_frames``: PyAV decodes the stream once; a truncated AVI whose
header claims more frames reports what really decodes) and decodes the first, middle and
last frame. A decord failure is retried with PyAV, as :func:`~hiera_video.data.decoding.decode_clips`
does in training, so a video is "bad" only when no backend reads it.

:func:`validate_list` runs the checks with :func:`~hiera_video.utils.parallel.run_parallel`
and :func:`write_reports` writes ``bad_videos.csv`` (``path,error``, paths as written in
the list), ``video_info.csv`` (every line: path, label, status, backend, fps, frames,
height, width, error) and, optionally, a cleaned list holding only the good lines,
unchanged and in order. Malformed list lines are reported as bad entries, not raised.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import List, Optional

import pandas as pd

from hiera_video.data.decoding import (
    BACKENDS,
    BackendUnavailableError,
    VideoDecodeError,
    check_backend,
    open_video,
)
from hiera_video.data.decoding.base import container_frame_count, local_path, truncation
from hiera_video.data.lists import iter_list_lines, join_prefix
from hiera_video.utils.atomic import atomic_write_text
from hiera_video.utils.parallel import ItemResult, run_parallel

__all__ = ["ListEntry", "VideoInfo", "read_list_entries", "check_video", "validate_list", "write_reports",
           "INFO_COLUMNS"]

INFO_COLUMNS = ["path", "label", "status", "backend", "fps", "frames", "height", "width", "error"]


@dataclass(frozen=True)
class ListEntry:
    """One non-blank list line: ``lineno`` (1-based), the raw ``line`` (no newline), the
    ``path`` as written (``""`` if malformed), the resolved ``full_path``, ``label``
    (-1 if malformed) and ``error`` (why the line is malformed, else ``""``)."""

    lineno: int
    line: str
    path: str
    full_path: str
    label: int
    error: str = ""


@dataclass(frozen=True)
class VideoInfo:
    """A decodable video: ``fps`` (frames/s), ``frames`` (real decodable count), ``height``
    and ``width`` (pixels), ``backend`` that decoded it (``"pyav (decord failed)"`` after a retry)."""

    fps: float
    frames: int
    height: int
    width: int
    backend: str


def read_list_entries(list_path: str, path_prefix: str = "", separator: str = "") -> List[ListEntry]:
    """Read a list (``DATA.PATH_PREFIX`` = ``path_prefix``, ``DATA.PATH_LABEL_SEPARATOR`` =
    ``separator``) keeping every non-blank line's raw text; malformed lines get ``error``.

    Raises:
        FileNotFoundError: ``list_path`` does not exist.
    """
    entries = []
    for lineno, line, parsed in iter_list_lines(list_path, separator):
        if isinstance(parsed, str):
            entries.append(ListEntry(lineno, line, "", "", -1, f"{list_path}:{lineno}: {parsed}"))
        else:
            entries.append(ListEntry(lineno, line, parsed[0], join_prefix(path_prefix, parsed[0]), parsed[1]))
    return entries


def _probe(path: str, backend: str) -> VideoInfo:
    with open_video(path, backend) as reader:
        claimed = container_frame_count(local_path(path))  # the container's claim, whatever the backend
        n = reader.count_frames()
        if n <= 0:
            raise VideoDecodeError(path, "no decodable video frames")
        wanted = sorted({0, n // 2, n - 1})
        frames = reader.get_frames(wanted)
        if reader.decoded_num_frames is not None and reader.decoded_num_frames < n:
            n = reader.decoded_num_frames  # a pass found fewer frames than the first count
        reason = truncation(claimed, n)
        if reason:  # partial: training would use what decodes, but the file is damaged
            raise VideoDecodeError(path, reason)
        return VideoInfo(fps=float(reader.fps), frames=int(n), height=int(frames.shape[1]),
                         width=int(frames.shape[2]), backend=backend)


def check_video(path: str, backend: str = "pyav") -> VideoInfo:
    """Open ``path``, count its real frames and decode the first, middle and last one.

    Args:
        path: the video (any iopath path).
        backend: "pyav", "decord" or "torchcodec" (``DATA.DECODING_BACKEND``); a decord or
            torchcodec failure is retried with PyAV, as in training.

    Returns:
        :class:`VideoInfo`.

    Raises:
        VideoDecodeError: missing/empty file, not a video, or no frame decodes.
        ValueError: unknown backend.
    """
    try:
        return _probe(path, backend)
    except BackendUnavailableError:
        raise
    except VideoDecodeError as first:
        if backend == "pyav" or not os.path.exists(path):
            raise
        try:
            info = _probe(path, "pyav")
        except VideoDecodeError:
            raise first from None
        return VideoInfo(info.fps, info.frames, info.height, info.width, f"pyav ({backend} failed)")


def _check_entry(backend: str, entry: ListEntry) -> ItemResult:
    if entry.error:
        return ItemResult(entry, "failed", f"ListFormatError: {entry.error}")
    return ItemResult(entry, "ok", value=check_video(entry.full_path, backend))


def validate_list(list_path: str, path_prefix: str = "", separator: str = "", backend: str = "pyav",
                  num_workers: int = 2) -> List[ItemResult]:
    """Check every entry of a list with ``num_workers`` processes (0: this process).

    Returns:
        One :class:`ItemResult` per non-blank line, in list order: ``item`` is the
        :class:`ListEntry`, ``status`` "ok" (``value``: :class:`VideoInfo`) or "failed"
        (``error``: ``"Type: message"``).

    Raises:
        FileNotFoundError: ``list_path`` does not exist.
        ValueError: unknown backend.
        BackendUnavailableError: torchcodec asked for but not loadable (FFmpeg libraries missing).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown decoding backend {backend!r}; expected one of {BACKENDS}")
    check_backend(backend)
    entries = read_list_entries(list_path, path_prefix, separator)
    return run_parallel(functools.partial(_check_entry, backend), entries, num_workers, desc="validating videos")


def write_reports(results: List[ItemResult], out_dir: str, clean_list: Optional[str] = None) -> List[str]:
    """Write ``{out_dir}/bad_videos.csv`` (``path,error``), ``{out_dir}/video_info.csv`` and,
    if ``clean_list`` is given, the good lines of the list (raw text, list order).

    Returns:
        The paths written. Files are replaced atomically.
    """
    bad = [{"path": r.item.path or r.item.line, "error": r.error} for r in results if r.status != "ok"]
    info = []
    for r in results:
        v: Optional[VideoInfo] = r.value if r.status == "ok" else None
        info.append({"path": r.item.path or r.item.line, "label": r.item.label, "status": r.status,
                     "backend": v.backend if v else "", "fps": round(v.fps, 3) if v else "",
                     "frames": v.frames if v else "", "height": v.height if v else "",
                     "width": v.width if v else "", "error": r.error})
    written = [os.path.join(out_dir, "bad_videos.csv"), os.path.join(out_dir, "video_info.csv")]
    atomic_write_text(written[0], pd.DataFrame(bad, columns=["path", "error"]).to_csv(index=False, lineterminator="\n"))
    atomic_write_text(written[1], pd.DataFrame(info, columns=INFO_COLUMNS).to_csv(index=False, lineterminator="\n"))
    if clean_list:
        atomic_write_text(clean_list, "".join(f"{r.item.line}\n" for r in results if r.status == "ok"))
        written.append(clean_list)
    return written
