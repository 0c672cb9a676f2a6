"""Own videos + a simple box CSV -> an AVA-format dataset (``data_prep/ava.py own-videos``).

Input: videos (a folder, searched recursively, or a list file; ``video`` = file name without extension) and a CSV
with the header ``video,second,x1,y1,x2,y2,action`` (any column order, extra columns ignored), one row per action of a
person at a keyframe:

* ``second``: a whole second counted from the video's first frame (0 = the first frame, whatever the stream's
  timestamps say: a clip cut from a longer recording still starts at 0). Any source frame rate works: frames are
  resampled to ``fps`` from second 0 (:mod:`~hiera_video.prep.extract_frames`: output frame ``i`` is the source frame
  nearest to ``i / fps`` s), so the keyframe of second ``s`` is 0-based frame ``s * fps``.
* ``x1,y1,x2,y2``: the person's box (origin top left, ``x`` horizontal), in pixels of the video's frames or
  normalised to [0, 1], decided per file: any coordinate above 1 means pixels (the summary says which was used; a
  pixel box under one pixel wide or high is an error: the sign of a normalised file with a stray value above 1).
  Boxes reaching outside the frame are clipped to it and counted.
* ``action``: a name (no ``"``, ``\\``, ``#`` or control characters). Rows with the same video, second and box are one
  person with several actions.

Output under ``root`` (PySlowFast's names, the ``AVA.*`` defaults):

* ``frames/{vid}/{vid}_{k:06d}.jpg`` at ``fps`` from second 0 (source resolution; resumable);
* ``frame_lists/{train,val}.csv`` (:func:`~hiera_video.prep.ava_lists.write_ava_frame_lists`);
* ``annotations/``: ``ava_{train,val}_v2.2.csv`` (``vid,%04d,x1,y1,x2,y2,action_id,person_id``, 3 decimals as AVA's;
  person ids numbered per video, 0, 1, ..., one per distinct (second, box): they are not tracks), the label map
  ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (ids 1..K in sorted name order; ``label_type`` is a
  placeholder), ``ava_{train,val}_predicted_boxes.csv`` = the ground-truth boxes with score 1.0 (without a person
  detector the test then measures action classification on the true boxes, an upper bound of detection mAP), and an
  empty ``ava_val_excluded_timestamps_v2.2.csv``;
* ``config_overrides.txt``: the ``AVA.*`` / ``DATA.*`` / ``MODEL.*`` overrides to train on it.

The split is by video (a video's keyframes are never in both): ``val_videos``, or a seeded random ``val_fraction``.
"""

from __future__ import annotations

import csv
import math
import os
import random
import re
import shlex
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from hiera_video.data.decoding import open_video
from hiera_video.data.lists import ListFormatError
from hiera_video.prep.ava_lists import (EXCLUSION_FILE, GT_FILE, LABEL_MAP_FILE, PROPOSALS_FILE, SPLITS,
                                        write_ava_frame_lists)
from hiera_video.prep.extract_frames import FAILED_CSV, expected_count, extract_tree, list_inputs
from hiera_video.utils.atomic import atomic_write_text, ensure_dir
from hiera_video.utils.errors import ConfigError, DataError, ListError, ListNotFoundError

__all__ = ["ANNOTATION_HEADER", "OwnRow", "OwnResult", "read_own_annotations", "split_videos", "prepare_own_videos"]

ANNOTATION_HEADER = ("video", "second", "x1", "y1", "x2", "y2", "action")
_BAD_NAME = re.compile(r'["\\#\x00-\x1f]')


@dataclass
class OwnRow:
    """One annotation row: ``box`` as written (pixels or normalised), ``line`` its 1-based line in the CSV."""

    line: int
    video: str
    second: int
    box: Tuple[float, float, float, float]
    action: str


def _why(values: Dict[str, str]) -> Tuple[Optional[str], Optional[OwnRow]]:
    if not values["video"]:
        return "empty video", None
    try:
        second = float(values["second"])
    except ValueError:
        return f"second {values['second']!r} is not a number", None
    if not (math.isfinite(second) and second.is_integer() and second >= 0):
        return f"second {values['second']!r} is not a whole number of seconds >= 0", None
    box = []
    for name in ("x1", "y1", "x2", "y2"):
        try:
            box.append(float(values[name]))
        except ValueError:
            return f"{name} {values[name]!r} is not a number", None
        if not math.isfinite(box[-1]):
            return f"{name} {values[name]!r} is not finite", None
    if box[0] >= box[2] or box[1] >= box[3]:
        return "empty box: need x1 < x2 and y1 < y2", None
    if not values["action"]:
        return "empty action", None
    if _BAD_NAME.search(values["action"]):
        return 'the action name contains ", \\, # or a control character', None
    return None, OwnRow(0, values["video"], int(second), tuple(box), values["action"])


def read_own_annotations(path: str) -> Tuple[List[OwnRow], bool]:
    """Read an own-videos annotation CSV (header ``video,second,x1,y1,x2,y2,action``, see the module docstring).

    Returns:
        ``(rows, pixels)``: the rows in file order and whether the boxes are in pixels (any coordinate above 1) rather
        than normalised.

    Raises:
        ListNotFoundError: no such file (a ``ListError``).
        ListFormatError: ``file:line`` of the first malformed row (wrong column count, empty video or action, a second
            that is not a whole number >= 0, a non-numeric coordinate, ``x1 >= x2`` or ``y1 >= y2``, a bad action
            name), with the count and lines of the others; a header without the 7 columns (line 1).
        ListError: no rows.
    """
    if not os.path.isfile(path):
        raise ListNotFoundError(f"annotation CSV not found: {path}")
    with open(path, encoding="utf-8-sig", newline="") as f:
        lines = f.read().splitlines()
    rows, bad, columns = [], [], None
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        fields = [x.strip() for x in next(csv.reader([raw]))]
        if columns is None:
            names = [x.lower() for x in fields]
            if not set(ANNOTATION_HEADER) <= set(names):
                raise ListFormatError(path, lineno, f"the first line must be the header {','.join(ANNOTATION_HEADER)} "
                                      f"(missing {', '.join(c for c in ANNOTATION_HEADER if c not in names)})", raw)
            columns = {name: names.index(name) for name in ANNOTATION_HEADER}, len(names)
            continue
        if len(fields) != columns[1]:
            bad.append((lineno, f"expected {columns[1]} comma-separated columns like the header, got {len(fields)}",
                        raw))
            continue
        why, row = _why({name: fields[i] for name, i in columns[0].items()})
        if why:
            bad.append((lineno, why, raw))
        else:
            row.line = lineno
            rows.append(row)
    if bad:
        more = f" (and {len(bad) - 1} more malformed rows: lines {', '.join(str(b[0]) for b in bad[1:11])}" \
               f"{' ...' if len(bad) > 11 else ''})" if len(bad) > 1 else ""
        raise ListFormatError(path, bad[0][0], bad[0][1] + more, bad[0][2])
    if not rows:
        raise ListError(f"{path}: no annotation rows (expected the header {','.join(ANNOTATION_HEADER)} and rows)")
    return rows, any(v > 1 for r in rows for v in r.box)


def _first_pixel_line(rows: List[OwnRow]) -> int:
    return next(r.line for r in rows if any(v > 1 for v in r.box))


def split_videos(videos: Sequence[str], val_videos: Optional[Sequence[str]] = None, val_fraction: float = 0.2,
                 seed: int = 0) -> Tuple[List[str], List[str]]:
    """``(train, val)`` video ids, sorted: ``val_videos`` if given, else ``round(val_fraction * n)`` videos drawn
    with ``random.Random(seed)`` (at least 1 and at most ``n - 1`` when ``val_fraction > 0`` and ``n >= 2``; none of
    a single video).

    Raises:
        ConfigError: a ``val_videos`` name that is not annotated, or ``val_fraction`` outside [0, 1).
    """
    videos = sorted(set(videos))
    if val_videos is not None:
        unknown = sorted(set(val_videos) - set(videos))
        if unknown:
            raise ConfigError(f"--val-videos names videos without annotations: {unknown[:5]} (annotated: {videos[:5]}"
                              f"{' ...' if len(videos) > 5 else ''})")
        val = sorted(set(val_videos))
    else:
        if not 0 <= val_fraction < 1:
            raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}")
        k = round(val_fraction * len(videos))
        if val_fraction > 0 and len(videos) >= 2:
            k = min(max(k, 1), len(videos) - 1)
        val = sorted(random.Random(seed).sample(videos, k)) if len(videos) >= 2 else []
    return [v for v in videos if v not in val], val


@dataclass
class OwnResult:
    """What :func:`prepare_own_videos` did; :meth:`lines` is the CLI's summary."""

    root: str
    classes: List[str]
    pixels: bool
    splits: Dict[str, List[str]]
    frames: Dict[str, int]
    counts: Dict[str, Counter] = field(default_factory=dict)
    clipped: int = 0
    duplicates: int = 0
    unannotated: List[str] = field(default_factory=list)
    overrides: str = ""
    notes: List[str] = field(default_factory=list)

    def lines(self) -> List[str]:
        out = [f"boxes read as {'pixels (divided by each video width / height)' if self.pixels else 'normalised'}; "
               f"{self.clipped} boxes clipped to the frame; {self.duplicates} duplicate rows dropped"]
        for split in SPLITS:
            c = self.counts.get(split, Counter())
            out.append(f"{split}: {len(self.splits[split])} videos, {c['keyframes']} keyframes, {c['persons']} "
                       f"persons, {c['rows']} rows")
        out.append(f"{len(self.classes)} classes (ids 1..{len(self.classes)}): {', '.join(self.classes[:20])}"
                   f"{' ...' if len(self.classes) > 20 else ''}")
        if self.unannotated:
            out.append(f"{len(self.unannotated)} videos without annotations were not used (e.g. {self.unannotated[0]})")
        return out + self.notes + [f"config overrides (also in {os.path.join(self.root, 'config_overrides.txt')}):",
                                   self.overrides]


def _probe(path: str) -> Tuple[float, int, int, int]:
    """``(src_fps, header frame count, height, width)``; raises ``VideoDecodeError`` naming the file."""
    with open_video(path) as reader:
        height, width = reader.get_frames([0]).shape[1:3]
        return float(reader.fps), int(reader.num_frames), int(height), int(width)


def _fail(path: str, bad: List[Tuple[OwnRow, str]]) -> None:
    if bad:
        more = f" ({len(bad) - 1} more such rows: lines {', '.join(str(r.line) for r, _ in bad[1:11])})" \
            if len(bad) > 1 else ""
        raise ListError(f"{path}:{bad[0][0].line}: {bad[0][1]}{more}")


def _extract(inputs: Dict[str, str], annotated: List[str], videos: str, frames_dir: str, fps: int, workers: int,
             quality: int) -> Dict[str, int]:
    """Extract the annotated videos (through a temporary folder of links when others are present)."""
    tmp = None
    source = videos
    if set(inputs) != set(annotated):
        tmp = tempfile.mkdtemp(prefix="ava_own_")
        try:
            for vid in annotated:
                os.symlink(os.path.abspath(inputs[vid]), os.path.join(tmp, os.path.basename(inputs[vid])))
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(f"cannot link the annotated videos into {tmp} ({e}); pass a folder or list holding only "
                            "the annotated videos") from None
        source = tmp
    exts = sorted({os.path.splitext(inputs[v])[1].lower() for v in annotated})
    try:
        results = extract_tree(source, frames_dir, fps=fps, start_sec=0.0, quality=quality, workers=workers,
                               extensions=exts)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise DataError(f"frame extraction failed for {len(failed)} videos (listed in "
                        f"{os.path.join(frames_dir, FAILED_CSV)}), e.g. {failed[0].item}: {failed[0].error}")
    return {r.value["video_id"]: r.value["num_frames"] for r in results if r.value["video_id"] in annotated}


def prepare_own_videos(videos: str, annotations: str, root: str, val_videos: Optional[Sequence[str]] = None,
                       val_fraction: float = 0.2, fps: int = 30, workers: int = 0, quality: int = 90,
                       seed: int = 0) -> OwnResult:
    """Build an AVA-format dataset under ``root`` from own videos and a box CSV (see the module docstring).

    Args:
        videos: a folder of videos or a list file (``path`` per line); ids are file names without extension.
        annotations: the CSV ``video,second,x1,y1,x2,y2,action`` (seconds from the first frame; boxes in pixels or
            normalised).
        val_videos / val_fraction / seed: the split, by video (:func:`split_videos`).
        fps: frames per second to extract (an integer, so that the keyframe of second ``s`` is frame ``s * fps``);
            becomes ``DATA.FRAME_FPS``. A source slower than ``fps`` gets repeated frames: extracting at the source's
            rate writes fewer, identical-content JPEGs (then scale ``DATA.SAMPLING_RATE`` by ``fps / 30``).
        workers: extraction processes (0: this process).

    Returns:
        :class:`OwnResult` (counts, classes, the config overrides).

    Raises:
        ConfigError: a non-integer or non-positive ``fps``, a bad split argument.
        ListFormatError / ListError: a malformed row (``file:line``), a video not among ``videos``, a second at or
            past the video's end, a box that lies outside the frame (or, in pixels, is under a pixel wide or high).
        DataError: ``videos`` is not a folder or list, repeats an id, a video cannot be decoded, extraction fails.
    """
    if isinstance(fps, bool) or float(fps) != int(fps) or int(fps) < 1:
        raise ConfigError(f"--fps must be a whole number of frames per second >= 1, got {fps}")
    fps = int(fps)
    rows, pixels = read_own_annotations(annotations)
    try:
        inputs = dict(list_inputs(videos))
    except (FileNotFoundError, ValueError) as e:
        raise DataError(f"videos {videos}: {e}") from None
    annotated = sorted({r.video for r in rows})
    known = ", ".join(sorted(inputs)[:5]) + (" ..." if len(inputs) > 5 else "")
    _fail(annotations, [(r, f"video {r.video!r} is not among the {len(inputs)} videos of {videos} ({known}); "
                            "'video' is the file name without extension") for r in rows if r.video not in inputs])
    train, val = split_videos(annotated, val_videos, val_fraction, seed)
    info = {vid: _probe(inputs[vid]) for vid in annotated}
    late = []
    for r in rows:
        src_fps, n_src = info[r.video][:2]
        if n_src and r.second * fps >= expected_count(n_src, src_fps, fps):
            late.append((r, f"second {r.second} is at or past the end of {r.video} ({n_src / src_fps:.2f} s)"))
    _fail(annotations, late)
    boxes, clipped, outside = [], 0, []
    for r in rows:
        h, w = info[r.video][2:]
        b = np.asarray(r.box) / (np.array([w, h, w, h]) if pixels else 1.0)
        c = np.round(np.clip(b, 0.0, 1.0), 3)
        clipped += int((np.clip(b, 0.0, 1.0) != b).any())
        if pixels and (r.box[2] - r.box[0] < 1 or r.box[3] - r.box[1] < 1):
            outside.append((r, f"box {list(r.box)} is under a pixel wide or high: boxes are read as pixels because "
                               f"line {_first_pixel_line(rows)} has a coordinate above 1 (a normalised file keeps "
                               "every coordinate <= 1)"))
        elif c[0] >= c[2] or c[1] >= c[3]:
            size = f"the {w}x{h} frame" if pixels else "[0, 1]"
            outside.append((r, f"box {list(r.box)} lies outside {size} or is under 0.001 of it"))
        boxes.append(",".join(f"{v:.3f}" for v in c))
    _fail(annotations, outside)
    frames_dir = os.path.join(root, "frames")
    ensure_dir(root, "output folder")
    frames = _extract(inputs, annotated, videos, frames_dir, fps, workers, quality)
    _fail(annotations, [(r, f"second {r.second} is frame {r.second * fps}, past the {frames[r.video]} frames "
                            f"extracted from {r.video}") for r in rows if r.second * fps >= frames[r.video]])
    classes = sorted({r.action for r in rows})
    result = OwnResult(os.path.abspath(root), classes, pixels, {"train": train, "val": val}, frames, clipped=clipped,
                       unannotated=sorted(set(inputs) - set(annotated)))
    _write_annotations(result, rows, boxes)
    write_ava_frame_lists(frames_dir, os.path.join(root, "annotations"), os.path.join(root, "frame_lists"))
    _finish(result, fps, train, val)
    return result


def _write_annotations(result: OwnResult, rows: List[OwnRow], boxes: List[str]) -> None:
    ann = os.path.join(result.root, "annotations")
    ensure_dir(ann, "annotation folder")
    action_id = {name: i + 1 for i, name in enumerate(result.classes)}
    atomic_write_text(os.path.join(ann, LABEL_MAP_FILE), "".join(
        f'label {{\n  name: "{name}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
        for name, i in action_id.items()))
    person: Dict[Tuple[str, int, str], int] = {}
    per_video = Counter()
    for r, box in sorted(zip(rows, boxes), key=lambda rb: (rb[0].video, rb[0].second, rb[0].line)):
        if (r.video, r.second, box) not in person:
            person[(r.video, r.second, box)] = per_video[r.video]
            per_video[r.video] += 1
    split_of = {vid: split for split, vids in result.splits.items() for vid in vids}
    gt = {split: set() for split in SPLITS}
    for r, box in zip(rows, boxes):
        key = (r.video, r.second, person[(r.video, r.second, box)], action_id[r.action], box)
        result.duplicates += key in gt[split_of[r.video]]
        gt[split_of[r.video]].add(key)
    for split in SPLITS:
        keys = sorted(gt[split])
        atomic_write_text(os.path.join(ann, GT_FILE.format(split=split)), "".join(
            f"{v},{s:04d},{box},{a},{p}\n" for v, s, p, a, box in keys))
        persons = sorted({(v, s, p, box) for v, s, p, _, box in keys})
        atomic_write_text(os.path.join(ann, PROPOSALS_FILE.format(split=split)), "".join(
            f"{v},{s:04d},{box},,1.0\n" for v, s, _, box in persons))
        result.counts[split] = Counter(rows=len(keys), persons=len(persons),
                                       keyframes=len({(v, s) for v, s, _, _ in persons}))
    atomic_write_text(os.path.join(ann, EXCLUSION_FILE), "")


def _finish(result: OwnResult, fps: int, train: List[str], val: List[str]) -> None:
    root = result.root
    pairs = [("AVA.FRAME_DIR", os.path.join(root, "frames")), ("AVA.FRAME_LIST_DIR", os.path.join(root, "frame_lists")),
             ("AVA.ANNOTATION_DIR", os.path.join(root, "annotations")), ("AVA.FRAME_START_SEC", "0"),
             ("AVA.TRAIN_KEYFRAME_RANGE", "[]"), ("AVA.FULL_TEST_ON_VAL", "True"), ("DATA.FRAME_FPS", str(fps)),
             ("MODEL.NUM_CLASSES", str(len(result.classes)))]
    result.overrides = " ".join(f"{k} {shlex.quote(v)}" for k, v in pairs)
    atomic_write_text(os.path.join(root, "config_overrides.txt"), result.overrides + "\n")
    if not val:
        result.notes.append("val is empty (one video, or --val-fraction 0): name videos with --val-videos to test")
    if not train:
        result.notes.append("train is empty: every video is in val (fine for testing a trained model)")
    result.notes.append("AVA.FULL_TEST_ON_VAL True: PySlowFast's validation otherwise keeps only seconds divisible "
                        "by 4")
    if fps != 30:
        result.notes.append(f"frames at {fps} fps: DATA.SAMPLING_RATE counts frames, so a clip spans 30/{fps} times "
                            f"the time it spans at 30 fps; scale the rate by {fps}/30 to keep AVA's clip duration")
