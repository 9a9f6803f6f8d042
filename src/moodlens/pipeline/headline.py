"""The one-line headline of a live view: whose apparent expression it is, and which it is.

**Whom it follows.** One person, not whichever face is largest in each frame: the largest
*confirmed* track becomes the headline's person, and the headline moves to another only when that
person has been gone for ``hold_ms`` or another has been clearly larger (``switch_ratio`` times the
area) for ``switch_ms``. It says which person it follows (their track id). While any confirmed
person is on screen it is never empty; between two people it keeps the last one for ``hold_ms``.

**What it says, and how it holds.** Each frame gives a *reading* of the followed person: the
smoothed, hysteresis-held label of ``pipeline.smoothing`` and its probability. The headline shows
``uncertain`` instead of the label when that probability is low, with hysteresis: it *becomes*
uncertain below ``uncertain_below`` (``labels.UNCERTAIN_BELOW``) and *leaves* uncertain only at
``uncertain_below + uncertain_margin`` or above. A reading that differs from what is shown (another
label, uncertain, or a label again) replaces it only once it has differed for ``dwell_ms`` without a
break; one frame that agrees with the shown state again starts the count over. So, for one person,
no state lasts less than ``dwell_ms``. A new person (a switch, or a newcomer after the last one
left) and a shot cut change the headline at once: that is news, not flicker.

``dwell_ms=0, uncertain_margin=0`` is the rule before 0.3 (the reading shown as it comes).
The defaults were chosen by measuring (``benchmarks/bench_headline.py``, docs/realtime.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moodlens.labels import UNCERTAIN, UNCERTAIN_BELOW, Expression
from moodlens.results import Face, FrameResult


@dataclass(frozen=True)
class HeadlineSettings:
    #: Keep following a person who is missing from the results for up to this long (ms).
    hold_ms: float = 1000.0
    #: Switch to another person once they have been ``switch_ratio`` times larger for this long (ms).
    switch_ms: float = 1500.0
    switch_ratio: float = 1.5
    #: A new reading of the followed person replaces the shown label (or ``uncertain``) only after
    #: it has differed from it for this long without a break (ms). Measured on the looping singer
    #: clip at 15 FPS (docs/realtime.md): one person's label changed 121 times a minute, its
    #: shortest state 0.07 s; 500 ms gives 11 a minute and 0.60 s, 1000 ms 12 and 1.07 s. 1000 ms
    #: keeps clear of the 0.5 s floor under a browser's jitter and is the page's read-out rate.
    dwell_ms: float = 1000.0
    #: The headline becomes ``uncertain`` when the shown label's probability is below this...
    uncertain_below: float = UNCERTAIN_BELOW
    #: ...and leaves ``uncertain`` only when it is at least ``uncertain_below + uncertain_margin``:
    #: a probability drifting around the threshold for longer than the dwell does not flip it back
    #: and forth. (On the singer clip it matters with short dwells: with 500 ms it takes one person's
    #: changes from 17 to 11 a minute; from 750 ms on it changes nothing there.)
    uncertain_margin: float = 0.05

    def __post_init__(self) -> None:
        problems = []
        if not self.hold_ms >= 0:
            problems.append(f"hold_ms must be >= 0 (got {self.hold_ms})")
        if not self.switch_ms >= 0:
            problems.append(f"switch_ms must be >= 0 (got {self.switch_ms})")
        if not self.switch_ratio >= 1:
            problems.append(f"switch_ratio must be >= 1 (got {self.switch_ratio})")
        if not self.dwell_ms >= 0:
            problems.append(f"dwell_ms must be >= 0 (got {self.dwell_ms})")
        if not 0 < self.uncertain_below < 1:
            problems.append(f"uncertain_below must lie in (0, 1) (got {self.uncertain_below})")
        if not 0 <= self.uncertain_margin <= 1 - self.uncertain_below:
            problems.append(
                f"uncertain_margin must lie in [0, 1 - uncertain_below] (got {self.uncertain_margin})"
            )
        if problems:
            raise ValueError("headline settings: " + "; ".join(problems))


@dataclass(frozen=True)
class Headline:
    track_id: int
    label: str  # an expression's label, or "uncertain"
    confidence: float
    uncertain: bool

    @property
    def text(self) -> str:
        """What a page shows: ``#3: happy`` (the label, or ``uncertain``)."""
        return f"#{self.track_id}: {self.label}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "uncertain": self.uncertain,
        }


#: What the headline says about its person: an expression, or None for uncertain.
_Said = Expression | None


class HeadlineTracker:
    """Feed every result in order; :meth:`update` returns the headline to show (or None)."""

    def __init__(self, settings: HeadlineSettings | None = None) -> None:
        self.settings = settings or HeadlineSettings()
        self._current: Headline | None = None
        self._said: _Said = None
        self._seen_ms = 0.0
        self._challenger: int | None = None
        self._challenger_since = 0.0
        #: Since when the readings have differed from what is shown, without a break (None: they agree).
        self._differs_since: float | None = None

    def update(self, result: FrameResult) -> Headline | None:
        now = result.timestamp_ms or 0.0
        people = {f.track_id: f for f in result.faces if f.track_id is not None}
        if result.cut:
            self._current, self._challenger = None, None
        current = self._current
        if current is not None and current.track_id in people:
            self._seen_ms = now
            face = people[current.track_id]
            largest = max(people.values(), key=lambda f: f.box.area)
            if largest.track_id != current.track_id and largest.box.area > self.settings.switch_ratio * (
                face.box.area
            ):
                if self._challenger != largest.track_id:
                    self._challenger, self._challenger_since = largest.track_id, now
                elif now - self._challenger_since >= self.settings.switch_ms:
                    self._challenger = None
                    return self._follow(largest)
            else:
                self._challenger = None
            return self._read(face, now)
        if current is not None and now - self._seen_ms <= self.settings.hold_ms and not people:
            return current
        if not people:
            self._current = None
            return None
        self._seen_ms, self._challenger = now, None
        return self._follow(max(people.values(), key=lambda f: f.box.area))

    def _follow(self, face: Face) -> Headline:
        """A new person: show their reading at once."""
        uncertain = face.shown_confidence < self.settings.uncertain_below
        self._said = None if uncertain else face.shown_expression
        self._differs_since = None
        self._current = self._headline(face)
        return self._current

    def _read(self, face: Face, now: float) -> Headline:
        """The same person: a reading that differs from what is shown must hold for the dwell."""
        settings = self.settings
        expression, probability = face.shown_expression, face.shown_confidence
        if self._said is None:  # uncertain: leave it only clearly above the threshold
            reading: _Said = (
                expression if probability >= settings.uncertain_below + settings.uncertain_margin else None
            )
        else:
            reading = None if probability < settings.uncertain_below else expression
        if reading == self._said:
            self._differs_since = None
        elif self._differs_since is None:
            self._differs_since = now
        if self._differs_since is not None and now - self._differs_since >= settings.dwell_ms:
            self._said, self._differs_since = reading, None
        self._current = self._headline(face)
        return self._current

    def _headline(self, face: Face) -> Headline:
        assert face.track_id is not None
        if self._said is None:
            return Headline(face.track_id, UNCERTAIN, face.shown_confidence, True)
        probability = float(face.shown_probabilities[int(self._said)])
        return Headline(face.track_id, self._said.label, probability, False)
