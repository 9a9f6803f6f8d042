import numpy as np
import pytest

from moodlens.evaluation.metrics import compute_metrics, confusion_matrix


def test_empty_input() -> None:
    m = compute_metrics([], [])
    assert m.count == 0
    assert m.accuracy == 0.0
    assert m.confusion.sum() == 0


def test_perfect_predictions() -> None:
    truth = np.arange(7).repeat(3)
    m = compute_metrics(truth, truth)
    assert m.accuracy == 1.0
    assert m.macro_f1 == 1.0
    assert all(c.support == 3 for c in m.per_class)


def test_known_confusion() -> None:
    truth = [0, 0, 1, 1, 3, 3]
    pred = [0, 1, 1, 1, 3, 0]
    m = compute_metrics(truth, pred)
    assert m.accuracy == pytest.approx(4 / 6)
    assert m.confusion[0].tolist()[:2] == [1, 1]
    angry = m.per_class[0]
    assert angry.precision == pytest.approx(0.5)
    assert angry.recall == pytest.approx(0.5)
    disgust = m.per_class[1]
    assert disgust.precision == pytest.approx(2 / 3)
    assert disgust.recall == 1.0
    # Absent classes score 0 and pull macro-F1 down, as in scikit-learn's zero_division=0.
    assert m.per_class[2].f1 == 0.0
    assert set(m.to_dict()["per_class"]) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    }


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix([0, 1], [0])
