"""Check an AVA-format dataset end to end (``data_prep/ava.py check``): every problem, never only the first.

What is read (PySlowFast's file names, the ``AVA.*`` defaults): per split the frame list ``{frame_list_dir}/{split}.csv``,
the ground truth ``ava_{split}_v2.2.csv`` and the proposals ``ava_{split}_predicted_boxes.csv`` (required for val,
checked for train when present), the val exclusions ``ava_val_excluded_timestamps_v2.2.csv`` and the label map
``ava_action_list_v2.2_for_activitynet_2019.pbtxt``, all under ``annotation_dir``; and the frame files themselves (one
directory listing per movie).

Problem kinds (:data:`KINDS`; "error" = something would be lost or crash, "warning" = worth knowing):

* ``missing_files`` (error): a file the config reads is absent.
* ``malformed_rows`` (error): every unreadable row, ``file:line`` with the reason (the readers stop at the first).
* ``missing_movies`` (error): a movie with keyframes that is not in the frame list, or whose frame folder is absent.
* ``keyframes_outside_frames`` (error): the keyframe of second ``s`` is 0-based frame ``c = (s - start_sec) * fps``;
  ``c`` is not one of the movie's listed frames (wrong ``--start-sec`` / ``--fps``, or frames cut short).
* ``clip_missing_frames`` (error): the keyframe's clip (PySlowFast's ``get_sequence``: ``range(c - L // 2, c + L // 2,
  rate)``, ``L = num_frames * rate``, indices clamped to ``[0, n - 1]``) needs a listed frame that is not on disk
  (PySlowFast's ``FileNotFoundError``).
* ``missing_frames`` (warning): listed frames not on disk, per movie (``clip_missing_frames`` says which keyframes
  they break).
* ``bad_boxes`` (warning): a coordinate outside [0, 1] (clipped when read) or ``x1 >= x2`` / ``y1 >= y2``.
* ``unknown_action_ids`` (warning): rows whose action id is not in the label map, counted per id. AVA's own
  ``ava_{train,val}_v2.2.csv`` carry all 80 ids while the v2.2 label map names the 60 evaluated ones, so 20 ids
  (2 16 18 19 21 23 25 31-33 35 39 40 42 44 50 53 55 71 75) are expected there: PySlowFast trains an 80-way head
  and the evaluation ignores them.
* ``low_score_proposals`` (warning): proposals below ``score_thresh`` (``AVA.DETECTION_SCORE_THRESH``): dropped at
  test.
* ``keyframes_without_proposals`` (warning): an annotated, not excluded keyframe with no proposal at or above the
  threshold: all its ground truth counts as missed.

:func:`check_ava` writes ``{out_dir}/{kind}.csv`` for every kind (header only when clean) and ``summary.json``.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from hiera_video.data.ava import BOX_KINDS, check_box_row, read_box_csv, read_label_map
from hiera_video.data.lists import ListFormatError
from hiera_video.prep.ava_lists import (EXCLUSION_FILE, FRAME_LIST_FILE, GT_FILE, LABEL_MAP_FILE, PROPOSALS_FILE,
                                        SPLITS, csv_text)
from hiera_video.prep.extract_frames import FRAME_LIST_HEADER
from hiera_video.utils.atomic import atomic_write_text, ensure_dir
from hiera_video.utils.errors import ConfigError, ListNotFoundError

__all__ = ["KINDS", "AVA_NOT_EVALUATED_IDS", "CheckReport", "check_ava", "clip_indices"]

#: kind -> (level, CSV columns, what it means)
KINDS = {
    "missing_files": ("error", ["file", "needed_for"], "files the AVA config reads are absent"),
    "malformed_rows": ("error", ["file", "line", "why", "text"], "unreadable rows (file:line in the CSV)"),
    "missing_movies": ("error", ["split", "video_id", "missing_from", "keyframes"],
                       "movies with keyframes but no frames: their keyframes are lost"),
    "keyframes_outside_frames": ("error", ["split", "file", "video_id", "timestamp", "center_frame", "frames"],
                                 "keyframes whose centre frame (s - start_sec) * fps is not a listed frame"),
    "clip_missing_frames": ("error", ["split", "video_id", "timestamp", "center_frame", "missing", "first_missing"],
                            "keyframes whose clip needs frames that are not on disk"),
    "missing_frames": ("warning", ["split", "video_id", "missing", "listed", "first_missing"],
                       "movies with listed frames not on disk (clip_missing_frames names the keyframes they break)"),
    "bad_boxes": ("warning", ["file", "line", "video_id", "timestamp", "x1", "y1", "x2", "y2", "why"],
                  "boxes outside [0, 1] (clipped when read) or empty (x1 >= x2 or y1 >= y2)"),
    "unknown_action_ids": ("warning", ["file", "action_id", "rows"],
                           "rows whose action id is not in the label map (trained on up to MODEL.NUM_CLASSES, "
                           "never scored)"),
    "low_score_proposals": ("warning", ["file", "line", "video_id", "timestamp", "score"],
                            "proposals below the score threshold: dropped at test"),
    "keyframes_without_proposals": ("warning", ["split", "video_id", "timestamp", "proposals", "kept"],
                                    "annotated keyframes with no proposal kept at test: their ground truth is missed"),
}
#: The 20 action ids of AVA v2.2's 80 that the 60-class label map (and the evaluation) leaves out.
AVA_NOT_EVALUATED_IDS = frozenset({2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75})
_COORDS = ["x1", "y1", "x2", "y2"]


def clip_indices(center: int, num_frames: int, rate: int, total: int) -> List[int]:
    """PySlowFast's ``get_sequence``: 0-based frames ``range(center - L // 2, center + L // 2, rate)``,
    ``L = num_frames * rate``, each clamped to ``[0, total - 1]``."""
    half = num_frames * rate // 2
    return [min(max(i, 0), total - 1) for i in range(center - half, center + half, rate)]


@dataclass
class CheckReport:
    """What :func:`check_ava` found: ``rows[kind]`` (the CSV rows), per-split ``stats`` and the ``notes`` printed
    with a kind's line."""

    out_dir: str
    rows: Dict[str, list] = field(default_factory=lambda: {k: [] for k in KINDS})
    stats: Dict[str, dict] = field(default_factory=dict)
    notes: Dict[str, str] = field(default_factory=dict)

    def count(self, kind: str) -> int:
        """Problems of ``kind`` (rows for ``unknown_action_ids``, whose CSV has one line per id)."""
        if kind == "unknown_action_ids":
            return sum(r[2] for r in self.rows[kind])
        return len(self.rows[kind])

    @property
    def errors(self) -> bool:
        """True when a problem of level "error" was found (the CLI exits 1)."""
        return any(self.count(k) for k, (level, _, _) in KINDS.items() if level == "error")

    def summary_lines(self) -> List[str]:
        """One line per split, one per problem kind (``kind: count (level) - meaning [-> csv]``), and a verdict."""
        lines = [f"{split}: " + ", ".join(f"{v} {k}" for k, v in st.items()) for split, st in self.stats.items()]
        for kind, (level, _, meaning) in KINDS.items():
            n = self.count(kind)
            where = f" -> {os.path.join(self.out_dir, kind + '.csv')}" if n else ""
            note = f"; {self.notes[kind]}" if n and kind in self.notes else ""
            lines.append(f"{kind}: {n}" + (f" ({level}) - {meaning}{note}{where}" if n else ""))
        lines.append("result: errors found (data would be lost), see above" if self.errors
                     else "result: OK" + (" (warnings only)" if any(self.count(k) for k in KINDS) else ""))
        return lines


class _Checker:
    def __init__(self, report: CheckReport, label_ids: Optional[set], score_thresh: float):
        self.report, self.label_ids, self.score_thresh = report, label_ids, score_thresh

    def add(self, kind: str, row: list) -> None:
        self.report.rows[kind].append(row)

    def malformed(self, path: str, line: int, why: str, text: str) -> None:
        self.add("malformed_rows", [path, line, why, text])

    def frame_list(self, path: str) -> Optional[Dict[str, List[str]]]:
        """``{video_id: [paths in order]}`` of a frame list, or None when absent."""
        if not os.path.isfile(path):
            self.add("missing_files", [path, "frame list"])
            return None
        movies: Dict[str, List[str]] = {}
        with open(path, encoding="utf-8-sig") as f:
            for lineno, raw in enumerate(f, 1):
                text = raw.rstrip("\r\n")
                fields = text.split()
                if lineno == 1:
                    if fields != FRAME_LIST_HEADER.split():
                        self.malformed(path, 1, f"the first line must be the header '{FRAME_LIST_HEADER}' "
                                       "(PySlowFast skips it, so a frame row there is lost)", text)
                    continue
                if not fields:
                    continue
                if len(fields) != 5:
                    self.malformed(path, lineno, f"expected 5 space-separated fields ({FRAME_LIST_HEADER}), "
                                   f"got {len(fields)}", text)
                    continue
                movies.setdefault(fields[0], []).append(fields[3])
        return movies

    def boxes(self, path: str, kind: str, required: bool, needed_for: str) -> Optional[pd.DataFrame]:
        """The rows of a box CSV (columns of ``BOX_KINDS[kind]`` + ``line``); every malformed row is recorded."""
        if not os.path.isfile(path):
            if required:
                self.add("missing_files", [path, needed_for])
            return None
        try:
            return read_box_csv(path, kind).rows
        except ListFormatError:
            pass  # the slow path below records every malformed row
        records = []
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            row = next(csv.reader([raw]))
            why = check_box_row(row, kind)
            if why and kind == "proposals" and len(row) == 7:
                why += " (a proposal row is video_id,timestamp,x1,y1,x2,y2,,score: is the empty action column missing?)"
            if why:
                self.malformed(path, lineno, why, raw)
            elif len(row) > 2:
                last = row[7].strip() if len(row) == 8 else ""
                last = float(last) if kind != "groundtruth" else (int(float(last)) if last else -1)
                action = int(float(row[6])) if row[6].strip() else -1
                records.append([row[0], int(float(row[1])), *map(float, row[2:6]), action, last, lineno])
        return pd.DataFrame(records, columns=list(BOX_KINDS[kind]) + ["line"])

    def box_values(self, path: str, rows: pd.DataFrame, kind: str) -> None:
        """Bad boxes, unknown action ids and (proposals) low scores of one file."""
        c = rows[_COORDS].to_numpy(dtype=np.float64)
        outside = ((c < 0) | (c > 1)).any(axis=1)
        empty = (c[:, 0] >= c[:, 2]) | (c[:, 1] >= c[:, 3])
        for i in np.flatnonzero(outside | empty):
            why = "outside [0, 1]" if outside[i] else ""
            why += (" and " if why else "") + ("empty (x1 >= x2 or y1 >= y2)" if empty[i] else "")
            r = rows.iloc[i]
            self.add("bad_boxes", [path, int(r["line"]), r["video_id"], int(r["timestamp"]), *c[i].tolist(), why])
        if self.label_ids is not None:
            ids = rows["action_id"].to_numpy(dtype=np.int64)
            unknown = Counter(int(a) for a in ids[ids >= 0] if int(a) not in self.label_ids)
            for action_id, n in sorted(unknown.items()):
                self.add("unknown_action_ids", [path, action_id, n])
        if kind == "proposals":
            low = rows[rows["score"] < self.score_thresh]
            for r in low.itertuples(index=False):
                self.add("low_score_proposals", [path, r.line, r.video_id, r.timestamp, r.score])

    def exclusions(self, path: str) -> set:
        if not os.path.isfile(path):
            self.add("missing_files", [path, "val exclusions (the evaluation)"])
            return set()
        out = set()
        with open(path, encoding="utf-8-sig") as f:
            for lineno, raw in enumerate(f.read().splitlines(), 1):
                if not raw.strip():
                    continue
                row = next(csv.reader([raw]))
                why = (check_box_row(row, "groundtruth") if len(row) == 2
                       else f"expected 2 comma-separated columns (video_id,timestamp), got {len(row)}")
                if why:
                    self.malformed(path, lineno, why, raw)
                else:
                    out.add((row[0], int(float(row[1]))))
        return out

    def frames_on_disk(self, split: str, frame_dir: str, movies: Dict[str, List[str]]) -> Dict[str, set]:
        """``{video_id: 0-based listed frames not on disk}`` (movies whose folder is absent map to None)."""
        missing: Dict[str, Optional[set]] = {}
        listing: Dict[str, Optional[set]] = {}
        for vid, paths in movies.items():
            gone, folders = set(), set()
            for i, rel in enumerate(paths):
                sub, _, name = rel.rpartition("/")
                if sub not in listing:
                    folder = os.path.join(frame_dir, sub)
                    listing[sub] = set(os.listdir(folder)) if os.path.isdir(folder) else None
                folders.add(sub)
                if listing[sub] is None or name not in listing[sub]:
                    gone.add(i)
            if all(listing[f] is None for f in folders):
                missing[vid] = None  # reported as a missing movie when it has keyframes
            elif gone:
                missing[vid] = gone
                self.add("missing_frames", [split, vid, len(gone), len(paths), paths[min(gone)]])
        return missing


def check_ava(frame_dir: str, frame_list_dir: str, annotation_dir: str, num_frames: int = 16,
              sampling_rate: int = 4, fps: float = 30, start_sec: float = 900, score_thresh: float = 0.9,
              out_dir: Optional[str] = None, splits: Sequence[str] = SPLITS) -> CheckReport:
    """Check an AVA-format dataset and write the report (see the module docstring for the problem kinds).

    Args:
        frame_dir / frame_list_dir / annotation_dir: ``AVA.FRAME_DIR`` / ``AVA.FRAME_LIST_DIR`` / ``AVA.ANNOTATION_DIR``.
        num_frames, sampling_rate: ``DATA.NUM_FRAMES`` and ``DATA.SAMPLING_RATE`` (frames): the clip around a keyframe.
        fps: ``DATA.FRAME_FPS``, frames per second of the extracted frames.
        start_sec: ``AVA.FRAME_START_SEC``, the second shown by frame 0 (900 for AVA, 0 for own videos).
        score_thresh: ``AVA.DETECTION_SCORE_THRESH``.
        out_dir: where ``{kind}.csv`` and ``summary.json`` go (default ``{annotation_dir}/check``).

    Returns:
        :class:`CheckReport` (``.errors`` is True when data would be lost).

    Raises:
        ConfigError: a non-positive ``num_frames`` / ``sampling_rate`` / ``fps``.
        SetupError: ``out_dir`` cannot be written.
    """
    if min(num_frames, sampling_rate) < 1 or fps <= 0:
        raise ConfigError(f"need num_frames >= 1, sampling_rate >= 1 and fps > 0 (got {num_frames}, "
                          f"{sampling_rate}, {fps})")
    out_dir = out_dir or os.path.join(annotation_dir, "check")
    report = CheckReport(out_dir)
    label_ids = None
    try:
        label_ids = set(read_label_map(os.path.join(annotation_dir, LABEL_MAP_FILE)).ids)
    except ListNotFoundError:
        report.rows["missing_files"].append([os.path.join(annotation_dir, LABEL_MAP_FILE), "label map"])
    except ListFormatError as e:
        report.rows["malformed_rows"].append([e.file, e.lineno, e.why, e.line])
    chk = _Checker(report, label_ids, score_thresh)
    for split in splits:
        listed = chk.frame_list(os.path.join(frame_list_dir, FRAME_LIST_FILE.format(split=split)))
        movies = listed or {}
        missing = chk.frames_on_disk(split, frame_dir, movies)
        gt_path = os.path.join(annotation_dir, GT_FILE.format(split=split))
        prop_path = os.path.join(annotation_dir, PROPOSALS_FILE.format(split=split))
        gt = chk.boxes(gt_path, "groundtruth", True, f"{split} ground truth")
        props = chk.boxes(prop_path, "proposals", split == "val", f"{split} proposals (the test's boxes)")
        excluded = chk.exclusions(os.path.join(annotation_dir, EXCLUSION_FILE)) if split == "val" else set()
        seen, per_movie = set(), Counter()
        for path, rows, kind in ((gt_path, gt, "groundtruth"), (prop_path, props, "proposals")):
            if rows is None:
                continue
            chk.box_values(path, rows, kind)
            for vid, ts in sorted(set(zip(rows["video_id"].tolist(), rows["timestamp"].tolist()))):
                if (vid, ts) in seen:
                    continue
                seen.add((vid, ts))
                per_movie[vid] += 1
                if vid not in movies or missing.get(vid, set()) is None:
                    continue
                n, center = len(movies[vid]), int(round((ts - start_sec) * fps))
                if not 0 <= center < n:
                    chk.add("keyframes_outside_frames", [split, path, vid, ts, center, n])
                elif missing.get(vid):
                    lost = [i for i in clip_indices(center, num_frames, sampling_rate, n) if i in missing[vid]]
                    if lost:
                        chk.add("clip_missing_frames", [split, vid, ts, center, len(set(lost)), movies[vid][min(lost)]])
        for vid, n in sorted(per_movie.items()):
            if vid not in movies:
                if listed is None:
                    continue  # the frame list itself is reported missing
                chk.add("missing_movies", [split, vid, f"frame list {FRAME_LIST_FILE.format(split=split)}", n])
            elif missing.get(vid, set()) is None:
                chk.add("missing_movies", [split, vid, f"frame folder {os.path.dirname(movies[vid][0])}/", n])
        for vid in sorted(v for v in movies if missing.get(v, set()) is None and not per_movie[v]):
            chk.add("missing_frames", [split, vid, len(movies[vid]), len(movies[vid]), movies[vid][0]])
        if gt is not None and props is not None:
            total = Counter(zip(props["video_id"].tolist(), props["timestamp"].tolist()))
            kept_rows = props[props["score"] >= score_thresh]
            kept = Counter(zip(kept_rows["video_id"].tolist(), kept_rows["timestamp"].tolist()))
            for key in sorted(set(zip(gt["video_id"].tolist(), gt["timestamp"].tolist())) - excluded):
                if not kept[key]:
                    chk.add("keyframes_without_proposals", [split, key[0], key[1], total[key], 0])
        report.stats[split] = {"movies listed": len(movies), "frames listed": sum(map(len, movies.values())),
                               "GT keyframes": 0 if gt is None else len(set(zip(gt["video_id"], gt["timestamp"]))),
                               "GT rows": 0 if gt is None else len(gt),
                               "proposals": 0 if props is None else len(props)}
    _notes(report, label_ids, score_thresh)
    _write(report, dict(num_frames=num_frames, sampling_rate=sampling_rate, fps=fps, start_sec=start_sec,
                        score_thresh=score_thresh, frame_dir=frame_dir, frame_list_dir=frame_list_dir,
                        annotation_dir=annotation_dir))
    return report


def _notes(report: CheckReport, label_ids: Optional[set], score_thresh: float) -> None:
    ids = sorted({r[1] for r in report.rows["unknown_action_ids"]})
    if ids:
        text = f"ids {', '.join(map(str, ids[:25]))}{' ...' if len(ids) > 25 else ''} ({len(ids)} ids)"
        if set(ids) <= AVA_NOT_EVALUATED_IDS:
            text += (". Expected with AVA's own CSVs: they carry all 80 action ids and the v2.2 label map names the "
                     "60 evaluated ones (PySlowFast trains on 80 classes; the evaluation ignores these)")
        else:
            text += f". The label map {LABEL_MAP_FILE} names {len(label_ids or ())} ids: check it matches the CSVs"
        report.notes["unknown_action_ids"] = text
    report.notes["low_score_proposals"] = f"threshold {score_thresh:g} (AVA.DETECTION_SCORE_THRESH)"
    report.notes["keyframes_outside_frames"] = "check --fps / --start-sec (AVA.FRAME_START_SEC) and the frame count"
    report.notes["malformed_rows"] = "fix them: the dataset stops at the first one"


def _write(report: CheckReport, settings: dict) -> None:
    ensure_dir(report.out_dir, "check report folder")
    for kind, (_, columns, _) in KINDS.items():
        atomic_write_text(os.path.join(report.out_dir, f"{kind}.csv"), csv_text(columns, report.rows[kind]))
    summary = {"ok": not report.errors, "settings": settings, "splits": report.stats,
               "problems": {kind: {"level": level, "count": report.count(kind), "meaning": meaning,
                                   "csv": f"{kind}.csv", **({"note": report.notes[kind]} if kind in report.notes
                                                             and report.count(kind) else {})}
                            for kind, (level, _, meaning) in KINDS.items()}}
    atomic_write_text(os.path.join(report.out_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
