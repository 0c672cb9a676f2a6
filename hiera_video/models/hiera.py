"""Hiera: a hierarchical ViT without the bells and whistles (Ryali et al., ICML 2023, arXiv:2306.00989).

N-dimensional: 2-D images ``(B, C, H, W)`` and 3-D videos ``(B, C, T, H, W)`` share one code path. The
architecture, initialisation and state-dict keys are those of the official ``hiera.Hiera`` (pip
``hiera-transformer`` 0.1.4), so official checkpoints load with ``strict=True``. Differences, by design:

* ``Head`` never applies softmax: ``model(x)`` returns logits in train *and* eval mode (the official ``Head``
  applies softmax in eval mode). Use ``Hiera.predict_proba`` for probabilities.
* Attention always runs ``F.scaled_dot_product_attention`` on 4-D ``[batch, heads, tokens, head_dim]``
  tensors (mask-unit windows folded into the batch axis); the official code passes 5-D tensors, which rules
  out the fused (flash / memory-efficient / CPU-flash) kernels. Same maths, results within float32 rounding.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint

from .layout import Reroll, Unroll, check_geometry, pool_tokens

_CONV_BY_DIMS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


class DropPath(nn.Module):
    """Stochastic depth per sample (Huang et al., 2016); identity in eval mode or when ``p == 0``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        survive = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * survive.div_(keep)


class Mlp(nn.Module):
    """Two-layer perceptron ``fc1 -> act -> fc2`` (keys ``fc1.*``, ``fc2.*`` as in timm's ``Mlp``)."""

    def __init__(self, dim: int, hidden: int, act_layer: Callable[[], nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = act_layer()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class MaskUnitAttention(nn.Module):
    """Multi-head self-attention, global or within mask units, with optional q-pooling (paper Sec. 3).

    Args:
        dim, dim_out: input / output channels.
        heads: number of heads; ``head_dim = dim_out // heads``.
        q_stride: flattened q-pooling stride (1 = no pooling, 4 = 2x2 spatial pooling).
        window_size: tokens per mask unit *after* pooling (only used when ``use_mask_unit_attn``).
        use_mask_unit_attn: attend only within a mask unit (window) instead of globally.

    Input ``[B, N, dim]`` in unrolled order (see ``layout.Unroll``); output ``[B, N // q_stride, dim_out]``.
    Number of windows: ``N // (q_stride * window_size)`` when ``use_mask_unit_attn`` else 1 (official rule).
    """

    def __init__(self, dim: int, dim_out: int, heads: int, q_stride: int = 1, window_size: int = 0,
                 use_mask_unit_attn: bool = False) -> None:
        super().__init__()
        self.dim, self.dim_out, self.heads, self.head_dim = dim, dim_out, heads, dim_out // heads
        self.q_stride, self.window_size, self.use_mask_unit_attn = q_stride, window_size, use_mask_unit_attn
        self.qkv = nn.Linear(dim, 3 * dim_out)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, _ = x.shape
        heads, head_dim = self.heads, self.head_dim
        windows = num_tokens // (self.q_stride * self.window_size) if self.use_mask_unit_attn else 1
        qkv = self.qkv(x)
        if windows == 1:
            # [B, N, 3*D] -> [B, N, 3, h, d] -> [3, B, h, N, d]
            qkv = qkv.view(batch, num_tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
        else:
            # The window index varies fastest along N (token n lies in window n % windows), see Unroll.
            per_window = num_tokens // windows
            # [B, N, 3*D] -> [B, L, W, 3, h, d] -> [3, B, W, h, L, d] -> [3, B*W, h, L, d]
            qkv = qkv.view(batch, per_window, windows, 3, heads, head_dim).permute(3, 0, 2, 4, 1, 5)
            qkv = qkv.reshape(3, batch * windows, heads, per_window, head_dim)
        q, k, v = qkv.unbind(0)
        if self.q_stride > 1:
            # [B', h, L, d] -> [B', h, q_stride, L / q_stride, d] -> max over q_stride -> [B', h, Lq, d]
            q = q.reshape(q.shape[0], heads, self.q_stride, -1, head_dim).amax(dim=2)
        out = F.scaled_dot_product_attention(q, k, v)  # [B', h, Lq, d]
        if windows == 1:
            # [B, h, Nq, d] -> [B, Nq, h, d] -> [B, Nq, D]
            out = out.transpose(1, 2).reshape(batch, -1, self.dim_out)
        else:
            # [B*W, h, Lq, d] -> [B, W, h, Lq, d] -> [B, Lq, W, h, d] -> [B, Lq*W, D]
            out = out.view(batch, windows, heads, -1, head_dim).permute(0, 3, 1, 2, 4)
            out = out.reshape(batch, -1, self.dim_out)
        return self.proj(out)


class HieraBlock(nn.Module):
    """Pre-norm transformer block; the first block of a stage changes width and q-pools (paper Sec. 3).

    Input ``[B, N, dim]`` -> output ``[B, N // q_stride, dim_out]``. When ``dim != dim_out`` the residual
    branch is ``pool(proj(norm1(x)))`` (official ``HieraBlock``); ``proj`` exists only in that case.
    """

    def __init__(self, dim: int, dim_out: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 norm_layer: Callable[[int], nn.Module] = nn.LayerNorm, act_layer: Callable[[], nn.Module] = nn.GELU,
                 q_stride: int = 1, window_size: int = 0, use_mask_unit_attn: bool = False) -> None:
        super().__init__()
        self.dim, self.dim_out = dim, dim_out
        self.norm1 = norm_layer(dim)
        self.attn = MaskUnitAttention(dim, dim_out, heads, q_stride, window_size, use_mask_unit_attn)
        self.norm2 = norm_layer(dim_out)
        self.mlp = Mlp(dim_out, int(dim_out * mlp_ratio), act_layer=act_layer)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if dim != dim_out:
            self.proj = nn.Linear(dim, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.norm1(x)
        if self.dim != self.dim_out:
            x = pool_tokens(self.proj(normed), self.attn.q_stride)
        x = x + self.drop_path(self.attn(normed))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Head(nn.Module):
    """Classification head ``dropout -> Linear``: ``[B, dim] -> [B, num_classes]`` logits.

    Unlike the official ``hiera.Head`` there is no softmax in eval mode; logits come out in every mode.
    Pass ``act`` (e.g. ``partial(torch.softmax, dim=-1)``) to apply a function in *both* modes.
    """

    def __init__(self, dim: int, num_classes: int, dropout_rate: float = 0.0,
                 act: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()
        self.projection = nn.Linear(dim, num_classes)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection(self.dropout(x))
        return x if self.act is None else self.act(x)


class PatchEmbed(nn.Module):
    """N-D patch embedding: ``(B, C_in, *spatial) -> [B, N, dim_out]`` tokens in raster order.

    With a ``mask`` (``[B, 1, *mask_grid]``, True = keep) the input is zeroed outside kept mask units
    (nearest-neighbour upsampled) before the convolution so overlapping kernels do not leak masked pixels
    (official ``do_masked_conv``).
    """

    def __init__(self, dim_in: int, dim_out: int, kernel: Sequence[int], stride: Sequence[int],
                 padding: Sequence[int]) -> None:
        super().__init__()
        self.spatial_dims = len(kernel)
        self.proj = _CONV_BY_DIMS[self.spatial_dims](
            dim_in, dim_out, kernel_size=tuple(kernel), stride=tuple(stride), padding=tuple(padding))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        if mask is not None:
            keep = mask.float()
            if keep.shape[2:] != x.shape[2:]:
                keep = F.interpolate(keep, size=x.shape[2:])
            x = x * keep.bool()
        x = self.proj(x)
        # [B, C, *grid] -> [B, C, N] -> [B, N, C]
        return x.flatten(2).transpose(1, 2)


class Hiera(nn.Module):
    """Hiera backbone + mean-pool + LayerNorm + linear head (official ``hiera.Hiera``).

    Args (same names and defaults as the official constructor):
        input_size: ``(T, H, W)`` frames/pixels for video or ``(H, W)`` for images.
        in_chans, embed_dim, num_heads: input channels, stage-1 width and heads.
        num_classes: head outputs.
        stages: blocks per stage. ``q_pool``: number of stage transitions that q-pool (< len(stages)).
        q_stride: per-axis pooling stride. ``mask_unit_size``: per-axis mask-unit extent in tokens.
        mask_unit_attn: per stage, mask-unit (True) or global attention; the first block of a stage still uses
            the previous stage's type ("lag by one", official rule).
        dim_mul, head_mul: width / head multipliers per stage.
        patch_kernel, patch_stride, patch_padding: patch-embedding convolution.
        mlp_ratio, drop_path_rate (linear over blocks), norm_layer (name in ``torch.nn`` or a callable;
        names get ``eps=1e-6``), head_dropout, head_init_scale, sep_pos_embed (separate spatial and
        temporal position embeddings; video only).

    Raises:
        ValueError: axes that do not divide into whole patches / mask units / pooling windows (e.g. for the
            video template H and W must be multiples of 32 and T a multiple of 2), or ``q_pool >= len(stages)``.

    ``forward`` returns logits ``(B, num_classes)`` in train and eval mode (the official model returns
    softmax probabilities in eval mode).

    Attribute ``act_checkpoint`` (default False; ``MODEL.ACT_CHECKPOINT``): in training, run every block
    under ``torch.utils.checkpoint`` (non-reentrant), keeping only block inputs and recomputing the rest
    in backward: less activation memory for one more forward of the blocks; results are unchanged.
    """

    def __init__(
        self,
        input_size: Tuple[int, ...] = (224, 224), in_chans: int = 3, embed_dim: int = 96, num_heads: int = 1,
        num_classes: int = 1000, stages: Tuple[int, ...] = (2, 3, 16, 3), q_pool: int = 3,
        q_stride: Tuple[int, ...] = (2, 2), mask_unit_size: Tuple[int, ...] = (8, 8),
        mask_unit_attn: Tuple[bool, ...] = (True, True, False, False), dim_mul: float = 2.0,
        head_mul: float = 2.0, patch_kernel: Tuple[int, ...] = (7, 7), patch_stride: Tuple[int, ...] = (4, 4),
        patch_padding: Tuple[int, ...] = (3, 3), mlp_ratio: float = 4.0, drop_path_rate: float = 0.0,
        norm_layer: Union[str, Callable[[int], nn.Module]] = "LayerNorm", head_dropout: float = 0.0,
        head_init_scale: float = 0.001, sep_pos_embed: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(norm_layer, str):
            norm_layer = partial(getattr(nn, norm_layer), eps=1e-6)
        if not 0 <= q_pool < len(stages):
            raise ValueError(f"q_pool={q_pool} must be in [0, len(stages)={len(stages)})")
        if len(mask_unit_attn) != len(stages):
            raise ValueError(f"mask_unit_attn {mask_unit_attn} needs one entry per stage ({len(stages)})")
        if sep_pos_embed and len(input_size) != 3:
            raise ValueError("sep_pos_embed=True needs a 3-D (T, H, W) input_size")
        num_unrolls = len(stages) - 1
        check_geometry(input_size, patch_stride, mask_unit_size, q_stride, num_unrolls)

        self.input_size = tuple(input_size)
        self.in_chans, self.num_classes = in_chans, num_classes
        self.patch_stride = tuple(patch_stride)
        self.tokens_spatial_shape = [n // s for n, s in zip(input_size, patch_stride)]
        self.q_pool, self.q_stride = q_pool, tuple(q_stride)
        self.mask_unit_size = tuple(mask_unit_size)
        self.mu_size = math.prod(mask_unit_size)
        self.mask_spatial_shape = [n // m for n, m in zip(self.tokens_spatial_shape, mask_unit_size)]
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        self.sep_pos_embed = sep_pos_embed
        self.act_checkpoint = False

        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_kernel, patch_stride, patch_padding)
        grid = self.tokens_spatial_shape
        if sep_pos_embed:
            self.pos_embed_spatial = nn.Parameter(torch.zeros(1, grid[1] * grid[2], embed_dim))
            self.pos_embed_temporal = nn.Parameter(torch.zeros(1, grid[0], embed_dim))
        else:
            self.pos_embed = nn.Parameter(torch.zeros(1, math.prod(grid), embed_dim))

        schedule = [self.q_stride] * num_unrolls
        self.unroll = Unroll(input_size, patch_stride, schedule)
        self.reroll = Reroll(input_size, patch_stride, schedule, self.stage_ends, q_pool)

        pooling_blocks = {end + 1 for end in self.stage_ends[:q_pool]}
        flat_q_stride = math.prod(q_stride)
        window = self.mu_size  # tokens per mask unit at the current resolution
        depth = sum(stages)
        # explicit CPU device so construction also works under a `torch.device("meta")` context
        drop_rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
        self.blocks = nn.ModuleList()
        self.stage_dims: List[int] = []
        stage, dim, heads = 0, embed_dim, num_heads
        for i in range(depth):
            dim_out = dim
            # Lag by one: the first block of a new stage keeps the previous stage's attention type, so
            # the switch to global attention happens on already-pooled tokens.
            mask_unit_here = mask_unit_attn[stage]
            if i - 1 in self.stage_ends:  # first block of a new stage
                self.stage_dims.append(dim)
                dim_out = int(dim * dim_mul)
                heads = int(heads * head_mul)
                stage += 1
                if i in pooling_blocks:
                    window //= flat_q_stride
            self.blocks.append(HieraBlock(
                dim, dim_out, heads, mlp_ratio=mlp_ratio, drop_path=drop_rates[i], norm_layer=norm_layer,
                q_stride=flat_q_stride if i in pooling_blocks else 1, window_size=window,
                use_mask_unit_attn=mask_unit_here,
            ))
            dim = dim_out
        self.stage_dims.append(dim)
        self.num_features = dim

        self.norm = norm_layer(dim)
        self.head = Head(dim, num_classes, dropout_rate=head_dropout)
        self._init_parameters(head_init_scale)

    def _init_parameters(self, head_init_scale: float) -> None:
        """Official init: trunc-normal(0.02) weights and position embeddings, 0.02 Linear/LayerNorm biases,
        LayerNorm weight 1, head scaled by ``head_init_scale``; conv biases keep PyTorch's default."""
        pos = (self.pos_embed_spatial, self.pos_embed_temporal) if self.sep_pos_embed else (self.pos_embed,)
        for param in pos:
            nn.init.trunc_normal_(param, std=0.02)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.constant_(module.bias, 0.02)
            elif isinstance(module, nn.LayerNorm):
                nn.init.constant_(module.weight, 1.0)
                nn.init.constant_(module.bias, 0.02)
        with torch.no_grad():
            self.head.projection.weight.mul_(head_init_scale)
            self.head.projection.bias.mul_(head_init_scale)

    def no_weight_decay(self) -> set:
        """Parameter names to exclude from weight decay: the position embeddings."""
        return {"pos_embed_spatial", "pos_embed_temporal"} if self.sep_pos_embed else {"pos_embed"}

    def get_pos_embed(self) -> torch.Tensor:
        """Position embedding ``[1, N, C]`` in raster (T-major) order; separable ones are summed."""
        if not self.sep_pos_embed:
            return self.pos_embed
        # [1, T, C] -> [1, T, 1, C] ; [1, H*W, C] -> [1, 1, H*W, C] ; sum -> [1, T, H*W, C] -> [1, N, C]
        summed = self.pos_embed_temporal.unsqueeze(2) + self.pos_embed_spatial.unsqueeze(1)
        return summed.flatten(1, 2)

    def random_mask(self, batch_size: int, mask_ratio: float, device=None) -> torch.Tensor:
        """Random per-mask-unit mask ``[B, num_mask_units]`` bool, True = keep; keeps
        ``int(num_mask_units * (1 - mask_ratio))`` units per sample (official ``get_random_mask``)."""
        units = math.prod(self.mask_spatial_shape)
        keep = int(units * (1 - mask_ratio))
        order = torch.rand(batch_size, units, device=device).argsort(dim=1)
        mask = torch.zeros(batch_size, units, dtype=torch.bool, device=device)
        mask.scatter_(1, order[:, :keep], True)
        return mask

    def _check_input(self, x: Union[torch.Tensor, Sequence[torch.Tensor]]) -> torch.Tensor:
        if isinstance(x, (list, tuple)):  # PySlowFast-style loaders wrap the clip in a list
            x = x[0]
        expected = (self.in_chans, *self.input_size)
        if x.ndim != 2 + len(self.input_size) or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"expected input of shape (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}; "
                f"build the model with input_size={tuple(x.shape[2:])} for other sizes"
            )
        return x

    def forward_tokens(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                       return_intermediates: bool = False) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run the encoder without pooling or head.

        Args:
            x: ``(B, C_in, *input_size)``, e.g. ``(B, 3, T, H, W)``.
            mask: optional bool ``[B, num_mask_units]``, True = keep (MAE); every row must keep the same
                number of units. Dropped units are zeroed before the patch conv and their tokens removed.
            return_intermediates: also collect each stage's output via ``Reroll`` (official layout:
                ``[B, *grid_i, C_i]`` without mask, ``[B, kept_units, *mu_i, C_i]`` with mask).

        Returns:
            ``(tokens, intermediates)``: tokens ``[B, N_last, C_last]`` in unrolled order (spatial order once
            all unroll strides are consumed) and the list (empty unless requested).
        """
        x = self._check_input(x)
        batch = x.shape[0]
        if mask is not None:
            units = math.prod(self.mask_spatial_shape)
            if mask.shape != (batch, units):
                raise ValueError(f"mask must be [B, num_mask_units] = {[batch, units]}, got {list(mask.shape)}")
            mask = mask.bool()
        x = self.patch_embed(x, mask.view(batch, 1, *self.mask_spatial_shape) if mask is not None else None)
        x = self.unroll(x + self.get_pos_embed())
        if mask is not None:
            channels = x.shape[-1]
            # mask unit index varies fastest: [B, N, C] -> [B, mu_size, units, C]; keep rows -> [B, N_kept, C]
            keep = mask[:, None, :].expand(batch, self.mu_size, mask.shape[1])
            x = x.view(batch, self.mu_size, -1, channels)[keep].view(batch, -1, channels)
        intermediates: List[torch.Tensor] = []
        ends = set(self.stage_ends)
        for i, block in enumerate(self.blocks):
            x = self.run_block(block, x)
            if return_intermediates and i in ends:
                intermediates.append(self.reroll(x, i, mask=mask))
        return x, intermediates

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``block(x)``; with ``act_checkpoint`` on, in training with gradients, under non-reentrant
        ``torch.utils.checkpoint``: only the block's input is kept and the block runs again in backward."""
        if self.act_checkpoint and self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        return block(x)

    def forward_features(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Per-stage feature maps in spatial order, channels first: ``[(B, C_i, *grid_i)]``, e.g. for the
        video template ``(B, C_i, T/2, H/4/2^i, W/4/2^i)`` (i-th stage, widths ``stage_dims``)."""
        _, maps = self.forward_tokens(x, return_intermediates=True)
        # [B, *grid, C] -> [B, C, *grid]
        return [m.movedim(-1, 1).contiguous() for m in maps]

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x (B, C_in, *input_size)`` -> logits ``(B, num_classes)`` (no softmax, any mode).

        With ``mask`` (bool ``[B, num_mask_units]``, True = keep) returns the encoder tokens
        ``[B, N_kept, C_last]`` without pooling or head, as the official forward does.
        """
        x, _ = self.forward_tokens(x, mask)
        if mask is not None:
            return x
        return self.head(self.norm(x.mean(dim=1)))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, num_classes)``: softmax of the logits (= the official eval output)."""
        return self.forward(x).softmax(dim=-1)
