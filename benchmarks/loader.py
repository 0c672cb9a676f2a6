"""Data-loader throughput: clips/s per worker of our training pipelines vs pytorchvideo's decoding path.

What is measured: model-ready training clips per second produced by ONE worker, i.e. one process pinned
to one CPU core (``os.sched_setaffinity``, so FFmpeg's and decord's automatic thread counts are 1 too),
``torch.set_num_threads(1)``, no DataLoader workers: a plain loop over ``dataset[i]``. Our pipelines are
built only through the public API, ``load_config(configs/{k400,ssv2}/hiera_b.yaml, overrides)`` and
``Kinetics(cfg, "train")`` / ``SSv2(cfg, "train")``, so the train transform is whatever the config asks
for (RandAugment, random erasing, ...). ``AUG.NUM_SAMPLE N`` counts N clips per decoded video.

Reference, on the same files in the same run: pytorchvideo 0.1.5 ``EncodedVideo.from_path(path,
decoder="pyav")`` + ``RandomClipSampler(16 * 4 / 30 s)`` + ``get_clip`` + uniform temporal subsampling to
16 frames, then OUR ``train_transform(cfg)`` (N times on the one decoded clip), so only decoding and
sampling differ. pytorchvideo's own SSv2 dataset reads JPEG frames; for the SSv2 videos the reference is
the same EncodedVideo path over the whole video duration. Ratio = ours / pytorchvideo at the same N.
Install the reference with ``pip install pytorchvideo==0.1.5`` (NOT a project dependency); without it
those rows are skipped. Only ``pytorchvideo.data.encoded_video`` and ``pytorchvideo.data.clip_sampling``
are imported: ``pytorchvideo.transforms`` needs ``torchvision.transforms.functional_tensor``, gone from
current torchvision, and is not needed (its 3-line uniform subsampling is re-implemented below).

Timing: every video goes through every pipeline in turn (the order rotates per video), so load changes on
a shared machine hit all pipelines alike; warm-up items are excluded; a repeat is one pass over the
videos; the table shows the median over repeats of wall-clock clips/s (and of clips per CPU-second).
Failing videos are not replaced (``DATA.MAX_RETRIES 0``): a pipeline that cannot read them is skipped.

Videos (made here, cached in ``--workdir``): K400-like 10 s, 30 fps, 320p (320x426 and 320x568) H.264
(libx264 crf 23 veryfast, one set per ``--gops`` keyframe interval: 16 is what
``data_prep/resize_videos.py`` writes, 250 is x264's default) and SSv2-like 3-4 s, 12 fps, 240x426 VP9
webm; content: a textured background under a drifting, shaking camera, moving objects, sensor noise.

    pip install pytorchvideo==0.1.5   # reference only
    python benchmarks/loader.py --num-videos 16 --repeats 5 --json loader.json
    python benchmarks/loader.py --quick --no-reference   # smoke test, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hiera_video.config import load_config  # noqa: E402
from hiera_video.data.kinetics import Kinetics, collate_train  # noqa: E402
from hiera_video.data.ssv2 import SSv2  # noqa: E402
from hiera_video.prep.synthetic import write_video  # noqa: E402
from hiera_video.data.transforms import train_transform  # noqa: E402

INSTALL_REF = "pip install pytorchvideo==0.1.5"
TARGET_CLIPS, TARGET_RATIO = 20.0, 2.0


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--num-videos", type=int, default=16, help="videos per data set")
    p.add_argument("--repeats", type=int, default=5, help="timed passes over the videos")
    p.add_argument("--warmup", type=int, default=2, help="untimed items per pipeline first")
    p.add_argument("--gops", type=int, nargs="+", default=[16, 250], help="K400 keyframe intervals (frames)")
    p.add_argument("--backends", nargs="+", default=["pyav", "decord", "torchcodec"],
                   help="DATA.DECODING_BACKEND values for our pipelines (one that fails to load is skipped)")
    p.add_argument("--num-samples", type=int, nargs="+", default=[1, 2], help="AUG.NUM_SAMPLE values")
    p.add_argument("--no-ssv2", action="store_true", help="skip the SSv2 pipeline")
    p.add_argument("--no-reference", action="store_true", help="skip pytorchvideo even if installed")
    p.add_argument("--loader-workers", type=int, default=2, help="also time a DataLoader with this many "
                   "workers on all cores (information only; 0: skip)")
    p.add_argument("--cpu", type=int, default=None, help="core to pin the worker to; None: the last allowed one")
    p.add_argument("--opts", nargs="*", default=[], help="extra config overrides KEY VALUE ... (both pipelines: "
                   "the reference uses the same train transform), e.g. AUG.ENABLE False")
    p.add_argument("--workdir", default=None, help="where the videos are written / reused; None: a temp dir")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--quick", action="store_true", help="tiny videos, 1 repeat, no DataLoader: a smoke test")
    args = p.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.gops, args.loader_workers = 1, 1, args.gops[:1], 0
    return args


# ---------------------------------------------------------------------------- videos
def _lowpass(rng, shape, cutoff):
    """Gaussian low-pass filtered white noise, zero mean, unit variance, float32."""
    h, w = shape
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    spec = np.fft.rfft2(rng.standard_normal(shape)) * np.exp(-(fy**2 + fx**2) / (2 * cutoff**2))
    t = np.fft.irfft2(spec, s=shape)
    return ((t - t.mean()) / (t.std() + 1e-8)).astype(np.float32)


def render_video(seed: int, num_frames: int, h: int, w: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)``: a multi-scale texture (mostly luminance) seen by a camera drifting with
    sub-pixel shake, three moving textured ellipses and Gaussian sensor noise (sigma 3): content the
    codec has to work on (motion compensation, residuals): 0.3-0.7 Mbit/s at 320p with crf 23."""
    rng = np.random.default_rng(seed)
    pad = max(16, h // 2)
    bh, bw = h + pad, w + pad

    def texture(hh, ww):
        lum = sum(a * _lowpass(rng, (hh, ww), c) for a, c in ((0.6, 0.01), (0.3, 0.05), (0.15, 0.25)))
        chroma = [_lowpass(rng, (hh, ww), 0.02) for _ in range(3)]
        return np.stack([0.45 + 0.22 * lum + 0.06 * c for c in chroma], -1) * 255

    bg = texture(bh, bw)
    p0 = rng.uniform(0, pad / 2, 2)
    vel = rng.uniform(-1, 1, 2) * (pad / 2) / max(num_frames, 1)
    objs = [(rng.uniform([0, 0], [h, w]), rng.uniform(-3, 3, 2), rng.uniform(0.05, 0.15, 2) * (h, w),
             rng.uniform(40, 215, 3).astype(np.float32)) for _ in range(3)]
    obj_tex = texture(h, w) - 0.45 * 255
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((num_frames, h, w, 3), np.uint8)
    for t in range(num_frames):
        p = np.clip(p0 + vel * t + rng.normal(0, 0.3, 2), 0, pad - 2)
        iy, ix = int(p[0]), int(p[1])
        fy, fx = p[0] - iy, p[1] - ix
        a = bg[iy:iy + h + 1, ix:ix + w + 1]
        f = (1 - fy) * ((1 - fx) * a[:h, :w] + fx * a[:h, 1:]) + fy * ((1 - fx) * a[1:, :w] + fx * a[1:, 1:])
        for c, v, r, col in objs:
            cy, cx = (c + v * t) % (h, w)
            m = ((yy - cy) / r[0]) ** 2 + ((xx - cx) / r[1]) ** 2 < 1
            f[m] = col + 0.5 * obj_tex[m]
        f += rng.standard_normal((h, w, 3), dtype=np.float32) * 3
        out[t] = np.clip(f, 0, 255)
    return out


def _encoder(name: str) -> bool:
    import av

    try:
        return name in av.codecs_available and av.codec.Codec(name, "w") is not None
    except Exception:
        return False


def _make_one(job) -> list[str]:
    seed, frames, size, fps, outputs = job
    if all(os.path.isfile(p) and os.path.getsize(p) > 0 for p, _, _ in outputs):
        return [p for p, _, _ in outputs]
    video = render_video(seed, frames, *size)
    for path, codec, kw in outputs:
        write_video(path + ".tmp" + os.path.splitext(path)[1], video, fps, codec, **kw)
        os.replace(path + ".tmp" + os.path.splitext(path)[1], path)
    return [p for p, _, _ in outputs]


def make_videos(workdir: str, args) -> dict[str, str]:
    """Write the videos and one Kinetics-format list folder per data set; returns {name: list folder}."""
    n, quick = args.num_videos, args.quick
    h264 = _encoder("libx264")
    vp = "libvpx-vp9" if _encoder("libvpx-vp9") else "libvpx" if _encoder("libvpx") else None
    if not h264:
        print("note: PyAV has no libx264 encoder; the K400-like videos are MPEG-4 part 2 instead of H.264")
    if vp is None:
        print("note: PyAV has no libvpx encoder; the SSv2-like videos are MPEG-4 part 2 .mp4, not webm")
    tag = "quick" if quick else "full"
    sets, jobs = {}, []
    for i in range(n):
        size = (64, 86) if quick else ((320, 426) if i % 2 == 0 else (320, 568))
        outs = []
        for g in args.gops:
            name, path = f"k400-gop{g}", os.path.join(workdir, f"k400_{tag}_gop{g}", f"v{i:03d}.mp4")
            kw = ({"gop_size": g, "options": {"crf": "23", "preset": "veryfast",
                                               "x264-params": f"keyint={g}:min-keyint={g}:scenecut=0"}}
                  if h264 else {"gop_size": g, "options": {"b": "800k"}})
            outs.append((path, "libx264" if h264 else "mpeg4", kw))
            sets.setdefault(name, []).append((path, (45 if quick else 300) / 30))
        jobs.append((1000 + i, 45 if quick else 300, size, 30, outs))
        if not args.no_ssv2:
            path = os.path.join(workdir, f"ssv2_{tag}", f"v{i:03d}." + ("webm" if vp else "mp4"))
            kw = {"options": {"crf": "32", "b": "0", "deadline": "good", "cpu-used": "4"}} if vp else {}
            frames = 20 if quick else 36 + (i * 7) % 13  # 3-4 s at 12 fps
            jobs.append((2000 + i, frames, (48, 86) if quick else (240, 426), 12, [(path, vp or "mpeg4", kw)]))
            sets.setdefault("ssv2", []).append((path, frames / 12))
    for d in {os.path.dirname(p) for videos in sets.values() for p, _ in videos}:
        os.makedirs(d, exist_ok=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
        list(pool.map(_make_one, jobs))
    lists = {}
    for name, videos in sets.items():
        paths = [p for p, _ in videos]
        lists[name] = os.path.join(workdir, f"lists_{tag}_{name}")
        os.makedirs(lists[name], exist_ok=True)
        for split in ("train", "val", "test"):
            with open(os.path.join(lists[name], f"{split}.csv"), "w") as f:
                f.writelines(f"{p} {k % 2}\n" for k, p in enumerate(paths))
        mbit = sum(os.path.getsize(p) for p in paths) * 8 / 1e6
        print(f"videos {name}: {len(paths)} files in {os.path.dirname(paths[0])}, "
              f"{mbit / sum(s for _, s in videos):.2f} Mbit/s")
    print(f"videos ready in {time.perf_counter() - t0:.1f} s")
    return lists


# ---------------------------------------------------------------------------- pipelines
def config(dataset: str, list_dir: str, backend: str, num_sample: int, opts=()):
    cfg_file = os.path.join(ROOT, "configs", "ssv2" if dataset == "ssv2" else "k400", "hiera_b.yaml")
    return load_config(cfg_file, ["DATA.PATH_TO_DATA_DIR", list_dir, "DATA.PATH_PREFIX", "",
                                  "DATA.DECODING_BACKEND", backend, "AUG.NUM_SAMPLE", str(num_sample),
                                  "DATA.MAX_RETRIES", "0", *opts])


class Ours:
    def __init__(self, dataset, list_dir, backend, num_sample, opts):
        self.cfg = config(dataset, list_dir, backend, num_sample, opts)
        self.ds = (SSv2 if dataset == "ssv2" else Kinetics)(self.cfg, "train")
        self.name, self.backend, self.num_sample = "ours", backend, num_sample

    def __call__(self, i: int) -> int:
        item = self.ds[i]
        if item["bad"]:
            raise RuntimeError(f"failed: {item['bad']}")
        clip = item["clip"]
        return clip.shape[0] if clip.ndim == 5 else 1


def import_reference():
    """(EncodedVideo, RandomClipSampler) from pytorchvideo, or (None, reason)."""
    try:
        from pytorchvideo.data.clip_sampling import RandomClipSampler
        from pytorchvideo.data.encoded_video import EncodedVideo
    except Exception as e:  # ImportError, or a broken install
        return None, f"pytorchvideo not importable ({type(e).__name__}: {e}); install: {INSTALL_REF}"
    return (EncodedVideo, RandomClipSampler), ""


class Reference:
    """pytorchvideo's EncodedVideo + RandomClipSampler decoding, then our train transform."""

    def __init__(self, ref, dataset, list_dir, num_sample, paths, opts):
        self.encoded_video, self.sampler_cls = ref
        cfg = config(dataset, list_dir, "pyav", num_sample, opts)
        self.tf = train_transform(cfg)
        d = cfg.DATA
        self.num_frames, self.paths, self.whole = d.NUM_FRAMES, paths, dataset == "ssv2"
        self.sampler = self.sampler_cls(d.NUM_FRAMES * d.SAMPLING_RATE / d.TARGET_FPS)
        self.name, self.backend, self.num_sample = "pytorchvideo", "pyav", num_sample

    def __call__(self, i: int) -> int:
        video = self.encoded_video.from_path(self.paths[i], decode_audio=False, decoder="pyav")
        sampler = self.sampler_cls(video.duration) if self.whole else self.sampler
        info = sampler(0.0, video.duration, None)
        clip = video.get_clip(info.clip_start_sec, info.clip_end_sec)["video"]  # float (C, T, H, W), 0..255
        video.close()
        if clip is None:
            raise RuntimeError(f"pytorchvideo decoded no frames from {self.paths[i]}")
        # the frames of pytorchvideo's uniform_temporal_subsample, taken from the (T, H, W, C) memory under its
        # (C, T, H, W) view: its own index_select on that view costs ~100 ms more a clip, not charged here
        idx = torch.linspace(0, clip.shape[1] - 1, self.num_frames).clamp(0, clip.shape[1] - 1).long()
        frames = clip.permute(1, 2, 3, 0)[idx].to(torch.uint8)  # uint8 (T, H, W, C), as our decoders give
        for _ in range(self.num_sample):
            self.tf(frames)
        return self.num_sample


# ---------------------------------------------------------------------------- timing
def measure(pipes: list, n: int, repeats: int, warmup: int) -> list[dict]:
    """Median over repeats of clips/s (wall and CPU) per pipeline; pipelines interleaved per video."""
    live = []
    for p in pipes:
        try:
            for i in range(max(1, warmup)):
                p(i % n)
            live.append(p)
        except Exception as e:
            print(f"skip {p.name} {p.backend} N={p.num_sample}: {type(e).__name__}: {str(e)[:200]}")
    runs = {id(p): [] for p in live}
    for r in range(repeats):
        random.seed(r)
        torch.manual_seed(r)
        acc = {id(p): [0, 0.0, 0.0] for p in live}
        for i in range(n):
            k = (i + r) % len(live)
            for p in live[k:] + live[:k]:
                w0, c0 = time.perf_counter(), time.process_time()
                clips = p(i)
                a = acc[id(p)]
                a[0] += clips
                a[1] += time.perf_counter() - w0
                a[2] += time.process_time() - c0
        for p in live:
            c, w, cpu = acc[id(p)]
            runs[id(p)].append((c / w, c / max(cpu, 1e-9)))
    return [{"pipeline": p.name, "backend": p.backend, "num_sample": p.num_sample,
             "clips_per_s": statistics.median(x[0] for x in runs[id(p)]),
             "clips_per_cpu_s": statistics.median(x[1] for x in runs[id(p)]),
             "runs": [round(x[0], 2) for x in runs[id(p)]]} for p in live]


def dataloader_rate(dataset: str, list_dir: str, num_sample: int, workers: int, repeats: int, opts) -> float:
    cfg = config(dataset, list_dir, "pyav", num_sample, opts)
    ds = (SSv2 if dataset == "ssv2" else Kinetics)(cfg, "train")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate_train,
                                         persistent_workers=True, shuffle=True)
    rates = []
    for epoch in range(repeats + 1):  # epoch 0 starts the workers: not timed
        t0, clips = time.perf_counter(), 0
        for batch in loader:
            clips += batch["clip"].shape[0]
        if epoch:
            rates.append(clips / (time.perf_counter() - t0))
    return statistics.median(rates)


def print_table(rows: list[dict]) -> None:
    print(f"\n{'data set':<14}{'pipeline':<14}{'backend':<11}{'N':>2}{'clips/s/worker':>16}{'(per CPU s)':>13}"
          f"{'vs pytorchvideo':>17}  targets (N=2: >={TARGET_CLIPS:g} clips/s, >={TARGET_RATIO:g}x)")
    for r in rows:
        ratio = f"{r['ratio']:.2f}x" if r.get("ratio") else "-"
        print(f"{r['dataset']:<14}{r['pipeline']:<14}{r['backend']:<11}{r['num_sample']:>2}{r['clips_per_s']:>16.2f}"
              f"{r['clips_per_cpu_s']:>13.2f}{ratio:>17}  {r.get('targets', '')}")


def main(argv=None) -> dict:
    args = parse_args(argv)
    affinity, threads = os.sched_getaffinity(0), torch.get_num_threads()
    cpu = args.cpu if args.cpu is not None else max(affinity)
    tmp = None if args.workdir else tempfile.TemporaryDirectory(prefix="loader_bench_")
    workdir = args.workdir or tmp.name
    os.makedirs(workdir, exist_ok=True)
    ref, why = (None, "--no-reference") if args.no_reference else import_reference()
    if ref is None:
        print(f"reference skipped: {why}")
    rows, info = [], {}
    try:
        lists = make_videos(workdir, args)
        os.sched_setaffinity(0, {cpu})
        torch.set_num_threads(1)
        print(f"one worker = this process on core {cpu} of {sorted(affinity)}, torch threads 1; "
              f"load average {os.getloadavg()[0]:.2f}")
        for name, list_dir in lists.items():
            dataset = "ssv2" if name == "ssv2" else "k400"
            with open(os.path.join(list_dir, "train.csv")) as f:
                paths = [ln.rsplit(" ", 1)[0] for ln in f.read().splitlines()]
            pipes = [Reference(ref, dataset, list_dir, ns, paths, args.opts) for ns in args.num_samples] if ref else []
            for backend in args.backends:
                try:
                    pipes += [Ours(dataset, list_dir, backend, ns, args.opts) for ns in args.num_samples]
                except Exception as e:  # e.g. a backend this checkout does not have
                    print(f"skip ours {backend}: {type(e).__name__}: {str(e)[:200]}")
            for r in measure(pipes, len(paths), args.repeats, args.warmup):
                rows.append({"dataset": name, **r})
        refs = {(r["dataset"], r["num_sample"]): r["clips_per_s"] for r in rows if r["pipeline"] == "pytorchvideo"}
        for r in rows:
            base = refs.get((r["dataset"], r["num_sample"]))
            if r["pipeline"] == "ours" and base:
                r["ratio"] = r["clips_per_s"] / base
            if r["pipeline"] == "ours" and r["num_sample"] == 2:
                ok = [r["clips_per_s"] >= TARGET_CLIPS] + ([r["ratio"] >= TARGET_RATIO] if base else [])
                r["targets"] = "n/a (--quick)" if args.quick else "met" if all(ok) else "MISSED"
        info["load_average_after"] = os.getloadavg()[0]
        os.sched_setaffinity(0, affinity)
        if args.loader_workers > 0:
            name = next(iter(lists))
            rate = dataloader_rate("ssv2" if name == "ssv2" else "k400", lists[name], max(args.num_samples),
                                   args.loader_workers, args.repeats, args.opts)
            info["dataloader"] = {"dataset": name, "workers": args.loader_workers, "cores": len(affinity),
                                  "num_sample": max(args.num_samples), "backend": "pyav", "clips_per_s": rate}
    finally:
        os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)
        if tmp is not None:
            tmp.cleanup()
    print_table(rows)
    if "dataloader" in info:
        d = info["dataloader"]
        print(f"\nDataLoader(num_workers={d['workers']}) on {d['cores']} cores, {d['dataset']}, ours/pyav, "
              f"N={d['num_sample']}: {d['clips_per_s']:.2f} clips/s in total (information)")
    print(f"load average {info['load_average_after']:.2f} at the end (CPU s figures exclude other processes)")
    versions = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.processor()
                or platform.machine(), "cpu_count": os.cpu_count()}
    for mod in ("torchvision", "av", "decord", "torchcodec", "pytorchvideo"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    result = {"rows": rows, **info, "versions": versions, "args": vars(args),
              "reference": "pytorchvideo" if ref else why}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
