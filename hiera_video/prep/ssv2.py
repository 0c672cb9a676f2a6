"""Something-Something-v2 list preparation: official JSON files -> Kinetics-format or frame lists.

:func:`prepare_ssv2` turns ``something-something-v2-{labels,train,validation}.json`` into
``{split}.csv`` lists of video files, ``classes.json`` and ``missing.csv``;
:func:`prepare_ssv2_frames` writes PySlowFast frame lists of extracted JPEG frames instead
(``DATA.INPUT_FORMAT frames``). CLI: ``data_prep/ssv2.py`` (``--videos`` or ``--frames``).

Source: annotation format and "strip the brackets from the template" from PySlowFast
``slowfast/datasets/ssv2.py`` (re-implemented).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hiera_video.prep.stats import PrepStats

__all__ = ["SSv2PrepResult", "SSv2PrepStats", "count_frames", "prepare_ssv2", "prepare_ssv2_frames", "read_labels",
           "read_split", "strip_template"]


def strip_template(template: str) -> str:
    """``"Holding [something] next to [something]"`` -> ``"Holding something next to something"``."""
    return template.replace("[", "").replace("]", "")


@dataclass
class SSv2PrepStats(PrepStats):
    """Per-split counts: ``annotated`` entries, clips ``found`` / ``missing``, entries whose
    template is not in the labels file (``unknown_template``, skipped). Frame mode only:
    ``frames`` (rows written to the frame list) and ``gaps`` (frame folders whose numbering
    has a hole; counted in ``missing`` too)."""

    unknown_template: int = 0
    unknown_examples: list[str] = field(default_factory=list)
    frames: int = 0
    gaps: int = 0

    def notes(self) -> list[str]:
        out = []
        if self.frames:
            out.append(f"{self.frames} frames")
        if self.gaps:
            out.append(f"{self.gaps} of the missing have a gap in their frame numbers")
        if self.unknown_template:
            out.append(f"{self.unknown_template} with a template not in the labels file skipped "
                       f"(e.g. {self.unknown_examples[0]!r})")
        return out


@dataclass
class SSv2PrepResult:
    """``classes`` ({template: id}), per-split ``stats``, the ``written`` paths and the lists'
    ``input_format`` (``"video"``: ``path label`` lists; ``"frames"``: frame lists)."""

    classes: dict[str, int]
    stats: dict[str, SSv2PrepStats]
    written: list[str]
    input_format: str = "video"


def _load_json(path: str, what: str):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from e


def read_labels(path: str) -> dict[str, int]:
    """The labels file ``{template: "id"}`` as ``{template: int id}``.

    Raises:
        FileNotFoundError / ValueError: missing file, bad JSON, not an object, an id that is
            not a non-negative integer, or two templates with the same id.
    """
    raw = _load_json(path, "labels")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a non-empty JSON object {{template: id}}")
    classes: dict[str, int] = {}
    for template, value in raw.items():
        try:
            label = int(value)
        except (TypeError, ValueError):
            raise ValueError(f"{path}: id of {template!r} is not an integer: {value!r}") from None
        if label < 0:
            raise ValueError(f"{path}: negative id {label} for {template!r}")
        classes[strip_template(str(template))] = label
    if len(set(classes.values())) != len(classes):
        raise ValueError(f"{path}: several templates share an id")
    return classes


def read_split(path: str) -> list[dict]:
    """A train/validation file: a list of objects with ``id`` and ``template``.

    Raises:
        FileNotFoundError / ValueError: missing file, bad JSON, wrong structure.
    """
    raw = _load_json(path, "annotation")
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of {{id, template, ...}} objects")
    for k, entry in enumerate(raw):
        if not isinstance(entry, dict) or "id" not in entry or "template" not in entry:
            raise ValueError(f"{path}: entry {k} lacks 'id' or 'template': {str(entry)[:200]}")
        clip_id = str(entry["id"])
        if not clip_id or "/" in clip_id or any(c.isspace() for c in clip_id):
            raise ValueError(f"{path}: entry {k} has an invalid id {entry['id']!r}")
    return raw


def _prepare(labels_path: str, split_paths: dict[str, str], out_dir: str,
             locate: Callable[[str], tuple[object | None, str, bool]],
             write_list: Callable[[str, list[tuple[str, int, object]]], None],
             stat: Callable[[SSv2PrepStats, object], None] | None = None) -> SSv2PrepResult:
    """Shared driver: ``locate(clip_id) -> (found or None, expected, gap)`` finds a clip;
    ``write_list(path, [(clip_id, label, found)])`` writes one split's list; ``stat(stats, found)``
    updates counts per found clip. Every input is read and checked before anything is written."""
    from hiera_video.utils.atomic import atomic_write_text

    classes = read_labels(labels_path)
    splits = {name: read_split(p) for name, p in split_paths.items()}
    stats: dict[str, SSv2PrepStats] = {}
    missing_buf = io.StringIO()
    missing_csv = csv.writer(missing_buf, lineterminator="\n")
    missing_csv.writerow(["split", "id", "template", "expected"])
    written: list[str] = []
    for name, entries in splits.items():
        st = stats[name] = SSv2PrepStats(annotated=len(entries))
        rows = []
        for entry in entries:
            clip_id, template = str(entry["id"]), strip_template(str(entry["template"]))
            label = classes.get(template)
            if label is None:
                st.unknown_template += 1
                if len(st.unknown_examples) < 3:
                    st.unknown_examples.append(template)
                continue
            found, expected, gap = locate(clip_id)
            if found is not None:
                st.found += 1
                rows.append((clip_id, label, found))
                if stat is not None:
                    stat(st, found)
            else:
                st.missing += 1
                st.gaps += int(gap)
                missing_csv.writerow([name, clip_id, template, expected])
        path = os.path.join(out_dir, f"{name}.csv")
        write_list(path, rows)
        written.append(path)
    for name, text in (("classes.json", json.dumps(dict(sorted(classes.items(), key=lambda kv: kv[1])), indent=1) + "\n"),
                       ("missing.csv", missing_buf.getvalue())):
        atomic_write_text(os.path.join(out_dir, name), text)
        written.append(os.path.join(out_dir, name))
    return SSv2PrepResult(classes=classes, stats=stats, written=written)


def prepare_ssv2(labels_path: str, split_paths: dict[str, str], videos_root: str, out_dir: str,
                 ext: str = "webm") -> SSv2PrepResult:
    """Write ``{out}/{split}.csv`` (``{id}.{ext} label``, relative to ``videos_root``),
    ``{out}/classes.json`` ({template: id}) and ``{out}/missing.csv``
    (``split,id,template,expected``) atomically.

    Clips are ``{videos_root}/{id}.{ext}``; a missing clip goes to ``missing.csv`` only;
    an entry whose bracket-stripped template is not in the labels file is skipped and counted.

    Raises:
        FileNotFoundError / ValueError: unreadable or malformed input, ``videos_root`` not a folder.
    """
    from hiera_video.utils.atomic import atomic_write_text

    if not os.path.isdir(videos_root):
        raise FileNotFoundError(f"videos folder not found: {videos_root}")
    ext = ext.lstrip(".")
    if not ext or "/" in ext:
        raise ValueError(f"invalid extension {ext!r}")

    def locate(clip_id: str) -> tuple[str | None, str, bool]:
        rel = f"{clip_id}.{ext}"
        return (rel if os.path.isfile(os.path.join(videos_root, rel)) else None), rel, False

    def write_list(path: str, rows: list) -> None:
        atomic_write_text(path, "".join(f"{rel} {label}\n" for _, label, rel in rows))

    return _prepare(labels_path, split_paths, out_dir, locate, write_list)


def count_frames(frames_root: str, clip_id: str) -> tuple[int, int, int]:
    """Frames of one extracted clip: ``(n, first_absent, present)``.

    Frames are ``{frames_root}/{clip_id}/{clip_id}_{k:06d}.jpg``, ``k = 1, 2, ...`` (the layout of
    ``data_prep/extract_frames.py`` and of ffmpeg's ``%06d``); ``present`` is how many such files
    there are (other files, other paddings such as ``%07d``, and ``k = 0`` are ignored). When they
    are exactly ``1..n``, returns ``(n, 0, n)``; otherwise (no folder, an empty one, or a hole in
    the numbering) ``n`` is 0 and ``first_absent`` is the lowest missing ``k`` (1 when there are
    no frames).
    """
    try:
        names = os.listdir(os.path.join(frames_root, clip_id))
    except (FileNotFoundError, NotADirectoryError):
        return 0, 1, 0
    pattern = re.compile(re.escape(clip_id) + r"_(\d{6,})\.jpg")
    digits = [m.group(1) for m in map(pattern.fullmatch, names) if m]
    numbers = {int(d) for d in digits if d == f"{int(d):06d}"} - {0}  # exactly the names frame_name() gives
    if not numbers:
        return 0, 1, 0
    top = max(numbers)
    if len(numbers) == top:
        return top, 0, top
    return 0, next(k for k in range(1, top + 1) if k not in numbers), len(numbers)


def _write_frame_rows(path: str, rows: list[tuple[str, int, int]]) -> None:
    """:func:`hiera_video.prep.extract_frames.write_frame_list`'s format for ``[(clip_id, label, num_frames)]``,
    streamed (an SSv2 train list has millions of rows); the label fills the ``labels`` column."""
    from hiera_video.prep.extract_frames import FRAME_LIST_HEADER, frame_name
    from hiera_video.utils.atomic import atomic_write

    def write(f) -> None:
        f.write((FRAME_LIST_HEADER + "\n").encode("utf-8"))
        for index, (vid, label, count) in enumerate(rows):
            f.write("".join(f"{vid} {index} {i} {frame_name(vid, i + 1)} {label}\n"
                            for i in range(count)).encode("utf-8"))

    atomic_write(path, write)


def prepare_ssv2_frames(labels_path: str, split_paths: dict[str, str], frames_root: str,
                        out_dir: str) -> SSv2PrepResult:
    """Write PySlowFast frame lists ``{out}/{split}.csv`` for clips extracted to JPEG frames,
    with ``classes.json`` and ``missing.csv`` as :func:`prepare_ssv2` writes them, atomically.

    Frames are ``{frames_root}/{id}/{id}_{k:06d}.jpg``, ``k = 1 .. n`` (``data_prep/extract_frames.py``
    or ffmpeg ``-start_number 1 %06d``). Each list is space-separated with the header
    ``original_vido_id video_id frame_id path labels`` and one row per frame: the clip id, the clip's
    0-based position in the list, the 0-based frame index ``k - 1``, the path relative to
    ``frames_root`` (``DATA.PATH_PREFIX``) and the class id (the format of
    :func:`hiera_video.prep.extract_frames.write_frame_list`). A clip with no frame folder, an empty one, or a
    hole in its numbering is not listed; it goes to ``missing.csv`` with ``expected`` = the first
    absent frame (``{id}/{id}_000001.jpg`` when there are none). Only the numbering is checked:
    run the extraction to completion first (its frames are not decoded here).

    Raises:
        FileNotFoundError / ValueError: unreadable or malformed input, ``frames_root`` not a folder.
    """
    from hiera_video.prep.extract_frames import frame_name

    if not os.path.isdir(frames_root):
        raise FileNotFoundError(f"frames folder not found: {frames_root}")

    def locate(clip_id: str) -> tuple[int | None, str, bool]:
        n, first_absent, present = count_frames(frames_root, clip_id)
        return (n or None), frame_name(clip_id, first_absent or 1), not n and present > 0

    def stat(st: SSv2PrepStats, n: int) -> None:
        st.frames += n

    result = _prepare(labels_path, split_paths, out_dir, locate, _write_frame_rows, stat)
    result.input_format = "frames"
    return result
