"""Hiera's building blocks: mask-unit attention, the block, the head, the N-D patch embedding (paper Sec. 3).

Same parameters, names and maths as the official ``hiera.hiera`` modules (``hiera-transformer`` 0.1.4); see
``hiera.py`` for the differences (4-D SDPA, no softmax in the head).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layout import pool_tokens

CONV_BY_DIMS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


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
        self.proj = CONV_BY_DIMS[self.spatial_dims](
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
