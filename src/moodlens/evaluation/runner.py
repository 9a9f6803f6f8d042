"""Evaluate a classifier on a labelled split of face images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moodlens.classification.base import EmotionClassifier
from moodlens.data import FaceDataset
from moodlens.evaluation.metrics import Metrics, compute_metrics


@dataclass(frozen=True)
class Evaluation:
    """Metrics plus everything a report needs: per-example probabilities and provenance."""

    metrics: Metrics
    probabilities: npt.NDArray[np.float32]
    data: FaceDataset
    split: str
    model: str
    tta: bool
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def predictions(self) -> npt.NDArray[np.int64]:
        return np.asarray(self.probabilities.argmax(axis=1), dtype=np.int64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "model": self.model,
            "data": self.data.source,
            "data_sha256": self.data.sha256,
            "tta": self.tta,
            **self.metrics.to_dict(),
            **self.extra,
        }


def predict_split(
    classifier: EmotionClassifier, images: npt.NDArray[np.uint8], *, tta: bool = False, batch: int = 512
) -> npt.NDArray[np.float32]:
    """Probabilities for uint8 (N, H, W) faces; ``tta`` averages with the mirrored faces."""
    out = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        probs = classifier.predict(chunk)
        if tta:
            mirrored = classifier.predict(np.ascontiguousarray(chunk[:, :, ::-1]))
            probs = np.asarray((probs + mirrored) / 2, dtype=np.float32)
        out.append(probs)
    if not out:
        return np.zeros((0, 7), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


def evaluate(
    classifier: EmotionClassifier, data: FaceDataset, split: str, *, model: str = "", tta: bool = False
) -> Evaluation:
    """Metrics and calibration on one split. With a calibrated model (temperature in its
    metadata), the ECE without the temperature is reported beside the calibrated one."""
    from moodlens.evaluation.calibration import reliability, tempered

    part = data.split(split)
    probs = predict_split(classifier, part.images, tta=tta)
    metrics = compute_metrics(part.labels, probs.argmax(axis=1))
    temperature = float(getattr(classifier.metadata, "temperature", 1.0))
    extra: dict[str, Any] = {
        "labels_from": "FERPlus majority" if part.votes is not None else "FER2013",
        "temperature": temperature,
        "calibration": reliability(probs, part.labels).to_dict(),
    }
    if temperature != 1.0:
        extra["calibration_without_temperature"] = reliability(
            tempered(probs, 1.0 / temperature), part.labels
        ).to_dict()
    return Evaluation(metrics, probs, part, split, model or classifier.metadata.name, tta, extra)
