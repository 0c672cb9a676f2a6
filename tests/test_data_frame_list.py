"""Frame-list datasets (DATA.INPUT_FORMAT "frames"): the list reader, the JPEG frame reader, and Kinetics /
SSv2 from frames sampling exactly the frames the video path samples."""

from __future__ import annotations

import os
import random
import re

import pytest
import torch
from PIL import Image

from hiera_video.config import single_view_cfg
from hiera_video.data import frame_list as FL
from hiera_video.data.decoding import jpeg as JPG
from hiera_video.data.decoding import VideoDecodeError
from hiera_video.prep.extract_frames import FRAME_LIST_HEADER, extract_tree
from hiera_video.data.kinetics import Kinetics
from hiera_video.data.lists import ListFormatError
from hiera_video.data.ssv2 import SSv2

# Videos: 48 x 64 (H x W) at 30 fps, every frame showing its index; good0-2 have 64 frames, short 20.
VIDEOS = {"good0": 64, "good1": 64, "good2": 64, "short": 20}
LABELS = {"good0": 0, "good1": 1, "good2": 2, "short": 3}


def _ids(read_frame_ids, clip_cthw):
    """Frame ids of a normalised (C, T, H, W) clip made with MEAN 0 / STD 1."""
    pixels = clip_cthw.float() if clip_cthw.dtype == torch.uint8 else clip_cthw * 255.0  # test views are uint8
    return read_frame_ids(pixels.permute(1, 2, 3, 0))


@pytest.fixture
def data(tmp_path, make_video):
    """Video lists in vlists/, frames (extract_frames.py's pipeline) in frames/, frame lists in flists/."""
    videos, vlists, flists, frames = (tmp_path / d for d in ("videos", "vlists", "flists", "frames"))
    for d in (vlists, flists):
        d.mkdir()
    for vid, n in VIDEOS.items():
        make_video(videos / f"{vid}.avi", num_frames=n)
    rows = [f"{vid}.avi {LABELS[vid]}" for vid in VIDEOS]
    for split, chosen in (("train", rows[:3]), ("val", rows), ("test", rows)):
        (vlists / f"{split}.csv").write_text("\n".join(chosen) + "\n")
        results = extract_tree(str(vlists / f"{split}.csv"), str(frames), fps=30, path_prefix=str(videos),
                               frame_list=str(flists / f"{split}.csv"), labels_from_list=str(vlists / f"{split}.csv"),
                               disable_bar=True)
        assert all(r.status != "failed" for r in results)
    return tmp_path


def _cfg(cfg, data, fmt):
    cfg.DATA.INPUT_FORMAT = fmt
    cfg.DATA.PATH_TO_DATA_DIR = str(data / ("flists" if fmt == "frames" else "vlists"))
    cfg.DATA.PATH_PREFIX = str(data / ("frames" if fmt == "frames" else "videos"))
    cfg.DATA.MEAN, cfg.DATA.STD = [0.0] * 3, [1.0] * 3  # keep pixels readable
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]  # whole frame, so ids stay readable
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [4 / 3, 4 / 3]
    return cfg


@pytest.fixture
def cfg(tiny_cfg, data):
    return _cfg(tiny_cfg, data, "frames")


# ---------------------------------------------------------------------------- reading lists
def test_read_frame_list_of_extracted_frames(data):
    flist = data / "flists" / "val.csv"
    assert flist.read_text().splitlines()[0] == FRAME_LIST_HEADER
    records = FL.read_frame_list(str(flist), str(data / "frames"))
    assert [r.video_id for r in records] == list(VIDEOS)
    assert [r.label for r in records] == [LABELS[v] for v in VIDEOS]
    for r in records:
        assert r.path == str(data / "frames" / r.video_id)  # the frame folder, unique per video
        assert len(r.frames) == VIDEOS[r.video_id]
        assert r.frames[5] == str(data / "frames" / r.video_id / f"{r.video_id}_000006.jpg")
        assert all(os.path.isfile(p) for p in r.frames)


def test_read_frame_list_orders_frames_and_takes_first_label(tmp_path):
    f = tmp_path / "list.csv"
    f.write_text("original_video_id video_id frame_id path labels\n\n"  # the corrected spelling is accepted too
                 'b 1 1 b/1.jpg "4,2"\na 0 0 a/0.jpg 7\nb 1 0 b/0.jpg "4,2"\nc 2 0 /abs/c/0.jpg 0\n')
    records = FL.read_frame_list(str(f), "/root")
    assert [(r.video_id, r.label, r.frames) for r in records] == [
        ("b", 4, ("/root/b/0.jpg", "/root/b/1.jpg")),  # ordered by frame_id, first label
        ("a", 7, ("/root/a/0.jpg",)),
        ("c", 0, ("/abs/c/0.jpg",)),  # absolute paths kept
    ]
    f.write_text(FRAME_LIST_HEADER + "\n")
    assert FL.read_frame_list(str(f)) == []
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        FL.read_frame_list(str(tmp_path / "nope.csv"))


H = FRAME_LIST_HEADER


@pytest.mark.parametrize("text,lineno,why", [
    ("path label\na.avi 0\n", 1, "expected the header"),
    ("", 1, "empty file"),
    (f"{H}\na 0 0 a/0.jpg 1\na 0 1 a/1.jpg\n", 3, "expected 5 space-separated fields"),
    (f"{H}\na 0 x a/0.jpg 1\n", 2, "frame_id 'x' is not an integer"),
    (f"{H}\na 0 -1 a/0.jpg 1\n", 2, "frame_id -1 is negative"),
    (f"{H}\na zero 0 a/0.jpg 1\n", 2, "video_id 'zero' is not an integer"),
    (f"{H}\na 0 0 a/0.jpg 1\na 0 0 a/0b.jpg 1\n", 3, "frame_id 0 of video 'a' is listed twice"),
    (f"{H}\na 0 0 a/0.jpg 1\nb 1 0 b/0.jpg 1\na 0 2 a/2.jpg 1\n", 2, "has no frame_id 1"),
    (f"{H}\na 0 1 a/1.jpg 1\n", 2, "has no frame_id 0"),
    (f'{H}\na 0 0 a/0.jpg ""\n', 2, "missing label"),
    (f"{H}\na 0 0 a/0.jpg -1\n", 2, "label -1 is negative"),
    (f"{H}\na 0 0 a/0.jpg 1,x\n", 2, "label 'x' is not an integer"),
    (f"{H}\na 0 0 a/0.jpg 1\na 0 1 a/1.jpg 2\n", 3, "labels differ from 1 on line 2"),
    (f"{H}\na 0 0 a/0.jpg 1\na 1 1 a/1.jpg 1\n", 3, "video_id 1 differs from 0 on line 2"),
    (f"{H}\na 0 0 a/0.jpg 1\nb 0 0 b/0.jpg 1\n", 3, "video_id 0 is already used by original_vido_id 'a'"),
])
def test_malformed_frame_lists_name_file_and_line(tmp_path, text, lineno, why):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ListFormatError, match=f"^{re.escape(str(f))}:{lineno}: ") as e:
        FL.read_frame_list(str(f))
    assert why in str(e.value) and (e.value.file, e.value.lineno) == (str(f), lineno)


def test_dataset_reports_malformed_frame_list(cfg, data):
    path = data / "flists" / "train.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0]  # drop the labels column of the third frame row
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ListFormatError, match=f"^{re.escape(str(path))}:4: expected 5 space-separated fields"):
        Kinetics(cfg, "train")


def test_input_format_validation(cfg):
    cfg.DATA.INPUT_FORMAT = "jpeg"
    with pytest.raises(ValueError, match=r"DATA.INPUT_FORMAT must be one of \('video', 'frames'\), got 'jpeg'"):
        Kinetics(cfg, "train")
    cfg.DATA.INPUT_FORMAT, cfg.DATA.FRAME_FPS = "frames", 0
    with pytest.raises(ValueError, match="DATA.FRAME_FPS must be > 0"):
        Kinetics(cfg, "test")


# ---------------------------------------------------------------------------- reader
def test_frame_reader_reads_only_requested_frames(data, read_frame_ids, monkeypatch):
    record = FL.read_frame_list(str(data / "flists" / "val.csv"), str(data / "frames"))[0]
    read = []
    real = JPG.read_image
    monkeypatch.setattr(JPG, "read_image", lambda p: read.append(p) or real(p))
    with JPG.FrameReader(record, fps=30) as reader:
        assert (reader.fps, reader.num_frames, reader.decoded_num_frames, reader.count_frames()) == (30.0, 64, 64, 64)
        frames = reader.get_frames([9, 3, 9, 100])  # any order, repeats, past the end -> last frame
        assert frames.dtype == torch.uint8 and frames.shape == (4, 48, 64, 3)
        assert read_frame_ids(frames) == [9, 3, 9, 63]
        assert read == [record.frames[3], record.frames[9], record.frames[63]]  # each needed file once, no others
        with pytest.raises(ValueError):
            reader.get_frames([])

    read.clear()
    out = JPG.decode_frame_clips(record, lambda n, fps: [[0, 4, 8], [4, 8, 12]], fps=15)
    assert (out.fps, out.num_frames, out.indices) == (15.0, 64, [[0, 4, 8], [4, 8, 12]])
    assert [read_frame_ids(c) for c in out.clips] == [[0, 4, 8], [4, 8, 12]]
    assert len(read) == 4  # shared frames read once


def test_frame_reader_errors_name_the_jpeg(data):
    record = FL.read_frame_list(str(data / "flists" / "val.csv"), str(data / "frames"))[1]
    os.remove(record.frames[2])
    with open(record.frames[3], "r+b") as f:
        f.truncate(os.path.getsize(record.frames[3]) // 2)
    open(record.frames[4], "wb").close()
    with open(record.frames[5], "wb") as f:
        f.write(b"not a jpeg" * 20)
    Image.new("RGB", (10, 10)).save(record.frames[6], format="JPEG")
    reader = JPG.FrameReader(record, 30)
    for i, why in ((2, "file not found"), (3, "cannot decode image: OSError"),
                   (4, "empty file"), (5, "cannot decode image: not an image format Pillow reads"),
                   (6, "frame size (10, 10) differs from (48, 64)")):
        with pytest.raises(VideoDecodeError) as e:
            reader.get_frames([0, i])
        assert e.value.path == record.frames[i] and why in e.value.reason, str(e.value)
        assert i != 3 or "runcated" in e.value.reason  # Pillow: "image file is truncated" / "Truncated File Read"
    assert reader.get_frames([7]).shape == (1, 48, 64, 3)  # the others still read
    with pytest.raises(VideoDecodeError, match="no frames listed"):
        JPG.FrameReader(FL.FrameRecord("x", 0, (), "x"), 30)


# ---------------------------------------------------------------------------- datasets: frames == videos
@pytest.mark.parametrize("dataset", [Kinetics, SSv2])
def test_frames_sample_the_same_frames_as_videos(tiny_cfg, data, read_frame_ids, dataset):
    by_format = {}
    for fmt in ("video", "frames"):
        cfg = _cfg(tiny_cfg.clone(), data, fmt)
        train, test = dataset(cfg, "train"), dataset(cfg, "test")
        val = dataset(single_view_cfg(cfg, "val"), "test")
        ids = {"train": [], "val": [], "test": []}
        random.seed(7)
        torch.manual_seed(7)
        for _ in range(3):
            for i in range(len(train)):
                item = train[i]
                assert item["bad"] == [] and item["clip"].shape == (3, 4, 32, 32)
                ids["train"].append((item["label"], _ids(read_frame_ids, item["clip"])))
        for i in range(len(val)):
            item = val[i]
            assert item["views"].shape == (1, 3, 4, 48, 48)
            ids["val"].append((item["label"], _ids(read_frame_ids, item["views"][0])))
        for i in range(len(test)):
            item = test[i]
            assert item["error"] is None and item["views"].shape == (9, 3, 4, 48, 48)
            assert set(item) == {"views", "label", "index", "path", "view_ids", "error", "partial"}
            ids["test"].append((item["label"], [_ids(read_frame_ids, v) for v in item["views"]]))
        by_format[fmt] = ids
    assert by_format["frames"] == by_format["video"]
    train_ids = [i for _, i in by_format["frames"]["train"]]
    assert len({tuple(i) for i in train_ids}) > 3  # random clips really differ between draws
    if dataset is Kinetics:  # 64 frames, span 8: centre clip; short (20 frames): delta 12, start 6
        assert [i for _, i in by_format["frames"]["val"]] == [[28, 30, 32, 35]] * 3 + [[6, 8, 10, 13]]
    else:  # segment centres of 64 and 20 frames
        assert [i for _, i in by_format["frames"]["val"]] == [[8, 24, 40, 56]] * 3 + [[2, 7, 12, 17]]


def test_frame_fps_converts_sampling(tiny_cfg, data, read_frame_ids):
    """Frames extracted at 15 fps: frame k shows source frame 2k; a 4 x 2 clip at 30 fps spans 4 of them."""
    extract_tree(str(data / "vlists" / "val.csv"), str(data / "frames15"), fps=15, path_prefix=str(data / "videos"),
                 frame_list=str(data / "flists" / "val.csv"), labels_from_list=str(data / "vlists" / "val.csv"),
                 disable_bar=True)
    cfg = _cfg(tiny_cfg, data, "frames")
    cfg.DATA.PATH_PREFIX, cfg.DATA.FRAME_FPS = str(data / "frames15"), 15
    item = Kinetics(single_view_cfg(cfg, "val"), "test")[0]  # 32 frames: delta 28, centre start 14 -> 14..17
    assert _ids(read_frame_ids, item["views"][0]) == [28, 30, 32, 34]


def test_num_sample_from_frames(cfg):
    cfg.AUG.NUM_SAMPLE = 2
    item = Kinetics(cfg, "train")[1]
    assert item["clip"].shape == (2, 3, 4, 32, 32) and item["label"] == 1


# ---------------------------------------------------------------------------- datasets: bad frames
def test_missing_and_corrupt_jpegs(cfg, data, caplog):
    cfg.DATA.SAMPLING_RATE = 16  # span 64 = the whole video: every clip samples frames 0, 21, 42, 63
    cfg.DATA.MAX_RETRIES = 10
    missing = data / "frames" / "good1" / "good1_000022.jpg"  # frame_id 21
    corrupt = data / "frames" / "good2" / "good2_000043.jpg"  # frame_id 42
    os.remove(missing)
    corrupt.write_bytes(corrupt.read_bytes()[:200])
    random.seed(0)
    train = Kinetics(cfg, "train")
    item = train[1]
    assert item["index"] == 0 and item["label"] == 0 and item["clip"].shape == (3, 4, 32, 32)
    assert item["bad"][0] == (str(data / "frames" / "good1"), f"{missing}: file not found")
    assert all(p in (str(data / "frames" / "good1"), str(data / "frames" / "good2")) for p, _ in item["bad"])

    test = Kinetics(cfg, "test")
    a, b, ok = test[1], test[2], test[0]
    assert a["views"] is None and a["error"] == f"{missing}: file not found" and a["path"] == str(data / "frames" / "good1")
    assert (a["index"], a["label"], len(a["view_ids"])) == (1, 1, 9)
    assert b["views"] is None and b["error"].startswith(f"{corrupt}: cannot decode image")
    assert ok["error"] is None and ok["views"].shape == (9, 3, 4, 48, 48)
    assert any(str(missing) in r.getMessage() for r in caplog.records)
