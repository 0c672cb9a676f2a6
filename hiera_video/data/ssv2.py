"""Something-Something-v2: segment-based sampling dataset and the official-JSON list writer.

``SSv2(cfg, split)`` is :class:`~hiera_video.data.kinetics.Kinetics` (same list files
``{DATA.PATH_TO_DATA_DIR}/{train,val,TEST.SPLIT}.csv``, same item dicts, same bad-video
policy: retries for train/val, ``views=None`` + ``error`` at test) with two changes:

- Temporal sampling is segment based (TSN style), see :func:`segment_indices`: the whole
  video is cut into ``DATA.NUM_FRAMES`` equal segments and one frame is taken per segment.
  Train takes a random frame in each segment; val takes the segment centres; test view
  ``i`` of ``n = TEST.NUM_ENSEMBLE_VIEWS`` takes offset ``(i + 0.5) / n`` inside every
  segment, so the temporal test views really differ (PySlowFast's SSv2 test views are
  all the same clip). ``DATA.SAMPLING_RATE`` and ``DATA.TARGET_FPS`` are not used.
- No horizontal flip, whatever ``DATA.RANDOM_FLIP`` says: SSv2 has left/right classes
  ("Pushing something from left to right") that a flip would turn into each other.

:func:`prepare_ssv2` turns the official ``something-something-v2-{labels,train,validation}.json``
files into Kinetics-format lists (CLI: ``data_prep/ssv2.py``).

Source: annotation format and "strip the brackets from the template" from PySlowFast
``slowfast/datasets/ssv2.py``; segment sampling as in TSN / PySlowFast SSv2 (re-implemented;
the offsets for several test views are ours).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import random
from dataclasses import dataclass, field


from .kinetics import Kinetics

logger = logging.getLogger(__name__)

__all__ = ["SSv2", "SSv2PrepResult", "SSv2PrepStats", "prepare_ssv2", "segment_indices", "strip_template"]

SEGMENT_MODES = ("train", "test")


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


class SSv2(Kinetics):
    """Something-Something-v2 video dataset; items as :class:`~hiera_video.data.kinetics.Kinetics`.

    Differences (see the module docstring): segment-based temporal sampling over the whole
    video (:func:`segment_indices`; test view ``i`` uses offset ``(i + 0.5) / TEST.NUM_ENSEMBLE_VIEWS``)
    and **horizontal flip always off** — ``DATA.RANDOM_FLIP`` is ignored because SSv2 has
    left/right classes.

    Config keys read: those of ``Kinetics`` (DATA.SAMPLING_RATE / TARGET_FPS are read but
    unused); sampling uses DATA.NUM_FRAMES and TEST.NUM_ENSEMBLE_VIEWS.
    """

    horizontal_flip = False  # left/right classes: DATA.RANDOM_FLIP is ignored

    def _clip_frame_indices(self, n: int, fps: float, clip_idx: int, num_clips: int) -> list[int]:
        """Segment sampling: a random frame per segment (``clip_idx == -1``), else the frame at
        offset ``(clip_idx + 0.5) / num_clips`` inside each segment (val: the centres)."""
        if clip_idx < 0:
            return segment_indices(n, self.num_frames, "train")
        return segment_indices(n, self.num_frames, "test", (clip_idx + 0.5) / num_clips)


# ---------------------------------------------------------------------------- list preparation
def strip_template(template: str) -> str:
    """``"Holding [something] next to [something]"`` -> ``"Holding something next to something"``."""
    return template.replace("[", "").replace("]", "")


@dataclass
class SSv2PrepStats:
    """Per-split counts: ``annotated`` entries, clips ``found`` / ``missing``, entries whose
    template is not in the labels file (``unknown_template``, skipped)."""

    annotated: int = 0
    found: int = 0
    missing: int = 0
    unknown_template: int = 0
    unknown_examples: list[str] = field(default_factory=list)

    def line(self, split: str) -> str:
        text = f"{split}: {self.found} found, {self.missing} missing ({self.annotated} annotated)"
        if self.unknown_template:
            text += (f"; {self.unknown_template} with a template not in the labels file skipped "
                     f"(e.g. {self.unknown_examples[0]!r})")
        return text


@dataclass
class SSv2PrepResult:
    """``classes`` ({template: id}), per-split ``stats`` and the ``written`` paths."""

    classes: dict[str, int]
    stats: dict[str, SSv2PrepStats]
    written: list[str]


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
    classes = read_labels(labels_path)
    splits = {name: read_split(p) for name, p in split_paths.items()}
    stats: dict[str, SSv2PrepStats] = {}
    missing_buf = io.StringIO()
    missing_csv = csv.writer(missing_buf, lineterminator="\n")
    missing_csv.writerow(["split", "id", "template", "expected"])
    written: list[str] = []
    for name, entries in splits.items():
        st = stats[name] = SSv2PrepStats(annotated=len(entries))
        lines = []
        for entry in entries:
            clip_id, template = str(entry["id"]), strip_template(str(entry["template"]))
            label = classes.get(template)
            if label is None:
                st.unknown_template += 1
                if len(st.unknown_examples) < 3:
                    st.unknown_examples.append(template)
                continue
            rel = f"{clip_id}.{ext}"
            if os.path.isfile(os.path.join(videos_root, rel)):
                st.found += 1
                lines.append(f"{rel} {label}")
            else:
                st.missing += 1
                missing_csv.writerow([name, clip_id, template, rel])
        path = os.path.join(out_dir, f"{name}.csv")
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        written.append(path)
    for name, text in (("classes.json", json.dumps(dict(sorted(classes.items(), key=lambda kv: kv[1])), indent=1) + "\n"),
                       ("missing.csv", missing_buf.getvalue())):
        atomic_write_text(os.path.join(out_dir, name), text)
        written.append(os.path.join(out_dir, name))
    return SSv2PrepResult(classes=classes, stats=stats, written=written)
