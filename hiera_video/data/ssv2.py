"""Something-Something-v2: segment-based sampling dataset and the official-JSON list writer.

``SSv2(cfg, split)`` is :class:`~hiera_video.data.kinetics.Kinetics` (same list files
``{DATA.PATH_TO_DATA_DIR}/{train,TEST.SPLIT}.csv``, same item dicts, same bad-video
policy: retries in training, ``views=None`` + ``error`` at test) with two changes:

- Temporal sampling is segment based (TSN style), see :func:`segment_indices`: the whole
  video is cut into ``DATA.NUM_FRAMES`` equal segments and one frame is taken per segment.
  Train takes a random frame in each segment; a single test view (validation) takes the segment centres; test view
  ``i`` of ``n = TEST.NUM_ENSEMBLE_VIEWS`` takes offset ``(i + 0.5) / n`` inside every
  segment, so the temporal test views really differ (PySlowFast's SSv2 test views are
  all the same clip). ``DATA.SAMPLING_RATE`` and ``DATA.TARGET_FPS`` are not used.
- No plain horizontal flip, whatever ``DATA.RANDOM_FLIP`` says: SSv2 has left/right classes
  ("Pushing something from left to right") that a flip would turn into each other. With
  ``DATA.LABEL_AWARE_FLIP True`` training uses a label-aware flip instead (below).

Label-aware flip (``DATA.LABEL_AWARE_FLIP``, train split only): class names come from
``{DATA.PATH_TO_DATA_DIR}/classes.json`` (``{name: id}``, bracket-free templates, as
``data_prep/ssv2.py`` writes it) and :func:`flip_label_map` decides per class. With probability
0.5 a training item's decoded frames are mirrored (the W axis of every frame reversed) and its
label replaced by the class's mirror class; a class whose mirror does not exist is never
flipped. ONE flip decision is drawn per item (Python ``random``, before the spatial transforms)
and shared by its ``AUG.NUM_SAMPLE`` augmented copies, which share one label. On the 174
official SSv2 templates (ids as in ``something-something-v2-labels.json``) the map finds three
pairs, "Pulling something from left to right" (86) <-> "... from right to left" (87),
"Pushing something from left to right" (93) <-> "... from right to left" (94) and "Turning the
camera left while filming something" (166) <-> "... right ..." (167); "Plugging something into
something but pulling it right out as you remove your hand" (50) is never flipped (no "left"
counterpart); the other 167 classes flip and keep their label ("upright" is not the word "right").

List preparation from the official JSON files lives in :mod:`hiera_video.prep.ssv2`.

Source: annotation format and "strip the brackets from the template" from PySlowFast
``slowfast/datasets/ssv2.py``; segment sampling as in TSN / PySlowFast SSv2 (re-implemented;
the offsets for several test views are ours).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re

import torch
from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import ListError, ListNotFoundError

from .build import register_dataset
from .kinetics import Kinetics

logger = logging.getLogger(__name__)

__all__ = ["SSv2", "segment_indices", "flip_label_map", "load_classes"]

SEGMENT_MODES = ("train", "test")
_LEFT_RIGHT = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def _swap_left_right(name: str) -> str:
    def swap(m: re.Match) -> str:
        word = "right" if m.group(1).lower() == "left" else "left"
        return word.capitalize() if m.group(1)[0].isupper() else word

    return _LEFT_RIGHT.sub(swap, name)


def _norm(name: str) -> str:
    return " ".join(name.lower().split())


def flip_label_map(classes: dict[str, int]) -> dict[int, int | None]:
    """Label of each class after a horizontal flip of its clip.

    A class whose name contains the word "left" or "right" (whole words, case-insensitive) maps to
    the class whose name has every "left" and "right" swapped (compared case- and
    whitespace-insensitively), or to ``None`` (never flip it) when there is no such class. Other
    classes map to themselves. E.g. ``{"Pushing something from left to right": 0, "Pushing something
    from right to left": 1, "Holding something": 2}`` -> ``{0: 1, 1: 0, 2: 2}``. See the module
    docstring for the pairs on the 174 SSv2 templates.

    Args:
        classes: ``{class name: class id}`` (ids ints or int strings, as in ``classes.json``).

    Returns:
        ``{class id: flipped class id, or None}``, one entry per class.

    Raises:
        ValueError: an id that is not an integer >= 0, or two names with the same id.
    """
    ids: dict[str, int] = {}
    for name, value in classes.items():
        try:
            ids[name] = int(value)
        except (TypeError, ValueError):
            raise ListError(f"class {name!r}: id {value!r} is not an integer") from None
        if ids[name] < 0:
            raise ListError(f"class {name!r}: id {ids[name]} is negative")
    if len(set(ids.values())) != len(ids):
        dup = sorted({i for i in ids.values() if list(ids.values()).count(i) > 1})
        raise ListError(f"class ids must be unique; repeated: {dup[:5]}")
    by_norm = {_norm(name): i for name, i in ids.items()}
    out: dict[int, int | None] = {}
    for name, i in ids.items():
        out[i] = by_norm.get(_norm(_swap_left_right(name))) if _LEFT_RIGHT.search(name) else i
    return out


def load_classes(data_dir: str) -> dict[str, int]:
    """``{name: id}`` from ``{data_dir}/classes.json`` (iopath).

    Raises:
        FileNotFoundError: no ``classes.json`` (the message says how to write it).
        ValueError: not a JSON object.
    """
    path = os.path.join(data_dir, "classes.json")
    if not g_pathmgr.exists(path):
        raise ListNotFoundError(f"DATA.LABEL_AWARE_FLIP needs the class names in {path} ({{name: id}}, as "
                                f"data_prep/ssv2.py writes it); not found")
    with g_pathmgr.open(path, "r") as f:
        try:
            classes = json.load(f)
        except json.JSONDecodeError as e:
            raise ListError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(classes, dict):
        raise ListError(f"{path}: expected a JSON object {{name: id}}, got {type(classes).__name__}")
    return classes


def segment_indices(
    num_video_frames: int,
    num_segments: int,
    mode: str,
    offset: float | None = None,
    rng: random.Random | None = None,
) -> list[int]:
    """One frame index per equal temporal segment of the whole video.

    Segment ``s`` covers source frames ``[b_s, b_{s+1} - 1]`` with
    ``b_s = floor(s * num_video_frames / num_segments)``.

    Args:
        num_video_frames: frames in the video (``n >= 1``).
        num_segments: frames wanted (``DATA.NUM_FRAMES``).
        mode: ``"train"``: a uniformly random frame per segment (``rng``: ``random.Random``-like
            with ``random()``; default the ``random`` module); ``"test"``: the frame at
            relative ``offset`` in ``[0, 1)`` inside every segment (default 0.5, the centre;
            test view ``i`` of ``V`` uses ``(i + 0.5) / V``).
        offset: see ``mode``; only for ``"test"``.
        rng: see ``mode``; only for ``"train"``.

    Returns:
        ``num_segments`` ints in ``[0, n - 1]``, strictly increasing when
        ``n >= num_segments``; a shorter video repeats frames (non-decreasing).

    Raises:
        ValueError: ``n < 1``, ``num_segments < 1``, unknown mode, offset outside ``[0, 1)``.
    """
    n, k = int(num_video_frames), int(num_segments)
    if n < 1:
        raise ValueError(f"num_video_frames must be >= 1, got {num_video_frames}")
    if k < 1:
        raise ValueError(f"num_segments must be >= 1, got {num_segments}")
    if mode not in SEGMENT_MODES:
        raise ValueError(f"mode must be one of {SEGMENT_MODES}, got {mode!r}")
    if mode == "test":
        offset = 0.5 if offset is None else float(offset)
        if not 0.0 <= offset < 1.0:
            raise ValueError(f"offset must be in [0, 1), got {offset}")
    out = []
    for s in range(k):
        rel = (rng or random).random() if mode == "train" else offset
        if n >= k:
            lo, hi = (s * n) // k, ((s + 1) * n) // k  # integer bounds, hi - lo >= 1
            out.append(lo + min(int(rel * (hi - lo)), hi - lo - 1))
        else:  # fewer frames than segments: positions (s + rel) * n / k repeat frames
            out.append(min(int((s + rel) * n / k), n - 1))
    return out


@register_dataset("ssv2")
class SSv2(Kinetics):
    """Something-Something-v2 video dataset; items as :class:`~hiera_video.data.kinetics.Kinetics`.

    Differences (see the module docstring): segment-based temporal sampling over the whole
    video (:func:`segment_indices`; test view ``i`` uses offset ``(i + 0.5) / TEST.NUM_ENSEMBLE_VIEWS``)
    and **no plain horizontal flip** — ``DATA.RANDOM_FLIP`` is ignored because SSv2 has
    left/right classes; ``DATA.LABEL_AWARE_FLIP True`` turns on the label-aware flip for training.
    Frame lists (``DATA.INPUT_FORMAT "frames"``) work as for ``Kinetics``.

    Attributes:
        flip_map: :func:`flip_label_map` of ``classes.json`` for a train split with
            ``DATA.LABEL_AWARE_FLIP``, else ``None`` (never flip).

    Config keys read: those of ``Kinetics`` (DATA.SAMPLING_RATE / TARGET_FPS are read but
    unused); sampling uses DATA.NUM_FRAMES and TEST.NUM_ENSEMBLE_VIEWS; DATA.LABEL_AWARE_FLIP.

    Raises:
        as ``Kinetics``; with ``DATA.LABEL_AWARE_FLIP`` on the train split also FileNotFoundError
        (no ``classes.json``) and ValueError (bad ``classes.json``, or a list label missing from it).
    """

    horizontal_flip = False  # left/right classes: DATA.RANDOM_FLIP is ignored

    def __init__(self, cfg, split: str, require_labels: bool = True):
        super().__init__(cfg, split, require_labels)
        self.flip_map: dict[int, int | None] | None = None
        if split == "train" and cfg.DATA.LABEL_AWARE_FLIP and require_labels:
            self.flip_map = flip_label_map(load_classes(cfg.DATA.PATH_TO_DATA_DIR))
            unknown = sorted({r.label for r in self.records} - set(self.flip_map))
            if unknown:
                raise ListError(f"{self.list_path}: labels {unknown[:5]} are not in "
                                 f"{os.path.join(cfg.DATA.PATH_TO_DATA_DIR, 'classes.json')}")
            pairs = sorted((a, b) for a, b in self.flip_map.items() if b is not None and a < b)
            never = sorted(a for a, b in self.flip_map.items() if b is None)
            logger.info("label-aware flip: %d class pairs swap on flip %s; never flipped: %s",
                        len(pairs), pairs, never)

    def _train_frames(self, frames: torch.Tensor, label: int) -> tuple[torch.Tensor, int]:
        """Label-aware flip of uint8 ``(T, H, W, C)`` frames: with probability 0.5 (one draw per item)
        mirror every frame (reverse W) and return the mirror class; classes mapped to ``None`` and
        runs without ``DATA.LABEL_AWARE_FLIP`` return the input unchanged."""
        if self.flip_map is None:
            return frames, label
        target = self.flip_map[label]
        if target is None or random.random() >= 0.5:
            return frames, label
        return frames.flip(2), target

    def _clip_frame_indices(self, n: int, fps: float, clip_idx: int, num_clips: int) -> list[int]:
        """Segment sampling: a random frame per segment (``clip_idx == -1``), else the frame at
        offset ``(clip_idx + 0.5) / num_clips`` inside each segment (one clip: the centres)."""
        if clip_idx < 0:
            return segment_indices(n, self.num_frames, "train")
        return segment_indices(n, self.num_frames, "test", (clip_idx + 0.5) / num_clips)
