"""The people of a session: which of its tracks are one person, which tracks are hidden, and a
person's nickname (stored only with consent).

A tracker starts a new track whenever it loses a face (a shot cut, a turn of the head, a looping
clip), so one singer can be tracks 3, 9 and 15. The store keeps how tracks group into people,
without touching what was recorded:

- a person's **number** is its lowest track id, hidden tracks included; a track with no grouping
  is its own person, of its own number (so every session reads as one person per track until
  someone merges, and older databases read as they did);
- :meth:`PeopleMixin.merge_tracks` joins the people of the tracks named (idempotent); the person
  is renumbered to its lowest track and keeps the nickname of the lowest-numbered person that had
  one; :meth:`~PeopleMixin.split_track` undoes it for one track, which becomes its own person again
  (without a nickname: the nickname stays with the rest);
- a hidden track (:meth:`~PeopleMixin.hide_track`: a poster, a reflection) stays in its person but
  is left out of the people counts, lanes, summaries and exports unless they are asked to include
  it; a person whose tracks are all hidden is not counted;
- :meth:`~PeopleMixin.link_people` is what a pipeline's automatic linking calls at the end of a
  run; it never undoes what a user did to a track.

What is stored is numbers (track ids, person numbers, a hidden flag, who grouped them) and, only
when the user confirms the person agreed, a nickname: never a face, crop or embedding (STYLE.md,
point 18).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from moodlens.labels import NUM_CLASSES
from moodlens.store import grouping
from moodlens.store.base import _now
from moodlens.store.database import NotFoundError, StoreError
from moodlens.store.grouping import Grouping, Name
from moodlens.store.schema import (
    PROBABILITY_COLUMNS,
    SHOWN_COLUMNS,
    IntervalRow,
    SessionRow,
)
from moodlens.store.sessions import SessionsMixin
from moodlens.summary import ExpressionSummary, Tally

__all__ = ["MAX_NICKNAME", "PERSON_SOURCES", "PeopleMixin", "Person", "PersonSource", "check_nickname"]

#: Who grouped a track: ``auto`` as recorded (the tracker's own), ``linked`` by a pipeline's
#: automatic linking, ``user`` by a person (merge, split).
PersonSource = Literal["auto", "linked", "user"]
PERSON_SOURCES: tuple[str, ...] = ("auto", "linked", "user")
MAX_NICKNAME = 64
#: How many tracks or people a not-found message lists (a crowd may have hundreds).
_LISTED = 12

_CONSENT_NEEDED = (
    "a nickname is stored in the history database with the session: confirm that the person agreed "
    "to it (consent=True; --consent on the command line; the page's checkbox), or leave them 'Person N'"
)


def check_nickname(nickname: str) -> str:
    """The nickname in Unicode NFC form without surrounding spaces, or a ValueError saying what a
    nickname may be (1-64 characters, no control characters or line breaks)."""
    if not isinstance(nickname, str):
        raise ValueError(f"a nickname is text, got {nickname!r}")
    normal = unicodedata.normalize("NFC", nickname).strip()
    if not 1 <= len(normal) <= MAX_NICKNAME or any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in normal
    ):
        raise ValueError(
            f"bad nickname {nickname!r}: 1-{MAX_NICKNAME} characters, "
            "without control characters or line breaks"
        )
    return normal


@dataclass(frozen=True)
class Person:
    """One person of a session: their tracks, their nickname if they agreed to one, and how they
    looked over the session (the one rule of :mod:`moodlens.summary` over their tracks' intervals).

    ``summary`` covers the visible tracks (all of them when hidden tracks were asked for); it is
    None when every track of the person is hidden and they were not."""

    number: int
    #: The tracks that count (visible ones; all of them when hidden tracks were asked for).
    track_ids: tuple[int, ...]
    hidden_track_ids: tuple[int, ...] = ()
    nickname: str | None = None
    #: Who grouped its tracks: ``user`` if a person did, else ``linked`` if automatic linking
    #: did, else ``auto`` (as recorded).
    source: str = "auto"
    summary: ExpressionSummary | None = None

    def __post_init__(self) -> None:
        every = set(self.track_ids) | set(self.hidden_track_ids)
        if not every or self.number != min(every):
            raise ValueError(
                f"a person is numbered by its lowest track: {self.number} for tracks {sorted(every)}"
            )
        if self.source not in PERSON_SOURCES:
            raise ValueError(f"unknown source {self.source!r}: expected one of {', '.join(PERSON_SOURCES)}")

    @property
    def label(self) -> str:
        """The nickname, else ``Person N``."""
        return self.nickname or f"Person {self.number}"

    @property
    def hidden(self) -> bool:
        """Every track of the person is hidden."""
        return not set(self.track_ids) - set(self.hidden_track_ids)

    @property
    def all_track_ids(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.track_ids) | set(self.hidden_track_ids)))

    @property
    def track_id(self) -> int:
        """The person's number, under the name of the time when a person was one track (code
        that reads ``people()`` per track keeps working while nothing is merged)."""
        return self.number

    # The summary's figures, for the callers that read a person as they read a track's summary.

    @property
    def first_ms(self) -> float | None:
        return None if self.summary is None else self.summary.first_ms

    @property
    def last_ms(self) -> float | None:
        return None if self.summary is None else self.summary.last_ms

    @property
    def frames(self) -> int:
        return 0 if self.summary is None else self.summary.frames

    @property
    def duration_ms(self) -> float:
        return 0.0 if self.summary is None else self.summary.duration_ms

    @property
    def dominant(self) -> str | None:
        return None if self.summary is None else self.summary.dominant

    @property
    def valence(self) -> float | None:
        return None if self.summary is None else self.summary.valence

    def tracks_text(self) -> str:
        """``#3 #9 #15`` (hidden ones marked)."""
        hidden = set(self.hidden_track_ids)
        return " ".join(f"#{t}" + (" (hidden)" if t in hidden else "") for t in self.all_track_ids)

    def describe(self) -> str:
        """``Person 3 (#3 #9 #15): 40.2 s on screen, mostly apparent happy (happy 53%, fear 28%)``."""
        head = f"{self.label} ({self.tracks_text()})"
        if self.summary is None:
            return f"{head}: hidden"
        figures = self.summary.describe().removeprefix(f"track {self.summary.track_id}: ")
        return f"{head}: {figures}"

    def to_dict(self) -> dict[str, Any]:
        """Its numbers, its nickname, and its summary's figures (``track_id`` is its number, for
        clients written when a person was one track)."""
        out: dict[str, Any] = {
            "number": self.number,
            "label": self.label,
            "nickname": self.nickname,
            "track_ids": list(self.track_ids),
            "hidden_track_ids": list(self.hidden_track_ids),
            "hidden": self.hidden,
            "source": self.source,
            "track_id": self.number,
        }
        if self.summary is not None:
            out.update(self.summary.to_dict())
            text = getattr(self.summary, "dominant_text", None)
            if isinstance(text, str):
                out.setdefault("dominant_text", text)
        return out


def _listing(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:_LISTED])
    more = len(numbers) - _LISTED
    return shown + (f" and {more} more" if more > 0 else "")


class PeopleMixin(SessionsMixin):
    """Reading a session's people, and merging, splitting, naming and hiding them."""

    # --- reading -------------------------------------------------------------------------------

    def _track_tallies(self, s: Session, session_id: int) -> dict[int, Tally]:
        """Each track's intervals folded into one tally by the database (what
        :func:`moodlens.summary.summarise` would make of them, one row per track)."""
        shown_total = sum(
            (getattr(IntervalRow, c) for c in SHOWN_COLUMNS[1:]), getattr(IntervalRow, SHOWN_COLUMNS[0])
        )
        query = (
            select(
                IntervalRow.track_id,
                func.min(IntervalRow.start_ms),
                func.max(IntervalRow.end_ms),
                func.sum(IntervalRow.frames),
                *[func.sum(getattr(IntervalRow, c)) for c in SHOWN_COLUMNS],
                *[func.sum(getattr(IntervalRow, c) * shown_total) for c in PROBABILITY_COLUMNS],
            )
            .where(IntervalRow.session_id == session_id)
            .group_by(IntervalRow.track_id)
        )
        out = {}
        for track, first, last, frames, *sums in s.execute(query):
            values = np.array([float(v or 0.0) for v in sums], dtype=np.float64)
            out[int(track)] = Tally(
                float(first), float(last), int(frames or 0), values[:NUM_CLASSES], values[NUM_CLASSES:]
            )
        return out

    def _read(self, session_id: int) -> tuple[Grouping, dict[int, Tally]]:
        self.get_session(session_id)
        with self._session() as s:
            return grouping.load(s, session_id), self._track_tallies(s, session_id)

    @staticmethod
    def _person(
        g: Grouping, tallies: dict[int, Tally], number: int, tracks: list[int], include_hidden: bool
    ) -> Person:
        hidden = tuple(t for t in tracks if t in g.hidden)
        counted = [t for t in tracks if include_hidden or t not in g.hidden]
        total: Tally | None = None
        for track in counted:
            tally = tallies.get(track)
            if tally is None:
                continue
            if total is None:
                total = Tally(tally.first_ms, tally.last_ms)
            total.merge(tally)
        name = g.names.get(number)
        return Person(
            number=number,
            track_ids=tuple(counted),
            hidden_track_ids=hidden,
            nickname=None if name is None else name.nickname,
            source=g.source_of(tracks),
            summary=None if total is None else ExpressionSummary.from_tally(number, total),
        )

    def people(self, session_id: int, *, include_hidden: bool = False) -> list[Person]:
        """The people of a session, by number, each summarised over their tracks by the one rule
        of :mod:`moodlens.summary`. Hidden tracks are left out of the summaries, and a person whose
        tracks are all hidden is left out, unless ``include_hidden``."""
        g, tallies = self._read(session_id)
        out = []
        for number, tracks in g.members().items():
            person = self._person(g, tallies, number, tracks, include_hidden)
            if include_hidden or not person.hidden:
                out.append(person)
        return out

    def track_summaries(self, session_id: int, *, include_hidden: bool = True) -> list[ExpressionSummary]:
        """Each track of a session summarised on its own, as ``moodlens video`` printed them for
        the run that recorded it, whatever the grouping into people."""
        g, tallies = self._read(session_id)
        return [
            ExpressionSummary.from_tally(track, tally)
            for track, tally in sorted(tallies.items())
            if include_hidden or track not in g.hidden
        ]

    def person_of(self, session_id: int, track_id: int) -> Person:
        """The person a track belongs to (hidden tracks left out of its summary)."""
        g, tallies = self._read(session_id)
        self._known_track(session_id, g, track_id)
        number = g.person[track_id]
        return self._person(g, tallies, number, g.members()[number], False)

    def get_person(self, session_id: int, number: int) -> Person:
        """One person by number (hidden tracks left out of its summary)."""
        g, tallies = self._read(session_id)
        members = g.members()
        if number not in members:
            raise self._unknown_person(session_id, g, number)
        return self._person(g, tallies, number, members[number], False)

    # --- changing ------------------------------------------------------------------------------

    @staticmethod
    def _known_track(session_id: int, g: Grouping, track_id: int) -> None:
        if track_id not in g.person:
            there = f"its tracks: {_listing(sorted(g.person))}" if g.person else "nothing was recorded in it"
            raise NotFoundError(
                f"session {session_id} has no track {track_id}; {there} "
                f"(moodlens history people {session_id} lists them)"
            )

    @staticmethod
    def _unknown_person(session_id: int, g: Grouping, number: int) -> NotFoundError:
        if number in g.person:
            return NotFoundError(
                f"session {session_id} has no person {number}: track {number} is part of person "
                f"{g.person[number]}"
            )
        numbers = sorted(g.members())
        there = f"its people: {_listing(numbers)}" if numbers else "nothing was recorded in it"
        return NotFoundError(
            f"session {session_id} has no person {number}; {there} "
            f"(moodlens history people {session_id} lists them)"
        )

    def _change(self, session_id: int, edit: Any) -> int | None:
        """Run ``edit(grouping) -> number`` on the session's grouping in one transaction that holds
        the session (two changes of one session never interleave), then write it back."""
        with self._writing(), self._session() as s, s.begin():
            # A no-op write first: it takes the database's write lock on SQLite and the session's
            # row lock on PostgreSQL before anything is read.
            held = s.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(name=SessionRow.name)
            )
            if held.rowcount == 0:  # type: ignore[attr-defined]
                raise StoreError(f"no session {session_id} in {self.where}")
            before = grouping.load(s, session_id)
            after = grouping.copy(before)
            number: int | None = edit(after)
            grouping.save(s, session_id, before, after)
        return number

    def merge_tracks(self, session_id: int, track_ids: Sequence[int]) -> Person:
        """One person of the tracks named: the people they belong to are merged (merging tracks
        that are already one person changes nothing). The person is numbered by its lowest track
        and keeps the nickname of the lowest-numbered person that had one. A ValueError for fewer
        than two tracks; a :class:`NotFoundError` for a track the session does not have."""
        wanted = sorted({int(t) for t in track_ids})
        if len(wanted) < 2:
            raise ValueError(f"name at least two tracks to merge, got {_listing(wanted) or 'none'}")

        def edit(g: Grouping) -> int:
            for track in wanted:
                self._known_track(session_id, g, track)
            return g.join(wanted, "user")

        number = self._change(session_id, edit)
        assert number is not None
        return self.get_person(session_id, number)

    def split_track(self, session_id: int, track_id: int) -> Person:
        """Undo a merge for one track: it becomes its own person again, without a nickname (the
        rest of its person keep theirs, renumbered to their lowest track if it was this one). A
        track already on its own is left as it is."""

        def edit(g: Grouping) -> int:
            self._known_track(session_id, g, track_id)
            g.detach(track_id, "user")
            return track_id

        self._change(session_id, edit)
        return self.person_of(session_id, track_id)

    def rename_person(
        self, session_id: int, person: int, nickname: str | None, *, consent: bool = False
    ) -> Person:
        """Give a person a nickname, stored only with ``consent=True`` (the user confirms the
        person agreed); ``None`` removes it (no consent needed). A ValueError without consent or
        for a bad nickname; a :class:`NotFoundError` for a person the session does not have."""
        name = None
        if nickname is not None:
            normal = check_nickname(nickname)
            if consent is not True:
                raise ValueError(_CONSENT_NEEDED)
            name = Name(normal, _now())

        def edit(g: Grouping) -> int:
            if person not in g.members():
                raise self._unknown_person(session_id, g, person)
            if name is None:
                g.names.pop(person, None)
            elif g.names.get(person, Name("", None)).nickname != name.nickname:
                g.names[person] = name
            return person

        self._change(session_id, edit)
        return self.get_person(session_id, person)

    def hide_track(self, session_id: int, track_id: int, hidden: bool = True) -> Person:
        """Hide a track (it stays in its person, but is left out of counts, lanes, summaries and
        exports unless asked for), or show it again with ``hidden=False``."""

        def edit(g: Grouping) -> int:
            self._known_track(session_id, g, track_id)
            (g.hidden.add if hidden else g.hidden.discard)(track_id)
            return track_id

        self._change(session_id, edit)
        g, tallies = self._read(session_id)
        number = g.person[track_id]
        return self._person(g, tallies, number, g.members()[number], False)

    def link_people(
        self, session_id: int, groups: Sequence[Sequence[int]], source: PersonSource = "linked"
    ) -> list[Person]:
        """Join each group of tracks into one person, in one transaction: what a pipeline's
        automatic linking calls at the end of a run, once its history writer is closed. Tracks
        with nothing recorded (not written, or dropped) are skipped, and so are tracks a user
        merged or split (unless ``source`` is ``user``): linking never undoes a person's
        decision. A ValueError for a track in two groups or an unknown source. Returns the
        people the groups made, by number."""
        if source not in PERSON_SOURCES:
            raise ValueError(f"unknown source {source!r}: expected one of {', '.join(PERSON_SOURCES)}")
        seen: dict[int, int] = {}
        for index, group in enumerate(groups):
            for track in {int(t) for t in group}:
                if track in seen:
                    raise ValueError(f"track {track} is in two groups ({seen[track] + 1} and {index + 1})")
                seen[track] = index

        def edit(g: Grouping) -> None:
            for group in groups:
                tracks = sorted(
                    {int(t) for t in group}
                    & {t for t in g.person if source == "user" or g.source.get(t) != "user"}
                )
                if len(tracks) > 1:
                    g.join(tracks, source)

        self._change(session_id, edit)
        g, tallies = self._read(session_id)
        numbers = sorted({g.person[t] for t in seen if t in g.person})
        members = g.members()
        return [self._person(g, tallies, n, members[n], False) for n in numbers if len(members[n]) > 1]
