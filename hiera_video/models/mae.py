"""Masked-autoencoder pretraining of Hiera (Ryali et al., ICML 2023, Sec. 3-4; MAE: He et al., CVPR 2022).

``MaskedAutoencoderHiera`` is the official ``hiera.hiera_mae.MaskedAutoencoderHiera`` (pip ``hiera-transformer``
0.1.4) on our ``Hiera`` encoder: same constructor arguments, same state-dict keys in the same order (official
``mae_hiera_*.pth`` checkpoints load with ``strict=True``), same initialisation, and the same ``loss``,
``pred``, ``label`` and ``mask`` for the same weights, input and mask (checked in ``tests/test_mae.py``).

One training step, for the video template at ``(B, 3, 16, 224, 224)``:

1. Masking (official ``get_random_mask``): per sample, ``int(U * (1 - mask_ratio))`` of the ``U = 8 * 7 * 7``
   mask units (``1 x 8 x 8`` tokens = 2 frames x 32 x 32 pixels each) are kept; mask ``[B, U]``, True = keep.
2. Sparse encoder (``Hiera.forward_tokens``): pixels of dropped units are zeroed before the patch conv and
   their tokens deleted, so the blocks see only ``B x kept x 64`` tokens. MAE models use ``q_pool=2``.
3. Multi-scale fusion (official ``apply_fusion_head``): stage-1 and stage-2 outputs, laid out per kept unit
   ``[B, kept, *mu_i, C_i]``, go through strided convs (kernel = stride = ``mu_i / mu_final``) to the last
   stage's width and grid, are summed with the last stage's output and normalised (``encoder_norm``).
4. Decoder (official ``forward_decoder``): ``decoder_embed``, dropped units filled with ``mask_token``, raster
   order (``undo_windowing``), ``decoder_pos_embed``, ``decoder_depth`` global-attention blocks,
   ``decoder_norm``, ``decoder_pred`` to one ``16 x 16 x 3`` pixel patch per token of the ``8 x 14 x 14`` grid.
5. Loss (official ``forward_loss``): MSE against the pixel target of the *dropped* positions only.

Differences from the official code, none of which changes a result: attention runs on 4-D SDPA tensors (see
``hiera.py``); the target is cut with one ``reshape`` + ``permute`` instead of ``unfold`` (same values, same
order); ``forward`` takes ``mask_ratio=None`` meaning the model's ``mask_ratio`` (official default 0.6; our video
factories set the paper's 0.9); ``norm_pix_loss=False`` exposes the official ``get_pixel_label_*(norm=False)``
switch (the official forward always normalises); a mask that keeps no or every unit raises ``ValueError``
(officially an error deep inside attention or a NaN loss).
"""

from __future__ import annotations

import math
from functools import partial
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from .blocks import CONV_BY_DIMS, HieraBlock
from .hiera import Hiera
from .layout import kept_unit_indices, undo_windowing
from .weights import EXTRA_ARGS  # noqa: F401  (ours only: mask_ratio, norm_pix_loss)



def _take(x: torch.Tensor, where: torch.Tensor, count: Optional[int] = None) -> torch.Tensor:
    """``x[where]`` for ``x [B, N, P]`` and ``where [B, N]`` bool with ``count`` True entries in every row, as a
    gather of fixed shape ``[B * count, P]``: the same elements in the same order (batch-major, ascending), no
    data-dependent shape. ``count`` None reads it from the first row (one host sync)."""
    batch, _, p = x.shape
    index = kept_unit_indices(where, count)  # [B, count] ascending
    return x.gather(1, index[..., None].expand(batch, index.shape[1], p)).reshape(-1, p)


def _put_kept_units(full: torch.Tensor, mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``full [B, U, *mu, D]`` with the kept units (``mask [B, U]``, True = keep) replaced by ``x [B, K, *mu, D]`` in
    ascending unit order: the official ``full[mask] = x``, as a scatter whose shape is fixed by ``K``."""
    kept = kept_unit_indices(mask, x.shape[1])  # [B, K] ascending: the order forward_tokens kept them in
    index = kept.view(*kept.shape, *[1] * (x.ndim - 2)).expand(x.shape)
    return full.scatter(1, index, x)


def apply_fusion_head(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Map one stage's per-unit features to the last stage's grid and width (official ``apply_fusion_head``).

    ``x [B, kept, *mu_i, C_i]`` -> ``head`` (a strided conv, or ``nn.Identity`` for the last stage) ->
    ``[B, kept, *mu_final, C_last]``.
    """
    if isinstance(head, nn.Identity):
        return x
    batch, units = x.shape[:2]
    # [B, kept, *mu_i, C_i] -> [B*kept, *mu_i, C_i] -> [B*kept, C_i, *mu_i]
    out = head(x.flatten(0, 1).movedim(-1, 1))
    # [B*kept, C', *mu'] -> [B*kept, *mu', C'] -> [B, kept, *mu', C']
    return out.movedim(1, -1).reshape(batch, units, *out.shape[2:], out.shape[1])


class MaskedAutoencoderHiera(Hiera):
    """Hiera MAE: sparse Hiera encoder + multi-scale fusion + transformer decoder + pixel MSE.

    Args:
        decoder_embed_dim, decoder_depth, decoder_num_heads: decoder width, blocks and heads (official
            defaults 512 / 8 / 16).
        norm_pix_loss: target = per-patch normalised pixels (official, True) or raw pixels (False).
        mask_ratio: fraction of mask units dropped when ``forward`` gets neither ``mask_ratio`` nor ``mask``
            (0.6 = the official ``forward`` default; 0.9 is the paper's video ratio).
        **encoder_kwargs: every ``Hiera`` argument (``input_size``, ``embed_dim``, ``stages``, ``q_pool`` ...);
            the official MAE factories use ``q_pool=2``. ``num_classes``, ``head_dropout`` and
            ``head_init_scale`` are accepted and unused: like the official model this one has no ``norm`` /
            ``head``.

    Raises:
        ValueError: everything ``Hiera`` rejects; inputs other than 2-D images or 3-D videos; a mask unit that
            does not split into whole prediction tokens; a prediction grid that does not tile the input with
            ``pred_stride`` pixel patches (e.g. temporal q-pooling).

    Attributes (official names): ``pred_stride`` (pixels per prediction patch side: patch stride x q-stride
    ^ q_pool = 16 for both templates), ``tokens_spatial_shape_final`` (prediction grid, video ``T/2 x H/16 x
    W/16``), ``mask_unit_spatial_shape_final`` (prediction tokens per mask unit, video ``1 x 2 x 2``).
    ``set_grad_checkpointing()`` (``MODEL.ACT_CHECKPOINT``) checkpoints the decoder blocks as well as the encoder's: the
    decoder attends over all ``N`` positions, so at 0.9 masking it holds most of a step's activations.
    """

    def __init__(self, decoder_embed_dim: int = 512, decoder_depth: int = 8, decoder_num_heads: int = 16,
                 norm_pix_loss: bool = True, mask_ratio: float = 0.6, **encoder_kwargs) -> None:
        encoder_kwargs.setdefault("norm_layer", "LayerNorm")
        super().__init__(**encoder_kwargs)
        norm_layer = encoder_kwargs["norm_layer"]
        if isinstance(norm_layer, str):  # as Hiera builds it
            norm_layer = partial(getattr(nn, norm_layer), eps=1e-6)
        mlp_ratio = float(encoder_kwargs.get("mlp_ratio", 4.0))
        dims = len(self.input_size)
        if dims not in (2, 3):
            raise ValueError(f"MAE supports 2-D images and 3-D videos, got input_size {self.input_size}")
        pool = [s ** self.q_pool for s in self.q_stride]
        if any(m % p for m, p in zip(self.mask_unit_size, pool)):
            raise ValueError(f"mask_unit_size {self.mask_unit_size} must be divisible by q_stride ** q_pool {pool}")
        self.norm_pix_loss, self.mask_ratio = bool(norm_pix_loss), float(mask_ratio)
        self.mask_unit_spatial_shape_final = [m // p for m, p in zip(self.mask_unit_size, pool)]
        self.tokens_spatial_shape_final = [n // p for n, p in zip(self.tokens_spatial_shape, pool)]
        self.pred_stride = self.patch_stride[-1] * pool[-1]  # official: the last axis' stride for every axis
        label_grid = [n // self.pred_stride for n in self.input_size[-2:]]
        if dims == 3:  # one target frame per token: every patch_stride[0]-th frame
            label_grid.insert(0, self.input_size[0] // self.patch_stride[0])
        if label_grid != self.tokens_spatial_shape_final or any(n % self.pred_stride for n in self.input_size[-2:]):
            raise ValueError(
                f"prediction grid {self.tokens_spatial_shape_final} does not match the pixel target grid "
                f"{label_grid} of {self.pred_stride}x{self.pred_stride} patches for input_size {self.input_size}")

        del self.norm, self.head  # official: the MAE encoder ends at the fusion
        encoder_dim = self.num_features
        self.encoder_norm = norm_layer(encoder_dim)
        # One strided conv per q-pooled stage (their grids differ from the last one), identity for the last.
        self.multi_scale_fusion_heads = nn.ModuleList()
        mu = list(self.mask_unit_size)
        for stage in range(self.q_pool):
            kernel = tuple(m // f for m, f in zip(mu, self.mask_unit_spatial_shape_final))
            self.multi_scale_fusion_heads.append(CONV_BY_DIMS[dims](
                self.stage_dims[stage], encoder_dim, kernel_size=kernel, stride=kernel))
            mu = [m // s for m, s in zip(mu, self.q_stride)]
        self.multi_scale_fusion_heads.append(nn.Identity())

        self.decoder_embed = nn.Linear(encoder_dim, decoder_embed_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, math.prod(self.tokens_spatial_shape_final), decoder_embed_dim))
        self.decoder_blocks = nn.ModuleList([
            HieraBlock(decoder_embed_dim, decoder_embed_dim, decoder_num_heads, mlp_ratio=mlp_ratio,
                       norm_layer=norm_layer)  # global attention, no pooling, no drop path
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = norm_layer(decoder_embed_dim)
        patch_pixels = self.pred_stride ** 2  # one frame per token for video
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_pixels * self.in_chans)
        self._init_mae_weights()

    def _init_mae_weights(self) -> None:
        """Official ``initialize_weights``: on top of ``Hiera``'s init, every Linear xavier-uniform with zero
        bias, every LayerNorm 1 / 0, ``mask_token`` and ``decoder_pos_embed`` trunc-normal(0.02), the patch conv
        xavier-uniform as a ``[C_out, C_in * kernel]`` matrix; fusion convs keep PyTorch's default init."""
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.decoder_pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        weight = self.patch_embed.proj.weight.data
        # [C_out, C_in, *kernel] viewed as [C_out, C_in * prod(kernel)]
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))

    def no_weight_decay(self) -> set:
        """Parameter names to exclude from weight decay: the encoder's position embeddings (``Hiera``'s set),
        ``decoder_pos_embed`` and ``mask_token``. Biases and norm weights (1-D) are excluded by the optimiser
        (``SOLVER.ZERO_WD_1D_PARAM``). Note: MAE-ST's pretraining (``util/misc.py add_weight_decay`` without a
        skip list) decays these 3-D tensors; we follow the usual ViT / MAE fine-tuning rule of no decay on
        embeddings and tokens."""
        return super().no_weight_decay() | {"decoder_pos_embed", "mask_token"}

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        raise TypeError("an MAE model has no classification head; build 'hiera_*' from this checkpoint instead")

    # ------------------------------------------------------------------------------------------ stages

    def num_kept_units(self, mask_ratio: float, name: str = "mask_ratio") -> int:
        """Mask units kept per clip at ``mask_ratio``: ``int(U * (1 - mask_ratio))`` (official ``get_random_mask``).

        Raises:
            ValueError: the ratio keeps no unit or every unit; the message names the ratio as ``name``, the
                unit grid and a unit's extent in frames x pixels.
        """
        units = math.prod(self.mask_spatial_shape)
        kept = int(units * (1 - mask_ratio))
        if not 0 < kept < units:
            extent = " x ".join(str(p * m) for p, m in zip(self.patch_stride, self.mask_unit_size))
            raise ValueError(f"{name} {mask_ratio:g} keeps {kept} of the {units} mask units (grid "
                             f"{list(self.mask_spatial_shape)}, each {extent} frames/pixels) at input "
                             f"{self.input_size}; need 0 < kept < {units}")
        return kept

    def _check_mask(self, mask: torch.Tensor) -> Tuple[torch.Tensor, int]:
        """``(mask as bool, kept units per row)``; raises ``ValueError`` unless ``mask [B, U]`` keeps the same number
        ``0 < kept < U`` of units in every row (a caller's mask: read once on the host)."""
        units = math.prod(self.mask_spatial_shape)
        if mask.ndim != 2 or mask.shape[1] != units:
            raise ValueError(f"mask must be [B, num_mask_units={units}], got {list(mask.shape)}")
        kept = mask.bool().sum(dim=1).tolist()
        if len(set(kept)) > 1 or not 0 < kept[0] < units:
            raise ValueError(f"mask must keep the same number of units in every row, at least 1 and fewer than "
                             f"{units}; kept per row: {kept}")
        return mask.bool(), int(kept[0])

    def forward_encoder(self, x: torch.Tensor, mask_ratio: float,
                        mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        """Mask, encode the kept units and fuse stages (official ``forward_encoder``).

        Args:
            x: ``(B, C, T, H, W)`` video or ``(B, C, H, W)`` image, the model's ``input_size``.
            mask_ratio: fraction of mask units to drop when ``mask`` is None (drawn with ``random_mask``, i.e.
                ``torch.rand(B, U)`` on ``x.device``: the same draw as the official ``get_random_mask``).
            mask: optional bool ``[B, U]``, True = keep, the same number of kept units in every row.

        Returns:
            ``(latent [B, kept, *mask_unit_spatial_shape_final, C_last], mask [B, U] bool)``.

        Raises:
            ValueError: a ratio or mask that keeps no unit or every unit, or unequal rows.
        """
        if mask is None:
            kept = self.num_kept_units(mask_ratio)
            mask = self.random_mask(x.shape[0], mask_ratio, device=x.device)
        else:
            mask, kept = self._check_mask(mask)
        # [B, kept, *mu_i, C_i] each; the kept count is known, so no shape depends on the mask's content
        _, stages = self.forward_tokens(x, mask, return_intermediates=True, num_kept=kept)
        # Stages after the last q-pool share the last one's grid: fuse the q-pooled stages and the last one.
        fused: List[torch.Tensor] = stages[: self.q_pool] + stages[-1:]
        latent = sum(apply_fusion_head(head, f) for head, f in zip(self.multi_scale_fusion_heads, fused))
        return self.encoder_norm(latent), mask

    def forward_decoder(self, latent: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Decode to pixel patches (official ``forward_decoder``).

        Args:
            latent: ``[B, kept, *mask_unit_spatial_shape_final, C_last]`` from ``forward_encoder``.
            mask: bool ``[B, U]``, True = keep.

        Returns:
            ``(pred [B, N, P], visible [B, N] bool)`` over the ``N = prod(tokens_spatial_shape_final)``
            prediction tokens in raster order (video: T-major), ``P = pred_stride**2 * C`` pixels, and
            ``visible`` True where the token's mask unit was kept.
        """
        x = self.decoder_embed(latent)
        batch, units = mask.shape
        mu, dim = x.shape[2:-1], x.shape[-1]
        # mask token [1, 1, D] -> [1, 1, *1, D] -> [B, U, *mu, D]; kept units overwritten (batch-major, unit order)
        full = self.mask_token.to(x.dtype).view(1, 1, *[1] * len(mu), dim).expand(batch, units, *mu, dim).clone()
        full = _put_kept_units(full, mask, x)  # [B, kept, *mu, D] into their units of [B, U, *mu, D]
        full = undo_windowing(full, self.tokens_spatial_shape_final, self.mask_unit_spatial_shape_final)
        # [B, *grid, D] -> [B, N, D]
        x = full.reshape(batch, -1, dim) + self.decoder_pos_embed
        visible = self.token_visibility(mask)  # [B, N]
        for block in self.decoder_blocks:
            x = self.run_block(block, x)  # checkpointed too (grad_checkpointing): it sees all N tokens
        return self.decoder_pred(self.decoder_norm(x)), visible

    # ------------------------------------------------------------------------ geometry (the one place)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        """The pixel target layout of every prediction token (official ``get_pixel_label_3d`` / ``_2d`` before
        masking): ``[B, N, P]``, ``N = prod(tokens_spatial_shape_final)`` tokens in raster order (video: T-major).

        Video ``(B, C, T, H, W)``: the *first* frame of each ``patch_stride[0]``-frame token (``x[:, :,
        ::patch_stride[0]]``), a ``pred_stride x pred_stride`` patch flattened channel-last ``(row, col, C)``;
        images ``(B, C, H, W)``: channel-first ``(C, row, col)`` (the official code differs between the two,
        "mistake during training").
        """
        p = self.pred_stride
        if x.ndim == 5:
            x = x[:, :, :: self.patch_stride[0]]  # (B, C, T, H, W) -> (B, C, T', H, W)
            b, c, t, h, w = x.shape
            # (B, C, T', H, W) -> (B, C, T', h, p, w, p) -> (B, T', h, w, p, p, C) -> (B, N, p*p*C)
            return x.reshape(b, c, t, h // p, p, w // p, p).permute(0, 2, 3, 5, 4, 6, 1).reshape(b, -1, p * p * c)
        b, c, h, w = x.shape
        # (B, C, H, W) -> (B, C, h, p, w, p) -> (B, h, w, C, p, p) -> (B, N, C*p*p)
        return x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c * p * p)

    def unpatchify(self, patches: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify` for video: ``[B, N, P] -> (B, C', T', H, W)`` with ``T' = T /
        patch_stride[0]`` target frames and ``C' = P / pred_stride**2`` (3 for pixels, 1 for a mask).

        Raises:
            ValueError: an image model, or ``patches`` not ``[B, N, k * pred_stride**2]``.
        """
        t, gh, gw = (int(g) for g in self.tokens_spatial_shape_final) if len(self.input_size) == 3 else (0, 0, 0)
        p = self.pred_stride
        if not t or patches.ndim != 3 or patches.shape[1] != t * gh * gw or patches.shape[2] % (p * p):
            raise ValueError(f"unpatchify needs a video model and [B, {t * gh * gw}, C * {p * p}] patches for grid "
                             f"{tuple(self.tokens_spatial_shape_final)}; got {list(patches.shape)}")
        b, c = patches.shape[0], patches.shape[2] // (p * p)
        # [B, N, p*p*C] -> (B, T', h, w, p, p, C) -> (B, C, T', h, p, w, p) -> (B, C, T', H, W)
        x = patches.reshape(b, t, gh, gw, p, p, c).permute(0, 6, 1, 2, 4, 3, 5)
        return x.reshape(b, c, t, gh * p, gw * p)

    def token_visibility(self, mask: torch.Tensor) -> torch.Tensor:
        """Which prediction tokens belong to kept mask units: ``mask [B, U]`` (True = kept) -> bool ``[B, N]``
        in raster order (each unit covers ``mask_unit_spatial_shape_final`` tokens, video ``1 x 2 x 2``).

        Raises:
            ValueError: ``mask`` is not ``[B, U]``.
        """
        units = math.prod(self.mask_spatial_shape)
        if mask.ndim != 2 or mask.shape[1] != units:
            raise ValueError(f"mask must be [B, {units}] for unit grid {tuple(self.mask_spatial_shape)}, "
                             f"got {list(mask.shape)}")
        grid = mask.bool().reshape(mask.shape[0], *self.mask_spatial_shape)  # [B, *unit_grid]
        for axis, repeat in enumerate(self.mask_unit_spatial_shape_final):
            grid = grid.repeat_interleave(int(repeat), dim=axis + 1)  # a unit covers `repeat` tokens on this axis
        return grid.reshape(mask.shape[0], -1)

    def get_pixel_label(self, x: torch.Tensor, masked: torch.Tensor, norm: Optional[bool] = None,
                        num_masked: Optional[int] = None) -> torch.Tensor:
        """Pixel targets of the ``masked`` prediction tokens (official ``get_pixel_label_2d`` / ``_3d``).

        Args:
            x: ``(B, C, T, H, W)`` or ``(B, C, H, W)`` input.
            masked: bool ``[B, N]``, True = a token whose unit was *dropped* (the official toggled mask).
            norm: per-patch normalisation ``(p - mean) / sqrt(var + 1e-6)`` with the unbiased variance over
                the patch's ``P`` values; None = ``self.norm_pix_loss``.
            num_masked: True entries per row of ``masked`` (the same in every row) when the caller knows it;
                None reads it from ``masked``.

        Returns:
            ``[M, P]``: ``M = masked.sum()`` patches of :meth:`patchify`'s layout, batch-major then raster order.
        """
        label = _take(self.patchify(x), masked, num_masked)  # [B, N, P] -> [M, P]
        if self.norm_pix_loss if norm is None else norm:
            mean = label.mean(dim=-1, keepdim=True)
            var = label.var(dim=-1, keepdim=True)
            label = (label - mean) / (var + 1.0e-6) ** 0.5
        return label

    def forward_loss(self, x: torch.Tensor, pred: torch.Tensor, masked: torch.Tensor,
                     num_masked: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """MSE on the dropped positions (official ``forward_loss``): ``pred [B, N, P]``, ``masked [B, N]``
        (True = dropped, ``num_masked`` per row when known) -> ``(loss scalar, pred [M, P], label [M, P])``,
        ``M = masked.sum()``. The dropped tokens are gathered with a fixed count (no boolean indexing)."""
        label = self.get_pixel_label(x, masked, num_masked=num_masked)
        pred = _take(pred, masked, num_masked)  # [B, N, P] -> [M, P]
        return ((pred - label) ** 2).mean(), pred, label

    def forward(self, x: torch.Tensor, mask_ratio: Optional[float] = None,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One MAE step (official ``MaskedAutoencoderHiera.forward``).

        Args:
            x: ``(B, C, T, H, W)`` clip (or ``(B, C, H, W)`` image; a one-element list is unwrapped) of the
                model's ``input_size``, normalised as for fine-tuning.
            mask_ratio: fraction of the ``U`` mask units to drop; None = ``self.mask_ratio``. Ignored when
                ``mask`` is given.
            mask: optional bool ``[B, U]``, True = keep (official convention), the same count in every row.

        Returns:
            ``(loss, pred, label, mask)``: ``loss`` scalar MSE; ``pred`` and ``label`` ``[B * N_masked, P]`` for
            the ``N_masked`` dropped prediction tokens of each sample (``pred.view(B, -1, P)`` splits them;
            batch-major, raster order within a sample; video ``P = 16 * 16 * C``); ``mask [B, U]`` bool, True
            = kept (the drawn one when ``mask`` was None).

        Raises:
            ValueError: wrong input shape, or a ratio / mask that keeps no unit, every unit or unequal counts.
        """
        x = self._check_input(x)
        latent, mask = self.forward_encoder(x, self.mask_ratio if mask_ratio is None else mask_ratio, mask)
        pred, visible = self.forward_decoder(latent, mask)
        tokens_per_unit = math.prod(self.mask_unit_spatial_shape_final)
        num_masked = pred.shape[1] - latent.shape[1] * tokens_per_unit  # fixed by the kept count: no host sync
        loss, pred, label = self.forward_loss(x, pred, ~visible, num_masked)
        return loss, pred, label, mask
