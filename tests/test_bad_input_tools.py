"""Bad input on the newer commands (issue 20): every case is one ``error:`` line naming the file, flag or key, status
2, no traceback; the work is not started (or not lost) when an output path cannot be written."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from helpers import ROOT, load_script

ava_eval = load_script("tools/ava_eval.py")
report_tool = load_script("tools/report.py")
run_net = load_script("tools/run_net.py")

LABELS = 'label {\n  name: "stand"\n  label_id: 1\n}\n'
ROW = "v,0902,0.1,0.1,0.5,0.9,1"


@pytest.fixture
def ava_files(tmp_path):
    (tmp_path / "labels.pbtxt").write_text(LABELS)
    (tmp_path / "gt.csv").write_text(ROW + "\n")
    (tmp_path / "det.csv").write_text(ROW + ",0.9\n")
    with open(tmp_path / "proposals.pkl", "wb") as f:  # MMAction2's proposals format
        pickle.dump({"v,0902": np.array([[0.1, 0.1, 0.5, 0.9, 0.99]], dtype=np.float32)}, f)
    (tmp_path / "a_file").write_text("x")
    return tmp_path


def _one_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in err[0], err
    return err[0]


@pytest.mark.parametrize("which", ["--label-map", "--gt", "--detections"])
def test_ava_eval_names_a_pickle_given_for_a_csv(ava_files, capsys, which):
    args = {"--gt": "gt.csv", "--detections": "det.csv", "--label-map": "labels.pbtxt"}
    args[which] = "proposals.pkl"
    argv = [x for k, v in args.items() for x in (k, str(ava_files / v))]
    assert ava_eval.main(argv) == 2
    line = _one_line(capsys)
    assert str(ava_files / "proposals.pkl") in line and "not UTF-8 text" in line and "convert-proposals" in line


@pytest.mark.parametrize("out, message", [("a_file/report.json", "a file is in the way"),
                                          (".", "is a folder")])
def test_ava_eval_checks_out_before_scoring(ava_files, capsys, out, message):
    argv = ["--gt", str(ava_files / "gt.csv"), "--detections", str(ava_files / "det.csv"),
            "--label-map", str(ava_files / "labels.pbtxt"), "--out", str(ava_files / out)]
    assert ava_eval.main(argv) == 2
    line = _one_line(capsys)
    assert line.startswith("error: --out ") and message in line
    assert ava_eval.main(argv[:-2] + ["--out", str(ava_files / "ok.json")]) == 0  # the same files score
    assert (ava_files / "ok.json").is_file()


def test_report_out_that_is_a_file(tmp_path, capsys):
    from hiera_video.evaluation.report import write_test_report
    import torch

    run = tmp_path / "run" / "test"
    write_test_report(str(run), paths=["a.mp4", "b.mp4"], labels=torch.tensor([0, 1]),
                      view_logits=torch.randn(2, 1, 3), view_ids=[(0, 0)], evaluated=torch.tensor([True, True]),
                      failed=[])
    (tmp_path / "a_file").write_text("x")
    assert report_tool.main([str(tmp_path / "run"), "--out", str(tmp_path / "a_file")]) == 2
    line = _one_line(capsys)
    assert "--out" in line and str(tmp_path / "a_file") in line and "a file is in the way" in line


@pytest.mark.parametrize("overrides, key, kind", [
    (["TEST.DATASET", "ava"], "TEST.DATASET ava", "yields keyframes, but TASK classification reads clips"),
    (["TRAIN.DATASET", "ava", "TEST.ENABLE", "False"], "TRAIN.DATASET ava", "TASK classification reads clips"),
    (["TASK", "detection"], "TRAIN.DATASET kinetics", "yields clips, but TASK detection reads keyframes"),
    (["TASK", "detection", "TRAIN.DATASET", "ava", "TEST.DATASET", "kinetics"], "TEST.DATASET kinetics",
     "yields clips, but TASK detection reads keyframes"),
])
def test_task_and_dataset_that_do_not_fit(tmp_path, capsys, overrides, key, kind):
    argv = ["--cfg", os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml"), "OUTPUT_DIR", str(tmp_path / "o"),
            "DATA.MAKE_SYNTHETIC", "False", *overrides]
    assert run_net.main(argv) == 2
    line = _one_line(capsys)
    assert key in line and kind in line and len(line) < 300


@pytest.mark.parametrize("rows, needle, at", [
    (ROW + ",0.5\nv,0902,0.5,0.1,0.1,0.9,1,0.9\n", "x1 > x2 or y1 > y2: inverted boxes", "odd.csv:2"),
    (ROW + ",0.5\nv,0902,10,20,300,400,1,0.9\n", "coordinates above 1.5: pixels?", "odd.csv:2"),
    (ROW + ",0.5\nv,0902,0.1,0.1,0.5,0.9,0,0.9\n", "action id 0 or below: 0-based ids?", "odd.csv:2"),
    (ROW + ",0.5\nv,0902,0.1,0.1,0.5,0.9,7,0.9\n", "action ids above the label map's largest, 1", "odd.csv:2"),
    (ROW + ",0.5\nv,0902,0.1,0.1,0.5,0.9,1,1.7\n", "scores outside [0, 1]", "odd.csv:2"),
    ("v,0902,0.1,0.1,0.5,0.9,1,2\nv,0902,0.1,0.1,0.5,0.9,1,3\n", "every score is a whole number", None),
])
def test_ava_eval_warns_about_legal_but_suspicious_rows(ava_files, capsys, rows, needle, at):
    """Legal rows that are almost certainly wrong are scored, after a warning line naming the problem and file:line."""
    (ava_files / "odd.csv").write_text(rows)
    argv = ["--gt", str(ava_files / "gt.csv"), "--detections", str(ava_files / "odd.csv"),
            "--label-map", str(ava_files / "labels.pbtxt")]
    assert ava_eval.main(argv) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning: ") and needle in line]
    assert len(warnings) == 1, captured.err
    assert at is None or f"(first at {at})" in warnings[0]
    assert captured.out.startswith("frame-mAP@0.5 ")


def test_clean_files_and_proposals_in_ground_truth_layout():
    import pandas as pd

    from hiera_video.data.ava.suspicious import suspicious_rows

    clean = pd.DataFrame({"x1": [0.1], "y1": [0.1], "x2": [0.5], "y2": [0.9], "action_id": [-1], "score": [0.9],
                          "line": [1]})
    assert suspicious_rows(clean, "p.csv", "proposals") == []
    gt_layout = clean.assign(action_id=[12], score=[3.0])  # video,ts,box,action,person id read as proposals
    lines = suspicious_rows(gt_layout, "p.csv", "proposals")
    assert any("action id in column 7" in line for line in lines) and any("scores outside" in x for x in lines)


def test_training_ground_truth_with_every_box_inverted_is_said(tmp_path, caplog):
    """Every training box written x2,y2,x1,y1 (inverted): the dataset still loads (the rows are legal) but says so,
    naming the file and its first such line, instead of training on empty boxes without a word."""
    import logging

    from hiera_video.config import load_config
    from hiera_video.data import build_dataset

    from helpers import make_tiny_ava, tiny_ava_overrides

    dirs = make_tiny_ava(str(tmp_path / "ava"))
    gt = os.path.join(dirs["annotations"], "ava_train_v2.2.csv")
    rows = [line.split(",") for line in open(gt).read().split()]
    with open(gt, "w") as f:
        f.writelines(",".join(r[:2] + [r[4], r[5], r[2], r[3]] + r[6:]) + "\n" for r in rows)
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "ava_hiera_tiny.yaml"),
                      tiny_ava_overrides(dirs, tmp_path / "out"))
    with caplog.at_level(logging.WARNING, logger="hiera_video"):
        build_dataset("ava", cfg, "train")
    said = [r.getMessage() for r in caplog.records if "inverted boxes" in r.getMessage()]
    assert len(said) == 1 and f"{len(rows)} of {len(rows)} rows" in said[0] and "ava_train_v2.2.csv:1)" in said[0]
