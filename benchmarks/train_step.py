"""Training-step cost: supervised fine-tuning (``hiera_*``) vs MAE pretraining (``mae_hiera_*``, mask ratio 0.9).

For every size in ``--models`` both models are built, given the same ``(B, 3, *input_size)`` input and one AdamW
optimizer each, and measured in one process:

* **FLOPs** (forward, per clip) with fvcore's ``FlopCountAnalysis`` (one multiply-add = one FLOP, fvcore's and
  the Hiera paper's convention), once as fvcore counts (it has no handle for
  ``aten::scaled_dot_product_attention``) and once with a handle adding the two attention matmuls,
  ``batch * heads * Nq * Nk * (d_qk + d_v)``. A training step is taken as **3 x forward** (backward = 2 x:
  input and weight gradients; AdamW is O(params)); with activation checkpointing it would be 4 x.
* **Time per step** (``zero_grad`` + forward + loss + backward + ``optimizer.step``): median of ``--steps``
  steps after ``--warmup`` untimed ones, alternating supervised and MAE steps; wall time (split forward /
  backward / optimizer) and the CPU time of the process. On a shared CPU use ``--threads 1`` (see docs).
* **Activation memory**: bytes of the distinct storages autograd saves for backward in one training forward
  (``torch.autograd.graph.saved_tensors_hooks``; parameters excluded; deterministic), with
  ``model.set_grad_checkpointing`` False and True.
* **Peak step memory** (separate untimed steps, with and without checkpointing): CUDA ``max_memory_allocated``
  minus the allocation before the step; CPU: peak RSS (``/proc/self/statm`` every 2 ms) minus the RSS before it,
  after ``malloc_trim(0)`` (activations, gradients, temporaries; an upper bound where glibc keeps freed heap).

``MAE / sup`` rows give the FLOP ratio, the time ratio and ``time ratio / FLOP ratio`` (the check: within
25%, i.e. in [0.75, 1.25]). ``--profile`` adds one torch.profiler step per model (ops by self time) and the
G/s of the MAE encoder and decoder + loss, timed apart.

Examples::

    python benchmarks/train_step.py --models base,large --batch 1 --steps 5 --threads 1 --profile --json ts.json
    python benchmarks/train_step.py --device cuda --dtype bfloat16 --models base,large --batch 8 --steps 20
    python benchmarks/train_step.py --quick          # narrowed tiny models at 8x64x64: a smoke test (seconds)
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import statistics
import sys
import threading
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.models import create_model  # noqa: E402
from hiera_video.models.flops import layer_norm_flop_jit, sdpa_flop_jit  # noqa: E402

#: ``--quick``: hiera_tiny cut down (widths 24..192, stages 1/1/2/1) with a 2 x 64 decoder, at 8 x 64 x 64 (16 mask
#: units, 1 kept).
QUICK_ENCODER = {"embed_dim": 24, "stages": (1, 1, 2, 1), "input_size": (8, 64, 64)}
QUICK_DECODER = {"decoder_embed_dim": 64, "decoder_depth": 2, "decoder_num_heads": 2}
ENCODER_MODULES = ("patch_embed", "blocks", "multi_scale_fusion_heads", "encoder_norm")  # the rest: decoder
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
MB = 2.0 ** 20


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="base,large", help="sizes: tiny, small, base, base_plus, large, huge")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps per model first")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default=None,
                        help="autocast dtype (default: bfloat16 on cuda, float32 on cpu)")
    parser.add_argument("--input-size", type=int, nargs=3, metavar=("T", "H", "W"), default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory steps")
    parser.add_argument("--profile", action="store_true", help="one profiled step per model: top ops by self time")
    parser.add_argument("--json", default=None, help="write all figures to this file")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: QUICK_* narrowed tiny models at 8x64x64, batch 2, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.models, args.batch, args.steps, args.warmup = "tiny", 2, 2, 1
    args.dtype = args.dtype or ("bfloat16" if args.device == "cuda" else "float32")
    return args


# ------------------------------------------------------------------------------------------------- FLOPs


class _MaskedForward(torch.nn.Module):
    """``mae(x, mask=mask)`` with the mask drawn outside: the tracer cannot record ``random_mask``'s ``scatter_``."""

    def __init__(self, mae: torch.nn.Module) -> None:
        super().__init__()
        self.mae = mae

    def forward(self, x, mask):
        return self.mae(x, mask=mask)


def forward_flops(model: torch.nn.Module, x: torch.Tensor) -> dict:
    """Forward FLOPs (multiply-adds) for input ``x`` as fvcore counts them and with SDPA added."""
    from fvcore.nn import FlopCountAnalysis

    inputs = x
    if hasattr(model, "mask_ratio"):  # MAE: the factory's ratio (0.9 for video)
        model, inputs = _MaskedForward(model), (x, model.random_mask(x.shape[0], model.mask_ratio, x.device))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer / jit deprecation warnings
        analysis = FlopCountAnalysis(model, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.set_op_handle("aten::layer_norm", layer_norm_flop_jit)
        analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
        by_op, by_module = dict(analysis.by_operator()), analysis.by_module()
    total = sum(by_op.values())
    sdpa = by_op.get("scaled_dot_product_attention", 0)  # fvcore drops the "aten::" prefix
    encoder = sum(by_module.get(f"mae.{m}", 0) for m in ENCODER_MODULES)  # MAE only
    return {"fvcore": total - sdpa, "with_sdpa": total, "by_operator": by_op, "mae_encoder": encoder}


# ------------------------------------------------------------------------------------------------ memory


def saved_activation_bytes(model, x, step_loss, autocast) -> int:
    """Bytes of distinct storages autograd keeps for backward in one forward (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), autocast():
        loss = step_loss(model, x)
    del loss
    return sum(seen.values())


class PeakRSS:
    """Peak resident set size (bytes) above the RSS at ``__enter__``, sampled from ``/proc/self/statm``."""

    interval = 0.002

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        with contextlib.suppress(OSError):  # hand freed heap pages back to the OS: the baseline is live memory
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        self.base = self.peak = self.rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        return self

    def _poll(self) -> None:
        while not self.stop.wait(self.interval):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.rss())
        self.growth = self.peak - self.base


# -------------------------------------------------------------------------------------------------- steps


def sup_loss(model, x):
    logits = model(x)
    target = torch.arange(x.shape[0], device=x.device) % logits.shape[1]
    return F.cross_entropy(logits.float(), target)


def mae_loss(model, x):
    return model(x)[0]  # (loss, pred, label, mask) at the factory's mask ratio (0.9)


class Runner:
    """One model, its AdamW and its loss; ``step()`` returns the (forward, backward, optimizer) seconds."""

    def __init__(self, name, model, loss_fn, args) -> None:
        self.name, self.model, self.loss_fn, self.args = name, model.train(), loss_fn, args
        self.opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.05)
        self.dtype, self.cuda = DTYPES[args.dtype], args.device == "cuda"

    def autocast(self):
        return torch.autocast(self.args.device, dtype=self.dtype, enabled=self.dtype != torch.float32)

    def _sync(self) -> tuple:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter(), time.process_time()

    def step(self, x) -> tuple:
        """Wall seconds of forward, backward and optimizer, and the CPU seconds of the step (all threads)."""
        t = [self._sync()]
        self.opt.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.loss_fn(self.model, x)
        t.append(self._sync())
        loss.backward()
        t.append(self._sync())
        self.opt.step()
        t.append(self._sync())
        return t[1][0] - t[0][0], t[2][0] - t[1][0], t[3][0] - t[2][0], t[3][1] - t[0][1]

    def memory_step(self, x, checkpoint: bool) -> dict:
        """Activation bytes and peak step memory with ``set_grad_checkpointing(checkpoint)`` (untimed step)."""
        self.model.set_grad_checkpointing(checkpoint)
        try:
            act = saved_activation_bytes(self.model, x, self.loss_fn, self.autocast)
            self.opt.zero_grad(set_to_none=True)  # gradients are allocated in the step: part of its peak
            if self.cuda:
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
                seconds = sum(self.step(x)[:3])
                peak = torch.cuda.max_memory_allocated() - base
            else:
                with PeakRSS() as meter:
                    seconds = sum(self.step(x)[:3])
                peak = meter.growth
        finally:
            self.model.set_grad_checkpointing(False)
        return {"activation_mb": act / MB, "peak_step_mb": peak / MB, "step_s": seconds}

    def profile(self, x, top: int = 12) -> list:
        from torch.profiler import ProfilerActivity, profile

        acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if self.cuda else [])
        with profile(activities=acts) as prof:
            self.step(x)
        key = "self_device_time_total" if self.cuda else "self_cpu_time_total"
        events = list(prof.key_averages())
        total = sum(getattr(e, key) for e in events) or 1
        events.sort(key=lambda e: getattr(e, key), reverse=True)
        return [{"op": e.key, "self_ms": getattr(e, key) / 1e3, "share": getattr(e, key) / total, "calls": e.count}
                for e in events[:top]]


def mae_parts(runner, x) -> dict:
    """Wall and CPU seconds of forward and backward of the MAE encoder (masking, sparse blocks, fusion) and, on a
    detached latent, of the decoder + loss: ``[encoder fwd, encoder bwd, decoder fwd, decoder bwd]``."""
    model, t = runner.model, [runner._sync()]
    with runner.autocast():
        latent, mask = model.forward_encoder(x, model.mask_ratio)
    t.append(runner._sync())
    latent.backward(torch.randn_like(latent))
    t.append(runner._sync())
    latent = latent.detach().requires_grad_()
    with runner.autocast():
        pred, visible = model.forward_decoder(latent, mask)
        loss = model.forward_loss(x, pred, ~visible)[0]
    t.append(runner._sync())
    loss.backward()
    t.append(runner._sync())
    runner.opt.zero_grad(set_to_none=True)  # drop the gradients
    return {clock: [b[i] - a[i] for a, b in zip(t, t[1:])] for i, clock in enumerate(("wall_s", "cpu_s"))}


def build_models(size: str, args) -> tuple:
    """``hiera_{size}_16x224`` (400 classes) and ``mae_hiera_{size}_16x224`` (factory mask ratio) on the device."""
    enc, dec = (dict(QUICK_ENCODER), dict(QUICK_DECODER)) if args.quick else ({}, {})
    if args.input_size:
        enc["input_size"] = tuple(args.input_size)
    torch.manual_seed(0)
    sup = create_model(f"hiera_{size}_16x224", num_classes=400, **enc)
    mae = create_model(f"mae_hiera_{size}_16x224", **enc, **dec)
    return sup.to(args.device), mae.to(args.device)


def measure_size(size: str, args) -> dict:
    sup, mae = build_models(size, args)
    x = torch.randn(args.batch, 3, *sup.input_size, device=args.device)
    runners = [Runner("sup", sup, sup_loss, args), Runner("mae", mae, mae_loss, args)]
    out = {"size": size, "input": list(x.shape), "load_start": os.getloadavg()[0]}
    for r in runners:
        flops = forward_flops(r.model.eval(), x[:1])
        r.model.train()
        out[r.name] = {"model": ("mae_" if r.name == "mae" else "") + f"hiera_{size}_16x224",
                       "params_m": sum(p.numel() for p in r.model.parameters()) / 1e6,
                       "fwd_gflops_fvcore": flops["fvcore"] / 1e9, "fwd_gflops": flops["with_sdpa"] / 1e9,
                       "step_gflops": 3 * args.batch * flops["with_sdpa"] / 1e9,
                       "mae_encoder_fwd_gflops": flops["mae_encoder"] / 1e9,
                       "flops_by_operator": {k: v / 1e9 for k, v in flops["by_operator"].items()}}
    times = {r.name: [] for r in runners}
    for i in range(args.warmup + args.steps):
        for r in runners:  # alternate: sup, mae, sup, mae, ...; the first `warmup` rounds are not kept
            step = r.step(x)
            if i >= args.warmup:
                times[r.name].append(step)
    for r in runners:
        steps = sorted(times[r.name], key=lambda t: sum(t[:3]))
        fwd, bwd, opt, _ = steps[len(steps) // 2]  # the median step (upper median for an even count)
        res = out[r.name]
        res.update(step_s=statistics.median(sum(t[:3]) for t in steps), fwd_s=fwd, bwd_s=bwd, opt_s=opt,
                   steps_s=[sum(t[:3]) for t in times[r.name]], cpu_step_s=statistics.median(t[3] for t in steps),
                   cpu_steps_s=[t[3] for t in times[r.name]])
        res.update(clips_per_s=args.batch / res["step_s"], gflops_per_s=res["step_gflops"] / res["step_s"])
        if not args.no_memory:
            res["memory"] = {"plain": r.memory_step(x, False), "act_checkpoint": r.memory_step(x, True)}
        if args.profile:
            res["profile"] = r.profile(x)
            if r.name == "mae":
                res["parts"] = mae_parts(r, x)
    flops = out["mae"]["step_gflops"] / out["sup"]["step_gflops"]
    fwd_bwd = [statistics.median(t[0] + t[1] for t in times[name]) for name in ("mae", "sup")]
    out["ratio"] = {"flops": flops, "time_fwd_bwd": fwd_bwd[0] / fwd_bwd[1]}
    for clock, key in (("time", "step_s"), ("cpu_time", "cpu_step_s")):  # wall clock; CPU time of the process
        ratio = out["mae"][key] / out["sup"][key]
        out["ratio"].update({clock: ratio, f"{clock}_over_flops": ratio / flops,
                             f"{clock}_within_25pct": abs(ratio / flops - 1) <= 0.25})
    out["load_end"] = os.getloadavg()[0]
    return out


def print_size(res: dict, args) -> None:
    print(f"\n== {res['size']}: input {tuple(res['input'])}, load {res['load_start']:.2f} -> {res['load_end']:.2f}")
    print(f"{'model':<24}{'params M':>9}{'fwd G/clip fvcore':>18}{'+SDPA':>8}{'step G':>9}{'s/step':>9}"
          f"{'clips/s':>9}{'G/s':>7}{'fwd/bwd/opt s':>20}{'CPU s':>8}")
    for name in ("sup", "mae"):
        r = res[name]
        print(f"{r['model']:<24}{r['params_m']:>9.1f}{r['fwd_gflops_fvcore']:>18.2f}{r['fwd_gflops']:>8.2f}"
              f"{r['step_gflops']:>9.1f}{r['step_s']:>9.3f}{r['clips_per_s']:>9.3f}{r['gflops_per_s']:>7.3g}"
              f"{r['fwd_s']:>10.3g}/{r['bwd_s']:.3g}/{r['opt_s']:.3g}{r['cpu_step_s']:>8.3g}")
    q = res["ratio"]
    print(f"MAE / sup ({res['size']}): FLOPs {q['flops']:.3f}  time {q['time']:.3f}  time/FLOPs "
          f"{q['time_over_flops']:.3f}  within 25%: {'yes' if q['time_within_25pct'] else 'NO'}  "
          f"(fwd+bwd only: {q['time_fwd_bwd']:.3f}; CPU time {q['cpu_time']:.3f}, /FLOPs "
          f"{q['cpu_time_over_flops']:.3f}: {'yes' if q['cpu_time_within_25pct'] else 'NO'})")
    if "memory" in res["sup"]:
        print(f"{'memory (MB)':<24}{'activations':>12}{'ckpt':>8}{'peak step':>11}{'ckpt':>8}{'s/step ckpt':>13}")
        for name in ("sup", "mae"):
            plain, ckpt = res[name]["memory"]["plain"], res[name]["memory"]["act_checkpoint"]
            print(f"{res[name]['model']:<24}{plain['activation_mb']:>12.0f}{ckpt['activation_mb']:>8.0f}"
                  f"{plain['peak_step_mb']:>11.0f}{ckpt['peak_step_mb']:>8.0f}{ckpt['step_s']:>13.3f}")
    if "parts" in res["mae"]:
        p, r = res["mae"]["parts"], res["mae"]
        enc = 3 * args.batch * r["mae_encoder_fwd_gflops"]
        for i, (part, g) in enumerate((("encoder", enc), ("decoder + loss", r["step_gflops"] - enc))):
            wall, cpu = (p[c][2 * i] + p[c][2 * i + 1] for c in ("wall_s", "cpu_s"))
            print(f"  MAE {part} fwd+bwd: {g:.1f} G in {wall:.3f} s = {g / wall:.1f} G/s "
                  f"(CPU time {cpu:.3f} s = {g / cpu:.1f} G/s)")
    for name in ("sup", "mae"):
        for p in res[name].get("profile", []):
            print(f"  profile {res[name]['model']:<24}{p['op']:<48}{p['self_ms']:>10.1f} ms{p['share']:>7.1%}"
                  f"{p['calls']:>7}")


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cpu = platform.machine()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    machine = {"cpu": cpu, "cores": os.cpu_count(),
               "threads": torch.get_num_threads(), "torch": torch.__version__, "device": args.device,
               "dtype": args.dtype, "load_start": os.getloadavg()}
    if args.device == "cuda":
        machine["gpu"] = torch.cuda.get_device_name()
    print(f"train step: batch {args.batch}, {args.steps} timed steps after {args.warmup} warm-up, device "
          f"{args.device} ({machine.get('gpu', machine['cpu'])}), dtype {args.dtype}, threads {machine['threads']}, "
          f"torch {torch.__version__}, load {machine['load_start'][0]:.2f}")
    print("FLOPs: multiply-adds (fvcore convention), forward per clip; step = 3 x forward x batch")
    results = []
    for size in [s.strip() for s in args.models.split(",") if s.strip()]:
        results.append(measure_size(size, args))
        print_size(results[-1], args)
    machine["load_end"] = os.getloadavg()
    out = {"args": vars(args), "machine": machine, "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
