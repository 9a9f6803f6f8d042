"""Classification metrics over the 7 expressions (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from moodlens.labels import LABELS, NUM_CLASSES


@dataclass(frozen=True)
class ClassMetrics:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Accuracy, macro-F1, per-class figures and the confusion matrix (rows: truth)."""

    accuracy: float
    macro_f1: float
    per_class: tuple[ClassMetrics, ...]
    confusion: npt.NDArray[np.int64]
    count: int

    @property
    def balanced_accuracy(self) -> float:
        """Mean recall over the classes present in the truth: each expression counts the same,
        however rare (FERPlus has 18 disgust faces in PrivateTest and 1,090 neutral ones)."""
        recalls = [c.recall for c in self.per_class if c.support > 0]
        return float(np.mean(recalls)) if recalls else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "balanced_accuracy": self.balanced_accuracy,
            "macro_f1": self.macro_f1,
            "count": self.count,
            "per_class": {
                c.label: {
                    "precision": c.precision,
                    "recall": c.recall,
                    "f1": c.f1,
                    "support": c.support,
                }
                for c in self.per_class
            },
            "confusion_matrix": self.confusion.tolist(),
            "labels": list(LABELS),
        }


def confusion_matrix(truth: npt.ArrayLike, predicted: npt.ArrayLike) -> npt.NDArray[np.int64]:
    t = np.asarray(truth, dtype=np.int64)
    p = np.asarray(predicted, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"truth has shape {t.shape}, predictions {p.shape}")
    matrix = np.bincount(t * NUM_CLASSES + p, minlength=NUM_CLASSES * NUM_CLASSES)
    return matrix.reshape(NUM_CLASSES, NUM_CLASSES).astype(np.int64)


def compute_metrics(truth: npt.ArrayLike, predicted: npt.ArrayLike) -> Metrics:
    """Metrics of hard predictions; classes absent from both truth and predictions score 0."""
    matrix = confusion_matrix(truth, predicted)
    count = int(matrix.sum())
    tp = np.diag(matrix).astype(np.float64)
    predicted_per_class = matrix.sum(axis=0).astype(np.float64)
    support = matrix.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_per_class > 0, tp / predicted_per_class, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    per_class = tuple(
        ClassMetrics(LABELS[i], float(precision[i]), float(recall[i]), float(f1[i]), int(support[i]))
        for i in range(NUM_CLASSES)
    )
    return Metrics(
        accuracy=float(tp.sum() / count) if count else 0.0,
        macro_f1=float(f1.mean()),
        per_class=per_class,
        confusion=matrix,
        count=count,
    )
