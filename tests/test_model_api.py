"""timm-style model API, pretrained configs, Hub folders / ids and the one weights reader.

No test touches the network: official Hub folders are written by the official package's ``save_pretrained``,
``hf-hub:`` ids resolve from a pre-filled offline cache, and URL downloads are monkeypatched.
"""

import json
import math
import os
import warnings

import pytest
import torch

from helpers import randomise_
from hiera_video.models import (
    CheckpointError,
    CheckpointMismatchError,
    create_model,
    model_config,
    read_checkpoint,
    read_weights,
)
from hiera_video.models.pretrained import PRETRAINED_TAGS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # timm deprecation warnings raised inside the official package
    import hiera as official_hiera

NAME, SMALL = "hiera_tiny_16x224", (8, 64, 64)


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    assert math.isfinite(scale) and scale > 0
    assert (actual - expected).abs().max().item() <= rel * scale


@pytest.fixture(scope="module")
def official_folder(tmp_path_factory):
    """An official model (every parameter randomised) written by the official ``save_pretrained``."""
    torch.manual_seed(0)
    official = official_hiera.Hiera(**model_config(NAME, input_size=SMALL, num_classes=7))
    randomise_(official)
    folder = tmp_path_factory.mktemp("hub") / "official"
    official.save_pretrained(str(folder))
    x = torch.randn(2, 3, *SMALL)
    with torch.no_grad():
        logits = official.train()(x)  # train mode: logits (eval applies softmax); drop path is 0
    return folder, x, logits


# --------------------------------------------------------------------------------------------- model API


def test_forward_is_head_of_features_and_intermediates_are_stage_maps():
    torch.manual_seed(0)
    model = create_model(NAME, num_classes=5, input_size=SMALL).eval()
    x = torch.randn(2, 3, *SMALL)
    tokens = model.forward_features(x)
    assert tokens.shape == (2, 4 * 2 * 2, 768)
    assert torch.equal(model(x), model.forward_head(tokens))
    pooled = model.forward_head(tokens, pre_logits=True)
    assert pooled.shape == (2, model.num_features)
    torch.testing.assert_close(model.head(pooled), model(x))
    final, maps = model.forward_intermediates(x)
    assert torch.equal(final, tokens)
    assert [tuple(m.shape) for m in maps] == [(2, 96, 4, 16, 16), (2, 192, 4, 8, 8), (2, 384, 4, 4, 4), (2, 768, 4, 2, 2)]
    for info, m, side in zip(model.feature_info, maps, (16, 8, 4, 2)):
        assert info["num_chs"] == m.shape[1] and info["reduction"] == SMALL[1] // side
        assert info["stride"] == (2, info["reduction"], info["reduction"])
    # the last map is the final tokens in spatial order, channels first
    torch.testing.assert_close(maps[-1].flatten(2).transpose(1, 2), tokens)
    last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
    assert all(torch.equal(a, b) for a, b in zip(last_two, maps[2:]))
    calls = []
    model.blocks[-1].register_forward_hook(lambda *a: calls.append(1))
    early, first = model.forward_intermediates(x, indices=[0], stop_early=True)
    assert calls == [] and torch.equal(first[0], maps[0]) and early.shape == (2, 16 * 16 * 4, 96)
    for bad in (0, 5, [4], [-5]):
        with pytest.raises(ValueError, match="indices"):
            model.forward_intermediates(x, indices=bad)


def test_image_model_intermediates_are_2d():
    model = create_model("hiera_tiny_224", input_size=(64, 64)).eval()
    maps = model.forward_intermediates(torch.randn(1, 3, 64, 64), intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(1, 96, 16, 16), (1, 192, 8, 8), (1, 384, 4, 4), (1, 768, 2, 2)]
    assert [i["stride"] for i in model.feature_info] == [(4, 4), (8, 8), (16, 16), (32, 32)]


def test_reset_classifier_and_grad_checkpointing():
    model = create_model(NAME, num_classes=5, input_size=SMALL).eval()
    x = torch.randn(1, 3, *SMALL)
    model.reset_classifier(3)
    assert model(x).shape == (1, 3) and model.num_classes == 3 and model.config["num_classes"] == 3
    assert model.head.projection.weight.abs().max() < 0.01  # official head_init_scale 0.001
    model.reset_classifier(0)
    assert model(x).shape == (1, model.num_features)
    assert not model.grad_checkpointing
    model.set_grad_checkpointing()
    assert model.grad_checkpointing
    model.set_grad_checkpointing(False)
    assert not model.grad_checkpointing
    assert model.no_weight_decay() == {"pos_embed_spatial", "pos_embed_temporal"}


def test_create_model_is_keyword_only_and_tags_are_checked(monkeypatch):
    with pytest.raises(TypeError):
        create_model("hiera_base_16x224", True)  # timm users: this used to build a 1-class head silently
    with pytest.raises(ValueError, match="no pretrained tag 'nope'.*mae_k400_ft_k400"):
        create_model("hiera_base_16x224", pretrained="nope")
    with pytest.raises(ValueError, match="no official checkpoint"):
        create_model(NAME, pretrained=True)
    with pytest.raises(ValueError, match="not both"):
        create_model("hiera_base_16x224", pretrained=True, checkpoint="x.pth")


def test_pretrained_tags_load_official_urls_with_class_names(monkeypatch):
    calls = []
    k400 = create_model("hiera_base_16x224", input_size=SMALL).state_dict()
    mae = create_model("mae_hiera_base_16x224", input_size=SMALL).state_dict()

    def fake_hub(url, **kw):
        calls.append(url)
        return {"model_state": mae if "/mae_" in url else k400}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    model = create_model("hiera_base_16x224", pretrained=True, input_size=SMALL)
    cfg = model.pretrained_cfg
    assert calls == ["https://dl.fbaipublicfiles.com/hiera/hiera_base_16x224.pth"]
    assert cfg["tag"] == "mae_k400_ft_k400" and cfg["hf_hub_id"] == "facebook/hiera_base_16x224.mae_k400_ft_k400"
    assert cfg["license"] == "cc-by-nc-4.0" and cfg["num_classes"] == 400 and cfg["sampling_rate"] == 4
    assert cfg["mean"] == (0.45,) * 3 and cfg["std"] == (0.225,) * 3 and cfg["fps"] == 30
    names = cfg["label_names"]
    assert len(names) == 400 and names == sorted(names) and names[:2] == ["abseiling", "air drumming"]
    # the MAE tag: encoder weights into the classifier (decoder dropped), fresh head, no class names
    model = create_model("hiera_base_16x224", pretrained="mae_k400", input_size=SMALL, num_classes=10)
    assert calls[-1] == "https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_16x224.pth"
    assert model.pretrained_cfg["label_names"] is None and model.num_classes == 10
    assert create_model("mae_hiera_base_16x224", pretrained=True, input_size=SMALL).pretrained_cfg["tag"] == "mae_k400"
    image = PRETRAINED_TAGS["hiera_tiny_224"]
    assert list(image) == ["mae_in1k_ft_in1k", "mae_in1k"]


# ------------------------------------------------------------------------------------ Hub folders and ids


def test_official_save_pretrained_folder_loads_with_equal_logits(official_folder):
    folder, x, logits = official_folder
    assert sorted(p for p in os.listdir(folder) if p != "README.md") == ["config.json", "model.safetensors"]
    model = create_model(NAME, input_size=SMALL, checkpoint=str(folder)).eval()
    assert model.num_classes == 7  # from the weights
    with torch.no_grad():
        assert_rel_close(model(x), logits)
    # the bare .safetensors file too (safetensors has no pickle at all)
    bare = create_model(NAME, input_size=SMALL, checkpoint=str(folder / "model.safetensors")).eval()
    with torch.no_grad():
        assert torch.equal(bare(x), model(x))


def test_ours_to_official_round_trip(tmp_path, official_folder):
    _, x, _ = official_folder
    torch.manual_seed(1)
    ours = create_model(NAME, input_size=SMALL, num_classes=4)
    randomise_(ours)
    ours.eval()
    folder = ours.save_pretrained(str(tmp_path / "ours"))
    config = json.load(open(os.path.join(folder, "config.json")))
    assert config["num_classes"] == 4 and config["input_size"] == list(SMALL) and config["embed_dim"] == 96
    official = official_hiera.Hiera.from_pretrained(folder).train()
    with torch.no_grad():
        assert_rel_close(official(x), ours(x))
    back = create_model(NAME, input_size=SMALL, checkpoint=folder).eval()
    with torch.no_grad():
        assert torch.equal(back(x), ours(x))
    mae = create_model("mae_hiera_tiny_16x224", input_size=SMALL)
    mae_folder = mae.save_pretrained(str(tmp_path / "mae"))
    assert "mask_ratio" not in json.load(open(os.path.join(mae_folder, "config.json")))  # official args only
    official_hiera.MaskedAutoencoderHiera.from_pretrained(mae_folder)


def _fill_hub_cache(cache, repo_id: str, folder) -> None:
    """The layout huggingface_hub's cache has after a download: refs/main -> snapshots/<commit>/files."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snap / name).write_bytes((folder / name).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_hf_hub_id_resolves_from_the_offline_cache(tmp_path, monkeypatch, official_folder):
    folder, x, logits = official_folder
    cache = tmp_path / "hf"
    _fill_hub_cache(cache, "facebook/hiera_tiny_16x224.test", folder)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = create_model(NAME, input_size=SMALL, checkpoint="hf-hub:facebook/hiera_tiny_16x224.test").eval()
    assert model.pretrained_cfg["hf_hub_id"] == "facebook/hiera_tiny_16x224.test"
    with torch.no_grad():
        assert_rel_close(model(x), logits)
    with pytest.raises(CheckpointError, match=r"hf-hub:facebook/absent: not found in the local Hub cache"):
        read_weights("hf-hub:facebook/absent")
    with pytest.raises(CheckpointError, match="expected hf-hub:ORG/NAME"):
        read_weights("hf-hub:no-org")


def test_config_json_of_another_architecture_is_named(tmp_path, official_folder):
    folder, _, _ = official_folder
    with pytest.raises(CheckpointMismatchError, match=r"config.json describes another architecture.*stages"):
        create_model("hiera_small_16x224", input_size=SMALL, checkpoint=str(folder))


# ------------------------------------------------------------------------------------ the weights reader


def test_every_failure_is_one_checkpoint_error_line_naming_the_file(tmp_path):
    empty = tmp_path / "empty.pyth"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.pth"
    noise.write_bytes(os.urandom(4096))
    fake_st = tmp_path / "fake.safetensors"
    fake_st.write_bytes(b"not really")
    truncated = tmp_path / "cut.pth"
    torch.save({"model": create_model(NAME, input_size=SMALL).state_dict()}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    cases = {empty: "empty file", noise: "", fake_st: "", truncated: "truncated or damaged",
             folder: "a folder without model.safetensors", tmp_path / "missing.pth": "no such file"}
    for path, reason in cases.items():
        with pytest.raises(CheckpointError) as info:
            read_checkpoint(str(path))
        message = str(info.value)
        assert message.startswith(str(path)) and reason in message and "\n" not in message
        assert "weights_only=False" not in message


def test_training_checkpoint_meta_names_classes(tmp_path):
    model = create_model(NAME, input_size=SMALL, num_classes=3)
    meta = {"class_names": ["a", "b", "c"], "data": {"num_frames": 8, "sampling_rate": 2, "mean": [0.5] * 3}}
    path = tmp_path / "checkpoint_epoch_00001.pyth"
    torch.save({"model": {"module." + k: v for k, v in model.state_dict().items()},
                "epoch": 1, "meta": meta}, path)
    weights = read_weights(str(path))
    assert weights.meta == meta and all(not k.startswith("module.") for k in weights.state_dict)
    loaded = create_model(NAME, input_size=SMALL, checkpoint=str(path))
    assert loaded.pretrained_cfg["label_names"] == ["a", "b", "c"]
    assert loaded.pretrained_cfg["sampling_rate"] == 2 and loaded.pretrained_cfg["mean"] == [0.5] * 3
