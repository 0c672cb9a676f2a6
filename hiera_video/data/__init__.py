"""Data: video lists, decoding (PyAV / decord), temporal sampling, transforms, datasets.

Public API (see each module's docstring):

- :mod:`.lists`: ``VideoRecord``, ``ListFormatError``, ``read_video_list``.
- :mod:`.decoders`: ``VideoDecodeError``, ``VideoReader``, ``open_video``, ``decode_clips``, ``DecodedClips``.
- :mod:`.frame_list`: ``FrameRecord``, ``read_frame_list``, ``FrameReader``, ``decode_frame_clips`` (JPEG frames
  from PySlowFast frame lists, ``DATA.INPUT_FORMAT "frames"``).
- :mod:`.sampling`: ``clip_span``, ``random_clip_start``, ``test_clip_start``, ``clip_indices``,
  ``train_clip_indices``, ``test_clip_indices``.
- :mod:`.transforms`: ``train_transform``, ``test_views`` (+ ``resize_short_side``, ``spatial_crops``,
  ``normalize_clip``).
- :mod:`.kinetics`: ``Kinetics``, ``collate_train``.
- :mod:`.synthetic`: ``make_motion_dataset``, ``write_video``.
"""

from .decoders import BackendUnavailableError, DecodedClips, VideoDecodeError, VideoReader, check_backend, decode_clips, open_video
from .frame_list import FrameReader, FrameRecord, decode_frame_clips, read_frame_list
from .kinetics import Kinetics, collate_train
from .lists import ListFormatError, VideoRecord, read_video_list
from .sampling import clip_indices, clip_span, random_clip_start, test_clip_indices, test_clip_start, train_clip_indices
from .synthetic import make_motion_dataset, write_video
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
    "FrameReader",
    "decode_frame_clips",
    "clip_span",
    "random_clip_start",
    "test_clip_start",
    "clip_indices",
    "train_clip_indices",
    "test_clip_indices",
    "train_transform",
    "test_views",
    "Kinetics",
    "collate_train",
    "make_motion_dataset",
    "write_video",
]
