"""Test-only helpers shared by several test modules (pytest puts tests/ on sys.path)."""

import importlib.util
import math
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_NET = os.path.join(ROOT, "tools", "run_net.py")


def subprocess_env() -> dict:
    """The environment for a subprocess run: one thread per process, unbuffered, no rendezvous variables."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def torchrun(args, nproc: int = 2, timeout: int = 900, check: bool = True, script: str = RUN_NET, env=None,
             tensor_collectives: bool = True):
    """``script args`` in ``nproc`` processes (torchrun, gloo), every tensor collective checked as NCCL checks it
    (``tests/collective_check.py``). With ``check``: asserts exit status 0 and that every rank ran checked
    collectives (when ``tensor_collectives``; a test-only run has object collectives only). ``env``: extra environment
    variables. Returns the ``CompletedProcess`` (text output captured)."""
    import re
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           os.path.join(ROOT, "tests", "collective_check.py"), script, *map(str, args)]
    proc = subprocess.run(cmd, env={**subprocess_env(), **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        found = re.findall(r"collective_check: (\d+) checked calls on rank (\d+)", proc.stderr)
        assert sorted(int(r) for _, r in found) == list(range(nproc)), found
        assert all((int(n) > 0) == tensor_collectives for n, _ in found), found
    return proc


def load_script(relpath: str):
    """Import a CLI script such as ``data_prep/kinetics.py`` as a module with a unique name."""
    name = "script_" + relpath.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomise_(model: torch.nn.Module, seed: int = 0) -> None:
    """Draw every parameter at random with scales that keep activations O(1) through the whole network
    (encoder and, for MAE models, decoder): parity tests then compare non-trivial outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos_embed" in name or name == "mask_token":
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.ndim == 1:  # LayerNorm weight
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.25)
            else:  # Linear / conv weight: unit-variance outputs
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))


def make_tiny_ava(root: str, num_seconds: int = 4, size=(45, 80), seed: int = 0,
                  movies=(("train", "m1"), ("train", "m2"), ("val", "m3"))) -> dict:
    """A tiny AVA-format dataset under ``root`` (``frames/``, ``frame_lists/``, ``annotations/``) in PySlowFast's
    layout: random-noise JPEG frames at 30 fps from second 900 (``num_seconds`` s per movie), two people per keyframe
    at seconds 901.. (person 0: actions 1 and 3; person 1: action 2), proposals (the two people at 0.95 / 0.97 and a
    false box at 0.5), ``m3,0901`` excluded, a 3-class label map. Returns the three folders."""
    import numpy as np
    from PIL import Image

    from hiera_video.prep.extract_frames import frame_name, write_frame_list

    rng = np.random.default_rng(seed)
    dirs = {k: os.path.join(root, k) for k in ("frames", "frame_lists", "annotations")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    splits = {}
    for split, vid in movies:
        splits.setdefault(split, []).append(vid)
    for split, vids in splits.items():
        gt, prop = [], []
        for v in vids:
            os.makedirs(os.path.join(dirs["frames"], v), exist_ok=True)
            for k in range(1, num_seconds * 30 + 1):
                pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(os.path.join(dirs["frames"], frame_name(v, k)), quality=80)
            for s in range(901, 900 + num_seconds):
                gt += [f"{v},{s:04d},0.1,0.2,0.5,0.9,1,0", f"{v},{s:04d},0.1,0.2,0.5,0.9,3,0",
                       f"{v},{s:04d},0.55,0.1,0.95,0.95,2,1"]
                prop += [f"{v},{s:04d},0.11,0.2,0.5,0.9,,0.95", f"{v},{s:04d},0.55,0.1,0.95,0.95,,0.97",
                         f"{v},{s:04d},0.3,0.3,0.6,0.6,,0.5"]
        with open(os.path.join(dirs["annotations"], f"ava_{split}_v2.2.csv"), "w") as f:
            f.write("\n".join(gt) + "\n")
        with open(os.path.join(dirs["annotations"], f"ava_{split}_predicted_boxes.csv"), "w") as f:
            f.write("\n".join(prop) + "\n")
        write_frame_list(os.path.join(dirs["frame_lists"], f"{split}.csv"), [(v, num_seconds * 30) for v in vids])
    with open(os.path.join(dirs["annotations"], "ava_val_excluded_timestamps_v2.2.csv"), "w") as f:
        f.write("m3,0901\n")
    with open(os.path.join(dirs["annotations"], "ava_action_list_v2.2_for_activitynet_2019.pbtxt"), "w") as f:
        f.write("".join(f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
                        for i in (1, 2, 3)))
    return dirs


def tiny_ava_overrides(dirs: dict, out: str) -> list:
    """``KEY VALUE`` overrides that run ``configs/quickstart/ava_hiera_tiny.yaml`` on :func:`make_tiny_ava` data."""
    return ["OUTPUT_DIR", str(out), "AVA.FRAME_DIR", dirs["frames"], "AVA.FRAME_LIST_DIR", dirs["frame_lists"],
            "AVA.ANNOTATION_DIR", dirs["annotations"], "DATA.MAKE_SYNTHETIC", "False", "MODEL.NUM_CLASSES", "3",
            "AVA.TRAIN_KEYFRAME_RANGE", "[]", "AVA.DETECTION_SCORE_THRESH", "0.8",
            "AVA.TRAIN_PREDICT_BOX_LISTS", "[]", "AVA.FULL_TEST_ON_VAL", "True", "DATA.NUM_FRAMES", "4",
            "DATA.SAMPLING_RATE", "2", "DETECTION.INPUT_SIZE", "[64, 96]", "DATA.TRAIN_JITTER_SCALES", "[64, 72]",
            "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "4", "DATA_LOADER.NUM_WORKERS", "0", "SOLVER.MAX_EPOCH",
            "1", "SOLVER.WARMUP_EPOCHS", "0.5", "TRAIN.EVAL_PERIOD", "1"]
