"""tools/demo_net.py in AVA mode: actions per person at keyframes from a detection checkpoint."""

from __future__ import annotations

import json
import os
import sys

import av
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import ROOT
from hiera_video.config import load_config
from hiera_video.data.ava import clip_frame_indices, fit_clip
from hiera_video.data.ava.box_transforms import pad_fill
from hiera_video.data.transforms import normalize_views
from hiera_video.demo import load_action_predictor, torchvision_person_detector
from hiera_video.engine.checkpoint import checkpoint_path, make_checkpoint_state, save_checkpoint
from hiera_video.engine.tasks import build_task
from hiera_video.utils.errors import SetupError

sys.path.insert(0, os.path.join(ROOT, "tools"))

import demo_net  # noqa: E402

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "ava_hiera_tiny.yaml")
LABELS = {2: "walk", 5: "stand", 7: "wave"}


@pytest.fixture
def detection_run(tmp_path):
    """A TASK detection config (the AVA quickstart's, 4 frames at rate 4, 64 x 96 input) with a label map of three
    of its eight actions and a checkpoint of a randomly initialised detector in its OUTPUT_DIR."""
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "labels.pbtxt").write_text("".join(f'label {{\n  name: "{n}"\n  label_id: {i}\n  label_type: '
                                              f'PERSON_MOVEMENT\n}}\n' for i, n in LABELS.items()))
    cfg = load_config(QUICKSTART, ["OUTPUT_DIR", str(tmp_path / "run"), "AVA.ANNOTATION_DIR", str(ann),
                                   "AVA.LABEL_MAP_FILE", "labels.pbtxt", "DATA.MAKE_SYNTHETIC", "False",
                                   "TEST.PRECISION", "fp32"])  # compared with fp32 by hand, on any CPU
    torch.manual_seed(0)
    model = build_task(cfg).build_model().eval()
    state = make_checkpoint_state(model, torch.optim.SGD(model.parameters(), lr=0.1), None, 1, cfg)
    save_checkpoint(checkpoint_path(cfg.OUTPUT_DIR, 1), state)
    return cfg, model


def _video(tmp_path, name="street.mp4", n=75, fps=25, size=(72, 128)):
    g = np.random.default_rng(1)
    frames = (g.integers(0, 255, (1, *size, 3)) + np.arange(n)[:, None, None, None] * 5) % 255
    path = os.fspath(tmp_path / name)
    with av.open(path, "w") as c:
        s = c.add_stream("mpeg4", rate=fps)
        s.width, s.height, s.pix_fmt = size[1], size[0], "yuv420p"
        for f in frames.astype(np.uint8):
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(path) as c:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    return path, decoded


def _by_hand(cfg, model, frames, fps, second, boxes):
    rate = max(1, round(cfg.DATA.SAMPLING_RATE * fps / cfg.DATA.TARGET_FPS))
    idx = clip_frame_indices(round(second * fps), cfg.DATA.NUM_FRAMES, rate, len(frames))
    clip = torch.from_numpy(frames[idx])
    h, w = clip.shape[1:3]
    out, pix, _ = fit_clip(clip, boxes * torch.tensor([w, h, w, h]), cfg.DETECTION.INPUT_SIZE, pad_fill(cfg.DATA.MEAN))
    views = normalize_views(out[None], cfg.DATA.MEAN, cfg.DATA.STD)
    with torch.no_grad():
        logits = model(views, torch.cat([torch.zeros(len(pix), 1), pix], dim=1))
    return logits.sigmoid()[:, [i - 1 for i in LABELS]]


@pytest.mark.amx
def test_ava_demo_with_proposals_scores_each_person_as_the_test_would(tmp_path, detection_run, capsys):
    cfg, model = detection_run
    path, frames = _video(tmp_path)
    proposals = tmp_path / "proposals.csv"
    proposals.write_text("street,1,0.10,0.20,0.40,0.90,,0.99\nstreet,1,0.50,0.10,0.80,0.95,,0.95\n"
                         "street,2,0.20,0.20,0.50,0.90,,0.97\nstreet,2,0.60,0.10,0.90,0.90,,0.50\n"
                         "other,1,0.1,0.1,0.2,0.2,,0.99\n")
    out = tmp_path / "demo"
    rc = demo_net.main(["--cfg", QUICKSTART, "--input", path, "--proposals", str(proposals), "--det-score-thresh",
                        "0.8", "--output", str(out), "--output-video", "--device", "cpu",
                        "OUTPUT_DIR", cfg.OUTPUT_DIR, "AVA.ANNOTATION_DIR", cfg.AVA.ANNOTATION_DIR,
                        "AVA.LABEL_MAP_FILE", "labels.pbtxt", "DATA.MAKE_SYNTHETIC", "False", "TEST.PRECISION", "fp32"])
    assert rc == 0
    assert "street: 3 person boxes at 2 keyframes" in capsys.readouterr().out
    det = pd.read_csv(out / "detections.csv", header=None,
                      names=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"])
    assert len(det) == 3 * len(LABELS) and set(det["action_id"]) == set(LABELS)  # the 0.50 box is below 0.8
    assert (out / "detections.csv").read_text().startswith("street,0001,")
    for second, boxes in ((1, [[0.1, 0.2, 0.4, 0.9], [0.5, 0.1, 0.8, 0.95]]), (2, [[0.2, 0.2, 0.5, 0.9]])):
        expected = _by_hand(cfg, model, frames, 25.0, second, torch.tensor(boxes))
        got = det[det["timestamp"] == second].sort_values(["x1", "action_id"])["score"].to_numpy()
        np.testing.assert_allclose(got.reshape(len(boxes), len(LABELS)), expected.numpy(), atol=2e-6)
    persons = (out / "persons.csv").read_text().splitlines()
    assert persons[0].split(",")[:2] == ["street", "0001"] and persons[0].split(",")[6] == ""
    with av.open(str(out / "street_actions.mp4")) as c:
        drawn = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    assert len(drawn) == len(frames)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos"][0]["num_persons"] == 3 and summary["failed"] == []


@pytest.mark.amx
def test_ava_demo_with_a_person_detector_and_a_bad_video(tmp_path, detection_run):
    from hiera_video.demo import run_ava_demo

    cfg, model = detection_run
    path, frames = _video(tmp_path, n=60, fps=20)
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)
    seen = []

    def detector(frame):
        seen.append(tuple(frame.shape))
        return torch.tensor([[32.0, 18.0, 96.0, 72.0]]), torch.tensor([0.97])

    predictor = load_action_predictor(cfg, device="cpu")
    assert [predictor.name(i) for i in predictor.action_ids()] == list(LABELS.values())
    summary = run_ava_demo(predictor, [path, str(tmp_path / "broken.mp4")], detector=detector,
                           output_dir=str(tmp_path / "out"), progress=False)
    assert seen == [(72, 128, 3)] * 3  # keyframes at 0, 1, 2 s of a 3 s video, on the full frame
    assert [f["path"] for f in summary["failed"]] == [str(tmp_path / "broken.mp4")]
    det = pd.read_csv(tmp_path / "out" / "detections.csv", header=None)
    assert sorted(set(det[1])) == [0, 1, 2]
    np.testing.assert_allclose(det.iloc[0, 2:6].to_numpy(dtype=float), [0.25, 0.25, 0.75, 1.0], atol=1e-6)
    expected = _by_hand(cfg, model, frames, 20.0, 1, torch.tensor([[0.25, 0.25, 0.75, 1.0]]))
    np.testing.assert_allclose(det[det[1] == 1][7].to_numpy(), expected[0].numpy(), atol=2e-6)


def test_person_detector_needs_its_weights_and_says_where_they_go(tmp_path, monkeypatch, detection_run, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(SetupError, match=r"download https://download.pytorch.org/models/"
                                         r"fasterrcnn_resnet50_fpn_v2_coco-dd69338a.pth to .*torch/hub/checkpoints"):
        torchvision_person_detector("fasterrcnn_resnet50_fpn_v2")
    cfg, _ = detection_run
    path, _ = _video(tmp_path)
    for name, message in (("yolo", "--person-detector yolo: choose one of"),
                          ("keypointrcnn_resnet50_fpn", "download https://download.pytorch.org/models/keypointrcnn")):
        rc = demo_net.main(["--cfg", QUICKSTART, "--input", path, "--output", str(tmp_path / "o"), "--device", "cpu",
                            "--person-detector", name, "OUTPUT_DIR", cfg.OUTPUT_DIR])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and message in err[0], err


def test_person_detector_from_a_local_weights_file(tmp_path):
    """torchvision's Faster R-CNN v2 architecture with a weights file (random here): person boxes in pixels."""
    import torchvision

    torch.manual_seed(0)
    net = torchvision.models.detection.fasterrcnn_resnet50_fpn_v2(weights=None, weights_backbone=None)
    torch.save(net.state_dict(), tmp_path / "frcnn.pth")
    detect = torchvision_person_detector("fasterrcnn_resnet50_fpn_v2", str(tmp_path / "frcnn.pth"),
                                         score_thresh=0.0, min_size=96, max_size=128)
    boxes, scores = detect(torch.randint(0, 255, (72, 128, 3), dtype=torch.uint8))
    assert boxes.ndim == 2 and boxes.shape[1] == 4 and scores.shape == (len(boxes),)
    assert (boxes[:, 2] <= 128 + 1e-3).all() and (boxes[:, 3] <= 72 + 1e-3).all()


def test_ava_demo_on_real_footage_with_a_proposals_csv(tmp_path, detection_run, opencv_video):
    """vtest.avi (768x576 street camera, 10 fps, 80 s; time origin 0) with tests/data/vtest_proposals.csv, the
    hand-placed pedestrian boxes of tests/data/vtest_ava.csv normalised (the README's example): every box is scored,
    at its own second."""
    cfg, _ = detection_run
    src = opencv_video("vtest.avi")
    boxes = pd.read_csv(os.path.join(ROOT, "tests", "data", "vtest_ava.csv"))
    boxes = boxes.drop_duplicates(["second", "x1", "y1", "x2", "y2"])
    proposals = os.path.join(ROOT, "tests", "data", "vtest_proposals.csv")
    listed = pd.read_csv(proposals, header=None)
    np.testing.assert_allclose(listed[[2, 3, 4, 5]].to_numpy(),
                               boxes[["x1", "y1", "x2", "y2"]].to_numpy() / [768, 576, 768, 576], atol=5e-5)
    out = tmp_path / "demo"
    rc = demo_net.main(["--cfg", QUICKSTART, "--input", src, "--proposals", proposals,
                        "--output", str(out), "--device", "cpu", "OUTPUT_DIR", cfg.OUTPUT_DIR,
                        "AVA.ANNOTATION_DIR", cfg.AVA.ANNOTATION_DIR, "AVA.LABEL_MAP_FILE", "labels.pbtxt"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    video = summary["videos"][0]
    assert (video["fps"], video["num_keyframes"], video["num_persons"]) == (10.0, boxes["second"].nunique(),
                                                                            len(boxes))
    det = pd.read_csv(out / "detections.csv", header=None)
    assert len(det) == len(boxes) * len(LABELS) and det[7].between(0, 1).all()
