"""Official Kinetics-400/600/700 annotation CSVs + downloaded clips -> PySlowFast lists.

Annotations are the official CSVs (``label,youtube_id,time_start,time_end,split[,is_cc]``;
the test CSV of some releases has no ``label`` column). Clips are files named
``{youtube_id}_{time_start:06d}_{time_end:06d}.{ext}`` (times in whole seconds) anywhere
under the videos root: flat, or in class folders (any folder name works, since matching
is by file name; when a clip exists in several folders the one named after its label,
with spaces or underscores, wins).

:func:`prepare_kinetics` writes, atomically (re-running overwrites and gives identical
files):

- ``{out}/{train,val,test}.csv``: ``path label`` per line, paths relative to the videos
  root (``DATA.PATH_PREFIX``), in annotation order. The separator is a space unless a
  path contains one (class folders such as ``playing guitar/``): then every list uses a
  comma and ``DATA.PATH_LABEL_SEPARATOR`` must be set to ``","``.
- ``{out}/classes.json``: ``{class name: index}``, names sorted (the PySlowFast and
  MMAction2 order), built from the train annotations' labels.
- ``{out}/missing.csv``: ``split,youtube_id,time_start,time_end,label,expected`` for every
  labelled annotated clip with no file (``expected``: the file name with the first extension).

Rows without a label (label-less test CSVs) and rows whose label is not a train class
are left out of the lists and counted in the per-split summary. A present file is listed
whatever its content (an empty or corrupt file is found here; ``data_prep/validate.py``
decode-checks the lists).
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd
from iopath.common.file_io import g_pathmgr

from hiera_video.prep.stats import PrepStats
from hiera_video.utils.atomic import atomic_write_text
from hiera_video.utils.parallel import run_parallel
from hiera_video.utils.errors import ListError

__all__ = [
    "DEFAULT_EXTENSIONS", "SPLITS", "SplitStats", "PrepResult", "clip_stem", "read_annotations",
    "index_videos", "choose_separator", "prepare_kinetics",
]

DEFAULT_EXTENSIONS = ("mp4", "webm", "mkv", "avi")
SPLITS = ("train", "val", "test")
_SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
                "validation": "val", "test": "test", "testing": "test"}
_REQUIRED = ("youtube_id", "time_start", "time_end")
MISSING_COLUMNS = ["split", "youtube_id", "time_start", "time_end", "label", "expected"]


@dataclass
class SplitStats(PrepStats):
    """Per-split counts: annotated rows, clips ``found`` / ``missing`` (labelled rows only),
    rows skipped because they have ``no_label`` or an ``unknown_label`` (not a train class)."""

    no_label: int = 0
    unknown_label: int = 0

    def notes(self) -> list[str]:
        out = []
        if self.no_label:
            out.append(f"{self.no_label} without label skipped")
        if self.unknown_label:
            out.append(f"{self.unknown_label} with a label not in train skipped")
        return out


@dataclass
class PrepResult:
    """What :func:`prepare_kinetics` wrote: ``separator`` of the lists, ``classes`` (sorted),
    per-split ``stats``, and ``written`` (paths of the files written)."""

    separator: str
    classes: List[str]
    stats: Dict[str, SplitStats] = field(default_factory=dict)
    written: List[str] = field(default_factory=list)


def clip_stem(youtube_id: str, time_start: int, time_end: int) -> str:
    """``"{youtube_id}_{time_start:06d}_{time_end:06d}"`` (times in seconds)."""
    return f"{youtube_id}_{int(time_start):06d}_{int(time_end):06d}"


def _split_of_name(name: str) -> Optional[str]:
    return _SPLIT_NAMES.get(str(name).strip().lower())


def _annotation_files(sources: Sequence[str]) -> List[str]:
    files: List[str] = []
    for src in sources:
        if g_pathmgr.isdir(src):
            found = sorted(os.path.join(src, f) for f in g_pathmgr.ls(src)
                           if f.lower().endswith(".csv") and _split_of_name(os.path.splitext(f)[0]))
            if not found:
                raise ValueError(f"no train/validate/test .csv annotation file in {src}")
            files.extend(found)
        elif g_pathmgr.isfile(src):
            files.append(src)
        else:
            raise FileNotFoundError(f"annotation file or folder not found: {src}")
    return files


def _read_one(path: str) -> pd.DataFrame:
    try:
        with g_pathmgr.open(path, "r") as f:
            df = pd.read_csv(f, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise ListError(f"{path}: not a readable annotation CSV ({' '.join(str(e).split())})") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    lacking = [c for c in _REQUIRED if c not in df.columns]
    if lacking:
        raise ValueError(f"{path}: missing column(s) {lacking}; expected "
                         "label,youtube_id,time_start,time_end,split")
    if "label" not in df.columns:
        df["label"] = ""
    file_split = _split_of_name(os.path.splitext(os.path.basename(path))[0])
    if "split" in df.columns:
        splits = df["split"].map(lambda s: _split_of_name(s) or (file_split if s.strip() == "" else None))
    else:
        splits = pd.Series([file_split] * len(df), index=df.index, dtype=object)
    bad = splits.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = df["split"].iloc[row] if "split" in df.columns else os.path.basename(path)
        raise ValueError(f"{path}:{row + 2}: unknown split {value!r} (expected train, validate/val or test)")
    out = pd.DataFrame({
        "split": splits.astype(str),
        "youtube_id": df["youtube_id"].str.strip(),
        "label": df["label"].str.strip(),
        "file": path,
        "line": range(2, len(df) + 2),
    })
    for col in ("time_start", "time_end"):
        try:
            out[col] = df[col].map(lambda v: int(float(v)))
        except ValueError as e:
            raise ValueError(f"{path}: column {col} holds a non-numeric time: {e}") from e
    return out


def read_annotations(sources: Sequence[str]) -> pd.DataFrame:
    """Read official annotation CSVs into one table.

    Args:
        sources: CSV files and/or folders (a folder contributes its ``train.csv``,
            ``validate.csv``/``val.csv``, ``test.csv``, sorted by name).

    Returns:
        Columns ``split`` ("train"/"val"/"test", from the ``split`` column, else the file
        name), ``youtube_id``, ``label`` ("" when absent), ``time_start``, ``time_end``
        (int seconds), ``file``, ``line`` (1-based, header = 1), rows in file order.

    Raises:
        FileNotFoundError: a source does not exist.
        ValueError: a folder has no annotation CSV, a file lacks ``youtube_id``/``time_*``
            columns, a time is not numeric, or the split is unknown.
    """
    frames = [_read_one(p) for p in _annotation_files(sources)]
    return pd.concat(frames, ignore_index=True)


def _scan_folder(root: str, extensions: Tuple[str, ...], rel: str) -> List[str]:
    """Relative paths (``/``-joined) of the video files at or below ``root/rel``."""
    top = os.path.join(root, rel)
    if os.path.isfile(top):
        return [rel] if rel.lower().endswith(extensions) else []
    found = []
    for dirpath, dirnames, filenames in os.walk(top, followlinks=True):
        dirnames.sort()
        base = os.path.relpath(dirpath, root).replace(os.sep, "/")
        found.extend(f"{base}/{f}" for f in sorted(filenames) if f.lower().endswith(extensions))
    return found


def index_videos(root: str, extensions: Sequence[str] = DEFAULT_EXTENSIONS,
                 num_workers: int = 0) -> Dict[str, List[str]]:
    """``{file stem: [relative paths]}`` of every video under ``root`` (files and class folders).

    Top-level entries are scanned with ``num_workers`` processes (a tqdm bar counts them);
    useful on network file systems with hundreds of class folders.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        RuntimeError: a folder could not be read.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"videos root not found: {root}")
    exts = tuple("." + e.lower().lstrip(".") for e in extensions)
    entries = sorted(os.listdir(root))
    results = run_parallel(functools.partial(_scan_folder, root, exts), entries, num_workers, desc="scanning videos")
    index: Dict[str, List[str]] = {}
    for r in results:
        if r.status != "ok":
            raise RuntimeError(f"cannot scan {os.path.join(root, r.item)}: {r.error}")
        for rel in r.value:
            index.setdefault(os.path.splitext(os.path.basename(rel))[0], []).append(rel)
    return index


def _pick(candidates: List[str], label: str, extensions: Sequence[str]) -> str:
    """Prefer a file in a folder named after ``label``, then the extension order, then the path."""
    names = {label, label.replace(" ", "_")}
    order = {("." + e.lower().lstrip(".")): i for i, e in enumerate(extensions)}

    def key(rel):
        folder = os.path.basename(os.path.dirname(rel))
        return (folder not in names, order.get(os.path.splitext(rel)[1].lower(), len(order)), rel)

    return min(candidates, key=key)


def choose_separator(paths: Sequence[str]) -> str:
    """``" "``, or ``","`` when a path contains a space.

    Raises:
        ValueError: a path contains both a space and a comma (no separator can represent it).
    """
    if not any(" " in p for p in paths):
        return " "
    both = [p for p in paths if "," in p]
    if both:
        raise ValueError(f"path contains both a space and a comma, no list separator fits: {both[0]!r}")
    return ","


def prepare_kinetics(
    annotations: Sequence[str],
    videos_root: str,
    out_dir: str,
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    num_workers: int = 0,
) -> PrepResult:
    """Match annotated clips to files and write the lists, ``classes.json`` and ``missing.csv``.

    Args:
        annotations: official CSV files and/or folders holding them (:func:`read_annotations`).
        videos_root: the folder of downloaded clips (becomes ``DATA.PATH_PREFIX``).
        out_dir: output folder (``DATA.PATH_TO_DATA_DIR``), created if missing.
        extensions: video file extensions (no dot), in order of preference.
        num_workers: processes scanning the top-level folders of ``videos_root``.

    Returns:
        :class:`PrepResult`. A list file is written for every split with labelled rows.

    Raises:
        FileNotFoundError: an annotation source or ``videos_root`` is missing.
        ValueError: malformed annotations, no labelled train rows (classes come from
            them), or a path no separator can represent.
    """
    ann = read_annotations(annotations)
    classes = sorted(set(ann.loc[(ann["split"] == "train") & (ann["label"] != ""), "label"]))
    if not classes:
        raise ValueError("no labelled train annotations: classes.json is built from the train labels")
    class_index = {name: i for i, name in enumerate(classes)}
    index = index_videos(videos_root, extensions, num_workers)

    rows: Dict[str, List[Tuple[str, int]]] = {}
    missing: List[dict] = []
    stats = {s: SplitStats() for s in SPLITS if (ann["split"] == s).any()}
    first_ext = str(extensions[0]).lstrip(".")
    for split, yid, label, t0, t1 in zip(ann["split"], ann["youtube_id"], ann["label"],
                                         ann["time_start"], ann["time_end"]):
        st = stats[split]
        st.annotated += 1
        if label == "":
            st.no_label += 1
            continue
        if label not in class_index:
            st.unknown_label += 1
            continue
        stem = clip_stem(yid, t0, t1)
        candidates = index.get(stem)
        if candidates:
            st.found += 1
            rows.setdefault(split, []).append((_pick(candidates, label, extensions), class_index[label]))
        else:
            st.missing += 1
            missing.append(dict(split=split, youtube_id=yid, time_start=t0, time_end=t1, label=label,
                                expected=f"{stem}.{first_ext}"))

    sep = choose_separator([p for r in rows.values() for p, _ in r])
    result = PrepResult(separator=sep, classes=classes, stats=stats)
    for split in SPLITS:
        if split in rows or (split in stats and stats[split].no_label < stats[split].annotated):
            path = os.path.join(out_dir, f"{split}.csv")
            atomic_write_text(path, "".join(f"{p}{sep}{label}\n" for p, label in rows.get(split, [])))
            result.written.append(path)
    path = os.path.join(out_dir, "classes.json")
    atomic_write_text(path, json.dumps(class_index, indent=1, ensure_ascii=False) + "\n")
    result.written.append(path)
    path = os.path.join(out_dir, "missing.csv")
    atomic_write_text(path, pd.DataFrame(missing, columns=MISSING_COLUMNS).to_csv(index=False, lineterminator="\n"))
    result.written.append(path)
    return result
