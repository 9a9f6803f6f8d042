"""A session's grouping of tracks into people, in memory (moodlens.store.people's rules): read
whole from ``session_tracks`` and ``session_people``, changed, and written back whole in the same
transaction. A session has tens to hundreds of tracks, so this is cheap and keeps every rule in one
place: a person's number is always its lowest track."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from moodlens.store.base import _now
from moodlens.store.schema import IntervalRow, SessionPersonRow, SessionTrackRow

__all__ = ["Grouping", "Name", "copy", "load", "save"]


@dataclass
class Name:
    nickname: str
    consent_at: datetime | None


@dataclass
class Grouping:
    """How a session's tracks group into people: read whole, changed in memory, written back whole
    (a session has tens to hundreds of tracks). Every operation keeps a person's number its lowest
    track."""

    #: Every known track -> the number of its person.
    person: dict[int, int] = field(default_factory=dict)
    hidden: set[int] = field(default_factory=set)
    source: dict[int, str] = field(default_factory=dict)
    names: dict[int, Name] = field(default_factory=dict)
    created: dict[int, datetime] = field(default_factory=dict)
    updated: dict[int, datetime] = field(default_factory=dict)

    def members(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for track, number in sorted(self.person.items()):
            out.setdefault(number, []).append(track)
        return out

    def _renumber(self, old: int, new: int) -> None:
        if old == new:
            return
        for track, number in self.person.items():
            if number == old:
                self.person[track] = new
        self._move(old, new)

    def _move(self, old: int, new: int) -> None:
        """A person's nickname and times, from number ``old`` to ``new``."""
        if old in self.names:
            self.names[new] = self.names.pop(old)
        if old in self.created:
            self.created[new] = self.created.pop(old)
        if old in self.updated:
            self.updated[new] = self.updated.pop(old)

    def normalise(self) -> None:
        """Each person numbered by its lowest track (repairs rows written otherwise)."""
        for number, tracks in self.members().items():
            self._renumber(number, tracks[0])

    def join(self, tracks: Iterable[int], source: str) -> int:
        """One person of the people of ``tracks``; returns its number."""
        numbers = sorted({self.person[t] for t in tracks})
        members = sorted(t for t, n in self.person.items() if n in numbers)
        new = members[0]
        name = next((self.names[n] for n in numbers if n in self.names), None)
        created = min((self.created[n] for n in numbers if n in self.created), default=None)
        for n in numbers:
            for record in (self.names, self.created, self.updated):
                record.pop(n, None)
        if name is not None:
            self.names[new] = name
        if created is not None:
            self.created[new] = created
        for track in members:
            self.person[track] = new
            self.source[track] = source
        return new

    def detach(self, track: int, source: str) -> None:
        """``track`` its own person; the rest of its person keeps the nickname."""
        number = self.person[track]
        rest = sorted(t for t, n in self.person.items() if n == number and t != track)
        if not rest:
            return
        self.person[track] = track
        self.source[track] = source
        if number == track:
            for t in rest:
                self.person[t] = rest[0]
            self._move(track, rest[0])

    def source_of(self, tracks: Sequence[int]) -> str:
        """``user`` if a person grouped any of the tracks, else ``linked`` if linking did, else ``auto``."""
        found = {self.source.get(t, "auto") for t in tracks}
        return "user" if "user" in found else "linked" if "linked" in found else "auto"


def load(s: Session, session_id: int) -> Grouping:
    g = Grouping()
    recorded = s.scalars(select(IntervalRow.track_id).where(IntervalRow.session_id == session_id).distinct())
    for track in recorded:
        g.person[int(track)] = int(track)
    for row in s.scalars(select(SessionTrackRow).where(SessionTrackRow.session_id == session_id)):
        g.person[row.track_id] = row.track_id if row.person is None else row.person
        if row.hidden:
            g.hidden.add(row.track_id)
        g.source[row.track_id] = row.source
    for p in s.scalars(select(SessionPersonRow).where(SessionPersonRow.session_id == session_id)):
        if p.nickname:
            g.names[p.number] = Name(p.nickname, p.consent_at)
        g.created[p.number] = p.created_at
        g.updated[p.number] = p.updated_at
    # A person row whose tracks are gone (never, unless written by hand) would stand for no one.
    for record in (g.names, g.created, g.updated):
        for number in [n for n in record if n not in g.person]:
            del record[number]
    g.normalise()
    return g


def save(s: Session, session_id: int, before: Grouping, after: Grouping) -> None:
    """Write ``after`` in place of the session's rows: a person row for each person of several
    tracks or with a nickname, a track row for each track that is grouped, hidden or was moved."""
    now = _now()
    old, new = before.members(), after.members()
    people = []
    for number, tracks in new.items():
        name = after.names.get(number)
        if len(tracks) < 2 and name is None:
            continue
        unchanged = old.get(number) == tracks and before.names.get(number) == name
        people.append(
            {
                "session_id": session_id,
                "number": number,
                "nickname": None if name is None else name.nickname,
                "consent_given": name is not None,
                "consent_at": None if name is None else name.consent_at,
                "created_at": after.created.get(number, now),
                "updated_at": after.updated.get(number, now) if unchanged else now,
            }
        )
    tracks_rows = []
    for track, number in sorted(after.person.items()):
        grouped = len(new[number]) > 1
        source = after.source.get(track, "auto")
        if grouped or track in after.hidden or source != "auto":
            tracks_rows.append(
                {
                    "session_id": session_id,
                    "track_id": track,
                    "person": number if grouped else None,
                    "hidden": track in after.hidden,
                    "source": source,
                }
            )
    s.execute(delete(SessionTrackRow).where(SessionTrackRow.session_id == session_id))
    s.execute(delete(SessionPersonRow).where(SessionPersonRow.session_id == session_id))
    if people:
        s.execute(insert(SessionPersonRow), people)
    if tracks_rows:
        s.execute(insert(SessionTrackRow), tracks_rows)


def copy(g: Grouping) -> Grouping:
    return Grouping(
        dict(g.person), set(g.hidden), dict(g.source), dict(g.names), dict(g.created), dict(g.updated)
    )
