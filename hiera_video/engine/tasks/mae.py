"""MAE pretraining as a task (``TASK mae``): masked-unit reconstruction loss, no labels, no test.

``MAETask`` plugs :class:`~hiera_video.models.mae.MaskedAutoencoderHiera` into the common train loop:

* model: ``MODEL.ARCH`` (an ``mae_hiera_*`` name) at input ``(DATA.NUM_FRAMES, DATA.TRAIN_CROP_SIZE,
  DATA.TRAIN_CROP_SIZE)`` with ``MASK.RATIO``, ``MASK.DECODER_{DEPTH, EMBED_DIM, NUM_HEADS}``,
  ``MASK.NORM_PIX_LOSS`` and ``MODEL.DROP_PATH_RATE``;
* data: ``TRAIN.DATASET``'s train split read with ``require_labels=False`` (bare paths or ``path label`` lines;
  labels are never used). ``DATA.TRAIN_CROP_NUM_TEMPORAL`` random clips per decoded video (MAE-ST's repeated
  sampling) and ``AUG.NUM_SAMPLE`` are applied by the dataset; each clip gets its own random mask;
* loss: the model's MSE on the pixels of the dropped tokens; the logged ``count`` is the number of clips;
* no test and no validation (``has_test = False``; the runner skips validation): ``TEST.ENABLE True`` is an
  error at start. Fine-tune the encoder with ``TASK classification`` and ``TRAIN.CHECKPOINT_FILE_PATH``
  pointing at a checkpoint of this run (``load_pretrained`` drops the decoder);
* every ``MASK.VIS_PERIOD`` epochs (and after the last) :meth:`MAETask.on_epoch_end` writes
  ``OUTPUT_DIR/vis/epoch_{N:05d}.png`` (``N`` = finished epochs): ``VIS_CLIPS`` videos spread evenly over
  the train list, each its centre clip and centre crop (the validation view: the same pixels every
  epoch), masked with a mask drawn once from ``RNG_SEED`` (the same mask every epoch); rows = clips,
  columns = frames of the input, the masked input and the reconstruction (see
  :mod:`hiera_video.evaluation.reconstruction`). The masked MSE of these clips is logged and written to
  TensorBoard as ``mae_vis/loss``, the picture as the image ``mae_vis/reconstruction``.

Mixup / CutMix (``MIXUP.ENABLE``) are for labels and are not applied here (a warning says so).

Source: the pretraining task of MAE-ST (Feichtenhofer et al., NeurIPS 2022, ``facebookresearch/mae_st``
``engine_pretrain.py``) with Hiera's MAE (Ryali et al., ICML 2023).
"""

from __future__ import annotations

import logging
import math
import os
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
from fvcore.common.config import CfgNode

from hiera_video.config import single_view_cfg
from hiera_video.data import build_dataset
from hiera_video.data.transforms import normalize_views
from hiera_video.evaluation.reconstruction import (
    draw_reconstruction_grid,
    mae_reconstruction,
)
from hiera_video.models import MaskedAutoencoderHiera, create_model
from hiera_video.utils.errors import ConfigError

from .base import Task, register_task

logger = logging.getLogger("hiera_video.engine")

#: clips shown in the reconstruction picture (fewer when the train list is shorter).
VIS_CLIPS = 4
#: frames shown per panel of the picture.
VIS_FRAMES = 4
MAE_ARCH_PREFIX = "mae_hiera_"


@register_task("mae")
class MAETask(Task):
    """Masked-autoencoder pretraining of a Hiera video encoder (see the module docstring).

    Raises (at construction, i.e. at the start of a run):
        ValueError: ``MODEL.ARCH`` is not an ``mae_hiera_*`` model; ``TEST.ENABLE`` is True (MAE pretraining
            has no test); ``MASK.VIS_PERIOD < 0``.
    """

    #: no labels: the runner skips validation, and there is no multi-view test.
    has_test = False

    def __init__(self, cfg: CfgNode):
        arch = str(cfg.MODEL.ARCH)
        if not arch.startswith(MAE_ARCH_PREFIX):
            raise ConfigError(
                f"TASK mae needs an MAE model (MODEL.ARCH mae_hiera_*, e.g. mae_hiera_base_16x224), got "
                f"MODEL.ARCH {arch!r}; a classifier such as {arch!r} is fine-tuned with TASK classification "
                f"and TRAIN.CHECKPOINT_FILE_PATH set to the MAE checkpoint")
        if cfg.TEST.ENABLE:
            raise ConfigError(
                "TASK mae: MAE pretraining has no test (there is nothing to classify); set TEST.ENABLE False, "
                "then fine-tune with TASK classification and TRAIN.CHECKPOINT_FILE_PATH set to this run's "
                "checkpoint, and test that run")
        if int(cfg.MASK.VIS_PERIOD) < 0:
            raise ConfigError(f"MASK.VIS_PERIOD must be >= 0 (0 disables the pictures), got {cfg.MASK.VIS_PERIOD}")
        if cfg.MIXUP.ENABLE:
            logger.warning("MIXUP.ENABLE is ignored by TASK mae (Mixup / CutMix need labels)")
        super().__init__(cfg)
        self._vis: Optional[Tuple[torch.Tensor, torch.Tensor, list]] = None  # (clips, mask, names), built once

    # ------------------------------------------------------------------------------------------------ model
    def build_model(self) -> nn.Module:
        """The MAE at input ``(DATA.NUM_FRAMES, TRAIN_CROP_SIZE, TRAIN_CROP_SIZE)`` with ``MASK.*``.

        Raises:
            ValueError: the input size does not fit the model's grids (e.g. ``H`` not a multiple of 32 for the
                video template), or ``MASK.RATIO`` keeps no mask unit or every unit at this input size.
        """
        cfg = self.cfg
        size = int(cfg.DATA.TRAIN_CROP_SIZE)
        input_size = (int(cfg.DATA.NUM_FRAMES), size, size)
        try:
            model = create_model(
                cfg.MODEL.ARCH,
                input_size=input_size,
                mask_ratio=float(cfg.MASK.RATIO),
                decoder_depth=int(cfg.MASK.DECODER_DEPTH),
                decoder_embed_dim=int(cfg.MASK.DECODER_EMBED_DIM),
                decoder_num_heads=int(cfg.MASK.DECODER_NUM_HEADS),
                norm_pix_loss=bool(cfg.MASK.NORM_PIX_LOSS),
                drop_path_rate=float(cfg.MODEL.DROP_PATH_RATE),
            )
        except ValueError as e:
            raise ConfigError(f"MODEL.ARCH {cfg.MODEL.ARCH} at input {input_size} (DATA.NUM_FRAMES, "
                             f"DATA.TRAIN_CROP_SIZE): {e}") from e
        try:
            kept = model.num_kept_units(float(cfg.MASK.RATIO), name="MASK.RATIO")
        except ValueError as e:
            raise ConfigError(f"{e}: lower MASK.RATIO or enlarge the input") from None
        units = math.prod(model.mask_spatial_shape)
        logger.info("MAE: %d of %d mask units kept per clip (MASK.RATIO %g), decoder %d x %d (%d heads), "
                    "norm_pix_loss %s", kept, units, cfg.MASK.RATIO, cfg.MASK.DECODER_DEPTH,
                    cfg.MASK.DECODER_EMBED_DIM, cfg.MASK.DECODER_NUM_HEADS, cfg.MASK.NORM_PIX_LOSS)
        return model

    # ------------------------------------------------------------------------------------------------- data
    def train_dataset(self) -> torch.utils.data.Dataset:
        """``TRAIN.DATASET``'s train split without labels (items as ``Kinetics``'s, label ``-1`` or ignored)."""
        return build_dataset(self.cfg.TRAIN.DATASET, self.cfg, "train", require_labels=False)

    # ------------------------------------------------------------------------------------------------- loss
    def training_loss(self, model: nn.Module, batch: dict,
                      device: torch.device) -> Tuple[torch.Tensor, Dict[str, int]]:
        """MAE loss of a training batch; labels are not read.

        Args:
            model: the MAE (or its DDP wrapper).
            batch: ``{"clip": (B, C, T, H, W) float, ...}`` (``B`` = videos x
                ``DATA.TRAIN_CROP_NUM_TEMPORAL`` x ``AUG.NUM_SAMPLE`` clips).

        Returns:
            ``(loss, {"count": B})``: the mean squared error over the dropped tokens' target pixels (per-patch
            normalised with ``MASK.NORM_PIX_LOSS``), a fresh random mask per clip.
        """
        clips = batch["clip"].to(device, non_blocking=True)
        loss, _pred, _label, _mask = model(clips)
        return loss, {"count": int(clips.shape[0])}

    # ------------------------------------------------------------------------------------------- pictures
    def _vis_inputs(self, model: MaskedAutoencoderHiera) -> Tuple[torch.Tensor, torch.Tensor, list]:
        """The fixed picture inputs, decoded once: ``(clips (V, C, T, H, W), mask [V, U] bool, names)`` (names:
        the videos' file stems, the picture's row labels).

        Clips: ``VIS_CLIPS`` videos spread evenly over the train list (indices ``k * n // VIS_CLIPS``; lists
        are often sorted by class), each the next decodable one from there; centre temporal clip and centre
        crop at ``DATA.TRAIN_CROP_SIZE`` (the dataset's single-view test item). Mask: ``int(U * (1 -
        MASK.RATIO))`` units kept per clip, drawn from a generator seeded with ``RNG_SEED`` (the global RNG
        is not touched, so training draws the same masks with or without pictures).
        """
        cfg = single_view_cfg(self.cfg, split="train", crop_size=self.cfg.DATA.TRAIN_CROP_SIZE)
        dataset = build_dataset(cfg.TRAIN.DATASET, cfg, "test", require_labels=False)
        clips, names, taken = [], [], set()
        n = len(dataset)
        for start in sorted({k * n // VIS_CLIPS for k in range(min(VIS_CLIPS, n))}):
            for index in range(start, n):  # an unreadable video (logged by the dataset): the next one
                if index in taken:
                    continue
                taken.add(index)
                item = dataset[index]
                if item["views"] is not None:  # uint8 (1, C, T, H, W) -> normalised (C, T, H, W)
                    clips.append(normalize_views(item["views"][:1], cfg.DATA.MEAN, cfg.DATA.STD)[0])
                    names.append(os.path.splitext(os.path.basename(item["path"]))[0])
                    break
        if not clips:
            raise RuntimeError(f"no decodable video in {dataset.list_path} for the MAE reconstruction picture")
        gen = torch.Generator().manual_seed(int(self.cfg.RNG_SEED))
        mask = model.random_mask(len(clips), float(self.cfg.MASK.RATIO), generator=gen)
        return torch.stack(clips), mask, names

    def on_epoch_end(self, model: nn.Module, epoch: int, writer=None) -> Optional[str]:
        """Write the reconstruction picture after epoch ``epoch`` (0-based) every ``MASK.VIS_PERIOD`` epochs and
        after the last one; called by the runner on the main process only.

        Returns:
            The PNG path, or None when no picture is due (or ``MASK.VIS_PERIOD`` is 0).
        """
        cfg = self.cfg
        period = int(cfg.MASK.VIS_PERIOD)
        last = epoch + 1 == int(cfg.SOLVER.MAX_EPOCH)
        if period <= 0 or not ((epoch + 1) % period == 0 or last):
            return None
        if self._vis is None:
            self._vis = self._vis_inputs(model)
        clips, mask, names = self._vis
        device = next(model.parameters()).device
        panels, loss = mae_reconstruction(model, clips.to(device), mask.to(device), cfg.DATA.MEAN, cfg.DATA.STD)
        path = os.path.join(cfg.OUTPUT_DIR, "vis", f"epoch_{epoch + 1:05d}.png")
        stride = int(model.patch_stride[0])
        title = (f"epoch {epoch + 1}: masked MSE {loss:.4f} ({'per-patch normalised' if model.norm_pix_loss else 'raw'}"
                 f" pixels); mask ratio {cfg.MASK.RATIO:g}, grey = dropped units; reconstruction = prediction "
                 f"pasted into the visible input")
        image = draw_reconstruction_grid(panels, path, max_frames=VIS_FRAMES, title=title, row_labels=names,
                                         frame_ids=[stride * t for t in range(panels["input"].shape[2])])
        logger.info("epoch %d: reconstruction of %d fixed clips (masked MSE %.4f): %s", epoch + 1, len(names),
                    loss, path)
        if writer is not None:
            writer.add_scalar("mae_vis/loss", loss, epoch + 1)
            writer.add_image("mae_vis/reconstruction", image, epoch + 1, dataformats="HWC")
        return path
