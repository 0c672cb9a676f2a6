"""AVA action detection: the detector (parity of its backbone with the official Hiera, ROI head, weights), the AVA
dataset (clip indices, geometry, boxes and labels, bad input) and ``TASK detection`` end to end through
``tools/run_net.py`` (train, validate, test, EMA, resume, a failed keyframe, ``configs/ava/hiera_l.yaml``)."""

import json
import math
import os
import random
import subprocess
import sys
import warnings

import pytest
import torch

from helpers import ROOT, make_tiny_ava, randomise_, tiny_ava_overrides, torchrun
from hiera_video.config import load_config
from hiera_video.data import build_dataset
from hiera_video.data.ava import clip_frame_indices, collate_detection, fit_clip, jitter_clip
from hiera_video.data.lists import ListFormatError
from hiera_video.models import create_detector, create_model, load_pretrained, model_config, roi_boxes
from hiera_video.models.detector import ROIActionHead
from hiera_video.utils.errors import ListError

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "ava_hiera_tiny.yaml")
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import hiera as official_hiera


@pytest.fixture(scope="module")
def ava(tmp_path_factory):
    return make_tiny_ava(str(tmp_path_factory.mktemp("ava")), num_seconds=6)


def cfg_for(dirs, out, *extra):
    return load_config(QUICKSTART, tiny_ava_overrides(dirs, out) + list(extra))


# ------------------------------------------------------------------------------------------------------ model
def test_backbone_with_last_q_pool_skipped_matches_official():
    """The detector's backbone (q_pool = 2: last stage at stride 16) equals the official Hiera built the same way."""
    config = model_config("hiera_tiny_16x224", input_size=(8, 64, 96), q_pool=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = official_hiera.Hiera(**config)
    randomise_(official)
    detector = create_detector("hiera_tiny_16x224", num_classes=5, input_size=(8, 64, 96))
    state = {k: v for k, v in official.state_dict().items() if not k.startswith("head.")}
    detector.backbone.load_state_dict(state, strict=True)
    official.train()  # logits, no softmax; no drop path
    detector.eval()
    x = torch.randn(2, 3, 8, 64, 96)
    with torch.no_grad():
        _, ref_maps = official(x, return_intermediates=True)
        ours = detector.backbone.forward_intermediates(x, indices=[-1], intermediates_only=True)[0]
    ref = ref_maps[-1].permute(0, 4, 1, 2, 3)  # (B, C, T', H', W')
    assert ref.shape == (2, 768, 4, 4, 6) == ours.shape
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    assert detector.feature_stride == 16 and detector.forward_features(x).shape == (2, 768, 4, 6)
    assert create_detector("hiera_tiny_16x224", num_classes=5, input_size=(8, 64, 96),
                           feature_stride=32).forward_features(x).shape == (2, 768, 2, 3)
    with pytest.raises(ValueError, match="stride 16 or 32"):
        create_detector("hiera_tiny_16x224", num_classes=5, input_size=(8, 64, 96), feature_stride=8)


def test_roi_head_pools_the_box_region_and_returns_logits():
    head = ROIActionHead(dim=2, num_classes=2, resolution=7, spatial_scale=1 / 16, aligned=True)
    with torch.no_grad():
        head.projection.weight.copy_(torch.eye(2) * 10)
        head.projection.bias.zero_()
    fmap = torch.zeros(1, 2, 8, 8)
    fmap[0, 0, 2:4, 3:5] = 3.0  # channel 0: cells rows 2-3, cols 3-4 (pixels y 32-64, x 48-80)
    fmap[0, 1] = -1.0
    boxes = torch.tensor([[0, 52.0, 36.0, 76.0, 60.0], [0, 0.0, 100.0, 20.0, 127.0]])
    logits = head(fmap, boxes)
    assert logits[0].tolist() == pytest.approx([30.0, -10.0])  # the region's max; no sigmoid (unbounded)
    assert logits[1].tolist() == pytest.approx([0.0, -10.0])


def test_head_prior_initialises_the_bias_and_survives_a_classifier_load(tmp_path):
    assert torch.equal(ROIActionHead(4, 3).projection.bias, torch.zeros(3))  # PySlowFast's zero bias by default
    det = create_detector("hiera_tiny_16x224", num_classes=3, input_size=(4, 64, 96), prior_prob=0.15)
    assert torch.sigmoid(det.head.projection.bias).tolist() == pytest.approx([0.15] * 3)
    clf = create_model("hiera_tiny_16x224", num_classes=7)
    torch.save({"model_state": clf.state_dict()}, tmp_path / "clf.pth")
    load_pretrained(det, str(tmp_path / "clf.pth"))  # backbone only: the fresh head keeps its prior
    assert torch.sigmoid(det.head.projection.bias).tolist() == pytest.approx([0.15] * 3)
    with pytest.raises(ValueError, match="prior_prob"):
        ROIActionHead(4, 3, prior_prob=1.0)


def test_detector_loads_classifier_then_detector_checkpoints(tmp_path):
    clf = create_model("hiera_tiny_16x224", num_classes=7)
    randomise_(clf)
    torch.save({"model_state": clf.state_dict()}, tmp_path / "clf.pth")  # the official layout
    det = create_detector("hiera_tiny_16x224", num_classes=3, input_size=(8, 64, 96))
    report = load_pretrained(det, str(tmp_path / "clf.pth"))
    assert report["reset"] == ["head.projection.bias", "head.projection.weight"]
    assert sorted(report["interpolated"]) == ["backbone.pos_embed_spatial", "backbone.pos_embed_temporal"]
    assert sorted(report["dropped"]) == ["head.projection.bias", "head.projection.weight"]
    assert torch.equal(det.backbone.blocks[5].mlp.fc1.weight, clf.blocks[5].mlp.fc1.weight)
    assert torch.equal(det.backbone.norm.weight, clf.norm.weight)
    torch.save({"model": det.state_dict()}, tmp_path / "det.pyth")
    again = create_detector("hiera_tiny_16x224", num_classes=3, input_size=(8, 64, 96))
    assert load_pretrained(again, str(tmp_path / "det.pyth")) == {"reset": [], "interpolated": [], "dropped": []}
    x, (boxes, _) = torch.randn(1, 3, 8, 64, 96), roi_boxes([torch.tensor([[4.0, 4.0, 40.0, 60.0]])])
    det.eval(), again.eval()
    assert torch.equal(det(x, boxes), again(x, boxes))
    other = create_detector("hiera_tiny_16x224", num_classes=5, input_size=(8, 64, 96))
    assert load_pretrained(other, str(tmp_path / "det.pyth"))["reset"] == ["head.projection.bias",
                                                                         "head.projection.weight"]


def test_detector_layer_ids_for_layer_decay():
    from hiera_video.config import get_cfg
    from hiera_video.engine.optim import build_optimizer

    det = create_detector("hiera_tiny_16x224", num_classes=3, input_size=(8, 64, 96))
    assert det.get_layer_id("backbone.patch_embed.proj.weight") == 0
    assert det.get_layer_id("backbone.blocks.3.attn.qkv.weight") == 4
    assert det.get_layer_id("head.projection.weight") == det.num_layers - 1
    cfg = get_cfg()
    cfg.SOLVER.LAYER_DECAY = 0.75
    groups = build_optimizer(det, cfg).param_groups
    head_group = next(g for g in groups if any(p is det.head.projection.weight for p in g["params"]))
    assert head_group["lr_scale"] == 1.0 and min(g["lr_scale"] for g in groups) < 0.1


# ---------------------------------------------------------------------------------------------------- geometry
def test_clip_frame_indices_follow_pyslowfast_get_sequence():
    assert clip_frame_indices(60, 4, 2, 180) == [56, 58, 60, 62]  # range(c - 4, c + 4, 2)
    assert clip_frame_indices(1, 4, 3, 180) == [0, 0, 1, 4]  # clamped at the start
    assert clip_frame_indices(178, 4, 2, 180) == [174, 176, 178, 179]


def test_fit_clip_never_cuts_a_box():
    rng = random.Random(0)
    for _ in range(20):
        h, w = rng.randint(30, 200), rng.randint(30, 200)
        clip = torch.randint(0, 255, (2, h, w, 3), dtype=torch.uint8)
        boxes = torch.tensor([[0.0, 0.0, w, h], [w * 0.3, h * 0.4, w * 0.9, h * 0.8]])
        out, out_boxes, (sx, sy) = fit_clip(clip, boxes, (64, 96))
        assert out.shape == (3, 2, 64, 96)
        assert out_boxes[:, [0, 2]].max() <= 96 + 1e-4 and out_boxes[:, [1, 3]].max() <= 64 + 1e-4
        assert sx == pytest.approx(sy, rel=0.05) and min(64 / h, 96 / w) == pytest.approx(min(sx, sy), rel=0.05)
        torch.testing.assert_close(out_boxes, boxes * torch.tensor([sx, sy, sx, sy]))


def test_jitter_clip_keeps_labels_with_their_boxes():
    clip = torch.randint(0, 255, (2, 90, 160, 3), dtype=torch.uint8)
    boxes = torch.tensor([[2.0, 5.0, 30.0, 85.0], [120.0, 5.0, 158.0, 85.0]])
    rng = random.Random(1)
    seen = set()
    for _ in range(30):
        out, out_boxes, kept = jitter_clip(clip, boxes, (64, 64), [64, 72], flip=True, rng=rng)
        assert out.shape == (3, 2, 64, 64) and len(out_boxes) == len(kept) >= 1
        assert (out_boxes >= 0).all() and (out_boxes[:, [0, 2]] <= 64).all() and (out_boxes[:, [1, 3]] <= 64).all()
        assert ((out_boxes[:, 2] - out_boxes[:, 0]) >= 2).all()
        seen.add(tuple(kept.tolist()))
    assert (0,) in seen and (1,) in seen  # a 64-px window of a ~114-px frame keeps one person or the other


# ----------------------------------------------------------------------------------------------------- dataset
def test_train_items_boxes_and_multi_hot_labels(ava, tmp_path):
    cfg = cfg_for(ava, tmp_path)
    data = build_dataset("ava", cfg, "train")
    assert len(data) == 2 * 5  # 2 movies x seconds 901-905
    batch = collate_detection([data[i] for i in range(3)])
    assert batch["clip"].dtype == torch.uint8 and batch["clip"].shape == (3, 3, 4, 64, 96)
    assert batch["boxes"].shape[1] == 5 and batch["labels"].shape == (len(batch["boxes"]), 3)
    rows = {tuple(r) for r in batch["labels"].tolist()}
    assert rows <= {(1.0, 0.0, 1.0), (0.0, 1.0, 0.0)}  # person 0: actions 1 and 3; person 1: action 2


def test_test_items_validation_subset_and_counts(ava, tmp_path):
    cfg = cfg_for(ava, tmp_path)
    test = build_dataset("ava", cfg, "test")
    assert len(test) == 5 and test.excluded == {("m3", 901)}
    item = test[1]
    assert item["clip"].shape == (3, 4, 64, 96) and len(item["boxes"]) == 2  # the 0.5 false box is below 0.8
    assert test.counts["proposals_below_threshold"] == 5
    val_cfg = cfg_for(ava, tmp_path, "AVA.FULL_TEST_ON_VAL", "False", "TEST.SPLIT", "val")
    val = build_dataset("ava", val_cfg, "test")
    assert [k.timestamp for k in val.keyframes] == [904] and set(val.groundtruth.timestamp) == {904}


def test_bad_annotations_are_clipped_counted_or_named(ava, tmp_path):
    ann = tmp_path / "annotations"
    ann.mkdir()
    for name in os.listdir(ava["annotations"]):
        (ann / name).write_text(open(os.path.join(ava["annotations"], name)).read())
    with open(ann / "ava_train_v2.2.csv", "a") as f:
        f.write("m1,0902,-0.2,0.1,0.4,1.3,2,5\nm1,0903,0.1,0.1,0.4,0.9,99,6\n")
    dirs = dict(ava, annotations=str(ann))
    data = build_dataset("ava", cfg_for(dirs, tmp_path), "train")
    assert data.counts["groundtruth_boxes_clipped"] == 1 and data.counts["rows_out_of_range_ignored"] == 1
    k = next(k for k in data.keyframes if (k.video_id, k.timestamp) == ("m1", 902))
    assert k.boxes.min() >= 0 and k.boxes.max() <= 1 and len(k.boxes) == 3
    with open(ann / "ava_train_v2.2.csv", "a") as f:
        f.write("m1,0904,0.1,0.1,0.4\n")
    with pytest.raises(ListFormatError, match=r"ava_train_v2.2.csv:\d+: expected 7 or 8"):
        build_dataset("ava", cfg_for(dirs, tmp_path), "train")
    (ann / "ava_val_predicted_boxes.csv").write_text("")
    with pytest.raises(ListError, match="no keyframe"):
        build_dataset("ava", cfg_for(dirs, tmp_path), "test")


def test_missing_frame_is_replaced_in_training_and_listed_at_test(ava, tmp_path):
    frames = tmp_path / "frames"
    for vid in ("m1", "m2", "m3"):
        (frames / vid).mkdir(parents=True)
        for name in os.listdir(os.path.join(ava["frames"], vid)):
            os.link(os.path.join(ava["frames"], vid, name), frames / vid / name)
    os.remove(frames / "m1" / "m1_000061.jpg")  # keyframe 902 of m1 is frame 60 (file 61)
    os.remove(frames / "m3" / "m3_000091.jpg")  # keyframe 903 of m3
    dirs = dict(ava, frames=str(frames))
    train = build_dataset("ava", cfg_for(dirs, tmp_path), "train")
    index = next(i for i, k in enumerate(train.keyframes) if (k.video_id, k.timestamp) == ("m1", 902))
    item = train[index]
    assert item["clip"] is not None and item["index"] != index
    assert item["bad"] and all("m1_000061.jpg" in reason for _, reason in item["bad"])
    test = build_dataset("ava", cfg_for(dirs, tmp_path), "test")
    bad = test[[k.timestamp for k in test.keyframes].index(903)]
    assert bad["clip"] is None and "m3_000091.jpg" in bad["error"]


# ------------------------------------------------------------------------------------------------- end to end
def run_net(*args, check=True):
    proc = subprocess.run([sys.executable, RUN_NET, "--cfg", *args], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="2"), timeout=900)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_train_validate_test_ema_and_resume(ava, tmp_path):
    out = tmp_path / "run"
    proc = run_net(QUICKSTART, *tiny_ava_overrides(ava, out), "MODEL.EMA.ENABLE", "True", "MODEL.EMA.DECAY", "0.9")
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("frame-mAP@0.5 ") and "report: " in line
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_keyframes"] == 5 and report["num_boxes"] == 10 and report["failed"] == []
    assert report["num_keyframes_with_gt"] == 4  # m3,0901 excluded
    assert [c["id"] for c in report["per_class"]] == [1, 2, 3] and 0 <= report["mAP"] <= 100
    assert set(report["groups"]) == {"person_movement", "object_manipulation", "person_interaction"}
    for name in ("detections.csv", "report.md", "per_class_ap.png"):
        assert (out / "test" / name).stat().st_size > 0
    assert (out / "test_ema" / "report.json").exists()
    val = [json.loads(x) for x in open(out / "stats.jsonl") if json.loads(x)["split"] == "val"]
    assert len(val) == 1 and "mAP" in val[0]
    ann = ava["annotations"]
    ev = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ava_eval.py"), "--gt",
                         os.path.join(ann, "ava_val_v2.2.csv"), "--detections", str(out / "test" / "detections.csv"),
                         "--label-map", os.path.join(ann, "ava_action_list_v2.2_for_activitynet_2019.pbtxt"),
                         "--exclusions", os.path.join(ann, "ava_val_excluded_timestamps_v2.2.csv"),
                         "--out", str(tmp_path / "eval.json")], capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert json.loads((tmp_path / "eval.json").read_text())["mAP"] == report["mAP"]
    # resume: a longer schedule continues from epoch 1
    proc = run_net(QUICKSTART, *tiny_ava_overrides(ava, out), "SOLVER.MAX_EPOCH", "2", "TEST.ENABLE", "False")
    assert "finished epochs: 1" in proc.stdout
    assert (out / "checkpoints" / "checkpoint_epoch_00002.pyth").exists()


def test_failed_keyframe_is_listed_and_its_ground_truth_counts(ava, tmp_path):
    out = tmp_path / "run"
    run_net(QUICKSTART, *tiny_ava_overrides(ava, out), "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0")
    ckpt = str(out / "checkpoints" / "checkpoint_epoch_00001.pyth")
    full = run_net(QUICKSTART, *tiny_ava_overrides(ava, tmp_path / "full"), "TRAIN.ENABLE", "False",
                   "TEST.CHECKPOINT_FILE_PATH", ckpt)
    assert full.returncode == 0
    frames = tmp_path / "frames"
    for vid in ("m1", "m2", "m3"):
        (frames / vid).mkdir(parents=True)
        for name in os.listdir(os.path.join(ava["frames"], vid)):
            os.link(os.path.join(ava["frames"], vid, name), frames / vid / name)
    os.remove(frames / "m3" / "m3_000091.jpg")
    run_net(QUICKSTART, *tiny_ava_overrides(dict(ava, frames=str(frames)), tmp_path / "one_failed"),
            "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt, "DATA.MAX_BAD_FRACTION", "0.5")
    ok = json.loads((tmp_path / "full" / "test" / "report.json").read_text())
    one = json.loads((tmp_path / "one_failed" / "test" / "report.json").read_text())
    assert [(f["video_id"], f["timestamp"]) for f in one["failed"]] == [("m3", 903)]
    assert "m3_000091.jpg" in one["failed"][0]["error"]
    assert one["num_keyframes_with_gt"] == ok["num_keyframes_with_gt"] == 4 and one["num_keyframes"] == 4
    assert sum(c["num_gt"] for c in one["per_class"]) == sum(c["num_gt"] for c in ok["per_class"])
    assert one["mAP"] <= ok["mAP"] + 1e-9


@pytest.mark.amx
def test_torchrun_scores_every_keyframe_exactly_once(ava, tmp_path):
    """2 processes (gloo, collectives checked as under NCCL) train one epoch, validate and test: the detections
    gathered from the two shards are the rows a single process writes from the same checkpoint, each (keyframe, box,
    class) once, and one summary line."""
    import pandas as pd

    ddp = tmp_path / "ddp"
    proc = torchrun(["--cfg", QUICKSTART, *tiny_ava_overrides(ava, ddp), "TRAIN.BATCH_SIZE", "4",
                     "TRAIN.EVAL_PERIOD", "1", "TEST.PRECISION", "fp32"])  # compared at 1e-5: fp32 on any CPU
    assert len([x for x in proc.stdout.splitlines() if x.startswith("frame-mAP@0.5 ")]) == 1  # rank 0 only
    single = tmp_path / "single"
    run_net(QUICKSTART, *tiny_ava_overrides(ava, single), "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH",
            str(ddp / "checkpoints" / "checkpoint_epoch_00001.pyth"), "TEST.PRECISION", "fp32")
    key = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"]
    a = pd.read_csv(ddp / "test" / "detections.csv", header=None, names=key + ["score"])
    b = pd.read_csv(single / "test" / "detections.csv", header=None, names=key + ["score"])
    assert len(a) == 10 * 3 and not a.duplicated(key).any()  # 10 proposals x 3 classes, none twice
    merged = a.merge(b, on=key, how="outer", suffixes=("_ddp", "_one"), indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(b)
    assert (merged["score_ddp"] - merged["score_one"]).abs().max() < 1e-5
    ra, rb = (json.loads((d / "test" / "report.json").read_text()) for d in (ddp, single))
    assert ra["num_keyframes"] == rb["num_keyframes"] == 5 and ra["mAP"] == pytest.approx(rb["mAP"], abs=1e-3)


def test_hiera_l_config_trains_and_tests_on_cpu(ava, tmp_path):
    """configs/ava/hiera_l.yaml with small overrides (no download: the backbone starts from scratch)."""
    out = tmp_path / "l"
    cfg = os.path.join(ROOT, "configs", "ava", "hiera_l.yaml")
    proc = run_net(cfg, *tiny_ava_overrides(ava, out), "NUM_GPUS", "0", "TRAIN.CHECKPOINT_FILE_PATH", "",
                   "TRAIN.EVAL_PERIOD", "0", "DATA_LOADER.PIN_MEMORY", "False")
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["arch"] == "hiera_large_16x224" and report["num_keyframes"] == 5
    assert math.isfinite(report["mAP"]) and "frame-mAP@0.5" in proc.stdout


def test_real_footage_through_own_videos_path_and_one_epoch(opencv_video, tmp_path):
    """vtest.avi (a 768x576 street camera at 10 fps, not AVA's 900-1800 s window) with the hand-made pedestrian boxes
    of tests/data/vtest_ava.csv: data_prep/ava.py own-videos, then the AVA quickstart config at a small input for one
    epoch with the overrides it printed. One video: it is the val split, and training reads the same split (a run of
    the pipeline on real frames, not an accuracy claim)."""
    import shlex

    src = opencv_video("vtest.avi")
    (tmp_path / "videos").mkdir()
    os.symlink(src, tmp_path / "videos" / "vtest.avi")
    root = tmp_path / "own"
    prep = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "ava.py"), "own-videos", "--videos",
                           str(tmp_path / "videos"), "--annotations", os.path.join(ROOT, "tests", "data",
                                                                                   "vtest_ava.csv"),
                           "--out", str(root), "--val-videos", "vtest", "--fps", "10"], capture_output=True, text=True)
    assert prep.returncode == 0, prep.stderr
    overrides = shlex.split((root / "config_overrides.txt").read_text())
    assert overrides[overrides.index("AVA.FRAME_START_SEC") + 1] == "0"
    out = tmp_path / "run"
    run_net(QUICKSTART, *overrides, "OUTPUT_DIR", str(out), "DATA.MAKE_SYNTHETIC", "False",
            "AVA.TRAIN_LISTS", "['val.csv']", "AVA.TRAIN_GT_BOX_LISTS", "['ava_val_v2.2.csv']",
            "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "3", "DETECTION.INPUT_SIZE", "[96, 128]",
            "DATA.TRAIN_JITTER_SCALES", "[96, 112]", "TRAIN.BATCH_SIZE", "4", "TEST.BATCH_SIZE", "4",
            "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "0", "DATA_LOADER.NUM_WORKERS", "0")
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_keyframes"] == 8 and report["num_boxes"] == 35 and report["failed"] == []
    assert [(c["name"], c["num_gt"]) for c in report["per_class"]] == [("stand", 4), ("walk", 31)]
    assert report["mAP"] is not None and 0 <= report["mAP"] <= 100


@pytest.mark.parametrize("key, value, match", [
    ("DETECTION.INPUT_SIZE", "[64, 100]", "DETECTION.INPUT_SIZE must be"),
    ("AVA.TRAIN_KEYFRAME_RANGE", "[902]", "AVA.TRAIN_KEYFRAME_RANGE must be"),
    ("MODEL.ARCH", "mae_hiera_tiny_16x224", "MAE pretraining model"),
    ("DETECTION.HEAD_PRIOR_PROB", "1.5", "DETECTION.HEAD_PRIOR_PROB must be in [0, 1)"),
])
def test_bad_detection_config_is_one_line_naming_the_key(ava, tmp_path, key, value, match):
    proc = run_net(QUICKSTART, *tiny_ava_overrides(ava, tmp_path / "bad"), key, value, check=False)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and match in lines[-1] and "Traceback" not in proc.stderr
