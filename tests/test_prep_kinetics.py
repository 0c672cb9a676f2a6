"""data_prep/kinetics.py and hiera_video.prep.kinetics: official Kinetics CSVs -> PySlowFast lists."""

import json
import os

import pandas as pd
import pytest

from hiera_video.prep.kinetics import choose_separator, clip_stem, prepare_kinetics, read_annotations
from hiera_video.data.lists import read_video_list
from helpers import load_script

kinetics_cli = load_script("data_prep/kinetics.py")

TRAIN_CSV = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,aaa,10,20,train,0
abseiling,bbb,0,10,train,0
"playing guitar",ccc,5,15,train,0
playing guitar,ddd,30,40,train,0
zumba,eee,1,11,train,1
zumba,f-g_h,100,110,train,0
"""
VALIDATE_CSV = """label,youtube_id,time_start,time_end,split,is_cc
abseiling,iii,2,12,validate,0
playing guitar,jjj,3,13,validate,0
zumba,kkk,4,14,validate,0
yoga,nnn,0,10,validate,0
"""
TEST_CSV = """youtube_id,time_start,time_end,split
lll,0,10,test
mmm,7,17,test
"""


@pytest.fixture
def raw_kinetics(tmp_path, make_video):
    """Official-format annotations + a videos root mixing flat files and class folders."""
    ann = tmp_path / "annotations"
    ann.mkdir()
    (ann / "train.csv").write_text(TRAIN_CSV)
    (ann / "validate.csv").write_text(VALIDATE_CSV)
    (ann / "test.csv").write_text(TEST_CSV)
    (ann / "readme.txt").write_text("not an annotation file")
    videos = tmp_path / "videos"

    def vid(rel):
        return make_video(videos / rel, num_frames=8, size=(32, 32))

    vid("aaa_000010_000020.mp4")  # flat
    vid("abseiling/bbb_000000_000010.mp4")
    vid("playing guitar/ccc_000005_000015.mp4")  # class folder with a space
    (videos / "zumba").mkdir()
    (videos / "zumba" / "eee_000001_000011.mp4").write_bytes(b"")  # present though empty: listed
    vid("f-g_h_000100_000110.mkv")  # flat, another container
    vid("abseiling/iii_000002_000012.mp4")
    (videos / "iii_000002_000012.webm").write_bytes(b"duplicate: the label's folder wins")
    vid("playing_guitar/jjj_000003_000013.mp4")  # class folder with underscores
    vid("lll_000000_000010.mp4")  # test clip (its CSV has no labels)
    (videos / "abseiling" / "notes.txt").write_text("not a video")
    return ann, videos


def _outputs(out):
    return {f: (out / f).read_bytes() for f in sorted(os.listdir(out))}


def test_lists_classes_and_missing(raw_kinetics, tmp_path, capsys):
    ann, videos = raw_kinetics
    out = tmp_path / "lists"
    assert kinetics_cli.main(["--annotations", str(ann), "--videos", str(videos), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train: 5 found, 1 missing (6 annotated)" in printed
    assert "val: 2 found, 1 missing (4 annotated); 1 with a label not in train skipped" in printed
    assert "test: 0 found, 0 missing (2 annotated); 2 without label skipped" in printed
    assert "DATA.PATH_LABEL_SEPARATOR ','" in printed

    # a path has a space ("playing guitar/"), so every list is comma-separated
    assert (out / "train.csv").read_text() == (
        "aaa_000010_000020.mp4,0\n"
        "abseiling/bbb_000000_000010.mp4,0\n"
        "playing guitar/ccc_000005_000015.mp4,1\n"
        "zumba/eee_000001_000011.mp4,2\n"
        "f-g_h_000100_000110.mkv,2\n"
    )
    assert (out / "val.csv").read_text() == (
        "abseiling/iii_000002_000012.mp4,0\n"
        "playing_guitar/jjj_000003_000013.mp4,1\n"
    )
    assert not (out / "test.csv").exists()  # label-less test annotations: no list
    classes = json.loads((out / "classes.json").read_text())
    assert list(classes.items()) == [("abseiling", 0), ("playing guitar", 1), ("zumba", 2)]

    missing = pd.read_csv(out / "missing.csv", dtype=str)
    assert missing.columns.tolist() == ["split", "youtube_id", "time_start", "time_end", "label", "expected"]
    assert missing.values.tolist() == [
        ["train", "ddd", "30", "40", "playing guitar", "ddd_000030_000040.mp4"],
        ["val", "kkk", "4", "14", "zumba", "kkk_000004_000014.mp4"],
    ]

    records = read_video_list(str(out / "train.csv"), path_prefix=str(videos), separator=",")
    assert [r.label for r in records] == [0, 0, 1, 2, 2]
    assert all(os.path.isfile(r.path) for r in records)
    assert records[2].path == os.path.join(str(videos), "playing guitar/ccc_000005_000015.mp4")
    val = read_video_list(str(out / "val.csv"), path_prefix=str(videos), separator=",")
    assert [os.path.basename(r.path) for r in val] == ["iii_000002_000012.mp4", "jjj_000003_000013.mp4"]


def test_rerun_is_identical_and_leaves_no_temp_files(raw_kinetics, tmp_path, capsys):
    ann, videos = raw_kinetics
    out = tmp_path / "lists"
    files = [str(ann / "train.csv"), str(ann / "validate.csv")]
    prepare_kinetics(files, str(videos), str(out))
    first = _outputs(out)
    (out / "train.csv").write_text("stale\n")
    # second run: explicit files, a scanning pool of 2 processes
    assert kinetics_cli.main(["--annotations", *files, "--videos", str(videos), "--out", str(out),
                              "--workers", "2"]) == 0
    assert _outputs(out) == first
    assert sorted(first) == ["classes.json", "missing.csv", "train.csv", "val.csv"]


def test_space_separator_without_spaces_and_extension_filter(tmp_path):
    ann = tmp_path / "train.csv"
    ann.write_text("label,youtube_id,time_start,time_end,split\nb,x1,0,10,train\na,x2,5,15,train\na,x3,5,15,train\n")
    videos = tmp_path / "v"
    (videos / "a").mkdir(parents=True)
    (videos / "x1_000000_000010.mp4").write_bytes(b"x")
    (videos / "a" / "x2_000005_000015.avi").write_bytes(b"x")
    (videos / "a" / "x3_000005_000015.webm").write_bytes(b"x")
    res = prepare_kinetics([str(ann)], str(videos), str(tmp_path / "out"), extensions=["mp4", "avi"])
    assert res.separator == " " and res.classes == ["a", "b"]
    assert (tmp_path / "out" / "train.csv").read_text() == "x1_000000_000010.mp4 1\na/x2_000005_000015.avi 0\n"
    assert pd.read_csv(tmp_path / "out" / "missing.csv")["expected"].tolist() == ["x3_000005_000015.mp4"]
    assert [r.label for r in read_video_list(str(tmp_path / "out" / "train.csv"), str(videos))] == [1, 0]


def test_helpers_and_errors(tmp_path):
    assert clip_stem("--abc", 3, 13.0) == "--abc_000003_000013"
    assert choose_separator(["a/b.mp4"]) == " " and choose_separator(["a b/c.mp4", "d.mp4"]) == ","
    with pytest.raises(ValueError, match="both a space and a comma"):
        choose_separator(["a b, c/d.mp4"])
    bad = tmp_path / "bad.csv"
    bad.write_text("label,youtube_id,time_start,time_end,split\na,x,0,10,holdout\n")
    with pytest.raises(ValueError, match="bad.csv:2: unknown split 'holdout'"):
        read_annotations([str(bad)])
    bad.write_text("label,id,start\na,x,0\n")
    with pytest.raises(ValueError, match="missing column"):
        read_annotations([str(bad)])
    only_test = tmp_path / "test.csv"
    only_test.write_text("youtube_id,time_start,time_end,split\nx,0,10,test\n")
    with pytest.raises(ValueError, match="no labelled train annotations"):
        prepare_kinetics([str(only_test)], str(tmp_path), str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError):
        read_annotations([str(tmp_path / "nope.csv")])


def test_cli_help_and_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        kinetics_cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--annotations" in out and "DATA.PATH_LABEL_SEPARATOR" in out
    assert kinetics_cli.main(["--annotations", str(tmp_path / "none"), "--videos", str(tmp_path),
                              "--out", str(tmp_path / "o")]) == 2
