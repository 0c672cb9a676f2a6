"""Bad input gets one line naming the key, file or line, exit status 2 and no traceback (``utils.errors``).

Each case runs ``tools/run_net.py`` in-process on a tiny data set the tests write; ``--debug`` shows the traceback.
"""

import json
import logging
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_net  # noqa: E402

from hiera_video.config import load_config  # noqa: E402
from hiera_video.data.lists import read_video_list  # noqa: E402
from hiera_video.prep.synthetic import make_motion_dataset  # noqa: E402
from hiera_video.utils.errors import ConfigError, ListError  # noqa: E402

QUICKSTART = os.path.join(ROOT, "configs", "quickstart", "hiera_tiny.yaml")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("bad_input"))
    make_motion_dataset(root, num_train_per_class=1, num_val_per_class=0, num_test_per_class=1,
                        size=(48, 64), num_frames=16)
    return root


def argv(data_root, out, *extra, cfg=QUICKSTART):
    return ["--cfg", cfg, "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", data_root, "DATA.PATH_PREFIX", data_root,
            "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
            "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0",
            "TRAIN.BATCH_SIZE", "3", "TRAIN.EVAL_PERIOD", "0", "SOLVER.MAX_EPOCH", "1", "TENSORBOARD", "False",
            *extra]


def one_line_error(capsys, args, *needles):
    """run_net exits 2 with one ``error:`` line containing every needle, and no traceback."""
    capsys.readouterr()
    status = run_net.main(args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]  # (progress bars aside)
    assert status == 2, (status, captured.err[-2000:])
    assert len(lines) == 1 and "Traceback" not in captured.out + captured.err, captured.err[-2000:]
    err = lines[0]
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# ------------------------------------------------------------------------------------------------- config


def test_config_files_that_cannot_be_read(tmp_path, data, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    one_line_error(capsys, argv(data, tmp_path / "o", cfg=str(empty)), str(empty), "empty")
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("_BASE_: b.yaml\nRNG_SEED: 1\n")
    b.write_text("_BASE_: a.yaml\n")
    one_line_error(capsys, argv(data, tmp_path / "o", cfg=str(a)), "_BASE_ cycle", "a.yaml", "b.yaml")
    one_line_error(capsys, argv(data, tmp_path / "o", cfg=str(tmp_path / "nope.yaml")), "nope.yaml", "not found")
    broken = tmp_path / "broken.yaml"
    broken.write_text("TRAIN: [unclosed\n")
    one_line_error(capsys, argv(data, tmp_path / "o", cfg=str(broken)), "broken.yaml", "not valid YAML")
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    one_line_error(capsys, argv(data, tmp_path / "o", cfg=str(listing)), "list.yaml", "mapping")


@pytest.mark.parametrize("key, value, needle", [
    ("SOLVER.BASE_LR", "-0.001", "SOLVER.BASE_LR must be non-negative"),
    ("TRAIN.BATCH_SIZE", "0", "TRAIN.BATCH_SIZE must be a positive integer"),
    ("TEST.BATCH_SIZE", "-2", "TEST.BATCH_SIZE must be a positive integer"),
    ("DATA.STD", "[0.0,0.0,0.0]", "DATA.STD must be positive"),
    ("DATA.MEAN", "[0.5,0.5]", "DATA.MEAN must be 3 numbers"),
    ("DATA.NUM_FRAMES", "0", "DATA.NUM_FRAMES must be a positive integer"),
    ("DATA.MAX_BAD_FRACTION", "1.5", "DATA.MAX_BAD_FRACTION must be in [0, 1]"),
    ("DATA.DECODING_BACKEND", "opencv", "DATA.DECODING_BACKEND must be one of"),
    ("TEST.NUM_SPATIAL_CROPS", "2", "TEST.NUM_SPATIAL_CROPS must be 1 or 3"),
    ("TEST.SAVE_VIEW_LOGITS", "parquet", "TEST.SAVE_VIEW_LOGITS must be auto, npz, csv, both or none"),
    ("TEST.PRECISION", "int8", "TEST.PRECISION must be auto, fp32, bf16 or fp16"),
    ("TRAIN.BATCH_SIZE", "abc", "TRAIN.BATCH_SIZE"),
    ("DATA.TEST_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE (64) must equal DATA.TRAIN_CROP_SIZE"),
    ("TASK", "segmentation", "unknown TASK 'segmentation'"),
    ("AUG.AA_TYPE", "autoaugment", "AUG.AA_TYPE"),
])
def test_config_values_that_cannot_work_name_their_key(tmp_path, data, capsys, key, value, needle):
    one_line_error(capsys, argv(data, tmp_path / "o", key, value, "AUG.ENABLE", "True"), needle)
    if key != "AUG.AA_TYPE" and key != "TASK":  # checked when the config is loaded, before anything runs
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(QUICKSTART, [key, value])
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_debug_shows_the_traceback(tmp_path, data):
    with pytest.raises(ConfigError, match="SOLVER.BASE_LR"):
        run_net.main(["--debug", *argv(data, tmp_path / "o", "SOLVER.BASE_LR", "-1.0")])


def test_a_warmup_longer_than_the_run_is_clamped_with_one_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="hiera_video.config"):
        cfg = load_config(QUICKSTART, ["SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "5.0"])
    assert cfg.SOLVER.WARMUP_EPOCHS == 1.0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "SOLVER.WARMUP_EPOCHS 5 is longer than SOLVER.MAX_EPOCH 1" in lines[0]
    from hiera_video.engine.optim import lr_at_epoch

    assert lr_at_epoch(cfg, 1.0) == pytest.approx(cfg.SOLVER.BASE_LR)  # warm-up ends with the run


def test_a_short_run_with_the_default_warmup_just_works(tmp_path, data):
    assert run_net.main(argv(data, tmp_path / "short", "SOLVER.WARMUP_EPOCHS", "5.0", "TEST.ENABLE", "False")) == 0
    assert (tmp_path / "short" / "checkpoints" / "checkpoint_epoch_00001.pyth").is_file()


# -------------------------------------------------------------------------------------------------- lists


def _lists(tmp_path, data, train=None, test=None):
    lists = tmp_path / "lists"
    lists.mkdir(exist_ok=True)
    for name, text in (("train.csv", train), ("test.csv", test)):
        src = open(os.path.join(data, name)).read()
        (lists / name).write_bytes((src if text is None else text).encode("utf-8") if isinstance(text, str) or
                                   text is None else text)
    return str(lists)


def test_a_label_beyond_num_classes_is_caught_when_the_list_is_read(tmp_path, data, capsys):
    lines = open(os.path.join(data, "train.csv")).read().splitlines()
    bad = lines[:2] + [lines[2].rsplit(" ", 1)[0] + " 6"] + lines[3:]
    lists = _lists(tmp_path, data, train="\n".join(bad) + "\n")
    one_line_error(capsys, argv(data, tmp_path / "o", "DATA.PATH_TO_DATA_DIR", lists),
                   f"{lists}/train.csv:3:", "label 6 is not below MODEL.NUM_CLASSES 6")
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_bom_crlf_and_duplicates_are_tolerated(tmp_path, caplog):
    path = tmp_path / "l.csv"
    path.write_bytes("\ufeffa.avi 0\r\nb.avi 1\r\na.avi 0\r\nb.avi 1\r\n".encode("utf-8"))
    with caplog.at_level(logging.WARNING):
        records = read_video_list(str(path))
    assert [(r.path, r.label, r.lineno) for r in records] == [("a.avi", 0, 1), ("b.avi", 1, 2)]
    warnings = [r.getMessage() for r in caplog.records if "duplicate" in r.getMessage()]
    assert len(warnings) == 1 and "2 duplicate line(s) ignored (line 3 repeats line 1" in warnings[0]
    path.write_text("a.avi 0\nb.avi 1\na.avi 1\n")
    with pytest.raises(ListError, match=r"l.csv:3: the video of line 1 again with another label \(0 there, 1 here\)"):
        read_video_list(str(path))


def test_empty_lists_are_rejected_before_training(tmp_path, data, capsys):
    lists = _lists(tmp_path, data, train="")
    one_line_error(capsys, argv(data, tmp_path / "o", "DATA.PATH_TO_DATA_DIR", lists),
                   f"{lists}/train.csv", "empty")
    lists = _lists(tmp_path, data, train=None, test="\n")
    one_line_error(capsys, argv(data, tmp_path / "o2", "DATA.PATH_TO_DATA_DIR", lists),
                   f"{lists}/test.csv", "empty")
    assert not (tmp_path / "o2" / "checkpoints").exists()  # rejected at start, not after training
    one_line_error(capsys, argv(data, tmp_path / "o3", "DATA.PATH_TO_DATA_DIR", str(tmp_path / "none")),
                   f"{tmp_path / 'none'}/", "not found")


# --------------------------------------------------------------------------------------- test-only runs


def test_test_only_runs_are_honest(tmp_path, data, capsys):
    train_out = tmp_path / "train"
    assert run_net.main(argv(data, train_out, "TEST.ENABLE", "False")) == 0
    ckpt = str(train_out / "checkpoints" / "checkpoint_epoch_00001.pyth")
    # a 6-class checkpoint tested as 3 classes: the head would be random
    one_line_error(capsys, argv(data, tmp_path / "t1", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt,
                                "MODEL.NUM_CLASSES", "6", "MODEL.NUM_CLASSES", "3", "DATA.PATH_TO_DATA_DIR",
                                _three_class_lists(tmp_path, data)),
                   ckpt, "head of 6 classes", "MODEL.NUM_CLASSES is 3", "TEST.ALLOW_RANDOM_HEAD")
    # nothing to test at all
    one_line_error(capsys, argv(data, tmp_path / "t2", "TRAIN.ENABLE", "False"),
                   "nothing to test", "TEST.CHECKPOINT_FILE_PATH", "TEST.ALLOW_RANDOM_HEAD")
    # said explicitly: it runs, and the report records what was loaded
    assert run_net.main(argv(data, tmp_path / "t3", "TRAIN.ENABLE", "False", "TEST.ALLOW_RANDOM_HEAD", "True")) == 0
    assert run_net.main(argv(data, tmp_path / "t4", "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH", ckpt)) == 0
    report = json.load(open(tmp_path / "t4" / "test" / "report.json"))
    assert report["checkpoint"] == ckpt and report["reset_keys"] == [] and report["loaded_keys"] > 100


def _three_class_lists(tmp_path, data):
    keep = [line for line in open(os.path.join(data, "test.csv")).read().splitlines() if int(line.split()[-1]) < 3]
    folder = tmp_path / "three"
    folder.mkdir(exist_ok=True)
    (folder / "test.csv").write_text("\n".join(keep) + "\n")
    (folder / "train.csv").write_text("\n".join(keep) + "\n")
    return str(folder)


# ------------------------------------------------------------------------------- truncated and bad videos


@pytest.fixture
def damaged(tmp_path, data, make_video, truncate_file):
    """The tiny data set plus a truncated AVI (header 120 frames) in train and test, and a PNG named .mp4."""
    from PIL import Image

    root = tmp_path / "damaged"
    root.mkdir()
    (root / "videos").symlink_to(os.path.join(data, "videos"))
    truncate_file(make_video(tmp_path / "long.avi", num_frames=120, size=(48, 64)), 0.6, dst=str(root / "cut.avi"))
    Image.new("RGB", (64, 48), (0, 90, 200)).save(root / "photo.mp4", format="PNG")
    for split in ("train", "test"):
        lines = open(os.path.join(data, f"{split}.csv")).read()
        (root / f"{split}.csv").write_text(lines + "cut.avi 0\nphoto.mp4 1\n")
    return str(root)


def test_truncated_videos_are_counted_in_training_and_listed_at_test(tmp_path, damaged, monkeypatch):
    from hiera_video.data.kinetics import Kinetics

    real = Kinetics._clip_frame_indices

    def to_the_end(self, n, fps, clip_idx, num_clips):  # training clips that reach the last frames
        return real(self, n, fps, clip_idx, num_clips) if clip_idx >= 0 else [n - 7, n - 5, n - 3, n - 1]

    monkeypatch.setattr(Kinetics, "_clip_frame_indices", to_the_end)
    out = tmp_path / "run"
    assert run_net.main(argv(damaged, out, "DATA.MAX_BAD_FRACTION", "0.5", "TRAIN.BATCH_SIZE", "8")) == 0
    stats = [json.loads(line) for line in open(out / "stats.jsonl")]
    train = [s for s in stats if s["split"] == "train"][0]
    assert train["num_partial_samples"] >= 1 and train["num_partial_videos_total"] == 1
    rows = open(out / "train_bad_videos.csv").read().splitlines()
    assert rows[0] == "path,error,used"
    assert any("cut.avi" in r and "truncated: header 120 frames" in r and r.endswith("True") for r in rows)
    assert any("photo.mp4" in r and "still image" in r and r.endswith("False") for r in rows)
    report = json.load(open(out / "test" / "report.json"))
    (partial,) = report["partial"]
    assert partial["path"].endswith("cut.avi") and partial["reason"].startswith("truncated: header 120 frames, ")
    assert [f["path"].endswith("photo.mp4") and "still image" in f["error"] for f in report["failed"]] == [True]
    assert report["num_videos"] == 7  # 6 whole videos + the partial one, scored on the frames that decode


def test_an_all_bad_train_split_stops_with_the_fraction_message_and_writes_the_csv(tmp_path, data, capsys):
    lists = tmp_path / "allbad"
    lists.mkdir()
    (lists / "train.csv").write_text("".join(f"missing_{i}.mp4 {i % 6}\n" for i in range(12)))
    (lists / "test.csv").write_text(open(os.path.join(data, "test.csv")).read())
    out = tmp_path / "o"
    one_line_error(capsys, argv(data, out, "DATA.PATH_TO_DATA_DIR", str(lists)),
                   "videos in the train split failed to decode", "DATA.MAX_BAD_FRACTION")
    rows = open(out / "train_bad_videos.csv").read().splitlines()
    assert rows[0] == "path,error,used" and len(rows) > 2 and all("file not found" in r for r in rows[1:])


def test_resize_writes_no_output_for_a_truncated_video(tmp_path, make_video, truncate_file):
    from hiera_video.prep.resize import FAILED_CSV, resize_tree

    src = tmp_path / "in"
    src.mkdir()
    make_video(src / "whole.avi", num_frames=30, size=(48, 64))
    truncate_file(make_video(tmp_path / "long.avi", num_frames=120, size=(48, 64)), 0.6, dst=str(src / "cut.avi"))
    out = tmp_path / "out"
    resize_tree(str(src), str(out), short_side=32, workers=0, disable_bar=True)
    assert (out / "whole.mp4").is_file() and not (out / "cut.mp4").exists()
    failed = open(out / FAILED_CSV).read()
    assert "cut.avi" in failed and "truncated: header 120 frames" in failed


# -------------------------------------------------------------------------------------------- data_prep


def _cli(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"dp_{name}", os.path.join(ROOT, "data_prep", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _script_error(capsys, main, args, *needles):
    capsys.readouterr()
    status = main(args)
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert status == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err[-2000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_output_paths_that_are_files_are_one_line_errors(tmp_path, data, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    lst = os.path.join(data, "train.csv")
    cases = {
        "kinetics": ["--annotations", str(tmp_path), "--videos", data, "--out", str(blocker)],
        "ssv2": ["--labels", "l.json", "--train", "t.json", "--val", "v.json", "--videos", data, "--out", str(blocker)],
        "folder_to_list": [os.path.join(data, "videos"), str(blocker / "sub")],
        "resize_videos": [os.path.join(data, "videos"), str(blocker)],
        "extract_frames": [lst, str(blocker), "--fps", "30"],
        "validate": [lst, "--out", str(blocker)],
    }
    for name, args in cases.items():
        _script_error(capsys, _cli(name), args, str(blocker), "a file is in the way")
    one_line_error(capsys, argv(data, blocker), "OUTPUT_DIR", str(blocker), "a file is in the way")


def test_kinetics_annotations_that_cannot_be_read_name_the_file(tmp_path, data, capsys):
    ann = tmp_path / "ann"
    ann.mkdir()
    empty = ann / "train.csv"
    empty.write_text("")
    out = tmp_path / "out"
    _script_error(capsys, _cli("kinetics"), ["--annotations", str(empty), "--videos", data, "--out", str(out)],
                  str(empty), "not a readable annotation CSV")
    quoted = ann / "validate.csv"
    quoted.write_text('label,youtube_id,time_start,time_end,split\n"abseiling,abc,0,10,validate\n')
    _script_error(capsys, _cli("kinetics"), ["--annotations", str(quoted), "--videos", data, "--out", str(out)],
                  str(quoted))


def test_folder_to_list_with_spaces_and_small_classes(tmp_path, make_video, capsys):
    from hiera_video.data.lists import read_video_list

    root = tmp_path / "my videos"
    for cls in ("a class", "b"):
        for i in range(2):
            make_video(root / cls / f"clip {i}.avi", num_frames=4, size=(16, 16))
    main = _cli("folder_to_list")
    _script_error(capsys, main, [str(root), str(tmp_path / "lists")], "leaves the val and test list empty")
    assert main([str(root), str(tmp_path / "lists"), "--split", "0.5", "0", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert "comma-separated" in printed and "DATA.PATH_LABEL_SEPARATOR ','" in printed
    records = read_video_list(str(tmp_path / "lists" / "train.csv"), str(root), separator=",")
    assert len(records) == 2 and all(os.path.isfile(r.path) for r in records)


def test_extract_frames_rejects_malformed_lines_and_unlabelled_videos(tmp_path, make_video, capsys):
    make_video(tmp_path / "v1.avi", num_frames=6, size=(16, 16))
    make_video(tmp_path / "v2.avi", num_frames=6, size=(16, 16))
    lst = tmp_path / "in.csv"
    lst.write_text("v1.avi 0\nv2.avi 1 extra\n")
    main = _cli("extract_frames")
    _script_error(capsys, main, [str(lst), str(tmp_path / "frames"), "--fps", "30"], f"{lst}:2:", "too many fields")
    lst.write_text("v1.avi 0\nv2.avi 1\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("v1.avi 0\n")
    _script_error(capsys, main, [str(lst), str(tmp_path / "frames"), "--fps", "30", "--frame-list",
                                 str(tmp_path / "fl.csv"), "--labels-from-list", str(labels)],
                  str(labels), "gives no label to 1 of the 2 videos", "'v2'")


def test_unreadable_lists_and_missing_cuda_are_one_line_errors(tmp_path, data, capsys):
    lists = tmp_path / "lists"
    (lists / "train.csv").mkdir(parents=True)  # a folder where the list should be
    one_line_error(capsys, argv(data, tmp_path / "o", "DATA.PATH_TO_DATA_DIR", str(lists)),
                   f"{lists / 'train.csv'}", "cannot read the list")
    binary = tmp_path / "bin"
    binary.mkdir()
    (binary / "train.csv").write_bytes(bytes(range(128, 256)) * 4)
    one_line_error(capsys, argv(data, tmp_path / "o", "DATA.PATH_TO_DATA_DIR", str(binary)), "train.csv")
    import torch

    if not torch.cuda.is_available():
        one_line_error(capsys, argv(data, tmp_path / "o", "NUM_GPUS", "1"), "NUM_GPUS is 1", "CUDA is not available")


def test_a_read_only_output_dir_is_one_line(tmp_path, data, capsys, monkeypatch):
    import hiera_video.utils.atomic as atomic

    out = tmp_path / "read_only"
    out.mkdir()
    real = atomic.os.access
    monkeypatch.setattr(atomic.os, "access", lambda p, mode: False if str(p) == str(out) else real(p, mode))
    one_line_error(capsys, argv(data, out), "OUTPUT_DIR", str(out), "not writable")
