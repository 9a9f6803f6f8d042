"""Evaluation of expression classifiers: metrics, reports and figures (numpy + OpenCV only)."""

from moodlens.evaluation.metrics import ClassMetrics, Metrics, compute_metrics, confusion_matrix
from moodlens.evaluation.report import write_report
from moodlens.evaluation.runner import Evaluation, evaluate, predict_split

__all__ = [
    "ClassMetrics",
    "Evaluation",
    "Metrics",
    "compute_metrics",
    "confusion_matrix",
    "evaluate",
    "predict_split",
    "write_report",
]
