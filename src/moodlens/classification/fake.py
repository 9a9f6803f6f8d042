"""A classifier that returns fixed probabilities: for tests and documentation examples."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from moodlens.classification.metadata import ModelMetadata
from moodlens.classification.onnx import check_crops
from moodlens.labels import LABELS, NUM_CLASSES, Expression


class FakeClassifier:
    """Every crop gets ``probabilities`` (default: 0.7 on ``expression``, the rest spread)."""

    def __init__(
        self,
        probabilities: npt.ArrayLike | None = None,
        *,
        expression: Expression = Expression.HAPPY,
        metadata: ModelMetadata | None = None,
    ) -> None:
        if probabilities is None:
            probs = np.full(NUM_CLASSES, 0.05, dtype=np.float32)
            probs[int(expression)] = 0.7
        else:
            probs = np.asarray(probabilities, dtype=np.float32)
        if probs.shape != (NUM_CLASSES,) or abs(float(probs.sum()) - 1.0) > 1e-3:
            raise ValueError("probabilities must be 7 values summing to 1")
        self.probabilities = probs
        self.metadata = metadata or ModelMetadata(name="fake", labels=LABELS, input_size=(48, 48))
        self.calls = 0

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        n = check_crops(crops)
        self.calls += 1
        return np.tile(self.probabilities, (n, 1))
