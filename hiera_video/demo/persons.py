"""Person boxes for the AVA demo: from a proposals CSV, or from torchvision's COCO person detectors.

A person detector is any callable ``frame -> (boxes, scores)``: ``frame`` uint8 ``(H, W, C)`` RGB, ``boxes``
``(K, 4)`` x1y1x2y2 in pixels of the frame, ``scores`` ``(K,)`` in [0, 1]. :func:`torchvision_person_detector`
builds one from ``fasterrcnn_resnet50_fpn_v2`` or ``keypointrcnn_resnet50_fpn`` (COCO, class 1 = person), as
PySlowFast's demo uses a COCO Faster R-CNN for its person boxes. Its weights come from a local file or from
``torch.hub``'s cache (``$TORCH_HOME/hub/checkpoints``, where torchvision's ``weights=...DEFAULT`` stores them); the
demo never downloads them: when they are absent the error names the URL and where to put the file.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Tuple

import torch

from hiera_video.data.ava.annotations import read_box_csv
from hiera_video.utils.errors import ConfigError, SetupError

__all__ = ["DETECTORS", "PersonDetector", "read_proposals", "torchvision_person_detector"]

PersonDetector = Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]]

#: ``--person-detector`` name -> (torchvision builder, weights enum name).
DETECTORS: Dict[str, Tuple[str, str]] = {
    "fasterrcnn_resnet50_fpn_v2": ("fasterrcnn_resnet50_fpn_v2", "FasterRCNN_ResNet50_FPN_V2_Weights"),
    "keypointrcnn_resnet50_fpn": ("keypointrcnn_resnet50_fpn", "KeypointRCNN_ResNet50_FPN_Weights"),
}
COCO_PERSON = 1


def read_proposals(path: str, score_thresh: float) -> Dict[str, Dict[int, Tuple[torch.Tensor, torch.Tensor]]]:
    """Person boxes from an AVA-format proposals CSV (``video_id,timestamp,x1,y1,x2,y2,[action_id],score``, boxes
    normalised to [0, 1], PySlowFast's layout): ``{video_id: {second: (boxes (K, 4) normalised, scores (K,))}}``
    with rows of score >= ``score_thresh`` (a box listed once per action is kept once).

    Raises:
        ListNotFoundError / ListFormatError: a missing file or a malformed row (``file:line``).
    """
    table = read_box_csv(path, "proposals").rows
    table = table[table["score"] >= score_thresh].drop_duplicates(["video_id", "timestamp", "x1", "y1", "x2", "y2"])
    out: Dict[str, Dict[int, Tuple[torch.Tensor, torch.Tensor]]] = {}
    for (video, second), rows in table.groupby(["video_id", "timestamp"], sort=True):
        boxes = torch.tensor(rows[["x1", "y1", "x2", "y2"]].to_numpy(), dtype=torch.float32).clamp(0, 1)
        out.setdefault(str(video), {})[int(second)] = (boxes, torch.tensor(rows["score"].to_numpy(),
                                                                             dtype=torch.float32))
    return out


def _cached_weights(weights) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(weights.url))


def torchvision_person_detector(name: str = "fasterrcnn_resnet50_fpn_v2", weights_file: Optional[str] = None,
                                score_thresh: float = 0.9, device: str = "cpu",
                                **model_kwargs) -> PersonDetector:
    """A COCO person detector from torchvision (see the module docstring).

    Args:
        name: a key of :data:`DETECTORS`.
        weights_file: a state dict file; None: torchvision's file in ``torch.hub``'s cache.
        score_thresh: keep persons scoring at least this (``--det-score-thresh``, 0.9 by default).
        model_kwargs: passed to the torchvision builder (e.g. ``min_size`` / ``max_size`` in pixels).

    Raises:
        ConfigError: an unknown ``name`` or a missing ``weights_file``.
        SetupError: no ``weights_file`` and torchvision's weights are not in the cache (the message names the URL
            and the path to put it at).
    """
    import torchvision.models.detection as tvd

    if name not in DETECTORS:
        raise ConfigError(f"--person-detector {name}: choose one of {sorted(DETECTORS)}")
    builder, enum = DETECTORS[name]
    default = getattr(tvd, enum).DEFAULT
    path = weights_file or _cached_weights(default)
    if not os.path.isfile(path):
        if weights_file:
            raise ConfigError(f"--detector-weights {weights_file}: no such file")
        raise SetupError(f"the {name} person detector needs its COCO weights: download {default.url} to {path} "
                         f"(or pass --detector-weights FILE, or give person boxes with --proposals CSV)")
    model = getattr(tvd, builder)(weights=None, weights_backbone=None, **model_kwargs)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval().to(device)

    @torch.no_grad()
    def detect(frame: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        image = frame.permute(2, 0, 1).float().div(255).to(device)  # (C, H, W) in [0, 1]
        out = model([image])[0]
        keep = (out["labels"] == COCO_PERSON) & (out["scores"] >= score_thresh)
        return out["boxes"][keep].cpu(), out["scores"][keep].cpu()

    return detect
