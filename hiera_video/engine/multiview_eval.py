"""Multi-view test: every video decoded once, its views batched through the model(s), views ensembled.

Views are ``TEST.NUM_ENSEMBLE_VIEWS`` temporal clips x ``TEST.NUM_SPATIAL_CROPS``
spatial crops; the dataset yields all views of one video at a time (one decode).
Views from consecutive videos are packed into forward passes of up to
``TEST.BATCH_SIZE / world_size`` clips. Each process tests a strided shard of the
videos; per-view logits are summed across processes with ``all_reduce`` and the
main process writes the report. Videos that fail to decode are excluded from
accuracy and listed under ``failed``; nothing is substituted. Partial (truncated) videos are scored on the
frames that decode and listed under ``partial`` (``{path, reason}``).
"""

from __future__ import annotations

import logging
from typing import Dict, List, NamedTuple, Optional

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode
from tqdm import tqdm

from hiera_video.engine import distributed as du
from hiera_video.data.bad_videos import check_bad_fraction
from hiera_video.data.transforms import normalize_views
from hiera_video.engine.precision import test_autocast
from hiera_video.evaluation.multiview import MultiViewEnsembler
from hiera_video.evaluation.report import write_test_report

logger = logging.getLogger("hiera_video.engine")


class ModelUnderTest(NamedTuple):
    """One model to test and where its report goes (``out_dir`` None: nowhere) with ``extra`` report fields."""

    model: nn.Module
    out_dir: Optional[str] = None
    extra: Optional[dict] = None


@torch.no_grad()
def run_multiview_tests(
    cfg: CfgNode,
    targets: Dict[str, ModelUnderTest],
    task,
    dataset,
    device: torch.device,
    desc: str = "test",
    class_names: Optional[List[str]] = None,
) -> Dict[str, Dict]:
    """Test every model of ``targets`` (e.g. raw and EMA weights) on every video of ``dataset`` with all
    its views: each video is decoded and transformed once and each batch of views goes through every model.

    Args:
        targets: name -> :class:`ModelUnderTest`; each model gets its own ensembling and report (``report.json``,
            ``report.md``, ``view_logits.csv``, ... written by the main process to its ``out_dir``).
        dataset: yields per-video dicts ``{"views": (V, C, T, H, W) or None, "label", "index", "path",
            "view_ids", "error"}``; uint8 views are normalised on ``device`` (``DATA.MEAN`` / ``DATA.STD``),
            float views are taken as normalised.
        class_names: names indexed by label; adds per-class accuracy to the reports.

    Returns:
        name -> report dict (same on every process).

    Raises:
        TooManyBadVideosError: after all reports are written, if too many videos failed.
    """
    for target in targets.values():
        target.model.eval()
    world, rank = du.get_world_size(), du.get_rank()
    num_videos = dataset.num_videos
    num_views = cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
    chunk = max(cfg.TEST.BATCH_SIZE // world, 1)
    shard = torch.utils.data.Subset(dataset, list(range(rank, num_videos, world)))
    loader = torch.utils.data.DataLoader(
        shard,
        batch_size=None,
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and device.type == "cuda",
    )
    ensemblers: Dict[str, MultiViewEnsembler] = {}
    labels = torch.full((num_videos,), -1, dtype=torch.long)
    paths: List[str] = [r.path for r in dataset.records]
    view_ids = None
    failed: List[dict] = []
    partial: List[dict] = []
    pending_views: List[torch.Tensor] = []
    pending_ids: List[tuple] = []  # (video_index, view_index) for each pending view

    def flush():
        if not pending_views:
            return
        views = torch.cat(pending_views).to(device, non_blocking=True)  # (N, C, T, H, W)
        if views.dtype == torch.uint8:  # items travel as uint8 (4x less to copy); normalise on the device
            views = normalize_views(views, cfg.DATA.MEAN, cfg.DATA.STD)
        ids = torch.tensor(pending_ids, dtype=torch.long)
        for name, target in targets.items():
            with test_autocast(device, cfg.TEST.PRECISION, cfg.TRAIN.PRECISION):
                logits = task.view_scores(target.model, views).float().cpu()  # (N, K)
            if name not in ensemblers:
                ensemblers[name] = MultiViewEnsembler(num_videos, num_views, logits.shape[1])
            ensemblers[name].add(ids[:, 0], ids[:, 1], logits)
        pending_views.clear()
        pending_ids.clear()

    for item in tqdm(loader, desc=desc, disable=not du.is_main_process(), dynamic_ncols=True):
        idx = int(item["index"])
        labels[idx] = int(item["label"])
        if item["error"] is not None:
            failed.append({"path": item["path"], "error": item["error"]})
            continue
        if item.get("partial"):  # truncated: scored on the frames that decode, and listed
            partial.append({"path": item["path"], "reason": item["partial"]})
        view_ids = item["view_ids"]
        views = item["views"]  # (V, C, T, H, W)
        for v in range(views.shape[0]):
            pending_views.append(views[v : v + 1])
            pending_ids.append((idx, v))
            if len(pending_views) >= chunk:
                flush()
    flush()

    # Merge across processes. Shards are disjoint, so summing (label + 1) recovers each label.
    if world > 1:
        du.all_reduce_sum(labels.add_(1)).sub_(1)
    failed = [f for part in du.all_gather_objects(failed) for f in part]
    partial = [f for part in du.all_gather_objects(partial) for f in part]
    view_ids = next((v for v in du.all_gather_objects(view_ids) if v is not None), None)
    if view_ids is None:
        view_ids = [(t, s) for t in range(cfg.TEST.NUM_ENSEMBLE_VIEWS) for s in range(cfg.TEST.NUM_SPATIAL_CROPS)]
    failed_paths = {f["path"] for f in failed}
    reports = {}
    for name, target in targets.items():  # same order on every process: the collectives pair up
        num_classes = torch.tensor([ensemblers[name].num_classes if name in ensemblers else 0])
        du.all_reduce_max(num_classes)
        if name not in ensemblers:  # this process saw no decodable video
            ensemblers[name] = MultiViewEnsembler(num_videos, num_views, max(int(num_classes), 1))
        ensembler = ensemblers[name]
        ensembler.all_reduce()
        evaluated = ensembler.complete() & torch.tensor([p not in failed_paths for p in paths])
        reports[name] = write_test_report(
            target.out_dir if du.is_main_process() else None,
            paths=paths,
            labels=labels,
            view_logits=ensembler.view_logits,
            view_ids=[tuple(v) for v in view_ids],
            evaluated=evaluated,
            failed=failed,
            class_names=class_names,
            extra={**(target.extra or {}), "partial": partial},
            save_view_logits=cfg.TEST.SAVE_VIEW_LOGITS,
            view_counts=ensembler.count,
        )
    check_bad_fraction(len(failed), num_videos, cfg.DATA.MAX_BAD_FRACTION, desc)
    return reports
