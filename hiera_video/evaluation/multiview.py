"""Multi-view testing: collect per-view logits per video and ensemble them.

Each test video is seen as ``V = temporal_clips x spatial_crops`` views. The
ensemble prediction of a video is the mean over its views of the softmax of each
view's logits (PySlowFast averages the views' outputs; we average probabilities).

Under ``torch.distributed`` each process tests a disjoint strided shard of the videos
(``range(rank, num_videos, world_size)``, no padding) and collects the views it computed
into its own :class:`MultiViewEnsembler`; :meth:`MultiViewEnsembler.all_reduce` then sums
the per-view logit sums and counts over all processes. A view added twice is averaged,
never doubled.
"""

from __future__ import annotations

from typing import Optional

import torch

from hiera_video.utils.distributed import all_reduce_sum

__all__ = ["MultiViewEnsembler", "ensemble_probs"]


def ensemble_probs(view_logits: torch.Tensor, use: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Mean softmax over the selected views of each video.

    Args:
        view_logits: ``(N_videos, V, K)`` logits.
        use: bool mask of the views to ensemble, ``(N_videos, V)`` or ``(V,)``
            (broadcast over videos); ``None`` uses every view.

    Returns:
        ``(N_videos, K)`` float32 probabilities (rows sum to 1). Videos with no
        selected view get a row of ``nan``.

    Raises:
        ValueError: on bad shapes.
    """
    if view_logits.dim() != 3:
        raise ValueError(f"view_logits must be (N_videos, V, K), got {tuple(view_logits.shape)}")
    n, v, _ = view_logits.shape
    if use is None:
        use = torch.ones(v, dtype=torch.bool, device=view_logits.device)
    use = use.to(device=view_logits.device, dtype=torch.bool)
    if use.shape == (v,):  # the same views for every video: softmax of those views only
        if not use.any():
            return torch.full((n, view_logits.shape[2]), float("nan"), device=view_logits.device)
        return view_logits[:, use].float().softmax(dim=-1).mean(dim=1)
    if use.shape != (n, v):
        raise ValueError(f"view mask must be (N_videos, V)=({n}, {v}) or (V,), got {tuple(use.shape)}")
    probs = view_logits.float().softmax(dim=-1)  # (N, V, K)
    weight = use.float().unsqueeze(-1)  # (N, V, 1)
    count = weight.sum(dim=1)  # (N, 1)
    summed = (probs * weight).sum(dim=1)  # (N, K)
    out = summed / count.clamp(min=1)
    out[count.squeeze(1) == 0] = float("nan")
    return out


class MultiViewEnsembler:
    """Per-view logits of every test video, filled in batch by batch.

    Storage: ``logit_sum (num_videos, V, K)`` float32 and ``count (num_videos, V)``
    int64 (how many times each view was added). Memory is ``4 * num_videos * V * K``
    bytes (Kinetics-400 val, 20k videos x 15 views: about 0.5 GB).

    Args:
        num_videos: number of test videos (``N_videos``), indexed ``0..N_videos-1``.
        num_views: views per video (``V``), indexed ``0..V-1``.
        num_classes: ``K``.

    Raises:
        ValueError: if a size is < 1.
    """

    def __init__(self, num_videos: int, num_views: int, num_classes: int) -> None:
        if num_videos < 1 or num_views < 1 or num_classes < 1:
            raise ValueError(
                f"sizes must be >= 1, got num_videos={num_videos}, "
                f"num_views={num_views}, num_classes={num_classes}"
            )
        self.num_videos = int(num_videos)
        self.num_views = int(num_views)
        self.num_classes = int(num_classes)
        self.logit_sum = torch.zeros(self.num_videos, self.num_views, self.num_classes)
        self.count = torch.zeros(self.num_videos, self.num_views, dtype=torch.long)

    # ------------------------------------------------------------------ filling
    def add(self, video_idx: torch.Tensor, view_idx: torch.Tensor, logits: torch.Tensor) -> None:
        """Store the logits of ``N`` views.

        Args:
            video_idx: ``(N,)`` integer video indices in ``[0, num_videos)``.
            view_idx: ``(N,)`` integer view indices in ``[0, num_views)``.
            logits: ``(N, K)`` logits (any device and float dtype; stored as float32 on CPU).

        A (video, view) pair added more than once is averaged.

        Raises:
            ValueError: on shape mismatch, non-integer or out-of-range indices.
        """
        video_idx = torch.as_tensor(video_idx).detach().cpu().reshape(-1)
        view_idx = torch.as_tensor(view_idx).detach().cpu().reshape(-1)
        if logits.dim() != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(
                f"logits must be (N, K={self.num_classes}), got {tuple(logits.shape)}"
            )
        n = logits.shape[0]
        if video_idx.numel() != n or view_idx.numel() != n:
            raise ValueError(
                f"video_idx and view_idx must be (N,)=({n},), got "
                f"{tuple(video_idx.shape)} and {tuple(view_idx.shape)}"
            )
        for name, idx, size in (("video_idx", video_idx, self.num_videos),
                                ("view_idx", view_idx, self.num_views)):
            if idx.dtype.is_floating_point or idx.dtype == torch.bool:
                raise ValueError(f"{name} must be an integer tensor, got {idx.dtype}")
            if n and (int(idx.min()) < 0 or int(idx.max()) >= size):
                raise ValueError(
                    f"{name} must lie in [0, {size - 1}], got range "
                    f"[{int(idx.min())}, {int(idx.max())}]"
                )
        if n == 0:
            return
        video_idx, view_idx = video_idx.long(), view_idx.long()
        flat = video_idx * self.num_views + view_idx  # (N,)
        self.logit_sum.view(-1, self.num_classes).index_add_(
            0, flat, logits.detach().float().cpu()
        )
        self.count.view(-1).index_add_(0, flat, torch.ones_like(flat))

    def merge_(self, other: "MultiViewEnsembler") -> "MultiViewEnsembler":
        """Add another ensembler's views into this one (in place); returns ``self``.

        Raises:
            ValueError: if the sizes differ.
        """
        if (other.num_videos, other.num_views, other.num_classes) != (
            self.num_videos, self.num_views, self.num_classes
        ):
            raise ValueError(
                "cannot merge ensemblers of different sizes: "
                f"{(self.num_videos, self.num_views, self.num_classes)} vs "
                f"{(other.num_videos, other.num_views, other.num_classes)}"
            )
        self.logit_sum += other.logit_sum
        self.count += other.count
        return self

    def all_reduce(self, group=None) -> None:
        """Sum logit sums and counts over all processes (no-op when not distributed).

        Every process must call it. The tensors travel through the backend's device
        (``utils.distributed.all_reduce_sum``: the current CUDA device under NCCL); the result stays on the CPU.
        """
        all_reduce_sum(self.logit_sum, group)
        all_reduce_sum(self.count, group)

    # ------------------------------------------------------------------ reading
    @property
    def filled(self) -> torch.Tensor:
        """``(num_videos, V)`` bool: the view has been added at least once."""
        return self.count > 0

    @property
    def view_logits(self) -> torch.Tensor:
        """``(num_videos, V, K)`` float32 mean logits per view; zeros where not filled."""
        return self.logit_sum / self.count.clamp(min=1).unsqueeze(-1).float()

    def complete(self) -> torch.Tensor:
        """``(num_videos,)`` bool: every view of the video has been added."""
        return self.filled.all(dim=1)

    def video_probs(self, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Ensemble prediction: mean softmax over each video's filled views.

        Args:
            mask: optional bool ``(num_videos, V)`` or ``(V,)`` restricting the
                views used (e.g. only some temporal clips); combined with ``filled``.

        Returns:
            ``(num_videos, K)`` float32 probabilities; ``nan`` rows for videos with no
            usable view.

        Raises:
            ValueError: if ``mask`` has the wrong shape.
        """
        use = self.filled
        if mask is not None:
            mask = torch.as_tensor(mask, dtype=torch.bool)
            if mask.shape == (self.num_views,):
                mask = mask.view(1, -1)
            elif mask.shape != (self.num_videos, self.num_views):
                raise ValueError(
                    f"mask must be (num_videos, V)=({self.num_videos}, {self.num_views}) "
                    f"or (V,), got {tuple(mask.shape)}"
                )
            use = use & mask
        return ensemble_probs(self.view_logits, use)
