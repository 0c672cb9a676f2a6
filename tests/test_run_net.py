"""End to end: tools/run_net.py trains, checkpoints, resumes and multi-view tests on encoded videos."""

import json
import os
import sys

import pandas as pd
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_net  # noqa: E402

from hiera_video.prep.synthetic import make_motion_dataset  # noqa: E402

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")
OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"


@pytest.fixture(scope="module")
def motion_data(tmp_path_factory):
    """6 classes x (2 train, 1 test) tiny motion videos, plus a missing and a corrupt entry per list."""
    root = str(tmp_path_factory.mktemp("motion"))
    make_motion_dataset(root, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1,
                        size=(48, 64), num_frames=24)
    with open(os.path.join(root, "videos", "corrupt.mp4"), "wb") as f:
        f.write(os.urandom(4096))
    for split in ("train", "test"):
        with open(os.path.join(root, f"{split}.csv"), "a") as f:
            f.write("videos/does_not_exist.mp4 0\nvideos/corrupt.mp4 1\n")
    return root


def small_run(data_root, out_dir, *extra):
    """Overrides that shrink the quickstart config to seconds on a CPU."""
    return [
        "--cfg", QUICKSTART,
        "OUTPUT_DIR", str(out_dir), "DATA.PATH_TO_DATA_DIR", data_root, "DATA.PATH_PREFIX", data_root,
        "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0",
        "TRAIN.BATCH_SIZE", "7", "TRAIN.EVAL_PERIOD", "1", "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5",
        "DATA.MAX_BAD_FRACTION", "0.5", *extra,
    ]


def test_bad_config_key_is_rejected_with_the_closest_key(capsys):
    assert run_net.main(["--cfg", QUICKSTART, "TRAIN.BATCHSIZE", "4"]) == 2
    err = capsys.readouterr().err
    assert "TRAIN.BATCHSIZE" in err and "TRAIN.BATCH_SIZE" in err


def test_opts_flag_and_trailing_overrides_are_both_accepted():
    args = run_net.parse_args(["--cfg", QUICKSTART, "SOLVER.BASE_LR", "0.1", "--opts", "RNG_SEED", "3"])
    assert args.overrides == ["SOLVER.BASE_LR", "0.1", "RNG_SEED", "3"]


def test_train_then_multiview_test_with_bad_videos(motion_data, tmp_path, capsys):
    out = tmp_path / "run"
    assert run_net.main(small_run(motion_data, out)) == 0
    printed = capsys.readouterr().out
    assert "top-1" in printed and str(out / "test" / "report.json") in printed

    # training: both bad videos were drawn (one epoch covers all 14 samples), replaced and recorded
    bad = pd.read_csv(out / "train_bad_videos.csv")
    assert sorted(os.path.basename(p) for p in bad["path"]) == ["corrupt.mp4", "does_not_exist.mp4"]
    stats = [json.loads(line) for line in open(out / "stats.jsonl")]
    train_stats = [s for s in stats if s["split"] == "train"]
    assert train_stats[0]["num_bad_samples"] == 2 and train_stats[0]["epoch"] == 1
    assert any(s["split"] == "val" for s in stats)
    assert (out / "checkpoints" / "checkpoint_epoch_00001.pyth").is_file()
    assert train_stats[0]["grad_norm"] > 0

    # TensorBoard scalars from the main process
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/grad_norm", "train_epoch/top1", "train_epoch/clips_per_s", "val/top1"} <= tags
    assert events.Scalars("train_epoch/top1")[0].value == pytest.approx(train_stats[0]["top1"])

    # test: 6 good videos x (2 temporal clips x 3 spatial crops); the bad two are listed, not scored
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 6 and report["num_views"] == 6
    assert sorted(os.path.basename(f["path"]) for f in report["failed"]) == ["corrupt.mp4", "does_not_exist.mp4"]
    assert all(f["error"] for f in report["failed"])
    assert 0 <= report["top1"] <= report["top5"] <= 100
    assert 0 <= report["single_view_top1"] <= 100
    logits = pd.read_csv(out / "test" / "view_logits.csv")
    assert len(logits) == 6 * 6
    assert {"temporal_clip", "spatial_crop", "logit_0", "logit_5"} <= set(logits.columns)
    assert sorted(set(zip(logits.temporal_clip, logits.spatial_crop))) == [(t, s) for t in range(2) for s in range(3)]
    assert (out / "test" / "report.md").is_file() and (out / "test" / "views.png").is_file()


def test_auto_resume_continues_from_the_last_checkpoint(motion_data, tmp_path, caplog):
    out = tmp_path / "resume"
    assert run_net.main(small_run(motion_data, out, "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0")) == 0
    first = (out / "checkpoints" / "checkpoint_epoch_00001.pyth").stat().st_mtime_ns
    assert run_net.main(small_run(motion_data, out, "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0",
                                  "SOLVER.MAX_EPOCH", "2")) == 0
    assert (out / "checkpoints" / "checkpoint_epoch_00001.pyth").stat().st_mtime_ns == first  # not retrained
    assert (out / "checkpoints" / "checkpoint_epoch_00002.pyth").is_file()
    epochs = [json.loads(line)["epoch"] for line in open(out / "stats.jsonl")]
    assert epochs == [1, 2]
    assert "resumed from" in (out / "log.txt").read_text()


def test_resume_skips_a_damaged_checkpoint_and_checkpoints_name_their_classes(motion_data, tmp_path, capsys):
    import torch

    from hiera_video.models import create_model

    out, ckpts = tmp_path / "damaged", tmp_path / "damaged" / "checkpoints"
    quiet = ("TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0", "SOLVER.MAX_EPOCH", "2")
    assert run_net.main(small_run(motion_data, out, *quiet)) == 0
    names = [n for n, _ in sorted(json.load(open(os.path.join(motion_data, "classes.json"))).items(), key=lambda x: x[1])]
    state = torch.load(ckpts / "checkpoint_epoch_00002.pyth", weights_only=True)
    assert state["meta"]["class_names"] == names and state["meta"]["arch"] == "hiera_tiny_16x224"
    assert state["meta"]["data"]["num_frames"] == 4 and state["meta"]["data"]["sampling_rate"] == 2
    # a crash cut the newest checkpoint short and left a temp file behind
    newest = ckpts / "checkpoint_epoch_00002.pyth"
    newest.write_bytes(newest.read_bytes()[:2000])
    stale = ckpts / ".checkpoint_epoch_00003.pyth.abcd.tmp"
    stale.write_bytes(b"0" * 4096)
    assert run_net.main(small_run(motion_data, out, *quiet)) == 0
    log = (out / "log.txt").read_text()
    assert "skipping" in log and "checkpoint_epoch_00002.pyth" in log and "checkpoint_epoch_00001.pyth" in log
    assert [json.loads(line)["epoch"] for line in open(out / "stats.jsonl")] == [1, 2, 2]  # epoch 2 again
    assert not stale.exists() and torch.load(newest, weights_only=True)["epoch"] == 2
    # a checkpoint alone predicts named classes; save_pretrained's folder tests like the .pyth
    model = create_model("hiera_tiny_16x224", input_size=(4, 32, 32), checkpoint=str(newest))
    assert model.pretrained_cfg["label_names"] == names and model.num_classes == 6
    folder = model.save_pretrained(str(tmp_path / "hub_folder"))
    assert run_net.main(small_run(motion_data, tmp_path / "from_folder", "TRAIN.ENABLE", "False",
                                  "TEST.CHECKPOINT_FILE_PATH", folder)) == 0
    report = json.loads((tmp_path / "from_folder" / "test" / "report.json").read_text())
    assert report["checkpoint"] == folder and report["num_videos"] == 6 and len(report["failed"]) == 2
    # a weights file that cannot be read: one line naming it, no traceback, exit 1
    capsys.readouterr()
    empty = tmp_path / "empty.pyth"
    empty.write_bytes(b"")
    assert run_net.main(small_run(motion_data, tmp_path / "bad", "TRAIN.ENABLE", "False",
                                  "TEST.CHECKPOINT_FILE_PATH", str(empty))) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "empty.pyth: empty file" in err and "\n" not in err


def test_test_only_from_checkpoint_and_bad_fraction_limit(motion_data, tmp_path, capsys):
    train_out = tmp_path / "train"
    assert run_net.main(small_run(motion_data, train_out, "TEST.ENABLE", "False", "TRAIN.EVAL_PERIOD", "0")) == 0
    ckpt = train_out / "checkpoints" / "checkpoint_epoch_00001.pyth"
    out = tmp_path / "test_only"
    # 2 of 8 test videos fail: above a 10% limit the run stops with a clear error, after writing the report
    assert run_net.main(small_run(motion_data, out, "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", str(ckpt),
                                  "DATA.MAX_BAD_FRACTION", "0.1")) == 2
    assert "2 of 8 videos in the test split" in capsys.readouterr().err
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["checkpoint"] == str(ckpt) and len(report["failed"]) == 2


def test_ssv2_dataset_trains_and_tests_with_segment_views(motion_data, tmp_path):
    """TRAIN/TEST.DATASET ssv2: segment sampling over the whole video, temporal views that differ."""
    out = tmp_path / "ssv2"
    argv = small_run(motion_data, out, "TRAIN.DATASET", "ssv2", "TEST.DATASET", "ssv2",
                     "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3")
    assert run_net.main(argv) == 0
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 6 and report["num_views"] == 6 and len(report["failed"]) == 2
    logits = pd.read_csv(out / "test" / "view_logits.csv")
    first = logits[logits.video_index == logits.video_index.min()]
    a = first[(first.temporal_clip == 0) & (first.spatial_crop == 1)].filter(like="logit_").to_numpy()
    b = first[(first.temporal_clip == 1) & (first.spatial_crop == 1)].filter(like="logit_").to_numpy()
    assert not (a == b).all()  # the two temporal views see different frames


def test_malformed_list_line_is_one_clear_error(motion_data, tmp_path, capsys):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "train.csv").write_text("videos/train/move_left_0000.mp4 0\nvideos/train/move_right_0000.mp4\n")
    argv = small_run(motion_data, tmp_path / "out", "DATA.PATH_TO_DATA_DIR", str(lists))
    assert run_net.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{lists / 'train.csv'}:2:" in err and "Traceback" not in err


@pytest.mark.skipif(not os.path.isfile(os.path.join(OPENCV_DATA, "vtest.avi")),
                    reason="Debian's opencv-doc sample videos are not installed")
def test_k400_hiera_l_config_on_real_footage(tmp_path):
    """configs/k400/hiera_l.yaml (Hiera-L) trains one epoch and multi-view tests on real MS-MPEG4 / MPEG-4 AVIs.

    The input is reduced (4x64) to keep the suite fast; the full 16x224 run is in the README.
    """
    data = tmp_path / "lists"
    data.mkdir()
    lines = "vtest.avi 0\nMegamind.avi 1\n"
    for split in ("train", "test"):
        (data / f"{split}.csv").write_text(lines)
    out = tmp_path / "out"
    argv = [
        "--cfg", os.path.join(ROOT, "configs", "k400", "hiera_l.yaml"), "NUM_GPUS", "0",
        "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", str(data), "DATA.PATH_PREFIX", OPENCV_DATA,
        "TRAIN.BATCH_SIZE", "2", "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5", "TRAIN.EVAL_PERIOD", "0",
        "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64",
        "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.BATCH_SIZE", "6", "DATA_LOADER.NUM_WORKERS", "0",
    ]
    assert run_net.main(argv) == 0
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 2 and report["num_views"] == 2 * 3 and report["failed"] == []
    assert report["arch"] == "hiera_large_16x224"


def test_validation_is_off_for_a_header_only_frame_list(tmp_path):
    """A frame list with only its header lists no video: no validation (not a crash)."""
    from hiera_video.config import get_cfg
    from hiera_video.engine.tasks import build_task

    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = str(tmp_path)
    cfg.DATA.INPUT_FORMAT = "frames"
    task = build_task(cfg)
    (tmp_path / "val.csv").write_text("original_vido_id video_id frame_id path labels\n")
    assert task.validation_cfg() is None
    (tmp_path / "val.csv").write_text("original_vido_id video_id frame_id path labels\nv 0 0 v/v_000001.jpg 2\n")
    val = task.validation_cfg()
    assert val.TEST.SPLIT == "val" and val.TEST.NUM_ENSEMBLE_VIEWS == val.TEST.NUM_SPATIAL_CROPS == 1


def test_ema_best_and_last_k_checkpoints(motion_data, tmp_path, monkeypatch):
    """MODEL.EMA: validated and tested alongside the raw weights, saved in checkpoints; TRAIN.CHECKPOINT_KEEP
    keeps the newest K epoch checkpoints plus checkpoint_best.pyth (the best validation top-1), which is a link to its
    epoch's file, never a second serialisation."""
    import torch

    from hiera_video.engine import checkpoint

    written = []
    real_save = checkpoint.save_checkpoint
    monkeypatch.setattr(checkpoint, "save_checkpoint",
                        lambda path, state: written.append(path) or real_save(path, state))
    out = tmp_path / "ema"
    argv = small_run(motion_data, out, "SOLVER.MAX_EPOCH", "3", "TRAIN.CHECKPOINT_KEEP", "2",
                     "MODEL.EMA.ENABLE", "True", "MODEL.EMA.DECAY", "0.5", "TEST.NUM_ENSEMBLE_VIEWS", "1")
    assert run_net.main(argv) == 0
    assert [os.path.basename(p) for p in written] == [f"checkpoint_epoch_0000{e}.pyth" for e in (1, 2, 3)]
    ckpts = sorted(os.listdir(out / "checkpoints"))
    assert ckpts == ["checkpoint_best.pyth", "checkpoint_epoch_00002.pyth", "checkpoint_epoch_00003.pyth"]
    stats = [json.loads(line) for line in open(out / "stats.jsonl")]
    val = {s["epoch"]: s["top1"] for s in stats if s["split"] == "val"}
    assert sorted(val) == [1, 2, 3] and sorted(s["epoch"] for s in stats if s["split"] == "val_ema") == [1, 2, 3]
    best = torch.load(out / "checkpoints" / "checkpoint_best.pyth", weights_only=True)
    assert best["best_top1"] == max(val.values())
    assert best["epoch"] == min(e for e, t in val.items() if t == max(val.values()))  # the first epoch reaching it
    best_stat = os.stat(out / "checkpoints" / "checkpoint_best.pyth")
    if best["epoch"] >= 2:  # its epoch file is kept: one inode, two names
        assert best_stat.st_ino == os.stat(out / "checkpoints" / f"checkpoint_epoch_{best['epoch']:05d}.pyth").st_ino
    else:  # epoch 1's file was pruned; the link survives it
        assert best_stat.st_nlink == 1
    last = torch.load(out / "checkpoints" / "checkpoint_epoch_00003.pyth", weights_only=True)
    ema = {k[len("module."):]: v for k, v in last["ema"].items() if k.startswith("module.")}
    assert ema.keys() == last["model"].keys() and int(last["ema"]["n_averaged"]) > 1
    assert any(not torch.equal(ema[k], last["model"][k]) for k in ema)  # an average, not a copy
    report = json.loads((out / "test" / "report.json").read_text())
    ema_report = json.loads((out / "test_ema" / "report.json").read_text())
    assert ema_report["num_videos"] == report["num_videos"] == 6 and ema_report["weights"] == "ema"
