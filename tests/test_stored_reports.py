"""Per-view logits stored as view_logits.npz, tools/report.py (rebuild, views table, compare) and a distributed test
with uneven shards counting every (video, view) once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import ROOT, RUN_NET, subprocess_env, torchrun
from hiera_video.evaluation.multiview import ensemble_probs
from hiera_video.evaluation.report import write_test_report
from hiera_video.evaluation.view_logits import csv_wanted, load_view_logits, to_frame

sys.path.insert(0, os.path.join(ROOT, "tools"))

import report as report_tool  # noqa: E402

VIEWS = [(t, s) for t in range(5) for s in range(3)]


def _run(folder, n=40, k=6, seed=0, boost=None, save="auto", prefix="videos"):
    """A test folder as the multi-view test writes it: random logits, the label's logit raised in some views."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    logits = torch.randn(n, len(VIEWS), k, generator=g) * 3
    logits[torch.arange(n), :, labels] += torch.rand(n, len(VIEWS), generator=g) * 4
    if boost is not None:
        logits[labels == boost, :, boost] += 10
    paths = [f"{prefix}/v{i:03d}.mp4" for i in range(n)]
    names = [f"class {c}" for c in range(k)]
    rep = write_test_report(str(folder), paths=paths, labels=labels, view_logits=logits, view_ids=VIEWS,
                            evaluated=torch.ones(n, dtype=torch.bool),
                            failed=[{"path": "videos/bad.mp4", "error": "moov atom not found"}],
                            class_names=names, save_view_logits=save)
    return rep, logits, labels


def test_npz_round_trip_matches_the_csv_and_reads_in_one_line(tmp_path):
    rep, logits, labels = _run(tmp_path)
    raw = np.load(tmp_path / "view_logits.npz")["logits"]  # the one-line read
    assert raw.dtype == np.float16 and raw.shape == (40, 15, 6)
    stored = load_view_logits(str(tmp_path / "view_logits.npz"))
    torch.testing.assert_close(stored.logits, logits, atol=8e-3, rtol=1e-3)  # float16
    assert stored.view_ids == VIEWS and stored.class_names[2] == "class 2" and (stored.view_counts == 1).all()
    csv = pd.read_csv(tmp_path / "view_logits.csv")  # a small set: auto writes the CSV too
    frame = to_frame(stored)
    assert list(frame.columns) == list(csv.columns) and len(frame) == len(csv) == 40 * 15
    np.testing.assert_allclose(frame.filter(like="logit_").to_numpy(), csv.filter(like="logit_").to_numpy(),
                               atol=8e-3, rtol=1e-3)
    assert (frame[["video_index", "label", "temporal_clip", "spatial_crop"]].to_numpy()
            == csv[["video_index", "label", "temporal_clip", "spatial_crop"]].to_numpy()).all()


def test_save_modes(tmp_path):
    assert csv_wanted("auto", 50_000) == (True, True) and csv_wanted("auto", 50_001) == (True, False)
    assert csv_wanted("csv", 10**8) == (False, True) and csv_wanted("none", 1) == (False, False)
    with pytest.raises(ValueError, match="TEST.SAVE_VIEW_LOGITS"):
        csv_wanted("parquet", 1)
    _run(tmp_path / "npz", save="npz")
    assert (tmp_path / "npz" / "view_logits.npz").exists() and not (tmp_path / "npz" / "view_logits.csv").exists()
    _run(tmp_path / "none", save="none")
    assert not list((tmp_path / "none").glob("view_logits.*"))


def test_report_tool_rebuilds_the_report_and_the_views_table(tmp_path, capsys):
    run = tmp_path / "run"
    rep, logits, labels = _run(run / "test")
    out = tmp_path / "rebuilt"
    assert report_tool.main([str(run), "--temporal-clips", "1,3,5", "--spatial-crops", "1,3",
                             "--out", str(out)]) == 0
    rebuilt = json.loads((out / "report.json").read_text())
    assert rebuilt["top1"] == pytest.approx(rep["top1"]) and rebuilt["top5"] == pytest.approx(rep["top5"])
    assert rebuilt["failed"] == rep["failed"] and rebuilt["num_views"] == 15
    stored = load_view_logits(str(run / "test" / "view_logits.npz"))
    table = {(r["temporal_clips"], r["spatial_crops"]): r for r in rebuilt["views_table"]}
    # 1 clip = the centre clip (2 of 0..4), 1 crop = the centre crop (1); 3 clips = 0, 2, 4
    expected = {(1, 1): ([2], [1]), (3, 1): ([0, 2, 4], [1]), (5, 3): (range(5), range(3))}
    for (k, s), (clips, crops) in expected.items():
        mask = torch.tensor([t in clips and c in crops for t, c in VIEWS])
        top1 = 100.0 * (ensemble_probs(stored.logits, mask).argmax(1) == labels).float().mean().item()
        assert table[(k, s)]["top1"] == pytest.approx(top1) and table[(k, s)]["views"] == len(clips) * len(crops)
    assert "3 clips x 1 crops (3 views)" in capsys.readouterr().out
    assert (out / "views_table.md").read_text().count("\n| ") == 1 + 6  # header + 3 x 2 rows
    for name in ("report.md", "predictions.csv", "views.png", "confusion.png"):
        assert (out / name).stat().st_size > 0
    # a subset of views rebuilt as its own report
    assert report_tool.main([str(run / "test"), "--num-temporal-clips", "1", "--num-spatial-crops", "1",
                             "--out", str(tmp_path / "one")]) == 0
    one = json.loads((tmp_path / "one" / "report.json").read_text())
    assert one["views_used"] == [[2, 1]] and one["top1"] == pytest.approx(table[(1, 1)]["top1"])


def test_report_tool_compares_runs(tmp_path):
    _run(tmp_path / "a")
    _run(tmp_path / "b", boost=4)  # the same videos, class 4 always right
    out = tmp_path / "cmp"
    assert report_tool.main([str(tmp_path / "a"), str(tmp_path / "b" / "view_logits.npz"), "--names", "base,tuned",
                             "--out", str(out)]) == 0
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["videos_compared"] == 40 and [r["run"] for r in cmp["runs"]] == ["base", "tuned"]
    assert cmp["matched_by"] == "path"
    c4 = cmp["per_class"][4]
    assert c4["top1"][1] == 100.0 and c4["delta_vs_first"][1] == pytest.approx(100.0 - c4["top1"][0])
    assert "| class 4 |" in (out / "comparison.md").read_text()
    assert (out / "comparison.png").exists() and (out / "tuned" / "report.json").exists()


def test_runs_tested_with_other_path_prefixes_are_matched_by_file(tmp_path):
    """The same 40 videos tested once with a relative and once with an absolute DATA.PATH_PREFIX: compared on all 40,
    matched by the file names (said in comparison.json)."""
    _run(tmp_path / "rel", prefix="data/k400/videos")
    _run(tmp_path / "abs", prefix="/mnt/data/k400/videos", boost=2)
    out = tmp_path / "cmp"
    assert report_tool.main([str(tmp_path / "rel"), str(tmp_path / "abs"), "--out", str(out)]) == 0
    cmp = json.loads((out / "comparison.json").read_text())
    assert cmp["videos_compared"] == 40 and cmp["matched_by"] == "the last 1 path component"


def test_many_classes_list_the_most_confused_pairs(tmp_path):
    _run(tmp_path / "big", n=300, k=150)
    assert report_tool.main([str(tmp_path / "big"), "--out", str(tmp_path / "r")]) == 0
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    pairs = rep["most_confused"]
    assert 0 < len(pairs) <= 20 and pairs[0]["count"] >= pairs[-1]["count"]
    assert pairs[0]["true"] != pairs[0]["predicted"]
    assert not (tmp_path / "r" / "confusion.png").exists()


@pytest.mark.parametrize("args, message", [
    (["{missing}"], "no view_logits.npz there"),
    (["{run}", "--temporal-clips", "1,7", "--spatial-crops", "1"], "--temporal-clips 7: "),
    (["{run}", "--temporal-clips", "1", "--spatial-crops", "1,4"], "--spatial-crops 4: "),
    (["{run}", "--num-temporal-clips", "6"], "--num-temporal-clips 6: "),
    (["{run}", "--num-spatial-crops", "0"], "--num-spatial-crops 0: "),
    (["{run}", "--temporal-clips", "1,3"], "give --temporal-clips and --spatial-crops together"),
    (["{run}", "{run}", "--names", "only_one"], "--names gives 1 names for 2 runs"),
])
def test_report_tool_input_problems_are_one_line(tmp_path, capsys, args, message):
    _run(tmp_path / "run")
    fill = {"run": str(tmp_path / "run"), "missing": str(tmp_path / "missing")}
    rc = report_tool.main([a.format(**fill) for a in args] + ["--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and message in err[0], err


def test_torchrun_uneven_shards_count_every_view_once(tmp_path):
    """3 processes test 10 videos (shards of 4, 3 and 3) with 2 x 3 views: every (video, view) computed exactly
    once (view_counts), and the logits a single process computes from the same checkpoint."""
    from hiera_video.config import load_config
    from hiera_video.engine.checkpoint import make_checkpoint_state, save_checkpoint
    from hiera_video.engine.tasks import build_task
    from hiera_video.prep.synthetic import make_motion_dataset

    data = str(tmp_path / "data")
    make_motion_dataset(data, num_train_per_class=1, num_val_per_class=1, num_test_per_class=1, size=(40, 48),
                        num_frames=16)
    lines = [ln for split in ("test", "train") for ln in open(os.path.join(data, f"{split}.csv")).read().split("\n")
             if ln.strip()]
    with open(os.path.join(data, "ten.csv"), "w") as f:
        f.write("\n".join(lines[:10]) + "\n")
    quick = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")
    common = ["DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "DATA.MAKE_SYNTHETIC", "False",
              "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
              "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0", "TRAIN.ENABLE", "False",
              "TEST.SPLIT", "ten", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3",
              "TEST.BATCH_SIZE", "3", "TEST.PRECISION", "fp32"]  # 3 shards vs 1 process compared: fp32 on any CPU
    cfg = load_config(quick, common)
    torch.manual_seed(0)
    model = build_task(cfg).build_model()
    ckpt = str(tmp_path / "ckpt.pyth")
    save_checkpoint(ckpt, make_checkpoint_state(model, torch.optim.SGD(model.parameters(), lr=0.1), None, 1, cfg))
    outs = {name: tmp_path / name for name in ("ddp", "one")}
    args = ["--cfg", quick, *common, "TEST.CHECKPOINT_FILE_PATH", ckpt]
    procs = {"ddp": torchrun([*args, "OUTPUT_DIR", str(outs["ddp"])], nproc=3, tensor_collectives=False),
             "one": subprocess.run([sys.executable, RUN_NET, *args, "OUTPUT_DIR", str(outs["one"])],
                                   env=subprocess_env(), capture_output=True, text=True, timeout=900)}
    for proc in procs.values():
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert len([x for x in proc.stdout.splitlines() if x.startswith("top-1 ")]) == 1
    ddp, one = (load_view_logits(str(outs[n] / "test" / "view_logits.npz")) for n in ("ddp", "one"))
    assert ddp.logits.shape == (10, 6, 6) and (ddp.view_counts == 1).all()
    assert ddp.paths == one.paths and list(ddp.video_index) == list(range(10))
    torch.testing.assert_close(ddp.logits, one.logits, atol=2e-3, rtol=2e-3)
