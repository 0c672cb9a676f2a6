"""Pretrained weights by model name and tag: URLs, Hub ids, data settings and class names (timm's ``pretrained_cfg``).

Tags are the official ones (``hiera-transformer`` 0.1.4 ``pretrained_model`` decorators):

* video ``hiera_{base,base_plus,large,huge}_16x224``: ``mae_k400_ft_k400`` (default; MAE on Kinetics-400, then
  fine-tuned on it: 400 classes) and ``mae_k400`` (MAE pretraining only: encoder weights, fresh head);
* image ``hiera_{tiny,small,base,base_plus,large,huge}_224``: ``mae_in1k_ft_in1k`` (default) and ``mae_in1k``;
* MAE models ``mae_hiera_*``: ``mae_k400`` (video) / ``mae_in1k`` (images).

Weights: ``https://dl.fbaipublicfiles.com/hiera/{hiera,mae_hiera}_{size}_{16x224,224}.pth`` and the Hugging Face
Hub repositories ``facebook/{name}.{tag}`` (``config.json`` + ``model.safetensors``); licence CC BY-NC 4.0
(the code is Apache-2.0). Data settings: video 16 frames at sampling rate 4 from 30 fps, 224 crops, mean 0.45 /
std 0.225 on every channel (paper Sec. 4, official ``hiera`` README); images 224 crops with the ImageNet mean /
std. Class names: Kinetics-400 in the sorted order of the official annotation CSVs (the list torchvision ships
with its video weights) and ImageNet-1k's (torchvision's), read lazily.
"""

from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional

BASE_URL = "https://dl.fbaipublicfiles.com/hiera"
HUB_ORG = "facebook"
LICENSE = "cc-by-nc-4.0"
_SIZES_VIDEO = ("base", "base_plus", "large", "huge")
_SIZES_IMAGE = ("tiny", "small", "base", "base_plus", "large", "huge")
VIDEO_DATA: Dict[str, Any] = dict(input_size=(3, 16, 224, 224), num_frames=16, sampling_rate=4, fps=30,
                                  mean=(0.45, 0.45, 0.45), std=(0.225, 0.225, 0.225))
IMAGE_DATA: Dict[str, Any] = dict(input_size=(3, 224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def _tag(name: str, tag: str, file: str, num_classes: int, labels: Optional[str]) -> Dict[str, Any]:
    return {"url": f"{BASE_URL}/{file}.pth", "hf_hub_id": f"{HUB_ORG}/{name}.{tag}", "num_classes": num_classes,
            "label_set": labels}


def _build() -> Dict[str, Dict[str, Dict[str, Any]]]:
    """name -> tag -> ``{url, hf_hub_id, num_classes, label_set}``; the first tag is the default."""
    tags: Dict[str, Dict[str, Dict[str, Any]]] = {}
    for size in _SIZES_VIDEO:
        name = f"hiera_{size}_16x224"
        tags[name] = {"mae_k400_ft_k400": _tag(name, "mae_k400_ft_k400", name, 400, "kinetics400"),
                      "mae_k400": _tag(name, "mae_k400", f"mae_{name}", 0, None)}
        tags[f"mae_{name}"] = {"mae_k400": _tag(f"mae_{name}", "mae_k400", f"mae_{name}", 0, None)}
    for size in _SIZES_IMAGE:
        name = f"hiera_{size}_224"
        tags[name] = {"mae_in1k_ft_in1k": _tag(name, "mae_in1k_ft_in1k", name, 1000, "imagenet1k"),
                      "mae_in1k": _tag(name, "mae_in1k", f"mae_{name}", 0, None)}
        tags[f"mae_{name}"] = {"mae_in1k": _tag(f"mae_{name}", "mae_in1k", f"mae_{name}", 0, None)}
    return tags


#: model name -> tag -> weights (models without official weights are absent).
PRETRAINED_TAGS: Dict[str, Dict[str, Dict[str, Any]]] = _build()


def class_names(label_set: Optional[str]) -> Optional[List[str]]:
    """Class names of ``"kinetics400"`` (400, sorted as the official CSVs) or ``"imagenet1k"`` (1000); None
    for None. Read from torchvision's weight metadata, so the lists are not copied here."""
    if label_set is None:
        return None
    if label_set == "kinetics400":
        from torchvision.models.video import MViT_V2_S_Weights

        return list(MViT_V2_S_Weights.KINETICS400_V1.meta["categories"])
    if label_set == "imagenet1k":
        from torchvision.models import ResNet50_Weights

        return list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
    raise ValueError(f"unknown label set {label_set!r}")


def default_tag(name: str) -> Optional[str]:
    """The default tag of ``name`` (the fine-tuned weights, else the MAE ones), None without weights."""
    tags = PRETRAINED_TAGS.get(name)
    return next(iter(tags)) if tags else None


def resolve_tag(name: str, pretrained: Any) -> str:
    """The tag ``pretrained`` asks for: ``True`` -> the default, a string -> itself (``"official"``: default).

    Raises:
        ValueError: ``name`` has no official weights, or the tag is not one of its tags (they are listed).
    """
    tags = PRETRAINED_TAGS.get(name, {})
    if not tags:
        with_weights = sorted(PRETRAINED_TAGS)
        raise ValueError(f"{name} has no official weights; models with weights: {with_weights}")
    tag = default_tag(name) if pretrained is True or pretrained == "official" else str(pretrained)
    if tag not in tags:
        raise ValueError(f"{name} has no pretrained tag {tag!r}; its tags: {list(tags)}")
    return tag


def pretrained_cfg(name: str, tag: Optional[str] = None, is_video: bool = True) -> Dict[str, Any]:
    """The ``pretrained_cfg`` of ``name`` at ``tag`` (None: the default tag), a flat dict as timm's:
    ``architecture``, ``tag``, ``url``, ``hf_hub_id``, ``num_classes``, ``label_names`` (or None), ``license``,
    ``input_size`` ``(C, T, H, W)`` / ``(C, H, W)``, ``mean``, ``std`` and, for video, ``num_frames``,
    ``sampling_rate`` (frames at ``fps``), ``fps``. A name without weights gets the data settings only.
    """
    tags = PRETRAINED_TAGS.get(name, {})
    tag = tag or default_tag(name)
    weights = copy.deepcopy(tags.get(tag, {})) if tag else {}
    label_set = weights.pop("label_set", None)
    cfg: Dict[str, Any] = {"architecture": name, "tag": tag if weights else None, "url": weights.get("url"),
                           "hf_hub_id": weights.get("hf_hub_id"), "num_classes": weights.get("num_classes"),
                           "label_names": class_names(label_set), "license": LICENSE if weights else None}
    cfg.update(copy.deepcopy(VIDEO_DATA if is_video else IMAGE_DATA))
    return cfg
