"""tools/submit_slurm.py: the submitit job wires torch.distributed env:// for every task (run with the
submitit "local" cluster: 2 tasks as local processes, gloo on the CPU)."""

import json
import os
import sys

import pytest

from hiera_video.prep.synthetic import make_motion_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import submit_slurm  # noqa: E402

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")


def test_bad_config_fails_before_queueing(tmp_path, capsys):
    assert submit_slurm.main(["--cfg", QUICKSTART, "OUTPUT_DIR", str(tmp_path), "TRAIN.BATCHSIZE", "4"]) == 2
    assert "TRAIN.BATCH_SIZE" in capsys.readouterr().err
    assert not (tmp_path / "slurm").exists()


def test_two_local_tasks_train_and_test_as_one_distributed_job(tmp_path, capsys):
    pytest.importorskip("submitit")
    data = str(tmp_path / "data")
    make_motion_dataset(data, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1,
                        size=(48, 64), num_frames=24)
    out = tmp_path / "out"
    argv = ["--cluster", "local", "--gpus-per-node", "2", "--port", "29631", "--cfg", QUICKSTART,
            "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data,
            "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
            "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0",
            "TRAIN.BATCH_SIZE", "4", "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5",
            "TEST.NUM_ENSEMBLE_VIEWS", "1", "TEST.NUM_SPATIAL_CROPS", "1"]
    assert submit_slurm.main(argv) == 0
    printed = capsys.readouterr().out
    assert "submitted job" in printed and "'num_videos': 6" in printed
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 6
    logs = [f for d in (out / "slurm").iterdir() for f in d.iterdir() if f.name.endswith("_log.err")]
    assert len(logs) == 2  # one per task
    # rank 1 joined the same process group: its log shows the distributed test shard, not a second run
    assert (out / "checkpoints" / "checkpoint_epoch_00001.pyth").is_file()
