"""SSv2: segment sampling, the SSv2 dataset (items, views, no flip, bad videos) and data_prep/ssv2.py."""

import csv
import json
import os
import random

import pytest
import torch
from torchvision.transforms import v2

from hiera_video.config import single_view_cfg
from hiera_video.data.lists import read_video_list
from hiera_video.data.ssv2 import SSv2, segment_indices
from hiera_video.prep.ssv2 import strip_template
from helpers import load_script

ssv2_cli = load_script("data_prep/ssv2.py")


# ---------------------------------------------------------------------------- segment_indices
@pytest.mark.parametrize("n,k", [(48, 4), (50, 8), (8, 8), (301, 16), (17, 16)])
def test_segment_indices_one_per_segment(n, k):
    rng = random.Random(0)
    bounds = [(s * n) // k for s in range(k + 1)]
    for mode, kw in [("train", {"rng": rng})] * 20 + [("test", {"offset": o}) for o in (0.0, 0.3, 0.5, 0.99)]:
        idx = segment_indices(n, k, mode, **kw)
        assert len(idx) == k and all(isinstance(i, int) for i in idx)
        assert all(a < b for a, b in zip(idx, idx[1:])), idx  # strictly increasing
        assert 0 <= idx[0] and idx[-1] <= n - 1
        assert all(bounds[s] <= i < bounds[s + 1] for s, i in enumerate(idx)), (idx, bounds)


def test_segment_indices_train_covers_segment():
    rng = random.Random(1)
    seen = {i for _ in range(300) for i in segment_indices(40, 4, "train", rng=rng)}
    assert seen == set(range(40))  # every frame reachable, nothing outside


@pytest.mark.parametrize("n", [1, 3, 7])
def test_segment_indices_short_video_repeats(n):
    for idx in [segment_indices(n, 8, "test"), segment_indices(n, 8, "train", rng=random.Random(2))]:
        assert len(idx) == 8 and idx == sorted(idx) and 0 <= idx[0] and idx[-1] <= n - 1
        assert len(set(idx)) <= n < 8  # frames repeated
    assert len(set(segment_indices(n, 8, "test"))) == n  # centres use every frame
    assert segment_indices(1, 4, "test") == [0, 0, 0, 0]


def test_segment_indices_test_views_differ_and_deterministic():
    views = [segment_indices(48, 4, "test", (i + 0.5) / 3) for i in range(3)]
    assert views == [[2, 14, 26, 38], [6, 18, 30, 42], [10, 22, 34, 46]]
    assert views == [segment_indices(48, 4, "test", (i + 0.5) / 3) for i in range(3)]
    assert segment_indices(48, 4, "test") == [6, 18, 30, 42]  # default: centres


def test_segment_indices_errors():
    for args in [(0, 4, "test"), (10, 0, "test"), (10, 4, "val")]:
        with pytest.raises(ValueError):
            segment_indices(*args)
    with pytest.raises(ValueError):
        segment_indices(10, 4, "test", offset=1.0)


# ---------------------------------------------------------------------------- SSv2 dataset
def _ids(read_frame_ids, clip_cthw):
    pixels = clip_cthw.float() if clip_cthw.dtype == torch.uint8 else clip_cthw * 255.0  # test views are uint8
    return read_frame_ids(pixels.permute(1, 2, 3, 0))


@pytest.fixture
def cfg(tiny_cfg, tmp_path, make_video):
    videos = tmp_path / "videos"
    for i in range(2):
        make_video(videos / f"{i}.avi", num_frames=48)
    (tmp_path / "train.csv").write_text("0.avi 3\n1.avi 5\n")
    (tmp_path / "val.csv").write_text("0.avi 3\nmissing.avi 1\n")
    (tmp_path / "test.csv").write_text("0.avi 3\nmissing.avi 1\n")
    c = tiny_cfg
    c.DATA.PATH_TO_DATA_DIR, c.DATA.PATH_PREFIX = str(tmp_path), str(videos)
    c.DATA.MEAN, c.DATA.STD = [0.0] * 3, [1.0] * 3
    c.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]
    c.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [4 / 3, 4 / 3]
    c.DATA.RANDOM_FLIP = True  # must be ignored
    return c


def test_train_item_segments_and_no_flip(cfg, read_frame_ids):
    ds = SSv2(cfg, "train")
    assert not any(isinstance(t, v2.RandomHorizontalFlip) for t in ds._train_tf.transform.transforms)
    assert cfg.DATA.RANDOM_FLIP is True  # the caller's config is left alone
    for index in range(2):
        item = ds[index]
        assert set(item) == {"clip", "label", "index", "bad", "partial"}
        assert item["clip"].dtype == torch.float32 and item["clip"].shape == (3, 4, 32, 32)
        assert (item["label"], item["index"], item["bad"]) == ([3, 5][index], index, [])
        ids = _ids(read_frame_ids, item["clip"])
        assert all(12 * s <= i < 12 * (s + 1) for s, i in enumerate(ids)), ids


def test_validation_item_centres_and_bad_listed(cfg, read_frame_ids):
    ds = SSv2(single_view_cfg(cfg, "val"), "test")  # the one validation path: val.csv, 1 x 1 view
    item = ds[0]
    assert item["views"].shape == (1, 3, 4, 48, 48) and _ids(read_frame_ids, item["views"][0]) == [6, 18, 30, 42]
    item = ds[1]  # missing -> listed with its error, never replaced
    assert item["index"] == 1 and item["views"] is None and "missing.avi" in item["error"]


def test_test_item_views(cfg, read_frame_ids):
    ds = SSv2(cfg, "test")
    item = ds[0]
    assert item["error"] is None and item["label"] == 3 and item["path"].endswith("0.avi")
    assert item["views"].shape == (9, 3, 4, 48, 48)
    assert item["view_ids"] == [(i, j) for i in range(3) for j in range(3)]
    expected = [[2, 14, 26, 38], [6, 18, 30, 42], [10, 22, 34, 46]]
    for v, (t, s) in enumerate(item["view_ids"]):
        assert _ids(read_frame_ids, item["views"][v]) == expected[t]
    # spatial crops differ (left / centre / right of a 64-wide frame), temporal views differ
    assert not torch.equal(item["views"][0], item["views"][3])


def test_test_item_missing_video(cfg, caplog):
    item = SSv2(cfg, "test")[1]
    assert item["views"] is None and item["error"] and "file not found" in item["error"]
    assert item["label"] == 1 and item["index"] == 1


# ---------------------------------------------------------------------------- data_prep/ssv2.py
LABELS = {"Holding something next to something": "0", "Pushing something from left to right": "1",
          "Pushing something from right to left": "2"}


def _entry(clip_id, template):
    return {"id": clip_id, "label": template.replace("[", "").replace("]", "").lower(),
            "template": template, "placeholders": ["a cup"]}


@pytest.fixture
def raw_ssv2(tmp_path, make_video):
    root = tmp_path / "raw"
    videos = root / "videos"
    for clip_id in ("101", "102", "201"):
        make_video(videos / f"{clip_id}.mp4", num_frames=8, size=(32, 32))
    train = [_entry("101", "Holding [something] next to [something]"),
             _entry("102", "Pushing [something] from left to right"),
             _entry("103", "Pushing [something] from right to left"),  # missing clip
             _entry("104", "Spinning [something], fast")]  # unknown template (with a comma)
    val = [_entry("201", "Pushing [something] from right to left"), _entry("202", "Spinning [something], fast")]
    for name, data in [("labels", LABELS), ("train", train), ("validation", val)]:
        (root / f"something-something-v2-{name}.json").write_text(json.dumps(data))
    return root


def _argv(root, out, *extra):
    return ["--labels", str(root / "something-something-v2-labels.json"),
            "--train", str(root / "something-something-v2-train.json"),
            "--val", str(root / "something-something-v2-validation.json"),
            "--videos", str(root / "videos"), "--out", str(out), *extra]


def test_prep_end_to_end(raw_ssv2, tmp_path, capsys):
    out = tmp_path / "lists"
    assert ssv2_cli.main(_argv(raw_ssv2, out, "--ext", "mp4")) == 0
    printed = capsys.readouterr().out
    assert "train: 2 found, 1 missing (4 annotated); 1 with a template not in the labels file" in printed
    assert "val: 1 found, 0 missing (2 annotated); 1 with a template" in printed
    assert (out / "train.csv").read_text() == "101.mp4 0\n102.mp4 1\n"
    assert (out / "val.csv").read_text() == "201.mp4 2\n"
    assert json.loads((out / "classes.json").read_text()) == {k: int(v) for k, v in LABELS.items()}
    rows = list(csv.reader((out / "missing.csv").open()))
    assert rows == [["split", "id", "template", "expected"],
                    ["train", "103", "Pushing something from right to left", "103.mp4"]]
    recs = read_video_list(str(out / "train.csv"), str(raw_ssv2 / "videos"))
    assert [os.path.isfile(r.path) for r in recs] == [True, True] and [r.label for r in recs] == [0, 1]
    before = {p: (out / p).read_text() for p in ("train.csv", "val.csv", "classes.json", "missing.csv")}
    assert ssv2_cli.main(_argv(raw_ssv2, out, "--ext", "mp4")) == 0  # re-run: identical files
    assert before == {p: (out / p).read_text() for p in before}


def test_prep_default_ext_webm_all_missing(raw_ssv2, tmp_path, capsys):
    out = tmp_path / "lists"
    assert ssv2_cli.main(_argv(raw_ssv2, out)) == 0
    assert (out / "train.csv").read_text() == ""
    assert "train: 0 found, 3 missing" in capsys.readouterr().out
    assert "103.webm" in (out / "missing.csv").read_text()


def test_prep_bad_input_exit_2(raw_ssv2, tmp_path, capsys):
    out = tmp_path / "lists"
    assert ssv2_cli.main(_argv(raw_ssv2, out, "--videos", str(tmp_path / "nope"))) == 2
    (raw_ssv2 / "something-something-v2-train.json").write_text("{not json")
    assert ssv2_cli.main(_argv(raw_ssv2, out)) == 2
    (raw_ssv2 / "something-something-v2-train.json").write_text(json.dumps([{"id": "1"}]))
    assert ssv2_cli.main(_argv(raw_ssv2, out)) == 2
    (raw_ssv2 / "something-something-v2-train.json").write_text("[]")
    (raw_ssv2 / "something-something-v2-labels.json").write_text(json.dumps({"a": "x"}))
    assert ssv2_cli.main(_argv(raw_ssv2, out)) == 2
    os.remove(raw_ssv2 / "something-something-v2-labels.json")
    assert ssv2_cli.main(_argv(raw_ssv2, out)) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 5 and "labels file not found" in err
    assert not out.exists()


def test_prep_help():
    with pytest.raises(SystemExit) as e:
        ssv2_cli.main(["--help"])
    assert e.value.code == 0


def test_strip_template():
    assert strip_template("Holding [something] next to [something]") == "Holding something next to something"


# ---------------------------------------------------------------------------- label-aware flip
import numpy as np  # this section was appended; its imports stay with it

from hiera_video.data.ssv2 import flip_label_map

# Real SSv2 templates (bracket-free, ids of the official something-something-v2-labels.json).
REAL_CLASSES = {
    "Approaching something with your camera": 0,
    "Holding something": 16,
    "Moving something and something away from each other": 36,
    "Plugging something into something but pulling it right out as you remove your hand": 50,
    "Pulling something from left to right": 86,
    "Pulling something from right to left": 87,
    "Pushing something from left to right": 93,
    "Pushing something from right to left": 94,
    "Putting something upright on the table": 119,
    "Turning the camera left while filming something": 166,
    "Turning the camera right while filming something": 167,
}


def test_flip_label_map_real_templates():
    assert flip_label_map(REAL_CLASSES) == {
        0: 0, 16: 16, 36: 36, 119: 119,  # no left/right word ("upright" is not "right"): flip, keep label
        86: 87, 87: 86, 93: 94, 94: 93, 166: 167, 167: 166,  # mirror pairs
        50: None,  # "pulling it right out": no "left" counterpart -> never flipped
    }
    # counterpart absent -> never flip; names compared case-insensitively; ids may be strings (labels.json)
    assert flip_label_map({"Pushing something from left to right": 0, "Holding something": 1}) == {0: None, 1: 1}
    assert flip_label_map({"pushing something from LEFT to right": "0", "Pushing something from right to left": 1}) \
        == {0: 1, 1: 0}
    with pytest.raises(ValueError, match="unique"):
        flip_label_map({"a": 0, "b": 0})
    with pytest.raises(ValueError, match="not an integer"):
        flip_label_map({"a": "x"})


def _side(clip_cthw) -> str:
    """'dark-left' for the original asymmetric frames, 'dark-right' when mirrored."""
    half, clip_cthw = clip_cthw.shape[-1] // 2, clip_cthw.float()
    return "dark-left" if clip_cthw[..., :half].mean() < clip_cthw[..., half:].mean() else "dark-right"


@pytest.fixture
def flip_cfg(tiny_cfg, tmp_path, make_video):
    frames = np.full((16, 48, 64, 3), 200, dtype=np.uint8)
    frames[:, :, :32] = 40  # dark left half, bright right half
    make_video(tmp_path / "videos" / "asym.avi", frames=frames)
    for copy in ("asym_b.avi", "asym_c.avi"):  # one video per line: a list may not give a video two labels
        os.symlink(tmp_path / "videos" / "asym.avi", tmp_path / "videos" / copy)
    (tmp_path / "classes.json").write_text(json.dumps(REAL_CLASSES))
    (tmp_path / "train.csv").write_text("asym.avi 93\nasym_b.avi 16\nasym_c.avi 50\n")
    (tmp_path / "val.csv").write_text("asym.avi 93\n")
    c = tiny_cfg
    c.DATA.PATH_TO_DATA_DIR, c.DATA.PATH_PREFIX = str(tmp_path), str(tmp_path / "videos")
    c.DATA.MEAN, c.DATA.STD = [0.0] * 3, [1.0] * 3
    c.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]  # whole frame: the only randomness left is the flip
    c.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [4 / 3, 4 / 3]
    c.DATA.LABEL_AWARE_FLIP = True
    return c


def test_label_aware_flip_swaps_labels_and_mirrors_pixels(flip_cfg):
    ds = SSv2(flip_cfg, "train")
    assert ds.flip_map[93] == 94 and ds.flip_map[50] is None
    random.seed(0)
    seen = {0: set(), 1: set(), 2: set()}
    reference, compared = None, 0
    for _ in range(24):
        for index in range(3):
            item = ds[index]
            side = _side(item["clip"])
            seen[index].add((item["label"], side))
            if index == 1 and side == "dark-left":
                reference = item["clip"]
            if index == 1 and side == "dark-right" and reference is not None:  # the exact mirror image
                assert torch.allclose(item["clip"], reference.flip(-1), atol=1e-4)
                compared += 1
    assert seen[0] == {(93, "dark-left"), (94, "dark-right")}  # flipped <=> label swapped, both happen
    assert seen[1] == {(16, "dark-left"), (16, "dark-right")}  # no left/right in the name: flips, keeps label
    assert seen[2] == {(50, "dark-left")}  # no counterpart: never flipped
    assert compared > 0


def test_label_aware_flip_one_decision_for_all_samples(flip_cfg):
    flip_cfg.AUG.NUM_SAMPLE = 3
    ds = SSv2(flip_cfg, "train")
    random.seed(1)
    labels = set()
    for _ in range(12):
        item = ds[0]
        assert item["clip"].shape == (3, 3, 4, 32, 32)
        sides = {_side(c) for c in item["clip"]}
        assert len(sides) == 1 and (item["label"] == 94) == (sides == {"dark-right"})
        labels.add(item["label"])
    assert labels == {93, 94}


def test_label_aware_flip_off_by_default_and_train_only(flip_cfg):
    flip_cfg.DATA.LABEL_AWARE_FLIP = False
    flip_cfg.DATA.RANDOM_FLIP = True  # ignored by SSv2 either way
    ds = SSv2(flip_cfg, "train")
    assert ds.flip_map is None
    random.seed(2)
    assert {(ds[i]["label"], _side(ds[i]["clip"])) for _ in range(10) for i in range(3)} == {
        (93, "dark-left"), (16, "dark-left"), (50, "dark-left")}
    flip_cfg.DATA.LABEL_AWARE_FLIP = True
    val = SSv2(single_view_cfg(flip_cfg, "val"), "test")
    assert val.flip_map is None and {(val[0]["label"], _side(val[0]["views"][0])) for _ in range(5)} == {(93, "dark-left")}


def test_label_aware_flip_needs_classes_json(flip_cfg, tmp_path):
    (tmp_path / "train.csv").write_text("asym.avi 93\nasym_b.avi 170\n")
    with pytest.raises(ValueError, match=r"labels \[170\] are not in .*classes.json"):
        SSv2(flip_cfg, "train")
    os.remove(tmp_path / "classes.json")
    with pytest.raises(FileNotFoundError, match="DATA.LABEL_AWARE_FLIP needs the class names in .*classes.json"):
        SSv2(flip_cfg, "train")
    SSv2(single_view_cfg(flip_cfg, "val"), "test")  # not needed outside training
