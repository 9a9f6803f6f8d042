"""The one-line headline of a live view: whose apparent expression it is, and which it is.

It follows one person, not whichever face is largest in each frame: the largest *confirmed* track
becomes the headline's person, and the headline moves to another only when that person has been
gone for ``hold_ms`` or another has been clearly larger (``switch_ratio`` times the area) for
``switch_ms``. It says which person it follows (their track id). While any confirmed person is on
screen it is never empty; between two people it keeps the last one for ``hold_ms``. A label held
with less than ``labels.UNCERTAIN_BELOW`` reads ``uncertain``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from moodlens.results import Face, FrameResult


@dataclass(frozen=True)
class HeadlineSettings:
    hold_ms: float = 1000.0
    switch_ms: float = 1500.0
    switch_ratio: float = 1.5

    def __post_init__(self) -> None:
        if self.hold_ms < 0 or self.switch_ms < 0 or self.switch_ratio < 1:
            raise ValueError("hold_ms and switch_ms must be >= 0 and switch_ratio >= 1")


@dataclass(frozen=True)
class Headline:
    track_id: int
    label: str  # an expression's label, or "uncertain"
    confidence: float
    uncertain: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "uncertain": self.uncertain,
        }


class HeadlineTracker:
    """Feed every result in order; :meth:`update` returns the headline to show (or None)."""

    def __init__(self, settings: HeadlineSettings | None = None) -> None:
        self.settings = settings or HeadlineSettings()
        self._current: Headline | None = None
        self._seen_ms = 0.0
        self._challenger: int | None = None
        self._challenger_since = 0.0

    def update(self, result: FrameResult) -> Headline | None:
        now = result.timestamp_ms or 0.0
        people = {f.track_id: f for f in result.faces if f.track_id is not None}
        if result.cut:
            self._current, self._challenger = None, None
        current = self._current
        if current is not None and current.track_id in people:
            self._seen_ms = now
            self._current = self._from(people[current.track_id])
            largest = max(people.values(), key=lambda f: f.box.area)
            if largest.track_id != current.track_id and largest.box.area > self.settings.switch_ratio * (
                people[current.track_id].box.area
            ):
                if self._challenger != largest.track_id:
                    self._challenger, self._challenger_since = largest.track_id, now
                elif now - self._challenger_since >= self.settings.switch_ms:
                    self._current, self._challenger = self._from(largest), None
            else:
                self._challenger = None
            return self._current
        if current is not None and now - self._seen_ms <= self.settings.hold_ms and not people:
            return current
        if not people:
            self._current = None
            return None
        largest = max(people.values(), key=lambda f: f.box.area)
        self._current, self._seen_ms, self._challenger = self._from(largest), now, None
        return self._current

    @staticmethod
    def _from(face: Face) -> Headline:
        assert face.track_id is not None
        return Headline(face.track_id, face.shown_label, face.shown_confidence, face.uncertain)
