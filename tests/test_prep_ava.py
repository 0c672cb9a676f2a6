"""data_prep/ava.py and hiera_video.prep.ava*: frame lists, the dataset check, proposal pickles, own videos."""

from __future__ import annotations

import csv
import json
import os
import pickle
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from hiera_video.data.ava import read_box_csv, read_exclusions, read_label_map
from hiera_video.data.lists import ListFormatError
from hiera_video.prep.ava import (check_ava, clip_indices, convert_proposals, prepare_own_videos,
                                  read_own_annotations, split_videos, write_ava_frame_lists)
from hiera_video.prep.extract_frames import frame_name
from hiera_video.utils.errors import ConfigError, DataError, ListError
from helpers import ROOT, load_script

ava_cli = load_script("data_prep/ava.py")
LABEL_MAP = 'label {\n  name: "bend"\n  label_id: 1\n}\nlabel {\n  name: "sit"\n  label_id: 3\n}\n'
VTEST_CSV = os.path.join(ROOT, "tests", "data", "vtest_ava.csv")


def _frames(frame_dir, vid, numbers, size=(8, 8)):
    os.makedirs(frame_dir / vid, exist_ok=True)
    for k in numbers:
        Image.new("RGB", size, (k % 255, 0, 0)).save(frame_dir / frame_name(vid, k), quality=80)


def _rows(path):
    with open(path) as f:
        return list(csv.reader(f))


# ----------------------------------------------------------------------------------------------------- lists
def test_lists_report_gaps_missing_movies_and_misnamed_frames(tmp_path):
    frames, ann, out = tmp_path / "frames", tmp_path / "ann", tmp_path / "lists"
    _frames(frames, "a", range(1, 6))
    _frames(frames, "b", [1, 2, 3, 5, 6])  # gap at 4
    os.makedirs(frames / "d")
    Image.new("RGB", (8, 8)).save(frames / "d" / "d_00001.jpg")  # 5 digits: another extractor's names
    ann.mkdir()
    (ann / "ava_train_v2.2.csv").write_text("b,0902,0.1,0.1,0.5,0.5,1,0\na,0902,0.1,0.1,0.5,0.5,1,0\n"
                                            "c,0903,0.1,0.1,0.5,0.5,1,0\nd,0903,0.1,0.1,0.5,0.5,1,0\n")
    (ann / "ava_val_v2.2.csv").write_text("a,0905,0.1,0.1,0.5,0.5,3,1\n")
    res = write_ava_frame_lists(str(frames), str(ann), str(out))
    assert res["train"].movies == [("a", 5), ("b", 3)] and res["val"].movies == [("a", 5)]
    lines = (out / "train.csv").read_text().splitlines()
    assert lines[0] == "original_vido_id video_id frame_id path labels" and len(lines) == 1 + 5 + 3
    assert lines[1] == 'a 0 0 a/a_000001.jpg ""' and lines[-1] == 'b 1 2 b/b_000003.jpg ""'
    problems = {r[1]: r for r in _rows(out / "frame_problems.csv")[1:]}
    assert problems["b"][2:4] == ["gap", "3"] and "b/b_000004.jpg is missing" in problems["b"][4]
    assert problems["c"][2] == "no_folder" and problems["d"][2] == "no_frames" and "d_00001.jpg" in problems["d"][4]
    assert "2 of 4 movies listed" in res["train"].line() and "1 cut at a gap" in res["train"].line()
    with pytest.raises(DataError, match="none of the 1 movies"):
        write_ava_frame_lists(str(tmp_path / "ann"), str(ann), str(out), ["val"])  # wrong --frame-dir


# ----------------------------------------------------------------------------------------------------- check
def _broken_dataset(tmp_path):
    """fps 4, frame 0 at second 10; movie m1 has 40 frames (seconds 10-20) with frame index 6 missing."""
    frames, lists, ann = tmp_path / "frames", tmp_path / "lists", tmp_path / "ann"
    _frames(frames, "m1", [k for k in range(1, 41) if k != 7])
    lists.mkdir()
    ann.mkdir()
    header = "original_vido_id video_id frame_id path labels\n"
    rows = "".join(f'm1 0 {i} {frame_name("m1", i + 1)} ""\n' for i in range(40))
    rows += "".join(f'm3 1 {i} {frame_name("m3", i + 1)} ""\n' for i in range(4))  # no folder on disk
    (lists / "train.csv").write_text(header + rows)
    (lists / "val.csv").write_text(header + rows + "m1 0 bad\n")
    (ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt").write_text(LABEL_MAP)
    (ann / "ava_train_v2.2.csv").write_text(
        "m1,12,0.1,0.1,0.5,0.5,1,0\n"       # clip 4,6,8,10: index 6 missing
        "m1,15,0.1,0.1,0.5,0.5,2,0\n"       # action 2 not in the label map
        "m1,25,0.1,0.1,0.5,0.5,1,0\n"       # centre 60 >= 40 frames
        "m2,12,0.1,0.1,0.5,0.5,1,0\n"       # not in the frame list
        "m3,11,0.1,0.1,0.5,0.5,1,0\n")      # folder missing
    (ann / "ava_val_v2.2.csv").write_text(
        "m1,15,0.1,0.1,0.5,0.5,3,0\n"
        "m1,abc,0.1,0.1,0.5,0.5,3,0\n"      # malformed
        "m1,16,0.5,0.1,0.4,1.2,3,0\n"       # empty and outside [0, 1]
        "m1,17,0.1,0.1,0.5,0.5,3\n")        # 7 columns: fine for ground truth
    (ann / "ava_val_predicted_boxes.csv").write_text(
        "m1,15,0.1,0.1,0.5,0.5,,0.95\n"
        "m1,16,0.1,0.1,0.5,0.5,,0.5\n"      # below 0.9: keyframe 16 has none kept
        "m1,17,0.1,0.1,0.5,0.5,0.99\n")     # 7 columns: the empty action column is missing
    (ann / "ava_val_excluded_timestamps_v2.2.csv").write_text("m1,15\nm1,16,x\n")
    return frames, lists, ann


def test_check_reports_every_problem(tmp_path):
    frames, lists, ann = _broken_dataset(tmp_path)
    report = check_ava(str(frames), str(lists), str(ann), num_frames=4, sampling_rate=2, fps=4, start_sec=10)
    counts = {kind: report.count(kind) for kind in report.rows}
    assert counts == {"missing_files": 0, "malformed_rows": 4, "missing_movies": 2, "keyframes_outside_frames": 1,
                      "clip_missing_frames": 1, "missing_frames": 3, "bad_boxes": 1, "unknown_action_ids": 1,
                      "low_score_proposals": 1, "keyframes_without_proposals": 2}
    assert report.errors
    out = ann / "check"
    malformed = _rows(out / "malformed_rows.csv")[1:]
    where = sorted((os.path.basename(r[0]), int(r[1])) for r in malformed)
    assert where == [("ava_val_excluded_timestamps_v2.2.csv", 2), ("ava_val_predicted_boxes.csv", 3),
                     ("ava_val_v2.2.csv", 2), ("val.csv", 46)]
    assert any("is the empty action column missing?" in r[2] for r in malformed)
    assert _rows(out / "clip_missing_frames.csv")[1:] == [["train", "m1", "12", "8", "1", "m1/m1_000007.jpg"]]
    assert [r[:3] for r in _rows(out / "missing_movies.csv")[1:]] == [
        ["train", "m2", "frame list train.csv"], ["train", "m3", "frame folder m3/"]]
    assert sorted((r[0], r[1], r[2]) for r in _rows(out / "missing_frames.csv")[1:]) == [
        ("train", "m1", "1"), ("val", "m1", "1"), ("val", "m3", "4")]
    assert [r[3:] for r in _rows(out / "keyframes_without_proposals.csv")[1:]] == [["1", "0"], ["0", "0"]]
    assert [r[1:3] for r in _rows(out / "unknown_action_ids.csv")[1:]] == [["2", "1"]]
    assert _rows(out / "keyframes_outside_frames.csv")[1][3:] == ["25", "60", "40"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is False and summary["problems"]["bad_boxes"]["level"] == "warning"
    assert "80 action ids" in summary["problems"]["unknown_action_ids"]["note"]
    text = "\n".join(report.summary_lines())
    assert "clip_missing_frames: 1 (error)" in text and "result: errors found" in text
    # the CLI: one line per kind, exit 1
    rc = ava_cli.main(["check", "--frame-dir", str(frames), "--frame-list-dir", str(lists), "--annotation-dir",
                       str(ann), "--num-frames", "4", "--sampling-rate", "2", "--fps", "4", "--start-sec", "10",
                       "--out", str(tmp_path / "rep")])
    assert rc == 1 and (tmp_path / "rep" / "summary.json").is_file()


def test_check_missing_files_and_clip_indices(tmp_path):
    assert clip_indices(8, 4, 2, 40) == [4, 6, 8, 10]
    assert clip_indices(1, 4, 2, 5) == [0, 0, 1, 3]  # clamped like PySlowFast's get_sequence
    report = check_ava(str(tmp_path), str(tmp_path), str(tmp_path), out_dir=str(tmp_path / "r"))
    missing = {os.path.basename(r[0]) for r in report.rows["missing_files"]}
    assert missing == {"train.csv", "val.csv", "ava_train_v2.2.csv", "ava_val_v2.2.csv",
                       "ava_val_predicted_boxes.csv", "ava_val_excluded_timestamps_v2.2.csv",
                       "ava_action_list_v2.2_for_activitynet_2019.pbtxt"}
    assert report.errors
    with pytest.raises(ConfigError):
        check_ava(str(tmp_path), str(tmp_path), str(tmp_path), num_frames=0)


# ----------------------------------------------------------------------------------------- convert-proposals
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_convert_proposals(tmp_path, protocol):
    data = {"vidB,0903": np.array([[0.1, 0.2, 0.5, 0.9, 0.95], [0.2, 0.2, 0.3, 0.3, 0.4]], dtype=np.float32),
            "vidA,0902": np.array([[-0.005, 0.0, 1.004, 0.5, 0.8]]),
            "vidA,1000": np.array([[0.1, 0.1, 0.2, 0.2]]),  # no score column: 1.0
            "vidC,0904": np.zeros((0, 5))}
    pkl, out = tmp_path / "p.pkl", tmp_path / "p.csv"
    pkl.write_bytes(pickle.dumps(data, protocol=protocol))
    res = convert_proposals(str(pkl), str(out), score_thresh=0.5)
    assert (res.keyframes, res.boxes, res.written, res.below_thresh, res.clipped, res.no_score) == (4, 4, 3, 1, 1, 1)
    lines = out.read_text().splitlines()
    assert lines[0] == "vidA,0902,0.000000,0.000000,1.000000,0.500000,,0.800000"
    assert lines[1].startswith("vidA,1000,") and lines[1].endswith(",,1.000000") and lines[2].startswith("vidB,0903")
    table = read_box_csv(str(out), "proposals")
    assert len(table.rows) == 3 and table.rows["action_id"].tolist() == [-1, -1, -1]


def test_convert_proposals_refuses_code_and_bad_content(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"v,0902": _Evil(marker)}))
    with pytest.raises(ListError, match=r"evil\.pkl: refused global (posix|os|nt)\.system"):
        convert_proposals(str(evil), str(tmp_path / "o.csv"))
    assert not marker.exists() and not (tmp_path / "o.csv").exists()
    cases = {"is not 'video_id,timestamp'": {"v0902": np.zeros((1, 5))},
             "N x 5 array": {"v,0902": np.zeros((2, 3))},
             "not pixels": {"v,0902": np.array([[10.0, 20, 300, 400, 0.9]])},
             "expected a dict": [1, 2],
             "not a readable proposal pickle": None}
    for i, (message, data) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.pkl"
        path.write_bytes(pickle.dumps(data) if data is not None else pickle.dumps({"v,0902": np.zeros((9, 5))})[:40])
        with pytest.raises(ListError, match=message):
            convert_proposals(str(path), str(tmp_path / "o.csv"))
    # through the CLI in a subprocess: one error line, exit 2, nothing run
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "ava.py"), "convert-proposals", "--pkl",
                           str(evil), "--out", str(tmp_path / "o.csv")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and not marker.exists()
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith(f"error: {evil}: refused global")


# ------------------------------------------------------------------------------------------------ own videos
def _own_inputs(tmp_path, make_video):
    videos = tmp_path / "videos"
    make_video(videos / "cam1.avi", num_frames=75, fps=25, size=(48, 64))  # 3 s
    make_video(videos / "sub" / "cam2.avi", num_frames=40, fps=10, size=(48, 64))  # 4 s
    make_video(videos / "unused.avi", num_frames=10, fps=10, size=(48, 64))
    return videos


OWN_CSV = ("video,second,x1,y1,x2,y2,action,note\n"
           "cam1,1,8,4,40,44,walk,\n"
           "cam1,1,8,4,40,44,talk,same person: two actions\n"
           "cam1,1,8,4,40,44,talk,duplicate row\n"
           "cam1,2,30,10,70,50,stand,past the right edge: clipped\n"
           "cam2,0,0,0,32,48,walk,\n"
           "cam2,3,2,2,20,30,stand,\n")


def test_own_videos_builds_a_dataset_that_checks_clean(tmp_path, make_video):
    videos = _own_inputs(tmp_path, make_video)
    (tmp_path / "ann.csv").write_text(OWN_CSV)
    root = tmp_path / "own"
    res = prepare_own_videos(str(videos), str(tmp_path / "ann.csv"), str(root), val_videos=["cam2"], fps=5)
    assert res.pixels and res.classes == ["stand", "talk", "walk"] and res.clipped == 1 and res.duplicates == 1
    assert res.splits == {"train": ["cam1"], "val": ["cam2"]} and res.unannotated == ["unused"]
    assert res.frames == {"cam1": 15, "cam2": 20} and not (root / "frames" / "unused").exists()
    ann = root / "annotations"
    assert read_label_map(str(ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")).names == {
        1: "stand", 2: "talk", 3: "walk"}
    gt = read_box_csv(str(ann / "ava_train_v2.2.csv"), "groundtruth").rows
    assert gt[["timestamp", "action_id", "person_id"]].values.tolist() == [[1, 2, 0], [1, 3, 0], [2, 1, 1]]
    assert gt[["x1", "y1", "x2", "y2"]].values.tolist()[0] == [0.125, 0.083, 0.625, 0.917]
    assert gt["x2"].tolist()[2] == 1.0  # clipped
    props = read_box_csv(str(ann / "ava_val_predicted_boxes.csv"), "proposals").rows
    assert props["score"].tolist() == [1.0, 1.0] and props["timestamp"].tolist() == [0, 3]
    assert read_exclusions(str(ann / "ava_val_excluded_timestamps_v2.2.csv")) == set()
    assert len((root / "frame_lists" / "val.csv").read_text().splitlines()) == 1 + 20
    overrides = (root / "config_overrides.txt").read_text()
    for part in (f"AVA.FRAME_DIR {root}/frames", "AVA.FRAME_START_SEC 0", "AVA.TRAIN_KEYFRAME_RANGE '[]'",
                 "DATA.FRAME_FPS 5", "MODEL.NUM_CLASSES 3", "AVA.FULL_TEST_ON_VAL True"):
        assert part in overrides
    report = check_ava(str(root / "frames"), str(root / "frame_lists"), str(ann), num_frames=4, sampling_rate=2,
                       fps=5, start_sec=0)
    assert not report.errors and all(report.count(k) == 0 for k in report.rows), report.summary_lines()


def test_own_videos_input_errors(tmp_path, make_video):
    videos = _own_inputs(tmp_path, make_video)
    head = "video,second,x1,y1,x2,y2,action\n"
    cases = {
        "bad.csv": (head + "cam1,1,8,4,40,44,walk\ncam1,x,8,4,40,44,walk\ncam1,1,8,4,40,44,\n",
                    ListFormatError, r"bad\.csv:3: second 'x' is not a number.*1 more malformed rows: lines 4"),
        "unknown.csv": (head + "cam1,1,8,4,40,44,walk\ncam9,1,8,4,40,44,walk\n",
                        ListError, r"unknown\.csv:3: video 'cam9' is not among the 3 videos"),
        "late.csv": (head + "cam1,3,8,4,40,44,walk\n", ListError, r"late\.csv:2: second 3 is at or past the end"),
        "outside.csv": (head + "cam1,1,70,4,90,44,walk\n", ListError, r"outside\.csv:2: box .* lies outside the 64x48"),
        "typo.csv": (head + "cam1,1,0.1,0.1,0.5,0.5,walk\ncam1,2,0.1,0.1,0.5,1.2,walk\n", ListError,
                     r"typo\.csv:2: box .* under a pixel .* read as pixels because line 3 has a coordinate above 1"),
        "header.csv": ("video,sec,x1,y1,x2,y2,action\n", ListFormatError, r"header\.csv:1: the first line"),
    }
    for name, (text, error, pattern) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(error, match=pattern):
            prepare_own_videos(str(videos), str(tmp_path / name), str(tmp_path / "o"), fps=5)
    assert not (tmp_path / "o").exists()  # nothing is written before the input is valid
    with pytest.raises(ConfigError):
        prepare_own_videos(str(videos), str(tmp_path / "bad.csv"), str(tmp_path / "o"), fps=7.5)
    rows, pixels = read_own_annotations(str(_write(tmp_path / "n.csv", head + "cam1,1,0.1,0.2,0.5,0.9,walk\n")))
    assert not pixels and rows[0].box == (0.1, 0.2, 0.5, 0.9) and rows[0].line == 2
    # the CLI in a subprocess: one 'error:' line naming file:line, exit 2
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "ava.py"), "own-videos", "--videos",
                           str(videos), "--annotations", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"error: {tmp_path / 'bad.csv'}:3: second 'x'")


def _write(path, text):
    path.write_text(text)
    return path


def test_split_videos():
    assert split_videos(["a"], val_fraction=0.2) == (["a"], [])
    train, val = split_videos(list("abcdefghij"), val_fraction=0.2)
    assert len(val) == 2 and sorted(train + val) == list("abcdefghij")
    assert split_videos(list("abcdefghij"), val_fraction=0.2) == (train, val)  # seeded
    assert [len(x) for x in split_videos(["a", "b"], val_fraction=0.01)] == [1, 1]  # at least one of each
    assert split_videos(["a", "b"], val_fraction=0) == (["a", "b"], [])
    assert split_videos(["a", "b", "c"], val_videos=["b"]) == (["a", "c"], ["b"])
    with pytest.raises(ConfigError, match="without annotations"):
        split_videos(["a"], val_videos=["z"])


def test_own_videos_on_real_footage(tmp_path, opencv_video, capsys):
    """vtest.avi (opencv-doc): a 768x576 street camera at 10 fps, 79.5 s; tests/data/vtest_ava.csv holds hand-made
    pixel boxes of 35 pedestrians at 8 seconds (5, 15, ..., 75 s), 'walk' or 'stand' as seen in two frames 0.5 s
    apart. Extracted at the camera's own 10 fps (795 JPEGs; 30 fps would write each frame 3 times)."""
    src = opencv_video("vtest.avi")
    videos = tmp_path / "videos"
    videos.mkdir()
    os.symlink(src, videos / "vtest.avi")
    root = tmp_path / "own"
    start = time.perf_counter()
    rc = ava_cli.main(["own-videos", "--videos", str(videos), "--annotations", VTEST_CSV, "--out", str(root),
                       "--val-videos", "vtest", "--fps", "10"])
    elapsed = time.perf_counter() - start
    out = capsys.readouterr().out
    assert rc == 0 and "boxes read as pixels" in out and "MODEL.NUM_CLASSES 2" in out
    ann = root / "annotations"
    gt = read_box_csv(str(ann / "ava_val_v2.2.csv"), "groundtruth").rows
    assert len(gt) == 35 and sorted(set(gt["timestamp"])) == list(range(5, 80, 10))
    assert gt["person_id"].nunique() == 35 and gt[["x1", "y1", "x2", "y2"]].values.max() <= 1.0
    assert read_label_map(str(ann / "ava_action_list_v2.2_for_activitynet_2019.pbtxt")).names == {
        1: "stand", 2: "walk"}
    assert (gt["action_id"] == 1).sum() == 4
    assert len((root / "frame_lists" / "val.csv").read_text().splitlines()) == 1 + 795
    rc = ava_cli.main(["check", "--frame-dir", str(root / "frames"), "--frame-list-dir", str(root / "frame_lists"),
                       "--annotation-dir", str(ann), "--fps", "10", "--start-sec", "0", "--num-frames", "16",
                       "--sampling-rate", "2"])
    assert rc == 0 and "result: OK" in capsys.readouterr().out
    print(f"vtest own-videos: {elapsed:.1f} s")
