"""MAE reconstructions as pictures: un-normalised predictions, input / masked / reconstruction panels, a PNG grid.

The geometry (which frames and pixels a prediction token stands for, which tokens a mask keeps) belongs to the
model: a video :class:`~hiera_video.models.mae.MaskedAutoencoderHiera` gives it through ``patchify`` (clips ->
``[B, N, P]`` target patches: the first frame of each ``patch_stride[0]``-frame token, ``pred_stride`` pixels
square, channel-last), ``unpatchify`` (its inverse, ``(B, C, T', H, W)``) and ``token_visibility`` (``mask [B, U]``
-> ``[B, N]``). This module takes the model as an argument and imports nothing from ``models``. Here:

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

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from hiera_video.utils.atomic import atomic_write

__all__ = [
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
    model: torch.nn.Module,
    clips: torch.Tensor,
    pred: torch.Tensor,
    visible: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    paste_visible: bool = True,
) -> Dict[str, torch.Tensor]:
    """The three panels of a reconstruction figure, in pixels.

    Args:
        model: a video MAE, for its geometry (``patchify``, ``unpatchify``, ``pred_stride``) and
            ``norm_pix_loss`` (whether ``pred`` is in per-patch normalised units, un-normalised with the true
            target patch's mean / std, :func:`unnormalize_patches`, or in input units).
        clips: ``(B, C, T, H, W)`` the model's (normalised) input.
        pred: the model's prediction for the dropped tokens, ``[B * N_masked, P]`` (as ``forward`` returns it:
            batch-major, raster order within a clip), or for every token ``[B, N, P]``.
        visible: bool ``[B, N]``, True = token of a kept unit (``model.token_visibility(mask)``).
        mean, std: ``DATA.MEAN`` / ``DATA.STD`` to undo the input normalisation.
        paste_visible: True: dropped tokens show the prediction, visible ones the input; False: the prediction
            on every token (needs ``pred [B, N, P]``; dropped-only predictions leave visible tokens grey).

    Returns:
        ``{"input", "masked", "reconstruction"}``, each float ``(B, C, T', H, W)`` in ``[0, 1]`` (``T' = T /
        patch_stride[0]`` target frames), and ``"visible"`` bool ``(B, 1, T', H, W)`` (True = pixel of a kept
        unit). ``masked`` is the input with the pixels of dropped units set to grey (0.5).

    Raises:
        ValueError: ``pred`` holds neither ``visible``'s number of dropped tokens nor every token.
    """
    patch = int(model.pred_stride)
    target = model.patchify(clips)  # [B, N, P]
    b = target.shape[0]
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
    if model.norm_pix_loss:
        full = unnormalize_patches(full, target)
    recon = torch.where(masked_tokens.unsqueeze(-1), full, target)  # [B, N, P]
    if not paste_visible and pred.ndim == 2:  # only dropped tokens were predicted: grey elsewhere
        grey = (MASKED_GREY - torch.as_tensor(mean, dtype=target.dtype)) / torch.as_tensor(std, dtype=target.dtype)
        grey_patches = grey.repeat(patch * patch).to(target.device)  # (row, col, C) layout
        recon = torch.where(masked_tokens.unsqueeze(-1), full, grey_patches.expand_as(target))
    # token visibility -> pixel visibility: [B, N] -> [B, N, p*p] -> (B, 1, T', H, W)
    vis_px = model.unpatchify(visible.bool().unsqueeze(-1).expand(b, -1, patch * patch).float()) > 0.5
    input_px = to_pixels(model.unpatchify(target), mean, std)
    masked_px = torch.where(vis_px, input_px, torch.full_like(input_px, MASKED_GREY))
    recon_px = to_pixels(model.unpatchify(recon), mean, std)
    return {"input": input_px, "masked": masked_px, "reconstruction": recon_px, "visible": vis_px}


@torch.no_grad()
def mae_reconstruction(model: torch.nn.Module, clips: torch.Tensor, mask: torch.Tensor,
                       mean: Sequence[float], std: Sequence[float],
                       paste_visible: bool = True) -> Tuple[Dict[str, torch.Tensor], float]:
    """Run a video ``MaskedAutoencoderHiera`` on ``clips`` with ``mask`` (eval mode, no grad) and build the panels.

    Args:
        model: a video MAE (its geometry methods and ``norm_pix_loss``, see the module docstring); its
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
    visible = model.token_visibility(mask)
    panels = reconstruction_panels(model, clips.float().cpu(), pred.float().cpu(), visible.cpu(), mean, std,
                                   paste_visible)
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
