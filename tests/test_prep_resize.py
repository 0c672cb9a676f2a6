"""data_prep/resize_videos.py and hiera_video.prep.resize on tiny real videos."""

from __future__ import annotations

import csv
import os
import shutil
from fractions import Fraction

import av
import pytest

from hiera_video.data.decoding import open_video
from hiera_video.prep.resize import (
    ffmpeg_command,
    output_size,
    resize_tree,
    resize_video,
)
from helpers import load_script



def _cli():
    return load_script("data_prep/resize_videos.py").main


def _info(path):
    """(H, W, average fps, frame count, keyframe indices) by demuxing + decoding with PyAV."""
    with av.open(path) as c:
        s = c.streams.video[0]
        fps, tb = s.average_rate, s.time_base
        keys, n, first_pts, size = [], 0, None, None
        for frame in c.decode(s):
            first_pts = frame.pts if first_pts is None else first_pts
            if frame.key_frame:
                keys.append(round(float((frame.pts - first_pts) * tb * fps)))
            n += 1
            size = (frame.height, frame.width)
    return size[0], size[1], float(fps), n, keys


@pytest.fixture
def tree(tmp_path, make_video):
    src = tmp_path / "in"
    make_video(src / "land.avi", num_frames=24, fps=30, size=(96, 128))
    make_video(src / "sub" / "port.mp4", num_frames=20, fps=25, size=(128, 96), codec="libx264",
               container="mp4", options={"preset": "ultrafast"})
    (src / "sub" / "broken.mp4").write_bytes(b"not a video at all" * 50)
    (src / "notes.txt").write_text("ignored")
    return src


def test_output_size_rules():
    assert output_size(1080, 1920, 320) == (320, 568)  # 568.9 -> nearest even
    assert output_size(1920, 1080, 320) == (568, 320)
    assert output_size(240, 320, 320) == (240, 320)  # never upscaled
    assert output_size(241, 321, 320) == (240, 320)  # kept, cropped to even
    with pytest.raises(ValueError):
        output_size(100, 100, 31)


def test_resize_tree_end_to_end(tree, tmp_path):
    out = tmp_path / "out"
    main = _cli()
    rc = main([str(tree), str(out), "--short-side", "48", "--gop", "8", "--workers", "0"])
    assert rc == 0
    # tree mirrored, .mp4 extension, no temp files left
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
    assert files == ["land.mp4", "resize_failed.csv", "sub/port.mp4"]

    h, w, fps, n, keys = _info(str(out / "land.mp4"))
    assert (h, w) == (48, 64) and fps == pytest.approx(30) and n == 24 and keys == [0, 8, 16]
    h, w, fps, n, keys = _info(str(out / "sub" / "port.mp4"))
    assert w == 48 and h % 2 == 0 and abs(h - 48 * 128 / 96) <= 1
    assert fps == pytest.approx(25) and n == 20 and keys == [0, 8, 16]

    with open_video(str(out / "land.mp4")) as reader:
        assert reader.fps == pytest.approx(30) and reader.count_frames() == 24
        assert tuple(reader.get_frames([0, 23]).shape) == (2, 48, 64, 3)

    with open(out / "resize_failed.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["path", "error"] and len(rows) == 2
    assert rows[1][0] == os.path.join("sub", "broken.mp4") and rows[1][1]

    mtime = os.path.getmtime(out / "land.mp4")
    (out / "sub" / "port.mp4").write_bytes(b"half-written")  # a broken output is redone, not skipped
    results = resize_tree(str(tree), str(out), short_side=48, gop=8, disable_bar=True)
    assert [(r.item, r.status) for r in results] == [
        ("land.avi", "skipped"), (os.path.join("sub", "broken.mp4"), "failed"), (os.path.join("sub", "port.mp4"), "ok")]
    assert os.path.getmtime(out / "land.mp4") == mtime
    assert [r.status for r in resize_tree(str(tree), str(out), short_side=48, disable_bar=True)] == [
        "skipped", "failed", "skipped"]


def test_frames_kept_and_small_video_not_upscaled(tmp_path, make_video, read_frame_ids):
    src = make_video(tmp_path / "small.avi", num_frames=24, fps=30, size=(48, 64))
    info = resize_video(src, str(tmp_path / "o" / "small.mp4"), short_side=320, gop=8)
    assert info["out_size"] == (48, 64) and info["frames"] == 24
    with open_video(str(tmp_path / "o" / "small.mp4")) as reader:
        assert read_frame_ids(reader.get_frames(list(range(24)))) == list(range(24))


def test_keep_ext_and_workers(tree, tmp_path):
    shutil.rmtree(tree / "sub")
    out = tmp_path / "out2"
    assert _cli()([str(tree), str(out), "--short-side", "48", "--keep-ext", "--codec", "mpeg4", "--workers", "2"]) == 0
    h, w, fps, n, _ = _info(str(out / "land.avi"))
    assert (h, w, n) == (48, 64, 24) and fps == pytest.approx(30)


def test_use_ffmpeg(tree, tmp_path, monkeypatch, capsys):
    if shutil.which("ffmpeg") is None:
        assert _cli()([str(tree), str(tmp_path / "o"), "--use-ffmpeg"]) == 2
        assert "no ffmpeg binary" in capsys.readouterr().err
    cmd = ffmpeg_command("a.avi", "b.mp4", (48, 64), Fraction(30), 8, "libx264", 23, "veryfast")
    assert cmd[0] == "ffmpeg" and "-an" in cmd and cmd[cmd.index("-g") + 1] == "8"
    assert cmd[cmd.index("-vf") + 1].startswith("scale=64:48") and cmd[-1] == "b.mp4"
