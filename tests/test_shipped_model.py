"""The shipped default model on FER2013's PrivateTest split: the accuracy users are promised."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodlens.classification import default_classifier
from moodlens.data import load_dataset
from moodlens.evaluation import evaluate

pytestmark = [pytest.mark.data, pytest.mark.slow]

REQUIRED_ACCURACY = 0.70


def test_shipped_model_privatetest_accuracy(fer_path: Path) -> None:
    classifier = default_classifier()
    result = evaluate(classifier, load_dataset(fer_path), "PrivateTest")
    metrics = result.metrics
    assert metrics.count == 3589
    assert metrics.accuracy >= REQUIRED_ACCURACY, (
        f"PrivateTest accuracy {metrics.accuracy:.4f} < {REQUIRED_ACCURACY}"
    )
    # The figures recorded in the model's metadata are the ones measured here.
    recorded = classifier.metadata.metrics.get("PrivateTest", {})
    if "accuracy" in recorded:
        assert recorded["accuracy"] == pytest.approx(metrics.accuracy, abs=0.002)
