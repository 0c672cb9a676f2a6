"""Extract JPEG frames from videos at a fixed frame rate (AVA-style frame folders + PySlowFast frame lists).

Layout: ``out_root/{video_id}/{video_id}_{k:06d}.jpg`` with ``k = 1, 2, ...`` and ``video_id`` the
file name without extension (ids must be unique over the input).

Time mapping (exact rational arithmetic; ``fps`` = output frames/s, ``src_fps`` = the stream's
average frame rate, source frame ``j`` (0-based, counted in decode order) shown at ``j / src_fps``
seconds):

- output frame ``i = k - 1`` (0-based; this is ``frame_id`` in the frame list) is at time
  ``t_i = start + i / fps`` seconds;
- it is the source frame NEAREST to ``t_i``: ``j = floor(t_i * src_fps + 1/2)`` (ties go to the
  later frame), clamped to the last decodable frame;
- frames are written while ``t_i < end`` (``end`` defaults to the video's duration
  ``num_frames / src_fps``; an ``end`` past it is cut there).

So for AVA (``--ava``: ``fps=30, start=900, end=1800``) file ``k`` shows time ``900 + (k - 1) / 30``
and the keyframe at second ``s`` is ``frame_id = (s - 900) * 30``, i.e. file
``{vid}_{(s - 900) * 30 + 1:06d}.jpg`` — PySlowFast's convention (0-based frame_id in the list,
1-based numbers in the names, as ffmpeg's ``%06d`` writes them). 27000 frames per movie.

Videos are decoded from the start with PyAV (no seeking, so the index is exact even where pts
are unreliable; a late ``start`` costs decode time). Each JPEG (Pillow) is
written to a temp name and renamed; frames with a higher number left by an earlier run with
other settings are removed. Resumable: a video whose folder already holds the expected number
of JPEGs, as recorded in its marker ``{video_id}/.extract.json`` (written last: settings and
frame count) by a finished run with the same settings, is "skipped"; otherwise it is rewritten.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from collections.abc import Sequence
from fractions import Fraction
from functools import partial

from hiera_video.data.lists import ListFormatError
from hiera_video.prep.folders import VIDEO_EXTENSIONS
from hiera_video.prep.resize import find_videos, write_failed_csv
from hiera_video.utils.atomic import atomic_write_text
from hiera_video.utils.errors import ListError
from hiera_video.utils.parallel import FAILED, SKIPPED, ItemResult, run_parallel

__all__ = [
    "AVA_PRESET",
    "FAILED_CSV",
    "FRAME_LIST_HEADER",
    "expected_count",
    "extract_tree",
    "extract_video",
    "frame_name",
    "list_inputs",
    "target_indices",
    "write_frame_list",
]

AVA_PRESET = {"fps": 30, "start_sec": 900.0, "end_sec": 1800.0}
FAILED_CSV = "extract_failed.csv"
FRAME_LIST_HEADER = "original_vido_id video_id frame_id path labels"
_MARKER = ".extract.json"  # settings + frame count, written last; frames of other settings are redone
_SPLIT = re.compile(r"\s*,\s*|\s+")


def frame_name(video_id: str, k: int) -> str:
    """Relative path of 1-based output frame ``k``: ``{video_id}/{video_id}_{k:06d}.jpg``."""
    return f"{video_id}/{video_id}_{k:06d}.jpg"


def _frac(x) -> Fraction:
    return x if isinstance(x, Fraction) else Fraction(str(x))


def expected_count(num_src: int, src_fps, fps, start_sec: float = 0.0, end_sec: float | None = None) -> int:
    """Number of output frames: ``#{i >= 0 : start + i / fps < min(end, num_src / src_fps)}``.

    Raises:
        ValueError: non-positive ``fps``/``src_fps``, negative ``start_sec`` or ``end_sec <= start_sec``.
    """
    fps, src_fps, start = _frac(fps), _frac(src_fps), _frac(start_sec)
    if fps <= 0 or src_fps <= 0 or start < 0:
        raise ValueError(f"need fps > 0, src_fps > 0, start_sec >= 0 (got {fps}, {src_fps}, {start})")
    end = Fraction(num_src) / src_fps
    if end_sec is not None:
        if _frac(end_sec) <= start:
            raise ValueError(f"end_sec ({end_sec}) must be after start_sec ({start_sec})")
        end = min(end, _frac(end_sec))
    return max(0, math.ceil((end - start) * fps))


def target_indices(count: int, src_fps, fps, start_sec: float = 0.0) -> list[int]:
    """Source frame index for output frames ``i = 0 .. count-1``: ``floor((start + i / fps) * src_fps + 1/2)``
    (before clamping to the last decodable frame)."""
    fps, src_fps, start = _frac(fps), _frac(src_fps), _frac(start_sec)
    return [math.floor((start + Fraction(i) / fps) * src_fps + Fraction(1, 2)) for i in range(count)]


def _probe(path: str) -> tuple[Fraction, int]:
    """``(src_fps, header frame count)``; the count is estimated from the duration when missing."""
    from hiera_video.data.decoding import open_video

    with open_video(path) as reader:  # raises VideoDecodeError with a reason
        import av

        with av.open(reader._local, metadata_errors="ignore") as c:  # exact rational rate
            s = c.streams.video[0]
            rate = next((r for r in (s.average_rate, s.guessed_rate, s.base_rate) if r and r > 0), None)
        src_fps = Fraction(rate).limit_denominator(1001) if rate else _frac(reader.fps)
        return src_fps, int(reader.num_frames)


def _existing(out_dir: str, video_id: str) -> dict[int, str]:
    found = {}
    for p in glob.glob(os.path.join(glob.escape(out_dir), f"{glob.escape(video_id)}_*.jpg")):
        stem = os.path.basename(p)[len(video_id) + 1 : -4]
        if stem.isdigit():
            found[int(stem)] = p
    return found


def _write_jpeg(path: str, rgb, quality: int) -> None:
    from PIL import (
        Image,  # torchvision.io's JPEG encoder is deprecated since torchvision 0.29
    )

    tmp = f"{path}.tmp"
    Image.fromarray(rgb).save(tmp, format="JPEG", quality=int(quality))
    os.replace(tmp, path)


def _settings(fps, start_sec, end_sec, quality) -> str:
    return json.dumps({"fps": str(_frac(fps)), "start_sec": str(_frac(start_sec)),
                       "end_sec": None if end_sec is None else str(_frac(end_sec)), "quality": int(quality)})


def _done_count(out_dir: str, settings: str) -> int:
    """Frame count recorded by a finished run with the same settings, else -1."""
    try:
        with open(os.path.join(out_dir, _MARKER)) as f:
            marker = json.load(f)
        return int(marker["num_frames"]) if marker["settings"] == json.loads(settings) else -1
    except (OSError, ValueError, KeyError, TypeError):
        return -1


def extract_video(path: str, out_root: str, video_id: str, fps=30, start_sec: float = 0.0,
                  end_sec: float | None = None, quality: int = 90) -> ItemResult:
    """Write the JPEG frames of one video (see the module docstring for names and time mapping).

    Returns:
        ItemResult with ``value = {"video_id", "num_frames", "src_fps"}`` and status "ok", or
        "skipped" when a finished run with the same settings left all its frames there.
        A decoder error after some frames ends the stream there (the frames so far count);
        at most ``2 * header_count + 16`` source frames' worth of output is written (a header
        that undercounts by more than that truncates the output).

    Raises:
        VideoDecodeError: the video cannot be opened or has no decodable frame.
        ValueError: bad ``fps``/window, or ``start_sec`` at or past the video's end.
        av.FFmpegError: decoding fails before the window is written.
    """
    import av

    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    src_fps, num_src = _probe(path)
    out_dir = os.path.join(out_root, video_id)
    have = _existing(out_dir, video_id)
    settings = _settings(fps, start_sec, end_sec, quality)
    done = _done_count(out_dir, settings)
    if done > 0 and set(have) == set(range(1, done + 1)):
        return ItemResult(video_id, SKIPPED, value={"video_id": video_id, "num_frames": done,
                                                    "src_fps": float(src_fps)})
    os.makedirs(out_dir, exist_ok=True)
    if os.path.exists(os.path.join(out_dir, _MARKER)):
        os.remove(os.path.join(out_dir, _MARKER))
    # Targets for a generous count; the real stream length cuts them below.
    upper = expected_count(max(num_src, 1) * 2 + 16, src_fps, fps, start_sec, end_sec)
    targets = target_indices(upper, src_fps, fps, start_sec)
    start = _frac(start_sec)
    written, n_src, last = 0, 0, None
    with av.open(path, metadata_errors="ignore") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for j, frame in enumerate(container.decode(stream)):
                n_src, last = j + 1, frame
                if written >= len(targets):
                    break
                if targets[written] > j:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                while written < len(targets) and targets[written] <= j:
                    written += 1
                    _write_jpeg(os.path.join(out_root, frame_name(video_id, written)), rgb, quality)
        except av.FFmpegError:
            if n_src == 0:
                raise
    if n_src == 0:
        raise ValueError("no decodable video frames")
    # Stream ended: frames whose time is still before the real end take the last frame.
    total = min(len(targets), expected_count(n_src, src_fps, fps, start_sec, end_sec))
    if total == 0:
        raise ValueError(f"start_sec {float(start)} s is at or past the video's end ({n_src / float(src_fps):.3f} s)")
    if written < total:
        rgb = last.to_ndarray(format="rgb24")
        while written < total:
            written += 1
            _write_jpeg(os.path.join(out_root, frame_name(video_id, written)), rgb, quality)
    for k, p in _existing(out_dir, video_id).items():  # stale frames of an earlier, longer run
        if k > written:
            os.remove(p)
    atomic_write_text(os.path.join(out_dir, _MARKER), json.dumps({"settings": json.loads(settings),
                                                                   "num_frames": written}))
    return ItemResult(video_id, value={"video_id": video_id, "num_frames": written, "src_fps": float(src_fps)})


def _read_list(list_path: str, path_prefix: str | None) -> list[tuple[str, str | None]]:
    prefix = os.path.dirname(os.path.abspath(list_path)) if path_prefix is None else path_prefix
    rows = []
    with open(list_path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            fields = _SPLIT.split(line.strip())
            if len(fields) > 2:
                raise ListFormatError(list_path, n, f"too many fields ({len(fields)}, expected 'path [label]')",
                                      line.rstrip("\r\n"))
            path = fields[0] if os.path.isabs(fields[0]) else os.path.join(prefix, fields[0])
            rows.append((path, fields[1] if len(fields) > 1 else None))
    return rows


def list_inputs(in_root_or_list: str, extensions: Sequence[str] = VIDEO_EXTENSIONS,
                path_prefix: str | None = None) -> list[tuple[str, str]]:
    """``[(video_id, path)]`` from a folder (recursive, sorted) or a list file (``path [label]`` per
    line; relative paths joined to ``path_prefix``, default the list's folder), in input order.

    Raises:
        FileNotFoundError: the input does not exist.
        ValueError: two videos share a ``video_id`` (file name without extension).
    """
    if os.path.isdir(in_root_or_list):
        paths = [os.path.join(in_root_or_list, p) for p in find_videos(in_root_or_list, extensions)]
    elif os.path.isfile(in_root_or_list):
        paths = [p for p, _ in _read_list(in_root_or_list, path_prefix)]
    else:
        raise FileNotFoundError(f"no such folder or list: {in_root_or_list}")
    ids = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ValueError(f"video ids (file names without extension) must be unique; repeated: {dups[:5]}")
    return list(zip(ids, paths))


def _labels_by_id(list_path: str) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {}
    for path, label in _read_list(list_path, ""):
        vid = os.path.splitext(os.path.basename(path))[0]
        if label is not None and label not in labels.setdefault(vid, []):
            labels[vid].append(label)
    return labels


def write_frame_list(path: str, videos: Sequence[tuple[str, int]], labels: dict[str, list[str]] | None = None) -> int:
    """Write a PySlowFast frame list for ``videos = [(video_id, num_frames)]``; returns the row count.

    Header ``original_vido_id video_id frame_id path labels`` (PySlowFast's spelling), space-separated;
    one row per frame: the string id, the video's 0-based position in ``videos``, the 0-based
    ``frame_id``, the path relative to the frames root and ``""`` (or the video's labels joined
    by commas when ``labels`` has them).
    """
    lines = [FRAME_LIST_HEADER]
    for index, (vid, count) in enumerate(videos):
        lab = ",".join((labels or {}).get(vid, [])) or '""'
        lines += [f"{vid} {index} {i} {frame_name(vid, i + 1)} {lab}" for i in range(count)]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def _extract_item(item: tuple[str, str], out_root: str, **kw) -> ItemResult:
    vid, path = item
    r = extract_video(path, out_root, vid, **kw)
    return ItemResult(item, r.status, value=r.value)


def extract_tree(in_root_or_list: str, out_root: str, fps=30, start_sec: float = 0.0, end_sec: float | None = None,
                 quality: int = 90, workers: int = 0, extensions: Sequence[str] = VIDEO_EXTENSIONS,
                 path_prefix: str | None = None, frame_list: str | None = None,
                 labels_from_list: str | None = None, disable_bar: bool | None = None) -> list[ItemResult]:
    """Extract every input video (see :func:`list_inputs`) into ``out_root``; never raises per video.

    Failures (``"Type: message"``) go to ``out_root/extract_failed.csv`` (``path,error``; header only
    when none failed). With ``frame_list`` a PySlowFast frame list of the extracted and skipped
    videos is written (:func:`write_frame_list`; labels from the Kinetics list ``labels_from_list``).

    Raises:
        FileNotFoundError / ValueError: bad input (see :func:`list_inputs`) or bad ``fps``/window.
    """
    expected_count(1, 1, fps, start_sec, end_sec)  # validate before starting workers
    items = list_inputs(in_root_or_list, extensions, path_prefix)
    labels = _labels_by_id(labels_from_list) if labels_from_list else None
    if labels is not None:
        unlabelled = [vid for vid, _ in items if not labels.get(vid)]
        if unlabelled:
            raise ListError(f"{labels_from_list}: gives no label to {len(unlabelled)} of the {len(items)} videos "
                            f"(e.g. {unlabelled[0]!r}); the frame list would have empty labels")
    fn = partial(_extract_item, out_root=out_root, fps=fps, start_sec=start_sec, end_sec=end_sec, quality=quality)
    results = run_parallel(fn, items, num_workers=workers, desc="frames", disable_bar=disable_bar)
    for r in results:
        r.item = r.item[1] if r.status == FAILED else r.item  # failed rows name the video's path
    os.makedirs(out_root, exist_ok=True)
    write_failed_csv(os.path.join(out_root, FAILED_CSV), results)
    if frame_list:
        done = [(r.value["video_id"], r.value["num_frames"]) for r in results if r.status != FAILED]
        write_frame_list(frame_list, done, labels)
    return results
