"""Shared test fixtures: small real videos encoded with PyAV into temporary folders.

Fixtures (all generic, for any test file):

- ``make_video(path=None, num_frames=32, fps=30, size=(48, 64), codec="mpeg4",
  container="avi", frames=None, **write_kw) -> str``: encodes a video (default
  content: :func:`frame_id_frames`, so every decoded frame tells its index) into
  ``tmp_path`` (or at ``path``) and returns its path. ``size`` is ``(H, W)`` pixels.
- ``id_frames(num_frames, size) -> uint8 (T, H, W, 3)`` and
  ``read_frame_ids(frames) -> list[int]``: the frame-id pattern and its reader.
- ``truncate_file(path, fraction, dst=None) -> str``: keep the first ``fraction`` of
  the bytes (header intact, frames missing).
- ``make_vfr_video(durations_ms, frames=None, size=(48, 64), codec="libx264",
  container="mp4", gop_size=12) -> str``: a variable-frame-rate video: frame ``i``
  (default content: the frame-id pattern) starts at ``sum(durations_ms[:i])`` ms and is
  shown for ``durations_ms[i]`` ms (time base 1/1000 s; the nominal rate handed to the
  muxer is 30 fps, which MKV/WebM store as the default frame duration).
- ``opencv_video(name) -> str``: path of an opencv-doc sample video
  (``vtest.avi``, ``Megamind.avi``; ``apt-get install opencv-doc``); skips when absent.
- ``tiny_cfg``: ``get_cfg()`` with tiny clip/crop sizes for data tests on the CPU.

The id pattern: the top half of frame ``i`` has grey level ``16 + 14 * (i % 16)``,
the bottom half ``16 + 14 * (i // 16)`` (up to 256 frames); levels 14 apart survive
lossy coding (avoid MPEG-4 part 2 B-frames, which the encoder blends).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

OPENCV_DATA = "/usr/share/doc/opencv-doc/examples/data"


def _id_frames(num_frames: int, size=(48, 64)) -> np.ndarray:
    if num_frames > 256:
        raise ValueError("the id pattern supports at most 256 frames")
    h, w = size
    frames = np.empty((num_frames, h, w, 3), dtype=np.uint8)
    for i in range(num_frames):
        frames[i, : h // 2] = 16 + 14 * (i % 16)
        frames[i, h // 2 :] = 16 + 14 * (i // 16)
    return frames


def _read_frame_ids(frames) -> list[int]:
    """Frame ids from ``(T, H, W, C)`` frames (uint8, or float on the 0-255 scale)."""
    x = torch.as_tensor(np.asarray(frames) if not torch.is_tensor(frames) else frames).float()
    h = x.shape[1]
    top = x[:, int(h * 0.1) : int(h * 0.4)].mean(dim=(1, 2, 3))
    bottom = x[:, int(h * 0.6) : int(h * 0.9)].mean(dim=(1, 2, 3))
    low = ((top - 16) / 14).round().clamp(0, 15)
    high = ((bottom - 16) / 14).round().clamp(0, 15)
    return (low + 16 * high).long().tolist()


@pytest.fixture
def id_frames():
    return _id_frames


@pytest.fixture
def read_frame_ids():
    return _read_frame_ids


@pytest.fixture
def make_video(tmp_path):
    from hiera_video.prep.synthetic import write_video

    counter = {"n": 0}

    def _make(path=None, num_frames=32, fps=30, size=(48, 64), codec="mpeg4", container="avi", frames=None, **kw):
        if path is None:
            counter["n"] += 1
            path = tmp_path / f"video_{counter['n']:03d}.{container}"
        path = os.fspath(path)
        if not os.path.isabs(path):
            path = os.path.join(tmp_path, path)
        if frames is None:
            frames = _id_frames(num_frames, size)
        if codec == "mjpeg":
            kw.setdefault("pix_fmt", "yuvj420p")
        return write_video(path, frames, fps, codec, **kw)

    return _make


@pytest.fixture
def make_vfr_video(tmp_path):
    from fractions import Fraction

    import av

    counter = {"n": 0}

    def _make(durations_ms, frames=None, size=(48, 64), codec="libx264", container="mp4", gop_size=12):
        durations_ms = [int(d) for d in durations_ms]
        if frames is None:
            frames = _id_frames(len(durations_ms), size)
        if len(frames) != len(durations_ms) or min(durations_ms) < 1:
            raise ValueError("one positive duration (ms) per frame is needed")
        counter["n"] += 1
        path = os.fspath(tmp_path / f"vfr_{counter['n']:03d}.{container}")
        ms = Fraction(1, 1000)
        with av.open(path, "w") as c:
            stream = c.add_stream(codec, rate=30)
            stream.height, stream.width = np.asarray(frames).shape[1:3]
            stream.pix_fmt, stream.time_base = "yuv420p", ms
            stream.codec_context.time_base, stream.codec_context.gop_size = ms, gop_size
            pts = 0
            for frame, duration in zip(np.asarray(frames), durations_ms):
                vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
                vf.pts, vf.time_base = pts, ms
                pts += duration
                for packet in stream.encode(vf):
                    c.mux(packet)
            for packet in stream.encode():
                c.mux(packet)
        return path

    return _make


@pytest.fixture
def truncate_file():
    def _truncate(path, fraction, dst=None):
        data = open(path, "rb").read()
        dst = dst or f"{os.path.splitext(path)[0]}_cut{os.path.splitext(path)[1]}"
        with open(dst, "wb") as f:
            f.write(data[: int(len(data) * fraction)])
        return dst

    return _truncate


@pytest.fixture
def opencv_video():
    def _get(name):
        path = os.path.join(OPENCV_DATA, name)
        if not os.path.isfile(path):
            pytest.skip(f"{path} not present (apt-get install opencv-doc)")
        return path

    return _get


@pytest.fixture
def tiny_cfg():
    from hiera_video.config import get_cfg

    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.DATA.NUM_FRAMES = 4
    cfg.DATA.SAMPLING_RATE = 2
    cfg.DATA.TARGET_FPS = 30
    cfg.DATA.TRAIN_CROP_SIZE = 32
    cfg.DATA.TEST_CROP_SIZE = 48
    cfg.DATA.MAX_RETRIES = 3
    cfg.TEST.NUM_ENSEMBLE_VIEWS = 3
    cfg.TEST.NUM_SPATIAL_CROPS = 3
    cfg.DATA_LOADER.NUM_WORKERS = 0
    return cfg


@pytest.fixture(autouse=True)
def _reset_package_logger():
    """Undo ``runner.setup_logging`` (own handlers, no propagation) after a test that ran a job, so later
    tests' ``caplog`` sees the package's records again."""
    import logging

    yield
    log = logging.getLogger("hiera_video")
    for handler in list(log.handlers):
        log.removeHandler(handler)
        handler.close()
    log.propagate = True
    log.setLevel(logging.NOTSET)
