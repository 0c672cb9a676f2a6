"""A synthetic, motion-defined action dataset written as real encoded videos.

``make_motion_dataset(root)`` writes ``root/videos/{split}/{class}_{i:04d}.mp4``
(PyAV; H.264 via libx264 when that encoder exists, else MPEG-4 part 2), the
Kinetics-format lists ``root/{train,val,test}.csv`` (``videos/{split}/... label``,
relative to ``root``: use ``DATA.PATH_TO_DATA_DIR = DATA.PATH_PREFIX = root``) and
``root/classes.json`` (``{class_name: label}``).

Six classes that only motion tells apart — one frame cannot: a full-frame random
colour texture (fresh per video) translating left, right, up or down, or zooming in or
out. Opposite classes are each other's time reversal and every frame is the same kind of
texture, so only the motion over time carries the class. The motion is dense (every
patch moves), which a small Hiera trained from scratch picks up in a few hundred steps;
a single small moving object on a static background is far harder for it.

Everything is drawn from ``numpy.random.default_rng([seed, split, label, index])``: the
same arguments give the same dataset.

``write_video(path, frames, fps, codec)`` is the generic encoder used here and by the
tests.
"""

from __future__ import annotations

import json
import logging
import os
import time
from fractions import Fraction

import numpy as np

from hiera_video.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["CLASSES", "SPLITS", "write_video", "default_codec", "render_motion_video", "make_motion_dataset"]

CLASSES = ("move_left", "move_right", "move_up", "move_down", "zoom_in", "zoom_out")
SPLITS = ("train", "val", "test")
_PARAMS_FILE = ".synthetic.json"


def _has_encoder(name: str) -> bool:
    import av

    if name not in av.codecs_available:
        return False
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:
        return False


def default_codec() -> str:
    """``"libx264"`` when PyAV's FFmpeg has that encoder, else ``"mpeg4"``."""
    return "libx264" if _has_encoder("libx264") else "mpeg4"


def write_video(
    path: str,
    frames: np.ndarray,
    fps: float = 30,
    codec: str = "mpeg4",
    pix_fmt: str = "yuv420p",
    gop_size: int | None = None,
    options: dict[str, str] | None = None,
) -> str:
    """Encode uint8 RGB frames ``(T, H, W, C=3)`` to ``path`` with PyAV.

    The container comes from the extension (``.mp4``, ``.avi``, ``.mkv``, ...).
    Frame ``t`` gets pts ``t`` in a ``1/fps`` time base, so frame rate and frame index
    are exact.

    Args:
        path: output file; parent folders are created.
        frames: uint8 array or tensor ``(T, H, W, 3)``; H and W must be even for
            ``yuv420p``.
        fps: frames per second (a float such as 29.97 becomes ``30000/1001``).
        codec: an FFmpeg encoder name, e.g. ``"libx264"``, ``"mpeg4"``, ``"mjpeg"``.
        pix_fmt: encoder pixel format.
        gop_size: keyframe interval in frames (None: the encoder's default).
        options: extra encoder options, e.g. ``{"crf": "18", "bf": "2"}``.

    Returns:
        ``path``.

    Raises:
        ValueError: wrong shape/dtype, or odd size with ``yuv420p``.
        av.FFmpegError: the encoder or container rejects the settings.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or frames.shape[0] == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with T >= 1, got {frames.dtype} {frames.shape}")
    _, h, w, _ = frames.shape
    if pix_fmt == "yuv420p" and (h % 2 or w % 2):
        raise ValueError(f"yuv420p needs an even frame size, got {h}x{w} (H x W)")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(path, "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = 1 / rate
        if gop_size is not None:
            stream.codec_context.gop_size = int(gop_size)
        # One encoder thread: frame-threaded encoders give load-dependent output otherwise.
        stream.codec_context.thread_count = 1
        if options:
            stream.options = dict(options)
        for t, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
            # Convert here, single-threaded: swscale's threaded slices made encodes vary run to run.
            frame = frame.reformat(format=pix_fmt, threads=1)
            frame.pts = t
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _periodic_texture(rng: np.random.Generator, n: int = 128, cutoff: float = 0.06) -> np.ndarray:
    """A smooth, periodic colour noise texture ``(3, n, n)`` in [0, 1] (low-pass filtered white noise)."""
    noise = rng.standard_normal((3, n, n)) + 1j * rng.standard_normal((3, n, n))
    f = np.fft.fftfreq(n)
    spectrum = noise * np.exp(-(f[:, None] ** 2 + f[None, :] ** 2) / (2 * cutoff**2))
    tex = np.fft.ifft2(spectrum).real
    tex = (tex - tex.mean()) / tex.std()
    contrast = rng.uniform(0.14, 0.22)
    brightness = rng.uniform(0.4, 0.6)
    return np.clip(brightness + contrast * tex, 0.0, 1.0).astype(np.float32)


def render_motion_video(label: int, num_frames: int, size: tuple[int, int], rng: np.random.Generator):
    """Render one video of class ``CLASSES[label]``: a full-frame random texture in motion.

    Every class shows the same kind of frame (a smooth periodic colour texture, fresh per
    video); only the motion differs: translation left / right / up / down at
    ``speed`` pixels per frame, or a zoom in / out about a random centre at ``zoom``
    (fractional scale change) per frame. ``move_left`` played backwards is ``move_right``
    and ``zoom_in`` backwards is ``zoom_out``, so no single frame tells the class. The
    stimulus is dense (every patch moves), the classic random-texture motion display.

    Returns:
        ``(frames, meta)``: uint8 ``(T, H, W, 3)`` frames and a dict with ``velocity``
        ``(dx, dy)`` in pixels per frame (zero for zooms), ``zoom`` (per-frame scale
        change; zero for translations, positive for zoom in) and ``speed``.
    """
    import torch
    import torch.nn.functional as F

    h, w = size
    n = 128
    tex = torch.from_numpy(_periodic_texture(rng, n)).unsqueeze(0)  # (1, 3, n, n)
    name = CLASSES[label]
    speed = float(rng.uniform(1.5, 2.5))  # pixels per frame
    zoom_rate = float(rng.uniform(0.025, 0.035))
    offset = rng.uniform(0, n, size=2)  # texture pixel shown at the frame's top-left
    centre = np.array([w, h], dtype=np.float64) * rng.uniform(0.35, 0.65, size=2)
    t = np.arange(num_frames, dtype=np.float64)
    px = np.arange(w, dtype=np.float64)[None, None, :]  # frame pixel coordinates
    py = np.arange(h, dtype=np.float64)[None, :, None]
    if name.startswith("move_"):
        vx, vy = {"move_left": (-1, 0), "move_right": (1, 0), "move_up": (0, -1), "move_down": (0, 1)}[name]
        velocity, zoom = (vx * speed, vy * speed), 0.0
        # content moves by +velocity per frame: frame pixel p shows texture pixel p - v t
        tx = px - velocity[0] * t[:, None, None] + offset[0]  # (T, 1, W)
        ty = py - velocity[1] * t[:, None, None] + offset[1]  # (T, H, 1)
        tx, ty = np.broadcast_to(tx, (num_frames, h, w)), np.broadcast_to(ty, (num_frames, h, w))
    else:
        velocity = (0.0, 0.0)
        zoom = zoom_rate if name == "zoom_in" else -zoom_rate
        # magnification m_t = exp(zoom * t): frame pixel p shows texture pixel c + (p - c) / m_t
        steps = t if name == "zoom_in" else t - (num_frames - 1)
        mag = np.exp(zoom_rate * steps) if name == "zoom_in" else np.exp(-zoom_rate * steps)
        tx = centre[0] + (px - centre[0]) / mag[:, None, None] + offset[0]
        ty = centre[1] + (py - centre[1]) / mag[:, None, None] + offset[1]
        tx, ty = np.broadcast_to(tx, (num_frames, h, w)), np.broadcast_to(ty, (num_frames, h, w))
    # texture pixel -> grid_sample's [-1, 1] coordinates (align_corners=False), periodic wrap
    gx = ((np.mod(tx, n) + 0.5) / n) * 2 - 1
    gy = ((np.mod(ty, n) + 0.5) / n) * 2 - 1
    grid = torch.from_numpy(np.stack([gx, gy], axis=-1).astype(np.float32))  # (T, H, W, 2)
    video = F.grid_sample(tex.expand(num_frames, -1, -1, -1), grid, mode="bilinear",
                          padding_mode="reflection", align_corners=False)  # (T, 3, H, W)
    video = video.permute(0, 2, 3, 1).numpy() * 255.0
    video += rng.normal(0.0, 3.0, size=video.shape)  # per-frame sensor noise
    frames = np.clip(np.round(video), 0, 255).astype(np.uint8)
    meta = {"velocity": velocity, "zoom": zoom, "speed": speed}
    return frames, meta


def _complete(root: str, params: dict) -> bool:
    try:
        with open(os.path.join(root, _PARAMS_FILE)) as f:
            if json.load(f) != params:
                return False
        for split in SPLITS:
            with open(os.path.join(root, f"{split}.csv")) as f:
                lines = [ln.split() for ln in f if ln.strip()]
            if len(lines) != params["counts"][split] * len(CLASSES):
                return False
            for rel, _ in lines:
                p = os.path.join(root, rel)
                if not os.path.isfile(p) or os.path.getsize(p) == 0:
                    return False
        return os.path.isfile(os.path.join(root, "classes.json"))
    except (OSError, ValueError):
        return False


def make_motion_dataset(
    root: str,
    num_train_per_class: int = 40,
    num_val_per_class: int = 10,
    num_test_per_class: int = 10,
    size: tuple[int, int] = (96, 128),
    num_frames: int = 36,
    fps: float = 30,
    seed: int = 0,
    codec: str | None = None,
) -> dict:
    """Write the motion dataset under ``root`` (idempotent).

    If the lists, ``classes.json`` and every listed file exist and were made with the
    same arguments, nothing is written. Otherwise everything is regenerated; the lists
    are written last (through a temporary file), so a partial run is never taken for a
    complete one.

    Args:
        root: output folder.
        num_*_per_class: videos per class in each split.
        size: ``(H, W)`` in pixels (even numbers).
        num_frames: frames per video; fps: frames per second.
        seed: base seed; codec: FFmpeg encoder (None: :func:`default_codec`).

    Returns:
        ``{"root", "path_to_data_dir", "path_prefix", "classes", "num_classes", "counts"
        (videos per split), "codec", "generated" (False when already complete),
        "seconds"}``; with ``generated`` True also ``"meta"``: ``{split: [per-video
        dict from render_motion_video + "path", "label"]}``.

    Raises:
        ValueError: odd ``size`` or non-positive counts.
    """
    t0 = time.perf_counter()
    codec = codec or default_codec()
    root = os.path.abspath(root)
    counts = {"train": num_train_per_class, "val": num_val_per_class, "test": num_test_per_class}
    if min(counts.values()) < 0 or num_frames < 1 or size[0] % 2 or size[1] % 2:
        raise ValueError(f"invalid dataset parameters: counts={counts}, size={size}, num_frames={num_frames}")
    params = {"counts": counts, "size": list(size), "num_frames": num_frames, "fps": fps, "seed": seed,
              "codec": codec, "classes": list(CLASSES)}
    out = {"root": root, "path_to_data_dir": root, "path_prefix": root, "classes": list(CLASSES),
           "num_classes": len(CLASSES), "counts": {s: n * len(CLASSES) for s, n in counts.items()}, "codec": codec}
    if _complete(root, params):
        return {**out, "generated": False, "seconds": time.perf_counter() - t0}

    for split in SPLITS:  # stale lists must not survive a failed regeneration
        if os.path.exists(os.path.join(root, f"{split}.csv")):
            os.remove(os.path.join(root, f"{split}.csv"))
    meta: dict[str, list] = {}
    options = {"preset": "veryfast"} if codec == "libx264" else None  # write_video pins one thread
    for s_idx, split in enumerate(SPLITS):
        lines, meta[split] = [], []
        for label, name in enumerate(CLASSES):
            for i in range(counts[split]):
                rng = np.random.default_rng([seed, s_idx, label, i])
                frames, m = render_motion_video(label, num_frames, size, rng)
                rel = f"videos/{split}/{name}_{i:04d}.mp4"
                write_video(os.path.join(root, rel), frames, fps, codec, gop_size=16, options=options)
                lines.append(f"{rel} {label}\n")
                meta[split].append({**m, "path": os.path.join(root, rel), "label": label})
        atomic_write_text(os.path.join(root, f"{split}.csv.parts"), "".join(lines))
    atomic_write_text(os.path.join(root, "classes.json"), json.dumps({n: i for i, n in enumerate(CLASSES)}, indent=1))
    atomic_write_text(os.path.join(root, _PARAMS_FILE), json.dumps(params))
    for split in SPLITS:
        os.replace(os.path.join(root, f"{split}.csv.parts"), os.path.join(root, f"{split}.csv"))
    seconds = time.perf_counter() - t0
    logger.info("wrote %d synthetic videos (%s) to %s in %.1f s", sum(out["counts"].values()), codec, root, seconds)
    return {**out, "generated": True, "seconds": seconds, "meta": meta}
