"""MAE reconstructions as pictures: pixel patches <-> frames, un-normalised predictions, a PNG grid.

The video MAE (:class:`hiera_video.models.mae.MaskedAutoencoderHiera`) predicts, for every token of its
prediction grid ``(T', h, w) = (T / s_t, H / p, W / p)`` (``s_t = patch_stride[0] = 2`` frames, ``p =
pred_stride = 16`` pixels), the pixels of *one* frame: the first frame of the token's ``s_t`` frames, a
``p x p`` patch flattened channel-last ``(row, col, C)``, ``P = p * p * C`` values
(``MaskedAutoencoderHiera.get_pixel_label``). Tokens are numbered in raster order, T-major:
``n = (t * h + i) * w + j``. The functions here work on that layout:

* :func:`target_frames` ``(B, C, T, H, W) -> (B, C, T', H, W)``: the frames the model predicts;
* :func:`patchify` ``(B, C, T', H, W) -> [B, N, P]`` and its inverse :func:`unpatchify`;
* :func:`token_visibility` ``mask [B, U]`` (True = kept mask unit) ``-> [B, N]`` (True = visible token);
* :func:`unnormalize_patches`: a prediction of the per-patch normalised target (``norm_pix_loss``) back to
  the input's scale with the target patch's own mean and standard deviation;
* :func:`reconstruction_panels`: input, masked input and reconstruction frames in pixels ``[0, 1]``;
* :func:`mae_reconstruction`: runs a model on clips with a given mask and returns the panels;
* :func:`draw_reconstruction_grid`: the PNG (matplotlib, Agg backend).

The reconstruction shows the model's prediction on the *dropped* tokens pasted into the visible input (the
MAE papers' figure convention; ``paste_visible=False`` shows the prediction alone, on every token). With
``norm_pix_loss`` the predicted patch is un-normalised with the mean and standard deviation of the true
target patch, as the MAE papers' visualisations do: the picture shows the predicted structure, not a
prediction of each patch's brightness and contrast.

Sources: the patch layout and normalisation of the official ``hiera.hiera_mae`` (``get_pixel_label_3d``,
``forward_loss``); the paste-over display of MAE's ``demo/mae_visualize.ipynb`` (He et al., CVPR 2022).
"""

from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from hiera_video.utils.atomic import atomic_write

__all__ = [
    "target_frames",
    "patchify",
    "unpatchify",
    "token_visibility",
    "unnormalize_patches",
    "to_pixels",
    "reconstruction_panels",
    "mae_reconstruction",
    "draw_reconstruction_grid",
]

#: the variance floor of the official per-patch target normalisation (``(p - mean) / sqrt(var + 1e-6)``).
NORM_EPS = 1.0e-6
#: grey level (pixels in [0, 1]) that marks dropped tokens in the masked-input panel.
MASKED_GREY = 0.5


def target_frames(clips: torch.Tensor, temporal_stride: int) -> torch.Tensor:
    """The frames a video MAE predicts: every ``temporal_stride``-th frame, from the first.

    ``clips (B, C, T, H, W) -> (B, C, T', H, W)`` with ``T' = ceil(T / temporal_stride)``.
    """
    return clips[:, :, ::temporal_stride]


def patchify(frames: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut frames into ``patch x patch`` pixel patches, channel-last (the video MAE target layout).

    Args:
        frames: ``(B, C, T', H, W)``; ``H`` and ``W`` multiples of ``patch``.
        patch: patch side in pixels (the model's ``pred_stride``).

    Returns:
        ``[B, N, P]`` with ``N = T' * (H / patch) * (W / patch)`` tokens in raster order (T-major) and ``P =
        patch * patch * C`` values ordered ``(row, col, channel)``; equal to
        ``get_pixel_label(clips, masked=all True, norm=False).view(B, N, P)`` for ``frames =
        target_frames(clips, patch_stride[0])``.

    Raises:
        ValueError: ``frames`` is not 5-D or ``H`` / ``W`` is not a multiple of ``patch``.
    """
    if frames.ndim != 5:
        raise ValueError(f"frames must be (B, C, T, H, W), got shape {tuple(frames.shape)}")
    b, c, t, h, w = frames.shape
    if h % patch or w % patch:
        raise ValueError(f"frame size {h}x{w} is not a multiple of the patch size {patch}")
    # (B, C, T', H, W) -> (B, C, T', h, p, w, p) -> (B, T', h, w, p, p, C) -> (B, N, p*p*C)
    x = frames.reshape(b, c, t, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 3, 5, 4, 6, 1).reshape(b, t * (h // patch) * (w // patch), patch * patch * c)


def unpatchify(patches: torch.Tensor, grid: Sequence[int], patch: int, channels: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``[B, N, P] -> (B, C, T', H, W)``.

    Args:
        patches: ``[B, N, P]``, ``N = prod(grid)`` tokens in raster order, ``P = patch * patch * channels``
            values ordered ``(row, col, channel)``.
        grid: ``(T', h, w)``: the prediction grid (the model's ``tokens_spatial_shape_final``).
        patch: patch side in pixels; channels: ``C``.

    Returns:
        ``(B, C, T', h * patch, w * patch)``.

    Raises:
        ValueError: ``patches`` does not hold ``prod(grid)`` tokens of ``patch * patch * channels`` values.
    """
    t, gh, gw = (int(g) for g in grid)
    if patches.ndim != 3 or patches.shape[1] != t * gh * gw or patches.shape[2] != patch * patch * channels:
        raise ValueError(f"patches must be [B, {t * gh * gw}, {patch * patch * channels}] for grid {tuple(grid)}, "
                         f"patch {patch} and {channels} channels; got {list(patches.shape)}")
    b = patches.shape[0]
    # [B, N, p*p*C] -> (B, T', h, w, p, p, C) -> (B, C, T', h, p, w, p) -> (B, C, T', H, W)
    x = patches.reshape(b, t, gh, gw, patch, patch, channels).permute(0, 6, 1, 2, 4, 3, 5)
    return x.reshape(b, channels, t, gh * patch, gw * patch)


def token_visibility(mask: torch.Tensor, unit_grid: Sequence[int], tokens_per_unit: Sequence[int]) -> torch.Tensor:
    """Which prediction tokens belong to kept mask units.

    Args:
        mask: bool ``[B, U]``, True = kept, ``U = prod(unit_grid)`` mask units in raster order (the model's
            ``mask``, as ``forward`` returns it).
        unit_grid: the mask-unit grid (model ``mask_spatial_shape``, video ``(T/2, H/32, W/32)``).
        tokens_per_unit: prediction tokens per unit along each axis (model ``mask_unit_spatial_shape_final``,
            video ``(1, 2, 2)``).

    Returns:
        bool ``[B, N]``, ``N = prod(unit_grid[i] * tokens_per_unit[i])``, raster order: True where the token's
        unit was kept (the same as the ``visible`` of ``MaskedAutoencoderHiera.forward_decoder``).

    Raises:
        ValueError: ``mask`` is not ``[B, prod(unit_grid)]``.
    """
    units = math.prod(unit_grid)
    if mask.ndim != 2 or mask.shape[1] != units:
        raise ValueError(f"mask must be [B, {units}] for unit grid {tuple(unit_grid)}, got {list(mask.shape)}")
    grid = mask.bool().reshape(mask.shape[0], *unit_grid)  # [B, *unit_grid]
    for axis, repeat in enumerate(tokens_per_unit):
        grid = grid.repeat_interleave(int(repeat), dim=axis + 1)  # each unit covers `repeat` tokens on this axis
    return grid.reshape(mask.shape[0], -1)


def unnormalize_patches(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Map a prediction of the per-patch normalised target back to the target's scale.

    The official target is ``(target - mean) / sqrt(var + 1e-6)`` with the mean and the unbiased variance of
    each patch's ``P`` values; this returns ``pred * sqrt(var + 1e-6) + mean`` with those statistics, so that
    ``unnormalize_patches(normalised target, target) == target`` (up to rounding).

    Args:
        pred: ``[..., P]`` predictions in normalised-target units.
        target: ``[..., P]`` the true (input-normalised) patches the statistics come from.

    Returns:
        ``[..., P]`` in the units of ``target``.
    """
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    return pred * (var + NORM_EPS).sqrt() + mean


def to_pixels(frames: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo the input normalisation (``DATA.MEAN`` / ``DATA.STD``) of ``(B, C, ...)`` frames; returns pixels
    in ``[0, 1]`` (clamped)."""
    shape = (1, -1) + (1,) * (frames.ndim - 2)
    m = torch.as_tensor(mean, dtype=frames.dtype, device=frames.device).view(shape)
    s = torch.as_tensor(std, dtype=frames.dtype, device=frames.device).view(shape)
    return (frames * s + m).clamp(0.0, 1.0)


def reconstruction_panels(
    clips: torch.Tensor,
    pred: torch.Tensor,
    visible: torch.Tensor,
    grid: Sequence[int],
    patch: int,
    temporal_stride: int,
    norm_pix_loss: bool,
    mean: Sequence[float],
    std: Sequence[float],
    paste_visible: bool = True,
) -> Dict[str, torch.Tensor]:
    """The three panels of a reconstruction figure, in pixels.

    Args:
        clips: ``(B, C, T, H, W)`` the model's (normalised) input.
        pred: the model's prediction for the dropped tokens, ``[B * N_masked, P]`` (as ``forward`` returns it:
            batch-major, raster order within a clip), or for every token ``[B, N, P]``.
        visible: bool ``[B, N]``, True = token of a kept unit (:func:`token_visibility`).
        grid: prediction grid ``(T', h, w)``; patch: pixels per patch side; temporal_stride: frames per token.
        norm_pix_loss: whether ``pred`` is in per-patch normalised units (un-normalised with the true target
            patch's mean / std, :func:`unnormalize_patches`) or in input units.
        mean, std: ``DATA.MEAN`` / ``DATA.STD`` to undo the input normalisation.
        paste_visible: True: dropped tokens show the prediction, visible ones the input; False: the prediction
            on every token (needs ``pred [B, N, P]``; dropped-only predictions leave visible tokens grey).

    Returns:
        ``{"input", "masked", "reconstruction"}``, each float ``(B, C, T', H, W)`` in ``[0, 1]``, and
        ``"visible"`` bool ``(B, 1, T', H, W)`` (True = pixel of a kept unit). ``masked`` is the input with the
        pixels of dropped units set to grey (0.5).

    Raises:
        ValueError: ``pred`` holds neither ``visible``'s number of dropped tokens nor every token.
    """
    frames = target_frames(clips, temporal_stride)  # (B, C, T', H, W)
    b, c = frames.shape[:2]
    target = patchify(frames, patch)  # [B, N, P]
    masked_tokens = ~visible.bool()
    full = torch.zeros_like(target)
    if pred.ndim == 3 and pred.shape[:2] == target.shape[:2]:
        full = pred.to(target.dtype)
        if not paste_visible:
            masked_tokens = torch.ones_like(masked_tokens)
    elif pred.ndim == 2 and pred.shape[0] == int(masked_tokens.sum()):
        full[masked_tokens] = pred.to(target.dtype)  # [M, P] into the dropped positions, batch-major
    else:
        raise ValueError(f"pred must be [B * N_masked = {int(masked_tokens.sum())}, P] or [B, N, P] = "
                         f"{list(target.shape)}; got {list(pred.shape)}")
    if norm_pix_loss:
        full = unnormalize_patches(full, target)
    recon = torch.where(masked_tokens.unsqueeze(-1), full, target)  # [B, N, P]
    if not paste_visible and pred.ndim == 2:  # only dropped tokens were predicted: grey elsewhere
        grey = (MASKED_GREY - torch.as_tensor(mean, dtype=target.dtype)) / torch.as_tensor(std, dtype=target.dtype)
        grey_patches = grey.repeat(patch * patch).to(target.device)  # (row, col, C) layout
        recon = torch.where(masked_tokens.unsqueeze(-1), full, grey_patches.expand_as(target))
    # token visibility -> pixel visibility: [B, N] -> [B, N, p*p] -> (B, 1, T', H, W)
    vis_px = unpatchify(visible.bool().unsqueeze(-1).expand(b, -1, patch * patch).float(), grid, patch, 1) > 0.5
    input_px = to_pixels(frames, mean, std)
    masked_px = torch.where(vis_px, input_px, torch.full_like(input_px, MASKED_GREY))
    recon_px = to_pixels(unpatchify(recon, grid, patch, c), mean, std)
    return {"input": input_px, "masked": masked_px, "reconstruction": recon_px, "visible": vis_px}


@torch.no_grad()
def mae_reconstruction(model: torch.nn.Module, clips: torch.Tensor, mask: torch.Tensor,
                       mean: Sequence[float], std: Sequence[float],
                       paste_visible: bool = True) -> Tuple[Dict[str, torch.Tensor], float]:
    """Run a video ``MaskedAutoencoderHiera`` on ``clips`` with ``mask`` (eval mode, no grad) and build the panels.

    Args:
        model: a video MAE (reads ``pred_stride``, ``patch_stride``, ``mask_spatial_shape``,
            ``mask_unit_spatial_shape_final``, ``tokens_spatial_shape_final``, ``norm_pix_loss``); its
            train/eval mode is restored afterwards.
        clips: ``(B, C, T, H, W)`` normalised input on the model's device.
        mask: bool ``[B, U]``, True = kept unit, the same number kept in every row.
        mean, std: ``DATA.MEAN`` / ``DATA.STD``.

    Returns:
        ``(panels, loss)``: :func:`reconstruction_panels` on the CPU, and the model's masked MSE for these clips
        and this mask (a number comparable across epochs for a fixed mask and fixed clips).

    Raises:
        ValueError: an image model (the panels are for videos) or a bad mask / input (from the model).
    """
    if len(model.input_size) != 3:
        raise ValueError(f"reconstruction pictures need a video MAE; input_size is {tuple(model.input_size)}")
    was_training = model.training
    model.eval()
    try:
        loss, pred, _, mask = model(clips, mask=mask)
    finally:
        model.train(was_training)
    visible = token_visibility(mask, model.mask_spatial_shape, model.mask_unit_spatial_shape_final)
    panels = reconstruction_panels(
        clips.float().cpu(), pred.float().cpu(), visible.cpu(), model.tokens_spatial_shape_final,
        model.pred_stride, model.patch_stride[0], model.norm_pix_loss, mean, std, paste_visible)
    return panels, float(loss)


def draw_reconstruction_grid(panels: Dict[str, torch.Tensor], path: Optional[str], max_frames: int = 4,
                             title: str = "", row_labels: Optional[Sequence[str]] = None,
                             frame_ids: Optional[Sequence[int]] = None) -> np.ndarray:
    """Draw the panels as one figure (matplotlib's Agg canvas, no pyplot state) and write it as a PNG.

    Layout: one row per clip; columns: ``max_frames`` frames (evenly spaced over ``T'``) of the input, then
    the same frames of the masked input (dropped units grey), then of the reconstruction.

    Args:
        panels: :func:`reconstruction_panels`' output (``input`` / ``masked`` / ``reconstruction`` float
            ``(B, C, T', H, W)`` in [0, 1]; ``C`` = 3 or 1).
        path: the PNG to write (atomically; parent folders created), or None to only return the image.
        max_frames: frames shown per panel; title: figure title; row_labels: one label per clip.
        frame_ids: the clip frame index of each of the ``T'`` frames (column titles ``t=...``); default
            ``0 .. T'-1``.

    Returns:
        uint8 ``(height, width, 3)`` RGB array of the figure (e.g. for TensorBoard ``add_image``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = (("input", "input"), ("masked", "masked"), ("reconstruction", "recon."))
    clips, _, frames = panels["input"].shape[:3]
    shown = sorted({round(i * (frames - 1) / max(max_frames - 1, 1)) for i in range(min(max_frames, frames))})
    ids = list(frame_ids) if frame_ids is not None else list(range(frames))
    cols = len(names) * len(shown)
    fig = Figure(figsize=(1.2 * cols, 1.3 * clips + (0.5 if title else 0.3)), layout="constrained")
    canvas = FigureCanvasAgg(fig)
    axes = fig.subplots(clips, cols, squeeze=False)
    for r in range(clips):
        for p, (key, label) in enumerate(names):
            for k, t in enumerate(shown):
                ax = axes[r][p * len(shown) + k]
                img = panels[key][r, :, t].permute(1, 2, 0).numpy()  # (C, H, W) -> (H, W, C)
                ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0.0, vmax=1.0,
                          interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
                if r == 0:
                    ax.set_title(f"{label} t={ids[t]}", fontsize=7)
                if p == 0 and k == 0 and row_labels is not None:
                    ax.set_ylabel(str(row_labels[r]), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=8)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if path is not None:
        atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=100))
    return image
