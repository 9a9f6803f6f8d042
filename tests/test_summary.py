"""One person's summary: near ties read as such, in every output (moodlens.summary)."""

from __future__ import annotations

import numpy as np
import pytest

from moodlens.labels import LABELS, Expression
from moodlens.summary import NEAR_TIE, ExpressionSummary, Tally, dominant_phrase


def summary(shown: dict[str, float], means: dict[str, float] | None = None) -> ExpressionSummary:
    """A person shown each label for ``shown[label]`` ms (probabilities: one-hot, or ``means``)."""
    tally = Tally(0.0, 0.0)
    for label, ms in shown.items():
        index = int(Expression.from_label(label))
        probs = np.eye(7)[index] if means is None else np.array([means.get(n, 0.0) for n in LABELS])
        tally.add(0.0, index, probs, ms)
    return ExpressionSummary.from_tally(4, tally)


PHRASES = [
    # (shares, what every output says)
    ({"happy": 1.0}, "happy"),
    ({"happy": 0.53, "fear": 0.28, "sad": 0.19}, "happy"),
    ({"happy": 0.33, "fear": 0.32, "neutral": 0.20, "sad": 0.15}, "happy and fear, about equal"),
    ({"fear": 0.33, "happy": 0.32, "neutral": 0.35}, "neutral, fear and happy, about equal"),
    ({"happy": 0.40, "fear": 0.35, "sad": 0.25}, "happy and fear, about equal"),  # exactly 5 points
    ({"happy": 0.41, "fear": 0.35, "sad": 0.24}, "happy"),  # 6 points
    ({"sad": 0.5, "happy": 0.5}, "happy and sad, about equal"),  # an exact tie: label order
]


@pytest.mark.parametrize(("shares", "said"), PHRASES)
def test_dominant_phrase(shares: dict[str, float], said: str) -> None:
    assert dominant_phrase(shares) == said


def test_the_margin_is_five_points() -> None:
    assert pytest.approx(0.05) == NEAR_TIE


def test_nothing_shown_has_no_dominant_phrase() -> None:
    with pytest.raises(ValueError, match="no expression"):
        dominant_phrase({})
    with pytest.raises(ValueError, match="no expression"):
        dominant_phrase(dict.fromkeys(LABELS, 0.0))


def test_an_exact_tie_goes_to_the_higher_mean_probability_as_dominant_does() -> None:
    means = {"sad": 0.6, "happy": 0.4}
    assert dominant_phrase({"sad": 0.5, "happy": 0.5}, means) == "sad and happy, about equal"
    person = summary({"happy": 500, "sad": 500}, means)
    assert person.dominant == "sad" and person.dominant_text == "sad and happy, about equal"


def test_a_near_tie_in_a_summary() -> None:
    person = summary({"happy": 3300, "fear": 3200, "neutral": 2000, "sad": 1500})
    assert person.dominant == "happy"  # unchanged: code that needs one label still gets it
    assert person.near_tie and person.runner_up == "fear"
    assert person.dominant_text == "happy and fear, about equal"
    assert person.describe() == (
        "track 4: 10.0 s on screen, apparent happy and fear, about equal (happy 33%, fear 32%, neutral 20%)"
    )
    out = person.to_dict()
    assert out["dominant"] == "happy" and out["dominant_text"] == "happy and fear, about equal"
    assert out["runner_up"] == "fear" and out["near_tie"] is True


def test_a_clear_lead_in_a_summary() -> None:
    person = summary({"happy": 5300, "fear": 2800, "sad": 1900})
    assert not person.near_tie and person.runner_up == "fear" and person.dominant_text == "happy"
    assert (
        person.describe() == "track 4: 10.0 s on screen, mostly apparent happy (happy 53%, fear 28%, sad 19%)"
    )
    out = person.to_dict()
    assert (out["dominant_text"], out["runner_up"], out["near_tie"]) == ("happy", "fear", False)


def test_one_expression_only_has_no_runner_up() -> None:
    person = summary({"neutral": 2000})
    assert person.runner_up is None and not person.near_tie and person.dominant_text == "neutral"
    assert person.describe() == "track 4: 2.0 s on screen, mostly apparent neutral (neutral 100%)"
    assert person.to_dict()["runner_up"] is None


# --- time on screen and time analysed ------------------------------------------------------------


def test_screen_time_counts_stretches_and_bridges_short_gaps() -> None:
    from moodlens.summary import SCREEN_GAP_MS, ScreenTime

    assert ScreenTime().total_ms == 0.0
    screen = ScreenTime()
    for t in range(0, 1000, 40):  # 1 s at 25 fps
        screen.add(float(t))
    assert screen.total_ms == pytest.approx(1000.0)
    screen.add(960.0 + SCREEN_GAP_MS - 1)  # a detector's miss: still on screen
    assert len(screen.stretches) == 1
    screen.add(10_000.0)  # gone for longer: a new stretch of one frame period
    assert len(screen.stretches) == 2
    assert screen.total_ms == pytest.approx(960.0 + SCREEN_GAP_MS - 1 + 40.0 + 40.0)


def test_screen_time_of_two_tracks_merges_what_touches() -> None:
    from moodlens.summary import ScreenTime

    a, b = ScreenTime(), ScreenTime()
    for t in range(0, 400, 40):
        a.add(float(t))
    for t in range(5000, 5400, 40):
        b.add(float(t))
    both = a.merge(b)
    assert len(both.stretches) == 2 and both.total_ms == pytest.approx(a.total_ms + b.total_ms)
    assert a.merge(a).total_ms == pytest.approx(a.total_ms)


def test_summary_says_time_on_screen_and_time_analysed() -> None:
    from moodlens.summary import ScreenTime, Tally

    tally = Tally(1000.0, 2000.0)
    tally.add(1000.0, 3, np.eye(7)[3], 1000.0)
    screen = ScreenTime([[0.0, 2000.0]], 40.0)
    summary = ExpressionSummary.from_tally(4, tally, screen)
    assert summary.on_screen_ms == pytest.approx(2040.0)
    assert "2.0 s on screen (1.0 s analysed)" in summary.describe()
    data = summary.to_dict()
    assert data["on_screen_ms"] == pytest.approx(2040.0) and data["analysed_ms"] == pytest.approx(1000.0)
    # Without sightings (the history, a timeline) both are the analysed time.
    plain = ExpressionSummary.from_tally(4, tally)
    assert plain.on_screen_ms is None and plain.screen_ms == pytest.approx(1000.0)
    assert "analysed" not in plain.describe()
