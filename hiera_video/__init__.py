"""hiera_video: Spatiotemporal Hiera for video action recognition.

Subpackages, top layer first (``docs/design.md``): ``engine`` (runner, tasks, train loop, multi-view evaluation,
checkpoints, distributed), ``prep`` (offline data preparation), ``data`` (lists, decoding, sampling, transforms,
datasets), ``models`` (Hiera, MAE, registry, weights), ``evaluation`` (meters, ensembling, reports, pictures),
``config`` and ``utils``.
"""

__version__ = "0.1.0"
