"""The dataset registry: ``@register_dataset("kinetics")`` on a dataset class, ``build_dataset(name, cfg, split)``.

Datasets register where they are defined (``kinetics.py``, ``ssv2.py``); importing ``hiera_video.data`` imports
them. ``cfg.TRAIN.DATASET`` / ``cfg.TEST.DATASET`` name them (case-insensitive). Tasks in the engine build their
datasets here; nothing in ``data`` imports the engine.
"""

from __future__ import annotations

from typing import Callable, Dict, Type

import torch
from fvcore.common.config import CfgNode

#: dataset classes by lower-case name.
DATASETS: Dict[str, Type[torch.utils.data.Dataset]] = {}


def register_dataset(name: str) -> Callable[[type], type]:
    """Class decorator: register a dataset class ``cls(cfg, split, **kwargs)`` under ``name``.

    Raises:
        ValueError: ``name`` is already taken by another class.
    """

    def wrap(cls: type) -> type:
        key = name.lower()
        if key in DATASETS and DATASETS[key] is not cls:
            raise ValueError(f"dataset name {name!r} is already registered to {DATASETS[key].__name__}")
        DATASETS[key] = cls
        return cls

    return wrap


def item_kind(name: str) -> str:
    """What the registered dataset ``name`` yields: ``"clips"`` (labelled clips: Kinetics, SSv2) or ``"keyframes"``
    (keyframes with person boxes: AVA); ``"clips"`` for a class that does not say; ``""`` for an unknown name."""
    cls = DATASETS.get(str(name).lower())
    return "" if cls is None else getattr(cls, "item_kind", "clips")


def datasets_of_kind(kind: str) -> list:
    """The registered dataset names whose items are ``kind``, sorted."""
    return sorted(n for n in DATASETS if item_kind(n) == kind)


def build_dataset(name: str, cfg: CfgNode, split: str, **kwargs) -> torch.utils.data.Dataset:
    """The dataset called ``name`` for ``split`` (``"train"`` or ``"test"``; a validation set is the ``"test"``
    split of a single-view config with ``TEST.SPLIT val``); ``kwargs`` go to its constructor (e.g.
    ``require_labels=False``).

    Raises:
        ValueError: ``name`` is not a registered dataset (the known ones are listed).
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset '{name}'; known: {sorted(DATASETS)}")
    return DATASETS[key](cfg, split, **kwargs)
