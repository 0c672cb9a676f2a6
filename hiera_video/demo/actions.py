"""The AVA demo: the actions of each person in a video, at keyframes, with a trained detection checkpoint.

A keyframe at second ``s`` of a video at ``fps`` frames/s is frame ``c = round(s * fps)``; its clip is the AVA
dataset's (:func:`hiera_video.data.ava.clip_frame_indices`: ``DATA.NUM_FRAMES`` frames every
``round(DATA.SAMPLING_RATE * fps / DATA.TARGET_FPS)`` frames, centred on ``c``, clamped to the video), fitted into
``DETECTION.INPUT_SIZE`` as at test (:func:`hiera_video.data.ava.box_transforms.fit_clip`: whole frame, aspect
ratio kept, padded; no box is ever cut away). Person boxes at each keyframe come from a proposals CSV (its
``timestamp`` seconds are the keyframes, ``video_id`` the video's file name without extension) or from a person
detector run on frame ``c`` (:mod:`.persons`; keyframes every ``keyframe_stride`` seconds from 0). Each box gets
``sigmoid(logit)`` per action of the label map, as the test writes ``detections.csv``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode

from hiera_video.data.ava import clip_frame_indices
from hiera_video.data.ava.annotations import LabelMap, read_label_map
from hiera_video.data.ava.box_transforms import fit_clip, pad_fill
from hiera_video.data.decoding import decode_clips
from hiera_video.data.transforms import normalize_views
from hiera_video.engine.checkpoint import last_checkpoint
from hiera_video.engine.precision import test_autocast
from hiera_video.engine.tasks import build_task
from hiera_video.models.checkpoint import load_pretrained
from hiera_video.models.weights import CheckpointMismatchError, read_weights
from hiera_video.utils.errors import ConfigError

from .persons import PersonDetector
from .predictor import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["ActionPredictor", "KeyframeActions", "load_action_predictor", "predict_actions"]


@dataclass
class ActionPredictor:
    """A detection model with the AVA data settings of its config and the names of its action ids."""

    model: nn.Module
    cfg: CfgNode
    label_map: Optional[LabelMap]
    device: torch.device
    source: str = ""

    def action_ids(self) -> List[int]:
        """The action ids scored: the label map's, else ``1..MODEL.NUM_CLASSES``."""
        return list(self.label_map.ids) if self.label_map else list(range(1, int(self.cfg.MODEL.NUM_CLASSES) + 1))

    def name(self, action_id: int) -> str:
        return self.label_map.name(action_id) if self.label_map else f"action {action_id}"


@dataclass
class KeyframeActions:
    """One keyframe: ``second``, person ``boxes`` ``(K, 4)`` normalised x1y1x2y2, detector ``person_scores``
    ``(K,)`` and action ``scores`` ``(K, A)`` (sigmoid) for ``action_ids`` (``A`` ids)."""

    second: int
    boxes: torch.Tensor
    person_scores: torch.Tensor
    scores: torch.Tensor


def load_action_predictor(cfg: CfgNode, checkpoint: Optional[str] = None, device: str = "auto") -> ActionPredictor:
    """The detector of a ``TASK detection`` config with weights from ``checkpoint``, else
    ``TEST.CHECKPOINT_FILE_PATH``, else the newest checkpoint in ``OUTPUT_DIR``; action names from
    ``{AVA.ANNOTATION_DIR}/{AVA.LABEL_MAP_FILE}`` when it exists.

    Raises:
        ConfigError: not a detection config, or nothing to load.
        CheckpointError: unreadable weights; ``CheckpointMismatchError``: weights without a trained action head.
    """
    if cfg.TASK != "detection":
        raise ConfigError(f"the AVA demo needs a TASK detection config, got TASK {cfg.TASK}")
    dev = resolve_device(device)
    source = checkpoint or cfg.TEST.CHECKPOINT_FILE_PATH or last_checkpoint(cfg.OUTPUT_DIR)
    if not source:
        raise ConfigError(f"nothing to load: no --checkpoint, TEST.CHECKPOINT_FILE_PATH is empty and OUTPUT_DIR "
                          f"{cfg.OUTPUT_DIR} holds no checkpoint")
    model = build_task(cfg).build_model()
    report = load_pretrained(model, read_weights(source))
    head = sorted(k for k in report["reset"] if k.startswith("head."))
    if head:
        raise CheckpointMismatchError(f"{source}: no trained action head of MODEL.NUM_CLASSES "
                                      f"{cfg.MODEL.NUM_CLASSES} classes ({', '.join(head)} not loaded)")
    path = os.path.join(cfg.AVA.ANNOTATION_DIR, cfg.AVA.LABEL_MAP_FILE)
    label_map = read_label_map(path) if cfg.AVA.LABEL_MAP_FILE and os.path.isfile(path) else None
    return ActionPredictor(model.to(dev).eval(), cfg, label_map, dev, source)


def _rate(cfg: CfgNode, fps: float) -> int:
    return max(1, round(int(cfg.DATA.SAMPLING_RATE) * fps / float(cfg.DATA.TARGET_FPS)))


@torch.no_grad()
def _score(p: ActionPredictor, clips: List[torch.Tensor], boxes: List[torch.Tensor]) -> List[torch.Tensor]:
    """Sigmoid scores ``(K_i, A)`` for each clip (uint8 ``(T, H, W, C)``) and its normalised boxes ``(K_i, 4)``."""
    size, fill = [int(v) for v in p.cfg.DETECTION.INPUT_SIZE], pad_fill(p.cfg.DATA.MEAN)
    fitted, rois = [], []
    for b, (clip, box) in enumerate(zip(clips, boxes)):
        h, w = clip.shape[1], clip.shape[2]
        out, pix, _ = fit_clip(clip, box * torch.tensor([w, h, w, h], dtype=torch.float32), size, fill)
        fitted.append(out)
        rois.append(torch.cat([torch.full((len(pix), 1), float(b)), pix.float()], dim=1))
    views = normalize_views(torch.stack(fitted).to(p.device), p.cfg.DATA.MEAN, p.cfg.DATA.STD)
    columns = torch.tensor(p.action_ids()) - 1  # head output i is action id i + 1
    with test_autocast(p.device, p.cfg.TEST.PRECISION, str(p.cfg.TRAIN.PRECISION)):
        logits = p.model(views, torch.cat(rois).to(p.device))
    scores = logits.float().sigmoid().cpu()[:, columns]
    return list(scores.split([len(b) for b in boxes]))


def predict_actions(p: ActionPredictor, path: str,
                    persons: Dict[int, Tuple[torch.Tensor, torch.Tensor]] | PersonDetector,
                    keyframe_stride: int = 1, batch_size: int = 4,
                    backend: str = "pyav") -> Tuple[List[KeyframeActions], float, int]:
    """Actions per person at the keyframes of ``path`` (see the module docstring).

    Args:
        persons: ``{second: (boxes (K, 4) normalised, scores (K,))}`` from a proposals CSV, or a person detector.
        keyframe_stride: seconds between keyframes when ``persons`` is a detector.

    Returns:
        ``(keyframes with at least one person, fps, num_frames)``.

    Raises:
        VideoDecodeError: the video cannot be decoded.
    """
    d = p.cfg.DATA
    probe = decode_clips(path, lambda n, fps: [[0]], backend)
    n, fps = probe.num_frames, probe.fps
    if isinstance(persons, dict):
        seconds = sorted(s for s in persons if 0 <= s * fps < n)
    else:
        seconds = list(range(0, int(math.floor((n - 1) / fps)) + 1, max(1, int(keyframe_stride))))
    out: List[KeyframeActions] = []
    for b in range(0, len(seconds), batch_size):
        chunk = seconds[b:b + batch_size]
        rate = _rate(p.cfg, fps)

        def indices(n_, fps_):
            centres = [min(round(s * fps_), n_ - 1) for s in chunk]
            return ([clip_frame_indices(c, int(d.NUM_FRAMES), rate, n_) for c in centres]
                    + [[c] for c in centres])

        decoded = decode_clips(path, indices, backend)
        clips, middles = decoded.clips[:len(chunk)], decoded.clips[len(chunk):]
        found = []
        for s, mid in zip(chunk, middles):
            if isinstance(persons, dict):
                boxes, scores = persons[s]
            else:
                pix, scores = persons(mid[0])
                h, w = mid.shape[1], mid.shape[2]
                boxes = (pix.float() / torch.tensor([w, h, w, h], dtype=torch.float32)).clamp(0, 1)
            found.append((boxes.float(), scores.float()))
        keep = [i for i, (bx, _) in enumerate(found) if len(bx)]
        if not keep:
            continue
        scored = _score(p, [clips[i] for i in keep], [found[i][0] for i in keep])
        for i, sc in zip(keep, scored):
            out.append(KeyframeActions(chunk[i], found[i][0], found[i][1], sc))
    return out, float(fps), int(n)
