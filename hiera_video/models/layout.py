"""Token orderings used inside Hiera: ``Unroll``, ``Reroll``, ``undo_windowing``, and the kept tokens of mask units
(``kept_unit_indices``, ``take_kept_tokens``: fixed-count gathers in the unrolled order).

Hiera (Ryali et al., 2023, Sec. 3 and the official ``hiera_utils.Unroll`` / ``Reroll``) never works on
tokens in raster order. Right after the patch embedding the flattened token grid is permuted once so that

* a q-pooling step with per-axis stride ``s`` is a max over the *leading* ``prod(s)`` slices of the token axis
  (``x.view(B, prod(s), N // prod(s), C).amax(1)``), and
* after all strides of the schedule, the remaining "rest" index (one entry per mask unit when the schedule
  multiplies out to the mask-unit size) varies fastest, so a mask unit is the set of tokens
  ``{n : n % num_units == u}`` and mask-unit attention is a reshape, not a gather.

Notation used in the shape comments below, for a grid axis ``d`` of length ``n_d`` and a schedule of ``k``
stride tuples ``s^1 .. s^k``: the coordinate along ``d`` is written in mixed radix as
``(r_d, i^k_d, ..., i^1_d)`` with ``i^j_d < s^j_d`` (``i^1_d`` is the fastest digit) and
``r_d < n_d / prod_j s^j_d``. The unrolled token order is ``(i^1_*, i^2_*, ..., i^k_*, r_*)`` where each
``_*`` group lists the grid axes in order (T, H, W for video; H, W for images).

Unlike the official implementation, which permutes once per schedule entry, both directions here are a
single ``view`` + ``permute`` + ``reshape`` (one copy). The results are bit-identical to the official order.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

Shape = Tuple[int, ...]
_AXIS_NAMES = {1: ("W",), 2: ("H", "W"), 3: ("T", "H", "W")}


def _grid_after(size: Sequence[int], schedule: Sequence[Sequence[int]]) -> List[int]:
    """Per-axis grid left after dividing ``size`` by every stride tuple of ``schedule``."""
    rest = list(size)
    for strides in schedule:
        rest = [n // s for n, s in zip(rest, strides)]
    return rest


def _to_spatial_perm(num_dims: int, num_steps: int) -> List[int]:
    """Permutation taking ``[B, s^1_*, ..., s^k_*, r_*, C]`` to ``[B, (r_d, s^k_d, ..., s^1_d)_d, C]``."""
    rest_axis = 1 + num_steps * num_dims
    perm = [0]
    for d in range(num_dims):
        perm.append(rest_axis + d)
        perm.extend(1 + j * num_dims + d for j in reversed(range(num_steps)))
    perm.append(rest_axis + num_dims)
    return perm


def check_geometry(input_size: Sequence[int], patch_stride: Sequence[int], mask_unit_size: Sequence[int],
                   q_stride: Sequence[int], num_unrolls: int) -> None:
    """Raise ``ValueError`` unless every axis splits into whole patches, mask units and pooling windows."""
    dims = len(input_size)
    if not (len(patch_stride) == len(mask_unit_size) == len(q_stride) == dims):
        raise ValueError(
            f"input_size {tuple(input_size)}, patch_stride {tuple(patch_stride)}, mask_unit_size "
            f"{tuple(mask_unit_size)} and q_stride {tuple(q_stride)} must have the same number of axes"
        )
    names = _AXIS_NAMES.get(dims, tuple(f"axis{d}" for d in range(dims)))
    for d in range(dims):
        unit = math.lcm(mask_unit_size[d], q_stride[d] ** num_unrolls)
        multiple = patch_stride[d] * unit
        if input_size[d] <= 0 or input_size[d] % multiple:
            raise ValueError(
                f"input_size {tuple(input_size)}: {names[d]}={input_size[d]} must be a positive multiple of "
                f"{multiple} (patch stride {patch_stride[d]} x mask unit / pooling extent {unit})"
            )


def pool_tokens(x: torch.Tensor, stride: int) -> torch.Tensor:
    """Max-pool unrolled tokens ``[B, N, C] -> [B, N // stride, C]`` (``stride`` = flattened q-stride).

    Because of ``Unroll``, the ``stride`` members of every pooling window sit ``N // stride`` apart along
    the token axis, so the pool is a max over a leading axis (official ``do_pool``).
    """
    if stride == 1:
        return x
    # [B, N, C] -> [B, stride, N / stride, C] -> max over stride -> [B, N / stride, C]
    return x.view(x.shape[0], stride, -1, x.shape[-1]).amax(dim=1)


def undo_windowing(x: torch.Tensor, shape: Sequence[int], mu_shape: Sequence[int]) -> torch.Tensor:
    """Put tokens grouped by window back into raster order.

    Args:
        x: ``[B, num_windows, *mu_shape, C]``, windows enumerated in raster order over the window grid
            ``shape[d] // mu_shape[d]``.
        shape: full token grid, e.g. ``(T, H, W)``.
        mu_shape: window (mask unit) extent per axis, dividing ``shape``.

    Returns:
        ``[B, *shape, C]``. Same contract as the official ``hiera_utils.undo_windowing``.
    """
    num_dims = len(shape)
    batch, channels = x.shape[0], x.shape[-1]
    win_grid = [n // m for n, m in zip(shape, mu_shape)]
    # [B, num_windows, *mu, C] -> [B, *win_grid, *mu, C]
    x = x.view(batch, *win_grid, *mu_shape, channels)
    perm = [0]
    for d in range(num_dims):
        perm += [1 + d, 1 + num_dims + d]
    perm.append(1 + 2 * num_dims)
    # [B, g_0.., m_0.., C] -> [B, g_0, m_0, g_1, m_1, .., C] -> [B, *shape, C]
    return x.permute(perm).reshape(batch, *shape, channels)


class Unroll(nn.Module):
    """Reorder raster tokens into Hiera's pooling-friendly order (official ``hiera_utils.Unroll``).

    Args:
        input_size: input extent per axis, e.g. ``(T, H, W)`` frames/pixels.
        patch_stride: patch-embedding stride per axis; the token grid is ``input_size // patch_stride``.
        unroll_schedule: stride tuples applied in sequence (Hiera uses ``[q_stride] * (num_stages - 1)``).

    Input ``[B, N, C]`` tokens in raster order (``N = prod(grid)``); output ``[B, N, C]`` in unrolled order
    (see module docstring). Each axis of the grid must be divisible by the product of its strides.
    """

    def __init__(
        self,
        input_size: Sequence[int],
        patch_stride: Sequence[int],
        unroll_schedule: Sequence[Sequence[int]],
    ) -> None:
        super().__init__()
        self.size = [n // s for n, s in zip(input_size, patch_stride)]
        self.schedule = [tuple(s) for s in unroll_schedule]
        num_dims, num_steps = len(self.size), len(self.schedule)
        rest = _grid_after(self.size, self.schedule)
        # Per axis d the raster coordinate splits into digits (r_d, s^k_d, ..., s^1_d).
        split: List[int] = []
        for d in range(num_dims):
            split.append(rest[d])
            split.extend(self.schedule[j][d] for j in reversed(range(num_steps)))
        self._split_shape = split
        # Inverse of the reroll permutation: gather all s^1 digits first, then s^2, ..., then r.
        forward_perm = _to_spatial_perm(num_dims, num_steps)
        inverse = [0] * len(forward_perm)
        for dst, src in enumerate(forward_perm):
            inverse[src] = dst
        self._perm = inverse

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, channels = x.shape
        # [B, N, C] -> [B, (r_d, s^k_d, .., s^1_d) for each axis d, C]
        x = x.view(batch, *self._split_shape, channels)
        # [B, (r_d, s^k_d, .., s^1_d)_d, C] -> [B, s^1_*, .., s^k_*, r_*, C] -> [B, N, C]
        return x.permute(self._perm).reshape(batch, num_tokens, channels)


class Reroll(nn.Module):
    """Undo ``Unroll`` for the output of a given block (official ``hiera_utils.Reroll``).

    After each of the first ``q_pool`` stages, q-pooling consumes the leading stride group, so the block
    index determines which part of the schedule is still "rolled up" and how large the grid is.

    Args:
        input_size, patch_stride, unroll_schedule: as for ``Unroll``.
        stage_ends: index of the last block of each stage.
        q_pool: number of stage transitions that pool.
    """

    def __init__(
        self,
        input_size: Sequence[int],
        patch_stride: Sequence[int],
        unroll_schedule: Sequence[Sequence[int]],
        stage_ends: Sequence[int],
        q_pool: int,
    ) -> None:
        super().__init__()
        size = [n // s for n, s in zip(input_size, patch_stride)]
        schedule = [tuple(s) for s in unroll_schedule]
        self.size = list(size)
        num_dims = len(size)
        # block index -> (remaining schedule, current grid)
        self.schedule: Dict[int, Tuple[List[Shape], List[int]]] = {}
        pooling_ends = set(list(stage_ends)[:q_pool])
        for block in range(stage_ends[-1] + 1):
            self.schedule[block] = (list(schedule), list(size))
            if block in pooling_ends and schedule:
                size = [n // s for n, s in zip(size, schedule[0])]
                schedule = schedule[1:]
        self._num_dims = num_dims

    def forward(self, x: torch.Tensor, block_idx: int, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Return block ``block_idx``'s tokens ``x: [B, N, C]`` in spatial order.

        Returns ``[B, *grid, C]`` (e.g. ``[B, T, H, W, C]``) when ``mask`` is None. When a mask was used
        (tokens of dropped mask units removed), returns ``[B, num_kept_units, *mu, C]`` where ``mu`` is the
        product of the still-unconsumed strides, as in the official implementation.
        """
        schedule, size = self.schedule[block_idx]
        num_dims, num_steps = self._num_dims, len(schedule)
        batch, _, channels = x.shape
        strides_flat = [s for step in schedule for s in step]
        perm = _to_spatial_perm(num_dims, num_steps)
        if mask is None:
            rest = _grid_after(size, schedule)
            # [B, N, C] -> [B, s^1_*, .., s^k_*, r_*, C]
            x = x.view(batch, *strides_flat, *rest, channels)
            # [B, s^1_*, .., s^k_*, r_*, C] -> [B, (r_d, s^k_d, .., s^1_d)_d, C] -> [B, *grid, C]
            return x.permute(perm).reshape(batch, *size, channels)
        mu_shape = [math.prod([step[d] for step in schedule]) for d in range(num_dims)]
        # [B, N, C] -> [B, s^1_*, .., s^k_*, R, C] (R = kept mask units, flat)
        x = x.view(batch, *strides_flat, -1, channels)
        rest_axis = 1 + num_steps * num_dims
        stride_axes = [p for p in perm[1:-1] if p < rest_axis]  # (s^k_d, .., s^1_d) per axis d
        unit_perm = [0, rest_axis] + stride_axes + [rest_axis + 1]
        # [B, s^1_*, .., s^k_*, R, C] -> [B, R, (s^k_d, .., s^1_d)_d, C] -> [B, R, *mu, C]
        return x.permute(unit_perm).reshape(batch, -1, *mu_shape, channels)


def kept_unit_indices(mask: torch.Tensor, num_kept: Optional[int] = None) -> torch.Tensor:
    """Indices ``[B, K]`` (ascending) of the ``True`` entries of ``mask [B, U]``, every row holding ``K`` of them.

    ``K`` is ``num_kept`` when given (no host sync), else read from the first row. A stable sort puts the ``True``
    entries first in index order, so gathering with these indices takes exactly the elements (and order) that
    boolean indexing ``x[mask]`` takes, with a shape fixed by ``K`` instead of by the mask's content.
    """
    if num_kept is None:
        num_kept = int(mask[0].sum())
    return torch.argsort((~mask.bool()).to(torch.int8), dim=1, stable=True)[:, :num_kept]


def take_kept_tokens(x: torch.Tensor, mask: torch.Tensor, mu_size: int, num_kept: Optional[int] = None) -> torch.Tensor:
    """The tokens of the kept mask units: ``x [B, N, C]`` (unrolled order: the mask-unit index varies fastest, so
    ``x`` is ``[B, mu_size, U, C]``) -> ``[B, mu_size * K, C]``, ``K`` kept units per row (``mask [B, U]``, True =
    keep). The same tokens in the same order as the official boolean indexing ``x[mask]``, gathered with a fixed K."""
    batch, channels = x.shape[0], x.shape[-1]
    kept = kept_unit_indices(mask, num_kept)  # [B, K] ascending
    index = kept[:, None, :, None].expand(batch, mu_size, kept.shape[1], channels)
    return x.view(batch, mu_size, -1, channels).gather(2, index).reshape(batch, -1, channels)
