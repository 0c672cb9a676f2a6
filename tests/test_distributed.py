"""Training at scale on the CPU: 2-process torchrun runs (gloo) with every tensor collective checked as NCCL checks
it (tests/collective_check.py), and exact resume after a kill.

Each launches tools/run_net.py in subprocesses, as a user would.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

from helpers import ROOT, RUN_NET, subprocess_env, torchrun
from hiera_video.prep.synthetic import make_motion_dataset

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")
MAE_QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "mae_hiera_tiny.yaml")
FT_QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny_ft.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("motion"))
    make_motion_dataset(root, num_train_per_class=4, num_val_per_class=1, num_test_per_class=1,
                        size=(48, 64), num_frames=24)
    return root


def _args(data, out, *extra, cfg=QUICKSTART):
    return [
        "--cfg", cfg, "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data,
        "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0",
        "SOLVER.WARMUP_EPOCHS", "0.5", "TEST.NUM_ENSEMBLE_VIEWS", "1", "TEST.NUM_SPATIAL_CROPS", "1", *extra,
    ]


def _stats(out, split="train"):
    return [json.loads(line) for line in open(out / "stats.jsonl") if json.loads(line)["split"] == split]


def _torchrun(*args, nproc=2, env=None):
    """tools/run_net.py in ``nproc`` processes, each tensor collective checked as under NCCL."""
    return torchrun(args, nproc=nproc, timeout=600, env=env)


def test_torchrun_two_processes_train_and_test(data, tmp_path):
    out = tmp_path / "ddp"
    proc = _torchrun(*_args(data, out, "TRAIN.BATCH_SIZE", "8", "SOLVER.MAX_EPOCH", "1", "TEST.BATCH_SIZE", "4"))
    summary = [line for line in proc.stdout.splitlines() if line.startswith("top-1 ")]
    assert len(summary) == 1  # the summary line comes from rank 0 only
    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 6 and report["failed"] == []  # both shards merged
    train = _stats(out)
    assert len(train) == 1 and train[0]["clips_per_s"] > 0
    # 24 training videos, 8 per step over 2 processes (4 each): 3 steps, every clip counted once
    assert train[0]["num_bad_samples"] == 0
    assert (out / "checkpoints" / "checkpoint_epoch_00001.pyth").is_file()


def test_kill_mid_epoch_then_resume_matches_an_uninterrupted_run(data, tmp_path):
    """Deterministic settings (no loader workers, one thread): after SIGKILL in epoch 2 and a restart,
    epochs 2 and 3 log exactly the losses of a run that was never interrupted."""
    extra = ("TRAIN.BATCH_SIZE", "2", "SOLVER.MAX_EPOCH", "3", "TRAIN.EVAL_PERIOD", "0", "TEST.ENABLE", "False",
             "LOG_PERIOD", "1")
    full = tmp_path / "full"
    subprocess.run([sys.executable, RUN_NET, *_args(data, full, *extra)], env=subprocess_env(), check=True,
                   capture_output=True, timeout=600)
    reference = [s["loss"] for s in _stats(full)]
    assert len(reference) == 3

    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, RUN_NET, *_args(data, cut, *extra)], env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = cut / "checkpoints" / "checkpoint_epoch_00001.pyth"
    deadline = time.time() + 300
    while not first.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # into epoch 2 (12 steps of ~0.1 s or more)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert first.exists() and len(_stats(cut)) < 3  # killed before the run ended
    done = len(_stats(cut))

    subprocess.run([sys.executable, RUN_NET, *_args(data, cut, *extra)], env=subprocess_env(), check=True,
                   capture_output=True, timeout=600)
    resumed = _stats(cut)
    assert [s["epoch"] for s in resumed] == list(range(1, done + 1)) + list(range(done + 1, 4))
    assert [s["loss"] for s in resumed] == pytest.approx(reference, rel=1e-6, abs=1e-7)


def test_torchrun_mae_pretrain_then_finetune_then_multiview_test(data, tmp_path):
    """The quickstart MAE chain, each step one torchrun command with 2 processes: MAE pretraining (4x32x32,
    2 mask units, 1 kept), fine-tuning from its checkpoint, and the 2 x 3-view test of the fine-tuned model."""
    mae = tmp_path / "mae"
    _torchrun(*_args(data, mae, "TRAIN.BATCH_SIZE", "8", "SOLVER.MAX_EPOCH", "2", "TEST.ENABLE", "False",
                     "MASK.RATIO", "0.5", "MASK.DECODER_DEPTH", "1", "MASK.DECODER_EMBED_DIM", "64",
                     "MASK.DECODER_NUM_HEADS", "2", "MASK.VIS_PERIOD", "2", "TRAIN.CHECKPOINT_PERIOD", "1",
                     cfg=MAE_QUICKSTART))
    train = _stats(mae)
    # 24 videos x 2 temporal clips, 8 videos a step over 2 processes: 3 steps, every clip counted once
    assert [s["epoch"] for s in train] == [1, 2] and all(s["loss"] > 0 for s in train)
    assert len(list((mae / "vis").glob("*.png"))) >= 1  # the reconstruction picture, written by rank 0
    mae_ckpt = mae / "checkpoints" / "checkpoint_epoch_00002.pyth"
    assert "decoder_pos_embed" in torch.load(mae_ckpt, weights_only=True)["model"]

    ft = tmp_path / "ft"
    proc = _torchrun(*_args(data, ft, "TRAIN.BATCH_SIZE", "8", "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "1",
                            "TEST.BATCH_SIZE", "4", "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3",
                            "TRAIN.CHECKPOINT_FILE_PATH", str(mae_ckpt), cfg=FT_QUICKSTART))
    log = (ft / "log.txt").read_text()
    assert log.count(f"load_pretrained: {mae_ckpt} into Hiera: used ") == 1  # logged by rank 0 only
    assert "initialised 4 model keys fresh [head.projection.bias, head.projection.weight, norm.bias, norm.weight]" in log
    assert len(_stats(ft, "val")) == 1
    report = json.loads((ft / "test" / "report.json").read_text())
    assert report["num_videos"] == 6 and report["num_views"] == 6 and report["failed"] == []
    assert sum(line.startswith("top-1 ") for line in proc.stdout.splitlines()) == 1


def _rng_per_rank(path):
    return torch.load(path, weights_only=True)["rng_per_rank"]


def _same_rng(a, b) -> bool:
    return (torch.equal(a["torch"], b["torch"]) and torch.equal(a["python"]["state"], b["python"]["state"])
            and torch.equal(a["numpy"]["keys"], b["numpy"]["keys"]) and a["numpy"]["pos"] == b["numpy"]["pos"])


def test_each_rank_resumes_with_its_own_rng_states(data, tmp_path):
    """2-process MAE pretraining (a random mask per clip and per step, drawn from each rank's torch RNG): a run resumed
    from the epoch-1 checkpoint (all a run killed in epoch 2 leaves) ends epoch 2 with every rank's RNG states equal to
    an uninterrupted run's and different between the ranks, with the same epoch-2 loss. Restoring rank 0's states on
    every rank (the old behaviour) fails both: the ranks would draw the same masks after the resume."""
    import shutil

    args = ("TRAIN.BATCH_SIZE", "8", "SOLVER.MAX_EPOCH", "2", "TEST.ENABLE", "False", "MASK.RATIO", "0.5",
            "MASK.DECODER_DEPTH", "1", "MASK.DECODER_EMBED_DIM", "32", "MASK.DECODER_NUM_HEADS", "1",
            "MASK.VIS_PERIOD", "0", "TRAIN.CHECKPOINT_PERIOD", "1", "MODEL.DROP_PATH_RATE", "0.1")
    full = tmp_path / "full"
    _torchrun(*_args(data, full, *args, cfg=MAE_QUICKSTART))
    cut = tmp_path / "cut"
    (cut / "checkpoints").mkdir(parents=True)
    shutil.copy(full / "checkpoints" / "checkpoint_epoch_00001.pyth", cut / "checkpoints")
    _torchrun(*_args(data, cut, *args, cfg=MAE_QUICKSTART))
    assert [s["epoch"] for s in _stats(cut)] == [2]  # resumed: only epoch 2 ran
    assert _stats(cut)[0]["loss"] == pytest.approx(_stats(full)[1]["loss"], rel=1e-6)
    ran, ref = (_rng_per_rank(d / "checkpoints" / "checkpoint_epoch_00002.pyth") for d in (cut, full))
    assert len(ran) == len(ref) == 2
    assert all(_same_rng(a, b) for a, b in zip(ran, ref))
    assert not _same_rng(ran[0], ran[1]) and not _same_rng(ref[0], ref[1])
    first = _rng_per_rank(full / "checkpoints" / "checkpoint_epoch_00001.pyth")
    assert not _same_rng(first[1], ran[1])  # epoch 2 did draw


def test_bad_video_streak_on_one_rank_stops_every_rank_with_its_message(data, tmp_path):
    """Two processes started as SLURM starts them (env:// rendezvous, no torchrun agent to kill the survivors): the
    rank whose batch holds the one undecodable training video (DATA.MAX_RETRIES 0: a streak of one) and the rank
    that saw nothing both stop at once with the same one-line error naming the video and the rank, status 2; neither
    waits in a collective until the process-group timeout."""
    import shutil
    import socket

    own = tmp_path / "data"
    shutil.copytree(data, own)
    broken = own / "videos" / "train" / "move_left_0002.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, os.path.join(ROOT, "tests", "collective_check.py"), RUN_NET,
           *_args(str(own), tmp_path / "out", "TRAIN.BATCH_SIZE", "8", "SOLVER.MAX_EPOCH", "1", "TEST.ENABLE", "False",
                  "TRAIN.EVAL_PERIOD", "0", "DATA.MAX_RETRIES", "0", "DIST_TIMEOUT_MINUTES", "3")]
    start = time.time()
    procs = [subprocess.Popen(cmd, env=dict(subprocess_env(), RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                            MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert time.time() - start < 150  # far below the 3-minute timeout: nobody waited for it
    lines = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 2, err[-3000:]
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, err[-3000:]
        lines.append(errors[0])
    assert lines[0] == lines[1]  # one message, the same on both ranks
    assert "1 videos failed to decode in a row" in lines[0] and str(broken) in lines[0]
    assert re.search(r"\(on rank [01] of 2\)$", lines[0]), lines[0]
    bad = (tmp_path / "out" / "train_bad_videos.csv").read_text()  # written by rank 0, whichever rank met it
    assert str(broken) in bad


def test_compile_with_activation_checkpointing_under_ddp(data, tmp_path):
    """MODEL.COMPILE True with MODEL.ACT_CHECKPOINT True in a 2-process DDP run (gloo; backend aot_eager: Dynamo,
    the DDP optimizer's bucket split and AOTAutograd without kernel generation). Dynamo's DDP optimizer once rejected
    the checkpoint higher-order ops (pytorch#104674); here it splits the graph with them into buckets, and one epoch
    gives the loss and weights of the same run in eager mode."""
    common = ("TRAIN.BATCH_SIZE", "4", "SOLVER.MAX_EPOCH", "1", "TRAIN.EVAL_PERIOD", "0", "TEST.ENABLE", "False",
              "MODEL.ACT_CHECKPOINT", "True", "MODEL.COMPILE_BACKEND", "aot_eager")
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    _torchrun(*_args(data, eager, *common))
    proc = _torchrun(*_args(data, compiled, *common, "MODEL.COMPILE", "True"), env={"TORCH_LOGS": "ddp_graphs"})
    split = proc.stderr[proc.stderr.index("---split graph---"):]
    assert "tag_activation_checkpoint" in split and "submod_1" in split  # checkpointed blocks, several buckets
    assert _stats(compiled)[0]["loss"] == pytest.approx(_stats(eager)[0]["loss"], rel=1e-5)
    a, b = (torch.load(d / "checkpoints" / "checkpoint_epoch_00001.pyth", weights_only=True)["model"]
            for d in (eager, compiled))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
