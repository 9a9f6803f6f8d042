import numpy as np
import pytest

from moodlens.labels import Expression
from moodlens.pipeline.smoothing import ExpressionSmoother, SmoothingSettings

HAPPY = np.array([0.02, 0.02, 0.02, 0.8, 0.04, 0.05, 0.05])
SAD = np.array([0.02, 0.02, 0.02, 0.04, 0.8, 0.05, 0.05])


def test_first_observation_passes_through() -> None:
    smoother = ExpressionSmoother()
    probs, label = smoother.update(1, HAPPY, 0.0)
    assert np.allclose(probs, HAPPY)
    assert label is Expression.HAPPY


def test_smoothing_depends_on_time_not_frame_count() -> None:
    fast, slow = ExpressionSmoother(), ExpressionSmoother()
    fast.update(1, HAPPY, 0.0)
    slow.update(1, HAPPY, 0.0)
    for i in range(1, 11):  # 10 frames at 100 FPS
        p_fast, _ = fast.update(1, SAD, i * 10.0)
    p_slow, _ = slow.update(1, SAD, 100.0)  # 1 frame at 10 FPS, same elapsed time
    assert np.allclose(p_fast, p_slow, atol=1e-4)
    expected = 1 - np.exp(-100 / 300)
    assert p_slow[4] == pytest.approx(0.04 + expected * (0.8 - 0.04), abs=1e-4)


def test_a_single_outlier_frame_does_not_flip_the_label() -> None:
    smoother = ExpressionSmoother()
    labels = []
    for i in range(60):
        probs = SAD if i == 30 else HAPPY
        labels.append(smoother.update(1, probs, i * 33.3)[1])
    assert set(labels) == {Expression.HAPPY}


def test_hysteresis_switches_after_a_sustained_change() -> None:
    smoother = ExpressionSmoother(SmoothingSettings(time_constant_ms=200, hysteresis=0.1, min_hold_ms=250))
    labels = [smoother.update(1, HAPPY if i < 30 else SAD, i * 33.3)[1] for i in range(90)]
    first_sad = labels.index(Expression.SAD)
    assert 30 < first_sad < 50
    assert set(labels[first_sad:]) == {Expression.SAD}  # no flicker back


def test_close_probabilities_do_not_flicker() -> None:
    a = np.array([0.02, 0.02, 0.02, 0.46, 0.44, 0.02, 0.02])
    b = np.array([0.02, 0.02, 0.02, 0.44, 0.46, 0.02, 0.02])
    smoother = ExpressionSmoother(SmoothingSettings(time_constant_ms=0, persist_ms=10_000))
    labels = [smoother.update(1, a if i % 2 else b, i * 33.3)[1] for i in range(40)]
    assert len(set(labels)) == 1


def test_tracks_are_independent_and_forgettable() -> None:
    smoother = ExpressionSmoother()
    smoother.update(1, HAPPY, 0)
    smoother.update(2, SAD, 0)
    assert smoother.update(2, SAD, 33)[1] is Expression.SAD
    smoother.forget(1)
    assert smoother.keys() == [2]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="hysteresis"):
        SmoothingSettings(hysteresis=1.0)
