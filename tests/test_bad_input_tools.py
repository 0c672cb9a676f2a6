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
