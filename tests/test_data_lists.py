"""Kinetics-format video lists: separators, prefixes, blank lines, malformed lines."""

import os
import pickle

import pytest

from hiera_video.data.lists import ListFormatError, VideoRecord, read_video_list


def _write(tmp_path, text, name="list.csv"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_default_separator_accepts_comma_and_any_whitespace(tmp_path):
    path = _write(tmp_path, "a.mp4 0\nb.mp4,1\nc.mp4\t2\n  d.mp4   3  \ne.mp4 , 4\n")
    recs = read_video_list(path)
    assert recs == [VideoRecord("a.mp4", 0), VideoRecord("b.mp4", 1), VideoRecord("c.mp4", 2),
                    VideoRecord("d.mp4", 3), VideoRecord("e.mp4", 4)]


def test_prefix_joined_to_relative_paths_only_and_blank_lines_skipped(tmp_path):
    path = _write(tmp_path, "\nclass_a/x.mp4 5\n\n   \n/abs/y.mp4 6\r\n")
    recs = read_video_list(path, path_prefix="/data/k400")
    assert recs == [VideoRecord(os.path.join("/data/k400", "class_a/x.mp4"), 5), VideoRecord("/abs/y.mp4", 6)]


def test_explicit_separator_allows_spaces_in_paths(tmp_path):
    path = _write(tmp_path, "my video 1.mp4;7\nother.mp4 ; 8\n")
    assert read_video_list(path, separator=";") == [VideoRecord("my video 1.mp4", 7), VideoRecord("other.mp4", 8)]


@pytest.mark.parametrize(
    "bad_line, why",
    [
        ("lonely.mp4", "missing label"),
        ("v.mp4 cat", "not an integer"),
        ("v.mp4 1.5", "not an integer"),
        ("v.mp4 -3", "negative"),
        ("my video.mp4 3", "too many fields"),
        ("v.mp4 1 2", "too many fields"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad_line, why):
    path = _write(tmp_path, f"ok.mp4 0\n\n{bad_line}\nok2.mp4 1\n")
    with pytest.raises(ListFormatError) as info:
        read_video_list(path)
    err = info.value
    assert str(err).startswith(f"{path}:3: ")
    assert why in str(err)
    assert str(err).endswith(repr(bad_line))
    assert (err.file, err.lineno, err.line) == (path, 3, bad_line)
    assert isinstance(err, ValueError)
    assert str(pickle.loads(pickle.dumps(err))) == str(err)  # survives DataLoader workers


def test_explicit_separator_missing_label(tmp_path):
    path = _write(tmp_path, "a.mp4;1\nb.mp4\n")
    with pytest.raises(ListFormatError, match=r":2: missing label"):
        read_video_list(path, separator=";")


def test_missing_list_file_is_named(tmp_path):
    missing = str(tmp_path / "nope" / "train.csv")
    with pytest.raises(FileNotFoundError, match="nope/train.csv"):
        read_video_list(missing)


def test_empty_file_gives_empty_list(tmp_path):
    assert read_video_list(_write(tmp_path, "\n\n")) == []
