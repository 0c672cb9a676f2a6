"""tools/demo_net.py and hiera_video.demo: predictions of a classifier over whole videos and over time."""

from __future__ import annotations

import csv
import json
import os
import sys

import av
import numpy as np
import pytest
import torch

from hiera_video.data.sampling import clip_indices, clip_span
from hiera_video.data.transforms import normalize_views, test_views
from hiera_video.demo import load_predictor, predict_video, window_starts
from hiera_video.engine.checkpoint import make_checkpoint_state, save_checkpoint
from hiera_video.evaluation.multiview import ensemble_probs
from hiera_video.models import create_model

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tools"))

import demo_net  # noqa: E402

NAMES = ["wave", "jump", "spin", "sit"]


def _frames(n, size=(40, 56), seed=0):
    g = np.random.default_rng(seed)
    base = g.integers(0, 255, size=(1, *size, 3), dtype=np.uint8)
    shift = (np.arange(n)[:, None, None, None] * 7) % 255
    return ((base.astype(np.int64) + shift) % 255).astype(np.uint8)


@pytest.fixture
def checkpoint(tmp_path):
    """A training checkpoint of a tiny 4-class classifier (8 frames at rate 2, 32 px), as the runner writes it."""
    torch.manual_seed(0)
    model = create_model("hiera_tiny_16x224", num_classes=4, input_size=(8, 32, 32))
    opt = torch.optim.AdamW(model.parameters())
    meta = {"arch": "hiera_tiny_16x224", "class_names": NAMES,
            "data": {"num_frames": 8, "sampling_rate": 2, "fps": 30.0, "crop_size": 32,
                     "mean": [0.45] * 3, "std": [0.225] * 3}}
    path = os.fspath(tmp_path / "ckpt" / "checkpoint_epoch_00001.pyth")
    save_checkpoint(path, make_checkpoint_state(model, opt, None, 1, "{}", meta=meta))
    return path, model.eval()


def _window_probs_by_hand(model, path, start, span, num_frames):
    with av.open(path) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    idx = clip_indices(start, span, num_frames, len(frames))
    views = normalize_views(test_views(torch.from_numpy(frames[idx]), 32, 1), [0.45] * 3, [0.225] * 3)
    with torch.no_grad():
        return model(views).softmax(-1)[0]


def test_window_starts_cover_the_video_and_end_inside_it():
    assert window_starts(300, 30.0, 64, 1.0) == [0, 30, 60, 90, 120, 150, 180, 210]  # 210 + 64 <= 300 < 240 + 64
    assert window_starts(40, 30.0, 64, 1.0) == [0]  # shorter than a clip: one window, last frame repeated
    assert window_starts(100, 10.0, 16, 0.5) == [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80]
    with pytest.raises(ValueError, match="stride"):
        window_starts(100, 30.0, 16, 0.0)


def test_demo_cli_writes_predictions_timeline_and_labelled_video(tmp_path, make_video, checkpoint, capsys):
    main = demo_net.main
    ckpt, model = checkpoint
    videos = tmp_path / "videos"
    videos.mkdir()
    a = make_video(videos / "a.mp4", frames=_frames(75, seed=1), fps=30, container="mp4")  # 2.5 s
    make_video(videos / "b.avi", frames=_frames(50, seed=2), fps=25)  # 2 s at 25 fps
    (videos / "broken.mp4").write_bytes(b"not a video at all")
    out = tmp_path / "demo"
    rc = main(["--model", "hiera_tiny_16x224", "--checkpoint", ckpt, "--input", os.fspath(videos), "--output",
               os.fspath(out), "--window-stride", "0.5", "--topk", "2", "--views", "2", "3", "--output-video",
               "--device", "cpu"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "2 video(s) predicted, 1 failed" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert [f["path"] for f in summary["failed"]] == [os.fspath(videos / "broken.mp4")]
    by_name = {v["video"]: v for v in summary["videos"]}
    assert set(by_name) == {"a", "b"} and by_name["a"]["num_views"] == 6
    with open(out / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    # a: 75 frames at 30 fps, a clip spans 8 x 2 = 16 frames: starts every 15 frames while start + 16 <= 75
    a_rows = [r for r in rows if r["video"] == "a"]
    assert len(a_rows) == 2 * len(window_starts(75, 30.0, 16, 0.5)) == 2 * 4
    assert {r["class"] for r in rows} <= set(NAMES)
    # each window's probabilities are the model's on that window's centre crop, computed here by hand
    third = [r for r in a_rows if r["start_s"] == "1.000"]
    assert third[0]["end_s"] == f"{1 + 16 / 30:.3f}" and [r["rank"] for r in third] == ["1", "2"]
    expected = _window_probs_by_hand(model, a, 30.0, 16.0, 8)
    top = expected.topk(2)
    assert [r["class"] for r in third] == [NAMES[i] for i in top.indices.tolist()]
    assert [float(r["probability"]) for r in third] == pytest.approx(top.values.tolist(), abs=2e-5)
    # b is 25 fps: windows of 16 x 25 / 30 source frames every 12.5 frames, in seconds as for any video
    b_starts = sorted({r["start_s"] for r in rows if r["video"] == "b"})
    assert b_starts[:3] == ["0.000", "0.500", "1.000"]
    with open(out / "video_predictions.csv") as f:
        vrows = list(csv.DictReader(f))
    assert [r["rank"] for r in vrows if r["video"] == "a"] == ["1", "2"] and vrows[0]["views"] == "6"
    png = (out / "a_timeline.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    with av.open(os.fspath(out / "a_labels.mp4")) as c:
        labelled = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(labelled) == 75 and labelled[0].shape == (40, 56, 3)
    assert not (out / "broken_labels.mp4").exists()


def test_whole_video_probabilities_are_the_multiview_test_ensemble(tmp_path, make_video, checkpoint, tiny_cfg):
    """The demo's video-level answer equals what the multi-view test computes for the same video and views."""
    from hiera_video.data.kinetics import Kinetics

    ckpt, model = checkpoint
    path = make_video(tmp_path / "v.mp4", frames=_frames(90, seed=3), container="mp4")
    predictor = load_predictor(model_name="hiera_tiny_16x224", checkpoint=ckpt, device="cpu", views=(3, 3))
    pred = predict_video(predictor, path, window_stride=1.0)
    cfg = tiny_cfg.clone()
    (tmp_path / "test.csv").write_text(f"{path} 0\n")
    cfg.merge_from_list(["DATA.PATH_TO_DATA_DIR", os.fspath(tmp_path), "DATA.NUM_FRAMES", 8, "DATA.SAMPLING_RATE", 2,
                         "DATA.TEST_CROP_SIZE", 32, "DATA.TRAIN_CROP_SIZE", 32, "TEST.NUM_ENSEMBLE_VIEWS", 3,
                         "TEST.NUM_SPATIAL_CROPS", 3, "MODEL.NUM_CLASSES", 4])
    item = Kinetics(cfg, "test")[0]
    views = normalize_views(item["views"], cfg.DATA.MEAN, cfg.DATA.STD)
    with torch.no_grad():
        expected = ensemble_probs(model(views).unsqueeze(0))[0]
    assert pred.num_views == 9
    torch.testing.assert_close(pred.probs, expected, atol=2e-6, rtol=0)
    assert pred.topk(1)[0][0] == NAMES[int(expected.argmax())]
    span = clip_span(8, 2, 30.0, 30.0)
    assert len(pred.window_probs) == len(window_starts(90, 30.0, span, 1.0)) == 3


def test_demo_with_a_training_config_uses_its_newest_checkpoint_and_class_names(tmp_path, make_video, tiny_cfg,
                                                                                 checkpoint):
    from hiera_video.engine.checkpoint import checkpoint_path

    ckpt, _ = checkpoint
    cfg = tiny_cfg.clone()
    data = tmp_path / "data"
    data.mkdir()
    (data / "classes.json").write_text(json.dumps({"A": 0, "B": 1, "C": 2, "D": 3}))
    cfg.merge_from_list(["OUTPUT_DIR", os.fspath(tmp_path / "run"), "DATA.PATH_TO_DATA_DIR", os.fspath(data),
                         "MODEL.ARCH", "hiera_tiny_16x224", "MODEL.NUM_CLASSES", 4, "DATA.NUM_FRAMES", 8,
                         "DATA.SAMPLING_RATE", 2, "DATA.TRAIN_CROP_SIZE", 32, "DATA.TEST_CROP_SIZE", 32,
                         "TEST.NUM_ENSEMBLE_VIEWS", 1, "TEST.NUM_SPATIAL_CROPS", 1])
    newest = checkpoint_path(cfg.OUTPUT_DIR, 1)
    os.makedirs(os.path.dirname(newest))
    os.replace(ckpt, newest)
    predictor = load_predictor(cfg, device="cpu")
    assert predictor.source == newest and predictor.class_names == ["A", "B", "C", "D"]
    assert (predictor.num_frames, predictor.sampling_rate, predictor.crop_size) == (8, 2, 32)
    pred = predict_video(predictor, make_video(frames=_frames(40)))
    assert pred.num_views == 1 and pred.probs.sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--model", "mae_hiera_tiny_16x224", "--checkpoint", "{ckpt}"], "not a registered classifier"),
    (["--checkpoint", "{ckpt}", "--topk", "0"], "--topk must be >= 1"),
    (["--checkpoint", "{ckpt}", "--labels", "{missing}"], "--labels file not found"),
    (["--checkpoint", "{missing}"], "missing.txt: no such file"),
    (["--checkpoint", "{ckpt}", "--window-stride", "0"], "--window-stride must be > 0"),
])
def test_demo_input_problems_are_one_error_line(tmp_path, make_video, checkpoint, capsys, args, message):
    main = demo_net.main
    ckpt, _ = checkpoint
    video = make_video(frames=_frames(40))
    fill = {"ckpt": ckpt, "missing": os.fspath(tmp_path / "missing.txt")}
    rc = main([a.format(**fill) for a in args] + ["--input", video, "--output", os.fspath(tmp_path / "o"),
                                                  "--device", "cpu"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_demo_labels_file_names_the_classes_and_a_wrong_count_is_an_error(tmp_path, checkpoint):
    """--labels is asked for by name: a file that fits names the classes, one that does not (3 names for 4 classes)
    is an error naming it, never a silent fallback to other names."""
    from hiera_video.utils.errors import ConfigError

    ckpt, _ = checkpoint
    good = tmp_path / "labels.txt"
    good.write_text("w\nx\ny\nz\n")
    assert load_predictor(checkpoint=ckpt, labels_file=os.fspath(good), device="cpu").class_names == list("wxyz")
    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps(["only", "two"]))
    with pytest.raises(ConfigError, match=r"--labels .*labels.json gives 2 class names, the model has 4 classes"):
        load_predictor(checkpoint=ckpt, labels_file=os.fspath(bad), device="cpu")


def test_demo_whose_every_input_failed_exits_2(tmp_path, checkpoint, capsys):
    ckpt, _ = checkpoint
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 64)
    rc = demo_net.main(["--checkpoint", ckpt, "--input", os.fspath(broken), "--output", os.fspath(tmp_path / "o"),
                        "--device", "cpu"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert rc == 2 and len(err) == 1 and "every input failed (1); first: " in err[0] and str(broken) in err[0]
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["failed"][0]["path"] == os.fspath(broken)


def test_demo_reads_the_input_size_of_a_save_pretrained_folder(tmp_path, make_video):
    """--model NAME --checkpoint FOLDER (Hugging Face layout, as save_pretrained writes it or the Hub serves it):
    the folder's config.json fixes the input; the data settings are the model's pretrained_cfg (16 frames at rate 4
    from 30 fps by default, here the folder's 8 frames)."""
    from hiera_video.models import save_pretrained

    torch.manual_seed(0)
    save_pretrained(create_model("hiera_tiny_16x224", num_classes=3, input_size=(8, 32, 32)), str(tmp_path / "hub"))
    predictor = load_predictor(model_name="hiera_tiny_16x224", checkpoint=str(tmp_path / "hub"), device="cpu",
                               views=(1, 1))
    assert (predictor.num_frames, predictor.crop_size, predictor.sampling_rate) == (8, 32, 4)
    assert predictor.class_names == ["class 0", "class 1", "class 2"]
    pred = predict_video(predictor, make_video(frames=_frames(48)), window_stride=0.5)
    assert pred.window_probs.shape == (len(window_starts(48, 30.0, 32, 0.5)), 3)
