"""Checkpoint loading: container formats, prefixes, head reset, pos-embed interpolation, MAE keys, errors, URLs."""

import logging

import pytest
import torch
import torch.nn.functional as F

from hiera_video.models import CheckpointError, CheckpointMismatchError, create_model, load_pretrained
from hiera_video.models.registry import OFFICIAL_CHECKPOINTS

NAME, SMALL = "hiera_tiny_16x224", (8, 64, 64)


def random_state(num_classes: int = 400, input_size=SMALL, seed: int = 0) -> dict:
    """State dict of a model whose every parameter differs from a fresh init."""
    torch.manual_seed(seed)
    model = create_model(NAME, num_classes=num_classes, input_size=input_size)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_weights_equal(model: torch.nn.Module, state: dict, skip=()) -> None:
    loaded = model.state_dict()
    assert set(loaded) == set(state) | set(skip)
    for key, value in state.items():
        if key not in skip:
            assert torch.equal(loaded[key], value), key


@pytest.fixture(scope="module")
def state():
    return random_state()


@pytest.mark.parametrize("wrap", ["official", "plain", "training", "ddp", "ddp_training"])
def test_load_formats(tmp_path, state, wrap):
    prefixed = {f"module.{k}": v for k, v in state.items()}
    payload = {
        "official": {"model_state": state},
        "plain": state,
        "training": {"model": state, "epoch": 3, "optimizer": {"lr": 0.1}},
        "ddp": prefixed,
        "ddp_training": {"model": prefixed, "epoch": 3},
    }[wrap]
    path = tmp_path / "ckpt.pth"
    torch.save(payload, path)
    model = create_model(NAME, input_size=SMALL)
    report = load_pretrained(model, str(path))
    assert report == {"reset": [], "interpolated": [], "dropped": []}
    assert_weights_equal(model, state)
    model2 = create_model(NAME, input_size=SMALL, checkpoint=str(path))
    assert_weights_equal(model2, state)


def test_create_model_takes_head_size_from_checkpoint(tmp_path):
    state = random_state(num_classes=7)
    path = tmp_path / "seven.pth"
    torch.save({"model_state": state}, path)
    model = create_model(NAME, input_size=SMALL, checkpoint=str(path))
    assert model.head.projection.out_features == 7
    assert_weights_equal(model, state)
    assert create_model(NAME, input_size=SMALL, checkpoint=state).head.projection.out_features == 7  # in memory


def test_other_num_classes_resets_head_and_logs(tmp_path, state, caplog):
    path = tmp_path / "k400.pth"
    torch.save({"model_state": state}, path)
    head_keys = ["head.projection.weight", "head.projection.bias"]
    with caplog.at_level(logging.INFO, logger="hiera_video.models"):
        model = create_model(NAME, num_classes=10, input_size=SMALL, checkpoint=str(path))
    assert model.head.projection.out_features == 10
    assert_weights_equal(model, {k: v for k, v in state.items() if k not in head_keys}, skip=head_keys)
    assert torch.allclose(model.head.projection.bias, torch.full((10,), 0.02 * 0.001))  # fresh head
    records = [r for r in caplog.records if r.name == "hiera_video.models"]
    assert any("head.projection.weight" in r.getMessage() and "head.projection.bias" in r.getMessage()
               for r in records)
    fresh = create_model(NAME, num_classes=10, input_size=SMALL)
    report = load_pretrained(fresh, str(path))
    assert report["reset"] == head_keys and report["dropped"] == head_keys


def test_pos_embed_interpolation_16x224_to_small(tmp_path, caplog):
    big = random_state(input_size=(16, 224, 224), seed=1)
    path = tmp_path / "big.pth"
    torch.save({"model_state": big}, path)
    model = create_model(NAME, input_size=SMALL)
    with caplog.at_level(logging.INFO, logger="hiera_video.models"):
        report = load_pretrained(model, str(path))
    assert report["interpolated"] == ["pos_embed_spatial", "pos_embed_temporal"]
    assert "pos_embed_spatial" in caplog.text and "pos_embed_temporal" in caplog.text

    spatial = big["pos_embed_spatial"]  # [1, 56*56, 96]
    grid = spatial.reshape(1, 56, 56, 96).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(16, 16), mode="bicubic", align_corners=False)
    expected = expected.permute(0, 2, 3, 1).reshape(1, 256, 96)
    torch.testing.assert_close(model.pos_embed_spatial.data, expected, rtol=0, atol=0)
    temporal = big["pos_embed_temporal"]  # [1, 8, 96]
    expected_t = F.interpolate(temporal.transpose(1, 2), size=4, mode="linear", align_corners=False).transpose(1, 2)
    torch.testing.assert_close(model.pos_embed_temporal.data, expected_t, rtol=0, atol=0)
    others = {k: v for k, v in big.items() if not k.startswith("pos_embed")}
    assert_weights_equal(model, others, skip=["pos_embed_spatial", "pos_embed_temporal"])
    with torch.no_grad():
        assert model(torch.randn(1, 3, *SMALL)).shape == (1, 400)


def test_joint_pos_embed_interpolation_for_image_model():
    source = create_model("hiera_tiny_224", num_classes=5)
    with torch.no_grad():
        source.pos_embed.normal_()
    state = source.state_dict()
    model = create_model("hiera_tiny_224", input_size=(128, 128), num_classes=5)
    assert load_pretrained(model, state)["interpolated"] == ["pos_embed"]
    grid = state["pos_embed"].reshape(1, 56, 56, 96).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(32, 32), mode="bicubic", align_corners=False)
    torch.testing.assert_close(model.pos_embed.data, expected.permute(0, 2, 3, 1).reshape(1, 1024, 96))


def test_mae_checkpoint_drops_decoder_keys_and_keeps_fresh_head(state, caplog):
    mae = {k: v for k, v in state.items() if not k.startswith(("head.", "norm."))}
    mae.update({
        "mask_token": torch.zeros(1, 1, 512),
        "decoder_pos_embed": torch.zeros(1, 196, 512),
        "decoder_blocks.0.norm1.weight": torch.ones(512),
        "encoder_norm.weight": torch.ones(768),
        "multi_scale_fusion_heads.0.weight": torch.zeros(768, 96, 1, 4, 4),
    })
    model = create_model(NAME, input_size=SMALL)
    with caplog.at_level(logging.INFO, logger="hiera_video.models"):
        report = load_pretrained(model, {"model_state": mae})
    assert report["dropped"] == sorted(
        ["mask_token", "decoder_pos_embed", "decoder_blocks.0.norm1.weight", "encoder_norm.weight",
         "multi_scale_fusion_heads.0.weight"])
    assert sorted(report["reset"]) == ["head.projection.bias", "head.projection.weight", "norm.bias", "norm.weight"]
    assert "decoder_pos_embed" in caplog.text and "mask_token" in caplog.text
    assert torch.equal(model.blocks[0].attn.qkv.weight, state["blocks.0.attn.qkv.weight"])


def test_unexpected_missing_and_misshapen_keys_raise(state):
    model = create_model(NAME, input_size=SMALL)
    with pytest.raises(CheckpointMismatchError, match="blocks.99.attn.qkv.weight"):
        load_pretrained(model, {**state, "blocks.99.attn.qkv.weight": torch.zeros(1)})
    missing = {k: v for k, v in state.items() if k != "blocks.1.mlp.fc2.bias"}
    with pytest.raises(CheckpointMismatchError, match=r"missing keys.*blocks\.1\.mlp\.fc2\.bias"):
        load_pretrained(model, missing)
    with pytest.raises(CheckpointMismatchError, match="blocks.0.norm1.weight"):
        load_pretrained(model, {**state, "blocks.0.norm1.weight": torch.ones(5)})
    with pytest.raises(CheckpointMismatchError, match="norm.weight"):  # plain checkpoint without final norm
        load_pretrained(model, {k: v for k, v in state.items() if k != "norm.weight"})
    with pytest.raises(CheckpointMismatchError, match="no state dict"):
        load_pretrained(model, {"epoch": 3, "model_name": "x"})
    assert issubclass(CheckpointMismatchError, RuntimeError)


class NotATensor:
    pass


def test_local_files_load_with_weights_only(tmp_path, state):
    path = tmp_path / "evil.pth"
    torch.save({"model": state, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused: .*NotATensor") as info:
        load_pretrained(create_model(NAME, input_size=SMALL), str(path))
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)  # one line, no unsafe advice


def test_url_goes_through_torch_hub_with_weights_only(monkeypatch, state):
    calls = []

    def fake_hub(url, **kwargs):
        calls.append((url, kwargs))
        return {"model_state": state}

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_hub)
    url = "https://example.com/weights/hiera_tiny.pth"
    model = create_model(NAME, input_size=SMALL, checkpoint=url)
    assert_weights_equal(model, state)
    assert calls == [(url, {"map_location": "cpu", "weights_only": True})]

    calls.clear()  # "official" resolves to the registered URL (here into a reduced-size base model)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda url, **kw: calls.append((url, kw)) or {"model_state": random_state()})
    with pytest.raises(CheckpointMismatchError):  # tiny weights do not fit base: proves the file was read
        create_model("hiera_base_16x224", input_size=SMALL, checkpoint="official")
    assert calls[0] == (OFFICIAL_CHECKPOINTS["hiera_base_16x224"], {"map_location": "cpu", "weights_only": True})
    with pytest.raises(ValueError, match="no official checkpoint"):
        create_model(NAME, checkpoint="official")
