"""Evaluation: top-k meters, multi-view ensembling (mean softmax), the test report, stored per-view logits
(``view_logits``) and reports rebuilt or compared from them (``stored_reports``, ``confusion``), MAE reconstruction
pictures, AVA frame-mAP (``ava_map``) and the detection report (``detection_report``)."""

from .ava_map import FrameMAP, frame_map
from .detection_report import detections_csv, score_detections
from .meters import topk_accuracy, topk_correct
from .multiview import MultiViewEnsembler, ensemble_probs
from .reconstruction import draw_reconstruction_grid, mae_reconstruction, reconstruction_panels, unnormalize_patches
from .report import clips_for_k, write_test_report
from .stored_reports import compare_runs, rebuild_report, views_table
from .view_logits import StoredViewLogits, load_view_logits, save_view_logits

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
    "StoredViewLogits",
    "load_view_logits",
    "save_view_logits",
    "rebuild_report",
    "views_table",
    "compare_runs",
]
