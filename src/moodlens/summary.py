"""One definition of a person's apparent expression over time, used everywhere.

The video summary, the timeline, the history store, the CLI, the API and the dashboard all count
the same way, so they cannot disagree:

- every observation of a tracked face (one frame) holds the label *shown* at that moment (the
  smoothed label with hysteresis) and its smoothed probabilities;
- it lasts, in **media time**, until the next observation of the same person, unless that gap is
  longer than ``MAX_GAP_MS`` (the face was not on screen): then it lasts one typical frame period
  (the person's last gap under ``MAX_GAP_MS``; ``DEFAULT_PERIOD_MS`` before any);
- a person's **time on screen** is the sum of those durations; the **share** of an expression is
  the time it was shown over the time on screen; the **dominant** expression is the one shown
  longest (ties go to the higher mean probability); the **mean probabilities** are time-weighted;
  the **valence index** is that of the mean probabilities.

Processing time never enters: a 9.2 s clip yields at most 9.2 s per person however long it took.

That is the person's **time analysed**. Their **time on screen** (:class:`ScreenTime`, from a
stream) is longer: it runs from every sighting of the face, also before the tracker confirmed it
as a person, to the next, across gaps of up to ``SCREEN_GAP_MS`` (a missed detection, a turned
head), plus one frame period after the last sighting of each stretch. Summaries read from the
history or a timeline have only the analysed time; there, both are the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moodlens.labels import LABELS, NUM_CLASSES, Expression

MAX_GAP_MS = 500.0
DEFAULT_PERIOD_MS = 1000.0 / 30
#: Sightings of a face closer than this are one stretch on screen: a detector misses a turned or
#: blurred face for a few frames, and people do not leave and come back within a second.
SCREEN_GAP_MS = 1000.0

#: Two shares of time within this of each other (5 percentage points) are "about equal": saying
#: which is larger would claim more than the measurement holds. The same video analysed with two
#: equally valid settings (detection every frame, or every 2nd) gives shares that differ by up to
#: a few points (``benchmarks/bench_headline.py --shares``, docs/realtime.md), and a shown label lags
#: a change of expression by a few hundred ms (smoothing and hysteresis), which is several points of
#: a few seconds on screen. 33% happy against 32% fear is a tie, not "mostly happy".
NEAR_TIE = 0.05

#: The valence index: +1 for happy, -1 for angry, disgust, fear and sad, 0 for surprise and neutral,
#: weighted by the probabilities; it lies in [-1, 1]. It is an index of *apparent* expressions,
#: not a measurement of how anyone feels.
VALENCE_WEIGHTS: dict[str, float] = {
    "angry": -1.0,
    "disgust": -1.0,
    "fear": -1.0,
    "happy": 1.0,
    "sad": -1.0,
    "surprise": 0.0,
    "neutral": 0.0,
}


def valence_index(probabilities: dict[str, float] | Sequence[float] | npt.NDArray[np.float64]) -> float:
    """The valence index of one probability vector (a dict by label or values in label order)."""
    values = [probabilities[n] for n in LABELS] if isinstance(probabilities, dict) else list(probabilities)
    return float(sum(VALENCE_WEIGHTS[n] * float(p) for n, p in zip(LABELS, values, strict=True)))


def ranked(shares: Mapping[str, float], mean_probabilities: Mapping[str, float] | None = None) -> list[str]:
    """The labels by share of time, largest first; ties go to the higher mean probability, then to
    the label order (as for ``ExpressionSummary.dominant``). Missing labels count 0."""
    means = mean_probabilities or {}
    return sorted(LABELS, key=lambda n: (-round(shares.get(n, 0.0), 9), -means.get(n, 0.0), LABELS.index(n)))


def dominant_phrase(
    shares: Mapping[str, float], mean_probabilities: Mapping[str, float] | None = None
) -> str:
    """How every output names a person's dominant expression: ``happy``, or, when other shares of
    time lie within ``NEAR_TIE`` of the largest, all of them, largest first: ``happy and fear, about
    equal`` (``happy, fear and sad, about equal`` for three). ``shares`` maps labels to shares of
    time (missing labels count 0); ties in share go to the higher mean probability, as for
    ``ExpressionSummary.dominant``. A ValueError when no share is above 0: there is nothing to name."""
    if not any(v > 0 for v in shares.values()):
        raise ValueError("no expression has a share of time above 0: there is no dominant one")
    return _phrase(ranked(shares, mean_probabilities), shares)


def _tied(order: Sequence[str], shares: Mapping[str, float]) -> list[str]:
    """The first label and every other whose share lies within ``NEAR_TIE`` of it (above 0)."""
    top = shares.get(order[0], 0.0)
    return [
        order[0],
        *(n for n in order[1:] if shares.get(n, 0.0) > 0 and top - shares[n] <= NEAR_TIE + 1e-9),
    ]


def _phrase(order: Sequence[str], shares: Mapping[str, float]) -> str:
    names = _tied(order, shares)
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}, about equal"


@dataclass
class Tally:
    """Time shown per expression and time-weighted probability sums over some span."""

    first_ms: float
    last_ms: float
    frames: int = 0
    shown_ms: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(NUM_CLASSES))
    weighted: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(NUM_CLASSES))

    def add(self, timestamp_ms: float, label: int, probabilities: npt.ArrayLike, duration_ms: float) -> None:
        self.first_ms = min(self.first_ms, timestamp_ms)
        self.last_ms = max(self.last_ms, timestamp_ms)
        self.frames += 1
        self.shown_ms[label] += duration_ms
        self.weighted += duration_ms * np.asarray(probabilities, dtype=np.float64)

    def merge(self, other: Tally) -> None:
        self.first_ms = min(self.first_ms, other.first_ms)
        self.last_ms = max(self.last_ms, other.last_ms)
        self.frames += other.frames
        self.shown_ms += other.shown_ms
        self.weighted += other.weighted

    @property
    def duration_ms(self) -> float:
        return float(self.shown_ms.sum())

    def mean_probabilities(self) -> npt.NDArray[np.float64]:
        total = self.duration_ms
        if total <= 0:
            return np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
        return self.weighted / total


class PersonTimeline:
    """Folds one person's observations in, in order, by the module's rule.

    An observation's duration is known only at the next one (or at :meth:`close`), so it is
    *pending* until then; ``on_resolved(timestamp, label, probabilities, duration)`` is called
    for each observation once its duration is known (the history writer buckets them by time).
    """

    def __init__(self) -> None:
        self.tally: Tally | None = None
        self._pending: tuple[float, int, npt.NDArray[np.float64]] | None = None
        self._period = DEFAULT_PERIOD_MS

    def add(
        self, timestamp_ms: float, label: int, probabilities: npt.ArrayLike
    ) -> tuple[float, int, Any, float] | None:
        """Fold an observation in; returns the previous one with its duration, if resolved now."""
        resolved = None
        if self._pending is not None:
            gap = timestamp_ms - self._pending[0]
            if 0 < gap <= MAX_GAP_MS:
                self._period = gap
                resolved = self._resolve(gap)
            else:
                resolved = self._resolve(self._period)
        self._pending = (timestamp_ms, int(label), np.asarray(probabilities, dtype=np.float64))
        return resolved

    def close(self) -> tuple[float, int, Any, float] | None:
        """Resolve the last observation (it lasts one typical period)."""
        return self._resolve(self._period) if self._pending is not None else None

    def snapshot(self) -> Tally | None:
        """The tally so far, the pending observation included (as :meth:`close` would count it),
        without changing this timeline."""
        if self._pending is None:
            return None if self.tally is None else _copy(self.tally)
        timestamp, label, probs = self._pending
        out = Tally(timestamp, timestamp) if self.tally is None else _copy(self.tally)
        out.add(timestamp, label, probs, self._period)
        return out

    @property
    def pending_ms(self) -> float | None:
        """The timestamp of the observation still waiting for its duration, if any."""
        return None if self._pending is None else self._pending[0]

    def stale(self, now_ms: float) -> bool:
        """True when the pending observation can no longer be continued (gap over MAX_GAP_MS)."""
        return self._pending is not None and now_ms - self._pending[0] > MAX_GAP_MS

    def _resolve(self, duration: float) -> tuple[float, int, Any, float]:
        assert self._pending is not None
        timestamp, label, probs = self._pending
        self._pending = None
        if self.tally is None:
            self.tally = Tally(timestamp, timestamp)
        self.tally.add(timestamp, label, probs, duration)
        return timestamp, label, probs, duration


@dataclass
class ScreenTime:
    """Time on screen from sightings: stretches of sightings less than ``SCREEN_GAP_MS`` apart,
    each lasting from its first sighting to one frame period after its last."""

    stretches: list[list[float]] = field(default_factory=list)
    period_ms: float = DEFAULT_PERIOD_MS

    def add(self, timestamp_ms: float) -> None:
        if self.stretches:
            gap = timestamp_ms - self.stretches[-1][1]
            if 0 < gap <= MAX_GAP_MS:
                self.period_ms = gap  # a typical frame period, as PersonTimeline keeps it
            if 0 <= gap <= SCREEN_GAP_MS:
                self.stretches[-1][1] = timestamp_ms
                return
        self.stretches.append([timestamp_ms, timestamp_ms])

    def merge(self, other: ScreenTime) -> ScreenTime:
        """Both together (one person's tracks): stretches that touch become one."""
        merged: list[list[float]] = []
        for start, end in sorted([*self.stretches, *other.stretches]):
            if merged and start - merged[-1][1] <= SCREEN_GAP_MS:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        return ScreenTime(merged, min(self.period_ms, other.period_ms))

    @property
    def total_ms(self) -> float:
        return float(sum(end - start + self.period_ms for start, end in self.stretches))


def _copy(tally: Tally) -> Tally:
    return Tally(tally.first_ms, tally.last_ms, tally.frames, tally.shown_ms.copy(), tally.weighted.copy())


@dataclass(frozen=True)
class ExpressionSummary:
    """How one person looked over a run or a session (see the module's rule)."""

    track_id: int
    first_ms: float
    last_ms: float
    frames: int
    duration_ms: float
    shown_ms: dict[str, float]
    mean_probabilities: dict[str, float]
    #: Time on screen (see the module's rule); None where only the analysed time is known.
    on_screen_ms: float | None = None

    @classmethod
    def from_tally(cls, track_id: int, tally: Tally, screen: ScreenTime | None = None) -> ExpressionSummary:
        means = tally.mean_probabilities()
        return cls(
            on_screen_ms=None if screen is None else max(screen.total_ms, tally.duration_ms),
            track_id=track_id,
            first_ms=tally.first_ms,
            last_ms=tally.last_ms,
            frames=tally.frames,
            duration_ms=tally.duration_ms,
            shown_ms={name: float(v) for name, v in zip(LABELS, tally.shown_ms, strict=True)},
            mean_probabilities={name: float(v) for name, v in zip(LABELS, means, strict=True)},
        )

    @property
    def shares(self) -> dict[str, float]:
        total = self.duration_ms
        return {k: (v / total if total > 0 else 0.0) for k, v in self.shown_ms.items()}

    @property
    def dominant(self) -> str:
        return max(LABELS, key=lambda n: (round(self.shown_ms[n], 6), self.mean_probabilities[n]))

    def _order(self) -> list[str]:
        """The labels by share of time, ``dominant`` first."""
        dominant = self.dominant
        return [dominant, *(n for n in ranked(self.shares, self.mean_probabilities) if n != dominant)]

    def _second(self) -> str:
        return self._order()[1]

    @property
    def runner_up(self) -> str | None:
        """The expression shown second longest (None when only one was ever shown)."""
        second = self._second()
        return second if self.shown_ms[second] > 0 else None

    @property
    def near_tie(self) -> bool:
        """The runner-up's share lies within ``NEAR_TIE`` of the dominant's: no expression dominates."""
        return len(_tied(self._order(), self.shares)) > 1

    @property
    def dominant_text(self) -> str:
        """What to say: ``happy``, or ``happy and fear, about equal`` (:func:`dominant_phrase`'s
        rule; the first named is always ``dominant``)."""
        return _phrase(self._order(), self.shares)

    @property
    def dominant_expression(self) -> Expression:
        return Expression.from_label(self.dominant)

    @property
    def valence(self) -> float:
        return valence_index(self.mean_probabilities)

    def describe(self) -> str:
        """``track 4: 6.5 s on screen, mostly apparent happy (happy 53%, fear 28%)``, or, when the
        two largest shares are within ``NEAR_TIE``: ``track 4: 6.5 s on screen, apparent happy and
        fear, about equal (happy 33%, fear 32%, neutral 20%)``."""
        shares = self.shares
        figures = ", ".join(f"{n} {shares[n]:.0%}" for n in self._order()[:3] if shares[n] >= 0.005)
        said = f"apparent {self.dominant_text}" if self.near_tie else f"mostly apparent {self.dominant}"
        on_screen = self.screen_ms
        seen = f"{on_screen / 1000:.1f} s on screen"
        if round(on_screen / 100) != round(self.duration_ms / 100):
            seen += f" ({self.duration_ms / 1000:.1f} s analysed)"
        return f"track {self.track_id}: {seen}, {said} ({figures})"

    @property
    def screen_ms(self) -> float:
        """Time on screen; the analysed time where nothing else is known."""
        return self.duration_ms if self.on_screen_ms is None else self.on_screen_ms

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "first_ms": round(self.first_ms, 1),
            "last_ms": round(self.last_ms, 1),
            "frames": self.frames,
            "duration_ms": round(self.duration_ms, 1),
            "analysed_ms": round(self.duration_ms, 1),
            "on_screen_ms": round(self.screen_ms, 1),
            "dominant": self.dominant,
            "dominant_text": self.dominant_text,
            "runner_up": self.runner_up,
            "near_tie": self.near_tie,
            "valence": round(self.valence, 4),
            "shares": {k: round(v, 4) for k, v in self.shares.items()},
            "mean_probabilities": {k: round(v, 4) for k, v in self.mean_probabilities.items()},
        }


def summarise(track_id: int, tallies: Iterable[Tally], screen: ScreenTime | None = None) -> ExpressionSummary:
    """One person's summary from the tallies of their intervals (the history store's rows, or a
    person's tracks), with their time on screen where it is known."""
    total: Tally | None = None
    for tally in tallies:
        if total is None:
            total = Tally(tally.first_ms, tally.last_ms)
        total.merge(tally)
    if total is None:
        raise ValueError(f"track {track_id}: nothing recorded")
    return ExpressionSummary.from_tally(track_id, total, screen)


def summaries_from_rows(rows: Iterable[dict[str, Any]]) -> list[ExpressionSummary]:
    """Per-person summaries from timeline rows (``moodlens video --timeline``: ``track_id``,
    ``timestamp_ms``, ``stable_label`` and the smoothed ``s_<label>`` columns), by the same rule;
    rows without a track id (faces not yet confirmed as a person) do not count."""
    people: dict[int, PersonTimeline] = {}
    for row in rows:
        track = row.get("track_id")
        if track in (None, ""):
            continue
        probabilities = [float(row[f"s_{name}"]) for name in LABELS]
        label = Expression.from_label(str(row["stable_label"]))
        people.setdefault(int(track), PersonTimeline()).add(
            float(row["timestamp_ms"]), int(label), probabilities
        )
    out = []
    for track_id, person in sorted(people.items()):
        person.close()
        if person.tally is not None:
            out.append(ExpressionSummary.from_tally(track_id, person.tally))
    return out
