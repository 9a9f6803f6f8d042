"""The live headline: whom it follows, and how its label and "uncertain" hold (dwell, hysteresis)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from moodlens.labels import UNCERTAIN_BELOW, Expression
from moodlens.pipeline.headline import HeadlineSettings, HeadlineTracker
from moodlens.results import Box, Detection, Face, FrameResult

STEP = 1000 / 15  # the live page's rate
DWELL = HeadlineSettings().dwell_ms


def face(track: int | None, label: str, p: float, size: float = 100) -> Face:
    """A tracked face whose shown label is ``label``, held with probability ``p``."""
    expression = Expression.from_label(label)
    probs = np.full(7, (1 - p) / 6, dtype=np.float32)
    probs[int(expression)] = p
    x = 20 + 200 * (track or 0)
    return Face(
        Detection(Box(x, 20, x + size, 20 + size), 0.9), probs, track, smoothed=probs, stable=expression
    )


def run(
    frames: Sequence[tuple[float, Sequence[Face]] | tuple[float, Sequence[Face], bool]], **settings: float
) -> list[str | None]:
    """What the headline says after each frame: ``#id: label`` or None."""
    tracker = HeadlineTracker(HeadlineSettings(**settings))
    said = []
    for t, faces, *cut in frames:
        headline = tracker.update(
            FrameResult(tuple(faces), 640, 480, timestamp_ms=t, cut=bool(cut and cut[0]))
        )
        said.append(None if headline is None else headline.text)
    return said


def frames(start: float, seconds: float, *faces_of: object) -> list[tuple[float, list[Face]]]:
    """Frames at 15 FPS from ``start`` ms; ``faces_of(i)`` gives frame i's faces (or a fixed list)."""
    out = []
    for i in range(round(seconds * 1000 / STEP)):
        faces = [f(i) if callable(f) else f for f in faces_of]
        out.append((start + i * STEP, [f for f in faces if f is not None]))
    return out


def changes(said: list[str | None]) -> int:
    return sum(a != b for a, b in itertools.pairwise(said))


# --- the empty case -------------------------------------------------------------------------------


def test_nothing_to_say_without_people() -> None:
    assert run([]) == []
    assert run(frames(0, 2)) == [None] * 30
    # A face not yet confirmed as a person (no track id) is not followed.
    assert set(run(frames(0, 1, face(None, "happy", 0.9)))) == {None}


# --- dwell and hysteresis, one person ----------------------------------------------------------


def flicker(a: tuple[str, float], b: tuple[str, float]) -> object:
    return lambda i: face(1, *(a if i % 2 else b))


def alternate_every(n: int, a: tuple[str, float], b: tuple[str, float]) -> object:
    return lambda i: face(1, *(a if (i // n) % 2 else b))


STEADY = [
    # (case, the readings after 1 s of "happy 0.6", what is shown throughout)
    ("uncertain flicker, frame by frame", flicker(("happy", 0.38), ("happy", 0.42)), "#1: happy"),
    (
        "a 0.5 s dip below the threshold, twice",
        alternate_every(8, ("happy", 0.3), ("happy", 0.6)),
        "#1: happy",
    ),
    ("another label, one frame in two", flicker(("sad", 0.6), ("happy", 0.6)), "#1: happy"),
    ("another label for 0.9 s at a time", alternate_every(13, ("sad", 0.7), ("happy", 0.6)), "#1: happy"),
]


@pytest.mark.parametrize(("case", "reading", "shown"), STEADY, ids=[c[0] for c in STEADY])
def test_changes_that_do_not_hold_do_not_show(case: str, reading: object, shown: str) -> None:
    said = run(frames(0, 1, face(1, "happy", 0.6)) + frames(1000, 4, reading))
    assert set(said) == {shown}, case


def test_uncertain_is_left_only_clearly_above_the_threshold() -> None:
    margin = HeadlineSettings().uncertain_margin
    assert margin > 0
    start = frames(0, 1, face(1, "happy", 0.3))  # uncertain from the first frame
    inside = frames(1000, 3, face(1, "happy", UNCERTAIN_BELOW + margin / 2))  # above 40%, inside the margin
    above = frames(4000, 2, face(1, "happy", UNCERTAIN_BELOW + margin + 0.01))
    said = run(start + inside + above)
    assert set(said[: len(start) + len(inside)]) == {"#1: uncertain"}
    assert said[-1] == "#1: happy"
    # ...and without the margin, the same readings leave uncertain after the dwell.
    assert run(start + inside, uncertain_margin=0)[-1] == "#1: happy"


HELD = [
    # (case, reading held from 1 s on, what shows once it has held)
    ("falls below the threshold", ("happy", 0.3), "#1: uncertain"),
    ("another label", ("sad", 0.7), "#1: sad"),
    ("another label, held weakly", ("sad", 0.35), "#1: uncertain"),
]


@pytest.mark.parametrize(("case", "reading", "shown"), HELD, ids=[c[0] for c in HELD])
def test_a_change_that_holds_shows_after_the_dwell(case: str, reading: tuple[str, float], shown: str) -> None:
    before = frames(0, 1, face(1, "happy", 0.6))
    after = frames(1000, 2, face(1, *reading))
    said = run(before + after)
    first = next(i for i, s in enumerate(said) if s != "#1: happy")
    assert said[first] == shown, case
    waited = (before + after)[first][0] - after[0][0]
    assert DWELL - 1e-6 <= waited < DWELL + STEP, case
    assert set(said[first:]) == {shown}


def test_a_reading_that_keeps_changing_but_never_agrees_still_shows() -> None:
    """Sad and uncertain in turn: neither holds alone, but "happy" is wrong all along."""
    said = run(frames(0, 1, face(1, "happy", 0.6)) + frames(1000, 3, flicker(("sad", 0.7), ("sad", 0.3))))
    assert said[-1] in {"#1: sad", "#1: uncertain"}


@pytest.mark.parametrize("seed", range(5))
def test_no_state_of_one_person_is_shorter_than_the_dwell(seed: int) -> None:
    rng = np.random.default_rng(seed)
    labels = ["happy", "sad", "neutral"]
    readings: list[Face] = []
    while len(readings) < 900:  # runs of 1 to 30 frames of one reading
        reading = face(1, labels[rng.integers(3)], float(rng.uniform(0.3, 0.6)))
        readings += [reading] * int(rng.integers(1, 31))
    said = run([(i * STEP, [f]) for i, f in enumerate(readings)])
    starts = [i for i in range(1, len(said)) if said[i] != said[i - 1]]
    durations = [(b - a) * STEP for a, b in itertools.pairwise(starts)]
    assert durations and all(d >= DWELL - 1e-6 for d in durations)
    # The previous rule (no dwell, no margin) changes far more often on the same readings.
    previous = run([(i * STEP, [f]) for i, f in enumerate(readings)], dwell_ms=0, uncertain_margin=0)
    assert changes(previous) > 1.5 * changes(said)


# --- a new person, a cut: at once ----------------------------------------------------------------


def test_a_new_person_shows_at_once() -> None:
    one = frames(0, 1, face(1, "happy", 0.6))
    gone = frames(1000, 1.5)  # person 1 left: kept for hold_ms, then nobody
    two = frames(2500, 1, face(2, "sad", 0.3))
    said = run(one + gone + two)
    assert said[len(one) + len(gone) - 1] is None
    assert said[len(one) + len(gone)] == "#2: uncertain"  # the first frame they are seen


def test_a_cut_changes_the_headline_at_once() -> None:
    before = frames(0, 1, face(1, "happy", 0.6))
    cut_frame = (1000.0, [], True)  # the new shot's faces are not yet confirmed
    after = frames(1000 + STEP, 1, face(2, "neutral", 0.8))
    said = run([*before, cut_frame, *after])
    assert said[len(before)] is None
    assert said[len(before) + 1] == "#2: neutral"
    # A cut straight onto a confirmed person (a re-detected id) also shows them at once.
    said = run([*before, (1000.0, [face(3, "sad", 0.9)], True)])
    assert said[-1] == "#3: sad"


def test_a_switch_to_a_larger_person_shows_their_reading_at_once() -> None:
    small, large = face(1, "happy", 0.6, size=40), face(2, "surprise", 0.8, size=120)
    said = run(frames(0, 1, small) + frames(1000, 2, small, large))
    assert said[0] == "#1: happy"
    switched = said.index("#2: surprise")
    assert (switched - 15) * STEP >= HeadlineSettings().switch_ms  # the switch rule, not the dwell
    assert said[switched - 1] == "#1: happy"


def test_the_headline_reports_the_shown_labels_probability() -> None:
    tracker = HeadlineTracker()
    for i in range(20):
        tracker.update(FrameResult((face(1, "happy", 0.6),), 640, 480, timestamp_ms=i * STEP))
    held = tracker.update(FrameResult((face(1, "sad", 0.7),), 640, 480, timestamp_ms=20 * STEP))
    assert held is not None and held.label == "happy" and not held.uncertain
    assert held.confidence == pytest.approx(0.3 / 6)  # happy's probability now, not sad's
    assert held.to_dict() == {"track_id": 1, "label": "happy", "confidence": 0.05, "uncertain": False}


def test_no_dwell_and_no_margin_is_the_previous_rule() -> None:
    """The reading as it comes: each face's ``shown_label``."""
    rng = np.random.default_rng(0)
    readings = [face(1, ["happy", "sad"][rng.integers(2)], float(rng.uniform(0.3, 0.5))) for _ in range(300)]
    said = run([(i * STEP, [f]) for i, f in enumerate(readings)], dwell_ms=0, uncertain_margin=0)
    assert said == [f"#1: {f.shown_label}" for f in readings]


# --- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"dwell_ms": -1}, "dwell_ms"),
        ({"dwell_ms": float("nan")}, "dwell_ms"),
        ({"hold_ms": -1}, "hold_ms"),
        ({"switch_ratio": 0.5}, "switch_ratio"),
        ({"uncertain_below": 0}, "uncertain_below"),
        ({"uncertain_margin": -0.01}, "uncertain_margin"),
        ({"uncertain_below": 0.9, "uncertain_margin": 0.2}, "uncertain_margin"),
    ],
)
def test_bad_settings_are_refused_by_name(bad: dict[str, float], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        HeadlineSettings(**bad)


def test_the_page_reads_the_headline_out_on_the_servers_dwell() -> None:
    """live.js announces a headline once it has held for the dwell, never more often."""
    page = Path(__file__).resolve().parents[1] / "src" / "moodlens" / "service" / "static" / "live.js"
    found = re.search(r"const ANNOUNCE_HOLD_MS = (\d+);", page.read_text())
    assert found and float(found.group(1)) == DWELL
