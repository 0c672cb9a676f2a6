"""MAE pretraining as a run: TASK mae through tools/run_net.py, reconstruction pictures, fine-tuning from the
MAE checkpoint, and the reconstruction helpers (patch layout, un-normalisation) against the model's own layout.

The end-to-end tests share one tiny pretraining run (module fixture): the quickstart MAE config at 4x32x32 on
12 generated motion videos listed as bare paths (no labels), 4 epochs.
"""

import json
import math
import os
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_net  # noqa: E402

from hiera_video.config import get_cfg, load_config  # noqa: E402
from hiera_video.prep.synthetic import make_motion_dataset  # noqa: E402
from hiera_video.engine.optim import param_groups  # noqa: E402
from hiera_video.evaluation.reconstruction import (  # noqa: E402
    draw_reconstruction_grid,
    mae_reconstruction,
    reconstruction_panels,
    to_pixels,
    unnormalize_patches,
)
from hiera_video.models import create_model  # noqa: E402

CONFIGS = os.path.join(ROOT, "configs")
MAE_QUICKSTART = os.path.join(CONFIGS, "quickstart", "mae_hiera_tiny.yaml")
FT_QUICKSTART = os.path.join(CONFIGS, "quickstart", "hiera_tiny_ft.yaml")
MEAN, STD = [0.45, 0.45, 0.45], [0.225, 0.225, 0.225]
# A narrow video MAE (widths 16/32/64/128) at 8x64x64: 4 x 2 x 2 = 16 mask units, 4 x 4 x 4 prediction grid.
LITE = dict(input_size=(8, 64, 64), embed_dim=16, num_heads=1, stages=(1, 1, 1, 1), decoder_depth=1,
            decoder_embed_dim=32, decoder_num_heads=2)
PRETRAIN_EPOCHS = 4


@pytest.fixture(scope="module", autouse=True)
def one_intra_op_thread():
    """One PyTorch thread for this module: on a shared 2-core machine two spinning OpenMP threads made a training
    step of the tiny MAE ~30x slower (7 s vs 0.25 s) whenever another process kept a core busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def motion_data(tmp_path_factory):
    """6 classes x (2 train, 1 val, 1 test) motion videos; ``unlabelled/`` holds bare-path train/val lists."""
    root = str(tmp_path_factory.mktemp("motion"))
    make_motion_dataset(root, num_train_per_class=2, num_val_per_class=1, num_test_per_class=1,
                        size=(48, 64), num_frames=24)
    bare = os.path.join(root, "unlabelled")
    os.makedirs(bare)
    for split in ("train", "val"):
        with open(os.path.join(root, f"{split}.csv")) as src, open(os.path.join(bare, f"{split}.csv"), "w") as dst:
            dst.writelines(line.split()[0] + "\n" for line in src if line.strip())
    return root


def mae_args(root, out, *extra):
    """The quickstart MAE config shrunk to seconds: 4x32x32 (2 mask units, 1 kept), 12 bare-path videos."""
    return [
        "--cfg", MAE_QUICKSTART, "OUTPUT_DIR", str(out),
        "DATA.PATH_TO_DATA_DIR", os.path.join(root, "unlabelled"), "DATA.PATH_PREFIX", root,
        "DATA.MAKE_SYNTHETIC", "False", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0",
        "MASK.RATIO", "0.5", "MASK.DECODER_DEPTH", "1", "MASK.DECODER_EMBED_DIM", "64", "MASK.DECODER_NUM_HEADS", "2",
        "TRAIN.BATCH_SIZE", "4", "TRAIN.CHECKPOINT_PERIOD", "100", *extra,
    ]


@pytest.fixture(scope="module")
def pretrained(motion_data, tmp_path_factory):
    """One MAE pretraining run through tools/run_net.py; returns its OUTPUT_DIR.

    TRAIN.EVAL_PERIOD 1 with a val list present: the runner must skip validation for TASK mae (validating
    would call MAETask.test_dataset, which raises). Raw-pixel target (MASK.NORM_PIX_LOSS False): in a few
    steps the model learns each clip's colours from its visible frame pair, a large, reliable drop of the loss
    (the per-patch normalised target needs far longer to fall clearly below 1)."""
    out = tmp_path_factory.mktemp("mae") / "run"
    argv = mae_args(motion_data, out, "SOLVER.MAX_EPOCH", str(PRETRAIN_EPOCHS), "SOLVER.WARMUP_EPOCHS", "1.0",
                    "SOLVER.BASE_LR", "0.002", "MASK.VIS_PERIOD", "2", "TRAIN.EVAL_PERIOD", "1",
                    "MASK.NORM_PIX_LOSS", "False")
    assert run_net.main(argv) == 0
    return out


def _train_stats(out):
    return [s for s in map(json.loads, open(out / "stats.jsonl")) if s["split"] == "train"]


# ------------------------------------------------------------------------------------------------ end to end


def test_pretraining_writes_checkpoint_stats_pictures_and_scalars(pretrained):
    out = pretrained
    ckpt = torch.load(out / "checkpoints" / f"checkpoint_epoch_{PRETRAIN_EPOCHS:05d}.pyth", weights_only=True)
    assert "decoder_pos_embed" in ckpt["model"] and "mask_token" in ckpt["model"] and ckpt["epoch"] == PRETRAIN_EPOCHS

    stats = [json.loads(line) for line in open(out / "stats.jsonl")]
    assert [s["split"] for s in stats] == ["train"] * PRETRAIN_EPOCHS  # no validation records
    for s in stats:
        assert math.isfinite(s["loss"]) and s["loss"] > 0 and "top1" not in s
        assert s["num_bad_samples"] == 0 and s["grad_norm"] > 0
    assert "has no validation" in (out / "log.txt").read_text()

    # pictures every MASK.VIS_PERIOD = 2 epochs (and after the last one)
    import matplotlib.image

    pictures = sorted(os.listdir(out / "vis"))
    assert pictures == [f"epoch_{e:05d}.png" for e in range(2, PRETRAIN_EPOCHS + 1, 2)]
    image = matplotlib.image.imread(out / "vis" / pictures[-1])  # (H, W, 4) float in [0, 1]
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    assert image[..., :3].std() > 0.05  # drawn content, not a blank canvas

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert {"train/loss", "train_epoch/loss", "mae_vis/loss"} <= set(events.Tags()["scalars"])
    assert "mae_vis/reconstruction" in events.Tags()["images"]
    logged = [e.value for e in events.Scalars("train_epoch/loss")]
    assert logged == pytest.approx([s["loss"] for s in stats])


def test_pretraining_loss_falls(pretrained):
    """Real learning: the last epoch's mean loss is far below the first's, and the masked MSE of the fixed
    picture clips under their fixed mask falls too."""
    losses = [s["loss"] for s in _train_stats(pretrained)]
    assert losses[-1] < 0.8 * losses[0], losses
    log = (pretrained / "log.txt").read_text()
    vis = [float(line.split("masked MSE ")[1].split(")")[0]) for line in log.splitlines() if "reconstruction of" in line]
    assert len(vis) == 2 and vis[1] < vis[0], vis


def test_finetune_from_mae_checkpoint_then_multiview_test(pretrained, motion_data, tmp_path):
    mae_ckpt = pretrained / "checkpoints" / f"checkpoint_epoch_{PRETRAIN_EPOCHS:05d}.pyth"
    out = tmp_path / "ft"
    argv = [
        "--cfg", FT_QUICKSTART, "OUTPUT_DIR", str(out), "TRAIN.CHECKPOINT_FILE_PATH", str(mae_ckpt),
        "DATA.PATH_TO_DATA_DIR", motion_data, "DATA.PATH_PREFIX", motion_data, "DATA.MAKE_SYNTHETIC", "False",
        "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA_LOADER.NUM_WORKERS", "0",
        "TRAIN.BATCH_SIZE", "6", "TRAIN.EVAL_PERIOD", "0", "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5",
        "TEST.BATCH_SIZE", "12",
    ]
    assert run_net.main(argv) == 0

    log = (out / "log.txt").read_text()
    assert f"load_pretrained: {mae_ckpt} into Hiera: used " in log
    assert "blocks.[0-11].attn.qkv.weight" in log and "patch_embed.proj.weight" in log  # used
    # dropped: decoder (1 block = 12 keys, embed, norm, pos embed, pred = 7), mask_token, encoder_norm (2), fusion (4)
    assert "dropped 26 [decoder_blocks.[0].attn.proj.bias" in log and "multi_scale_fusion_heads.[0-1].weight" in log
    assert "initialised 4 model keys fresh [head.projection.bias, head.projection.weight, norm.bias, norm.weight]" in log

    # the encoder really came from the MAE: one fine-tuning epoch moves it only a little
    mae = torch.load(mae_ckpt, weights_only=True)["model"]
    ft = torch.load(out / "checkpoints" / "checkpoint_epoch_00001.pyth", weights_only=True)["model"]
    for key in ("patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.11.mlp.fc2.weight"):
        assert (ft[key] - mae[key]).norm() < 0.05 * mae[key].norm(), key
    assert "decoder_pos_embed" not in ft and "head.projection.weight" in ft

    report = json.loads((out / "test" / "report.json").read_text())
    assert report["num_videos"] == 6 and report["num_views"] == 6 and report["failed"] == []
    assert 0 <= report["top1"] <= 100


# -------------------------------------------------------------------------------------------------- errors


def _one_line_error(capsys, argv, pattern):
    """run_net exits 2 with one ``error:`` line matching ``pattern`` and no traceback; ``--debug`` raises it."""
    import re

    capsys.readouterr()
    assert run_net.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and re.search(pattern, err), err
    with pytest.raises(ValueError, match=pattern):
        run_net.main(["--debug", *argv])


def test_mae_task_with_a_classifier_arch_is_a_clear_error(motion_data, tmp_path, capsys):
    _one_line_error(capsys, mae_args(motion_data, tmp_path / "out", "MODEL.ARCH", "hiera_tiny_16x224"),
                    "TASK mae needs an MAE model .*hiera_tiny_16x224")


def test_mae_task_with_test_enabled_is_a_clear_error(motion_data, tmp_path, capsys):
    _one_line_error(capsys, mae_args(motion_data, tmp_path / "out", "TEST.ENABLE", "True"),
                    "MAE pretraining has no test.*TEST.ENABLE False")


def test_mask_ratio_that_keeps_no_unit_is_a_clear_error(motion_data, tmp_path, capsys):
    _one_line_error(capsys, mae_args(motion_data, tmp_path / "out", "MASK.RATIO", "0.9"),
                    r"MASK.RATIO 0.9 keeps 0 of the 2 mask units")


# ----------------------------------------------------------------------------------------- configs, optimiser


@pytest.mark.parametrize("name", [f"{d}/mae_hiera_{m}.yaml" for d in ("k400", "ssv2") for m in ("b", "b_plus", "l", "h")])
def test_full_mae_configs_load_with_the_pretraining_recipe(name):
    cfg = load_config(os.path.join(CONFIGS, name))
    assert cfg.TASK == "mae" and cfg.MODEL.ARCH.startswith("mae_hiera_") and cfg.MODEL.ARCH.endswith("_16x224")
    assert not cfg.TEST.ENABLE and cfg.TRAIN.EVAL_PERIOD == 0 and not cfg.AUG.ENABLE and not cfg.MIXUP.ENABLE
    assert cfg.MASK.RATIO == 0.9 and cfg.MASK.NORM_PIX_LOSS and cfg.DATA.TRAIN_CROP_NUM_TEMPORAL == 4
    assert (cfg.MASK.DECODER_DEPTH, cfg.MASK.DECODER_EMBED_DIM, cfg.MASK.DECODER_NUM_HEADS) == (8, 512, 16)
    assert list(cfg.SOLVER.BETAS) == [0.9, 0.95] and cfg.SOLVER.WEIGHT_DECAY == 0.05
    assert (cfg.TRAIN.DATASET == "ssv2") == name.startswith("ssv2")


def test_quickstart_finetuning_starts_from_the_quickstart_mae_last_checkpoint():
    mae, ft = load_config(MAE_QUICKSTART), load_config(FT_QUICKSTART)
    assert ft.TRAIN.CHECKPOINT_FILE_PATH == os.path.join(
        mae.OUTPUT_DIR, "checkpoints", f"checkpoint_epoch_{mae.SOLVER.MAX_EPOCH:05d}.pyth")
    assert (mae.DATA.TRAIN_CROP_SIZE, mae.DATA.NUM_FRAMES) == (ft.DATA.TRAIN_CROP_SIZE, ft.DATA.NUM_FRAMES)


def test_no_weight_decay_on_position_embeddings_mask_token_norms_and_biases():
    model = create_model("mae_hiera_tiny_16x224", **LITE)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g for g in param_groups(model, get_cfg())}
    no_decay = {names[id(p)] for p in groups["no_decay"]["params"]}
    decay = {names[id(p)] for p in groups["decay"]["params"]}
    assert {"pos_embed_spatial", "pos_embed_temporal", "decoder_pos_embed", "mask_token"} <= no_decay
    assert {"decoder_norm.weight", "decoder_pred.bias", "blocks.0.norm1.weight"} <= no_decay
    assert all(model.get_parameter(n).ndim > 1 for n in decay) and "decoder_pred.weight" in decay
    assert groups["no_decay"]["weight_decay"] == 0.0 and groups["decay"]["weight_decay"] == 0.05


# ---------------------------------------------------------------------------------------- reconstruction


@pytest.fixture(scope="module")
def lite():
    torch.manual_seed(0)
    return create_model("mae_hiera_tiny_16x224", **LITE).eval()


def test_patchify_is_the_models_target_layout_and_unpatchify_inverts_it(lite):
    x = torch.randn(2, 3, 8, 64, 64)
    frames = x[:, :, :: lite.patch_stride[0]]  # (2, 3, 4, 64, 64): the first frame of each 2-frame token
    patches = lite.patchify(x)  # [2, 64, 768]
    n = math.prod(lite.tokens_spatial_shape_final)
    label = lite.get_pixel_label(x, torch.ones(2, n, dtype=torch.bool), norm=False)  # [2 * 64, 768]
    assert patches.shape == (2, n, 16 * 16 * 3) and torch.equal(patches.reshape(-1, 768), label)
    # an independent cut: token (t, i, j) holds frame 2t, rows 16i.., cols 16j.., channel-last
    t, i, j = 2, 1, 3
    expected = frames[0, :, t, 16 * i:16 * (i + 1), 16 * j:16 * (j + 1)].permute(1, 2, 0).reshape(-1)
    assert torch.equal(patches[0, (t * 4 + i) * 4 + j], expected)
    assert torch.equal(lite.unpatchify(patches), frames)
    with pytest.raises(ValueError, match="patches"):
        lite.unpatchify(patches[:, :-1])


def test_token_visibility_matches_the_decoder(lite):
    x = torch.randn(3, 3, 8, 64, 64)
    latent, mask = lite.forward_encoder(x, 0.75)
    _, visible = lite.forward_decoder(latent, mask)
    # independent reference: the kept units rolled out to the decoder's raster grid with undo_windowing
    from hiera_video.models.layout import undo_windowing

    mu = lite.mask_unit_spatial_shape_final
    units = mask.view(3, -1, *[1] * len(mu), 1).expand(3, mask.shape[1], *mu, 1).contiguous()
    reference = undo_windowing(units, lite.tokens_spatial_shape_final, mu).reshape(3, -1)
    assert torch.equal(lite.token_visibility(mask), reference) and torch.equal(visible, reference)


def test_unnormalize_inverts_the_per_patch_target_normalisation(lite):
    target = torch.randn(5, 768) * 3 + 1
    normalised = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1e-6).sqrt()
    torch.testing.assert_close(unnormalize_patches(normalised, target), target)


@pytest.mark.parametrize("norm_pix_loss", [True, False])
def test_a_perfect_prediction_reconstructs_the_input_frames(lite, norm_pix_loss):
    torch.manual_seed(1)
    x = ((torch.rand(2, 3, 8, 64, 64) - 0.45) / 0.225)  # normalised pixels of a random clip
    _, _, label, mask = lite(x, mask_ratio=0.75)
    visible = lite.token_visibility(mask)
    label = lite.get_pixel_label(x, ~visible, norm=norm_pix_loss)  # the exact target of the dropped tokens
    lite.norm_pix_loss, saved = norm_pix_loss, lite.norm_pix_loss
    try:
        panels = reconstruction_panels(lite, x, label, visible, MEAN, STD)
    finally:
        lite.norm_pix_loss = saved
    pixels = to_pixels(x[:, :, ::2], MEAN, STD)
    torch.testing.assert_close(panels["reconstruction"], pixels, atol=1e-5, rtol=0)
    torch.testing.assert_close(panels["input"], pixels)
    vis = panels["visible"].expand_as(pixels)
    assert torch.equal(panels["masked"][vis], pixels[vis]) and (panels["masked"][~vis] == 0.5).all()
    assert 0.2 < vis.float().mean() < 0.3  # 4 of 16 units kept


def test_reconstruction_picture_from_a_model(lite, tmp_path):
    x = torch.randn(2, 3, 8, 64, 64)
    mask = torch.zeros(2, 16, dtype=torch.bool)
    mask[:, :4] = True
    panels, loss = mae_reconstruction(lite, x, mask, MEAN, STD)
    assert math.isfinite(loss) and not lite.training
    assert panels["reconstruction"].shape == (2, 3, 4, 64, 64)
    image = draw_reconstruction_grid(panels, str(tmp_path / "vis" / "r.png"), max_frames=3, title="t",
                                     row_labels=["a", "b"])
    assert image.dtype.name == "uint8" and image.shape[2] == 3
    assert (tmp_path / "vis" / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_classification_task_rejects_an_mae_arch():
    from hiera_video.config import get_cfg
    from hiera_video.engine.tasks.classification import ClassificationTask

    cfg = get_cfg()
    cfg.MODEL.ARCH = "mae_hiera_tiny_16x224"
    with pytest.raises(ValueError, match="use TASK mae, or a classifier such as hiera_tiny_16x224"):
        ClassificationTask(cfg).build_model()
