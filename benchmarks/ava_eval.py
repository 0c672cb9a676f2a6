"""AVA frame-mAP: our evaluator (``hiera_video.evaluation.ava_map``) vs the ActivityNet / TF evaluator, same files.

What is measured, on AVA-shaped files this script writes (``--keyframes`` keyframes over 64 "movies" at seconds
902-1798, 1-6 people per keyframe with 1-4 actions each among AVA's 80 ids, one detection row per (proposal, class
of the label map) with continuous scores, as PySlowFast's test writes them; a few excluded keyframes):

* **ours**: ``tools/ava_eval.py``'s path in-process: read the three files
  (``data.ava.annotations``) + ``frame_map``;
* **reference**: the ActivityNet challenge evaluator as PySlowFast runs it (``ava_eval_helper.run_evaluation``:
  excluded keys skipped on both sides, detections on keyframes without ground truth kept as false positives),
  with the files read by ActivityNet's ``read_csv`` (rows sorted by score per keyframe; ``--cap`` as its
  capacity). Its code is not part of this project: pass ``--reference-dir`` pointing at a folder holding its
  ``ava/`` package (``Evaluation/ava`` of github.com/activitynet/ActivityNet, or PySlowFast's ``ava_evaluation``
  renamed ``ava``). NumPy 2 removed ``np.bool`` / ``np.float`` / ``np.NAN``, which it uses; they are aliased here.

Both run in this process on the same files, one after the other (best of ``--repeats`` for ours); interpreter
start-up and the file writing are not timed. Printed: seconds each, the speed-up, and the largest difference of
mAP and of any class AP (should be ~1e-13: continuous scores, no ties).

    python benchmarks/ava_eval.py --keyframes 2000 --reference-dir /tmp/ref
    python benchmarks/ava_eval.py --keyframes 57000 --skip-reference     # full AVA v2.2 val size, ours only
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hiera_video.data.ava import read_box_csv, read_exclusions, read_label_map  # noqa: E402
from hiera_video.evaluation.ava_map import frame_map  # noqa: E402

#: AVA v2.2's 60 evaluated action ids.
AVA60 = [1] + list(range(3, 16)) + [17, 20, 22, 24] + list(range(26, 31)) + [34, 36, 37, 38, 41, 43] + \
    list(range(45, 50)) + [51, 52, 54] + list(range(56, 71)) + [72, 73, 74] + list(range(76, 81))


def write_files(folder: str, keyframes: int, seed: int = 0, decimals: int = 0) -> dict:
    """Write ``gt.csv``, ``det.csv``, ``excluded.csv`` and ``labels.pbtxt`` for ``keyframes`` keyframes; with
    ``decimals`` > 0 the scores carry that many decimals (PySlowFast's ``write_results`` writes 4): ties galore."""
    rng = np.random.default_rng(seed)
    assert len(AVA60) == 60, len(AVA60)
    with open(os.path.join(folder, "labels.pbtxt"), "w") as f:
        for i in AVA60:
            f.write(f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n')
    videos = [f"movie{v:03d}_{'x' * 3}" for v in range(64)]
    gt_rows, det_rows, excl = [], [], []
    per_video = int(np.ceil(keyframes / len(videos)))
    n = 0
    for vid in videos:
        for sec in range(902, 902 + per_video):
            if n >= keyframes:
                break
            n += 1
            if rng.random() < 0.01:
                excl.append(f"{vid},{sec:04d}\n")
            people = rng.integers(1, 7)
            for p in range(people):
                x1, y1 = rng.uniform(0, 0.7, 2)
                w, h = rng.uniform(0.1, 0.3, 2)
                box = np.array([x1, y1, min(x1 + w, 1), min(y1 + h, 1)])
                actions = rng.choice(80, size=rng.integers(1, 5), replace=False) + 1
                for a in actions:
                    gt_rows.append(f"{vid},{sec:04d},{box[0]:.3f},{box[1]:.3f},{box[2]:.3f},{box[3]:.3f},{a},{p}\n")
                jitter = np.clip(box + rng.normal(0, 0.03, 4), 0, 1)
                scores = rng.random(60) * 0.5
                for k, cid in enumerate(AVA60):
                    if cid in actions:
                        scores[k] += 0.5 * rng.random()
                line = f"{vid},{sec:04d},{jitter[0]:.3f},{jitter[1]:.3f},{jitter[2]:.3f},{jitter[3]:.3f},"
                det_rows.extend(f"{line}{cid},{_score(s, decimals)}\n" for cid, s in zip(AVA60, scores))
            if rng.random() < 0.3:  # a false proposal
                line = f"{vid},{sec:04d},0.100,0.100,0.300,0.600,"
                det_rows.extend(f"{line}{cid},{_score(s, decimals)}\n" for cid, s in zip(AVA60, rng.random(60) * 0.6))
    for name, rows in (("gt.csv", gt_rows), ("det.csv", det_rows), ("excluded.csv", excl)):
        with open(os.path.join(folder, name), "w") as f:
            f.writelines(rows)
    return {"keyframes": n, "gt_rows": len(gt_rows), "det_rows": len(det_rows), "excluded": len(excl)}


def _score(s: float, decimals: int) -> str:
    return f"{s:.{decimals}f}" if decimals > 0 else repr(float(s))


def run_ours(folder: str, cap: int):
    labels = read_label_map(os.path.join(folder, "labels.pbtxt"))
    gt = read_box_csv(os.path.join(folder, "gt.csv"), "groundtruth").rows
    det = read_box_csv(os.path.join(folder, "det.csv"), "detections").rows
    excluded = read_exclusions(os.path.join(folder, "excluded.csv"))
    return frame_map(gt, det, labels.ids, excluded=excluded, max_detections_per_frame=cap)


def run_reference(folder: str, reference_dir: str, cap: int):
    """PySlowFast's ``run_evaluation`` on ActivityNet's readers (see the module docstring)."""
    np.bool, np.float, np.NAN = bool, float, np.nan  # removed in NumPy 2; the reference uses them
    sys.path[:0] = [reference_dir, os.path.join(reference_dir, "ava")]  # its modules import each other flat
    import logging

    from ava import object_detection_evaluation, standard_fields

    logging.disable(logging.WARNING)
    import get_ava_performance as gap  # ActivityNet's reader (read_csv, read_labelmap, make_image_key)

    with open(os.path.join(folder, "labels.pbtxt")) as f:
        categories, whitelist = gap.read_labelmap(f)
    with open(os.path.join(folder, "gt.csv")) as f:
        gt_boxes, gt_labels, _, _ = gap.read_csv(f, whitelist, 0)
    with open(os.path.join(folder, "det.csv")) as f:
        det_boxes, det_labels, det_scores, _ = gap.read_csv(f, whitelist, cap)
    with open(os.path.join(folder, "excluded.csv")) as f:
        excluded = {gap.make_image_key(*line.strip().split(",")) for line in f if line.strip()}
    ev = object_detection_evaluation.PascalDetectionEvaluator(categories)
    fields_in, fields_det = standard_fields.InputDataFields, standard_fields.DetectionResultFields
    for key in gt_boxes:
        if key in excluded:
            continue
        ev.add_single_ground_truth_image_info(key, {
            fields_in.groundtruth_boxes: np.array(gt_boxes[key], dtype=float),
            fields_in.groundtruth_classes: np.array(gt_labels[key], dtype=int),
            fields_in.groundtruth_difficult: np.zeros(len(gt_boxes[key]), dtype=bool)})
    for key in det_boxes:
        if key in excluded:
            continue
        ev.add_single_detected_image_info(key, {
            fields_det.detection_boxes: np.array(det_boxes[key], dtype=float),
            fields_det.detection_classes: np.array(det_labels[key], dtype=int),
            fields_det.detection_scores: np.array(det_scores[key], dtype=float)})
    metrics = ev.evaluate()
    per_class = {c["id"]: metrics.get(f"PascalBoxes_PerformanceByCategory/AP@0.5IOU/{c['name']}", np.nan)
                 for c in categories}
    return 100.0 * metrics["PascalBoxes_Precision/mAP@0.5IOU"], per_class


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keyframes", type=int, default=2000)
    parser.add_argument("--cap", type=int, default=0, help="max detections per keyframe (0 = all)")
    parser.add_argument("--decimals", type=int, default=0,
                        help="write scores with this many decimals (ties, as PySlowFast's %%.04f files); 0: repr")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-dir", default=None, help="folder with the reference evaluator's ava/ package")
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--workdir", default=None, help="reuse files here (written when absent)")
    args = parser.parse_args(argv)
    folder = args.workdir or tempfile.mkdtemp(prefix="ava_eval_bench_")
    folder = os.path.join(folder, f"k{args.keyframes}_d{args.decimals}")  # one set of files per shape
    os.makedirs(folder, exist_ok=True)
    info_path = os.path.join(folder, f"info_{args.keyframes}_{args.decimals}.json")
    if not os.path.exists(info_path):
        info = write_files(folder, args.keyframes, decimals=args.decimals)
        with open(info_path, "w") as f:
            json.dump(info, f)
    with open(info_path) as f:
        info = json.load(f)
    print(f"files: {info} in {folder}")
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        ours = run_ours(folder, args.cap)
        times.append(time.perf_counter() - start)
    print(f"ours: mAP {ours.mAP:.6f}%  {min(times):.2f} s (best of {args.repeats}: read {info['det_rows']} "
          f"detection rows + evaluate)")
    if args.skip_reference or not args.reference_dir:
        return 0
    start = time.perf_counter()
    ref_map, ref_ap = run_reference(folder, args.reference_dir, args.cap)
    ref_time = time.perf_counter() - start
    diffs = [abs(100.0 * ref_ap[int(c)] - a) for c, a in zip(ours.class_ids, ours.ap)
             if not (np.isnan(a) and np.isnan(ref_ap[int(c)]))]
    print(f"reference: mAP {ref_map:.6f}%  {ref_time:.2f} s")
    print(f"speed-up: {ref_time / min(times):.1f}x; |mAP diff| {abs(ref_map - ours.mAP):.2e} points, "
          f"max |class AP diff| {max(diffs):.2e} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
