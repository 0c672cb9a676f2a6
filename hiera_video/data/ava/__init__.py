"""AVA action detection data: annotation files (:mod:`.annotations`)."""

from .annotations import BOX_KINDS, BoxTable, LabelMap, keyframe_key, read_box_csv, read_exclusions, read_label_map

__all__ = ["BOX_KINDS", "BoxTable", "LabelMap", "keyframe_key", "read_box_csv", "read_exclusions", "read_label_map"]
