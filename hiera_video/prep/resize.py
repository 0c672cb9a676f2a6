"""Re-encode a tree of videos to a smaller short side with a short GOP (faster random access).

``resize_tree(in_root, out_root, ...)`` re-encodes every video under ``in_root``
(recursive) into ``out_root`` with the same relative paths (extension ``.mp4`` unless
``keep_ext``) and returns one :class:`~hiera_video.utils.parallel.ItemResult` per video.
``resize_video(src, dst, ...)`` does one file.

Contract of one re-encode (PyAV, the FFmpeg bundled in its wheel):

- Size: the short side becomes exactly ``short_side`` pixels, the long side keeps the aspect
  ratio rounded to the nearest even number of pixels (so within 1 pixel of the exact
  aspect). Never upscaled: a video whose short side is already ``<= short_side`` is
  re-encoded at its own size (odd sizes cropped down to even by one pixel row/column), so
  every output has the same codec, container and GOP. See :func:`output_size`.
- Time: every decoded frame is written, in order; output frame ``k`` gets pts ``k`` in a
  ``1 / rate`` time base where ``rate`` is the input stream's average frame rate (frames/s).
  Frame count and average fps are kept; variable-frame-rate input becomes constant rate.
- GOP: ``gop`` frames between keyframes (``None``: the encoder's default). For libx264 the
  interval is forced exactly (``keyint = min-keyint = gop``, no scene-cut keyframes), so
  keyframes fall on frames 0, gop, 2 gop, ...
- Quality: ``crf`` (constant rate factor) and ``preset`` apply to libx264 / libx265 only.
- Audio and every other stream are dropped.
- Atomic and resumable: the output is written to a temp file beside it and renamed, so an
  interrupted run never leaves a half-written file under the final name; an output that
  exists, is non-empty and decodes its first frame is "skipped".

With ``use_ffmpeg=True`` an ``ffmpeg`` binary on ``PATH`` does the encode instead (same size,
GOP, frame-rate and audio rules); :class:`FileNotFoundError` if there is none.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from functools import partial

from hiera_video.data.decoding.base import still_image_format, truncation
from hiera_video.data.decoding.pyav_index import header_count
from hiera_video.prep.folders import VIDEO_EXTENSIONS
from hiera_video.utils.atomic import atomic_write, atomic_write_text, new_file_mode
from hiera_video.utils.parallel import FAILED, SKIPPED, ItemResult, run_parallel

__all__ = [
    "FAILED_CSV",
    "ffmpeg_command",
    "find_videos",
    "is_complete_video",
    "output_size",
    "resize_tree",
    "resize_video",
    "write_failed_csv",
]

FAILED_CSV = "resize_failed.csv"
_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "matroska",
            ".webm": "webm", ".mpg": "mpeg", ".mpeg": "mpeg"}
_CRF_CODECS = ("libx264", "libx265")


def output_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """Output ``(height, width)`` in pixels for an input of ``height x width`` pixels.

    The short side becomes ``short_side`` and the long side ``round(long * short_side / short)``
    to the nearest even number; inputs whose short side is ``<= short_side`` keep their size
    (never upscaled), rounded down to even numbers.

    Raises:
        ValueError: ``short_side`` is not a positive even number, or the input is smaller than 2x2.
    """
    if short_side <= 0 or short_side % 2:
        raise ValueError(f"short_side must be a positive even number of pixels, got {short_side}")
    if height < 2 or width < 2:
        raise ValueError(f"input frame too small: {height}x{width} (H x W)")
    short = min(height, width)
    if short <= short_side:
        return height // 2 * 2, width // 2 * 2
    scale = short_side / short

    def _even(x: float) -> int:
        return max(2, 2 * round(x / 2))

    if height <= width:
        return short_side, _even(width * scale)
    return _even(height * scale), short_side


def is_complete_video(path: str) -> bool:
    """True when ``path`` exists, is non-empty and its first video frame decodes."""
    import av

    try:
        if not os.path.isfile(path) or os.path.getsize(path) == 0:
            return False
        with av.open(path, metadata_errors="ignore") as container:
            if not container.streams.video:
                return False
            return next(iter(container.decode(container.streams.video[0])), None) is not None
    except Exception:  # noqa: BLE001 - any decode problem means "not done"
        return False


def _probe(src: str):
    """``(height, width, rate: Fraction, claimed frames)`` of the first video stream (pixels, frames/s; the
    container's frame count or 0)."""
    import av

    with av.open(src, metadata_errors="ignore") as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        if still_image_format(container.format.name):
            raise ValueError(f"a still image ({container.format.name}), not a video")
        stream = container.streams.video[0]
        rate = next((r for r in (stream.average_rate, stream.guessed_rate, stream.base_rate)
                     if r is not None and r > 0), None)
        if rate is None:
            raise ValueError("unknown frame rate")
        h, w = stream.codec_context.height, stream.codec_context.width
        if not h or not w:
            first = next(iter(container.decode(stream)), None)
            if first is None:
                raise ValueError("no decodable video frames")
            h, w = first.height, first.width
        claimed = header_count(container, stream, float(rate))
    return int(h), int(w), Fraction(rate).limit_denominator(1001), claimed


def _encode_pyav(src: str, f: io.BufferedIOBase, fmt: str, size: tuple[int, int], rate: Fraction,
                 gop: int | None, codec: str, crf: float | None, preset: str) -> int:
    import av
    from av.video.frame import PictureType

    h, w = size
    n = 0
    with av.open(src, metadata_errors="ignore") as inp, av.open(f, "w", format=fmt) as out:
        in_stream = inp.streams.video[0]
        in_stream.thread_type = "AUTO"
        stream = out.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.time_base = 1 / rate
        stream.codec_context.thread_count = 1  # files run in parallel; one thread each
        options = {}
        if gop is not None:
            stream.codec_context.gop_size = int(gop)
            if codec in _CRF_CODECS:
                key = "x264-params" if codec == "libx264" else "x265-params"
                options[key] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        if codec in _CRF_CODECS:
            if crf is not None:
                options["crf"] = str(crf)
            options["preset"] = preset
        if options:
            stream.options = options
        for frame in inp.decode(in_stream):
            frame = frame.reformat(width=w, height=h, format="yuv420p", interpolation="AREA")
            frame.pts, frame.time_base = n, 1 / rate  # the input's time base must not rescale pts
            frame.pict_type = PictureType.NONE  # the input's I/P/B types must not force keyframes
            n += 1
            for packet in stream.encode(frame):
                out.mux(packet)
        if n == 0:
            raise ValueError("no decodable video frames")
        for packet in stream.encode():
            out.mux(packet)
    return n


def ffmpeg_command(src: str, dst: str, size: tuple[int, int], rate: Fraction, gop: int | None,
                   codec: str, crf: float | None, preset: str, fmt: str = "mp4") -> list[str]:
    """The ``ffmpeg`` argv doing what the PyAV path does (no audio, constant ``rate`` fps, ``size`` (H, W))."""
    h, w = size
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-map", "0:v:0", "-an", "-sn", "-dn",
           "-vf", f"scale={w}:{h}:flags=area", "-r", f"{rate.numerator}/{rate.denominator}",
           "-c:v", codec, "-pix_fmt", "yuv420p"]
    if gop is not None:
        cmd += ["-g", str(gop)]
        if codec == "libx264":
            cmd += ["-x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0"]
    if codec in _CRF_CODECS:
        cmd += ["-preset", preset] + (["-crf", str(crf)] if crf is not None else [])
    return cmd + ["-f", fmt, dst]


def _encode_ffmpeg(cmd_args, dst: str) -> None:
    folder, name = os.path.split(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        cmd = ffmpeg_command(*cmd_args[:1], tmp, *cmd_args[1:])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def resize_video(src: str, dst: str, short_side: int = 320, gop: int | None = 16, codec: str = "libx264",
                 crf: float | None = 23, preset: str = "veryfast", use_ffmpeg: bool = False) -> dict:
    """Re-encode ``src`` to ``dst`` (see the module docstring for the exact contract).

    Args:
        src, dst: input and output paths; the container comes from ``dst``'s extension.
        short_side: output short side in pixels (positive, even).
        gop: keyframe interval in frames (None: encoder default).
        codec: FFmpeg encoder name; crf / preset: libx264 / libx265 only.
        use_ffmpeg: encode with the ``ffmpeg`` binary instead of PyAV.

    Returns:
        ``{"src", "dst", "in_size": (H, W), "out_size": (H, W), "fps": float, "frames": int}``
        (``frames`` is None with ``use_ffmpeg``).

    Raises:
        ValueError: bad ``short_side``, unknown output extension, no video stream or frame.
        FileNotFoundError: ``use_ffmpeg`` and no ``ffmpeg`` on PATH.
        av.FFmpegError / RuntimeError: decoding or encoding failed. ``dst`` is never left half-written.
    """
    ext = os.path.splitext(dst)[1].lower()
    if ext not in _FORMATS:
        raise ValueError(f"unsupported output extension {ext!r} (known: {sorted(_FORMATS)})")
    h, w, rate, claimed = _probe(src)
    size = output_size(h, w, short_side)
    frames = None
    if use_ffmpeg:
        if shutil.which("ffmpeg") is None:
            raise FileNotFoundError("--use-ffmpeg given but no ffmpeg binary on PATH")
        _encode_ffmpeg((src, size, rate, gop, codec, crf, preset, _FORMATS[ext]), dst)
    else:
        counted = {}

        def _write(f):
            counted["n"] = _encode_pyav(src, f, _FORMATS[ext], size, rate, gop, codec, crf, preset)
            reason = truncation(claimed, counted["n"])
            if reason:  # raising here removes the temp file: a truncated input gets no valid-looking output
                raise ValueError(f"{reason} (not re-encoded: the output would hide the truncation)")

        atomic_write(dst, _write)
        frames = counted["n"]
    return {"src": src, "dst": dst, "in_size": (h, w), "out_size": size, "fps": float(rate), "frames": frames}


def find_videos(root: str, extensions: Sequence[str] = VIDEO_EXTENSIONS, exclude: str | None = None) -> list[str]:
    """Sorted paths relative to ``root`` of the files under it (recursive) whose extension is in
    ``extensions`` (case-insensitive); hidden files and anything under ``exclude`` are left out.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"not a folder: {root}")
    exts = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    exclude = os.path.abspath(exclude) if exclude else None
    found = []
    for folder, dirs, files in os.walk(root):
        if exclude and os.path.abspath(folder) == exclude:
            dirs[:] = []
            continue
        dirs.sort()
        for name in files:
            if not name.startswith(".") and name.lower().endswith(exts):
                found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


def _resize_one(rel: str, in_root: str, out_root: str, keep_ext: bool, **kw) -> ItemResult:
    dst_rel = rel if keep_ext else os.path.splitext(rel)[0] + ".mp4"
    dst = os.path.join(out_root, dst_rel)
    if is_complete_video(dst):
        return ItemResult(rel, SKIPPED, value={"dst": dst})
    return ItemResult(rel, value=resize_video(os.path.join(in_root, rel), dst, **kw))


def write_failed_csv(path: str, results: Sequence[ItemResult]) -> int:
    """Write ``path,error`` rows (with that header) for the failed results; returns their number."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["path", "error"])
    failed = [r for r in results if r.status == FAILED]
    for r in failed:
        writer.writerow([r.item, r.error])
    atomic_write_text(path, buf.getvalue())
    return len(failed)


def resize_tree(in_root: str, out_root: str, short_side: int = 320, gop: int | None = 16,
                codec: str = "libx264", crf: float | None = 23, preset: str = "veryfast", workers: int = 0,
                extensions: Sequence[str] = VIDEO_EXTENSIONS, keep_ext: bool = False, use_ffmpeg: bool = False,
                disable_bar: bool | None = None) -> list[ItemResult]:
    """Re-encode every video under ``in_root`` into the mirrored tree ``out_root``.

    Items are paths relative to ``in_root``; results come back in sorted path order (a failure
    is a "failed" result with ``"Type: message"``, never an exception) and the failures are
    written to ``out_root/resize_failed.csv`` (``path,error``; header only when none failed).
    ``out_root`` inside ``in_root`` is not scanned.

    Raises:
        FileNotFoundError: ``in_root`` is missing, or ``use_ffmpeg`` without an ``ffmpeg`` binary.
        ValueError: bad ``short_side``.
    """
    output_size(2, 2, short_side)  # validate before starting workers
    if use_ffmpeg and shutil.which("ffmpeg") is None:
        raise FileNotFoundError("--use-ffmpeg given but no ffmpeg binary on PATH")
    items = find_videos(in_root, extensions, exclude=out_root)
    fn = partial(_resize_one, in_root=in_root, out_root=out_root, keep_ext=keep_ext, short_side=short_side,
                 gop=gop, codec=codec, crf=crf, preset=preset, use_ffmpeg=use_ffmpeg)
    results = run_parallel(fn, items, num_workers=workers, desc="resize", disable_bar=disable_bar)
    os.makedirs(out_root, exist_ok=True)
    write_failed_csv(os.path.join(out_root, FAILED_CSV), results)
    return results
