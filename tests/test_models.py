"""Hiera model tests: numerical parity with the official implementation, shapes, sizes and the public API.

The official package (pip ``hiera-transformer``, module ``hiera``) is a test-only dependency. Parity tests
randomise *every* official parameter (init values such as LayerNorm weight 1 / bias 0.02 or a 0.001-scaled head
would hide mistakes), copy the weights into our model with strict loading and compare outputs.
"""

import math
import warnings

import pytest
import torch

from helpers import randomise_
from hiera_video.models import Hiera, create_model, list_models, model_config
from hiera_video.models.layout import Reroll, Unroll, undo_windowing
from hiera_video.models.registry import OFFICIAL_CHECKPOINTS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # timm deprecation warnings raised inside the official package
    import hiera as official_hiera
    from hiera import hiera_utils as official_utils

VIDEO_NAMES = ["hiera_base_16x224", "hiera_base_plus_16x224", "hiera_large_16x224", "hiera_huge_16x224"]
PAPER_PARAMS_M = [51.1, 69.4, 213.1, 671.6]


def paired(ours: Hiera, official: torch.nn.Module):
    """Randomise the official model, copy it into ours strictly; official in train mode (logits, no drop path)."""
    randomise_(official)
    ours.load_state_dict(official.state_dict(), strict=True)
    return ours.eval(), official.train()


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    assert math.isfinite(scale) and scale > 0
    torch.testing.assert_close(actual, expected, rtol=rel, atol=rel * scale)
    assert (actual - expected).abs().max().item() <= rel * scale


# ------------------------------------------------------------------------------------------------ layout


@pytest.mark.parametrize(
    "input_size, patch_stride, q_stride",
    [((16, 224, 224), (2, 4, 4), (1, 2, 2)), ((8, 64, 64), (2, 4, 4), (1, 2, 2)), ((64, 96), (4, 4), (2, 2))],
)
def test_layout_matches_official(input_size, patch_stride, q_stride):
    schedule = [q_stride] * 3
    stage_ends, grid = [1, 4, 20, 23], [n // s for n, s in zip(input_size, patch_stride)]
    x = torch.randn(2, math.prod(grid), 3)
    assert torch.equal(Unroll(input_size, patch_stride, schedule)(x),
                       official_utils.Unroll(input_size, patch_stride, schedule)(x))
    for q_pool in (2, 3):
        ours = Reroll(input_size, patch_stride, schedule, stage_ends, q_pool)
        ref = official_utils.Reroll(input_size, patch_stride, schedule, stage_ends, q_pool)
        for block in stage_ends:
            tokens = torch.randn(2, math.prod(ours.schedule[block][1]), 3)
            assert torch.equal(ours(tokens, block), ref(tokens, block))
            assert torch.equal(ours(tokens, block, mask=True), ref(tokens, block, mask=True))
    mu = [2] * len(grid)
    windows = torch.randn(2, math.prod(g // 2 for g in grid), *mu, 3)
    assert torch.equal(undo_windowing(windows, grid, mu), official_utils.undo_windowing(windows, grid, mu))


def test_unroll_reroll_roundtrip_is_identity():
    unroll = Unroll((8, 64, 64), (2, 4, 4), [(1, 2, 2)] * 3)
    reroll = Reroll((8, 64, 64), (2, 4, 4), [(1, 2, 2)] * 3, [0, 1, 2, 3], 3)
    x = torch.arange(4 * 16 * 16, dtype=torch.float32).view(1, 4, 16, 16, 1)
    rolled = unroll(x.reshape(1, -1, 1))
    assert not torch.equal(rolled, x.reshape(1, -1, 1))
    assert torch.equal(reroll(rolled, 0), x)


# ------------------------------------------------------------------------------------------------ parity


@pytest.fixture(scope="module")
def base_outputs():
    """Official ``hiera_base_16x224`` (randomised) and ours on the official input (1, 3, 16, 224, 224)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = official_hiera.hiera_base_16x224(num_classes=400)
    ours, official = paired(create_model("hiera_base_16x224"), official)
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        ref_logits, ref_maps = official(x, return_intermediates=True)
        logits, maps = ours(x), ours.forward_intermediates(x, intermediates_only=True)
    return {"ref": ref_logits, "ref_maps": ref_maps, "logits": logits, "maps": maps}


def test_parity_base_16x224_logits(base_outputs):
    logits, ref = base_outputs["logits"], base_outputs["ref"]
    assert logits.shape == ref.shape == (1, 400)
    assert ref.std() > 0.1  # non-degenerate: a wrong block or order would show
    assert_rel_close(logits, ref)


def test_parity_base_16x224_forward_intermediates(base_outputs):
    maps, ref_maps = base_outputs["maps"], base_outputs["ref_maps"]
    expected = [(1, 96, 8, 56, 56), (1, 192, 8, 28, 28), (1, 384, 8, 14, 14), (1, 768, 8, 7, 7)]
    assert [tuple(m.shape) for m in maps] == expected
    for ours, ref in zip(maps, ref_maps):  # official: [B, T, H, W, C]
        assert_rel_close(ours, ref.permute(0, 4, 1, 2, 3))


@pytest.fixture(scope="module")
def tiny_pair():
    """Our ``hiera_tiny_16x224`` at (8, 64, 64) and ``hiera.Hiera`` with the same arguments."""
    config = model_config("hiera_tiny_16x224", input_size=(8, 64, 64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = official_hiera.Hiera(**config)
    return paired(create_model("hiera_tiny_16x224", input_size=(8, 64, 64)), official)


def test_parity_tiny_video_reduced_input(tiny_pair):
    ours, official = tiny_pair
    x = torch.randn(2, 3, 8, 64, 64)
    with torch.no_grad():
        ref, ref_maps = official(x, return_intermediates=True)
        assert ref.std() > 0.1
        assert_rel_close(ours(x), ref)
        for mine, theirs in zip(ours.forward_intermediates(x, intermediates_only=True), ref_maps):
            assert_rel_close(mine, theirs.permute(0, 4, 1, 2, 3))


def test_parity_masked_forward(tiny_pair):
    ours, official = tiny_pair
    x = torch.randn(2, 3, 8, 64, 64)
    mask = ours.random_mask(2, 0.5)
    assert mask.shape == (2, 4 * 2 * 2) and (mask.sum(1) == 8).all()
    with torch.no_grad():
        ref, ref_maps = official(x, mask=mask, return_intermediates=True)
        tokens = ours(x, mask=mask)
        tokens2, maps = ours.forward_tokens(x, mask=mask, return_intermediates=True)
    assert tokens.shape == ref.shape == (2, 8, 768)
    assert_rel_close(tokens, ref)
    assert torch.equal(tokens, tokens2)
    for mine, theirs in zip(maps, ref_maps):
        assert mine.shape == theirs.shape
        assert_rel_close(mine, theirs)


def test_parity_image_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = official_hiera.hiera_tiny_224()
    ours, official = paired(create_model("hiera_tiny_224"), official)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        ref, ref_maps = official(x, return_intermediates=True)
        assert ref.shape == (1, 1000) and ref.std() > 0.1
        assert_rel_close(ours(x), ref)
        maps = ours.forward_intermediates(x, intermediates_only=True)
    assert [tuple(m.shape) for m in maps] == [(1, 96, 56, 56), (1, 192, 28, 28), (1, 384, 14, 14), (1, 768, 7, 7)]
    for mine, theirs in zip(maps, ref_maps):
        assert_rel_close(mine, theirs.permute(0, 3, 1, 2))


def test_parity_check_detects_a_wrong_architecture(tiny_pair):
    """Negative control: dropping the lag-by-one rule (global attention one block early) changes the output,
    and the official eval output is a softmax whereas ours stays logits."""
    ours, official = tiny_pair
    wrong = create_model("hiera_tiny_16x224", input_size=(8, 64, 64))
    wrong.load_state_dict(ours.state_dict())
    wrong.blocks[3].attn.use_mask_unit_attn = False  # first block of stage 3 must still be mask-unit
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        ref, bad = official(x), wrong.eval()(x)
        assert (bad - ref).abs().max() > 1e-3 * ref.abs().max()
        probs = official.eval()(x)
        official.train()
        logits = ours(x)
    torch.testing.assert_close(probs.sum(-1), torch.ones(1))
    torch.testing.assert_close(ours.predict_proba(x), probs, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(logits.sum(-1), torch.ones(1), atol=1e-2)


# -------------------------------------------------------------------------------------- sizes and keys


def _meta_official(name: str):
    """Official model on the meta device; its ``torch.linspace(...).item()`` needs a real tensor."""
    real_linspace = torch.linspace
    torch.linspace = lambda *a, **k: real_linspace(*a, **{**k, "device": "cpu"})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return getattr(official_hiera, name)()
    finally:
        torch.linspace = real_linspace


@pytest.mark.parametrize("name, paper_m", list(zip(VIDEO_NAMES, PAPER_PARAMS_M)))
def test_parameter_counts_and_keys(name, paper_m):
    with torch.device("meta"):
        ours, official = create_model(name), _meta_official(name)
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in official.parameters())
    assert round(count / 1e6, 1) == paper_m
    ours_sd, ref_sd = ours.state_dict(), official.state_dict()
    assert list(ours_sd) == list(ref_sd)  # same keys in the same order
    assert all(ours_sd[k].shape == ref_sd[k].shape for k in ref_sd)


def test_block_structure_follows_official_rules():
    model = create_model("hiera_base_16x224", input_size=(8, 64, 64))
    attn = [b.attn for b in model.blocks]
    assert model.stage_ends == [1, 4, 20, 23]
    assert [i for i, a in enumerate(attn) if a.q_stride > 1] == [2, 5, 21]  # first block of stages 2-4
    assert [i for i, b in enumerate(model.blocks) if hasattr(b, "proj")] == [2, 5, 21]
    # lag by one: block 5 (first of stage 3) still uses mask-unit attention
    assert [a.use_mask_unit_attn for a in attn[:7]] == [True] * 6 + [False]
    assert [a.window_size for a in attn[:6]] == [64, 64, 16, 16, 16, 4]
    assert model.stage_dims == [96, 192, 384, 768]


def test_official_initialisation():
    model = create_model("hiera_tiny_16x224", input_size=(8, 64, 64), num_classes=10)
    ln = model.blocks[0].norm1
    assert ln.eps == 1e-6 and torch.all(ln.weight == 1) and torch.allclose(ln.bias, torch.full_like(ln.bias, 0.02))
    qkv = model.blocks[0].attn.qkv
    assert torch.allclose(qkv.bias, torch.full_like(qkv.bias, 0.02))
    assert abs(model.blocks[5].mlp.fc1.weight.std().item() - 0.02) < 2e-3
    assert abs(model.pos_embed_spatial.std().item() - 0.02) < 3e-3
    head = model.head.projection
    assert torch.allclose(head.bias, torch.full_like(head.bias, 0.02 * 0.001))
    assert abs(head.weight.std().item() - 0.02 * 0.001) < 0.1 * 0.02 * 0.001  # head_init_scale 0.001


# ----------------------------------------------------------------------------------------- API, shapes


@pytest.mark.parametrize("shape", [(1, 3, 8, 128, 128), (2, 3, 8, 64, 64)])
def test_reduced_input_shapes(shape):
    batch, _, t, h, w = shape
    model = create_model("hiera_tiny_16x224", input_size=(t, h, w))
    assert model.pos_embed_spatial.shape == (1, (h // 4) * (w // 4), 96)
    assert model.pos_embed_temporal.shape == (1, t // 2, 96)
    x = torch.randn(shape)
    with torch.no_grad():
        train_logits = model.train()(x)
        logits = model.eval()(x)
        maps = model.forward_intermediates(x, intermediates_only=True)
    assert train_logits.shape == logits.shape == (batch, 400)
    assert not torch.allclose(logits.sum(-1), torch.ones(batch), atol=1e-3)  # logits, not a softmax
    assert (logits < 0).any()
    expected = [(batch, 96 * 2**i, t // 2, h // 4 // 2**i, w // 4 // 2**i) for i in range(4)]
    assert [tuple(m.shape) for m in maps] == expected


@pytest.mark.parametrize("bad, axis", [((8, 100, 100), "H=100"), ((7, 64, 64), "T=7"), ((8, 64, 48), "W=48")])
def test_bad_input_size_raises(bad, axis):
    with pytest.raises(ValueError, match=axis):
        create_model("hiera_base_16x224", input_size=bad)


def test_wrong_input_shape_at_forward_raises():
    model = create_model("hiera_tiny_16x224", input_size=(8, 64, 64))
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(1, 3, 8, 96, 96))
    with pytest.raises(ValueError, match="mask"):
        model(torch.randn(1, 3, 8, 64, 64), mask=torch.ones(1, 5, dtype=torch.bool))


def test_registry_names_and_errors():
    names = list_models()
    for size in ("tiny", "small", "base", "base_plus", "large", "huge"):
        assert f"hiera_{size}_16x224" in names and f"hiera_{size}_224" in names
    assert list_models("*16x224") == sorted(n for n in names if n.endswith("16x224"))
    with pytest.raises(ValueError, match="hiera_base_16x224"):
        create_model("hiera_bse_16x224")
    with pytest.raises(TypeError, match="not_an_arg"):
        create_model("hiera_tiny_16x224", not_an_arg=1)
    from hiera_video.models import registry

    for name, url in OFFICIAL_CHECKPOINTS.items():
        assert url == f"https://dl.fbaipublicfiles.com/hiera/{name}.pth"
        assert url in getattr(registry, name).__doc__


def test_overrides_and_no_weight_decay():
    model = create_model("hiera_tiny_16x224", num_classes=7, input_size=(8, 64, 64),
                         drop_path_rate=0.2, head_dropout=0.5)
    assert model.head.projection.out_features == 7
    assert model.blocks[-1].drop_path.p == pytest.approx(0.2) and isinstance(model.blocks[0].drop_path, torch.nn.Identity)
    assert isinstance(model.head.dropout, torch.nn.Dropout)
    assert model.no_weight_decay() == {"pos_embed_spatial", "pos_embed_temporal"}
    assert create_model("hiera_tiny_224", input_size=(64, 64)).no_weight_decay() == {"pos_embed"}
    assert set(dict(model.named_parameters())) >= model.no_weight_decay()
