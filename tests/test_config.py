"""Config loading: _BASE_ inheritance, overrides, and unknown keys named with the closest valid key."""

import glob
import os

import pytest

from hiera_video.config import ConfigKeyError, all_keys, get_cfg, load_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_have_pyslowfast_keys():
    keys = set(all_keys(get_cfg()))
    for key in [
        "TRAIN.ENABLE", "TRAIN.BATCH_SIZE", "TEST.ENABLE", "TEST.BATCH_SIZE", "TEST.NUM_ENSEMBLE_VIEWS",
        "TEST.NUM_SPATIAL_CROPS", "TEST.CHECKPOINT_FILE_PATH", "SOLVER.BASE_LR", "SOLVER.MAX_EPOCH",
        "DATA.PATH_TO_DATA_DIR", "DATA.PATH_PREFIX", "DATA.NUM_FRAMES", "DATA.SAMPLING_RATE", "DATA.TARGET_FPS",
        "DATA.TRAIN_CROP_SIZE", "DATA.TEST_CROP_SIZE", "DATA.DECODING_BACKEND", "DATA_LOADER.NUM_WORKERS",
        "MODEL.ARCH", "MODEL.NUM_CLASSES", "NUM_GPUS", "OUTPUT_DIR", "RNG_SEED", "TRAIN.AUTO_RESUME",
        "DATA.MAX_BAD_FRACTION",
    ]:
        assert key in keys


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "**", "*.yaml"), recursive=True)))
def test_every_shipped_config_loads(path):
    from hiera_video.models import list_models

    cfg = load_config(path)
    assert cfg.MODEL.ARCH in list_models()
    # MAE configs pretrain (TASK mae, mae_* models); every other runnable config classifies with a classifier
    if os.sep + "base" + os.sep not in path:  # base files are only composed, they leave MODEL.ARCH to the leaves
        assert cfg.MODEL.ARCH.startswith("mae_") == (cfg.TASK == "mae")


@pytest.mark.parametrize("dataset,classes", [("k400", 400), ("k600", 600), ("k700", 700)])
@pytest.mark.parametrize("size,arch", [("b", "base"), ("b_plus", "base_plus"), ("l", "large"), ("h", "huge")])
def test_kinetics_configs_follow_the_official_template(dataset, classes, size, arch):
    cfg = load_config(os.path.join(ROOT, "configs", dataset, f"hiera_{size}.yaml"))
    assert cfg.MODEL.ARCH == f"hiera_{arch}_16x224"
    assert cfg.MODEL.NUM_CLASSES == classes
    assert (cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE, cfg.DATA.TARGET_FPS) == (16, 4, 30)
    assert cfg.DATA.TRAIN_CROP_SIZE == cfg.DATA.TEST_CROP_SIZE == 224
    assert (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS) == (5, 3)


def test_base_inheritance_and_overrides(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("TRAIN:\n  BATCH_SIZE: 32\nSOLVER:\n  BASE_LR: 0.5\n")
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: base.yaml\nSOLVER:\n  BASE_LR: 0.25\n")
    cfg = load_config(str(child), ["SOLVER.MAX_EPOCH", "3", "DATA.MEAN", "[0.5, 0.5, 0.5]"])
    assert cfg.TRAIN.BATCH_SIZE == 32  # from the base
    assert cfg.SOLVER.BASE_LR == 0.25  # child wins over base
    assert cfg.SOLVER.MAX_EPOCH == 3  # override wins over files
    assert cfg.DATA.MEAN == [0.5, 0.5, 0.5]


def test_unknown_override_names_closest_key():
    with pytest.raises(ConfigKeyError, match=r"TRAIN\.BATCH_SIZE") as info:
        load_config(None, ["TRAIN.BATCHSIZE", "4"])
    assert "TRAIN.BATCHSIZE" in str(info.value)


def test_unknown_file_key_names_closest_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("DATA:\n  NUM_FRAME: 8\n")
    with pytest.raises(ConfigKeyError, match=r"DATA\.NUM_FRAMES") as info:
        load_config(str(bad))
    assert str(bad) in str(info.value)


def test_odd_override_list_is_rejected():
    with pytest.raises(ValueError, match="KEY VALUE"):
        load_config(None, ["TRAIN.BATCH_SIZE"])


def test_wrong_value_type_is_rejected():
    with pytest.raises(ValueError):
        load_config(None, ["TRAIN.BATCH_SIZE", "'eight'"])


@pytest.mark.parametrize("size,arch", [("b", "base"), ("b_plus", "base_plus"), ("l", "large"), ("h", "huge")])
def test_ssv2_configs(size, arch):
    cfg = load_config(os.path.join(ROOT, "configs", "ssv2", f"hiera_{size}.yaml"))
    assert cfg.MODEL.ARCH == f"hiera_{arch}_16x224" and cfg.MODEL.NUM_CLASSES == 174
    assert cfg.TRAIN.DATASET == cfg.TEST.DATASET == "ssv2"
    assert (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS) == (1, 3)
    assert cfg.DATA.RANDOM_FLIP is False
