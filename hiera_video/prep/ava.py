"""AVA v2.2 data preparation in PySlowFast's layout: the functions behind ``data_prep/ava.py``.

* :func:`write_ava_frame_lists` (``lists``): frame folders -> PySlowFast frame lists ``{train,val}.csv`` for the
  movies of the ground truth (:mod:`.ava_lists`);
* :func:`check_ava` (``check``): every problem of a dataset (missing movies / frames, clips that need missing frames,
  malformed rows, bad boxes, unknown action ids, low-score proposals, keyframes without proposals or outside the
  frames), one CSV per kind and ``summary.json`` (:mod:`.ava_check`);
* :func:`convert_proposals` (``convert-proposals``): MMAction2 proposal pickles -> PySlowFast proposal CSVs, read
  without running code (:mod:`.ava_proposals`);
* :func:`prepare_own_videos` (``own-videos``): own videos + a ``video,second,x1,y1,x2,y2,action`` CSV -> a complete
  AVA-format dataset and the config overrides to train on it (:mod:`.ava_own`).

Frames are ``{vid}/{vid}_{k:06d}.jpg`` numbered from 1 (:mod:`.extract_frames`); the keyframe of second ``s`` is
0-based frame ``(s - AVA.FRAME_START_SEC) * DATA.FRAME_FPS`` (900 and 30 for AVA). Frame extraction matters: the FFmpeg
build used for AVA's frames changed published mAP by about 3 points (SlowFast issue #112), so extract train and test
frames the same way.
"""

from hiera_video.prep.ava_check import AVA_NOT_EVALUATED_IDS, KINDS, CheckReport, check_ava, clip_indices
from hiera_video.prep.ava_lists import (EXCLUSION_FILE, FRAME_LIST_FILE, GT_FILE, LABEL_MAP_FILE, PROPOSALS_FILE,
                                        SPLITS, MovieFrames, SplitFrames, scan_movie_frames, write_ava_frame_lists)
from hiera_video.prep.ava_own import (ANNOTATION_HEADER, OwnResult, OwnRow, prepare_own_videos, read_own_annotations,
                                      split_videos)
from hiera_video.prep.ava_proposals import ConvertResult, SafeUnpickler, convert_proposals, load_proposal_pickle

__all__ = ["SPLITS", "GT_FILE", "PROPOSALS_FILE", "EXCLUSION_FILE", "LABEL_MAP_FILE", "FRAME_LIST_FILE",
           "MovieFrames", "SplitFrames", "scan_movie_frames", "write_ava_frame_lists",
           "KINDS", "AVA_NOT_EVALUATED_IDS", "CheckReport", "check_ava", "clip_indices",
           "SafeUnpickler", "ConvertResult", "load_proposal_pickle", "convert_proposals",
           "ANNOTATION_HEADER", "OwnRow", "OwnResult", "read_own_annotations", "split_videos", "prepare_own_videos"]
