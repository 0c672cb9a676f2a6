"""A synthetic AVA-format action-detection dataset of real JPEG frames, told apart only by motion.

``make_ava_dataset(frame_dir, frame_list_dir, annotation_dir)`` writes AVA v2.2's layout with PySlowFast's file
names (the defaults of the ``AVA.*`` config keys):

- frames ``{frame_dir}/{vid}/{vid}_{k:06d}.jpg`` (Pillow, quality 90), ``k = 1, 2, ...`` at 30 fps;
- frame lists ``{frame_list_dir}/{train,val}.csv`` (header ``original_vido_id video_id frame_id path labels``, one
  row per frame, paths relative to ``frame_dir``, labels ``""``);
- in ``annotation_dir``: ground truth ``ava_{train,val}_v2.2.csv`` (``video_id,timestamp,x1,y1,x2,y2,action_id,
  person_id``, one row per action of a person), person proposals ``ava_{train,val}_predicted_boxes.csv``
  (``video_id,timestamp,x1,y1,x2,y2,,score``), ``ava_val_excluded_timestamps_v2.2.csv`` (1-2 val keyframes) and the
  label map ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (ids 1..K, ``label_type: PERSON_MOVEMENT``).

Time mapping (AVA's): frame 0 (file 1) shows second :data:`FRAME_START_SEC` = 900; the keyframe of second ``s`` is
0-based frame ``c = (s - 900) * 30``. Keyframes are seconds 902, 903, ... (one per second). Each keyframe second is
its own scene segment: frames ``[c - 15, c + 15)`` show the same actors doing the same actions (the model's clip,
8 frames at stride 3 around ``c``: ``c-12, c-9, ..., c+9``, lies inside), cut to a new scene at the next segment;
the 45 frames before the first segment show the background alone.

Content: a neutral (grey, low-contrast) background texture and 2-3 non-overlapping actors per keyframe, each a
large box (at least 1/4 of the frame's width, 2/5 of its height) filled with a fresh random colour texture that moves
inside the box: every pixel of the box moves (dense motion, which a tiny Hiera learns from scratch; a small sprite on
a static background is far harder). The motion is the action (:data:`CLASSES`, ids 1..8): translation left / right /
up / down (1.5-2.5 px/frame), zoom in / out about the box centre (3-4 %/frame), and a horizontal / vertical shake
(sinusoid, 3-5 px, period 10-16 frames). An actor does one action from each of 1-3 of the groups
:data:`CLASS_GROUPS` (horizontal, vertical, scale), combined into one affine motion, so labels are multi-hot
(e.g. ``move_left`` + ``move_up`` is a diagonal drift). Texture (scale, colours, contrast), box and speeds are drawn
independently of the class, and at the keyframe every actor shows its texture at a random offset and unit scale, so
the keyframe alone cannot tell the class; only the motion over time does.

Proposals: every actor's box jittered by up to 5 % of its size, scored in [0.9, 1) (5 % of actors get [0.3, 0.8): a
detector's misses), plus 0-3 false boxes per keyframe (1.65 on average; 3/4 on the background, the rest overlapping an
actor at IoU 0.15-0.45) scored in [0.75, 1): at a threshold of 0.8 (0.9) 80 % (40 %) of them pass and count as
negatives. With 8 classes of low prevalence (about 1.2 actions per actor) random scores give a low frame-mAP on val:
about 12 % at 0.8 and 14 % at 0.9 at the defaults (the summary reports it, measured with
:func:`hiera_video.evaluation.ava_map.frame_map`).

Determinism: everything is drawn from ``numpy.random.default_rng([seed, split, movie, segment, 2])`` and a few more
such keys (each ends in a non-zero stream tag: ``SeedSequence`` pads keys with zeros, so ``[s, 0]`` and ``[s, 0, 0]``
would be one stream), so the same arguments give byte-identical files. A marker
``{annotation_dir}/.synthetic_ava.json``, removed first and written last, records the arguments, the files and frame
counts, and the summary: a call with the same arguments that finds it and every file writes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

from hiera_video.prep.extract_frames import frame_name, write_frame_list
from hiera_video.utils.atomic import atomic_write_text

logger = logging.getLogger(__name__)

__all__ = ["CLASSES", "CLASS_GROUPS", "FIRST_KEYFRAME_SEC", "FPS", "FRAME_START_SEC", "HALF_SEGMENT", "LABEL_MAP_FILE",
           "SPLITS", "make_ava_dataset", "random_score_map"]

#: Action names; the action id of ``CLASSES[i]`` is ``i + 1``.
CLASSES = ("move_left", "move_right", "move_up", "move_down", "zoom_in", "zoom_out", "shake_horizontal",
           "shake_vertical")
#: Indices into :data:`CLASSES` of the horizontal, vertical and scale motions: an actor does at most one of each.
CLASS_GROUPS = ((0, 1, 6), (2, 3, 7), (4, 5))
SPLITS = ("train", "val")
FPS = 30
FRAME_START_SEC = 900
FIRST_KEYFRAME_SEC = 902
HALF_SEGMENT = 15  # frames [c - 15, c + 15) around keyframe frame c show one scene
LABEL_MAP_FILE = "ava_action_list_v2.2_for_activitynet_2019.pbtxt"
_MARKER = ".synthetic_ava.json"
_QUALITY = 90
_NUM_ACTIONS_P = (0.8, 0.17, 0.03)  # an actor does 1, 2 or 3 actions
_NUM_FALSE_P = (0.1, 0.35, 0.35, 0.2)  # 0-3 false proposals per keyframe
_FALSE_SCORE = (0.75, 1.0)


def _texture(rng: np.random.Generator, h: int, w: int, cutoff: float, contrast: float, brightness: float,
             saturation: float) -> np.ndarray:
    """Smooth colour noise ``(h, w, 3)`` float32 in [0, 255], periodic in both axes (low-pass filtered white noise)."""
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    spectrum = np.fft.rfft2(rng.standard_normal((3, h, w))) * np.exp(-(fx**2 + fy**2) / (2 * cutoff**2))
    tex = np.fft.irfft2(spectrum, s=(h, w))
    tex = (tex - tex.mean(axis=(1, 2), keepdims=True)) / tex.std(axis=(1, 2), keepdims=True)
    grey = tex.mean(axis=0, keepdims=True)
    tex = grey + saturation * (tex - grey)
    tint = rng.uniform(-0.08, 0.08, size=(3, 1, 1)) * saturation
    return (np.clip(brightness + tint + contrast * tex, 0, 1) * 255).transpose(1, 2, 0).astype(np.float32)


def _sample(tex: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear, periodic sample of ``tex (n, m, 3)`` at texel coordinates ``x (L, 1, w)`` and ``y (L, h, 1)`` (the
    mapping is separable) -> ``(L, h, w, 3)``."""
    n, m, _ = tex.shape
    flat = tex.reshape(-1, 3)
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32)[..., None], (y - y0).astype(np.float32)[..., None]
    xi, yi = x0.astype(np.int64) % m, y0.astype(np.int64) % n
    xj, yj = (xi + 1) % m, ((yi + 1) % n) * m
    yi = yi * m
    top, right = np.take(flat, yi + xi, axis=0), np.take(flat, yi + xj, axis=0)  # np.take: 4x faster than flat[i]
    top += (right - top) * fx
    bottom, right = np.take(flat, yj + xi, axis=0), np.take(flat, yj + xj, axis=0)
    bottom += (right - bottom) * fx
    top += (bottom - top) * fy
    return top


def _draw_actions(rng: np.random.Generator) -> list[int]:
    """1-3 action indices, at most one per group of :data:`CLASS_GROUPS` (groups drawn by size: classes ~uniform)."""
    k = int(rng.choice(3, p=_NUM_ACTIONS_P)) + 1
    sizes = np.array([len(g) for g in CLASS_GROUPS], dtype=np.float64)
    groups = rng.choice(len(CLASS_GROUPS), size=k, replace=False, p=sizes / sizes.sum())
    return sorted(int(rng.choice(CLASS_GROUPS[g])) for g in groups)


def _motion(actions: list[int], rng: np.random.Generator) -> dict:
    """Motion parameters of an actor: drift ``v`` (px/frame), shake ``amp`` (px) / ``period`` (frames) / ``phase``
    per axis (x, y), and ``zoom`` (log-scale change per frame, > 0 zooms in)."""
    m = {"v": [0.0, 0.0], "amp": [0.0, 0.0], "period": [12.0, 12.0], "phase": [0.0, 0.0], "zoom": 0.0}
    for a in actions:
        name = CLASSES[a]
        axis = 0 if a in CLASS_GROUPS[0] else 1
        if name.startswith("move_"):
            m["v"][axis] = float(rng.uniform(1.5, 2.5)) * (-1.0 if name in ("move_left", "move_up") else 1.0)
        elif name.startswith("shake_"):
            m["amp"][axis], m["period"][axis] = float(rng.uniform(3, 5)), float(rng.uniform(10, 16))
            m["phase"][axis] = float(rng.uniform(0, 2 * np.pi))
        else:
            m["zoom"] = float(rng.uniform(0.03, 0.04)) * (1.0 if name == "zoom_in" else -1.0)
    return m


def _layout(rng: np.random.Generator, size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """2-3 disjoint actor boxes ``(x1, y1, x2, y2)`` in pixels (exclusive ends), left to right."""
    h, w = size
    n = int(rng.integers(2, 4))
    widths = np.round(rng.uniform(0.25, 0.3 if n == 3 else 0.4, n) * w).astype(int)
    gaps = rng.dirichlet(np.ones(n + 1)) * (w - widths.sum())
    x1 = np.floor(np.cumsum(gaps[:n]) + np.concatenate([[0], np.cumsum(widths[:-1])])).astype(int)
    heights = np.round(rng.uniform(0.4, 0.8, n) * h).astype(int)
    y1 = np.floor(rng.uniform(0, 1, n) * (h - heights + 1)).astype(int)
    return [(int(x1[i]), int(y1[i]), int(x1[i] + widths[i]), int(y1[i] + heights[i])) for i in range(n)]


def _render_actor(frames: np.ndarray, box: tuple[int, int, int, int], motion: dict,
                  rng: np.random.Generator) -> None:
    """Paint one actor into ``frames (L, H, W, 3)`` (segment frame 0 = keyframe - HALF_SEGMENT): content point
    ``q`` at the keyframe is shown at ``ctr + exp(zoom t) (q - ctr) + d(t)`` at frame offset ``t``."""
    x1, y1, x2, y2 = box
    side = int(np.ceil(2 * max(x2 - x1, y2 - y1) / 16)) * 16  # room for zoom out without visible wrap
    tex = _texture(rng, side, side, float(rng.uniform(0.045, 0.1)), float(rng.uniform(0.15, 0.25)),
                   float(rng.uniform(0.35, 0.65)), 1.0)
    off = rng.uniform(0, side, size=2)
    t = np.arange(frames.shape[0], dtype=np.float64) - HALF_SEGMENT
    d = [motion["v"][a] * t + motion["amp"][a] * np.sin(2 * np.pi * t / motion["period"][a] + motion["phase"][a])
         for a in (0, 1)]
    mag = np.exp(motion["zoom"] * t)[:, None, None]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    px = np.arange(x1, x2, dtype=np.float64)[None, None, :] + 0.5
    py = np.arange(y1, y2, dtype=np.float64)[None, :, None] + 0.5
    tx = (px - d[0][:, None, None] - cx) / mag + cx + off[0]
    ty = (py - d[1][:, None, None] - cy) / mag + cy + off[1]
    frames[:, y1:y2, x1:x2] = _sample(tex, tx, ty)


def _inter(a: np.ndarray, b: np.ndarray) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    inter = _inter(a, b)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _false_box(rng: np.random.Generator, size: tuple[int, int], actors: list[np.ndarray]) -> np.ndarray:
    """A false proposal (pixels): mostly background (< 15 % of it on an actor) or at IoU 0.15-0.45 with one actor."""
    h, w = size
    for _ in range(50):
        if rng.random() < 0.75:
            bw, bh = rng.uniform(0.15, 0.3) * w, rng.uniform(0.3, 0.6) * h
            x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
            box = np.array([x, y, x + bw, y + bh])
            if sum(_inter(box, a) for a in actors) < 0.15 * bw * bh:
                return box
        else:
            a = actors[int(rng.integers(len(actors)))]
            size_a = a[2:] - a[:2]
            shift = rng.uniform(-0.6, 0.6, 2) * size_a
            scale = rng.uniform(0.7, 1.6, 2) * size_a
            ctr = (a[:2] + a[2:]) / 2 + shift
            box = np.concatenate([ctr - scale / 2, ctr + scale / 2]).clip(0, [w, h, w, h])
            if box[2] - box[0] > 2 and box[3] - box[1] > 2 and 0.15 <= _iou(box, a) <= 0.45:
                return box
    return np.array([0.0, 0.0, 0.2 * w, 0.3 * h])


def _norm(box, size: tuple[int, int]) -> str:
    h, w = size
    x1, y1, x2, y2 = (float(np.clip(v / s, 0, 1)) for v, s in zip(box, (w, h, w, h)))
    return f"{x1:.3f},{y1:.3f},{x2:.3f},{y2:.3f}"


def _write_jpeg(path: str, rgb: np.ndarray) -> None:
    """Written in place, without a temp file and rename (which made rewrites slower): the marker, removed first and
    written last, already keeps a half-written dataset from being taken for complete."""
    from PIL import Image

    Image.fromarray(rgb).save(path, format="JPEG", quality=_QUALITY)


def _make_movie(vid: str, key: list[int], seconds: int, size: tuple[int, int], frame_dir: str) -> tuple:
    """Render and write one movie; returns ``(num_frames, num_actors, gt_rows, proposal_rows)`` (CSV lines)."""
    h, w = size
    rng = np.random.default_rng(key + [1])
    noise = rng.normal(0.0, 3.0, size=(8, h, w, 3)).astype(np.float32)  # sensor noise, one of 8 per frame
    first = (FIRST_KEYFRAME_SEC - FRAME_START_SEC) * FPS
    num_frames = first + (seconds - 1) * FPS + HALF_SEGMENT
    out_dir = os.path.join(frame_dir, vid)
    os.makedirs(out_dir, exist_ok=True)
    gt, props, person = [], [], 0
    for seg in range(seconds):
        srng = np.random.default_rng(key + [seg, 2])
        bg = _texture(srng, h, w, float(srng.uniform(0.03, 0.05)), float(srng.uniform(0.08, 0.12)),
                      float(srng.uniform(0.4, 0.6)), 0.2)
        c, sec = first + seg * FPS, FIRST_KEYFRAME_SEC + seg
        start = 0 if seg == 0 else c - HALF_SEGMENT
        frames = np.empty((c + HALF_SEGMENT - start, h, w, 3), dtype=np.float32)
        frames[:] = bg
        actors = []
        lead = c - HALF_SEGMENT - start  # frames before the first segment: background only
        for box in _layout(srng, size):
            actions = _draw_actions(srng)
            _render_actor(frames[lead:], box, _motion(actions, srng), srng)
            actors.append(np.array(box, dtype=np.float64))
            gt += [f"{vid},{sec:04d},{_norm(box, size)},{a + 1},{person}" for a in actions]
            person += 1
        rows = []
        for a in actors:
            jitter = srng.uniform(-0.05, 0.05, 4) * np.tile(a[2:] - a[:2], 2)
            score = srng.uniform(0.9, 1.0) if srng.random() >= 0.05 else srng.uniform(0.3, 0.8)
            rows.append(f"{vid},{sec:04d},{_norm(a + jitter, size)},,{score:.6f}")
        for _ in range(int(srng.choice(len(_NUM_FALSE_P), p=_NUM_FALSE_P))):
            rows.append(f"{vid},{sec:04d},{_norm(_false_box(srng, size, actors), size)},,"
                        f"{srng.uniform(*_FALSE_SCORE):.6f}")
        props += [rows[i] for i in srng.permutation(len(rows))]
        for frame, j in zip(frames, rng.integers(0, len(noise), size=len(frames))):
            frame += noise[j]
        frames += 0.5  # rounds on the cast below (values are clipped >= 0 first)
        pixels = np.clip(frames, 0, 255, out=frames).astype(np.uint8)
        for i, rgb in enumerate(pixels):
            _write_jpeg(os.path.join(frame_dir, frame_name(vid, start + i + 1)), rgb)
    for name in os.listdir(out_dir):  # frames of a longer movie written before
        stem = name[len(vid) + 1:-4]
        if name.startswith(f"{vid}_") and name.endswith(".jpg") and stem.isdigit() and int(stem) > num_frames:
            os.remove(os.path.join(out_dir, name))
    return num_frames, person, gt, props


def random_score_map(gt_rows: list[str], proposal_rows: list[str], excluded, thresh: float, seed: int = 0,
                     repeats: int = 5) -> float:
    """Frame-mAP (percent) of random scores: every proposal with ``score >= thresh`` detects every class with a
    uniform random score; the mean over ``repeats`` draws. Rows are the CSV lines of the GT and proposal files."""
    import pandas as pd

    from hiera_video.evaluation.ava_map import frame_map

    cols = ["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"]
    gt = pd.DataFrame([r.split(",")[:7] for r in gt_rows], columns=cols)
    props = pd.DataFrame([r.split(",") for r in proposal_rows], columns=cols + ["score"])
    for frame in (gt, props):
        frame[cols[2:6]] = frame[cols[2:6]].astype(float)
        frame["timestamp"] = frame["timestamp"].astype(int)
    gt["action_id"] = gt["action_id"].astype(int)
    props = props[props["score"].astype(float) >= thresh].drop(columns=["action_id", "score"])
    k = len(CLASSES)
    det = props.loc[props.index.repeat(k)].reset_index(drop=True)
    det["action_id"] = np.tile(np.arange(1, k + 1), len(props))
    maps = []
    for r in range(repeats):
        det["score"] = np.random.default_rng([seed, r, 4]).random(len(det))
        maps.append(frame_map(gt, det, range(1, k + 1), excluded=excluded).mAP)
    return float(np.mean(maps))


def _complete(annotation_dir: str, params: dict) -> dict | None:
    """The recorded summary when the marker matches ``params`` and the files it names are there, else None."""
    try:
        with open(os.path.join(annotation_dir, _MARKER)) as f:
            marker = json.load(f)
        if marker.get("params") != params:
            return None
        if not all(os.path.isfile(path) for path in marker["files"]):
            return None
        for folder, count in marker["movies"].items():  # every frame, by one listing per movie
            vid = os.path.basename(folder)
            if not {f"{vid}_{k:06d}.jpg" for k in range(1, count + 1)} <= set(os.listdir(folder)):
                return None
        return marker["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def make_ava_dataset(frame_dir: str, frame_list_dir: str, annotation_dir: str, *, num_train_movies: int = 6,
                     num_val_movies: int = 3, seconds_per_movie: int = 40, size: tuple[int, int] = (90, 160),
                     seed: int = 0) -> dict:
    """Write the synthetic AVA dataset (see the module docstring); nothing is written when the marker says the same
    dataset is already there.

    Args:
        frame_dir / frame_list_dir / annotation_dir: ``AVA.FRAME_DIR`` / ``AVA.FRAME_LIST_DIR`` /
            ``AVA.ANNOTATION_DIR`` (created if missing).
        num_train_movies / num_val_movies: movies per split (video ids ``syn_{split}_{i:02d}``).
        seconds_per_movie: keyframes per movie (seconds 902 .. 901 + n); a movie has ``45 + 30 n`` frames.
        size: ``(H, W)`` of the frames in pixels.
        seed: base seed.

    Returns:
        ``{"frame_dir", "frame_list_dir", "annotation_dir" (absolute), "classes", "num_classes", "splits": {split:
        {"movies", "keyframes", "boxes" (actors), "gt_rows", "proposals", "frames"}}, "excluded" ([[vid, sec]]),
        "random_frame_map" ({"0.8": %, "0.9": %}: random scores on val proposals above that threshold),
        "generated" (False when already there), "seconds"}``.

    Raises:
        ValueError: a non-positive count or a frame smaller than 16 x 16.
    """
    t0 = time.perf_counter()
    if min(num_train_movies, num_val_movies, seconds_per_movie) < 1 or min(size) < 16:
        raise ValueError(f"need >= 1 movie per split and second per movie and size >= 16 x 16, got "
                         f"{num_train_movies}, {num_val_movies}, {seconds_per_movie}, {size}")
    dirs = {k: os.path.abspath(v) for k, v in
            (("frame_dir", frame_dir), ("frame_list_dir", frame_list_dir), ("annotation_dir", annotation_dir))}
    size = (int(size[0]), int(size[1]))
    movies = {"train": num_train_movies, "val": num_val_movies}
    params = {**dirs, "movies": movies, "seconds_per_movie": seconds_per_movie, "size": list(size), "seed": seed,
              "classes": list(CLASSES)}
    done = _complete(dirs["annotation_dir"], params)
    if done is not None:
        return {**done, "generated": False, "seconds": time.perf_counter() - t0}
    ann = dirs["annotation_dir"]
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    if os.path.exists(os.path.join(ann, _MARKER)):
        os.remove(os.path.join(ann, _MARKER))
    splits, files, rows, frame_counts = {}, [], {}, {}
    for s_idx, split in enumerate(SPLITS):
        videos, gt, props, actors = [], [], [], 0
        for i in range(movies[split]):
            vid = f"syn_{split}_{i:02d}"
            n, a, g, p = _make_movie(vid, [seed, s_idx, i], seconds_per_movie, size, dirs["frame_dir"])
            videos.append((vid, n))
            actors += a
            gt += g
            props += p
            frame_counts[os.path.join(dirs["frame_dir"], vid)] = n
        files.append(os.path.join(dirs["frame_list_dir"], f"{split}.csv"))
        write_frame_list(files[-1], videos)
        for path, lines in ((f"ava_{split}_v2.2.csv", gt), (f"ava_{split}_predicted_boxes.csv", props)):
            files.append(os.path.join(ann, path))
            atomic_write_text(files[-1], "\n".join(lines) + "\n")
        rows[split] = (gt, props)
        splits[split] = {"movies": len(videos), "keyframes": len(videos) * seconds_per_movie, "boxes": actors,
                         "gt_rows": len(gt), "proposals": len(props), "frames": sum(n for _, n in videos)}
    keyframes = sorted({tuple(r.split(",")[:2]) for r in rows["val"][0]})
    pick = np.random.default_rng([seed, 3]).permutation(len(keyframes))[: 1 + (len(keyframes) >= 20)]
    excluded = sorted((keyframes[j][0], int(keyframes[j][1])) for j in pick)
    files.append(os.path.join(ann, "ava_val_excluded_timestamps_v2.2.csv"))
    atomic_write_text(files[-1], "".join(f"{v},{s:04d}\n" for v, s in excluded))
    files.append(os.path.join(ann, LABEL_MAP_FILE))
    atomic_write_text(files[-1], "".join(f'label {{\n  name: "{name}"\n  label_id: {i + 1}\n  label_type: '
                                         f'PERSON_MOVEMENT\n}}\n' for i, name in enumerate(CLASSES)))
    chance = {f"{t}": round(random_score_map(*rows["val"], excluded, t, seed), 2) for t in (0.8, 0.9)}
    summary = {**dirs, "classes": list(CLASSES), "num_classes": len(CLASSES), "splits": splits,
               "excluded": [list(e) for e in excluded], "random_frame_map": chance}
    atomic_write_text(os.path.join(ann, _MARKER), json.dumps({"params": params, "files": files, "movies": frame_counts,
                                                              "summary": summary}, indent=1))
    seconds = time.perf_counter() - t0
    logger.info("wrote the synthetic AVA dataset (%s) in %.1f s; random-score val frame-mAP %s", splits, seconds,
                chance)
    return {**summary, "generated": True, "seconds": seconds}
