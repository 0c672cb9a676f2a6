"""Multi-view test: every video decoded once, its views batched through the model(s), views ensembled.

Views are ``TEST.NUM_ENSEMBLE_VIEWS`` temporal clips x ``TEST.NUM_SPATIAL_CROPS``
spatial crops; the dataset yields all views of one video at a time (one decode), copied to the device once
(asynchronously from pinned memory) and packed with the views of the next videos into forward passes of up to
``TEST.BATCH_SIZE / world_size`` clips. Each process tests a strided shard of the videos
(``range(rank, N, world)``) into an ensembler of its shard's size; the shards are gathered on the main process
only, which writes the report and broadcasts it (a few kB) to the others. Per-view logits take
``4 * N * V * K`` bytes on the main process (Kinetics-400 val, 20k videos x 15 views: about 0.5 GB) and that
divided by the world size on the others. Videos that fail to decode are excluded from
accuracy and listed under ``failed``; nothing is substituted. Partial (truncated) videos are scored on the
frames that decode and listed under ``partial`` (``{path, reason}``).
"""

from __future__ import annotations

import logging
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode
from tqdm import tqdm

from hiera_video.engine import distributed as du
from hiera_video.data.bad_videos import check_bad_fraction
from hiera_video.data.transforms import normalize_views
from hiera_video.engine.loaders import eval_loader
from hiera_video.engine.precision import test_autocast
from hiera_video.evaluation.multiview import MultiViewEnsembler
from hiera_video.evaluation.report import write_test_report

logger = logging.getLogger("hiera_video.engine")


class ModelUnderTest(NamedTuple):
    """One model to test and where its report goes (``out_dir`` None: nowhere) with ``extra`` report fields."""

    model: nn.Module
    out_dir: Optional[str] = None
    extra: Optional[dict] = None


def _merge_shards(shards: List[tuple], num_videos: int, num_views: int) -> Tuple[MultiViewEnsembler, torch.Tensor]:
    """The whole test from the processes' shards ``(labels, logit_sum, count)`` (rank ``r`` holds videos
    ``r, r + world, ...``; ``logit_sum`` None: it decoded no video): an ensembler of every video and their labels."""
    world = len(shards)
    num_classes = max((s[1].shape[-1] for s in shards if s[1] is not None), default=1)
    ensembler = MultiViewEnsembler(num_videos, num_views, num_classes)
    labels = torch.full((num_videos,), -1, dtype=torch.long)
    for rank, (shard_labels, logit_sum, count) in enumerate(shards):
        n = len(range(rank, num_videos, world))
        labels[rank::world] = shard_labels[:n]
        if logit_sum is not None:
            ensembler.logit_sum[rank::world] = logit_sum[:n]
            ensembler.count[rank::world] = count[:n]
    return ensembler, labels


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
        name -> report dict (same on every process: written by the main process, broadcast to the others).

    Raises:
        TooManyBadVideosError: after all reports are written, if too many videos failed.
    """
    for target in targets.values():
        target.model.eval()
    world, rank = du.get_world_size(), du.get_rank()
    num_videos = dataset.num_videos
    num_views = cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
    chunk = max(cfg.TEST.BATCH_SIZE // world, 1)
    mine = list(range(rank, num_videos, world))  # video i is entry i // world of this process's shard
    loader = eval_loader(cfg, dataset, None, device)  # the videos of `mine`, in order
    ensemblers: Dict[str, MultiViewEnsembler] = {}  # over this process's shard
    labels = torch.full((max(len(mine), 1),), -1, dtype=torch.long)
    paths: List[str] = [r.path for r in dataset.records]
    view_ids = None
    failed: List[dict] = []
    partial: List[dict] = []
    pending_views: List[torch.Tensor] = []
    pending_ids: List[tuple] = []  # (video_index, view_index) for each pending view

    def flush():
        if not pending_views:
            return
        views = torch.cat(pending_views)  # (N, C, T, H, W), on the device already
        if views.dtype == torch.uint8:  # items travel as uint8 (4x less to copy); normalise on the device
            views = normalize_views(views, cfg.DATA.MEAN, cfg.DATA.STD)
        ids = torch.tensor(pending_ids, dtype=torch.long)
        for name, target in targets.items():
            with test_autocast(device, cfg.TEST.PRECISION, cfg.TRAIN.PRECISION):
                logits = task.view_scores(target.model, views).float().cpu()  # (N, K)
            if name not in ensemblers:
                ensemblers[name] = MultiViewEnsembler(max(len(mine), 1), num_views, logits.shape[1])
            ensemblers[name].add(ids[:, 0], ids[:, 1], logits)
        pending_views.clear()
        pending_ids.clear()

    for item in tqdm(loader, desc=desc, disable=not du.is_main_process(), dynamic_ncols=True):
        idx = int(item["index"]) // world  # this video's entry in the shard
        labels[idx] = int(item["label"])
        if item["error"] is not None:
            failed.append({"path": item["path"], "error": item["error"]})
            continue
        if item.get("partial"):  # truncated: scored on the frames that decode, and listed
            partial.append({"path": item["path"], "reason": item["partial"]})
        view_ids = item["view_ids"]
        views = item["views"].to(device, non_blocking=True)  # (V, C, T, H, W): one copy per video, from pinned memory
        for v in range(views.shape[0]):
            pending_views.append(views[v : v + 1])
            pending_ids.append((idx, v))
            if len(pending_views) >= chunk:
                flush()
    flush()

    failed = [f for part in du.all_gather_objects(failed) for f in part]
    partial = [f for part in du.all_gather_objects(partial) for f in part]
    view_ids = next((v for v in du.all_gather_objects(view_ids) if v is not None), None)
    if view_ids is None:
        view_ids = [(t, s) for t in range(cfg.TEST.NUM_ENSEMBLE_VIEWS) for s in range(cfg.TEST.NUM_SPATIAL_CROPS)]
    failed_paths = {f["path"] for f in failed}
    reports = {}
    for name, target in targets.items():  # same order on every process: the collectives pair up
        part = ensemblers.get(name)
        shards = du.gather_objects((labels, part.logit_sum, part.count) if part is not None else (labels, None, None))
        report = None
        if shards is not None:  # the main process: every process's shard, by rank
            ensembler, all_labels = _merge_shards(shards, num_videos, num_views)
            evaluated = ensembler.complete() & torch.tensor([p not in failed_paths for p in paths])
            report = write_test_report(
                target.out_dir,
                paths=paths,
                labels=all_labels,
                view_logits=ensembler.view_logits,
                view_ids=[tuple(v) for v in view_ids],
                evaluated=evaluated,
                failed=failed,
                class_names=class_names,
                extra={**(target.extra or {}), "partial": partial},
                save_view_logits=cfg.TEST.SAVE_VIEW_LOGITS,
                view_counts=ensembler.count,
            )
        reports[name] = du.broadcast_object(report)
    check_bad_fraction(len(failed), num_videos, cfg.DATA.MAX_BAD_FRACTION, desc)
    return reports
