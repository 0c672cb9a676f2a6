"""hiera_video: Spatiotemporal Hiera for video action recognition.

Subpackages: ``config`` (defaults, loading), ``data`` (lists, decoders, sampling,
transforms, datasets), ``models`` (Hiera, registry, checkpoint loading), ``engine``
(train / test loops, tasks, checkpoints, distributed), ``evaluation`` (meters,
multi-view ensembling, reports).
"""

__version__ = "0.1.0"
