"""Meters, multi-view ensembling (incl. a 2-process gloo all-reduce) and the test report."""

import json
import math
import os
import socket

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from hiera_video.evaluation import report as report_mod
from hiera_video.evaluation.meters import topk_accuracy, topk_correct
from hiera_video.evaluation.multiview import MultiViewEnsembler, ensemble_probs
from hiera_video.evaluation.report import clips_for_k, write_test_report


# ----------------------------------------------------------------------------- meters
def test_topk_correct_counts_and_clips_k():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.2], [0.3, 0.2, 0.5], [0.1, 0.2, 0.7]])
    labels = torch.tensor([1, 2, 0, 0])
    # ranks of the label: 1st, 2nd, 2nd, 3rd
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == {1: 1, 2: 3, 5: 4}
    acc = topk_accuracy(logits, labels, ks=(1, 2))
    assert acc == {1: 25.0, 2: 75.0}
    assert topk_correct(logits[:0], labels[:0]) == {1: 0, 5: 0}
    assert all(math.isnan(v) for v in topk_accuracy(logits[:0], labels[:0]).values())


def test_topk_errors():
    logits = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="labels must lie"):
        topk_correct(logits, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        topk_correct(torch.zeros(2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels must be"):
        topk_correct(logits, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="k must be"):
        topk_correct(logits, torch.tensor([0, 1]), ks=(0,))


# ----------------------------------------------------------------------------- multiview
def test_ensembler_mean_softmax_and_mask():
    ens = MultiViewEnsembler(num_videos=3, num_views=2, num_classes=2)
    a = torch.tensor([[2.0, 0.0]])
    b = torch.tensor([[0.0, 1.0]])
    ens.add(torch.tensor([0]), torch.tensor([0]), a)
    ens.add(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.cat([b, b]))
    assert ens.filled.tolist() == [[True, True], [True, False], [False, False]]
    assert ens.complete().tolist() == [True, False, False]
    probs = ens.video_probs()
    expected0 = (a.softmax(-1) + b.softmax(-1)) / 2
    assert torch.allclose(probs[0], expected0[0])
    assert torch.allclose(probs[1], b.softmax(-1)[0])  # only the filled view counts
    assert torch.isnan(probs[2]).all()
    # restrict to view 0 only
    assert torch.allclose(ens.video_probs(torch.tensor([True, False]))[0], a.softmax(-1)[0])
    # a view added twice is averaged
    ens.add(torch.tensor([1]), torch.tensor([0]), torch.tensor([[0.0, 3.0]]))
    assert torch.allclose(ens.view_logits[1, 0], torch.tensor([0.0, 2.0]))


def test_ensemble_probs_function():
    logits = torch.tensor([[[0.0, 0.0], [10.0, 0.0]]])  # (N=1, V=2, K=2)
    assert torch.allclose(ensemble_probs(logits)[0], torch.tensor([0.5 + 0.99995, 0.5 + 4.54e-5]) / 2,
                          atol=1e-5)
    assert torch.allclose(ensemble_probs(logits, torch.tensor([True, False]))[0], torch.tensor([0.5, 0.5]))
    assert torch.isnan(ensemble_probs(logits, torch.tensor([[False, False]]))).all()
    with pytest.raises(ValueError, match="view mask"):
        ensemble_probs(logits, torch.ones(3, dtype=torch.bool))


def test_ensembler_errors():
    ens = MultiViewEnsembler(2, 3, 4)
    with pytest.raises(ValueError, match="video_idx must lie"):
        ens.add(torch.tensor([2]), torch.tensor([0]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="view_idx must lie"):
        ens.add(torch.tensor([0]), torch.tensor([-1]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="logits must be"):
        ens.add(torch.tensor([0]), torch.tensor([0]), torch.zeros(1, 5))
    with pytest.raises(ValueError, match=r"\(N,\)"):
        ens.add(torch.tensor([0, 1]), torch.tensor([0]), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="integer"):
        ens.add(torch.tensor([0.0]), torch.tensor([0]), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="mask must be"):
        ens.video_probs(torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="different sizes"):
        ens.merge_(MultiViewEnsembler(2, 3, 5))
    with pytest.raises(ValueError):
        MultiViewEnsembler(0, 1, 1)


def test_merge_equals_single_ensembler():
    torch.manual_seed(0)
    logits = torch.randn(6, 5)
    vid = torch.tensor([0, 0, 1, 1, 2, 2])
    view = torch.tensor([0, 1, 0, 1, 0, 1])
    whole = MultiViewEnsembler(3, 2, 5)
    whole.add(vid, view, logits)
    left, right = MultiViewEnsembler(3, 2, 5), MultiViewEnsembler(3, 2, 5)
    left.add(vid[::2], view[::2], logits[::2])
    right.add(vid[1::2], view[1::2], logits[1::2])
    left.merge_(right)
    assert torch.equal(left.count, whole.count)
    assert torch.allclose(left.video_probs(), whole.video_probs())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dist_worker(rank, world, port, out_path):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        ens = MultiViewEnsembler(2, 2, 3)
        # rank 0 has video 0 (both views) and video 1 view 0; rank 1 has video 1 view 1
        # and a duplicate of video 0 view 0 (as DistributedSampler padding would give).
        if rank == 0:
            ens.add(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0]),
                    torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 2.0]]))
        else:
            ens.add(torch.tensor([1, 0]), torch.tensor([1, 0]), torch.tensor([[0, 0, 4.0], [3.0, 0, 0]]))
        ens.all_reduce()
        if rank == 0:
            torch.save({"count": ens.count, "view_logits": ens.view_logits}, out_path)
    finally:
        dist.destroy_process_group()


def test_all_reduce_two_processes(tmp_path):
    out = str(tmp_path / "reduced.pt")
    mp.spawn(_dist_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    assert got["count"].tolist() == [[2, 1], [1, 1]]
    expected = torch.tensor([[[2.0, 0, 0], [0, 1, 0]], [[0, 0, 2], [0, 0, 4]]])
    assert torch.allclose(got["view_logits"], expected)


def test_all_reduce_without_distributed_is_noop():
    ens = MultiViewEnsembler(1, 1, 2)
    ens.add(torch.tensor([0]), torch.tensor([0]), torch.tensor([[1.0, 2.0]]))
    ens.all_reduce()
    assert ens.count.tolist() == [[1]]


# ----------------------------------------------------------------------------- report
VIEW_IDS = [(t, s) for t in range(3) for s in range(2)]  # V = 6


def _report_inputs():
    """4 videos, 6 views, 3 classes; video 3 failed. Hand-made so every number is known."""
    n, v, k = 4, len(VIEW_IDS), 3
    labels = torch.tensor([0, 1, 2, 1])
    logits = torch.zeros(n, v, k)
    # video 0: every view right (class 0)
    logits[0, :, 0] = 5.0
    # video 1 (label 1): temporal clip 1 strongly right, clips 0 and 2 weakly wrong (class 0)
    for j, (t, _) in enumerate(VIEW_IDS):
        if t == 1:
            logits[1, j, 1] = 6.0
        else:
            logits[1, j, 0] = 1.0
    # video 2 (label 2): every view wrong (class 1)
    logits[2, :, 1] = 4.0
    evaluated = torch.tensor([True, True, True, False])
    paths = ["a.mp4", "b|odd.mp4", "c.mp4", "broken.mp4"]
    failed = [{"path": "broken.mp4", "error": "moov atom not found\nsecond line"}]
    return dict(paths=paths, labels=labels, view_logits=logits, view_ids=VIEW_IDS,
                evaluated=evaluated, failed=failed)


def test_clips_for_k_spreads_clips():
    assert clips_for_k(range(5), 1) == [2]
    assert clips_for_k(range(5), 2) == [1, 3]
    assert clips_for_k(range(5), 3) == [0, 2, 4]
    assert clips_for_k(range(5), 5) == [0, 1, 2, 3, 4]
    assert clips_for_k([0, 1, 2], 1) == [1]
    with pytest.raises(ValueError):
        clips_for_k(range(3), 4)


def test_report_numbers_and_files(tmp_path):
    out = tmp_path / "test"
    rep = write_test_report(str(out), class_names=["walk", "run", "jump"],
                            extra={"checkpoint": "ckpt.pyth", "seconds": 1.5}, **_report_inputs())
    assert sorted(os.listdir(out)) == ["predictions.csv", "report.json", "report.md",
                                       "view_logits.csv", "view_logits.npz", "views.png"]
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk == rep
    # video 0 right; video 1: mean softmax dominated by the strong clip -> right; video 2 wrong
    assert rep["top1"] == pytest.approx(200 / 3)
    assert rep["top5"] == 100.0  # top-5 clipped to K=3
    assert rep["num_videos"] == 3 and rep["num_videos_listed"] == 4
    assert rep["num_views"] == 6 and rep["num_temporal_clips"] == 3 and rep["num_spatial_crops"] == 2
    per_view = {(p["temporal_clip"], p["spatial_crop"]): p["top1"] for p in rep["per_view_top1"]}
    assert per_view[(1, 0)] == pytest.approx(200 / 3) and per_view[(0, 1)] == pytest.approx(100 / 3)
    assert rep["single_view_top1"] == pytest.approx((2 * 200 / 3 + 4 * 100 / 3) / 6)
    curve = rep["top1_vs_num_temporal_clips"]
    assert [c["temporal_clips"] for c in curve] == [[1], [0, 2], [0, 1, 2]]
    assert [c["num_views"] for c in curve] == [2, 4, 6]
    assert [c["top1"] for c in curve] == pytest.approx([200 / 3, 100 / 3, 200 / 3])
    assert rep["failed"] == [{"path": "broken.mp4", "error": "moov atom not found\nsecond line"}]
    assert [p["top1"] for p in rep["per_class_top1"]] == [100.0, 100.0, 0.0]
    assert rep["mean_class_top1"] == pytest.approx(200 / 3)
    assert rep["checkpoint"] == "ckpt.pyth" and rep["seconds"] == 1.5

    vl = pd.read_csv(out / "view_logits.csv")
    assert list(vl.columns[:5]) == ["video_index", "path", "label", "temporal_clip", "spatial_crop"]
    assert len(vl) == 3 * 6 and list(vl.columns[5:]) == ["logit_0", "logit_1", "logit_2"]
    row = vl[(vl.video_index == 1) & (vl.temporal_clip == 1) & (vl.spatial_crop == 1)].iloc[0]
    assert row["path"] == "b|odd.mp4" and row["label"] == 1
    assert np.allclose(row[["logit_0", "logit_1", "logit_2"]].to_numpy(float), [0, 6, 0])

    pr = pd.read_csv(out / "predictions.csv")
    assert pr["pred"].tolist() == [0, 1, 1] and pr["correct"].tolist() == [True, True, False]
    assert pr["pred_name"].tolist() == ["walk", "run", "run"]
    assert pr["top5"].iloc[2].split()[0] == "1" and len(pr["top5"].iloc[2].split()) == 3
    e = math.e
    assert pr["prob"].tolist() == pytest.approx(
        [e**5 / (e**5 + 2), (2 * e**6 / (e**6 + 2) + 4 / (e + 2)) / 6, e**4 / (e**4 + 2)], rel=1e-5)

    md = (out / "report.md").read_text()
    assert "66.67" in md and "b\\|odd" not in md  # evaluated paths are not listed in the md
    assert "`broken.mp4`: moov atom not found second line" in md
    assert "| checkpoint | ckpt.pyth |" in md
    assert (out / "views.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_report_zero_evaluated(tmp_path):
    inputs = _report_inputs()
    inputs["evaluated"] = torch.zeros(4, dtype=torch.bool)
    rep = write_test_report(str(tmp_path), **inputs)
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["top1"] is None and on_disk["top5"] is None and on_disk["single_view_top1"] is None
    assert on_disk["num_videos"] == 0 and rep["num_videos"] == 0
    assert all(c["top1"] is None for c in on_disk["top1_vs_num_temporal_clips"])
    assert "No video was evaluated" in (tmp_path / "report.md").read_text()
    assert len(pd.read_csv(tmp_path / "predictions.csv")) == 0
    assert len(pd.read_csv(tmp_path / "view_logits.csv")) == 0


def test_report_none_out_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rep = write_test_report(None, **_report_inputs())
    assert rep["top1"] == pytest.approx(200 / 3)
    assert os.listdir(tmp_path) == []


def test_report_validation_errors(tmp_path):
    bad = _report_inputs()
    bad["view_ids"] = VIEW_IDS[:-1]
    with pytest.raises(ValueError, match="view_ids"):
        write_test_report(str(tmp_path), **bad)
    bad = _report_inputs()
    bad["labels"] = torch.tensor([0, 1, 3, 1])
    with pytest.raises(ValueError, match="labels of evaluated"):
        write_test_report(str(tmp_path), **bad)
    with pytest.raises(ValueError, match="clash"):
        write_test_report(str(tmp_path), extra={"top1": 1.0}, **_report_inputs())
    with pytest.raises(ValueError, match="failed entries"):
        write_test_report(str(tmp_path), **dict(_report_inputs(), failed=[{"path": "x"}]))
    assert os.listdir(tmp_path) == []


def test_report_crash_leaves_no_partial_file(tmp_path, monkeypatch):
    write_test_report(str(tmp_path), **_report_inputs())
    before = (tmp_path / "report.json").read_text()

    def boom(rep, f):
        f.write(b"half a png")
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_mod, "_plot", boom)
    inputs = _report_inputs()
    inputs["evaluated"] = torch.tensor([True, False, False, False])
    with pytest.raises(RuntimeError, match="disk full"):
        write_test_report(str(tmp_path), **inputs)
    assert (tmp_path / "views.png").read_bytes()[:4] == b"\x89PNG"  # the old, complete plot
    assert (tmp_path / "report.json").read_text() == before  # json is written last
    assert sorted(os.listdir(tmp_path)) == ["predictions.csv", "report.json", "report.md",
                                            "view_logits.csv", "view_logits.npz", "views.png"]
