"""Kinetics-format lists from a folder of class sub-folders (``root/{class_name}/{video}``).

The class index follows the sorted class-folder names, the order PySlowFast and
MMAction2 use for Kinetics. Videos are split into train / val / test by a seeded
shuffle per class, so every class appears in every split it has enough videos for.
"""

from __future__ import annotations

import json
import os
import random
from typing import Dict, List, Sequence, Tuple

from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import ListError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")

__all__ = ["VIDEO_EXTENSIONS", "scan_class_folders", "split_per_class", "write_kinetics_lists"]


def scan_class_folders(root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS) -> Dict[str, List[str]]:
    """``{class_name: [video path relative to root, ...]}`` for every sub-folder holding videos.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        ValueError: no video with one of ``extensions`` under any sub-folder.
    """
    if not g_pathmgr.isdir(root):
        raise FileNotFoundError(f"video folder not found: {root}")
    classes: Dict[str, List[str]] = {}
    for name in sorted(g_pathmgr.ls(root)):
        folder = os.path.join(root, name)
        if not g_pathmgr.isdir(folder):
            continue
        videos = sorted(f for f in g_pathmgr.ls(folder) if f.lower().endswith(tuple(extensions)))
        if videos:
            classes[name] = [f"{name}/{v}" for v in videos]
    if not classes:
        raise ValueError(f"no videos ({', '.join(extensions)}) in class sub-folders of {root}")
    return classes


def split_per_class(
    classes: Dict[str, List[str]], fractions: Tuple[float, float, float], seed: int = 0
) -> Dict[str, List[Tuple[str, int]]]:
    """Split each class's videos into ``{"train", "val", "test"}`` lists of ``(path, label)``.

    Labels index the sorted class names. Rounding gives val and test ``round(n * f)``
    videos each and train the rest. A split with fraction 1.0 gets every video (for
    tiny demos where train and test share the same files).

    Raises:
        ValueError: a fraction is negative, or the three add up to neither 1 nor
            contain a 1.0 share-everything split.
        ListError: a split with a positive fraction would get no video.
    """
    if any(f < 0 for f in fractions):
        raise ValueError(f"split fractions must be >= 0, got {fractions}")
    out: Dict[str, List[Tuple[str, int]]] = {"train": [], "val": [], "test": []}
    rng = random.Random(seed)
    for label, name in enumerate(sorted(classes)):
        videos = list(classes[name])
        if 1.0 in fractions:  # share-everything mode
            for split, f in zip(out, fractions):
                if f == 1.0:
                    out[split].extend((v, label) for v in videos)
            continue
        if abs(sum(fractions) - 1.0) > 1e-6:
            raise ValueError(f"split fractions must add up to 1, got {fractions}")
        rng.shuffle(videos)
        n_val, n_test = round(len(videos) * fractions[1]), round(len(videos) * fractions[2])
        out["val"].extend((v, label) for v in videos[:n_val])
        out["test"].extend((v, label) for v in videos[n_val:n_val + n_test])
        out["train"].extend((v, label) for v in videos[n_val + n_test:])
    empty = [name for name, f in zip(out, fractions) if f > 0 and not out[name]]
    if empty:
        raise ListError(f"--split {' '.join(f'{f:g}' for f in fractions)} leaves the {' and '.join(empty)} list empty "
                        f"({sum(len(v) for v in classes.values())} videos in {len(classes)} classes): give it a larger "
                        f"fraction, 0 to skip it, or more videos")
    return out


def list_separator(splits: Dict[str, List[Tuple[str, int]]]) -> str:
    """``" "``, or ``","`` when a path holds whitespace (a space-separated list could not be read back)."""
    return "," if any(any(c.isspace() for c in path) for rows in splits.values() for path, _ in rows) else " "


def write_kinetics_lists(out_dir: str, splits: Dict[str, List[Tuple[str, int]]], class_names: List[str]) -> str:
    """Write ``{out_dir}/{split}.csv`` (``path label``, or ``path,label`` when a path has a space: see
    :func:`list_separator`) and ``classes.json`` (``{name: label}``). Returns the separator used."""
    g_pathmgr.mkdirs(out_dir)
    sep = list_separator(splits)
    for split, rows in splits.items():
        with g_pathmgr.open(os.path.join(out_dir, f"{split}.csv"), "w") as f:
            f.writelines(f"{path}{sep}{label}\n" for path, label in rows)
    with g_pathmgr.open(os.path.join(out_dir, "classes.json"), "w") as f:
        json.dump({name: i for i, name in enumerate(class_names)}, f, indent=1)
    return sep
