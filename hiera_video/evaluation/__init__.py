"""Evaluation: top-k meters, multi-view ensembling (mean softmax), the test report, MAE reconstruction pictures,
AVA frame-mAP (``ava_map``) and the detection report (``detection_report``)."""

from .ava_map import FrameMAP, frame_map
from .detection_report import detections_csv, score_detections
from .meters import topk_accuracy, topk_correct
from .multiview import MultiViewEnsembler, ensemble_probs
from .reconstruction import draw_reconstruction_grid, mae_reconstruction, reconstruction_panels, unnormalize_patches
from .report import clips_for_k, write_test_report

__all__ = [
    "frame_map",
    "FrameMAP",
    "score_detections",
    "detections_csv",
    "topk_correct",
    "topk_accuracy",
    "MultiViewEnsembler",
    "ensemble_probs",
    "write_test_report",
    "clips_for_k",
    "unnormalize_patches",
    "reconstruction_panels",
    "mae_reconstruction",
    "draw_reconstruction_grid",
]
