"""AVA action detection data: annotation files (:mod:`.annotations`), keyframes (:mod:`.keyframes`), box-aware
transforms (:mod:`.box_transforms`) and the ``Ava`` dataset (:mod:`.dataset`, registered as ``"ava"``)."""

from .annotations import (BOX_KINDS, BoxTable, LabelMap, check_box_row, keyframe_key, read_box_csv, read_exclusions,
                          read_label_map)
from .box_transforms import fit_clip, jitter_clip
from .dataset import Ava, clip_frame_indices, collate_detection
from .keyframes import Keyframe, clip_boxes, test_keyframes, train_keyframes

__all__ = ["BOX_KINDS", "BoxTable", "LabelMap", "check_box_row", "keyframe_key", "read_box_csv", "read_exclusions",
           "read_label_map", "fit_clip", "jitter_clip", "Ava", "collate_detection", "clip_frame_indices", "Keyframe",
           "clip_boxes", "test_keyframes", "train_keyframes"]
