"""data_prep/validate.py and hiera_video.prep.validate: decode-check a Kinetics-format list."""

import os

import numpy as np
import pandas as pd
import pytest

from hiera_video.data.decoding import open_video
from hiera_video.data.lists import read_video_list
from hiera_video.prep.validate import check_video, validate_list
from helpers import load_script

validate_cli = load_script("data_prep/validate.py")


@pytest.fixture
def checked_list(tmp_path, make_video, truncate_file):
    """videos/ with good, missing, truncated, random and partly decodable files, and their list."""
    videos = tmp_path / "videos"
    make_video(videos / "good.mp4", num_frames=16, size=(32, 48), container="mp4")
    make_video(videos / "cls" / "good.avi", num_frames=12, fps=25, size=(32, 32))
    mp4 = make_video(tmp_path / "src.mp4", num_frames=30, size=(32, 32), container="mp4")
    truncate_file(mp4, 0.5, dst=str(videos / "cut.mp4"))  # moov atom lost: undecodable
    (videos / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    avi = make_video(tmp_path / "src.avi", num_frames=60, size=(32, 32))
    truncate_file(avi, 0.7, dst=str(videos / "cut.avi"))  # header claims 60 frames, fewer decode
    lst = tmp_path / "lists" / "train.csv"
    lst.parent.mkdir()
    lst.write_text("good.mp4 0\ncls/good.avi 1\nmissing.mp4 0\n\ncut.mp4 1\nrandom.mp4 2\nno_label.mp4\ncut.avi 2\n")
    return lst, videos


def _view(results):
    return [(r.item.lineno, r.status, r.error, r.value) for r in results]


def test_cli_reports_bad_videos_and_writes_clean_list(checked_list, tmp_path, capsys):
    lst, videos = checked_list
    clean = tmp_path / "clean" / "train.csv"
    rc = validate_cli.main([str(lst), "--prefix", str(videos), "--workers", "0", "--clean", str(clean)])
    assert rc == 0  # a report: bad videos do not fail the run
    assert "7 videos: 2 ok, 5 failed" in capsys.readouterr().out

    bad = pd.read_csv(lst.parent / "bad_videos.csv", dtype=str, keep_default_na=False)  # default: next to the list
    assert bad.columns.tolist() == ["path", "error"]
    assert bad["path"].tolist() == ["missing.mp4", "cut.mp4", "random.mp4", "no_label.mp4", "cut.avi"]
    assert all(bad["error"].str.len() > 0)
    assert "file not found" in bad["error"][0]
    assert "missing label" in bad["error"][3]

    # a truncated video is listed with what its header claims and what decodes, and --clean drops it
    real = open_video(str(videos / "cut.avi")).count_frames()
    assert 0 < real < 60 and f"truncated: header 60 frames, {real} decodable" in bad["error"][4]
    assert clean.read_text() == "good.mp4 0\ncls/good.avi 1\n"
    records = read_video_list(str(clean), path_prefix=str(videos))
    assert [(os.path.relpath(r.path, videos), r.label) for r in records] == [("good.mp4", 0), ("cls/good.avi", 1)]

    info = pd.read_csv(lst.parent / "video_info.csv", dtype=str, keep_default_na=False).set_index("path")
    assert info.loc["good.mp4", ["frames", "height", "width"]].tolist() == ["16", "32", "48"]
    assert info.loc["cls/good.avi", ["fps", "frames"]].tolist() == ["25.0", "12"]
    assert info.loc["missing.mp4", ["frames", "fps"]].tolist() == ["", ""]
    assert info.loc["cut.avi", "status"] == "failed" and info.loc["random.mp4", "status"] == "failed"


def test_workers_give_identical_results(checked_list):
    lst, videos = checked_list
    serial = validate_list(str(lst), str(videos), num_workers=0)
    pooled = validate_list(str(lst), str(videos), num_workers=2)
    assert _view(serial) == _view(pooled)
    assert [r.status for r in serial] == ["ok", "ok", "failed", "failed", "failed", "failed", "failed"]


def test_decord_backend_agrees_on_good_and_bad(checked_list):
    pytest.importorskip("decord")
    lst, videos = checked_list
    results = validate_list(str(lst), str(videos), backend="decord", num_workers=0)
    assert [r.status for r in results] == ["ok", "ok", "failed", "failed", "failed", "failed", "failed"]
    assert results[0].value.frames == 16 and results[0].value.backend.startswith(("decord", "pyav"))


def test_comma_separator_and_out_folder(tmp_path, make_video):
    videos = tmp_path / "my videos"
    make_video(videos / "a b.avi", num_frames=8, size=(32, 32))
    lst = tmp_path / "val.csv"
    lst.write_text(f"{videos / 'a b.avi'},3\nnope.avi,1\n")  # an absolute path is kept as is
    out = tmp_path / "report"
    assert validate_cli.main([str(lst), "--separator", ",", "--workers", "0", "--out", str(out),
                              "--clean", str(tmp_path / "val_clean.csv")]) == 0
    assert pd.read_csv(out / "bad_videos.csv")["path"].tolist() == ["nope.avi"]
    assert (tmp_path / "val_clean.csv").read_text() == f"{videos / 'a b.avi'},3\n"
    assert read_video_list(str(tmp_path / "val_clean.csv"), separator=",")[0].label == 3


def test_a_still_image_is_not_a_video(tmp_path):
    from PIL import Image

    from hiera_video.data.decoding import VideoDecodeError

    fake = tmp_path / "photo.mp4"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(fake, format="PNG")
    for backend in ("pyav", "decord"):
        with pytest.raises(VideoDecodeError, match="still image"):
            check_video(str(fake), backend)


def test_check_video_and_bad_cli_input(tmp_path, make_video, capsys):
    info = check_video(make_video(num_frames=9, size=(32, 32)))
    assert (info.frames, info.height, info.width, info.fps) == (9, 32, 32, 30.0)
    assert validate_cli.main([str(tmp_path / "missing.csv")]) == 2
    assert "video list not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        validate_cli.main(["x.csv", "--backend", "opencv"])
    assert e.value.code == 2
