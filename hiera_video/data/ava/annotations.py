"""AVA's annotation files: the label map, box CSVs (ground truth, person proposals, detections), excluded timestamps.

Formats (AVA v2.2, https://research.google.com/ava/download.html; PySlowFast ``slowfast/datasets/ava_helper.py`` and
the ActivityNet evaluator ``get_ava_performance.py`` read the same files):

* **Box CSV**, no header, one row per (box, action)::

      video_id,timestamp,x1,y1,x2,y2,action_id,person_id     # ground truth (ava_{train,val}_v2.2.csv)
      video_id,timestamp,x1,y1,x2,y2,,score                  # person proposals (column 7 empty or an id)
      video_id,timestamp,x1,y1,x2,y2,action_id,score         # detections (what the test writes, what we score)

  ``timestamp`` is the keyframe's second (an integer; ``0902`` and ``902.0`` are read as 902). Boxes are normalised
  to [0, 1] with the origin at the top left, ``x`` horizontal. Ground truth may omit ``person_id`` (7 columns).
  A row of 2 columns (``video_id,timestamp``) names an annotated keyframe without a box (the ActivityNet reader's
  convention); it is kept in :attr:`BoxTable.keyframes` only.
* **Excluded timestamps** (``ava_val_excluded_timestamps_v2.2.csv``): ``video_id,timestamp``, exactly 2 columns.
* **Label map** (``ava_action_list_v2.2_for_activitynet_2019.pbtxt``): blocks ``label { name: "..." label_id: N
  label_type: PERSON_MOVEMENT }``; the v2.1 dialect ``item { name: "..." id: N }`` is read too (any indentation, one
  field per line or several on a line).

Every malformed row or block raises :class:`~hiera_video.data.lists.ListFormatError` ``"{file}:{line}: {why}:
{text!r}"``; a missing file :class:`~hiera_video.utils.errors.ListNotFoundError`. Values are not range-checked here
(boxes outside [0, 1], ids outside the label map): the dataset and ``data_prep/ava.py`` count and report those.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Set, Tuple

import numpy as np
import pandas as pd
from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import ListError, ListNotFoundError

from ..lists import BOM, ListFormatError

__all__ = ["LabelMap", "BoxTable", "read_label_map", "read_box_csv", "read_exclusions", "keyframe_key",
           "check_box_row", "BOX_KINDS"]

#: The columns of a box CSV by kind; the 7th column is ``action_id`` and the 8th depends on the kind.
BOX_KINDS = {
    "groundtruth": ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "person_id"),
    "proposals": ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"),
    "detections": ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"),
}


def keyframe_key(video_id: str, timestamp: int) -> str:
    """The evaluator's key of a keyframe, ``"{video_id},{timestamp:04d}"`` (PySlowFast's ``make_image_key``)."""
    return f"{video_id},{int(timestamp):04d}"


@dataclass(frozen=True)
class LabelMap:
    """An AVA label map: ``ids`` ascending (1-based action ids, e.g. AVA v2.2's 60 evaluated classes) and ``names``
    / ``types`` by id (``types`` empty strings in the v2.1 dialect)."""

    ids: Tuple[int, ...]
    names: Dict[int, str]
    types: Dict[int, str]
    path: str = ""

    def name(self, action_id: int) -> str:
        return self.names.get(int(action_id), str(action_id))


@dataclass
class BoxTable:
    """The rows of a box CSV.

    Attributes:
        rows: DataFrame with the kind's columns (:data:`BOX_KINDS`): ``video_id`` str, ``timestamp`` int64, ``x1 y1 x2
            y2`` float64 (normalised, as written), ``action_id`` int64 (-1 where empty), and ``person_id`` int64 (-1
            where absent) or ``score`` float64; ``line`` int64 is each row's 1-based line in the file.
        keyframes: every ``(video_id, timestamp)`` the file names, box rows and 2-column rows alike.
        path: the file.
    """

    rows: pd.DataFrame
    keyframes: Set[Tuple[str, int]]
    path: str


def _open_text(path: str, what: str) -> str:
    """The file's text (a leading BOM removed).

    Raises:
        ListNotFoundError: no such file.
        ListError: the file is not UTF-8 text (e.g. MMAction2's pickled proposals given where a CSV belongs).
    """
    if not g_pathmgr.exists(path):
        raise ListNotFoundError(f"{what} not found: {path}")
    try:
        with g_pathmgr.open(path, "r", encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError as e:
        hint = (" (a pickle, such as MMAction2's proposals .pkl? data_prep/ava.py convert-proposals makes a CSV "
                "of one)" if e.object[:1] == b"\x80" else "")
        raise ListError(f"{what} {path}: not UTF-8 text (byte {e.start} is 0x{e.object[e.start]:02x}){hint}; "
                        f"AVA {what}s are CSV / pbtxt text") from None
    return text[1:] if text.startswith(BOM) else text


_FIELD = re.compile(r'(\w+)\s*:\s*("(?:[^"\\]|\\.)*"|[^\s{}]+)')


def read_label_map(path: str) -> LabelMap:
    """Read an AVA label map (``label { ... label_id: N ... }`` or ``item { ... id: N ... }``).

    Returns:
        :class:`LabelMap` with the ids ascending.

    Raises:
        ListNotFoundError: no such file.
        ListFormatError: ``file:line`` of a block without an integer id, an id below 1, an id listed twice, a field
            outside a block, an unclosed block, or a file with no block.
    """
    text = _open_text(path, "label map")
    names: Dict[int, str] = {}
    types: Dict[int, str] = {}
    block: Optional[dict] = None
    start_line = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        opened = re.match(r"^(label|item)\s*\{", line)
        if opened:
            if block is not None:
                raise ListFormatError(path, lineno, f"block opened before the block of line {start_line} closed", raw)
            block, start_line = {}, lineno
            line = line[opened.end():]
        closes = line.endswith("}")
        if closes:
            line = line[:-1]
        for key, value in _FIELD.findall(line):
            if block is None:
                raise ListFormatError(path, lineno, "field outside a label { ... } / item { ... } block", raw)
            block[key] = value.strip('"')
        if closes:
            if block is None:
                raise ListFormatError(path, lineno, "'}' without a block", raw)
            raw_id = block.get("label_id", block.get("id"))
            try:
                action_id = int(raw_id)
            except (TypeError, ValueError):
                raise ListFormatError(path, start_line, f"block without an integer id / label_id (got {raw_id!r})",
                                      text.splitlines()[start_line - 1]) from None
            if action_id < 1:
                raise ListFormatError(path, start_line, f"action id {action_id} is below 1", raw)
            if action_id in names:
                raise ListFormatError(path, start_line, f"action id {action_id} is listed twice", raw)
            names[action_id] = block.get("name", str(action_id))
            types[action_id] = block.get("label_type", "")
            block = None
    if block is not None:
        raise ListFormatError(path, start_line, "block not closed with '}'", text.splitlines()[start_line - 1])
    if not names:
        raise ListFormatError(path, 1, "no label { ... } or item { ... } block: not an AVA label map", "")
    return LabelMap(ids=tuple(sorted(names)), names=names, types=types, path=path)


def _int_text(text: str, what: str) -> int:
    value = float(text)
    if not value.is_integer():
        raise ValueError(f"{what} {text!r} is not a whole number")
    return int(value)


def check_box_row(row: List[str], kind: str) -> Optional[str]:
    """Why one box-CSV row of ``kind`` (its comma-separated fields, e.g. from ``csv.reader``) is malformed, or None
    (a 2-column ``video_id,timestamp`` row is well-formed). Values are not range-checked."""
    if len(row) == 2:
        try:
            _int_text(row[1], "timestamp")
        except ValueError as e:
            return str(e) if "whole" in str(e) else f"timestamp {row[1]!r} is not a number"
        return None if row[0] else "empty video_id"
    allowed = (7, 8) if kind == "groundtruth" else (8,)
    if len(row) not in allowed:
        cols = ",".join(BOX_KINDS[kind])
        return f"expected {' or '.join(map(str, allowed))} comma-separated columns ({cols}), got {len(row)}"
    if not row[0]:
        return "empty video_id"
    names = BOX_KINDS[kind]
    for i in range(1, len(row)):
        text = row[i].strip()
        if i == 6 and kind == "proposals" and text == "":
            continue
        if i == 7 and kind == "groundtruth" and text == "":
            continue
        try:
            if i in (1, 6) or (i == 7 and kind == "groundtruth"):
                _int_text(text, names[i])
            else:
                value = float(text)
                if not np.isfinite(value):
                    return f"{names[i]} {text!r} is not finite"
        except ValueError as e:
            return str(e) if "whole" in str(e) else f"{names[i]} {text!r} is not a number"
    return None


def _first_bad_line(path: str, text: str, kind: str) -> None:
    """Raise ``ListFormatError`` for the first malformed row of ``text`` (the slow path after the fast parse failed)."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        row = next(csv.reader([raw]))
        why = check_box_row(row, kind)
        if why:
            raise ListFormatError(path, lineno, why, raw)


def read_box_csv(path: str, kind: str) -> BoxTable:
    """Read an AVA box CSV of ``kind`` (``"groundtruth"``, ``"proposals"`` or ``"detections"``).

    The file is parsed with pandas' C parser (about 1 s per million rows); only when that finds something wrong is
    it re-read line by line to name the first malformed row.

    Returns:
        :class:`BoxTable` (rows in file order, blank lines skipped).

    Raises:
        ListNotFoundError: no such file.
        ListFormatError: ``file:line`` of the first row with a wrong number of columns, an empty ``video_id``, a
            non-integer timestamp / action id / person id, or a non-numeric or non-finite coordinate or score
            (an empty score is malformed; an empty action id is allowed in proposals only).
        ValueError: an unknown ``kind``.
    """
    if kind not in BOX_KINDS:
        raise ValueError(f"unknown box CSV kind {kind!r}; known: {sorted(BOX_KINDS)}")
    what = {"groundtruth": "ground-truth CSV", "proposals": "proposals CSV", "detections": "detections CSV"}[kind]
    if not g_pathmgr.exists(path):
        raise ListNotFoundError(f"{what} not found: {path}")
    names = list(BOX_KINDS[kind])
    local = g_pathmgr.get_local_path(path)

    def bad_line():  # the slow path: name the first malformed row
        _first_bad_line(path, _open_text(path, what), kind)

    try:
        frame = pd.read_csv(local, header=None, names=names, dtype={"video_id": str}, encoding="utf-8-sig",
                            skip_blank_lines=False, keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.EmptyDataError:
        frame = None
    except (pd.errors.ParserError, ValueError, UnicodeDecodeError):
        bad_line()
        raise  # pragma: no cover - the slow path names the line
    if frame is None or frame.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object if c == "video_id" else "float64") for c in names})
        for c in ("timestamp", "action_id") + (("person_id",) if kind == "groundtruth" else ()):
            empty[c] = empty[c].astype("int64")
        empty["line"] = pd.Series(dtype="int64")
        return BoxTable(empty, set(), path)
    frame["line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    blank = frame["video_id"].isna() & frame[names[1:]].isna().all(axis=1)
    frame = frame[~blank]
    two_col = frame[names[2:]].isna().all(axis=1)
    boxes = frame[~two_col]
    required = names[1:6] + (["action_id"] if kind != "proposals" else []) + (["score"] if kind != "groundtruth" else [])
    numeric_ok = all(pd.api.types.is_numeric_dtype(frame[c]) for c in names[1:])
    if (not numeric_ok or frame["video_id"].isna().any() or frame["timestamp"].isna().any()
            or boxes[required].isna().any().any()):
        bad_line()
    ints = ["timestamp", "action_id"] + (["person_id"] if kind == "groundtruth" else [])
    for c in ints:
        values = frame[c].to_numpy(dtype=np.float64, na_value=-1.0)
        if not np.all(values == np.floor(values)):
            bad_line()
        frame[c] = values.astype(np.int64)
    floats = ["x1", "y1", "x2", "y2"] + (["score"] if kind != "groundtruth" else [])
    if not np.isfinite(boxes[floats].to_numpy(dtype=np.float64)).all():
        bad_line()
    keyframes = set(zip(frame["video_id"].tolist(), frame["timestamp"].tolist()))
    rows = frame[~two_col].astype({c: "float64" for c in floats}).reset_index(drop=True)
    return BoxTable(rows, keyframes, path)


def read_exclusions(path: str) -> Set[Tuple[str, int]]:
    """Read an excluded-timestamps CSV (``video_id,timestamp`` per line, exactly 2 columns).

    Returns:
        ``{(video_id, timestamp)}``.

    Raises:
        ListNotFoundError: no such file.
        ListFormatError: ``file:line`` of a row without exactly 2 columns or with a non-integer timestamp.
    """
    text = _open_text(path, "excluded-timestamps CSV")
    out: Set[Tuple[str, int]] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        row = next(csv.reader([raw]))
        if len(row) != 2:
            raise ListFormatError(path, lineno, f"expected 2 comma-separated columns (video_id,timestamp), got "
                                  f"{len(row)}", raw)
        try:
            out.add((row[0], _int_text(row[1], "timestamp")))
        except ValueError as e:
            raise ListFormatError(path, lineno, str(e) if "whole" in str(e) else
                                  f"timestamp {row[1]!r} is not a number", raw) from None
    return out
