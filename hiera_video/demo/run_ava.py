"""The AVA demo over many videos (``tools/demo_net.py`` with a ``TASK detection`` config).

For each input video, :func:`run_ava_demo` writes under ``output_dir``:

* ``detections.csv``: AVA's detection layout without header, ``video_id,timestamp,x1,y1,x2,y2,action_id,score``
  (boxes normalised to [0, 1], one row per person box and action of the label map; what ``tools/ava_eval.py``
  scores), ``video_id`` the file name without extension, ``timestamp`` the keyframe's second (``%04d``);
* ``persons.csv``: the person boxes used, as a PySlowFast proposals CSV without header
  (``video_id,timestamp,x1,y1,x2,y2,,score``), so a detector's boxes can be reused with ``--proposals``;
* with ``output_video``: ``{video}_actions.mp4``, each frame with the boxes of the nearest keyframe (within half a
  keyframe stride) and each person's top-3 actions;
* ``summary.json``: per video the keyframes and persons scored; ``failed`` (``{path, error}``) for inputs that could
  not be read, logged and skipped.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

import pandas as pd

from hiera_video.evaluation.detection_report import DETECTION_COLUMNS, detections_csv
from hiera_video.utils.atomic import atomic_write_text, ensure_dir

from .actions import ActionPredictor, KeyframeActions, predict_actions
from .draw import draw_labels, write_labelled_video
from .persons import PersonDetector
from .run import video_stems, expand_inputs

logger = logging.getLogger(__name__)

__all__ = ["run_ava_demo"]

COLORS = [(255, 64, 64), (64, 200, 64), (64, 128, 255), (255, 200, 0), (200, 64, 255), (0, 220, 220)]


def _annotator(p: ActionPredictor, keyframes: List[KeyframeActions], half_window: float):
    ids = p.action_ids()

    def annotate(image, seconds: float) -> None:
        if not keyframes:
            return
        k = min(keyframes, key=lambda kf: abs(kf.second - seconds))
        if abs(k.second - seconds) > half_window:
            return
        w, h = image.size
        for i, (box, scores) in enumerate(zip(k.boxes.tolist(), k.scores)):
            top = scores.topk(min(3, len(ids)))
            lines = [f"{p.name(ids[j])} {q:.2f}" for q, j in zip(top.values.tolist(), top.indices.tolist())]
            pix = (box[0] * w, box[1] * h, box[2] * w, box[3] * h)
            draw_labels(image, lines, xy=(int(pix[0]) + 2, int(pix[1]) + 2), box=pix, color=COLORS[i % len(COLORS)],
                        font_px=max(9, h // 50))

    return annotate


def run_ava_demo(p: ActionPredictor, inputs: Sequence[str], persons: Optional[Dict] = None,
                 detector: Optional[PersonDetector] = None, output_dir: str = "output/demo",
                 keyframe_stride: int = 1, output_video: bool = False, backend: str = "pyav",
                 progress: bool = True) -> dict:
    """Actions per person in every input video; writes the files of the module docstring and returns the summary.

    Args:
        persons: ``read_proposals`` output (``{video_id: {second: (boxes, scores)}}``); a video it does not list
            gets no keyframe (a warning says so).
        detector: a person detector, used when ``persons`` is None (keyframes every ``keyframe_stride`` seconds).

    Raises:
        ValueError: neither ``persons`` nor ``detector``.
        ConfigError: no input video.
    """
    if persons is None and detector is None:
        raise ValueError("give person boxes (persons) or a person detector")
    paths = expand_inputs(inputs)
    ensure_dir(output_dir, "--output")
    stems = video_stems(paths)
    det_rows: List[list] = []
    person_rows: List[list] = []
    videos, failed = [], []
    ids = p.action_ids()
    for path in tqdm(paths, desc="demo (AVA)", unit="video", disable=not progress, dynamic_ncols=True):
        stem = stems[path]
        source = detector
        if persons is not None:
            source = persons.get(stem, {})
            if not source:
                logger.warning("demo: the proposals list no box for video_id %s (%s): no keyframe", stem, path)
        try:
            keyframes, fps, n = predict_actions(p, path, source, keyframe_stride=keyframe_stride, backend=backend)
        except Exception as e:  # a bad file: reported and skipped, the rest go on
            reason = " ".join(str(e).split()) or type(e).__name__
            logger.warning("demo: skipping %s: %s", path, reason)
            failed.append({"path": path, "error": reason})
            continue
        for k in keyframes:
            for box, pscore, scores in zip(k.boxes.tolist(), k.person_scores.tolist(), k.scores.tolist()):
                person_rows.append([stem, k.second, *box, pscore])
                det_rows.extend([stem, k.second, *box, a, s] for a, s in zip(ids, scores))
        files = {}
        if output_video:
            files["video"] = os.path.join(output_dir, f"{stem}_actions.mp4")
            write_labelled_video(path, files["video"], _annotator(p, keyframes, max(keyframe_stride, 1) / 2))
        videos.append({"video": stem, "path": path, "fps": fps, "num_frames": n, "num_keyframes": len(keyframes),
                       "num_persons": int(sum(len(k.boxes) for k in keyframes)), "files": files})
    atomic_write_text(os.path.join(output_dir, "detections.csv"),
                      detections_csv(pd.DataFrame(det_rows, columns=DETECTION_COLUMNS)))
    persons_frame = pd.DataFrame(person_rows, columns=[c for c in DETECTION_COLUMNS if c != "action_id"])
    persons_frame.insert(6, "action_id", "")  # PySlowFast's proposals: column 7 empty, column 8 the person score
    persons_frame["timestamp"] = persons_frame["timestamp"].astype("int64").astype(str).str.zfill(4)
    atomic_write_text(os.path.join(output_dir, "persons.csv"),
                      persons_frame.to_csv(header=False, index=False, float_format="%.6f"))
    summary = {"model": p.source, "videos": videos, "failed": failed, "output_dir": output_dir,
               "detections": os.path.join(output_dir, "detections.csv")}
    atomic_write_text(os.path.join(output_dir, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary
