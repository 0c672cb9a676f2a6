"""Synthetic AVA dataset: AVA-format files the readers accept, determinism, the marker, and motion-only labels."""

import os
from collections import defaultdict
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image

from hiera_video.data.ava import read_box_csv, read_exclusions, read_label_map
from hiera_video.data.frame_list import read_frame_list
from hiera_video.prep.synthetic_ava import CLASSES, LABEL_MAP_FILE, make_ava_dataset

SIZE = (90, 160)
SECONDS = 8


def _dirs(root):
    return str(root / "frames"), str(root / "lists"), str(root / "ann")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ava")
    info = make_ava_dataset(*_dirs(root), num_train_movies=2, num_val_movies=2, seconds_per_movie=SECONDS,
                            size=SIZE, seed=1)
    return root, info


def _actors(root, split):
    """``{(vid, sec, person): (box, {action ids})}`` from the ground-truth file."""
    rows = read_box_csv(str(root / "ann" / f"ava_{split}_v2.2.csv"), "groundtruth").rows
    out = {}
    for r in rows.itertuples():
        key = (r.video_id, r.timestamp, r.person_id)
        out.setdefault(key, ((r.x1, r.y1, r.x2, r.y2), set()))[1].add(r.action_id)
    return out


def _grey(root, vid, frame):
    """0-based ``frame`` of ``vid`` as float grey ``(H, W)``."""
    return np.asarray(Image.open(root / "frames" / vid / f"{vid}_{frame + 1:06d}.jpg"), np.float64).mean(-1)


def _crop(img, box, margin=2):
    h, w = img.shape[:2]
    x1, y1, x2, y2 = (round(v * s) for v, s in zip(box, (w, h, w, h)))
    return img[y1 + margin:y2 - margin, x1 + margin:x2 - margin]


def _iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_files_parse_with_the_readers(dataset):
    root, info = dataset
    assert info["generated"] and info["classes"] == list(CLASSES) and info["num_classes"] == len(CLASSES) == 8
    labels = read_label_map(str(root / "ann" / LABEL_MAP_FILE))
    assert labels.ids == tuple(range(1, 9)) and [labels.names[i] for i in labels.ids] == list(CLASSES)
    assert set(labels.types.values()) == {"PERSON_MOVEMENT"}
    frames_per_movie = 45 + 30 * SECONDS
    for split in ("train", "val"):
        recs = read_frame_list(str(root / "lists" / f"{split}.csv"), path_prefix=str(root / "frames"),
                               require_labels=False)
        assert [r.video_id for r in recs] == [f"syn_{split}_{i:02d}" for i in range(2)]
        assert all(len(r.frames) == frames_per_movie and r.label == -1 for r in recs)
        assert all(os.path.isfile(p) for r in recs for p in r.frames)
        stats = info["splits"][split]
        assert stats["movies"] == 2 and stats["keyframes"] == 2 * SECONDS and stats["frames"] == 2 * frames_per_movie
        gt = read_box_csv(str(root / "ann" / f"ava_{split}_v2.2.csv"), "groundtruth")
        props = read_box_csv(str(root / "ann" / f"ava_{split}_predicted_boxes.csv"), "proposals")
        assert len(gt.rows) == stats["gt_rows"] and len(props.rows) == stats["proposals"]
        assert gt.keyframes == {(r.video_id, s) for r in recs for s in range(902, 902 + SECONDS)}
        assert props.keyframes == gt.keyframes and set(gt.rows["action_id"]) <= set(labels.ids)
        assert (props.rows["action_id"] == -1).all() and props.rows["score"].between(0, 1).all()
        for table in (gt, props):
            b = table.rows
            assert ((b[["x1", "y1", "x2", "y2"]] >= 0) & (b[["x1", "y1", "x2", "y2"]] <= 1)).all().all()
            assert ((b.x1 < b.x2) & (b.y1 < b.y2)).all()
        assert ((gt.rows.x2 - gt.rows.x1 >= 0.245) & (gt.rows.y2 - gt.rows.y1 >= 0.39)).all()  # large actors
        actors = _actors(root, split)
        assert len(actors) == stats["boxes"]
        per_frame = defaultdict(int)
        for vid, sec, _ in actors:
            per_frame[vid, sec] += 1
        assert set(per_frame.values()) <= {2, 3}
        for vid, sec in gt.keyframes:  # the scene segment (and so every clip) of each keyframe exists
            c = (sec - 900) * 30
            for k in range(c - 15, c + 15):
                assert (root / "frames" / vid / f"{vid}_{k + 1:06d}.jpg").is_file()
        img = Image.open(root / "frames" / recs[0].video_id / f"{recs[0].video_id}_000061.jpg")
        assert img.format == "JPEG" and img.size == (SIZE[1], SIZE[0]) and img.mode == "RGB"
    excluded = read_exclusions(str(root / "ann" / "ava_val_excluded_timestamps_v2.2.csv"))
    val_keys = read_box_csv(str(root / "ann" / "ava_val_v2.2.csv"), "groundtruth").keyframes
    assert 1 <= len(excluded) <= 2 and excluded <= val_keys
    assert sorted(map(tuple, info["excluded"])) == sorted(excluded)


def test_multi_hot_labels_and_realistic_proposals(dataset):
    root, info = dataset
    for split in ("train", "val"):
        actors = _actors(root, split)
        counts = [len(a) for _, a in actors.values()]
        assert max(counts) >= 2 and np.mean(counts) < 1.6  # multi-hot, yet each class is rare
        groups = ({1, 2, 7}, {3, 4, 8}, {5, 6})  # at most one action per motion axis
        assert all(len(a & g) <= 1 for _, a in actors.values() for g in groups)
        props = read_box_csv(str(root / "ann" / f"ava_{split}_predicted_boxes.csv"), "proposals").rows
        by_frame = defaultdict(list)
        for r in props.itertuples():
            by_frame[r.video_id, r.timestamp].append(((r.x1, r.y1, r.x2, r.y2), r.score))
        best = [max(_iou(box, p) for p, _ in by_frame[vid, sec]) for (vid, sec, _), (box, _) in actors.items()]
        assert min(best) >= 0.7  # every actor has a proposal
        true_scores, false_scores = [], []
        for (vid, sec), rows in by_frame.items():
            boxes = [b for (v, s, _), (b, _) in actors.items() if (v, s) == (vid, sec)]
            for p, score in rows:
                (true_scores if max(_iou(p, b) for b in boxes) >= 0.5 else false_scores).append(score)
        assert np.mean(np.array(true_scores) >= 0.9) > 0.85
        assert 0 < np.mean(np.array(false_scores) >= 0.8) < 1  # false boxes above and below threshold
    chance = info["random_frame_map"]
    assert set(chance) == {"0.8", "0.9"} and all(0 < v < 30 for v in chance.values())


def _shift(a, b):
    """Translation (dx, dy) in pixels taking grey crop ``a`` to ``b``: phase correlation with a Hann window and the
    cross-power spectrum only half whitened (full whitening lets JPEG noise and its fixed 8x8 grid win)."""
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa, fb = np.fft.fft2((a - a.mean()) * win), np.fft.fft2((b - b.mean()) * win)
    r = fb * np.conj(fa)
    corr = np.fft.ifft2(r / np.sqrt(np.abs(r) + 1e-9)).real
    dy, dx = np.unravel_index(np.argmax(corr), corr.shape)
    h, w = a.shape
    return (dx - w if dx > w // 2 else dx), (dy - h if dy > h // 2 else dy)


def test_motion_carries_the_label(dataset):
    """Phase correlation between the model's clip frames (c-12, c-9, ..., c+9) inside each actor's box recovers the
    direction of its move_* labels (median shift over the 7 steps of 3 frames); zooms change the texture's scale in
    the labelled sense."""
    root, _ = dataset
    checked, right = 0, 0
    zooms = []
    for split in ("train", "val"):
        for (vid, sec, _), (box, actions) in _actors(root, split).items():
            c = (sec - 900) * 30
            clip = [_crop(_grey(root, vid, c + k), box) for k in range(-12, 10, 3)]
            dx, dy = np.median([_shift(a, b) for a, b in pairwise(clip)], axis=0)
            for action, value, sign in ((1, dx, -1), (2, dx, 1), (3, dy, -1), (4, dy, 1)):
                if action in actions:
                    checked += 1
                    right += int(value * sign >= 2)
            if actions & {5, 6} and not actions & {1, 2, 3, 4, 7, 8}:
                first, last = _crop(_grey(root, vid, c - 12), box, 6), _crop(_grey(root, vid, c + 9), box, 6)
                grad = [np.abs(np.diff(f, axis=1)).mean() + np.abs(np.diff(f, axis=0)).mean() for f in (first, last)]
                zooms.append((grad[1] < grad[0]) == (5 in actions))  # zooming in magnifies: less fine detail
    assert checked >= 20 and right / checked >= 0.9, (right, checked)
    assert len(zooms) >= 5 and np.mean(zooms) >= 0.8, zooms


def test_keyframe_alone_does_not_tell_the_class(dataset):
    """Nearest class mean of keyframe pixel statistics in the box (colour, contrast, detail), leave-one-out over the
    actors with one translation label, is near chance (0.25), while the motion (above) is near perfect."""
    root, _ = dataset
    xs, ys = [], []
    for split in ("train", "val"):
        for (vid, sec, _), (box, actions) in _actors(root, split).items():
            if len(actions) == 1 and next(iter(actions)) <= 4:
                rgb = np.asarray(Image.open(root / "frames" / vid / f"{vid}_{(sec - 900) * 30 + 1:06d}.jpg"),
                                 np.float64)
                crop = _crop(rgb, box)
                grey = crop.mean(-1)
                xs.append([*crop.mean((0, 1)), grey.std(), np.abs(np.diff(grey, axis=1)).mean(),
                           np.abs(np.diff(grey, axis=0)).mean()])
                ys.append(next(iter(actions)))
    x, y = np.array(xs), np.array(ys)
    assert set(y) == {1, 2, 3, 4} and len(y) >= 24
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    right = 0
    for i in range(len(y)):
        rest = np.arange(len(y)) != i
        centres = {c: x[rest & (y == c)].mean(0) for c in set(y[rest])}
        right += min(centres, key=lambda c: np.sum((x[i] - centres[c]) ** 2)) == y[i]
    assert right / len(y) <= 0.45, (right, len(y))


def _snapshot(ann, lists, frames):
    files = sorted(os.path.join(d, f) for d in (ann, lists) for f in os.listdir(d))
    vid = "syn_val_00"
    files += [os.path.join(frames, vid, f"{vid}_{k:06d}.jpg") for k in (1, 47, 61, 77, 104)]
    return {os.path.relpath(p, os.path.dirname(ann)): open(p, "rb").read() for p in files}


def test_same_arguments_same_bytes(tmp_path):
    kw = {"num_train_movies": 1, "num_val_movies": 1, "seconds_per_movie": 3, "size": (48, 80), "seed": 5}
    a = make_ava_dataset(*_dirs(tmp_path / "a"), **kw)
    b = make_ava_dataset(*_dirs(tmp_path / "b"), **kw)
    assert a["generated"] and b["generated"] and a["splits"] == b["splits"]
    sa, sb = (_snapshot(*[str(tmp_path / r / d) for d in ("ann", "lists", "frames")]) for r in ("a", "b"))
    sa.pop("ann/.synthetic_ava.json")
    sb.pop("ann/.synthetic_ava.json")  # the marker records the (different) folders
    assert sa.keys() == sb.keys() and all(sa[k] == sb[k] for k in sa)
    c = make_ava_dataset(*_dirs(tmp_path / "c"), **{**kw, "seed": 6})
    assert c["generated"]
    assert (tmp_path / "c" / "ann" / "ava_val_v2.2.csv").read_bytes() != (tmp_path / "a" / "ann" /
                                                                         "ava_val_v2.2.csv").read_bytes()


def test_marker_skips_and_changed_arguments_rewrite(tmp_path):
    kw = {"num_train_movies": 1, "num_val_movies": 1, "seconds_per_movie": 3, "size": (48, 80), "seed": 0}
    first = make_ava_dataset(*_dirs(tmp_path), **kw)
    watched = [tmp_path / "ann" / "ava_train_v2.2.csv", tmp_path / "lists" / "val.csv",
               tmp_path / "frames" / "syn_train_00" / "syn_train_00_000061.jpg"]
    mtimes = [p.stat().st_mtime_ns for p in watched]
    again = make_ava_dataset(*_dirs(tmp_path), **kw)
    assert first["generated"] and not again["generated"]
    assert [p.stat().st_mtime_ns for p in watched] == mtimes
    assert {k: v for k, v in again.items() if k not in ("generated", "seconds")} == \
        {k: v for k, v in first.items() if k not in ("generated", "seconds")}
    watched[2].unlink()  # a frame the marker names is gone: rewrite
    assert make_ava_dataset(*_dirs(tmp_path), **kw)["generated"] and watched[2].is_file()
    last = tmp_path / "frames" / "syn_train_00" / f"syn_train_00_{45 + 90:06d}.jpg"
    assert last.is_file()
    shorter = make_ava_dataset(*_dirs(tmp_path), **{**kw, "seconds_per_movie": 2})  # other arguments: rewrite
    assert shorter["generated"] and shorter["splits"]["train"]["frames"] == 45 + 60
    assert not last.exists()  # frames past the new end are removed
    assert len(read_frame_list(str(tmp_path / "lists" / "train.csv"), require_labels=False)[0].frames) == 105
    with pytest.raises(ValueError):
        make_ava_dataset(*_dirs(tmp_path / "bad"), num_train_movies=0)
