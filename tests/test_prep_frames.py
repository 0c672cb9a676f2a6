"""data_prep/extract_frames.py and hiera_video.prep.extract_frames on tiny real videos whose frames encode their index."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from PIL import Image

from hiera_video.prep.extract_frames import (
    AVA_PRESET,
    expected_count,
    extract_tree,
    target_indices,
)
from helpers import load_script



def _cli():
    return load_script("data_prep/extract_frames.py").main


def _ids(folder, vid, read_frame_ids):
    names = sorted(n for n in os.listdir(folder / vid) if not n.startswith("."))
    assert names == [f"{vid}_{k:06d}.jpg" for k in range(1, len(names) + 1)]
    frames = np.stack([np.asarray(Image.open(folder / vid / n).convert("RGB")) for n in names])
    return read_frame_ids(frames)


@pytest.fixture
def videos(tmp_path, make_video):
    src = tmp_path / "in"
    make_video(src / "a30.avi", num_frames=24, fps=30, size=(48, 64))  # 0.8 s
    make_video(src / "sub" / "b25.avi", num_frames=20, fps=25, size=(48, 64))  # 0.8 s
    return src


def test_ava_mapping_pure():
    # a 30 fps movie of 1900 s: 27000 frames; keyframe at second s is frame_id (s - 900) * 30
    assert expected_count(1900 * 30, 30, **AVA_PRESET) == 27000
    idx = target_indices(27000, 30, AVA_PRESET["fps"], AVA_PRESET["start_sec"])
    for s in (902, 1000, 1798):
        assert idx[(s - 900) * 30] == s * 30  # source frame shown at second s
    # 25 fps source at 30 fps output: nearest source frame, ties to the later one
    assert target_indices(7, 25, 30) == [0, 1, 2, 3, 3, 4, 5]
    with pytest.raises(ValueError):
        expected_count(10, 30, 30, 1.0, 0.5)


def test_extract_fps30_and_frame_list(videos, tmp_path, read_frame_ids):
    out, flist = tmp_path / "frames", tmp_path / "frames.csv"
    labels = tmp_path / "train.csv"
    labels.write_text("x/a30.mp4 3\nb25.avi 1\nb25.avi 4\n")
    rc = _cli()([str(videos), str(out), "--fps", "30", "--workers", "0", "--frame-list", str(flist),
                 "--labels-from-list", str(labels)])
    assert rc == 0
    assert _ids(out, "a30", read_frame_ids) == list(range(24))
    assert _ids(out, "b25", read_frame_ids) == [int(i * 25 / 30 + 0.5) for i in range(24)]  # nearest frame
    lines = flist.read_text().splitlines()
    assert lines[0] == "original_vido_id video_id frame_id path labels"
    assert lines[1:3] == ["a30 0 0 a30/a30_000001.jpg 3", "a30 0 1 a30/a30_000002.jpg 3"]
    assert lines[24] == "a30 0 23 a30/a30_000024.jpg 3"
    assert lines[25] == "b25 1 0 b25/b25_000001.jpg 1,4" and lines[-1] == "b25 1 23 b25/b25_000024.jpg 1,4"
    assert len(lines) == 1 + 24 + 24
    assert all(os.path.isfile(out / ln.split(" ")[3]) for ln in lines[1:])


def test_extract_fps10_window_resume_and_failures(videos, tmp_path, read_frame_ids):
    (videos / "broken.mp4").write_bytes(b"\x00garbage" * 100)
    out, flist = tmp_path / "frames", tmp_path / "list.csv"
    main = _cli()
    assert main([str(videos), str(out), "--fps", "10", "--workers", "0", "--frame-list", str(flist)]) == 0
    assert _ids(out, "a30", read_frame_ids) == [0, 3, 6, 9, 12, 15, 18, 21]
    assert _ids(out, "b25", read_frame_ids) == [0, 3, 5, 8, 10, 13, 15, 18]  # floor(i * 2.5 + 0.5)
    with open(out / "extract_failed.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "error"] and len(rows) == 2 and rows[1][0].endswith("broken.mp4") and rows[1][1]
    assert not os.path.exists(out / "broken") or not os.listdir(out / "broken")
    assert flist.read_text().splitlines()[1] == 'a30 0 0 a30/a30_000001.jpg ""'

    # second run: nothing redone; a folder missing a frame is redone
    mtime = os.path.getmtime(out / "a30" / "a30_000001.jpg")
    os.remove(out / "b25" / "b25_000008.jpg")
    res = extract_tree(str(videos), str(out), fps=10, disable_bar=True)
    assert [r.status for r in res] == ["skipped", "failed", "ok"]
    assert os.path.getmtime(out / "a30" / "a30_000001.jpg") == mtime
    assert [r.status for r in extract_tree(str(videos), str(out), fps=10, disable_bar=True)] == [
        "skipped", "failed", "skipped"]

    # a window: t = 0.2, 0.3, 0.4 s; a different setting rewrites the folder (stale frames removed)
    win = tmp_path / "win"
    assert main([str(videos), str(win), "--fps", "10", "--start-sec", "0.2", "--end-sec", "0.5", "--workers", "0"]) == 0
    assert _ids(win, "a30", read_frame_ids) == [6, 9, 12]
    assert _ids(win, "b25", read_frame_ids) == [5, 8, 10]
    # an end past the video is cut at its end; a start past it is a per-video failure
    res = extract_tree(str(videos / "sub"), str(win), fps=10, start_sec=0.5, end_sec=5, disable_bar=True)
    assert res[0].status == "ok" and _ids(win, "b25", read_frame_ids) == [13, 15, 18]
    res = extract_tree(str(videos / "sub"), str(win), fps=10, start_sec=2.0, disable_bar=True)
    assert res[0].status == "failed" and "past the video" in res[0].error


def test_list_input_and_workers(videos, tmp_path, read_frame_ids):
    lst = tmp_path / "list.csv"
    lst.write_text("in/a30.avi 0\nin/sub/b25.avi 1\n")
    out = tmp_path / "frames"
    assert _cli()([str(lst), str(out), "--ava", "--start-sec", "0", "--end-sec", "0.4", "--workers", "2"]) == 0
    assert _ids(out, "a30", read_frame_ids) == list(range(12))
    assert len(_ids(out, "b25", read_frame_ids)) == 12


def test_bad_arguments(tmp_path, capsys):
    assert _cli()([str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert "no such folder" in capsys.readouterr().err
