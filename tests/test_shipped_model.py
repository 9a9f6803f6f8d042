"""The shipped default model on FER2013's PrivateTest split: the accuracy users are promised."""

from __future__ import annotations

from pathlib import Path

import pytest

from moodlens.classification import default_classifier
from moodlens.data import load_dataset
from moodlens.evaluation import Evaluation, evaluate

pytestmark = [pytest.mark.data, pytest.mark.slow]

REQUIRED_ACCURACY = 0.70


@pytest.fixture(scope="module")
def privatetest(fer_path: Path) -> Evaluation:
    return evaluate(default_classifier(), load_dataset(fer_path), "PrivateTest")


def test_recorded_figures_are_the_measured_ones(privatetest: Evaluation) -> None:
    """The accuracy and macro-F1 in the model's metadata are what evaluation measures."""
    assert privatetest.metrics.count == 3589
    recorded = default_classifier().metadata.metrics["PrivateTest"]
    assert recorded["accuracy"] == pytest.approx(privatetest.metrics.accuracy, abs=0.002)
    assert recorded["macro_f1"] == pytest.approx(privatetest.metrics.macro_f1, abs=0.002)


def test_shipped_model_privatetest_accuracy(privatetest: Evaluation) -> None:
    accuracy = privatetest.metrics.accuracy
    assert accuracy >= REQUIRED_ACCURACY, f"PrivateTest accuracy {accuracy:.4f} < {REQUIRED_ACCURACY}"
