"""Inference throughput of our Hiera vs the official implementation (pip ``hiera-transformer``).

Both models get identical weights and the same input; timing runs alternate (ours, official, ours, ...) in one
process so that thermal / frequency / cache drift affects both equally. Eval mode, ``torch.inference_mode``;
on CUDA ``torch.cuda.synchronize`` brackets every run and non-float32 dtypes use ``torch.autocast``.

Example::

    python benchmarks/model_throughput.py --model hiera_base_16x224 --batch-size 1 --iters 3 --warmup 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.models import create_model, model_config  # noqa: E402

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="hiera_base_16x224")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--iters", type=int, default=10, help="timed runs per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per model first")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("--input-size", type=int, nargs="+", metavar="N", default=None,
                        help="T H W for video models (H W for image models); default: the model's")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return parser.parse_args(argv)


def build_pair(args: argparse.Namespace):
    """Our model and the official one with identical weights, both in eval mode on ``args.device``."""
    import hiera  # official implementation: a benchmark/test dependency only

    overrides = {"input_size": tuple(args.input_size)} if args.input_size else {}
    ours = create_model(args.model, **overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # timm deprecation warnings raised by the official package
        official = hiera.Hiera(**model_config(args.model, **overrides))
    official.load_state_dict(ours.state_dict(), strict=True)
    return ours.to(args.device).eval(), official.to(args.device).eval()


def timed_run(model: torch.nn.Module, x: torch.Tensor, args: argparse.Namespace) -> float:
    cuda = args.device == "cuda"
    dtype = DTYPES[args.dtype]
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode(), torch.autocast(args.device, dtype=dtype, enabled=dtype != torch.float32):
        model(x)
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours, official = build_pair(args)
    x = torch.randn(args.batch_size, 3, *ours.input_size, device=args.device)

    with torch.inference_mode():  # sanity: same logits (the official eval head applies softmax: bypass it)
        act, official.head.act_func = official.head.act_func, (lambda t: t)
        ref = official(x).float()
        official.head.act_func = act
        diff = ((ours(x).float() - ref).abs().max() / ref.abs().max()).item()

    models = {"ours": ours, "official": official}
    for _ in range(args.warmup):
        for model in models.values():
            timed_run(model, x, args)
    times = {name: [] for name in models}
    for _ in range(args.iters):
        for name, model in models.items():  # alternate: ours, official, ours, official, ...
            times[name].append(timed_run(model, x, args))

    rate = {name: args.batch_size / statistics.median(t) for name, t in times.items()}
    params = sum(p.numel() for p in ours.parameters()) / 1e6
    print(f"model {args.model}  input {tuple(x.shape)}  device {args.device}  dtype {args.dtype}  "
          f"threads {torch.get_num_threads()}  params {params:.1f}M  iters {args.iters}  warmup {args.warmup}")
    print(f"max |logits ours - official| / max |official| = {diff:.2e}")
    print(f"{'impl':<10}{'median s/iter':>15}{'min s/iter':>12}{'clips/s':>10}")
    for name, t in times.items():
        print(f"{name:<10}{statistics.median(t):>15.4f}{min(t):>12.4f}{rate[name]:>10.3f}")
    ratio = rate["ours"] / rate["official"]
    print(f"ratio ours/official (clips/s): {ratio:.3f}")
    return {"clips_per_s": rate, "ratio": ratio, "max_rel_logit_diff": diff}


if __name__ == "__main__":
    main()
