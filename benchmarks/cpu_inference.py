"""CPU inference of ``hiera_base_16x224`` at batch 1: what makes it faster, against the official implementation.

Variants, in one process on the same random clip ``(1, 3, 16, 224, 224)`` with identical weights:

* ``official``: the official ``hiera-transformer`` package's ``Hiera``, fp32 (the reference);
* ``fp32``: ours, eager fp32 (``TEST.PRECISION fp32``, the CPU default without AMX);
* ``bf16``: ours under ``torch.autocast("cpu", bfloat16)`` (``TEST.PRECISION bf16``);
* ``fp16``: ours under ``torch.autocast("cpu", float16)`` (``TEST.PRECISION fp16``; oneDNN's fp16 kernels use
  ``avx512_fp16`` where the CPU has it);
* ``bf16_weights``: ours with weights and input cast to bfloat16 (no autocast);
* ``int8_dynamic``: ours with every ``nn.Linear`` dynamically quantised to int8 (``torch.ao.quantization.
  quantize_dynamic``, deprecated in favour of torchao): measured to show why it is not offered as a precision;
* ``compile``: ``torch.compile(ours)`` (inductor), fp32; its compile time is printed apart;
* ``compile_frozen``: the same with inductor's ``freezing`` (weights folded as constants, prepacked for oneDNN).

Printed per variant: median seconds per clip over ``--iters`` after one warm-up, clips/s, the speed-up over the
official model, and the largest logit difference from ours in fp32, relative to the largest fp32 logit (bf16 keeps
about 3 significant digits, fp16 about 4; for the official model, which returns probabilities in eval mode, the
difference of the probabilities). The head's weights are drawn with std 0.2 so that the logits are spread as a
trained model's are. The CPU's bf16 and fp16 flags are printed too (``avx512_bf16``, ``avx512_fp16``,
``amx_bf16``): without AMX, oneDNN's bf16 matmul is slower than fp32 here, which is why ``TEST.PRECISION auto``
stays in fp32 on such CPUs.

The roofline, measured in the same run (``--no-roofline`` skips it): the model's multiply-adds per clip
(:func:`hiera_video.models.flops.count_flops`) and this CPU's dense matmul peak (a 4096^3 ``torch.mm`` in fp32, bf16
and fp16), hence the fastest any exact fp32 forward could be, against the time 2x the official model would need.
The allocator matters to both models (large activations freshly paged in on every forward), so the header names the
one in use (``LD_PRELOAD``, glibc's ``MALLOC_*`` settings); run the script under each to compare.

    python benchmarks/cpu_inference.py --threads 2 --iters 3
    python benchmarks/cpu_inference.py --threads 2 --iters 3 --variants official,fp32,compile
    MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 python benchmarks/cpu_inference.py --variants official,fp32
    LD_PRELOAD=libtcmalloc_minimal.so.4 python benchmarks/cpu_inference.py --variants official,fp32
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import statistics
import sys
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hiera_video.models import create_model, model_config  # noqa: E402

VARIANTS = ("official", "fp32", "bf16", "fp16", "bf16_weights", "int8_dynamic", "compile", "compile_frozen")


def _time(model, x, iters, ctx=contextlib.nullcontext):
    times = []
    with torch.inference_mode(), ctx():
        for i in range(iters + 1):
            start = time.perf_counter()
            out = model(x)
            if i:
                times.append(time.perf_counter() - start)
    return statistics.median(times), out.float()


def matmul_peak(dtype, n: int = 4096, iters: int = 2) -> float:
    """Multiply-adds per second of an ``(n, n) @ (n, n)`` ``torch.mm`` in ``dtype`` (best of ``iters``)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    a @ b
    best = float("inf")
    for _ in range(iters):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return n ** 3 / best


def allocator() -> str:
    tuned = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")]
    preload = os.environ.get("LD_PRELOAD")
    return ", ".join(([f"LD_PRELOAD={os.path.basename(preload)}"] if preload else []) + tuned) or "glibc default"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="hiera_base_16x224")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--no-roofline", action="store_true", help="skip the FLOP count and the matmul peaks")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import hiera

    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    print(f"{args.model}, batch 1, {torch.get_num_threads()} threads; CPU bf16/fp16 flags: "
          f"{', '.join(f for f in ('avx512_bf16', 'avx512_fp16', 'amx_bf16') if f in flags) or 'none'}; "
          f"allocator: {allocator()}")
    torch.manual_seed(0)
    ours = create_model(args.model).eval()
    x = torch.randn(1, 3, *ours.input_size)
    with torch.no_grad():
        torch.nn.init.normal_(ours.head.projection.weight, std=0.2)  # spread logits, as a trained head's
    with torch.inference_mode():
        reference = ours(x).float()
    results = {}
    for name in args.variants.split(","):
        if name == "official":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = hiera.Hiera(**model_config(args.model))
            model.load_state_dict(ours.state_dict())
            seconds, out = _time(model.eval(), x, args.iters)
        elif name == "fp32":
            seconds, out = _time(ours, x, args.iters)
        elif name == "bf16":
            seconds, out = _time(ours, x, args.iters, lambda: torch.autocast("cpu", dtype=torch.bfloat16))
        elif name == "fp16":
            seconds, out = _time(ours, x, args.iters, lambda: torch.autocast("cpu", dtype=torch.float16))
        elif name == "int8_dynamic":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(ours), {torch.nn.Linear}, torch.qint8)
            seconds, out = _time(model, x, args.iters)
        elif name == "bf16_weights":
            model = create_model(args.model).eval()
            model.load_state_dict(ours.state_dict())
            seconds, out = _time(model.bfloat16(), x.bfloat16(), args.iters)
        elif name in ("compile", "compile_frozen"):
            import torch._inductor.config as inductor_config

            inductor_config.freezing = name == "compile_frozen"
            torch._dynamo.reset()
            compiled = torch.compile(ours)
            start = time.perf_counter()
            with torch.inference_mode():
                compiled(x)
            print(f"{name}: first call {time.perf_counter() - start:.1f} s", flush=True)
            seconds, out = _time(compiled, x, args.iters)
        else:
            raise SystemExit(f"unknown variant {name}; choose from {VARIANTS}")
        results[name] = seconds
        # the official Hiera returns probabilities in eval mode: compare it with ours through a softmax
        target = reference.softmax(-1) if name == "official" else reference
        diff = ((out - target).abs().max() / target.abs().max()).item()
        vs = f", {results['official'] / seconds:.2f}x official" if "official" in results else ""
        print(f"{name:13s} {seconds:.3f} s/clip = {1 / seconds:.3f} clips/s{vs}; "
              f"max |logit - fp32| / max |fp32| {diff:.1e}",
              flush=True)
    if not args.no_roofline:
        from hiera_video.models.flops import count_flops

        macs = count_flops(ours, x)["flops"]
        peaks = {str(d).split(".")[1]: matmul_peak(d) for d in (torch.float32, torch.bfloat16, torch.float16)}
        print(f"roofline: {macs / 1e9:.1f} G multiply-adds per clip; 4096^3 matmul peak "
              + ", ".join(f"{k} {v / 1e9:.0f} GMAC/s" for k, v in peaks.items()))
        floor = macs / peaks["float32"]
        line = f"fastest exact fp32 forward at that peak: {floor:.3f} s/clip"
        if "official" in results:
            line += f"; 2x official needs {results['official'] / 2:.3f} s/clip"
        if "fp32" in results:
            line += (f"; ours fp32 runs at {macs / results['fp32'] / 1e9:.0f} GMAC/s "
                     f"({floor / results['fp32']:.0%} of peak)")
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
