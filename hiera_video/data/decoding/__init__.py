"""Video decoding behind one interface: PyAV, decord, torchcodec, and JPEG frame lists.

- :mod:`.base`: the ``VideoReader`` ABC, ``VideoDecodeError`` / ``BackendUnavailableError``, ``DecodedClips``,
  the helpers backends share (``check_indices``, ``local_path``, ``seek_unsafe``, ``short_error``);
- one module per backend: :mod:`.pyav` (+ :mod:`.pyav_index`), :mod:`.decord`, :mod:`.torchcodec` (optional,
  imported on first use), :mod:`.jpeg` (frame lists);
- :mod:`.clips`: ``open_video``, ``check_backend`` and ``decode_clips`` (several clips of a video in one pass).
"""

from .base import BACKENDS, BackendUnavailableError, DecodedClips, IndicesFn, VideoDecodeError, VideoReader
from .clips import check_backend, decode_clips, open_video
from .jpeg import FrameReader, decode_frame_clips, read_image

__all__ = ["BACKENDS", "BackendUnavailableError", "DecodedClips", "IndicesFn", "VideoDecodeError", "VideoReader",
           "check_backend", "decode_clips", "open_video", "FrameReader", "decode_frame_clips", "read_image"]
