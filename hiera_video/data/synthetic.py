"""A synthetic, motion-defined action dataset written as real encoded videos.

``make_motion_dataset(root)`` writes ``root/videos/{split}/{class}_{i:04d}.mp4``
(PyAV; H.264 via libx264 when that encoder exists, else MPEG-4 part 2), the
Kinetics-format lists ``root/{train,val,test}.csv`` (``videos/{split}/... label``,
relative to ``root``: use ``DATA.PATH_TO_DATA_DIR = DATA.PATH_PREFIX = root``) and
``root/classes.json`` (``{class_name: label}``).

Six classes that only motion tells apart — one frame cannot:

- ``move_left`` / ``move_right`` / ``move_up`` / ``move_down``: an object travels 50-70% of
  the frame along one axis, staying inside it; the path is drawn independently of the
  direction, which only decides the end it starts from, so the positions seen over a
  video have the same distribution for opposite directions;
- ``grow`` / ``shrink``: the object's size goes from ``a`` to ``b`` or from ``b`` to ``a``,
  with ``(a, b)`` drawn the same way for both, so frame ``t`` of one class and frame
  ``T - 1 - t`` of the other have the same distribution.

Per video: random shape (box or ellipse), saturated colour, size, speed, start
position and a smooth low-contrast background with per-frame noise. Everything is drawn
from ``numpy.random.default_rng([seed, split, index])``: the same arguments give the
same dataset.

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

logger = logging.getLogger(__name__)

__all__ = ["CLASSES", "SPLITS", "write_video", "default_codec", "render_motion_video", "make_motion_dataset"]

CLASSES = ("move_left", "move_right", "move_up", "move_down", "grow", "shrink")
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


def _hsv_to_rgb(h: float, s: float, v: float) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def render_motion_video(label: int, num_frames: int, size: tuple[int, int], rng: np.random.Generator):
    """Render one video of class ``CLASSES[label]``.

    Returns:
        ``(frames, meta)``: uint8 ``(T, H, W, 3)`` frames and a dict with the object's
        ``colour`` (RGB 0-255), ``shape``, ``centres`` ``(T, 2)`` as (x, y) pixels and
        ``half_sizes`` ``(T,)`` pixels.
    """
    h, w = size
    t = np.arange(num_frames, dtype=np.float32)
    u = t / max(num_frames - 1, 1)  # 0 .. 1 over the video
    side = min(h, w)
    # Background: a smooth, low-contrast random field plus per-frame noise.
    coarse = rng.uniform(70, 150, size=(4, 5, 3)).astype(np.float32)
    ys = np.linspace(0, coarse.shape[0] - 1, h)
    xs = np.linspace(0, coarse.shape[1] - 1, w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, coarse.shape[0] - 1), np.minimum(x0 + 1, coarse.shape[1] - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    bg = (coarse[y0][:, x0] * (1 - fy) * (1 - fx) + coarse[y1][:, x0] * fy * (1 - fx)
          + coarse[y0][:, x1] * (1 - fy) * fx + coarse[y1][:, x1] * fy * fx)
    grey = bg.mean(axis=2, keepdims=True)
    bg = grey + 0.3 * (bg - grey)

    colour = _hsv_to_rgb(rng.uniform(), rng.uniform(0.75, 1.0), rng.uniform(0.8, 1.0)) * 255.0
    shape = "box" if rng.uniform() < 0.5 else "ellipse"
    name = CLASSES[label]
    if name.startswith("move_"):
        half = np.full(num_frames, rng.uniform(0.12, 0.18) * side, dtype=np.float32)
        # Travel along one axis without leaving the frame. The path's lower end is drawn
        # uniformly and the direction only decides which end is the start, so the
        # positions over a video have the same distribution for opposite directions.
        horizontal = name in ("move_left", "move_right")
        extent = w if horizontal else h
        travel = rng.uniform(0.5, 0.7) * extent
        margin = float(half[0]) * (1.4 if horizontal else 1.0)
        low = rng.uniform(margin, max(extent - margin - travel, margin + 1e-3))
        along = low + travel * (u if name in ("move_right", "move_down") else 1.0 - u)
        across = np.full(num_frames, rng.uniform(margin, (h if horizontal else w) - margin))
        cx, cy = (along, across) if horizontal else (across, along)
    else:
        a = rng.uniform(0.06, 0.10) * side
        b = a * rng.uniform(2.2, 3.0)
        half = (a + (b - a) * u) if name == "grow" else (b - (b - a) * u)
        cx, cy = np.full(num_frames, rng.uniform(0.3, 0.7) * w), np.full(num_frames, rng.uniform(0.3, 0.7) * h)
    aspect = rng.uniform(0.7, 1.4)

    gy = np.arange(h, dtype=np.float32)[None, :, None]
    gx = np.arange(w, dtype=np.float32)[None, None, :]
    cx, cy, half = (np.asarray(v, dtype=np.float32) for v in (cx, cy, half))
    ddx = (gx - cx[:, None, None] + w / 2) % w - w / 2  # wrapped distances
    ddy = (gy - cy[:, None, None] + h / 2) % h - h / 2
    hx, hy = (half * np.float32(aspect))[:, None, None], half[:, None, None]
    if shape == "box":
        mask = (np.abs(ddx) <= hx) & (np.abs(ddy) <= hy)
    else:
        mask = (ddx / hx) ** 2 + (ddy / hy) ** 2 <= 1.0
    video = np.broadcast_to(np.round(bg).astype(np.int16), (num_frames, h, w, 3)).copy()
    video[mask] = np.round(colour).astype(np.int16)
    video += rng.integers(-7, 8, size=video.shape, dtype=np.int16)  # per-frame noise
    frames = np.clip(video, 0, 255).astype(np.uint8)
    meta = {"colour": colour.round().astype(int).tolist(), "shape": shape,
            "centres": np.stack([cx, cy], axis=1), "half_sizes": np.asarray(half, dtype=np.float32)}
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
    options = {"preset": "veryfast", "threads": "1"} if codec == "libx264" else None
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
        _atomic_write(os.path.join(root, f"{split}.csv.parts"), "".join(lines))
    _atomic_write(os.path.join(root, "classes.json"), json.dumps({n: i for i, n in enumerate(CLASSES)}, indent=1))
    _atomic_write(os.path.join(root, _PARAMS_FILE), json.dumps(params))
    for split in SPLITS:
        os.replace(os.path.join(root, f"{split}.csv.parts"), os.path.join(root, f"{split}.csv"))
    seconds = time.perf_counter() - t0
    logger.info("wrote %d synthetic videos (%s) to %s in %.1f s", sum(out["counts"].values()), codec, root, seconds)
    return {**out, "generated": True, "seconds": seconds, "meta": meta}


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
