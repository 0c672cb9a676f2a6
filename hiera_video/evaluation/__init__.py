"""Evaluation: top-k meters, multi-view ensembling (mean softmax), the test report."""

from .meters import AccuracyMeter, AverageMeter, topk_accuracy, topk_correct
from .multiview import MultiViewEnsembler, ensemble_probs
from .report import clips_for_k, write_test_report

__all__ = [
    "topk_correct",
    "topk_accuracy",
    "AverageMeter",
    "AccuracyMeter",
    "MultiViewEnsembler",
    "ensemble_probs",
    "write_test_report",
    "clips_for_k",
]
