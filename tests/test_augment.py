"""Train augmentation: RandAugment and random erasing per clip, short-side jitter, Mixup/CutMix,
soft-target loss and repeated augmentation (AUG.NUM_SAMPLE)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import tv_tensors

from hiera_video.config import get_cfg
from hiera_video.data.augment import ClipRandAugment, RandAugmentSpec, parse_rand_augment, random_erasing
from hiera_video.data.kinetics import Kinetics, collate_train
from hiera_video.data.mixup import MixupCutmix, build_mixup, smooth_one_hot
from hiera_video.data.transforms import train_transform
from hiera_video.engine.tasks import ClassificationTask


# ---------------------------------------------------------------------------- RandAugment
def test_parse_rand_augment_policies():
    assert parse_rand_augment("rand-m7-n4-mstd0.5-inc1") == RandAugmentSpec(7.0, 4, 0.5, 0.5)
    assert parse_rand_augment("rand-m9-mstd0.5-inc1") == RandAugmentSpec(9.0, 2, 0.5, 0.5)
    assert parse_rand_augment("rand-m10-n1-p1") == RandAugmentSpec(10.0, 1, 0.0, 1.0)
    for bad, needle in [("auto-m9", "RandAugment policy"), ("rand-n2", "magnitude"), ("rand-m9-inc0", "inc1"),
                        ("rand-m9-x3", "unknown or malformed"), ("rand-m11", "0 <= m <= 10"), ("rand-m5-n0", "n >= 1")]:
        with pytest.raises(ValueError, match=needle):
            parse_rand_augment(bad)


def _still_video(t=6, h=40, w=48, seed=0):
    """A clip whose frames are all the same random image: ``tv_tensors.Video`` uint8 (T, C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    frame = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)
    return tv_tensors.Video(frame.expand(t, 3, h, w).clone())


def test_rand_augment_applies_one_op_and_magnitude_to_every_frame():
    ra = ClipRandAugment(RandAugmentSpec(magnitude=9, num_ops=2, magnitude_std=0.5, prob=1.0), fill=[115] * 3)
    changed = 0
    for seed in range(30):
        torch.manual_seed(seed)
        video = _still_video(seed=seed)
        out = ra(video)
        assert out.shape == video.shape and out.dtype == torch.uint8
        assert all(torch.equal(out[0], out[i]) for i in range(1, out.shape[0]))  # frames stay identical
        changed += not torch.equal(out, video)
    assert changed >= 25  # two ops at magnitude ~9 almost always change the clip (Identity is 1/14)


def test_rand_augment_magnitude_noise_and_probability():
    fixed = ClipRandAugment(RandAugmentSpec(magnitude=7, magnitude_std=0.0))
    assert {fixed._magnitude_index() for _ in range(20)} == {70}
    noisy = ClipRandAugment(RandAugmentSpec(magnitude=9.5, magnitude_std=2.0))
    idx = [noisy._magnitude_index() for _ in range(300)]
    assert len(set(idx)) > 10 and min(idx) >= 0 and max(idx) == 100  # clipped at magnitude 10
    never = ClipRandAugment(RandAugmentSpec(magnitude=9, num_ops=3, prob=1e-9))
    video = _still_video()
    assert torch.equal(never(video), video)
    with pytest.raises(ValueError, match="bicubic"):
        ClipRandAugment(RandAugmentSpec(magnitude=9), interpolation="bicubic")


# ---------------------------------------------------------------------------- random erasing
def test_random_erasing_same_box_on_every_frame():
    clip = torch.zeros(5, 3, 32, 32)  # normalised (T, C, H, W)
    for mode in ("pixel", "const"):
        ops = random_erasing(1.0, mode, count=2)
        assert len(ops) == 2
        torch.manual_seed(1)
        out = tv_tensors.Video(clip + 3.0)
        for op in ops:
            out = op(out)
        erased = out != 3.0  # (T, C, H, W)
        assert erased.any()
        assert all(torch.equal(out[0], out[i]) for i in range(1, 5))
        if mode == "const":
            assert (out[erased] == 0).all()
    assert random_erasing(0.0) == []
    for args, needle in [((1.5,), "RE_PROB"), ((0.5, "rand"), "RE_MODE"), ((0.5, "pixel", 0), "RE_COUNT")]:
        with pytest.raises(ValueError, match=needle):
            random_erasing(*args)


# ---------------------------------------------------------------------------- train transform
def _cfg(**aug):
    cfg = get_cfg()
    cfg.DATA.TRAIN_CROP_SIZE = 32
    for k, v in aug.items():
        setattr(cfg.AUG, k, v)
    return cfg


def test_train_transform_with_aug_keeps_frames_consistent():
    cfg = _cfg(ENABLE=True, AA_TYPE="rand-m9-n3-mstd0.5-inc1", RE_PROB=0.5)
    tf = train_transform(cfg)
    names = [type(op).__name__ for op in tf.transform.transforms]
    assert names == ["RandomResizedCrop", "RandomHorizontalFlip", "ClipRandAugment", "ToDtype", "Normalize",
                     "RandomErasing"]
    frames = _still_video(t=4, h=48, w=64).permute(0, 2, 3, 1)  # uint8 (T, H, W, C)
    for seed in range(10):
        torch.manual_seed(seed)
        out = tf(frames)  # (C, T, H, W)
        assert out.shape == (3, 4, 32, 32) and out.dtype == torch.float32
        assert all(torch.equal(out[:, 0], out[:, t]) for t in range(1, 4))
    plain = [type(op).__name__ for op in train_transform(_cfg(ENABLE=False)).transform.transforms]
    assert "ClipRandAugment" not in plain and "RandomErasing" not in plain
    no_ra = [type(op).__name__ for op in train_transform(_cfg(ENABLE=True, AA_TYPE="")).transform.transforms]
    assert "ClipRandAugment" not in no_ra and "RandomErasing" in no_ra


def test_short_side_jitter_scales_the_short_side_into_the_range():
    """Frames 100 x 150 with a horizontal ramp (level = x): after a short-side resize to s, the
    ramp's slope is 100 / s per pixel, so the crop's slope tells s."""
    cfg = _cfg()
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = []
    cfg.DATA.TRAIN_JITTER_SCALES = [40, 60]
    cfg.DATA.RANDOM_FLIP = False
    cfg.DATA.MEAN, cfg.DATA.STD = [0.0] * 3, [1.0] * 3
    tf = train_transform(cfg)
    assert [type(op).__name__ for op in tf.transform.transforms][:2] == ["RandomShortestSize", "RandomCrop"]
    ramp = torch.arange(150, dtype=torch.uint8).view(1, 1, 150, 1).expand(2, 100, 150, 3)
    sides = set()
    for seed in range(40):
        torch.manual_seed(seed)
        row = tf(ramp)[0, 0, 16] * 255  # (W,) levels along x
        slope = (row[-4] - row[3]).item() / (len(row) - 7)
        side = round(100 / slope)
        assert 39 <= side <= 61
        sides.add(side)
    assert len(sides) >= 5  # really jittered
    cfg.DATA.TRAIN_JITTER_SCALES = [24, 60]
    with pytest.raises(ValueError, match="TRAIN_JITTER_SCALES"):
        train_transform(cfg)


# ---------------------------------------------------------------------------- mixup / cutmix
def _label_clips(labels, t=2, size=16):
    """Clips whose every pixel equals their label: (B, 3, T, size, size)."""
    return labels.float().view(-1, 1, 1, 1, 1).expand(-1, 3, t, size, size).clone()


def test_mixup_targets_match_the_pixel_mix():
    torch.manual_seed(0)
    m = MixupCutmix(num_classes=4, mixup_alpha=0.8, cutmix_alpha=0.0, label_smoothing=0.0)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    clips, targets, hard = m(_label_clips(labels), labels)
    assert torch.allclose(targets.sum(1), torch.ones(6))
    # Each mixed clip is lam * a + (1 - lam) * b, and its targets put lam on a and 1 - lam on b.
    expected_pixel = (targets * torch.arange(4.0)).sum(1)
    assert torch.allclose(clips.flatten(1).mean(1), expected_pixel, atol=1e-5)
    assert torch.equal(targets.argmax(1)[targets.max(1).values > 0.5], hard[targets.max(1).values > 0.5])


def test_cutmix_box_is_the_same_on_every_frame_and_weights_follow_the_area():
    torch.manual_seed(3)
    m = MixupCutmix(num_classes=8, mixup_alpha=0.0, cutmix_alpha=1.0, label_smoothing=0.0)
    labels = torch.arange(8)
    clips, targets, hard = m(_label_clips(labels, t=3), labels)
    for b in range(8):
        frames = clips[b, 0]  # (T, H, W)
        assert all(torch.equal(frames[0], frames[t]) for t in range(1, 3))
        own = (frames[0] == hard[b]).float().mean()  # fraction of the clip that is still its own
        assert torch.isclose(targets[b, hard[b]], own, atol=1e-6)


def test_no_mix_gives_smoothed_one_hot_and_errors():
    m = MixupCutmix(num_classes=5, prob=0.0, label_smoothing=0.1)
    labels = torch.tensor([4, 2, 0])
    clips, targets, hard = m(_label_clips(labels), labels)
    assert torch.allclose(targets, smooth_one_hot(hard, 5, 0.1))
    assert torch.allclose(targets.max(1).values, torch.full((3,), 0.92))
    assert torch.equal(clips[:, 0, 0, 0, 0].long(), hard)  # permuted together
    with pytest.raises(ValueError, match="not both 0"):
        MixupCutmix(5, 0.0, 0.0)
    with pytest.raises(ValueError, match="MIXUP.PROB"):
        MixupCutmix(5, prob=2.0)
    with pytest.raises(ValueError, match=r"\(B, C, T, H, W\)"):
        m(torch.zeros(3, 3, 4, 4), labels)
    cfg = get_cfg()
    assert build_mixup(cfg) is None
    cfg.MIXUP.ENABLE = True
    assert isinstance(build_mixup(cfg), MixupCutmix)


class _MeanModel(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.fc = nn.Linear(3, k)

    def forward(self, x):  # (B, C, T, H, W) -> (B, K)
        return self.fc(x.mean(dim=(2, 3, 4)))


def test_task_loss_is_soft_target_cross_entropy_with_mixup():
    cfg = get_cfg()
    cfg.MODEL.NUM_CLASSES = 4
    cfg.MIXUP.ENABLE = True
    task = ClassificationTask(cfg)
    model = _MeanModel(4)
    batch = {"clip": torch.randn(6, 3, 2, 8, 8), "label": torch.tensor([0, 1, 2, 3, 0, 1])}
    torch.manual_seed(5)
    loss, counts = task.training_loss(model, batch, torch.device("cpu"))
    torch.manual_seed(5)
    clips, targets, labels = task.mixup(batch["clip"], batch["label"])
    assert torch.allclose(loss, F.cross_entropy(model(clips), targets))
    assert counts["count"] == 6 and counts["top1_correct"] == (model(clips).argmax(1) == labels).sum()
    loss.backward()
    assert model.fc.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------------- repeated augmentation
def test_num_sample_decodes_once_and_collate_flattens(tiny_cfg, make_video, tmp_path, read_frame_ids, monkeypatch):
    from hiera_video.data import kinetics as K

    for i in range(2):
        make_video(tmp_path / f"v{i}.avi", num_frames=40)
    (tmp_path / "train.csv").write_text("v0.avi 3\nv1.avi 5\n")
    cfg = tiny_cfg
    cfg.DATA.PATH_TO_DATA_DIR = cfg.DATA.PATH_PREFIX = str(tmp_path)
    cfg.DATA.MEAN, cfg.DATA.STD = [0.0] * 3, [1.0] * 3
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.3, 0.6]
    cfg.AUG.NUM_SAMPLE = 3
    calls = []
    real = K.decode_clips
    monkeypatch.setattr(K, "decode_clips", lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    ds = Kinetics(cfg, "train")
    torch.manual_seed(0)
    item = ds[0]
    assert item["clip"].shape == (3, 3, 4, 32, 32) and len(calls) == 1
    ids = [read_frame_ids(c.permute(1, 2, 3, 0) * 255.0) for c in item["clip"]]
    assert ids[0] == ids[1] == ids[2]  # one temporal window, decoded once
    assert not torch.equal(item["clip"][0], item["clip"][1])  # augmented independently
    batch = collate_train([item, ds[1]])
    assert batch["clip"].shape == (6, 3, 4, 32, 32)
    assert batch["label"].tolist() == [3, 3, 3, 5, 5, 5] and batch["index"].tolist() == [0, 0, 0, 1, 1, 1]
    cfg.AUG.NUM_SAMPLE = 0
    with pytest.raises(ValueError, match="NUM_SAMPLE"):
        Kinetics(cfg, "train")


def test_temporal_crops_and_unlabelled_lists(tiny_cfg, make_video, tmp_path, read_frame_ids, monkeypatch):
    """DATA.TRAIN_CROP_NUM_TEMPORAL K: K random windows from one decode, each augmented NUM_SAMPLE times;
    require_labels=False reads lists of bare paths (label -1)."""
    from hiera_video.data import kinetics as K
    from hiera_video.data.lists import ListFormatError

    make_video(tmp_path / "v0.avi", num_frames=120)
    (tmp_path / "train.csv").write_text("v0.avi\n")
    cfg = tiny_cfg
    cfg.DATA.PATH_TO_DATA_DIR = cfg.DATA.PATH_PREFIX = str(tmp_path)
    cfg.DATA.MEAN, cfg.DATA.STD = [0.0] * 3, [1.0] * 3
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [1.0, 1.0]
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [4 / 3, 4 / 3]
    cfg.DATA.TRAIN_CROP_NUM_TEMPORAL, cfg.AUG.NUM_SAMPLE = 4, 2
    with pytest.raises(ListFormatError, match="missing label"):
        Kinetics(cfg, "train")
    calls = []
    real = K.decode_clips
    monkeypatch.setattr(K, "decode_clips", lambda *a, **kw: calls.append(a[0]) or real(*a, **kw))
    ds = Kinetics(cfg, "train", require_labels=False)
    torch.manual_seed(0)
    item = ds[0]
    assert item["label"] == -1 and item["clip"].shape == (8, 3, 4, 32, 32) and len(calls) == 1
    ids = [read_frame_ids(c.permute(1, 2, 3, 0) * 255.0) for c in item["clip"]]
    assert all(ids[2 * k] == ids[2 * k + 1] for k in range(4))  # N samples of one window share its frames
    assert len({tuple(i) for i in ids}) > 1  # the windows are drawn independently
    cfg.DATA.TRAIN_CROP_NUM_TEMPORAL = 0
    with pytest.raises(ValueError, match="TRAIN_CROP_NUM_TEMPORAL"):
        Kinetics(cfg, "train", require_labels=False)
