"""Hiera MAE tests: parity with the official ``hiera.hiera_mae``, masking, sparsity, loss, target layout, loading.

Parity tests randomise every official parameter (the official init, e.g. zero biases, would hide mistakes), copy
the weights into ours with ``strict=True`` (and back), feed the same input and the same mask, and compare loss,
pred, label, mask and the fused encoder output.
"""

import math
import warnings

import pytest
import torch
import torch.nn.functional as F

from helpers import randomise_
from hiera_video.config import get_cfg
from hiera_video.models import (
    CheckpointMismatchError,
    MaskedAutoencoderHiera,
    create_model,
    list_models,
    load_pretrained,
    model_config,
)
from hiera_video.models.mae import EXTRA_ARGS
from hiera_video.models.registry import OFFICIAL_MAE_CHECKPOINTS

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # timm deprecation warnings raised inside the official package
    from hiera import hiera_mae as official_mae

TINY = "mae_hiera_tiny_16x224"
SMALL = dict(input_size=(8, 64, 64), decoder_depth=2)  # 4 x 2 x 2 = 16 mask units, 4 x 4 x 4 prediction grid
# Behaviour tests: the video template at 8x64x64 with a narrow encoder (widths 16 / 32 / 64 / 128) and decoder.
LITE_ENCODER = dict(input_size=(8, 64, 64), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1))
LITE = dict(LITE_ENCODER, decoder_depth=1, decoder_embed_dim=32, decoder_num_heads=2)


def on_meta(build):
    """Run ``build()`` under ``torch.device("meta")`` (no init cost); the official constructor calls
    ``.item()`` on a ``torch.linspace``, which must stay a real tensor."""
    real_linspace = torch.linspace
    torch.linspace = lambda *a, **k: real_linspace(*a, **{**k, "device": "cpu"})
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # timm deprecation warnings
            return build()
    finally:
        torch.linspace = real_linspace


def paired(name: str, **overrides):
    """(ours, official) with the same random weights, copied strictly in both directions. Both are built on
    the meta device and materialised uninitialised: every parameter is then drawn by ``randomise_``."""
    config = {k: v for k, v in model_config(name, **overrides).items() if k not in EXTRA_ARGS}
    official = on_meta(lambda: official_mae.MaskedAutoencoderHiera(**config)).to_empty(device="cpu")
    randomise_(official)
    ours = on_meta(lambda: create_model(name, **overrides)).to_empty(device="cpu")
    ours.load_state_dict(official.state_dict(), strict=True)
    official.load_state_dict(ours.state_dict(), strict=True)
    assert not any(b.numel() for b in ours.buffers())  # nothing left uninitialised
    return ours, official


def assert_rel_close(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-5) -> None:
    scale = expected.abs().max().item()
    assert math.isfinite(scale) and scale > 0
    assert (actual - expected).abs().max().item() <= rel * scale


def prediction_visible(model: MaskedAutoencoderHiera, mask: torch.Tensor) -> torch.Tensor:
    """Independent reference: ``[B, N]`` True where a prediction token's mask unit is kept (raster order)."""
    keep = mask.view(mask.shape[0], *model.mask_spatial_shape)
    for axis, rep in enumerate(model.mask_unit_spatial_shape_final):
        keep = keep.repeat_interleave(rep, dim=1 + axis)
    return keep.flatten(1)


# ------------------------------------------------------------------------------------------------ parity


PARITY = [
    # the official video model as shipped (16x224, decoder 8 x 512, ratio 0.9: 39 of 392 units kept)
    ("mae_hiera_base_16x224", {}, (1, 3, 16, 224, 224), 0.9),
    (TINY, SMALL, (2, 3, 8, 64, 64), 0.75),
    ("mae_hiera_base_16x224", dict(input_size=(4, 64, 64), decoder_depth=1), (3, 3, 4, 64, 64), 0.5),
    ("mae_hiera_tiny_224", dict(input_size=(128, 128), decoder_depth=2), (2, 3, 128, 128), 0.6),
]


@pytest.mark.parametrize("name, overrides, shape, ratio", PARITY,
                         ids=["base_16x224_full", "tiny_8x64", "base_4x64", "image_128"])
def test_parity_with_official(name, overrides, shape, ratio):
    ours, official = paired(name, **overrides)
    ours.train(), official.train()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    mask = ours.random_mask(shape[0], ratio)
    with torch.no_grad():
        ref_latent, _ = official.forward_encoder(x, ratio, mask=mask)
        latent, _ = ours.forward_encoder(x, ratio, mask=mask)
        ref = official(x, mask_ratio=ratio, mask=mask)
        out = ours(x, mask_ratio=ratio, mask=mask)
    assert ref[1].std() > 0.1 and ref_latent.std() > 0.1  # non-degenerate
    assert latent.shape == ref_latent.shape
    assert_rel_close(latent, ref_latent)
    for mine, theirs in zip(out, ref):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype
    loss, pred, label, mask_out = out
    assert_rel_close(loss, ref[0])
    assert_rel_close(pred, ref[1])
    assert torch.equal(label, ref[2]) and torch.equal(mask_out, ref[3]) and torch.equal(mask_out, mask)


@pytest.fixture(scope="module")
def tiny_pair():
    return paired(TINY, **SMALL)


def test_same_seed_draws_the_official_mask(tiny_pair):
    ours, official = tiny_pair
    x = torch.randn(4, 3, 8, 64, 64)
    with torch.no_grad():
        torch.manual_seed(7)
        ref = official(x, mask_ratio=0.5)
        torch.manual_seed(7)
        out = ours(x, mask_ratio=0.5)
    assert torch.equal(out[3], ref[3]) and not torch.equal(out[3][0], out[3][1])
    assert_rel_close(out[0], ref[0])


def test_parity_detects_a_wrong_fusion(tiny_pair):
    """Negative control: silencing the stage-2 fusion head moves pred far beyond the parity tolerance."""
    ours, official = tiny_pair
    wrong = on_meta(lambda: create_model(TINY, **SMALL)).to_empty(device="cpu")
    wrong.load_state_dict(ours.state_dict())
    x, mask = torch.randn(1, 3, 8, 64, 64), ours.random_mask(1, 0.5)
    with torch.no_grad():
        ref = official(x, mask=mask)[1]
        wrong.multi_scale_fusion_heads[1].weight.zero_()
        wrong.multi_scale_fusion_heads[1].bias.zero_()
        bad = wrong(x, mask=mask)[1]
    assert (bad - ref).abs().max() > 1e-3 * ref.abs().max()


@pytest.mark.parametrize("name", ["mae_hiera_base_16x224", "mae_hiera_base_plus_16x224", "mae_hiera_large_16x224",
                                  "mae_hiera_huge_16x224", "mae_hiera_tiny_224", "mae_hiera_huge_224"])
def test_full_size_keys_shapes_and_counts_match_official(name):
    official, ours = on_meta(lambda: (getattr(official_mae, name)(), create_model(name)))
    ours_sd, ref_sd = ours.state_dict(), official.state_dict()
    assert list(ours_sd) == list(ref_sd)  # same keys in the same order
    assert all(ours_sd[k].shape == ref_sd[k].shape for k in ref_sd)
    assert not any(k.startswith(("norm.", "head.")) for k in ours_sd)
    assert ours.q_pool == official.q_pool == 2
    assert ours.pred_stride == official.pred_stride == 16
    assert ours.tokens_spatial_shape_final == official.tokens_spatial_shape_final
    assert ours.mask_unit_spatial_shape_final == official.mask_unit_spatial_shape_final


# --------------------------------------------------------------------------------------- masking, sparsity


@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9, 0.95])
def test_mask_ratio_keeps_int_of_mask_units(ratio):
    model = create_model(TINY, **{**LITE, "input_size": (8, 128, 128)})  # 4 x 4 x 4 = 64 units
    with torch.no_grad():
        _, pred, _, mask = model(torch.randn(3, 3, 8, 128, 128), mask_ratio=ratio)
    kept = int(64 * (1 - ratio))  # floor: 0.9 -> 6 (6.4), 0.95 -> 3 (3.2)
    assert mask.dtype == torch.bool and mask.shape == (3, 64)
    assert mask.sum(1).tolist() == [kept] * 3
    assert len({tuple(row.tolist()) for row in mask}) == 3  # drawn per sample
    assert pred.shape == (3 * (64 - kept) * 4, 16 * 16 * 3)  # 4 prediction tokens per unit


def test_video_models_default_to_paper_ratio():
    assert create_model(TINY, **LITE).mask_ratio == 0.9
    assert create_model("mae_hiera_tiny_224", **{**LITE, "input_size": (64, 64)}).mask_ratio == 0.6
    model = create_model(TINY, **{**LITE, "input_size": (8, 128, 128)})
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 128, 128))[3].sum() == 6  # int(64 * 0.1)


def test_bad_ratios_and_masks_raise():
    model = create_model(TINY, **LITE)
    x = torch.randn(2, 3, 8, 64, 64)
    for ratio in (0.0, 0.95, 1.0):  # keeps 16, 0, 0 of 16 units
        with pytest.raises(ValueError, match="mask_ratio"):
            model(x, mask_ratio=ratio)
    uneven = torch.zeros(2, 16, dtype=torch.bool)
    uneven[0, :3], uneven[1, :5] = True, True
    with pytest.raises(ValueError, match=r"kept per row: \[3, 5\]"):
        model(x, mask=uneven)
    with pytest.raises(ValueError, match="num_mask_units=16"):
        model(x, mask=torch.ones(2, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="input_size"):
        model(torch.randn(2, 3, 8, 96, 96))
    with pytest.raises(TypeError, match="no classification head"):
        model.predict_proba(x)


def test_encoder_sees_only_kept_tokens_and_nothing_of_dropped_pixels():
    model = create_model(TINY, **LITE).eval()
    x = torch.randn(2, 3, 8, 64, 64)
    mask = model.random_mask(2, 0.75)  # 4 of 16 units kept
    seen = []
    hooks = [model.blocks[i].register_forward_hook(lambda m, inp, out: seen.append((inp[0].shape, out.shape)))
             for i in (0, len(model.blocks) - 1)]
    with torch.no_grad():
        latent, _ = model.forward_encoder(x, 0.75, mask=mask)
    for h in hooks:
        h.remove()
    assert seen[0] == ((2, 4 * 64, 16), (2, 4 * 64, 16))  # 4 kept units x 64 tokens, not 16 x 64
    assert seen[1][1] == (2, 4 * 4, 128)  # after two q-pools: 4 tokens per unit
    assert latent.shape == (2, 4, 1, 2, 2, 128)
    # Dropped units' pixels (even under the overlapping 3x7x7 patch kernel) do not reach the encoder.
    dropped = ~mask.view(2, 1, 4, 1, 2, 1, 2, 1)  # [B, 1, T_mu, 1, H_mu, 1, W_mu, 1]
    noise = torch.randn(2, 3, 4, 2, 2, 32, 2, 32) * dropped  # pixels: (T 4 x 2, H 2 x 32, W 2 x 32)
    x2 = x + noise.view(2, 3, 8, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.forward_encoder(x2, 0.75, mask=mask)[0], latent)


# ------------------------------------------------------------------------------------------------ loss


def test_loss_is_mse_on_dropped_positions_only():
    model = create_model(TINY, **LITE).eval()
    x = torch.randn(2, 3, 8, 64, 64)
    mask = model.random_mask(2, 0.75)
    visible = prediction_visible(model, mask)  # [2, 64]
    with torch.no_grad():
        loss, pred, label, _ = model(x, mask=mask)
    assert pred.shape == label.shape == (2 * 12 * 4, 768)  # 12 dropped units x 4 tokens per sample
    torch.testing.assert_close(loss, ((pred - label) ** 2).mean(), rtol=0, atol=0)

    def shift(where):  # add 100 to the decoder's prediction at the tokens in `where` [B, N]
        return model.decoder_pred.register_forward_hook(lambda m, inp, out: out + 100.0 * where[..., None])

    handle = shift(visible)
    with torch.no_grad():
        assert torch.equal(model(x, mask=mask)[0], loss)  # predictions of kept tokens are not scored
    handle.remove()
    one_dropped = torch.zeros_like(visible)
    one_dropped[1, (~visible[1]).nonzero()[0, 0]] = True
    handle = shift(one_dropped)
    with torch.no_grad():
        assert model(x, mask=mask)[0] > loss + 1.0
    handle.remove()


def test_label_ignores_kept_pixels_and_second_frames():
    model = create_model(TINY, **LITE).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    mask = model.random_mask(1, 0.75)
    with torch.no_grad():
        label = model(x, mask=mask)[2]
        kept = mask.view(1, 1, 4, 1, 2, 1, 2, 1)
        in_kept = (torch.ones(1, 3, 4, 2, 2, 32, 2, 32) * kept).view(1, 3, 8, 64, 64)
        assert torch.equal(model(x + 5 * in_kept * torch.randn_like(x), mask=mask)[2], label)
        odd_frames = torch.zeros_like(x)
        odd_frames[:, :, 1::2] = torch.randn(1, 3, 4, 64, 64)  # second frame of every 2-frame token
        changed = model(x + odd_frames * (1 - in_kept), mask=mask)[2]
        assert torch.equal(changed, label)
        even = torch.zeros_like(x)
        even[:, :, 0::2] = 1.0
        assert not torch.equal(model(x + even * (1 - in_kept) * torch.randn_like(x), mask=mask)[2], label)


def test_gradients_flow_to_every_parameter_and_only_to_seen_pixels():
    model = create_model(TINY, **LITE).train()
    x = torch.randn(2, 3, 8, 64, 64, requires_grad=True)
    mask = model.random_mask(2, 0.5)
    loss = model(x, mask=mask)[0]
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    # pixels the model never sees (dropped units) get gradient only through the target: first frames only
    grad = x.grad.view(2, 3, 4, 2, 2, 32, 2, 32).abs().sum(dim=(1, 5, 7))  # [B, T_mu, frame, H_mu, W_mu]
    dropped = ~mask.view(2, 4, 2, 2)
    assert (grad[:, :, 1][dropped] == 0).all()  # second frame of a dropped unit: unused
    assert (grad[:, :, 0][dropped] > 0).all()  # first frame of a dropped unit: the target
    assert (grad[:, :, 1][~dropped] > 0).all()  # kept units: the encoder input


# ----------------------------------------------------------------------------------------- target layout


def test_video_target_is_first_frame_16x16_channel_last():
    model = create_model(TINY, **LITE, norm_pix_loss=False).eval()
    x = torch.randn(2, 3, 8, 64, 64)
    mask = model.random_mask(2, 0.75)
    with torch.no_grad():
        _, _, raw, _ = model(x, mask=mask)
    visible = prediction_visible(model, mask).view(2, 4, 4, 4)
    rows = []
    for b in range(2):
        for t in range(4):
            for i in range(4):
                for j in range(4):
                    if not visible[b, t, i, j]:  # (C, 16, 16) of frame 2t -> (16, 16, C) -> 768
                        patch = x[b, :, 2 * t, 16 * i: 16 * i + 16, 16 * j: 16 * j + 16]
                        rows.append(patch.permute(1, 2, 0).reshape(-1))
    assert torch.equal(raw, torch.stack(rows))
    # norm_pix_loss: per-patch (x - mean) / sqrt(unbiased var + 1e-6)
    with torch.no_grad():
        normed = create_model(TINY, **LITE).get_pixel_label(x, ~prediction_visible(model, mask))
    mean = raw.mean(-1, keepdim=True)
    var = ((raw - mean) ** 2).sum(-1, keepdim=True) / (raw.shape[-1] - 1)
    torch.testing.assert_close(normed, (raw - mean) / torch.sqrt(var + 1e-6))


def test_image_target_is_channel_first():
    model = create_model("mae_hiera_tiny_224", **{**LITE, "input_size": (64, 64)}, norm_pix_loss=False)
    x = torch.randn(1, 3, 64, 64)
    masked = torch.zeros(1, 16, dtype=torch.bool)
    masked[0, 6] = True  # row 1, column 2 of the 4 x 4 prediction grid
    label = model.get_pixel_label(x, masked)
    assert torch.equal(label, x[0, :, 16:32, 32:48].reshape(1, -1))  # (C, 16, 16) flattened


# ------------------------------------------------------------------------------------ checkpoints, registry


def test_checkpoint_round_trip_and_formats(tmp_path):
    ours, official = paired(TINY, **LITE)
    x, mask = torch.randn(1, 3, 8, 64, 64), ours.random_mask(1, 0.75)
    with torch.no_grad():
        expected = ours(x, mask=mask)
    for i, payload in enumerate([{"model_state": official.state_dict()},  # official format
                                 {"model": ours.state_dict(), "epoch": 3, "optimizer": {"lr": 0.1}}]):  # ours
        path = tmp_path / f"mae{i}.pth"
        torch.save(payload, path)
        fresh = create_model(TINY, **LITE)
        assert load_pretrained(fresh, str(path)) == {"reset": [], "interpolated": [], "dropped": []}
        for model in (fresh, create_model(TINY, **LITE, checkpoint=str(path))):
            assert all(torch.equal(v, ours.state_dict()[k]) for k, v in model.state_dict().items())
            with torch.no_grad():
                assert all(torch.equal(a, b) for a, b in zip(model(x, mask=mask), expected))
    state = ours.state_dict()
    with pytest.raises(CheckpointMismatchError, match=r"missing keys.*decoder_pred\.bias"):
        load_pretrained(create_model(TINY, **LITE), {k: v for k, v in state.items() if k != "decoder_pred.bias"})
    # the MAE checkpoint into the classifier (q_pool 3, same parameters): decoder dropped, head / norm fresh
    classifier = create_model("hiera_tiny_16x224", **LITE_ENCODER)
    report = load_pretrained(classifier, state)
    assert sorted(report["dropped"]) == sorted(k for k in state if k not in classifier.state_dict())
    assert any(k.startswith("decoder_blocks.") for k in report["dropped"]) and "mask_token" in report["dropped"]
    assert sorted(report["reset"]) == ["head.projection.bias", "head.projection.weight", "norm.bias", "norm.weight"]
    assert torch.equal(classifier.blocks[2].attn.qkv.weight, state["blocks.2.attn.qkv.weight"])


def test_decoder_pos_embed_is_resampled_to_a_smaller_input():
    source = create_model(TINY, **{**LITE, "input_size": (8, 128, 128)})  # prediction grid 4 x 8 x 8
    with torch.no_grad():
        source.decoder_pos_embed.normal_()
    model = create_model(TINY, **{**LITE, "input_size": (4, 64, 64)})  # prediction grid 2 x 4 x 4
    report = load_pretrained(model, source.state_dict())
    assert report["interpolated"] == ["pos_embed_spatial", "pos_embed_temporal", "decoder_pos_embed"]
    grid = source.decoder_pos_embed.reshape(1, 4, 8, 8, 32).permute(0, 4, 1, 2, 3)
    expected = F.interpolate(grid, size=(2, 4, 4), mode="trilinear", align_corners=False)
    torch.testing.assert_close(model.decoder_pos_embed.data, expected.permute(0, 2, 3, 4, 1).reshape(1, 32, 32))


def test_official_checkpoint_resolution(monkeypatch):
    calls = []
    state = create_model("mae_hiera_base_16x224", **LITE).state_dict()
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda url, **kw: calls.append((url, kw)) or {"model_state": state})
    model = create_model("mae_hiera_base_16x224", **LITE, checkpoint="official")
    assert calls == [(OFFICIAL_MAE_CHECKPOINTS["hiera_base_16x224"], {"map_location": "cpu", "weights_only": True})]
    assert calls[0][0] == "https://dl.fbaipublicfiles.com/hiera/mae_hiera_base_16x224.pth"
    assert torch.equal(model.decoder_pred.weight, state["decoder_pred.weight"])
    with pytest.raises(ValueError, match="no official checkpoint"):
        create_model(TINY, checkpoint="official")


def test_registry_and_config():
    names = list_models("mae_*")
    sizes = ("tiny", "small", "base", "base_plus", "large", "huge")
    assert names == sorted([f"mae_hiera_{s}_16x224" for s in sizes] + [f"mae_hiera_{s}_224" for s in sizes])
    assert set(names) < set(list_models())
    from hiera_video.models import registry

    for name in names:
        config = model_config(name)
        assert config["q_pool"] == 2 and config["mask_ratio"] == (0.9 if name.endswith("16x224") else 0.6)
        assert (config["decoder_depth"], config["decoder_embed_dim"], config["decoder_num_heads"]) == (8, 512, 16)
        url = OFFICIAL_MAE_CHECKPOINTS.get(name[len("mae_"):])
        assert (url in getattr(registry, name).__doc__) if url else "No official" in getattr(registry, name).__doc__
    with pytest.raises(TypeError, match="not_an_arg"):
        create_model(TINY, not_an_arg=1)
    with pytest.raises(TypeError, match="decoder_depth"):
        create_model("hiera_tiny_16x224", decoder_depth=2)  # not a classifier argument
    with pytest.raises(ValueError, match="pixel target grid"):
        # temporal q-pooling: 4 prediction frames for 16 target frames
        create_model(TINY, **{**LITE, "input_size": (32, 64, 64)}, q_stride=(2, 2, 2), mask_unit_size=(4, 8, 8))
    cfg = get_cfg()
    assert (cfg.MASK.RATIO, cfg.MASK.DECODER_DEPTH, cfg.MASK.DECODER_EMBED_DIM, cfg.MASK.DECODER_NUM_HEADS,
            cfg.MASK.NORM_PIX_LOSS, cfg.MASK.VIS_PERIOD) == (0.9, 8, 512, 16, True, 1)


def test_initialisation_follows_official():
    model = create_model(TINY, **{**LITE, "decoder_embed_dim": 512})
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            assert torch.all(module.bias == 0), name
            bound = math.sqrt(6 / (module.in_features + module.out_features))  # xavier-uniform
            assert module.weight.abs().max() <= bound and module.weight.abs().max() > 0.9 * bound, name
        elif isinstance(module, torch.nn.LayerNorm):
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0) and module.eps == 1e-6, name
    w = model.patch_embed.proj.weight  # xavier on the [16, 3 * 3 * 7 * 7] matrix, not the 5-D conv weight
    bound = math.sqrt(6 / (16 + 3 * 3 * 7 * 7))
    assert 0.9 * bound < w.abs().max() <= bound
    assert abs(model.mask_token.std().item() - 0.02) < 0.004
    assert abs(model.decoder_pos_embed.std().item() - 0.02) < 0.002


def test_fixed_count_gathers_give_the_boolean_indexing_results(tiny_pair, monkeypatch):
    """The kept tokens, the decoder's kept units and the scored (dropped) tokens are gathered / scattered with counts
    fixed by the mask ratio (no data-dependent shapes, no host sync in a step): the whole MAE step - loss, pred,
    label and every gradient - is bit-identical to the same model with the official boolean indexing put back."""
    import hiera_video.models.hiera as hiera_mod
    import hiera_video.models.mae as mae_mod

    model = tiny_pair[0].train()
    x = torch.randn(3, 3, 8, 64, 64, generator=torch.Generator().manual_seed(4))

    def step():
        torch.manual_seed(7)  # the same random mask and drop path in both runs
        model.zero_grad()
        out = model(x, mask_ratio=0.75)
        out[0].backward()
        return [t.detach().clone() for t in out], [p.grad.clone() for p in model.parameters()]

    gathered, grads = step()

    def take_kept_tokens(t, mask, mu_size, num_kept=None):
        keep = mask[:, None, :].expand(t.shape[0], mu_size, mask.shape[1])
        return t.view(t.shape[0], mu_size, -1, t.shape[-1])[keep].view(t.shape[0], -1, t.shape[-1])

    def put_kept_units(full, mask, t):
        full = full.clone()
        full[mask] = t.reshape(-1, *t.shape[2:])
        return full

    monkeypatch.setattr(hiera_mod, "take_kept_tokens", take_kept_tokens)
    monkeypatch.setattr(mae_mod, "_put_kept_units", put_kept_units)
    monkeypatch.setattr(mae_mod, "_take", lambda t, where, count=None: t[where])
    indexed, ref_grads = step()
    units = math.prod(model.mask_spatial_shape)
    dropped = units - model.num_kept_units(0.75)
    assert gathered[1].shape[0] == 3 * dropped * math.prod(model.mask_unit_spatial_shape_final)
    for a, b in zip(gathered, indexed):
        assert torch.equal(a, b)
    for a, b in zip(grads, ref_grads):
        assert torch.equal(a, b)


def test_an_mae_step_traces_to_one_graph():
    """With fixed-count gathers (and no generator in Reroll) Dynamo captures the whole MAE step, mask drawing
    included, as one graph: no graph break, so MODEL.COMPILE compiles all of it (boolean indexing made 20 graphs)."""
    model = create_model(TINY, input_size=(4, 32, 32), decoder_depth=1, decoder_embed_dim=32, decoder_num_heads=1,
                         mask_ratio=0.5).train()
    explained = torch._dynamo.explain(model)(torch.randn(2, 3, 4, 32, 32))
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
