"""End to end: raw datasets in their official formats -> data_prep scripts -> tools/run_net.py.

Each test builds a tiny raw download the way the dataset ships it (official annotation CSV/JSON,
encoded 72x96 clips of 24 frames, some annotated clips missing, corrupt ones), runs the data_prep
CLIs on it and then trains one epoch and multi-view tests (2 temporal x 3 spatial views) the full
Hiera-B configs (``configs/k400/hiera_b.yaml``, ``configs/ssv2/hiera_b.yaml``: the real
architecture) on the CPU at a reduced input (4 x 64 x 64), checking the lists, the reports of the
prep scripts and the run's bad-video accounting:

- Kinetics: kinetics.py -> validate.py -> resize_videos.py -> run_net (a truncated train clip, a
  garbage test clip);
- SSv2: ssv2.py --videos (VP9/VP8 .webm) -> run_net on the validation list (a garbage clip);
- SSv2 frames: extract_frames.py -> ssv2.py --frames -> frame lists -> run_net with
  ``DATA.INPUT_FORMAT frames`` (an empty and a gapped frame folder, a clip of corrupt JPEGs).

The three runs take most of the time (about 20-30 s each on a busy 2-core CPU).
"""

import csv
import json
import os

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, load_script

kinetics_cli = load_script("data_prep/kinetics.py")
validate_cli = load_script("data_prep/validate.py")
resize_cli = load_script("data_prep/resize_videos.py")
ssv2_cli = load_script("data_prep/ssv2.py")
extract_cli = load_script("data_prep/extract_frames.py")
run_net = load_script("tools/run_net.py")

SIZE = (72, 96)  # H, W of the raw clips
NUM_FRAMES = 24


def _texture_frames(seed: int, num_frames: int = NUM_FRAMES, size=SIZE) -> np.ndarray:
    """A random texture drifting right by 2 px a frame: real content, distinct per clip."""
    rng = np.random.default_rng(seed)
    h, w = size
    base = rng.integers(0, 256, (h // 8, (w + 2 * num_frames) // 8 + 1, 3), dtype=np.uint8)
    big = np.repeat(np.repeat(base, 8, axis=0), 8, axis=1)
    return np.stack([big[:h, 2 * t : 2 * t + w] for t in range(num_frames)])


def _small_run(cfg_name, out_dir, lists_dir, prefix, num_classes, batch_size, *extra):
    """A reduced input for the full Hiera-B config: 4 x 64 x 64 clips, one epoch, 2 x 3 test views."""
    return [
        "--cfg", os.path.join(ROOT, "configs", cfg_name, "hiera_b.yaml"),
        "NUM_GPUS", "0", "OUTPUT_DIR", str(out_dir),
        "DATA.PATH_TO_DATA_DIR", str(lists_dir), "DATA.PATH_PREFIX", str(prefix),
        "DATA.NUM_FRAMES", "4", "DATA.TRAIN_CROP_SIZE", "64", "DATA.TEST_CROP_SIZE", "64",
        "MODEL.NUM_CLASSES", str(num_classes), "TRAIN.BATCH_SIZE", str(batch_size),
        "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5", "DATA_LOADER.NUM_WORKERS", "0",
        "TEST.NUM_ENSEMBLE_VIEWS", "2", "TEST.NUM_SPATIAL_CROPS", "3", "TEST.BATCH_SIZE", "12",
        "DATA.MAX_BAD_FRACTION", "0.5", *extra,
    ]


def _check_run(out, num_train_bad, train_bad_names, num_test_videos, test_failed_names):
    """Assert the run's bad-video accounting, checkpoint and multi-view report; returns the report."""
    stats = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    train = [s for s in stats if s["split"] == "train"]
    assert len(train) == 1 and train[0]["epoch"] == 1
    assert train[0]["num_bad_samples"] == num_train_bad and train[0]["num_bad_videos_total"] == num_train_bad
    assert [s["split"] for s in stats].count("val") == 1  # validation at the last epoch
    log = (out / "log.txt").read_text()
    assert "epoch 1/1: loss" in log and f"{num_train_bad} bad samples replaced" in log
    if train_bad_names:
        bad = pd.read_csv(out / "train_bad_videos.csv")
        assert sorted(os.path.basename(p) for p in bad["path"]) == sorted(train_bad_names)
        assert bad["error"].str.len().min() > 0
    else:
        assert not (out / "train_bad_videos.csv").exists()
    checkpoint = out / "checkpoints" / "checkpoint_epoch_00001.pyth"
    assert checkpoint.is_file()
    checkpoint.unlink()  # 600 MB (Hiera-B + AdamW state); pytest keeps the last runs' tmp folders

    report = json.loads((out / "test" / "report.json").read_text())
    assert report["arch"] == "hiera_base_16x224"
    assert report["num_videos"] == num_test_videos and report["num_views"] == 2 * 3
    assert sorted(os.path.basename(f["path"]) for f in report["failed"]) == sorted(test_failed_names)
    assert all(f["error"] for f in report["failed"])
    assert 0 <= report["top1"] <= report["top5"] <= 100
    logits = pd.read_csv(out / "test" / "view_logits.csv")
    assert len(logits) == num_test_videos * 6
    assert sorted(set(zip(logits.temporal_clip, logits.spatial_crop))) == [(t, s) for t in range(2) for s in range(3)]
    return report


# ------------------------------------------------------------------------------------------- Kinetics
K_CLASSES = ["abseiling", "playing drums", "zumba"]  # official names; folders with a space
# (split, label, youtube_id, start, end, what): "ok" = a good clip, "missing" = annotated, no file,
# "truncated" = the first 40% of an encoded clip, "garbage" = random bytes with the right name.
K_ROWS = [
    ("train", "abseiling", "-3B32lodo2M", 59, 69, "ok"),
    ("train", "abseiling", "0wR5jVB-WPk", 417, 427, "ok"),
    ("train", "abseiling", "3caPS4FHFF8", 36, 46, "truncated"),
    ("train", "playing drums", "a_1b2C3d4E5", 0, 10, "ok"),
    ("train", "playing drums", "f6G7h8I9j0K", 12, 22, "ok"),
    ("train", "playing drums", "kL1mN2oP3qR", 100, 110, "missing"),
    ("train", "zumba", "s4T5u6V7w8X", 5, 15, "ok"),
    ("validate", "abseiling", "y9Z0aB1cD2e", 20, 30, "ok"),
    ("validate", "playing drums", "F3gH4iJ5kL6", 40, 50, "ok"),
    ("validate", "zumba", "m7N8oP9qR0s", 60, 70, "missing"),
    ("test", "abseiling", "T1uV2wX3yZ4", 1, 11, "ok"),
    ("test", "playing drums", "a5B6c7D8e9F", 2, 12, "ok"),
    ("test", "zumba", "g0H1i2J3k4L", 3, 13, "ok"),
    ("test", "zumba", "M5n6O7p8Q9r", 4, 14, "garbage"),
    ("test", "abseiling", "S0t1U2v3W4x", 5, 15, "missing"),
]


def _stem(yid, t0, t1):
    return f"{yid}_{t0:06d}_{t1:06d}"


def _build_kinetics(root, make_video, truncate_file):
    """Official layout: annotations/{train,validate,test}.csv and videos/{class}/{stem}.mp4."""
    ann, videos = root / "annotations", root / "videos"
    ann.mkdir(parents=True)
    for split in ("train", "validate", "test"):
        with open(ann / f"{split}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
            w.writerows([label, yid, t0, t1, s] for s, label, yid, t0, t1, _ in K_ROWS if s == split)
    for k, (_, label, yid, t0, t1, what) in enumerate(K_ROWS):
        path = videos / label / f"{_stem(yid, t0, t1)}.mp4"
        if what in ("ok", "truncated"):
            make_video(path, frames=_texture_frames(k), fps=30, codec="libx264", gop_size=8)
        if what == "truncated":
            truncate_file(str(path), 0.4, dst=str(path))
        elif what == "garbage":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(np.random.default_rng(k).integers(0, 256, 6000, dtype=np.uint8).tobytes())
    return ann, videos


def test_kinetics_official_download_to_multiview_test(tmp_path, make_video, truncate_file, capsys):
    ann, videos = _build_kinetics(tmp_path / "k400", make_video, truncate_file)
    lists = tmp_path / "lists"

    # 1. official CSVs -> lists (class folders with a space: comma-separated)
    assert kinetics_cli.main(["--annotations", str(ann), "--videos", str(videos), "--out", str(lists)]) == 0
    printed = capsys.readouterr().out
    assert "train: 6 found, 1 missing (7 annotated)" in printed
    assert "val: 2 found, 1 missing (3 annotated)" in printed
    assert "test: 4 found, 1 missing (5 annotated)" in printed
    assert "DATA.PATH_LABEL_SEPARATOR ','" in printed
    assert json.loads((lists / "classes.json").read_text()) == {"abseiling": 0, "playing drums": 1, "zumba": 2}

    def expected_list(split):
        return "".join(f"{label}/{_stem(y, a, b)}.mp4,{K_CLASSES.index(label)}\n"
                       for s, label, y, a, b, what in K_ROWS if s == split and what != "missing")

    for split, official in (("train", "train"), ("val", "validate"), ("test", "test")):
        assert (lists / f"{split}.csv").read_text() == expected_list(official)
    missing = pd.read_csv(lists / "missing.csv", dtype=str)  # annotation files in name order
    assert missing[["split", "youtube_id", "label", "expected"]].values.tolist() == [
        ["test", "S0t1U2v3W4x", "abseiling", "S0t1U2v3W4x_000005_000015.mp4"],
        ["train", "kL1mN2oP3qR", "playing drums", "kL1mN2oP3qR_000100_000110.mp4"],
        ["val", "m7N8oP9qR0s", "zumba", "m7N8oP9qR0s_000060_000070.mp4"],
    ]

    # 2. decode check of the train list: the truncated clip is the one bad video
    reports = tmp_path / "validate"
    assert validate_cli.main([str(lists / "train.csv"), "--prefix", str(videos), "--separator", ",",
                              "--workers", "0", "--out", str(reports),
                              "--clean", str(reports / "train_clean.csv")]) == 0
    assert "6 videos: 5 ok, 1 failed" in capsys.readouterr().out
    bad = pd.read_csv(reports / "bad_videos.csv")
    assert bad["path"].tolist() == ["abseiling/3caPS4FHFF8_000036_000046.mp4"] and bad["error"].iloc[0]
    info = pd.read_csv(reports / "video_info.csv")
    good = info[info.status == "ok"]
    assert len(good) == 5 and set(good.frames) == {NUM_FRAMES} and set(good.height) == {72} and set(good.width) == {96}
    assert (reports / "train_clean.csv").read_text() == expected_list("train").replace(
        "abseiling/3caPS4FHFF8_000036_000046.mp4,0\n", "")

    # 3. resize the tree to a 48-pixel short side: the two corrupt clips fail and are listed; the
    #    resized tree is read by the same lists (validate = the training decoders)
    resized = tmp_path / "k400_48"
    assert resize_cli.main([str(videos), str(resized), "--short-side", "48", "--gop", "8", "--workers", "0"]) == 0
    assert "12 videos: 10 ok, 0 skipped (already done), 2 failed" in capsys.readouterr().out
    failed = pd.read_csv(resized / "resize_failed.csv")
    assert sorted(os.path.basename(p) for p in failed["path"]) == ["3caPS4FHFF8_000036_000046.mp4",
                                                                   "M5n6O7p8Q9r_000004_000014.mp4"]
    assert validate_cli.main([str(lists / "test.csv"), "--prefix", str(resized), "--separator", ",",
                              "--workers", "0", "--out", str(tmp_path / "validate_48")]) == 0
    assert "4 videos: 3 ok, 1 failed" in capsys.readouterr().out
    info = pd.read_csv(tmp_path / "validate_48" / "video_info.csv")
    good = info[info.status == "ok"]
    assert set(good.frames) == {NUM_FRAMES} and set(good.height) == {48} and set(good.width) == {64}

    # 4. train Hiera-B (k400 config) one epoch on the raw clips and run the 2 x 3-view test
    out = tmp_path / "run"
    argv = _small_run("k400", out, lists, videos, 3, 6, "DATA.PATH_LABEL_SEPARATOR", ",")
    assert run_net.main(argv) == 0
    assert f"on 3 videos x 6 views (1 failed); report: {out / 'test' / 'report.json'}" in capsys.readouterr().out
    report = _check_run(out, 1, ["3caPS4FHFF8_000036_000046.mp4"], 3, ["M5n6O7p8Q9r_000004_000014.mp4"])
    assert report["split"] == "test"
    assert report["failed"][0]["path"] == str(videos / "zumba" / "M5n6O7p8Q9r_000004_000014.mp4")


# ------------------------------------------------------------------------------------------- SSv2
# Official labels file: {template without brackets: "id"}; train/validation entries carry the
# template with brackets, the filled-in label and the placeholders.
SSV2_LABELS = {"Holding something next to something": "0", "Pushing something from left to right": "1",
               "Pushing something from right to left": "2"}
SSV2_TEMPLATES = ["Holding [something] next to [something]", "Pushing [something] from left to right",
                  "Pushing [something] from right to left"]
# (split, id, class, what)
SSV2_ROWS = [
    ("train", "78687", 0, "ok"), ("train", "100904", 1, "ok"),
    ("train", "80715", 1, "ok"), ("train", "34899", 2, "ok"), ("train", "1001", 2, "ok"),
    ("train", "5002", 1, "missing"),
    ("validation", "74225", 0, "ok"), ("validation", "116154", 1, "ok"), ("validation", "198186", 2, "ok"),
    ("validation", "137878", 2, "garbage"), ("validation", "151151", 0, "missing"),
]


def _vp_codec():
    av = pytest.importorskip("av")
    for codec in ("libvpx-vp9", "libvpx"):  # VP9 as SSv2 ships, else VP8; both .webm
        if codec in av.codecs_available:
            return codec
    pytest.skip("this PyAV build has no libvpx encoder (VP8/VP9), needed for SSv2's .webm clips")


def _build_ssv2(root, make_video):
    """Official layout: something-something-v2-{labels,train,validation}.json and videos/{id}.webm
    (12 fps, as SSv2 ships). Also an annotated clip whose template is not in the labels file."""
    codec = _vp_codec()
    videos = root / "videos"
    entries = {"train": [], "validation": []}
    for k, (split, clip_id, label, what) in enumerate(SSV2_ROWS):
        template = SSV2_TEMPLATES[label]
        entries[split].append({"id": clip_id, "label": template.replace("[something]", "a cup", 1)
                               .replace("[something]", "a pen").lower(),
                               "template": template, "placeholders": ["a cup", "a pen"][: template.count("[")]})
        if what == "ok":
            make_video(videos / f"{clip_id}.webm", frames=_texture_frames(100 + k), fps=12, codec=codec)
        elif what == "garbage":
            videos.mkdir(parents=True, exist_ok=True)
            garbage = np.random.default_rng(k).integers(0, 256, 5000, dtype=np.uint8).tobytes()
            (videos / f"{clip_id}.webm").write_bytes(garbage)
    entries["train"].append({"id": "9999", "label": "spinning a cup", "template": "Spinning [something], fast",
                             "placeholders": ["a cup"]})  # template not in the labels file
    for name, data in (("labels", SSV2_LABELS), ("train", entries["train"]), ("validation", entries["validation"])):
        (root / f"something-something-v2-{name}.json").write_text(json.dumps(data, indent=1))
    return videos


def _ssv2_argv(root, out, *source):
    return ["--labels", str(root / "something-something-v2-labels.json"),
            "--train", str(root / "something-something-v2-train.json"),
            "--val", str(root / "something-something-v2-validation.json"), *source, "--out", str(out)]


def test_ssv2_official_json_webm_to_multiview_test(tmp_path, make_video, capsys):
    raw = tmp_path / "ssv2"
    videos = _build_ssv2(raw, make_video)
    lists = tmp_path / "lists"
    assert ssv2_cli.main(_ssv2_argv(raw, lists, "--videos", str(videos))) == 0
    printed = capsys.readouterr().out
    assert ("train: 5 found, 1 missing (7 annotated); 1 with a template not in the labels file skipped "
            "(e.g. 'Spinning something, fast')") in printed
    assert "val: 4 found, 1 missing (5 annotated)" in printed
    assert f"DATA.PATH_PREFIX {videos}" in printed
    assert (lists / "train.csv").read_text() == "78687.webm 0\n100904.webm 1\n80715.webm 1\n34899.webm 2\n1001.webm 2\n"
    assert (lists / "val.csv").read_text() == "74225.webm 0\n116154.webm 1\n198186.webm 2\n137878.webm 2\n"
    assert json.loads((lists / "classes.json").read_text()) == {k: int(v) for k, v in SSV2_LABELS.items()}
    assert list(csv.reader((lists / "missing.csv").read_text().splitlines())) == [
        ["split", "id", "template", "expected"],
        ["train", "5002", "Pushing something from left to right", "5002.webm"],
        ["val", "151151", "Holding something next to something", "151151.webm"],
    ]

    # SSv2 has no labelled test list: the multi-view test runs on the validation list
    out = tmp_path / "run"
    # (AUG.NUM_SAMPLE 1: the recipe's repeated augmentation costs a second backward; the Kinetics run keeps it)
    assert run_net.main(_small_run("ssv2", out, lists, videos, 3, 5, "TEST.SPLIT", "val", "AUG.NUM_SAMPLE", "1")) == 0
    assert "on 3 videos x 6 views" in capsys.readouterr().out
    report = _check_run(out, 0, [], 3, ["137878.webm"])
    assert report["split"] == "val"
    # segment sampling: the two temporal views of a clip see different frames
    logits = pd.read_csv(out / "test" / "view_logits.csv")
    first = logits[logits.video_index == logits.video_index.min()]
    views = [first[(first.temporal_clip == t) & (first.spatial_crop == 1)].filter(like="logit_").to_numpy()
             for t in (0, 1)]
    assert not (views[0] == views[1]).all()


# ------------------------------------------------------------------------------------------- frames
def test_ssv2_extracted_frames_lists_and_training(tmp_path, make_video, capsys):
    from hiera_video.prep.extract_frames import write_frame_list

    raw = tmp_path / "ssv2"
    videos = _build_ssv2(raw, make_video)
    frames = tmp_path / "frames"

    # 1. JPEG frames at the clips' own 12 fps: 24 per clip; the garbage clip fails and is listed
    assert extract_cli.main([str(videos), str(frames), "--fps", "12", "--workers", "0"]) == 0
    assert "9 videos: 8 ok, 0 skipped (already done), 1 failed" in capsys.readouterr().out
    failed = pd.read_csv(frames / "extract_failed.csv")
    assert [os.path.basename(p) for p in failed["path"]] == ["137878.webm"]
    ok_ids = [cid for _, cid, _, what in SSV2_ROWS if what == "ok"]
    for cid in ok_ids:
        assert sorted(f for f in os.listdir(frames / cid) if f.endswith(".jpg")) == \
            [f"{cid}_{k:06d}.jpg" for k in range(1, NUM_FRAMES + 1)]
    # a clip whose extraction never ran (empty folder), one with a lost frame (a hole at 000007)
    for f in os.listdir(frames / "1001"):
        os.remove(frames / "1001" / f)
    os.remove(frames / "80715" / "80715_000007.jpg")

    # 2. official JSON + frames -> PySlowFast frame lists
    lists = tmp_path / "lists"
    assert ssv2_cli.main(_ssv2_argv(raw, lists, "--frames", str(frames))) == 0
    printed = capsys.readouterr().out
    assert ("train: 3 found, 3 missing (7 annotated); 72 frames; 1 of the missing have a gap in their frame "
            "numbers; 1 with a template not in the labels file skipped") in printed
    assert "val: 3 found, 2 missing (5 annotated); 72 frames" in printed
    assert f"DATA.PATH_PREFIX {frames}" in printed and "DATA.INPUT_FORMAT frames" in printed
    assert list(csv.reader((lists / "missing.csv").read_text().splitlines())) == [
        ["split", "id", "template", "expected"],
        ["train", "80715", "Pushing something from left to right", "80715/80715_000007.jpg"],
        ["train", "1001", "Pushing something from right to left", "1001/1001_000001.jpg"],
        ["train", "5002", "Pushing something from left to right", "5002/5002_000001.jpg"],
        ["val", "137878", "Pushing something from right to left", "137878/137878_000001.jpg"],
        ["val", "151151", "Holding something next to something", "151151/151151_000001.jpg"],
    ]
    train_rows = (lists / "train.csv").read_text().splitlines()
    assert train_rows[0] == "original_vido_id video_id frame_id path labels"
    assert train_rows[1:3] == ["78687 0 0 78687/78687_000001.jpg 0", "78687 0 1 78687/78687_000002.jpg 0"]
    assert train_rows[-1] == "34899 2 23 34899/34899_000024.jpg 2" and len(train_rows) == 1 + 3 * NUM_FRAMES
    assert all(os.path.isfile(frames / row.split()[3]) for row in train_rows[1:])
    # byte for byte what frames.write_frame_list (extract_frames.py --frame-list) writes
    write_frame_list(str(tmp_path / "reference.csv"), [(c, NUM_FRAMES) for c in ("74225", "116154", "198186")],
                     {"74225": ["0"], "116154": ["1"], "198186": ["2"]})
    assert (lists / "val.csv").read_bytes() == (tmp_path / "reference.csv").read_bytes()

    # 3. the frame-list dataset reads them (DATA.INPUT_FORMAT frames); being written concurrently
    frame_list = pytest.importorskip("hiera_video.data.frame_list")
    records = frame_list.read_frame_list(str(lists / "train.csv"), str(frames))
    assert [(r.video_id, r.label, len(r.frames)) for r in records] == [("78687", 0, 24), ("100904", 1, 24),
                                                                         ("34899", 2, 24)]
    assert records[1].frames[5] == str(frames / "100904" / "100904_000006.jpg")

    # 4. train on the frames and test on the validation frames; every JPEG of one validation clip
    #    corrupted -> listed as failed, the JPEG named
    for f in os.listdir(frames / "198186"):
        if f.endswith(".jpg"):
            (frames / "198186" / f).write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    out = tmp_path / "run"
    argv = _small_run("ssv2", out, lists, frames, 3, 3, "TEST.SPLIT", "val", "DATA.INPUT_FORMAT", "frames",
                      "DATA.FRAME_FPS", "12", "AUG.NUM_SAMPLE", "1")
    assert run_net.main(argv) == 0
    assert "on 2 videos x 6 views" in capsys.readouterr().out
    report = _check_run(out, 0, [], 2, ["198186"])
    assert report["failed"][0]["path"] == str(frames / "198186")  # a frame-list video is named by its folder
    assert f"{frames / '198186' / '198186_'}" in report["failed"][0]["error"]
    assert "cannot decode image" in report["failed"][0]["error"]


def test_count_frames_accepts_exactly_the_extract_frames_layout(tmp_path):
    from hiera_video.prep.ssv2 import count_frames

    def folder(clip_id, names):
        (tmp_path / clip_id).mkdir()
        for name in names:
            (tmp_path / clip_id / name).write_bytes(b"x")

    folder("7", ["7_000001.jpg", "7_000002.jpg", "7_000003.jpg", "7_000000.jpg", ".extract.json", "notes.txt",
                 "77_000004.jpg", "7_000004.jpg.tmp", "7_000004.png"])
    assert count_frames(str(tmp_path), "7") == (3, 0, 3)  # k = 0, other ids, temp files, other types ignored
    folder("8", ["8_0000001.jpg", "8_0000002.jpg"])  # %07d: not the layout -> not found
    assert count_frames(str(tmp_path), "8") == (0, 1, 0)
    folder("9", ["9_000002.jpg", "9_000003.jpg"])  # hole at 1
    assert count_frames(str(tmp_path), "9") == (0, 1, 2)
    folder("a.b", ["a.b_000001.jpg", "axb_000002.jpg"])  # the id is matched literally
    assert count_frames(str(tmp_path), "a.b") == (1, 0, 1)
    (tmp_path / "file").write_bytes(b"x")
    assert count_frames(str(tmp_path), "file") == (0, 1, 0) and count_frames(str(tmp_path), "none") == (0, 1, 0)


def test_ssv2_cli_source_options(tmp_path, capsys):
    root = tmp_path / "raw"
    root.mkdir()
    for name, data in (("labels", SSV2_LABELS), ("train", []), ("validation", [])):
        (root / f"something-something-v2-{name}.json").write_text(json.dumps(data))
    out = tmp_path / "lists"
    with pytest.raises(SystemExit) as e:
        ssv2_cli.main(["--help"])
    assert e.value.code == 0 and "--frames FRAMES_ROOT" in capsys.readouterr().out
    for source in ([], ["--videos", str(root), "--frames", str(root)], ["--frames", str(root), "--ext", "mp4"]):
        with pytest.raises(SystemExit) as e:
            ssv2_cli.main(_ssv2_argv(root, out, *source))
        assert e.value.code == 2
    assert ssv2_cli.main(_ssv2_argv(root, out, "--frames", str(tmp_path / "nope"))) == 2
    assert "frames folder not found" in capsys.readouterr().err and not out.exists()
    assert ssv2_cli.main(_ssv2_argv(root, out, "--frames", str(root))) == 0  # empty splits: header-only lists
    assert (out / "train.csv").read_text() == "original_vido_id video_id frame_id path labels\n"
