"""AVA frame-mAP (``evaluation.ava_map``), its file readers (``data.ava.annotations``) and ``tools/ava_eval.py``.

Hand-worked cases pin each rule of the ActivityNet evaluator; a plain loop-by-loop VOC implementation written here
(independent of the vectorised one) checks random inputs, with and without the per-frame cap.
"""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT
from hiera_video.data.ava import read_box_csv, read_exclusions, read_label_map
from hiera_video.data.lists import ListFormatError
from hiera_video.evaluation.ava_map import frame_map, group_of

COLS = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"]


def gt_frame(rows):
    return pd.DataFrame(rows, columns=COLS)


def det_frame(rows):
    return pd.DataFrame(rows, columns=COLS + ["score"])


A = (0.1, 0.1, 0.4, 0.9)  # a person box
B = (0.5, 0.1, 0.9, 0.9)  # another, disjoint from A
A_NEAR = (0.12, 0.1, 0.42, 0.9)  # IoU with A ~0.88


def test_hand_worked_ap_duplicate_and_frame_without_gt():
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *B, 1)])
    det = det_frame([("v", 902, *A_NEAR, 1, 0.9),   # TP (A)
                     ("v", 902, *A, 1, 0.8),        # FP: A already taken
                     ("v", 903, *A, 1, 0.7),        # FP: keyframe without ground truth
                     ("v", 902, *B, 1, 0.6)])       # TP (B)
    r = frame_map(gt, det, [1])
    # precision at the TPs: 1/1 and 2/4; envelope keeps them; recall steps of 1/2 -> (1 + 0.5) / 2
    assert r.mAP == pytest.approx(75.0)
    assert r.num_gt.tolist() == [2] and r.num_detections.tolist() == [4]


def test_detections_are_matched_in_score_order_not_file_order():
    gt = gt_frame([("v", 902, *A, 1)])
    # the low-scoring, better-overlapping row comes first in the file; sorted, the 0.9 row takes the box
    det = det_frame([("v", 902, *A, 1, 0.3), ("v", 902, *A_NEAR, 1, 0.9)])
    assert frame_map(gt, det, [1]).mAP == pytest.approx(100.0)  # unsorted greedy matching (PySlowFast) gives 50


def test_class_without_gt_is_left_out_and_class_without_detections_scores_zero():
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *A, 3)])
    det = det_frame([("v", 902, *A, 1, 0.9), ("v", 902, *A, 5, 0.9)])
    r = frame_map(gt, det, [1, 3, 5])
    ap = dict(zip(r.class_ids.tolist(), r.ap.tolist()))
    assert ap[1] == 100.0 and ap[3] == 0.0 and np.isnan(ap[5])
    assert r.mAP == pytest.approx(50.0)
    per = {c["id"]: c for c in r.per_class({1: "stand"})}
    assert per[5]["AP"] is None and per[1]["name"] == "stand" and per[3]["num_gt"] == 1


def test_only_label_map_classes_count():
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *B, 2)])
    det = det_frame([("v", 902, *B, 1, 0.99), ("v", 902, *A, 1, 0.5), ("v", 902, *B, 2, 0.9)])
    r = frame_map(gt, det, [1])
    assert r.class_ids.tolist() == [1]
    assert r.mAP == pytest.approx(50.0)  # FP at 0.99 then TP: precision 1/2


def test_excluded_keyframes_dropped_on_both_sides():
    gt = gt_frame([("v", 902, *A, 1), ("v", 905, *A, 1)])
    det = det_frame([("v", 902, *A, 1, 0.9), ("v", 905, *B, 1, 0.95), ("w", 905, *B, 1, 0.99)])
    assert frame_map(gt, det, [1], excluded={("v", 905)}).mAP == pytest.approx(50.0)  # w,905 still an FP
    assert frame_map(gt, det, [1], excluded={("v", 905), ("w", 905)}).mAP == pytest.approx(100.0)
    r = frame_map(gt, det, [1], excluded={("v", 905), ("w", 905)})
    assert r.num_keyframes == 1 and r.num_gt.tolist() == [1]


def test_zero_area_detections_are_dropped():
    gt = gt_frame([("v", 902, *A, 1)])
    det = det_frame([("v", 902, 0.2, 0.2, 0.2, 0.8, 1, 0.99), ("v", 902, 0.3, 0.5, 0.6, 0.5, 1, 0.98),
                     ("v", 902, *A, 1, 0.5)])
    r = frame_map(gt, det, [1])
    assert r.mAP == pytest.approx(100.0) and r.num_detection_rows == 1


def test_best_overlap_box_taken_means_false_positive():
    # d2 overlaps A best (already taken by d1) and B at IoU >= 0.5 too: VOC does not fall back to B
    g1, g2 = (0.0, 0.0, 0.5, 1.0), (0.1, 0.0, 0.6, 1.0)
    gt = gt_frame([("v", 902, *g1, 1), ("v", 902, *g2, 1)])
    det = det_frame([("v", 902, *g1, 1, 0.9), ("v", 902, 0.02, 0.0, 0.52, 1.0, 1, 0.8)])
    r = frame_map(gt, det, [1])
    assert r.mAP == pytest.approx(50.0)  # TP at rank 1 (precision 1) of 2 GT; the second is an FP


def test_iou_threshold_is_inclusive():
    gt = gt_frame([("v", 902, 0.0, 0.0, 0.5, 1.0, 1)])
    half = det_frame([("v", 902, 0.0, 0.0, 0.25, 1.0, 1, 0.9)])  # IoU exactly 0.5
    assert frame_map(gt, half, [1]).mAP == pytest.approx(100.0)


def test_max_detections_per_frame_keeps_the_best_rows_across_classes():
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *A, 3)])
    det = det_frame([("v", 902, *A, 1, 0.4), ("v", 902, *A, 3, 0.9), ("v", 902, *B, 3, 0.8)])
    full = frame_map(gt, det, [1, 3])
    capped = frame_map(gt, det, [1, 3], max_detections_per_frame=2)
    assert full.mAP == pytest.approx(100.0)
    assert capped.mAP == pytest.approx(50.0)  # class 1's only row is third in the keyframe and is cut
    with pytest.raises(ValueError, match="max_detections_per_frame"):
        frame_map(gt, det, [1], max_detections_per_frame=-1)


def test_groups_split_ava_ids():
    assert [group_of(i) for i in (1, 14, 15, 63, 64, 80)] == [
        "person_movement", "person_movement", "object_manipulation", "object_manipulation",
        "person_interaction", "person_interaction"]
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *A, 20), ("v", 902, *A, 70)])
    det = det_frame([("v", 902, *A, 1, 0.9), ("v", 902, *A, 70, 0.9)])
    r = frame_map(gt, det, [1, 20, 70, 80])
    assert r.groups == {"person_movement": 100.0, "object_manipulation": 0.0, "person_interaction": 100.0}


# ---------------------------------------------------------------------------------------- independent loop version
def _loop_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _read_like_activitynet(frame, classes, cap, score_column):
    """ActivityNet's ``read_csv``: per keyframe a ``heapq`` of (score, action_id, y1, x1, y2, x2), capped at ``cap``
    (a full heap takes a row only with a strictly larger score), then ``sorted(key=-score)``; keyframes in
    first-appearance order. Returns ``{key: [(score, action_id, box x1y1x2y2), ...]}``."""
    import heapq

    entries = {}
    for row in frame.itertuples(index=False):
        if row.action_id not in classes:
            continue
        key = (row.video_id, row.timestamp)
        score = float(getattr(row, score_column)) if score_column else 1.0
        item = (score, int(row.action_id), row.y1, row.x1, row.y2, row.x2)
        heap = entries.setdefault(key, [])
        if cap < 1 or len(heap) < cap:
            heapq.heappush(heap, item)
        elif score > heap[0][0]:
            heapq.heapreplace(heap, item)
    return {key: [(s, a, (x1, y1, x2, y2)) for s, a, y1, x1, y2, x2 in sorted(heap, key=lambda t: -t[0])]
            for key, heap in entries.items()}


def loop_frame_map(gt, det, classes, cap=0, excluded=()):
    """The reference spelled out with loops: ActivityNet's reader for both files (ground truth: no cap, its 8th column
    as the score when present), keyframes in the order added, per keyframe and class the detections in read order
    each taking its best-overlap box (the first on a tie) when free and IoU >= 0.5, keyframes without ground truth
    all false positives (PySlowFast's run), excluded keyframes skipped; per class ``np.argsort(scores)[::-1]``
    (NumPy's default kind) and the VOC all-point AP."""
    gts = _read_like_activitynet(gt, classes, 0, "person_id" if "person_id" in gt.columns else None)
    dets = _read_like_activitynet(det, classes, cap, "score")
    scores = {c: [] for c in classes}
    tps = {c: [] for c in classes}
    num_gt = {c: 0 for c in classes}
    for key, rows in gts.items():
        if key not in excluded:
            for _, a, _ in rows:
                num_gt[a] += 1
    for key, rows in dets.items():
        if key in excluded:
            continue
        rows = [r for r in rows if r[2][0] < r[2][2] and r[2][1] < r[2][3]]
        g = [] if key in excluded else gts.get(key, [])
        for c in classes:
            boxes = [b for _, a, b in g if a == c]
            taken = [False] * len(boxes)
            for score, a, box in rows:
                if a != c:
                    continue
                tp = False
                if boxes:
                    ious = [_loop_iou(box, b) for b in boxes]
                    j = int(np.argmax(ious))
                    if ious[j] >= 0.5 and not taken[j]:
                        taken[j], tp = True, True
                scores[c].append(score)
                tps[c].append(tp)
    aps = []
    for c in classes:
        n = num_gt[c]
        if n == 0:
            continue
        order = np.argsort(np.array(scores[c], dtype=float))[::-1]
        t = np.array(tps[c], dtype=float)[order]
        if len(t) == 0:
            aps.append(0.0)
            continue
        prec = np.cumsum(t) / np.arange(1, len(t) + 1)
        rec = np.cumsum(t) / n
        prec = np.concatenate([[0], prec, [0]])
        rec = np.concatenate([[0], rec, [1]])
        for i in range(len(prec) - 2, -1, -1):
            prec[i] = max(prec[i], prec[i + 1])
        idx = np.where(rec[1:] != rec[:-1])[0] + 1
        aps.append(float(np.sum((rec[idx] - rec[idx - 1]) * prec[idx])))
    return 100.0 * float(np.mean(aps))


def random_case(seed, frames=30, classes=(1, 2, 3, 5, 8), decimals=None, boxes_per_person=(1, 3)):
    """Random AVA-like rows; ``decimals`` rounds scores (and boxes to 2 decimals): ties within and across keyframes."""
    rng = np.random.default_rng(seed)
    gt_rows, det_rows = [], []
    for f in range(frames):
        vid, sec = f"vid{f % 4}", 902 + f
        people = [np.sort(rng.uniform(0, 1, (2, 2)), axis=0).T.ravel()[[0, 2, 1, 3]] for _ in range(rng.integers(0, 4))]
        last = {}
        for box in people:
            for c in rng.choice(list(classes) + [9], size=rng.integers(1, 3), replace=False):
                gt_rows.append((vid, sec, *box, int(c)))
            for _ in range(rng.integers(*boxes_per_person)):
                jit = np.clip(box + rng.normal(0, 0.05, 4), 0, 1)
                if decimals is not None:
                    jit = np.round(jit, 2)
                for c in list(classes) + [9]:
                    score = float(rng.random()) if decimals is None else round(float(rng.random()), decimals)
                    if decimals is not None and c in last and rng.random() < 0.3:
                        score = last[c]  # the same score as this class's previous box: a tie inside the keyframe
                    last[c] = score
                    det_rows.append((vid, sec, *jit, int(c), score))
        if rng.random() < 0.3:
            det_rows.append((vid, sec, 0.3, 0.3, 0.3, 0.6, 1, float(rng.random())))  # zero width
    return gt_frame(gt_rows), det_frame(det_rows), list(classes)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("cap", [0, 7])
def test_matches_loop_implementation_on_random_data(seed, cap):
    gt, det, classes = random_case(seed)
    assert len(det) > 100
    ours = frame_map(gt, det.sample(frac=1.0, random_state=seed).reset_index(drop=True), classes,
                     max_detections_per_frame=cap)
    shuffled = det.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert ours.mAP == pytest.approx(loop_frame_map(gt, shuffled, classes, cap), abs=1e-9)


@pytest.mark.parametrize("decimals", [2, 3, 4])
@pytest.mark.parametrize("cap", [0, 5, 50])
def test_equals_the_reference_on_tie_heavy_files(decimals, cap):
    """Scores with 2-4 decimals (PySlowFast writes 4), boxes with 2, more than 16 detections per class (NumPy's default
    argsort is not stable there), ground truth with person ids (the reference reads them as scores), a few excluded
    keyframes: every class AP equals the reference's."""
    gt, det, classes = random_case(10 + decimals, frames=40, decimals=decimals, boxes_per_person=(1, 4))
    gt["person_id"] = np.random.default_rng(decimals).integers(0, 4, len(gt))
    det = det.sample(frac=1.0, random_state=decimals).reset_index(drop=True)
    per_class = det[det.action_id.isin(classes)].groupby("action_id").size()
    assert per_class.min() > 16 and det.duplicated(["video_id", "timestamp", "action_id", "score"]).any()
    excluded = {("vid1", 905), ("vid2", 910)}
    ours = frame_map(gt, det, classes, excluded=excluded, max_detections_per_frame=cap)
    assert ours.mAP == pytest.approx(loop_frame_map(gt, det, classes, cap, excluded), abs=1e-9)


def test_tied_scores_in_the_reference_readers_heap_order():
    """Hand-worked: three class-1 detections of one keyframe with the same score, file order A (y1 0.3), B (y1 0.1),
    C (y1 0.2). The reader's heap compares tuples (score, action, y1, ...): it holds [B, A, C], so the matching visits
    B (no overlap: FP), A (the ground-truth box: TP), C (box taken: FP); np.argsort of the 3 tied scores is stable and
    reversed ranks C, A, B: the TP at rank 2, AP 50%. Visiting in file order (A first) would give 33.3%."""
    g = (0.1, 0.3, 0.4, 0.9)
    gt = gt_frame([("v", 902, *g, 1)])
    det = det_frame([("v", 902, 0.1, 0.3, 0.4, 0.9, 1, 0.5),    # A: the box itself
                     ("v", 902, 0.6, 0.1, 0.9, 0.5, 1, 0.5),    # B: disjoint
                     ("v", 902, 0.1, 0.2, 0.4, 0.9, 1, 0.5)])   # C: IoU 6/7 with the box
    assert frame_map(gt, det, [1]).mAP == pytest.approx(50.0)
    assert loop_frame_map(gt, det, [1]) == pytest.approx(50.0)


def test_the_cap_evicts_the_smallest_tuple_among_tied_scores():
    """Hand-worked: capacity 2; rows (0.5, class 1), (0.5, class 3), (0.7, class 2). The third row's score beats the
    heap's smallest entry, which is (0.5, 1, ...) - the smaller tuple, though it came first - so class 1 loses its
    only detection (AP 0) while class 3 keeps its one (AP 100). A stable top-2 by score would have kept class 1."""
    gt = gt_frame([("v", 902, *A, 1), ("v", 902, *A, 2), ("v", 902, *A, 3)])
    det = det_frame([("v", 902, *A, 1, 0.5), ("v", 902, *A, 3, 0.5), ("v", 902, *A, 2, 0.7)])
    r = frame_map(gt, det, [1, 2, 3], max_detections_per_frame=2)
    assert r.ap.tolist() == [0.0, 100.0, 100.0] and r.num_detections.tolist() == [0, 1, 1]


# ---------------------------------------------------------------------------------------------------- readers
def test_label_map_both_dialects(tmp_path):
    v22 = tmp_path / "v22.pbtxt"
    v22.write_text('label {\n  name: "bend/bow (at the waist)"\n  label_id: 1\n  label_type: PERSON_MOVEMENT\n}\n'
                   'label {\n  name: "watch (a person)"\n  label_id: 80\n  label_type: PERSON_INTERACTION\n}\n')
    v21 = tmp_path / "v21.pbtxt"
    v21.write_text('item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem { name: "stand" id: 12 }\n')
    m22, m21 = read_label_map(str(v22)), read_label_map(str(v21))
    assert m22.ids == (1, 80) and m22.names[80] == "watch (a person)" and m22.types[1] == "PERSON_MOVEMENT"
    assert m21.ids == (1, 12) and m21.names[12] == "stand"


@pytest.mark.parametrize("text, why", [
    ('label {\n  name: "a"\n}\n', "without an integer id"),
    ('label {\n  name: "a"\n  label_id: 1\n}\nlabel {\n  name: "b"\n  label_id: 1\n}\n', "listed twice"),
    ('label {\n  name: "a"\n  label_id: x\n}\n', "without an integer id"),
    ('label {\n  name: "a"\n  label_id: 1\n', "not closed"),
    ("nothing here\n", "not an AVA label map"),
])
def test_label_map_errors_name_the_line(tmp_path, text, why):
    path = tmp_path / "m.pbtxt"
    path.write_text(text)
    with pytest.raises(ListFormatError, match=why) as e:
        read_label_map(str(path))
    assert str(path) in str(e.value)


def test_box_csv_kinds_and_errors(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1\n\n-5KQ66BBWC4,0903.0,0.1,0.2,0.3,0.4,12\nabc,0904\n")
    t = read_box_csv(str(gt), "groundtruth")
    assert t.rows.video_id.tolist() == ["-5KQ66BBWC4", "-5KQ66BBWC4"]
    assert t.rows.timestamp.tolist() == [902, 903] and t.rows.person_id.tolist() == [1, -1]
    assert t.rows.line.tolist() == [1, 3] and ("abc", 904) in t.keyframes
    prop = tmp_path / "p.csv"
    prop.write_text("1j20qq1JyX4,0902,0.036,0.098,0.550,0.979,,0.995518\n")
    p = read_box_csv(str(prop), "proposals")
    assert p.rows.action_id.tolist() == [-1] and p.rows.score.tolist() == [0.995518]
    cases = {
        "v,0902,0.1,0.2,0.3,x,1,0.5\n": ("detections", 1, "y2 'x' is not a number"),
        "v,0902,0.1,0.2,0.3,0.4,1,0.5\nv,0902,0.1,0.2,0.3,0.4,1,0.5,9\n": ("detections", 2, "expected 8"),
        "v,0902,0.1,0.2,0.3,0.4,1,0.5\nv,0902.5,0.1,0.2,0.3,0.4,1,0.5\n": ("detections", 2, "not a whole number"),
        "v,0902,0.1,0.2,0.3,0.4,,0.5\n": ("detections", 1, "action_id '' is not a number"),
        "v,0902,0.1,0.2,0.3,0.4,1,\n": ("proposals", 1, "score '' is not a number"),
        "v,0902,0.1,0.2,0.3,0.4,1,1\nv,0903,0.1,0.2,0.3,0.4\n": ("groundtruth", 2, "expected 7 or 8"),
        "v,0902,0.1,0.2,0.3,0.4,1,inf\n": ("detections", 1, "not finite"),
    }
    for i, (text, (kind, line, why)) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.csv"
        path.write_text(text)
        with pytest.raises(ListFormatError, match=why) as e:
            read_box_csv(str(path), kind)
        assert e.value.lineno == line and e.value.file == str(path), (text, str(e.value))


def test_empty_csv_and_exclusions(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert len(read_box_csv(str(empty), "proposals").rows) == 0
    exc = tmp_path / "exc.csv"
    exc.write_text("v,0902\nw,1000\n")
    assert read_exclusions(str(exc)) == {("v", 902), ("w", 1000)}
    exc.write_text("v,0902\nw,1000,3\n")
    with pytest.raises(ListFormatError, match=r"exc.csv:2: expected 2"):
        read_exclusions(str(exc))


# -------------------------------------------------------------------------------------------------------- CLI
def test_cli_writes_report_and_rejects_malformed_rows(tmp_path):
    (tmp_path / "m.pbtxt").write_text('item {\n  name: "stand"\n  id: 12\n}\nitem {\n  name: "walk"\n  id: 14\n}\n'
                                      'item {\n  name: "talk to"\n  id: 79\n}\n')
    (tmp_path / "gt.csv").write_text("v,0902,0.1,0.1,0.4,0.9,12,0\nv,0902,0.1,0.1,0.4,0.9,79,0\n"
                                     "v,0903,0.5,0.1,0.9,0.9,14,1\nv,0904,0.5,0.1,0.9,0.9,14,1\n")
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.4,0.9,12,0.9\nv,0903,0.5,0.1,0.9,0.9,14,0.8\n"
                                      "v,0904,0.1,0.1,0.3,0.9,14,0.95\n")
    (tmp_path / "exc.csv").write_text("v,0904\n")
    out = tmp_path / "r.json"
    cmd = [sys.executable, f"{ROOT}/tools/ava_eval.py", "--gt", str(tmp_path / "gt.csv"), "--detections",
           str(tmp_path / "det.csv"), "--label-map", str(tmp_path / "m.pbtxt")]
    run = subprocess.run(cmd + ["--exclusions", str(tmp_path / "exc.csv"), "--out", str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "frame-mAP@0.5 66.67%" in run.stdout and len(run.stdout.strip().splitlines()) == 1
    report = json.loads(out.read_text())
    assert report["mAP"] == pytest.approx(200 / 3)
    assert [(c["id"], c["name"], c["AP"], c["num_gt"]) for c in report["per_class"]] == [
        (12, "stand", 100.0, 1), (14, "walk", 100.0, 1), (79, "talk to", 0.0, 1)]
    assert report["groups"] == {"person_movement": 100.0, "object_manipulation": None, "person_interaction": 0.0}
    # without exclusions v,0904 counts: walk has 2 GT and its 0.95 row misses, so walk's AP = 1/2 x 1/2 = 25
    without = subprocess.run(cmd, capture_output=True, text=True)
    assert "frame-mAP@0.5 41.67%" in without.stdout, without.stdout
    (tmp_path / "det.csv").write_text("v,0902,0.1,0.1,0.4,0.9,12,0.9\nv,0903,0.5,0.1,0.9\n")
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: ") and "det.csv:2:" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_scores_and_boxes_are_scored_exactly_as_detections_csv_holds_them(tmp_path):
    """The test report is scored from arrays (no CSV text round trip): they must equal, bit for bit, what a reader gets
    back from the detections.csv written beside it (boxes %.6f, scores %.9g) for ordinary values, float32 sigmoid
    outputs, values whose rounding is an exact half in binary (0.0078125 = 2^-7 -> 7812.5e-6), values a hair either
    side of a half, tiny and huge ones; and the report must be the scoring of that file."""
    import io

    from hiera_video.evaluation.detection_report import DETECTION_COLUMNS, detections_csv, score_detections
    from hiera_video.evaluation.written import format_significant, round_decimals, round_significant

    rng = np.random.default_rng(0)
    halves = (rng.integers(0, 10**6, 2000) + 0.5) / 1e6
    sig_halves = (rng.integers(10**8, 10**9, 2000) + 0.5) / 1e9
    values = np.concatenate([rng.random(20000), rng.random(2000).astype(np.float32).astype(np.float64), halves,
                             np.nextafter(halves, 0), np.nextafter(halves, 1), sig_halves, np.nextafter(sig_halves, 1),
                             10.0 ** rng.uniform(-30, 5, 2000), [0.0078125, 0.5, 1.0, 0.0, 2.0**-20, 1e-45, 5e-324]])
    text = pd.DataFrame({"v": values}).to_csv(header=False, index=False, float_format="%.6f")
    assert np.array_equal(round_decimals(values, 6), pd.read_csv(io.StringIO(text), header=None)[0].to_numpy())
    assert round_decimals(np.array([0.0078125]), 6)[0] == 0.007812  # half to even, as printf
    text = "\n".join(format_significant(values, 9))
    assert np.array_equal(round_significant(values, 9), pd.read_csv(io.StringIO(text), header=None)[0].to_numpy())
    assert np.array_equal(round_significant(values, 9), np.array([float(t) for t in text.split()]))

    n = 400
    boxes = np.sort(rng.random((n, 2, 2)), axis=1).reshape(n, 4)[:, [0, 2, 1, 3]]
    scores = rng.random(n).astype(np.float32).astype(np.float64)
    scores[0:-1:7] = scores[1::7]  # some ties, as a model that saturates would make
    det = pd.DataFrame({"video_id": rng.choice(["a1", "b2"], n), "timestamp": rng.integers(902, 906, n),
                        "x1": boxes[:, 0], "y1": boxes[:, 1], "x2": boxes[:, 2], "y2": boxes[:, 3],
                        "action_id": rng.integers(1, 4, n), "score": scores})
    gt = det.sample(60, random_state=0)[DETECTION_COLUMNS[:-1]].copy()
    gt[["x1", "y1", "x2", "y2"]] += rng.normal(0, 0.02, (60, 4))
    report = score_detections(str(tmp_path), gt, det, [1, 2, 3], {1: "a", 2: "b", 3: "c"})
    written = pd.read_csv(tmp_path / "detections.csv", header=None, names=DETECTION_COLUMNS,
                          dtype={"video_id": str})
    assert written.to_csv() == pd.read_csv(io.StringIO(detections_csv(det)), header=None, names=DETECTION_COLUMNS,
                                           dtype={"video_id": str}).to_csv()
    for col in ("x1", "y1", "x2", "y2"):
        assert np.array_equal(written[col].to_numpy(), round_decimals(det[col].to_numpy(), 6))
    assert np.array_equal(written["score"].to_numpy(), round_significant(scores, 9))
    assert np.array_equal(written["score"].to_numpy().astype(np.float32), scores.astype(np.float32))  # round trip
    assert len(set(written["score"])) == len(set(scores))  # ties only where the scores tie
    assert report["mAP"] == frame_map(gt, written, [1, 2, 3]).summary({1: "a", 2: "b", 3: "c"})["mAP"]


class _HeapItem:
    """A reader tuple carrying its row index, compared by the tuple alone (as the reference's tuples are)."""

    __slots__ = ("t", "i")

    def __init__(self, t, i):
        self.t, self.i = t, i

    def __lt__(self, other):
        return self.t < other.t


@pytest.mark.parametrize("cap", [0, 1, 3, 8, 50])
def test_reference_order_replays_pythons_heapq(cap):
    """ava_order.reference_order (vectorised over keyframes) against CPython's heapq driven row by row as the
    reference's read_csv drives it, on 60 random tie-heavy files: the same rows kept, in the same order."""
    import heapq

    from hiera_video.evaluation.ava_order import reference_order

    rng = np.random.default_rng(cap)
    for _ in range(60):
        n, keyframes = int(rng.integers(1, 300)), int(rng.integers(1, 10))
        keys = rng.integers(0, keyframes, n)
        score = np.round(rng.random(n), int(rng.integers(0, 3)))
        action = rng.integers(1, 4, n)
        y1, x1, y2, x2 = np.round(rng.random((4, n)), int(rng.integers(0, 2)))
        heaps = {}
        for i in range(n):
            heap = heaps.setdefault(int(keys[i]), [])
            item = _HeapItem((score[i], int(action[i]), y1[i], x1[i], y2[i], x2[i]), i)
            if cap < 1 or len(heap) < cap:
                heapq.heappush(heap, item)
            elif score[i] > heap[0].t[0]:
                heapq.heapreplace(heap, item)
        expected = [e.i for heap in heaps.values() for e in sorted(heap, key=lambda e: -e.t[0])]
        frame, _ = pd.factorize(keys)
        got = reference_order(frame.astype(np.int64), score, (action, y1, x1, y2, x2), cap)
        assert got.tolist() == expected
        # per group (what the frame-mAP uses): the same rows, and each class's rows in the same order
        grouped = reference_order(frame.astype(np.int64), score, (action, y1, x1, y2, x2), cap, group=action)
        assert sorted(grouped.tolist()) == sorted(expected)
        for a in (1, 2, 3):
            assert [i for i in grouped if action[i] == a] == [i for i in expected if action[i] == a]
