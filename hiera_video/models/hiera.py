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
import torch.utils.checkpoint

from .blocks import CONV_BY_DIMS, DropPath, Head, HieraBlock, MaskUnitAttention, Mlp, PatchEmbed  # noqa: F401
from .layout import Reroll, Unroll, check_geometry, kept_unit_indices, take_kept_tokens  # noqa: F401


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

    Model API (timm's names, made video-aware):

    * ``forward(x) = forward_head(forward_features(x))``: logits ``(B, num_classes)`` in train and eval mode
      (the official model returns softmax probabilities in eval mode);
    * ``forward_features(x)``: final-stage tokens ``(B, N, C)``; ``forward_head(x, pre_logits=False)``;
    * ``forward_intermediates(x, indices, stop_early, intermediates_only)``: per-stage maps in spatial order;
      ``feature_info``: channels and strides per stage;
    * ``reset_classifier(num_classes)``, ``set_grad_checkpointing(enable)``, ``no_weight_decay()``,
      ``get_layer_id(param_name)`` / ``num_layers`` (layer-wise lr decay);
    * ``config``: the constructor arguments (what ``save_pretrained`` writes to ``config.json``);
      ``pretrained_cfg``: set by ``create_model`` (weights, input size, frames, mean / std, class names).

    ``grad_checkpointing`` (default False; ``set_grad_checkpointing``, ``MODEL.ACT_CHECKPOINT``): in training,
    run every block under ``torch.utils.checkpoint`` (non-reentrant), keeping only block inputs and recomputing
    the rest in backward: less activation memory for one more forward of the blocks; results are unchanged.
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
        # constructor arguments, as the official model's `config` (config.json of save_pretrained)
        self.config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.pretrained_cfg: dict = {}
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
        self.grad_checkpointing = False
        self.head_init_scale = float(head_init_scale)
        self.head_dropout = float(head_dropout)

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
        self.feature_info = self._feature_info()

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

    def random_mask(self, batch_size: int, mask_ratio: float, device=None,
                    generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Random per-mask-unit mask ``[B, num_mask_units]`` bool, True = keep; keeps
        ``int(num_mask_units * (1 - mask_ratio))`` units per sample (official ``get_random_mask``: the same draw
        from the global RNG when ``generator`` is None)."""
        units = math.prod(self.mask_spatial_shape)
        keep = int(units * (1 - mask_ratio))
        order = torch.rand(batch_size, units, device=device, generator=generator).argsort(dim=1)
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
                       return_intermediates: bool = False,
                       num_kept: Optional[int] = None) -> Tuple[torch.Tensor, List[torch.Tensor]]:
        """Run the encoder without pooling or head.

        Args:
            x: ``(B, C_in, *input_size)``, e.g. ``(B, 3, T, H, W)``.
            mask: optional bool ``[B, num_mask_units]``, True = keep (MAE); every row must keep the same
                number of units. Dropped units are zeroed before the patch conv and their tokens removed.
            return_intermediates: also collect each stage's output via ``Reroll`` (official layout:
                ``[B, *grid_i, C_i]`` without mask, ``[B, kept_units, *mu_i, C_i]`` with mask).
            num_kept: units ``mask`` keeps per row, when the caller knows it (MAE: ``int(U * (1 - ratio))``);
                None reads it from ``mask`` (one device-to-host copy). The kept tokens are gathered with this fixed
                count: no boolean indexing, so no data-dependent shapes (``torch.compile`` keeps one graph).

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
            x = take_kept_tokens(x, mask, self.mu_size, num_kept)  # [B, N, C] -> [B, N_kept, C]
        intermediates: List[torch.Tensor] = []
        ends = set(self.stage_ends)
        for i, block in enumerate(self.blocks):
            x = self.run_block(block, x)
            if return_intermediates and i in ends:
                intermediates.append(self.reroll(x, i, mask=mask))
        return x, intermediates

    def run_block(self, block: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``block(x)``; with ``grad_checkpointing`` on, in training with gradients, under non-reentrant
        ``torch.utils.checkpoint``: only the block's input is kept and the block runs again in backward."""
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
        return block(x)

    # --------------------------------------------------------------------------------------- timm-style API

    def _feature_info(self) -> List[dict]:
        """Per stage: ``num_chs`` (channels), ``reduction`` (spatial stride in pixels), ``stride`` (per input
        axis: frames / pixels per token, e.g. ``(2, 4, 4)`` for stage 0 of the video template) and ``module``
        (the block that ends the stage), timm's ``feature_info`` keys plus ``stride``."""
        info, stride = [], list(self.patch_stride)
        for i, (end, dim) in enumerate(zip(self.stage_ends, self.stage_dims)):
            if 0 < i <= self.q_pool:
                stride = [s * q for s, q in zip(stride, self.q_stride)]
            info.append({"num_chs": dim, "reduction": stride[-1], "stride": tuple(stride), "module": f"blocks.{end}"})
        return info

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation (gradient) checkpointing of every block in training (timm's name; ``MODEL.ACT_CHECKPOINT``)."""
        self.grad_checkpointing = bool(enable)

    @property
    def num_layers(self) -> int:
        """Layer ids for layer-wise lr decay: ``0`` (input) .. ``len(blocks) + 1`` (norm, head, the rest)."""
        return len(self.blocks) + 2

    def get_layer_id(self, param_name: str) -> int:
        """Layer id of parameter ``param_name`` (a name of ``named_parameters()``) for layer-wise lr decay:
        0 for the input layer (``patch_embed``, position embeddings, ``mask_token``), ``i + 1`` for
        ``blocks.{i}.*``, ``num_layers - 1`` for everything else (final norm, head, an MAE's decoder).
        Source: BEiT / MAE ``param_groups_lrd``; PySlowFast ``get_param_groups``."""
        if param_name.startswith(("patch_embed", "pos_embed", "mask_token", "cls_token")):
            return 0
        if param_name.startswith("blocks."):
            return int(param_name.split(".", 2)[1]) + 1
        return self.num_layers - 1

    def get_classifier(self) -> nn.Module:
        """The classification layer (``head.projection``)."""
        return self.head.projection

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a fresh one of ``num_classes`` outputs (official init: trunc-normal 0.02 weight
        and 0.02 bias, both scaled by ``head_init_scale``); ``num_classes=0`` makes ``forward`` return the
        pooled features ``(B, num_features)`` (timm's convention)."""
        self.num_classes = int(num_classes)
        self.config["num_classes"] = self.num_classes
        device = self.norm.weight.device
        if self.num_classes <= 0:
            self.head = nn.Identity()
            return
        self.head = Head(self.num_features, self.num_classes, dropout_rate=self.head_dropout).to(device)
        nn.init.trunc_normal_(self.head.projection.weight, std=0.02)
        nn.init.constant_(self.head.projection.bias, 0.02)
        with torch.no_grad():
            self.head.projection.weight.mul_(self.head_init_scale)
            self.head.projection.bias.mul_(self.head_init_scale)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output before pooling: final-stage tokens ``(B, N, C)`` (timm's ``forward_features``), e.g.
        ``(B, 8 * 7 * 7, 768)`` for ``hiera_base_16x224``; ``x`` is ``(B, 3, T, H, W)`` (``(B, 3, H, W)``
        for image models). Tokens are in spatial (T-major raster) order when every unroll stride is consumed
        by q-pooling (``q_pool = len(stages) - 1``, all shipped models).

        Raises:
            ValueError: ``x`` is not ``(B, in_chans, *input_size)``.
        """
        x, _ = self.forward_tokens(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Tokens ``(B, N, C)`` -> mean over tokens -> final LayerNorm -> ``(B, num_features)`` with
        ``pre_logits=True``, else the head's logits ``(B, num_classes)`` (no softmax in any mode)."""
        x = self.norm(x.mean(dim=1))
        return x if pre_logits else self.head(x)

    def _stage_indices(self, indices: Optional[Union[int, Sequence[int]]]) -> List[int]:
        num = len(self.stage_ends)
        if indices is None:
            return list(range(num))
        if isinstance(indices, int):
            if not 0 < indices <= num:
                raise ValueError(f"indices={indices}: take the last n stages, 1 <= n <= {num}")
            return list(range(num - indices, num))
        picked = sorted({i % num if -num <= i < num else num for i in indices})
        if not picked or picked[-1] >= num:
            raise ValueError(f"indices {list(indices)}: stage indices must lie in [-{num}, {num})")
        return picked

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: Optional[Union[int, Sequence[int]]] = None,
        stop_early: bool = False,
        intermediates_only: bool = False,
    ) -> Union[List[torch.Tensor], Tuple[torch.Tensor, List[torch.Tensor]]]:
        """Per-stage feature maps for dense tasks (detection, segmentation), as timm's ``forward_intermediates``.

        Args:
            x: ``(B, 3, T, H, W)`` video or ``(B, 3, H, W)`` image, the model's ``input_size``.
            indices: stages to return: None = all, an int ``n`` = the last ``n``, or a sequence of stage
                indices (negative counts from the end).
            stop_early: skip the blocks after the last requested stage.
            intermediates_only: return only the maps.

        Returns:
            ``maps`` or ``(final_tokens (B, N, C), maps)``: maps in spatial order, channels first,
            ``(B, C_i, T_i, H_i, W_i)`` for video (``hiera_base_16x224``: ``(B, 96 * 2^i, 8, 56 / 2^i,
            56 / 2^i)``) and ``(B, C_i, H_i, W_i)`` for images; ``C_i`` and strides in ``feature_info``.
            With ``stop_early`` the tokens are those of the last block run.

        Raises:
            ValueError: bad ``indices`` or input shape.
        """
        wanted = self._stage_indices(indices)
        last_block = self.stage_ends[wanted[-1]] if stop_early else len(self.blocks) - 1
        take = {self.stage_ends[i] for i in wanted}
        x = self._check_input(x)
        x = self.unroll(self.patch_embed(x) + self.get_pos_embed())
        maps: List[torch.Tensor] = []
        for i, block in enumerate(self.blocks[: last_block + 1]):
            x = self.run_block(block, x)
            if i in take:
                # [B, *grid, C] -> [B, C, *grid]
                maps.append(self.reroll(x, i).movedim(-1, 1).contiguous())
        return maps if intermediates_only else (x, maps)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``x (B, C_in, *input_size)`` -> logits ``(B, num_classes)`` (no softmax, any mode).

        With ``mask`` (bool ``[B, num_mask_units]``, True = keep) returns the encoder tokens
        ``[B, N_kept, C_last]`` without pooling or head, as the official forward does.
        """
        if mask is not None:
            return self.forward_tokens(x, mask)[0]
        return self.forward_head(self.forward_features(x))

    def save_pretrained(self, folder: str) -> str:
        """Write ``config.json`` + ``model.safetensors`` to ``folder`` (``weights.save_pretrained``): the layout
        of the official Hub repositories, read by ``hiera.Hiera.from_pretrained`` and by
        ``create_model(name, checkpoint=folder)``. Returns ``folder``."""
        from .weights import save_pretrained

        return save_pretrained(self, folder)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(B, num_classes)``: softmax of the logits (= the official eval output)."""
        return self.forward(x).softmax(dim=-1)
