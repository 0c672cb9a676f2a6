"""Test-only helpers shared by several test modules (pytest puts tests/ on sys.path)."""

import importlib.util
import math
import os

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_script(relpath: str):
    """Import a CLI script such as ``data_prep/kinetics.py`` as a module with a unique name."""
    name = "script_" + relpath.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def randomise_(model: torch.nn.Module, seed: int = 0) -> None:
    """Draw every parameter at random with scales that keep activations O(1) through the whole network
    (encoder and, for MAE models, decoder): parity tests then compare non-trivial outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "pos_embed" in name or name == "mask_token":
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
            elif p.ndim == 1:  # LayerNorm weight
                p.copy_(1.0 + torch.randn(p.shape, generator=gen) * 0.25)
            else:  # Linear / conv weight: unit-variance outputs
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p[0].numel()))
