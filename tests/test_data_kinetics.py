"""Kinetics dataset (train / val / test items, bad videos) and the torchvision transforms."""

import logging

import numpy as np
import pytest
import torch

from hiera_video.config import single_view_cfg
from hiera_video.data.decoding import clips as D
from hiera_video.data import transforms as TR
from hiera_video.data.kinetics import Kinetics, collate_train

# 64 frames at 30 fps, 48 x 64 (H x W); NUM_FRAMES 4 x SAMPLING_RATE 2 -> span 8 frames.


def _ids(read_frame_ids, clip_cthw):
    """Frame ids of a normalised (C, T, H, W) clip made with MEAN 0 / STD 1."""
    pixels = clip_cthw.float() if clip_cthw.dtype == torch.uint8 else clip_cthw * 255.0  # test views are uint8
    return read_frame_ids(pixels.permute(1, 2, 3, 0))


@pytest.fixture
def data_dir(tmp_path, make_video, truncate_file):
    """Videos 0-2 good (labels 0, 1, 2), 3 missing, 4 random bytes, 5 truncated AVI, 6 short (20 frames)."""
    videos = tmp_path / "videos"
    videos.mkdir()
    for i in range(3):
        make_video(videos / f"good{i}.avi", num_frames=64)
    (videos / "junk.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    truncate_file(make_video(videos / "long.avi", num_frames=120), 0.7, dst=str(videos / "trunc.avi"))
    make_video(videos / "short.avi", num_frames=20)
    rows = ["good0.avi 0", "good1.avi 1", "good2.avi 2", "missing.avi 3", "junk.mp4 4", "trunc.avi 5", "short.avi 6"]
    (tmp_path / "test.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "train.csv").write_text("\n".join(rows[:3] + rows[3:5]) + "\n")
    (tmp_path / "val.csv").write_text("\n".join(rows[:3] + rows[3:5]) + "\n")
    (tmp_path / "allbad.csv").write_text("missing.avi 0\njunk.mp4 1\n")
    return tmp_path


@pytest.fixture
def cfg(tiny_cfg, data_dir):
    tiny_cfg.DATA.PATH_TO_DATA_DIR = str(data_dir)
    tiny_cfg.DATA.PATH_PREFIX = str(data_dir / "videos")
    tiny_cfg.DATA.MEAN, tiny_cfg.DATA.STD = [0.0] * 3, [1.0] * 3  # keep pixels readable
    tiny_cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]  # whole frame, so ids stay readable
    tiny_cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [4 / 3, 4 / 3]
    return tiny_cfg


def test_train_items(cfg, read_frame_ids):
    ds = Kinetics(cfg, "train")
    assert ds.num_videos == len(ds) == 5 and ds.records[1].label == 1
    for index in range(3):
        item = ds[index]
        assert set(item) == {"clip", "label", "index", "bad", "partial"}
        assert item["clip"].dtype == torch.float32 and item["clip"].shape == (3, 4, 32, 32)
        assert (item["label"], item["index"], item["bad"]) == (index, index, [])
        ids = _ids(read_frame_ids, item["clip"])
        assert ids == sorted(ids) and 0 <= ids[0] and ids[-1] <= 63
        assert ids[-1] - ids[0] in (6, 7) and {b - a for a, b in zip(ids, ids[1:])} <= {2, 3}


def test_train_replaces_and_reports_bad_videos(cfg, read_frame_ids, caplog):
    torch.manual_seed(0)
    import random

    random.seed(0)
    cfg.DATA.MAX_RETRIES = 10  # 2 of the 5 videos are broken
    ds = Kinetics(cfg, "train")
    with caplog.at_level(logging.WARNING, logger="hiera_video.data"):
        for bad_index, name, why in ((3, "missing.avi", "file not found"), (4, "junk.mp4", "cannot open")):
            item = ds[bad_index]
            assert item["bad"][0][0].endswith(name) and why in item["bad"][0][1]
            assert all(p.endswith(("missing.avi", "junk.mp4")) for p, _ in item["bad"])
            assert item["index"] in (0, 1, 2) and item["label"] == item["index"]  # a good video replaced it
            assert item["clip"].shape == (3, 4, 32, 32)
    assert any("missing.avi" in r.getMessage() and "file not found" in r.getMessage() for r in caplog.records)

    batch = collate_train([ds[0], ds[3], ds[4]])
    assert batch["clip"].shape == (3, 3, 4, 32, 32)
    assert batch["label"].dtype == torch.long and batch["label"][0] == 0
    assert batch["index"].tolist()[0] == 0
    assert len(batch["bad"]) >= 2 and all(isinstance(p, str) and isinstance(e, str) for p, e in batch["bad"])


def test_train_gives_up_after_max_retries(cfg):
    ds = Kinetics(cfg, "train")
    ds.records = [r for r in ds.records if r.label in (3, 4)]  # only broken videos left
    item = ds[0]  # 4 tries (MAX_RETRIES 3): no clip, every failure named; the train loop stops the run
    assert item["clip"] is None and len(item["bad"]) == 4
    assert all(p.endswith(("missing.avi", "junk.mp4")) for p, _ in item["bad"])
    batch = collate_train([item, ds[1]])
    assert batch["clip"] is None and batch["failed_items"] == 2 and len(batch["bad"]) == 8


def test_truncated_videos_are_partial_in_training_and_at_test(cfg, monkeypatch):
    ds, test = Kinetics(cfg, "train"), Kinetics(cfg, "test")
    ds.records = [r for r in test.records if r.path.endswith("trunc.avi")]
    # a training clip that reaches past the frames that decode (found only when a decode gets there)
    monkeypatch.setattr(ds, "_clip_frame_indices", lambda n, fps, clip, num: [n - 7, n - 5, n - 3, n - 1])
    item = ds[0]  # the header claims 120 frames; fewer decode: used, and reported
    assert item["clip"] is not None and item["bad"] == []
    (path, reason), = item["partial"]
    assert path.endswith("trunc.avi") and reason.startswith("truncated: header 120 frames, ") and "decodable" in reason
    assert collate_train([item])["partial"] == item["partial"]
    assert test[5]["partial"] == reason and test[5]["views"] is not None
    assert test[0]["partial"] is None and test[6]["partial"] is None  # whole and short videos are not partial


def test_validation_is_the_deterministic_centre_view(cfg, read_frame_ids):
    ds = Kinetics(single_view_cfg(cfg, "val"), "test")  # the one validation path: val.csv, 1 x 1 view
    a, b = ds[1], ds[1]
    assert torch.equal(a["views"], b["views"]) and a["views"].shape == (1, 3, 4, 48, 48)
    # 64 frames, span 8: delta 56, centre start 28 -> floor(linspace(28, 35, 4)).
    assert _ids(read_frame_ids, a["views"][0]) == [28, 30, 32, 35]
    bad = ds[3]  # missing -> listed, never replaced
    assert bad["views"] is None and bad["index"] == 3 and "missing.avi" in bad["error"]


def test_test_items_all_views_decoded_once(cfg, read_frame_ids, monkeypatch):
    opened = []
    real_open = D.open_video
    monkeypatch.setattr(D, "open_video", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    ds = Kinetics(cfg, "test")
    item = ds[2]
    assert opened == [ds.records[2].path]  # one open, one decode pass, all 9 views
    assert set(item) == {"views", "label", "index", "path", "view_ids", "error", "partial"}
    assert item["error"] is None and (item["label"], item["index"]) == (2, 2)
    assert item["path"].endswith("good2.avi")
    assert item["views"].shape == (9, 3, 4, 48, 48) and item["views"].dtype == torch.uint8  # normalised on the device
    assert item["view_ids"] == [(t, s) for t in range(3) for s in range(3)]
    # offset sampling: delta 56, step 28 -> starts 0, 28, 56
    expected = {0: [0, 2, 4, 7], 1: [28, 30, 32, 35], 2: [56, 58, 60, 63]}
    for v, (t, s) in enumerate(item["view_ids"]):
        assert _ids(read_frame_ids, item["views"][v]) == expected[t]


def test_test_item_failures_are_reported_not_raised(cfg, caplog):
    ds = Kinetics(cfg, "test")
    with caplog.at_level(logging.WARNING, logger="hiera_video.data.kinetics"):
        for index, name, why in ((3, "missing.avi", "file not found"), (4, "junk.mp4", "cannot open")):
            item = ds[index]
            assert item["views"] is None and name in item["error"] and why in item["error"]
            assert (item["index"], item["label"]) == (index, index) and item["path"].endswith(name)
            assert len(item["view_ids"]) == 9
    assert sum(("missing.avi" in r.getMessage()) for r in caplog.records) == 1


def test_test_item_on_truncated_and_short_videos(cfg, read_frame_ids):
    ds = Kinetics(cfg, "test")
    trunc = ds[5]  # the header claims 120 frames; fewer decode -> sampling uses the real count
    assert trunc["error"] is None
    real = D.open_video(trunc["path"]).count_frames()
    assert 8 < real < 120
    last_clip = _ids(read_frame_ids, trunc["views"][-1])
    assert real - 2 <= last_clip[-1] <= real - 1  # ends at the real end (floor rounding may leave one frame)
    short = ds[6]  # 20 frames >= span 8: normal
    assert _ids(read_frame_ids, short["views"][0]) == [0, 2, 4, 7]
    cfg.DATA.SAMPLING_RATE = 8  # span 32 > 20 frames: padded by repeating the last frame
    short = Kinetics(cfg, "test")[6]
    for v in range(9):
        assert _ids(read_frame_ids, short["views"][v]) == [0, 10, 19, 19]
    assert torch.equal(short["views"][0][:, 2], short["views"][0][:, 3])


def test_target_fps_uses_the_stream_rate(cfg, make_video, read_frame_ids, data_dir):
    make_video(data_dir / "videos" / "slow.avi", num_frames=64, fps=15)
    (data_dir / "val.csv").write_text("slow.avi 9\n")
    # 15 fps source, stride 2 at 30 fps = 1 source frame: span 4, centre start 30.
    assert _ids(read_frame_ids, Kinetics(single_view_cfg(cfg, "val"), "test")[0]["views"][0]) == [30, 31, 32, 33]


def test_test_split_stem_and_decord_backend(cfg, data_dir):
    cfg.TEST.SPLIT = "allbad"
    ds = Kinetics(cfg, "test")
    assert [r.label for r in ds.records] == [0, 1] and all(ds[i]["views"] is None for i in range(2))
    cfg.TEST.SPLIT = "test"
    pyav = Kinetics(cfg, "test")[1]["views"]
    cfg.DATA.DECODING_BACKEND = "decord"
    dec = Kinetics(cfg, "test")[1]["views"]
    assert (pyav.float() - dec.float()).abs().mean() <= 1.0  # uint8 views: pixel levels


def test_config_validation(cfg):
    with pytest.raises(ValueError, match="split"):
        Kinetics(cfg, "training")
    cfg.TEST.NUM_SPATIAL_CROPS = 2
    with pytest.raises(ValueError, match="NUM_SPATIAL_CROPS"):
        Kinetics(cfg, "test")


@pytest.mark.parametrize("name", ["vtest.avi", "Megamind.avi"])
def test_real_videos_train_and_test(tiny_cfg, opencv_video, tmp_path, name):
    path = opencv_video(name)
    (tmp_path / "train.csv").write_text(f"{path} 0\n")
    (tmp_path / "test.csv").write_text(f"{path} 1\n")
    tiny_cfg.DATA.PATH_TO_DATA_DIR = str(tmp_path)
    tiny_cfg.TEST.NUM_ENSEMBLE_VIEWS, tiny_cfg.TEST.NUM_SPATIAL_CROPS = 2, 3
    item = Kinetics(tiny_cfg, "train")[0]
    assert item["clip"].shape == (3, 4, 32, 32) and item["bad"] == [] and torch.isfinite(item["clip"]).all()
    test = Kinetics(tiny_cfg, "test")[0]
    assert test["error"] is None and test["views"].shape == (6, 3, 4, 48, 48)
    left, centre, right = test["views"][:3]  # landscape: left / centre / right crops differ
    assert not torch.equal(left, right) and not torch.equal(left, centre)


# ---------------------------------------------------------------------------- transforms
def test_test_views_crop_positions():
    # 30 x 60 frames whose pixel value is its column: short side -> 15, width 30; crops 15 wide.
    cols = torch.arange(60, dtype=torch.uint8).view(1, 1, 60, 1).expand(2, 30, 60, 3).contiguous()
    views = TR.test_views(cols, 15, 3, [0.0] * 3, [1.0 / 255] * 3)  # undo the [0, 1] scaling
    assert views.shape == (3, 3, 2, 15, 15)
    starts = [v[0, 0, 0, 0].item() for v in views]
    # resized columns hold ~2x+0.5; offsets 0 / ceil((30 - 15) / 2) = 8 / 15
    assert starts[0] < 2 and 15 < starts[1] < 19 and 29 < starts[2] < 32  # left / centre / right
    assert views[2][0, 0, 0, -1].item() > 57
    portrait = cols.transpose(1, 2).contiguous()  # 60 x 30: top / centre / bottom
    pv = TR.test_views(portrait, 15, 3, [0.0] * 3, [1.0 / 255] * 3)
    assert pv[0][0, 0, 0, 0] < 2 and pv[2][0, 0, -1, 0] > 57
    assert TR.test_views(cols, 15, 1, [0.0] * 3, [1.0 / 255] * 3).shape == (1, 3, 2, 15, 15)


@pytest.mark.parametrize("shape,crops", [((9, 40, 56, 3), 3), ((9, 56, 40, 3), 3), ((9, 40, 56, 3), 1),
                                         ((9, 33, 33, 1), 3)])
def test_multi_views_equal_test_views_of_each_clip(shape, crops):
    """The multi-view test's views, cut from the frames decoded once (overlapping clips share rows, one clip
    repeats a frame as a short video's padding does), equal each clip resized, cropped and made (C, T, H, W) on its
    own, element for element; test_views is the one-clip case."""
    torch.manual_seed(0)
    frames = torch.randint(0, 256, shape, dtype=torch.uint8)
    positions = [[0, 2, 4, 6], [3, 4, 5, 6], [6, 7, 8, 8]]
    expected = torch.stack([c.as_subclass(torch.Tensor).permute(1, 0, 2, 3) for p in positions
                            for c in TR.spatial_crops(TR.resize_short_side(frames[p], 32), 32, crops)])
    views = TR.multi_views(frames, positions, 32, crops)
    assert views.dtype == torch.uint8 and views.shape == (3 * crops, shape[-1], 4, 32, 32)
    assert torch.equal(views, expected)
    assert torch.equal(TR.test_views(frames[positions[1]], 32, crops), expected[crops:2 * crops])
    with pytest.raises(ValueError, match="one length"):
        TR.multi_views(frames, [[0, 1], [2]], 32, crops)


def test_decoded_clips_share_the_frames_decoded_once():
    from hiera_video.data.decoding import DecodedClips

    frames = torch.arange(5 * 2 * 2 * 3, dtype=torch.uint8).view(5, 2, 2, 3)
    d = DecodedClips.from_union(frames, [10, 12, 14, 16, 18], [[10, 12, 14, 16, 18], [14, 18], [10, 12, 14, 16, 18]],
                                fps=30.0, num_frames=20)
    assert d.positions == [[0, 1, 2, 3, 4], [2, 4], [0, 1, 2, 3, 4]]
    assert d.clips[0] is frames and d.clips[2] is not frames  # the whole set in order: no copy, once
    assert torch.equal(d.clips[1], frames[[2, 4]]) and torch.equal(d.clips[2], frames)
    assert d.clips is d.clips  # cut once


def test_uint8_views_normalise_to_the_float_views_exactly():
    torch.manual_seed(0)
    frames = torch.randint(0, 256, (4, 40, 56, 3), dtype=torch.uint8)
    mean, std = [0.45, 0.4, 0.5], [0.225, 0.25, 0.2]
    views = TR.test_views(frames, 32, 3)  # what test items carry
    assert views.dtype == torch.uint8 and views.shape == (3, 3, 4, 32, 32)
    # the float views the workers used to send: normalize_clip of each (T, C, H, W) crop
    crops = TR.spatial_crops(TR.resize_short_side(frames, 32), 32, 3)
    expected = torch.stack([TR.normalize_clip(c, mean, std) for c in crops])
    assert torch.equal(TR.normalize_views(views, mean, std), expected)
    assert torch.equal(TR.normalize_views(views[None], mean, std)[0], expected)  # a batch of videos' views
    assert torch.equal(TR.test_views(frames, 32, 3, mean, std), expected)
    with pytest.raises(ValueError, match="uint8"):
        TR.normalize_views(expected, mean, std)
    with pytest.raises(ValueError, match="DATA.STD"):
        TR.normalize_views(views, mean, [0.2, 0.0, 0.2])


def test_train_transform_same_crop_for_all_frames(tiny_cfg):
    tiny_cfg.DATA.MEAN, tiny_cfg.DATA.STD = [0.5, 0.25, 0.0], [0.5, 0.5, 1.0]
    tf = TR.train_transform(tiny_cfg)
    frame = torch.randint(0, 256, (1, 40, 50, 3), dtype=torch.uint8)
    clip = tf(frame.expand(6, -1, -1, -1).contiguous())
    assert clip.shape == (3, 6, 32, 32) and clip.dtype == torch.float32
    for t in range(1, 6):
        assert torch.equal(clip[:, t], clip[:, 0])  # identical frames stay identical: one crop per clip
    flat = tf(torch.full((2, 40, 50, 3), 255, dtype=torch.uint8))
    assert torch.allclose(flat[:, 0, 0, 0], torch.tensor([1.0, 1.5, 1.0]))  # (1 - mean) / std
    assert any(isinstance(t, TR.v2.RandomHorizontalFlip) for t in tf.transform.transforms)
    tiny_cfg.DATA.RANDOM_FLIP = False
    assert not any(isinstance(t, TR.v2.RandomHorizontalFlip) for t in TR.train_transform(tiny_cfg).transform.transforms)
