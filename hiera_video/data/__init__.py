"""Data at run time: lists, decoding, temporal sampling, transforms, datasets and their registry.

Public API (see each module's docstring):

- :mod:`.lists`: ``VideoRecord``, ``ListFormatError``, ``read_video_list``; :mod:`.frame_list`: ``FrameRecord``,
  ``read_frame_list`` (PySlowFast frame lists of JPEG frames, ``DATA.INPUT_FORMAT "frames"``).
- :mod:`.decoding`: ``open_video``, ``decode_clips``, ``VideoReader``, ``VideoDecodeError`` (PyAV, decord,
  torchcodec, JPEG frames: one module per backend).
- :mod:`.sampling`: ``clip_span``, ``random_clip_start``, ``test_clip_start``, ``clip_indices``,
  ``train_clip_indices``, ``test_clip_indices``.
- :mod:`.transforms`: ``train_transform``, ``test_views`` (+ ``resize_short_side``, ``spatial_crops``,
  ``normalize_clip``).
- :mod:`.build`: ``register_dataset``, ``build_dataset``; :mod:`.kinetics`: ``Kinetics``, ``collate_train``;
  :mod:`.ssv2`: ``SSv2``;
  :mod:`.ava`: ``Ava`` (AVA action detection: annotation readers, keyframes, box-aware transforms),
  ``collate_detection``.
- :mod:`.bad_videos`: ``check_bad_fraction``, ``TooManyBadVideosError`` (the bad-video policy).

Offline preparation (lists from annotations, validation, resizing, frame extraction, synthetic data) lives in
:mod:`hiera_video.prep`; importing this package does not import it (nor any video encoder).
"""

from .bad_videos import TooManyBadVideosError, check_bad_fraction
from .build import DATASETS, build_dataset, register_dataset
from .decoding import BackendUnavailableError, DecodedClips, VideoDecodeError, VideoReader, check_backend, decode_clips, open_video
from .frame_list import FrameRecord, read_frame_list
from .kinetics import Kinetics, collate_train
from .lists import ListFormatError, VideoRecord, read_video_list
from .sampling import clip_indices, clip_span, random_clip_start, test_clip_indices, test_clip_start, train_clip_indices
from .ssv2 import SSv2
from .ava import Ava, collate_detection
from .transforms import test_views, train_transform

__all__ = [
    "VideoRecord",
    "ListFormatError",
    "read_video_list",
    "VideoDecodeError",
    "BackendUnavailableError",
    "check_backend",
    "VideoReader",
    "DecodedClips",
    "open_video",
    "decode_clips",
    "FrameRecord",
    "read_frame_list",
    "clip_span",
    "random_clip_start",
    "test_clip_start",
    "clip_indices",
    "train_clip_indices",
    "test_clip_indices",
    "train_transform",
    "test_views",
    "DATASETS",
    "register_dataset",
    "build_dataset",
    "Kinetics",
    "SSv2",
    "Ava",
    "collate_detection",
    "collate_train",
    "TooManyBadVideosError",
    "check_bad_fraction",
]
