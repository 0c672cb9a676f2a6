"""AVA training loader: clips/s per worker of ``data.ava.Ava`` (16 frames at rate 4 from JPEGs, with boxes).

What is measured: the ``Ava`` train split through a ``DataLoader`` (``--workers`` processes, ``collate_detection``)
at AVA's settings (16 frames at sampling rate 4 from 30 fps frames, short-side jitter 224-280, a random 224 x 384
window, flip; 2-4 boxes per keyframe), on AVA-like files this script writes once into ``--workdir``: ``--movies``
movies of JPEG frames (``--height`` x ``--width``, quality 90; AVA's frames as PySlowFast extracts them are mostly
360p-480p) with keyframes every second. Reported: clips/s and clips/s per worker (median of ``--repeats``), two ways
in the same run on the same files (order alternating):

* ``pillow`` (ours): frames read with Pillow (``data.decoding.jpeg.read_image``);
* ``decode_jpeg``: the same dataset reading frames with ``torchvision.io.decode_jpeg`` (what the issue first named;
  deprecated since torchvision 0.29 in favour of TorchCodec) — the reference for the choice.

    python benchmarks/ava_loader.py --workers 2 --batches 6 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from hiera_video.config import get_cfg  # noqa: E402
from hiera_video.data.ava import Ava, clip_frame_indices, collate_detection  # noqa: E402
from hiera_video.prep.extract_frames import frame_name, write_frame_list  # noqa: E402


def write_data(root: str, movies: int, seconds: int, height: int, width: int) -> dict:
    """AVA-layout frames (30 fps from second 900), frame list, ground truth and label map under ``root``."""
    from PIL import Image

    dirs = {k: os.path.join(root, k) for k in ("frames", "frame_lists", "annotations")}
    marker = os.path.join(root, f".done_{movies}_{seconds}_{height}_{width}")
    if os.path.exists(marker):
        return dirs
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(0)
    base = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
    gt = []
    for m in range(movies):
        vid = f"movie{m:02d}"
        os.makedirs(os.path.join(dirs["frames"], vid), exist_ok=True)
        for k in range(seconds * 30):
            shifted = np.roll(base, k % 40, axis=1)
            img = Image.fromarray(shifted).resize((width, height), Image.BILINEAR)
            img.save(os.path.join(dirs["frames"], frame_name(vid, k + 1)), quality=90)
        for s in range(901, 900 + seconds):
            for p in range(int(rng.integers(2, 5))):
                x1, y1 = rng.uniform(0, 0.6, 2)
                gt.append(f"{vid},{s:04d},{x1:.3f},{y1:.3f},{x1 + 0.3:.3f},{y1 + 0.35:.3f},{int(rng.integers(1, 81))},{p}")
    with open(os.path.join(dirs["annotations"], "ava_train_v2.2.csv"), "w") as f:
        f.write("\n".join(gt) + "\n")
    with open(os.path.join(dirs["annotations"], "labels.pbtxt"), "w") as f:
        f.write("".join(f'label {{\n  name: "a{i}"\n  label_id: {i}\n}}\n' for i in range(1, 81)))
    write_frame_list(os.path.join(dirs["frame_lists"], "train.csv"),
                     [(f"movie{m:02d}", seconds * 30) for m in range(movies)])
    open(marker, "w").close()
    return dirs


class DecodeJpegAva(Ava):
    """The same dataset, frames decoded with ``torchvision.io.decode_jpeg`` (one batched call per clip)."""

    def _read_clip(self, k):
        from torchvision.io import decode_jpeg, read_file

        record = self.videos[k.video_id]
        center = int(round((k.timestamp - self.start_sec) * self.fps))
        idx = clip_frame_indices(center, self.num_frames, self.rate, len(record.frames))
        unique = sorted(set(idx))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = decode_jpeg([read_file(record.frames[i]) for i in unique])
        pos = {i: n for n, i in enumerate(unique)}
        return torch.stack([decoded[pos[i]] for i in idx]).permute(0, 2, 3, 1)  # (T, H, W, C)


def measure(dataset, workers: int, batches: int, batch_size: int) -> float:
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         collate_fn=collate_detection, persistent_workers=False,
                                         generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)  # workers started, first batch ready: not timed
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        clips += len(next(it)["clip"])
    return clips / (time.perf_counter() - start)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "ava_loader_bench"))
    parser.add_argument("--movies", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=12)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    dirs = write_data(args.workdir, args.movies, args.seconds, args.height, args.width)
    cfg = get_cfg()
    cfg.TASK, cfg.MODEL.NUM_CLASSES = "detection", 80
    cfg.AVA.FRAME_DIR, cfg.AVA.FRAME_LIST_DIR, cfg.AVA.ANNOTATION_DIR = (dirs["frames"], dirs["frame_lists"],
                                                                        dirs["annotations"])
    cfg.AVA.LABEL_MAP_FILE, cfg.AVA.TRAIN_KEYFRAME_RANGE = "labels.pbtxt", []
    cfg.DATA.TRAIN_JITTER_SCALES = [224, 280]
    runs = {"pillow": [], "decode_jpeg": []}
    sets = {"pillow": Ava(cfg, "train"), "decode_jpeg": DecodeJpegAva(cfg, "train")}
    for r in range(args.repeats):
        for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
            runs[name].append(measure(sets[name], args.workers, args.batches, args.batch_size))
    print(f"{len(sets['pillow'])} keyframes, {args.height}x{args.width} JPEG frames, 16 frames at rate 4, "
          f"input 224x384, {args.workers} workers, batch {args.batch_size}")
    for name, values in runs.items():
        med = statistics.median(values)
        print(f"{name:12s} {med:6.2f} clips/s  ({med / max(args.workers, 1):.2f} per worker; runs "
              f"{', '.join(f'{v:.2f}' for v in values)})")
    ratio = statistics.median(runs["pillow"]) / statistics.median(runs["decode_jpeg"])
    print(f"pillow / decode_jpeg: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
