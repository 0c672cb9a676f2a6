"""Configs derived from a run's config for other views of the data."""

from __future__ import annotations

from fvcore.common.config import CfgNode


def single_view_cfg(cfg: CfgNode, split: str = "val", crop_size: int | None = None) -> CfgNode:
    """A frozen copy of ``cfg`` whose test split is ``{PATH_TO_DATA_DIR}/{split}.csv`` with one view per video:
    the centre temporal clip and the centre crop (``TEST.NUM_ENSEMBLE_VIEWS 1``, ``TEST.NUM_SPATIAL_CROPS 1``).

    It is the one validation path (``TRAIN.EVAL_PERIOD``: the dataset's ``"test"`` split of this config, as
    PySlowFast validates on single views) and the view of MAE reconstruction pictures (``split="train"``,
    ``crop_size=DATA.TRAIN_CROP_SIZE``).

    Args:
        crop_size: ``DATA.TEST_CROP_SIZE`` of the copy (pixels); None keeps the run's.
    """
    view = cfg.clone()
    view.defrost()
    view.TEST.SPLIT = split
    view.TEST.NUM_ENSEMBLE_VIEWS = 1
    view.TEST.NUM_SPATIAL_CROPS = 1
    if crop_size is not None:
        view.DATA.TEST_CROP_SIZE = int(crop_size)
    view.freeze()
    return view
