"""AVA frame folders -> PySlowFast frame lists (``data_prep/ava.py lists``), and the AVA file names.

Frames are PySlowFast's layout (:mod:`hiera_video.prep.extract_frames`): ``{frame_dir}/{vid}/{vid}_{k:06d}.jpg``,
``k = 1, 2, ...`` (1-based in the names, as ``ffmpeg -i V {vid}_%06d.jpg`` writes them); frame ``k`` is row ``k - 1``
(``frame_id``) of the movie in the frame list, and PySlowFast reads the ``n`` rows of a movie as its frames
``0 .. n-1`` in order. So a movie is listed with its frames ``1 .. n`` where ``n`` is the last frame before the first
gap: a frame after a gap would silently take the wrong index. Gaps, movies without a folder, and folders whose files
are named otherwise (``img_00001.jpg``, ``{vid}_00001.jpg`` with 5 digits, ``.png``: frame-extraction differences)
are reported, never a crash.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

from hiera_video.data.ava import read_box_csv
from hiera_video.prep.extract_frames import frame_name, write_frame_list
from hiera_video.utils.atomic import atomic_write_text, ensure_dir
from hiera_video.utils.errors import DataError

__all__ = ["SPLITS", "GT_FILE", "PROPOSALS_FILE", "EXCLUSION_FILE", "LABEL_MAP_FILE", "FRAME_LIST_FILE",
           "LIST_PROBLEMS_CSV", "MovieFrames", "SplitFrames", "scan_movie_frames", "write_ava_frame_lists",
           "csv_text"]

#: The splits and file names PySlowFast's AVA config reads (``AVA.*`` defaults in ``config/defaults.py``).
SPLITS = ("train", "val")
GT_FILE = "ava_{split}_v2.2.csv"
PROPOSALS_FILE = "ava_{split}_predicted_boxes.csv"
EXCLUSION_FILE = "ava_val_excluded_timestamps_v2.2.csv"
LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
FRAME_LIST_FILE = "{split}.csv"
#: Written beside the frame lists: every movie left out or cut short.
LIST_PROBLEMS_CSV = "frame_problems.csv"
_PROBLEM_COLUMNS = ["split", "video_id", "problem", "frames_listed", "detail"]


def csv_text(header: Sequence[str], rows) -> str:
    """``header`` and ``rows`` as CSV text (``\\n`` line ends)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


@dataclass
class MovieFrames:
    """What :func:`scan_movie_frames` found for one movie.

    Attributes:
        count: frames ``1 .. count`` are all present (0: frame 1 is missing).
        folder_exists: ``{frame_dir}/{video_id}`` is a folder.
        after_gap: frames with a number above ``count + 1`` (present but unusable: they follow a gap).
        others: files in the folder not named ``{video_id}_{k:06d}.jpg``; ``other_example`` is one of them.
    """

    video_id: str
    count: int = 0
    folder_exists: bool = False
    after_gap: int = 0
    others: int = 0
    other_example: str = ""

    def problem(self) -> Optional[tuple[str, str]]:
        """``(kind, detail)`` of what is wrong (``no_folder``, ``no_frames``, ``gap``), or None."""
        vid = self.video_id
        if not self.folder_exists:
            return "no_folder", f"no folder {vid}/ (expected frames {frame_name(vid, 1)}, ...)"
        if self.count == 0:
            if self.others:
                return "no_frames", (f"no {frame_name(vid, 1)}; the folder holds {self.others} other files such as "
                                     f"{self.other_example!r} (frames must be named {{vid}}_%06d.jpg from 1)")
            return "no_frames", f"{vid}/ holds no frames"
        if self.after_gap:
            return "gap", (f"frame {frame_name(vid, self.count + 1)} is missing: listed frames 1-{self.count}, "
                           f"{self.after_gap} frames after the gap left out")
        return None


def scan_movie_frames(frame_dir: str, video_id: str) -> MovieFrames:
    """Count the contiguous frames ``{frame_dir}/{video_id}/{video_id}_{k:06d}.jpg``, ``k = 1, 2, ...`` (one
    directory listing, no per-file stat)."""
    folder = os.path.join(frame_dir, video_id)
    found = MovieFrames(video_id)
    if not os.path.isdir(folder):
        return found
    found.folder_exists = True
    prefix, numbers = f"{video_id}_", set()
    with os.scandir(folder) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue  # extraction markers, temp files
            digits = name[len(prefix):-4] if name.startswith(prefix) and name.endswith(".jpg") else ""
            if digits.isdigit() and digits == f"{int(digits):06d}" and int(digits) > 0:
                numbers.add(int(digits))
            else:
                found.others += 1
                found.other_example = found.other_example or name
    while found.count + 1 in numbers:
        found.count += 1
    found.after_gap = len(numbers) - found.count
    return found


@dataclass
class SplitFrames:
    """One split of :func:`write_ava_frame_lists`: the movies listed ``[(video_id, frames)]`` (sorted by id), the
    movies named by the ground truth, and every movie left out or cut short (:class:`MovieFrames`)."""

    split: str
    annotated: int = 0
    movies: List[tuple] = field(default_factory=list)
    problems: List[MovieFrames] = field(default_factory=list)

    def line(self) -> str:
        """One summary line."""
        kinds: Dict[str, int] = {}
        for p in self.problems:
            kinds[p.problem()[0]] = kinds.get(p.problem()[0], 0) + 1
        text = (f"{self.split}: {len(self.movies)} of {self.annotated} movies listed, "
                f"{sum(n for _, n in self.movies)} frames")
        notes = {"no_folder": "without a frame folder", "no_frames": "without frames", "gap": "cut at a gap"}
        return text + "".join(f"; {kinds[k]} {notes[k]}" for k in notes if k in kinds)


def write_ava_frame_lists(frame_dir: str, annotation_dir: str, out_dir: str,
                          splits: Sequence[str] = SPLITS) -> Dict[str, SplitFrames]:
    """Write PySlowFast frame lists ``{out_dir}/{split}.csv`` for the movies of ``{annotation_dir}/ava_{split}_v2.2.csv``.

    Each list has the header ``original_vido_id video_id frame_id path labels`` and one row per frame (paths relative
    to ``frame_dir``, labels ``""``; :func:`~hiera_video.prep.extract_frames.write_frame_list`), movies sorted by id.
    A movie is listed with the frames present on disk, ``1 .. n`` contiguous (a gap ends it there); a movie without a
    folder or without a frame 1 is left out. Both are reported in ``{out_dir}/frame_problems.csv``
    (``split,video_id,problem,frames_listed,detail``) and the result. Files are written atomically.

    Raises:
        DataError: ``frame_dir`` is not a folder, or a split names movies and none has frames (a wrong
            ``--frame-dir`` or frames named otherwise; the message shows the expected path).
        ListNotFoundError / ListFormatError: a missing or malformed ground-truth CSV (``file:line``).
    """
    if not os.path.isdir(frame_dir):
        raise DataError(f"frame folder not found: {frame_dir}")
    results: Dict[str, SplitFrames] = {}
    for split in splits:
        table = read_box_csv(os.path.join(annotation_dir, GT_FILE.format(split=split)), "groundtruth")
        movies = sorted({vid for vid, _ in table.keyframes})
        result = SplitFrames(split, annotated=len(movies))
        for vid in movies:
            found = scan_movie_frames(frame_dir, vid)
            if found.problem() is not None:
                result.problems.append(found)
            if found.count:
                result.movies.append((vid, found.count))
        if movies and not result.movies:
            example = result.problems[0].problem()[1]
            raise DataError(f"{split}: none of the {len(movies)} movies of {table.path} has frames under "
                            f"{frame_dir} (e.g. {example}); check --frame-dir")
        results[split] = result
    ensure_dir(out_dir, "frame list folder")
    for split, result in results.items():
        write_frame_list(os.path.join(out_dir, FRAME_LIST_FILE.format(split=split)), result.movies)
    rows = [[split, p.video_id, p.problem()[0], p.count, p.problem()[1]]
            for split, result in results.items() for p in result.problems]
    atomic_write_text(os.path.join(out_dir, LIST_PROBLEMS_CSV), csv_text(_PROBLEM_COLUMNS, rows))
    return results
