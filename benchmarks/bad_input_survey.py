"""Survey: the bad-input cases of the error-policy issue, run as a user would, with each outcome classified.

Every case is a real command line (``tools/run_net.py`` or a ``data_prep`` script, in a subprocess) on small data the
script writes. A case expects either an error or a result:

* an error is ``one-line`` (exit status != 0, exactly one ``error:`` line on stderr naming the expected thing, no
  traceback), ``traceback``, ``unclear`` (one line, but it does not name what is wrong) or ``silent`` (exit 0);
* a result is ``works`` (exit 0 and the expected result) or ``wrong`` (anything else).

``--tree`` runs the cases against another checkout of the project (e.g. a ``git worktree`` of an older commit), so
the outcomes before and after a change are counted with the same cases on the same machine:

    python benchmarks/bad_input_survey.py                       # this checkout
    git worktree add /tmp/before <commit> && python benchmarks/bad_input_survey.py --tree /tmp/before
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_data(root: str) -> dict:
    """A tiny motion data set (6 classes) plus damaged files, written with this checkout's generator."""
    sys.path.insert(0, HERE)
    from PIL import Image

    from hiera_video.prep.synthetic import make_motion_dataset, write_video

    make_motion_dataset(root, num_train_per_class=1, num_val_per_class=0, num_test_per_class=1, size=(48, 64),
                        num_frames=16)
    import numpy as np

    frames = np.random.default_rng(0).integers(0, 255, (120, 48, 64, 3), dtype=np.uint8)
    long = write_video(os.path.join(root, "long.avi"), frames, 30, "mpeg4")
    data = open(long, "rb").read()
    open(os.path.join(root, "videos", "cut.avi"), "wb").write(data[: int(len(data) * 0.6)])
    Image.new("RGB", (64, 48), (0, 90, 200)).save(os.path.join(root, "videos", "photo.mp4"), format="PNG")
    return {"root": root, "train": open(os.path.join(root, "train.csv")).read(),
            "test": open(os.path.join(root, "test.csv")).read()}


def cases(tree: str, work: str, data: dict) -> list:
    """``(name, argv, expect, needle)``: expect "error" (needle: text the one line must hold) or a callable that
    checks the result (returns True when right)."""
    root = data["root"]
    run_net = [sys.executable, os.path.join(tree, "tools", "run_net.py"), "--cfg",
               os.path.join(tree, "configs", "quickstart", "hiera_tiny.yaml")]

    def net(name, *extra, lists=None, out=None):
        return run_net + ["OUTPUT_DIR", out or os.path.join(work, name), "DATA.PATH_TO_DATA_DIR", lists or root,
                          "DATA.PATH_PREFIX", root, "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4",
                          "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
                          "DATA_LOADER.NUM_WORKERS", "0", "TRAIN.BATCH_SIZE", "3", "TRAIN.EVAL_PERIOD", "0",
                          "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5", "TENSORBOARD", "False", *extra]

    def lists(name, train=None, test=None):
        folder = os.path.join(work, "lists_" + name)
        os.makedirs(folder, exist_ok=True)
        for split, text in (("train", train), ("test", test)):
            mode = "wb" if isinstance(text, bytes) else "w"
            with open(os.path.join(folder, f"{split}.csv"), mode) as f:
                f.write(data[split] if text is None else text)
        return folder

    def cfg_file(name, text):
        path = os.path.join(work, name)
        open(path, "w").write(text)
        return path

    def with_cfg(path):
        return [sys.executable, os.path.join(tree, "tools", "run_net.py"), "--cfg", path]

    first = data["train"].splitlines()
    out_of_range = "\n".join(first[:2] + [first[2].rsplit(" ", 1)[0] + " 6"] + first[3:]) + "\n"
    blocker = cfg_file("blocker", "a file")
    cfg_file("a.yaml", "_BASE_: b.yaml\n")
    cfg_file("b.yaml", "_BASE_: a.yaml\n")
    ckpt = os.path.join(work, "trained", "checkpoints", "checkpoint_epoch_00001.pyth")
    empty_ckpt = cfg_file("empty.pyth", "")
    open(os.path.join(work, "noise.pth"), "wb").write(os.urandom(4096))
    dp = os.path.join(tree, "data_prep")
    ann = os.path.join(work, "ann")
    os.makedirs(ann, exist_ok=True)
    open(os.path.join(ann, "train.csv"), "w").write("")
    spaced = os.path.join(work, "spaced videos")
    small = os.path.join(work, "small")
    for folder, n in ((spaced, 2), (small, 2)):
        for cls in ("a class", "b"):
            os.makedirs(os.path.join(folder, cls), exist_ok=True)
            for i in range(n):
                src = os.path.join(root, "videos", "test", sorted(os.listdir(os.path.join(root, "videos", "test")))[i])
                dst = os.path.join(folder, cls, f"clip {i}.mp4")
                if not os.path.exists(dst):
                    os.symlink(src, dst)
    three = cfg_file("three.csv", "videos/cut.avi 0 extra\n")
    unlabelled = cfg_file("two.csv", "videos/cut.avi 0\nvideos/photo.mp4 1\n")
    only_one = cfg_file("one.csv", "videos/cut.avi 0\n")

    def partial_listed(name):
        def check(_):
            report = json.load(open(os.path.join(work, name, "test", "report.json")))
            return any(p["path"].endswith("cut.avi") for p in report.get("partial", []))
        return check

    def clean_drops_truncated(_):
        return "cut.avi" not in open(os.path.join(work, "clean.csv")).read()

    def commas(_):
        return "," in open(os.path.join(work, "spaced_lists", "train.csv")).read().splitlines()[0]

    return [
        ("(setup) train a model for the test-only cases", net("trained", "TEST.ENABLE", "False"), lambda _: True, None),
        ("config: empty YAML file", with_cfg(cfg_file("empty.yaml", "")), "error", "empty.yaml"),
        ("config: _BASE_ cycle", with_cfg(os.path.join(work, "a.yaml")), "error", "a.yaml"),
        ("config: SOLVER.BASE_LR -0.001", net("c1", "SOLVER.BASE_LR", "-0.001"), "error", "SOLVER.BASE_LR"),
        ("config: TRAIN.BATCH_SIZE 0", net("c2", "TRAIN.BATCH_SIZE", "0"), "error", "TRAIN.BATCH_SIZE"),
        ("config: DATA.STD [0,0,0]", net("c3", "DATA.STD", "[0.0,0.0,0.0]"), "error", "DATA.STD"),
        ("config: unknown key", net("c4", "TRAIN.BATCHSIZE", "4"), "error", "TRAIN.BATCH_SIZE"),
        ("config: value of the wrong type", net("c5", "TRAIN.BATCH_SIZE", "abc"), "error", "TRAIN.BATCH_SIZE"),
        ("config: SOLVER.MAX_EPOCH 1 with the default 5 warm-up epochs",
         net("c6", "SOLVER.WARMUP_EPOCHS", "5.0", "TEST.ENABLE", "False"), lambda rc: rc == 0, None),
        ("list: label >= MODEL.NUM_CLASSES", net("l1", lists=lists("l1", train=out_of_range)), "error", "train.csv:3"),
        ("list: UTF-8 BOM", net("l2", "TEST.ENABLE", "False", lists=lists("l2", train=("\ufeff" + data["train"]).encode())),
         lambda rc: rc == 0, None),
        ("list: conflicting duplicate lines", net("l3", lists=lists("l3", train=data["train"] + first[0].rsplit(" ", 1)[0] + " 5\n")),
         "error", "train.csv"),
        ("list: empty train.csv", net("l4", lists=lists("l4", train="")), "error", "train.csv"),
        ("list: empty test.csv with TEST.ENABLE", net("l5", lists=lists("l5", test="")), "error", "test.csv"),
        ("list: a folder instead of a list", net("l6", lists=os.path.join(work, "nolists")), "error", "nolists"),
        ("video: truncated AVI at test is listed", net("v1", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt,
                                                       lists=lists("v1", test=data["test"] + "videos/cut.avi 0\n")),
         partial_listed("v1"), None),
        ("video: a PNG named .mp4 is not a video", net("v2", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt,
                                                       "DATA.MAX_BAD_FRACTION", "0.5",
                                                       lists=lists("v2", test=data["test"] + "videos/photo.mp4 1\n")),
         lambda _: any(f["path"].endswith("photo.mp4") for f in json.load(open(os.path.join(
             work, "v2", "test", "report.json")))["failed"]), None),
        ("video: an all-bad train split", net("v3", lists=lists("v3", train="".join(f"gone_{i}.mp4 {i % 6}\n" for i in range(12)))),
         "error", "DATA.MAX_BAD_FRACTION"),
        ("test-only: a 6-class checkpoint as 3 classes", net("t1", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt,
                                                             "MODEL.NUM_CLASSES", "3",
                                                             lists=lists("t1", train="", test=data["test"].replace(" 5\n", " 2\n").replace(" 4\n", " 1\n").replace(" 3\n", " 0\n"))),
         "error", "NUM_CLASSES"),
        ("test-only: no checkpoint at all", net("t2", "TRAIN.ENABLE", "False"), "error", "TEST.CHECKPOINT_FILE_PATH"),
        ("weights: a 0-byte checkpoint", net("w1", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", empty_ckpt), "error", "empty.pyth"),
        ("weights: random bytes", net("w2", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", os.path.join(work, "noise.pth")),
         "error", "noise.pth"),
        ("environment: NUM_GPUS 1 without CUDA", net("e1", "NUM_GPUS", "1"), "error", "NUM_GPUS"),
        ("environment: OUTPUT_DIR is a file", net("e2", out=blocker), "error", "blocker"),
        ("data_prep: kinetics.py on an empty CSV", [sys.executable, os.path.join(dp, "kinetics.py"), "--annotations",
                                                   os.path.join(ann, "train.csv"), "--videos", root, "--out",
                                                   os.path.join(work, "k")], "error", "train.csv"),
        ("data_prep: folder_to_list.py, paths with spaces", [sys.executable, os.path.join(dp, "folder_to_list.py"), spaced,
                                                             os.path.join(work, "spaced_lists"), "--split", "0.5", "0", "0.5"],
         commas, None),
        ("data_prep: folder_to_list.py, a split left empty", [sys.executable, os.path.join(dp, "folder_to_list.py"), small,
                                                              os.path.join(work, "small_lists")], "error", "empty"),
        ("data_prep: extract_frames.py, a 3-field line", [sys.executable, os.path.join(dp, "extract_frames.py"), three,
                                                          os.path.join(work, "fr"), "--path-prefix", root], "error", "three.csv:1"),
        ("data_prep: extract_frames.py, --labels-from-list misses a video",
         [sys.executable, os.path.join(dp, "extract_frames.py"), unlabelled, os.path.join(work, "fr2"), "--path-prefix", root,
          "--frame-list", os.path.join(work, "fl.csv"), "--labels-from-list", only_one], "error", "one.csv"),
        ("data_prep: validate.py --clean drops a truncated video",
         [sys.executable, os.path.join(dp, "validate.py"), cfg_file("tr.csv", "videos/cut.avi 0\n"), "--prefix", root,
          "--workers", "0", "--clean", os.path.join(work, "clean.csv")], clean_drops_truncated, None),
        *[(f"data_prep: {name}.py with an output path that is a file",
           [sys.executable, os.path.join(dp, f"{name}.py"), *args], "error", "blocker")
          for name, args in (("folder_to_list", [small, blocker]), ("resize_videos", [os.path.join(root, "videos"), blocker]),
                             ("extract_frames", [os.path.join(root, "test.csv"), blocker, "--path-prefix", root]),
                             ("validate", [os.path.join(root, "test.csv"), "--out", blocker]),
                             ("kinetics", ["--annotations", ann, "--videos", root, "--out", blocker]))],
    ]


def classify(expect, needle, rc: int, err: str) -> str:
    if expect != "error":
        return "works" if expect(rc) else "wrong"
    if "Traceback" in err:
        return "traceback"
    if rc == 0:
        return "silent"
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    return "one-line" if len(lines) == 1 and needle in lines[0] else "unclear"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tree", default=HERE, help="the checkout whose tools/ and data_prep/ are run")
    p.add_argument("--json", default="", help="write the outcomes here")
    args = p.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bad_input_")
    data = make_data(os.path.join(work, "data"))
    env = {**os.environ, "PYTHONPATH": os.path.abspath(args.tree), "HIERA_VIDEO_DEBUG": ""}
    outcomes = {}
    for name, cmd, expect, needle in cases(os.path.abspath(args.tree), work, data):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=work)
        outcomes[name] = classify(expect, needle, proc.returncode, proc.stderr)
        print(f"{outcomes[name]:10s} {name}", flush=True)
    counts = collections.Counter(v for k, v in outcomes.items() if not k.startswith("(setup)"))
    print(f"{sum(counts.values())} cases: " + ", ".join(f"{n} {k}" for k, n in counts.most_common()))
    if args.json:
        json.dump(outcomes, open(args.json, "w"), indent=1)
    return outcomes


if __name__ == "__main__":
    main()
