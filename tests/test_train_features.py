"""MODEL.ACT_CHECKPOINT (same gradients, block inputs only) and MODEL.COMPILE (training through a
torch.compile'd model; checkpoints keep the official keys)."""

import math
import os

import torch

from hiera_video.models import create_model


def test_activation_checkpointing_gives_the_same_gradients_and_recomputes_blocks():
    torch.manual_seed(0)
    model = create_model("hiera_tiny_16x224", num_classes=6, input_size=(4, 32, 32), drop_path_rate=0.0)
    x = torch.randn(2, 3, 4, 32, 32)
    grads, calls = [], []
    forward = model.blocks[1].forward
    model.blocks[1].forward = lambda *a, **kw: calls.append(1) or forward(*a, **kw)
    for flag in (False, True):
        model.set_grad_checkpointing(flag)
        model.zero_grad()
        model(x).square().sum().backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert len(calls) == 3  # plain: 1 forward; checkpointed: forward + recompute in backward
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    model.eval()  # never in eval / no-grad
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


def test_mae_activation_checkpointing_covers_the_decoder_and_keeps_loss_and_gradients():
    torch.manual_seed(0)
    model = create_model("mae_hiera_tiny_16x224", input_size=(4, 64, 64), decoder_depth=2, decoder_embed_dim=32,
                         decoder_num_heads=2, mask_ratio=0.5, drop_path_rate=0.0)
    x = torch.randn(2, 3, 4, 64, 64)
    mask = torch.zeros(2, math.prod(model.mask_spatial_shape), dtype=torch.bool)  # 2 x 2 x 2 = 8 units
    mask[:, ::2] = True
    losses, grads, calls = [], [], {"encoder": 0, "decoder": 0}
    for name, block in (("encoder", model.blocks[0]), ("decoder", model.decoder_blocks[1])):
        block.forward = (lambda f, n: lambda *a, **kw: calls.__setitem__(n, calls[n] + 1) or f(*a, **kw))(
            block.forward, name)
    for flag in (False, True):
        model.set_grad_checkpointing(flag)
        model.zero_grad()
        loss = model(x, mask=mask)[0]
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert calls == {"encoder": 3, "decoder": 3}  # plain: 1 forward; checkpointed: forward + recompute
    assert torch.equal(losses[0], losses[1])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


def test_compile_trains_and_checkpoints_keep_official_keys(tmp_path, monkeypatch):
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "tools"))
    import run_net

    from hiera_video.prep.synthetic import make_motion_dataset
    from hiera_video.engine import runner

    compiled, real_compile = [], torch.compile

    def eager_compile(module, **kw):  # MODEL.COMPILE_BACKEND eager: dynamo without Inductor's C++ builds on a CPU
        compiled.append((type(module).__name__, module.grad_checkpointing, kw.get("backend")))
        return real_compile(module, **kw)

    monkeypatch.setattr(runner.torch, "compile", eager_compile)
    data = str(tmp_path / "data")
    make_motion_dataset(data, num_train_per_class=1, num_val_per_class=1, num_test_per_class=1,
                        size=(48, 64), num_frames=24)
    out = tmp_path / "out"
    argv = ["--cfg", os.path.join(root, "configs", "quickstart", "hiera_tiny.yaml"), "OUTPUT_DIR", str(out),
            "DATA.PATH_TO_DATA_DIR", data, "DATA.PATH_PREFIX", data, "DATA.MAKE_SYNTHETIC", "False",
            "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
            "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0", "TRAIN.BATCH_SIZE", "3",
            "SOLVER.MAX_EPOCH", "1", "SOLVER.WARMUP_EPOCHS", "0.5", "TRAIN.EVAL_PERIOD", "0", "TEST.ENABLE", "False",
            "MODEL.COMPILE", "True", "MODEL.COMPILE_BACKEND", "eager", "MODEL.ACT_CHECKPOINT", "True"]
    assert run_net.main(argv) == 0
    monkeypatch.undo()
    assert compiled == [("Hiera", True, "eager")]  # MODEL.ACT_CHECKPOINT reached the model that was compiled
    state = torch.load(out / "checkpoints" / "checkpoint_epoch_00001.pyth", weights_only=True)
    fresh = create_model("hiera_tiny_16x224", num_classes=6, input_size=(4, 32, 32))
    assert set(state["model"]) == set(fresh.state_dict())  # no _orig_mod. prefixes
    fresh.load_state_dict(state["model"])
    assert not torch.equal(fresh.head.projection.weight, create_model(
        "hiera_tiny_16x224", num_classes=6, input_size=(4, 32, 32)).head.projection.weight)  # trained weights
