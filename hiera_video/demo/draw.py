"""Pictures of predictions: a timeline PNG (matplotlib) and the input video with labels drawn on it (Pillow to
draw, PyAV to decode and encode; H.264 when PyAV's FFmpeg has libx264, else MPEG-4 part 2)."""

from __future__ import annotations

import os
from typing import Callable, List, Sequence, Tuple

import av
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from hiera_video.data.decoding import VideoDecodeError
from hiera_video.prep.synthetic import default_codec
from hiera_video.utils.atomic import atomic_write

from .clips import VideoPrediction

__all__ = ["plot_timeline", "write_labelled_video", "draw_labels"]


def plot_timeline(pred: VideoPrediction, path: str, num_classes: int = 5) -> List[str]:
    """Probability over time of the ``num_classes`` classes that peak highest in any window; one line per class
    at each window's centre (seconds). Returns the plotted class names."""
    probs = pred.window_probs.numpy()
    leading = np.argsort(-probs.max(axis=0), kind="stable")[:num_classes]
    centres = ((pred.window_start_s + pred.window_end_s) / 2).numpy()
    fig = Figure(figsize=(8, 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for c in leading:
        ax.plot(centres, probs[:, c], marker="o" if len(centres) < 40 else None, markersize=3,
                label=pred.class_names[c])
    ax.set_xlim(0, max(pred.duration_s, float(pred.window_end_s.max())))
    ax.set_ylim(0, 1)
    ax.set_xlabel("time (s, window centre)")
    ax.set_ylabel("probability")
    ax.set_title(os.path.basename(pred.path), fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return [pred.class_names[c] for c in leading]


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def draw_labels(image: Image.Image, lines: Sequence[str], xy: Tuple[int, int] = (6, 6),
                box: Tuple[float, float, float, float] | None = None, color=(255, 64, 64),
                font_px: int = 0) -> None:
    """Draw ``lines`` of text on a dark backing at ``xy`` (pixels), and ``box`` (x1, y1, x2, y2 pixels) if given;
    ``font_px`` the text height (0: 1/28 of the frame height, at least 12 pixels)."""
    draw = ImageDraw.Draw(image)
    font = _font(font_px or max(12, image.height // 28))
    if box is not None:
        draw.rectangle(box, outline=color, width=max(2, image.height // 200))
    x, y = xy
    for line in lines:
        left, top, right, bottom = draw.textbbox((x, y), line, font=font)
        draw.rectangle((left - 2, top - 2, right + 2, bottom + 2), fill=(0, 0, 0))
        draw.text((x, y), line, fill=(255, 255, 255), font=font)
        y = bottom + 4


def write_labelled_video(src: str, dst: str, annotate: Callable[[Image.Image, float], None]) -> int:
    """Decode ``src`` frame by frame, call ``annotate(image, seconds)`` on each RGB frame and encode the result to
    ``dst`` (MP4 at the source's frame rate, even width and height). Returns the number of frames written.

    Raises:
        VideoDecodeError: ``src`` cannot be opened or has no video stream.
    """
    try:
        inp = av.open(src)
    except Exception as e:
        raise VideoDecodeError(src, str(e)) from None
    count = 0

    def encode(f):
        nonlocal count
        if not inp.streams.video:
            raise VideoDecodeError(src, "no video stream")
        stream = inp.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or 30
        with av.open(f, "w", format="mp4") as out:
            enc = None
            for frame in inp.decode(stream):
                image = frame.to_image()
                seconds = float(frame.time) if frame.time is not None else count / float(rate)
                annotate(image, seconds)
                if enc is None:
                    enc = out.add_stream(default_codec(), rate=rate)
                    enc.width, enc.height = image.width // 2 * 2, image.height // 2 * 2
                    enc.pix_fmt = "yuv420p"
                if image.size != (enc.width, enc.height):
                    image = image.crop((0, 0, enc.width, enc.height))
                for packet in enc.encode(av.VideoFrame.from_image(image)):
                    out.mux(packet)
                count += 1
            if enc is not None:
                for packet in enc.encode():
                    out.mux(packet)

    with inp:
        atomic_write(dst, encode)
    return count
