"""data_prep/folder_to_list.py and hiera_video.prep.folders: class folders -> Kinetics lists."""

import json
import os
import subprocess
import sys

import pytest

from hiera_video.prep.folders import scan_class_folders, split_per_class
from hiera_video.data.lists import read_video_list

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def class_tree(tmp_path):
    videos = tmp_path / "videos"
    for name, n in (("walking", 10), ("abseiling", 10), ("empty", 0)):
        (videos / name).mkdir(parents=True)
        for i in range(n):
            (videos / name / f"clip_{i:02d}.mp4").write_bytes(b"x")
    (videos / "abseiling" / "notes.txt").write_text("not a video")
    return videos


def test_scan_sorts_classes_and_keeps_only_videos(class_tree):
    classes = scan_class_folders(str(class_tree))
    assert list(classes) == ["abseiling", "walking"]  # sorted; the empty folder is not a class
    assert len(classes["abseiling"]) == 10 and all(p.endswith(".mp4") for p in classes["abseiling"])
    assert classes["walking"][0] == "walking/clip_00.mp4"


def test_split_is_per_class_disjoint_and_seeded(class_tree):
    classes = scan_class_folders(str(class_tree))
    splits = split_per_class(classes, (0.8, 0.1, 0.1), seed=1)
    assert {k: len(v) for k, v in splits.items()} == {"train": 16, "val": 2, "test": 2}
    paths = [p for rows in splits.values() for p, _ in rows]
    assert len(paths) == len(set(paths)) == 20
    assert {label for _, label in splits["val"]} == {0, 1}  # every class in every split
    assert split_per_class(classes, (0.8, 0.1, 0.1), seed=1) == splits
    assert split_per_class(classes, (0.8, 0.1, 0.1), seed=2) != splits
    shared = split_per_class(classes, (1.0, 0.0, 1.0))
    assert len(shared["train"]) == len(shared["test"]) == 20 and shared["val"] == []
    with pytest.raises(ValueError, match="add up to 1"):
        split_per_class(classes, (0.5, 0.1, 0.1))


def test_cli_writes_lists_the_loader_reads(class_tree, tmp_path):
    out = tmp_path / "lists"
    run = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "folder_to_list.py"), str(class_tree), str(out)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "2 classes, 20 videos" in run.stdout
    assert json.loads((out / "classes.json").read_text()) == {"abseiling": 0, "walking": 1}
    records = read_video_list(str(out / "train.csv"), path_prefix=str(class_tree))
    assert len(records) == 16 and all(os.path.isfile(r.path) for r in records)
    assert all(os.path.basename(os.path.dirname(r.path)) == ["abseiling", "walking"][r.label] for r in records)


def test_cli_reports_a_missing_folder(tmp_path):
    run = subprocess.run([sys.executable, os.path.join(ROOT, "data_prep", "folder_to_list.py"),
                          str(tmp_path / "nope"), str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 2 and "not found" in run.stderr
