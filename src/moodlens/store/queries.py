"""What can be read back from the history: timelines, per-frame rows, distributions per session,
day or week, trends, a valence index, and exports (JSON or CSV). The people of a session (tracks
grouped, hidden, named) are :mod:`moodlens.store.people`'s; hidden tracks are left out here too
unless asked for (``include_hidden``)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, false, func, select

from moodlens.labels import LABELS
from moodlens.store.base import spreadsheet_safe
from moodlens.store.corrections import CorrectionsMixin
from moodlens.store.database import StoreError
from moodlens.store.people import PeopleMixin
from moodlens.store.schema import (
    PROBABILITY_COLUMNS,
    SHOWN_COLUMNS,
    FrameRow,
    IntervalRow,
    SessionPersonRow,
    SessionTrackRow,
)
from moodlens.summary import Tally, valence_index

__all__ = ["Bucket", "IntervalInfo", "Period", "QueriesMixin"]

Period = Literal["session", "day", "week"]


@dataclass(frozen=True)
class IntervalInfo:
    track_id: int
    start_ms: int
    end_ms: int
    start_at: datetime
    frames: int
    probabilities: dict[str, float]
    dominant: str
    #: Milliseconds each expression was shown in the interval (moodlens.summary).
    shown_ms: dict[str, float]
    #: The track was read through the session's profile in this interval (so a correction of it
    #: teaches that profile).
    profiled: bool = False
    #: The person the track belongs to (its number; a track on its own is the person of its own
    #: number), and whether the track is hidden (moodlens.store.people).
    person: int | None = None
    hidden: bool = False

    @property
    def valence(self) -> float:
        return valence_index(self.probabilities)

    def tally(self) -> Tally:
        import numpy as np

        shown = np.array([self.shown_ms[n] for n in LABELS], dtype=np.float64)
        probs = np.array([self.probabilities[n] for n in LABELS], dtype=np.float64)
        return Tally(self.start_ms, self.end_ms, self.frames, shown, probs * shown.sum())

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "start_at": self.start_at.isoformat(),
            "frames": self.frames,
            "dominant": self.dominant,
            "valence": round(self.valence, 4),
            "probabilities": {k: round(v, 4) for k, v in self.probabilities.items()},
            "shown_ms": {k: round(v, 1) for k, v in self.shown_ms.items()},
            "profiled": self.profiled,
            "person": self.track_id if self.person is None else self.person,
            "hidden": self.hidden,
        }


def _track_row() -> Any:
    """The join of an interval with its track's row (absent: its own, visible person)."""
    return and_(
        SessionTrackRow.session_id == IntervalRow.session_id, SessionTrackRow.track_id == IntervalRow.track_id
    )


def _visible() -> Any:
    return func.coalesce(SessionTrackRow.hidden, false()).is_(False)


@dataclass(frozen=True)
class Bucket:
    """A distribution over one session, day or week: time-weighted mean probabilities, the share
    of time each expression was shown (moodlens.summary), and the valence index of the mean."""

    key: str
    frames: int
    mean_probabilities: dict[str, float]
    dominant_shares: dict[str, float]
    duration_ms: float = 0.0

    @property
    def valence(self) -> float:
        return valence_index(self.mean_probabilities)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "frames": self.frames,
            "duration_ms": round(self.duration_ms, 1),
            "valence": round(self.valence, 4),
            "mean_probabilities": {k: round(v, 4) for k, v in self.mean_probabilities.items()},
            "dominant_shares": {k: round(v, 4) for k, v in self.dominant_shares.items()},
        }


class QueriesMixin(PeopleMixin, CorrectionsMixin):
    """Reading a session back, aggregating over sessions, days and weeks, and exporting."""

    def timeline(
        self, session_id: int, track_id: int | None = None, *, include_hidden: bool = False
    ) -> list[IntervalInfo]:
        """The intervals of a session (one track, or all), ordered by track then time, each with
        its person. Hidden tracks are left out unless ``include_hidden`` or asked for by id."""
        self.get_session(session_id)
        query = (
            select(IntervalRow, SessionTrackRow.person, SessionTrackRow.hidden)
            .outerjoin(SessionTrackRow, _track_row())
            .where(IntervalRow.session_id == session_id)
        )
        if track_id is not None:
            query = query.where(IntervalRow.track_id == track_id)
        elif not include_hidden:
            query = query.where(_visible())
        query = query.order_by(IntervalRow.track_id, IntervalRow.start_ms)
        with self._session() as s:
            rows = s.execute(query).all()
        return [
            IntervalInfo(
                track_id=r.track_id,
                start_ms=r.start_ms,
                end_ms=r.end_ms,
                start_at=r.start_at,
                frames=r.frames,
                probabilities=r.probabilities(),
                dominant=r.dominant,
                shown_ms=r.shown_ms(),
                profiled=bool(r.profiled),
                person=r.track_id if person is None else int(person),
                hidden=bool(hidden),
            )
            for r, person, hidden in rows
        ]

    def frames(self, session_id: int) -> list[dict[str, Any]]:
        """Per-frame rows, when the session recorded them."""
        query = select(FrameRow).where(FrameRow.session_id == session_id).order_by(FrameRow.timestamp_ms)
        with self._session() as s:
            rows = s.scalars(query).all()
        return [
            {
                "track_id": r.track_id,
                "timestamp_ms": r.timestamp_ms,
                "label": r.label,
                "probabilities": r.probabilities(),
            }
            for r in rows
        ]

    def _bucket(self, period: Period) -> Any:
        if period == "session":
            return IntervalRow.session_id
        dialect = self.engine.dialect.name
        if dialect == "sqlite":
            if period == "day":
                return func.strftime("%Y-%m-%d", IntervalRow.start_at)
            # ISO-like week start: the Monday of the interval's week.
            return func.date(IntervalRow.start_at, "weekday 0", "-6 days")
        return func.to_char(func.date_trunc(period, IntervalRow.start_at), "YYYY-MM-DD")

    def distribution(
        self,
        *,
        period: Period = "session",
        session_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        include_hidden: bool = False,
    ) -> list[Bucket]:
        """Distributions per session, day (UTC) or week (starting on Monday): the share of time each
        expression was shown and the time-weighted mean probabilities (moodlens.summary). Hidden
        tracks are left out unless ``include_hidden``."""
        if period not in ("session", "day", "week"):
            raise ValueError("period must be session, day or week")
        key = self._bucket(period).label("key")
        interval_ms = sum(
            (getattr(IntervalRow, c) for c in SHOWN_COLUMNS[1:]), getattr(IntervalRow, SHOWN_COLUMNS[0])
        )
        weighted = [func.sum(getattr(IntervalRow, c) * interval_ms).label(c) for c in PROBABILITY_COLUMNS]
        shown = [func.sum(getattr(IntervalRow, c)).label(c) for c in SHOWN_COLUMNS]
        query: Select[Any] = select(
            key, func.sum(IntervalRow.frames).label("frames"), *weighted, *shown
        ).group_by(key)
        if not include_hidden:
            query = query.outerjoin(SessionTrackRow, _track_row()).where(_visible())
        for condition in (
            None if session_id is None else IntervalRow.session_id == session_id,
            None if since is None else IntervalRow.start_at >= since,
            None if until is None else IntervalRow.start_at < until,
        ):
            if condition is not None:
                query = query.where(condition)
        with self._session() as s:
            rows = s.execute(query.order_by(key)).all()
        out = []
        for row in rows:
            times = {n: float(getattr(row, f"t_{n}") or 0.0) for n in LABELS}
            total = sum(times.values())
            if total <= 0:
                continue
            means = {n: float(getattr(row, f"p_{n}") or 0.0) / total for n in LABELS}
            shares = {n: times[n] / total for n in LABELS}
            out.append(Bucket(str(row.key), int(row.frames or 0), means, shares, total))
        return out

    def trends(self, *, period: Period = "day", since: datetime | None = None) -> list[dict[str, Any]]:
        """Valence index and dominant shares per day or week, oldest first."""
        return [b.to_dict() for b in self.distribution(period=period, since=since)]

    # --- export --------------------------------------------------------------------------------

    def export(
        self, session_id: int, fmt: Literal["csv", "json"] = "json", *, include_hidden: bool = False
    ) -> str:
        """A session's data: JSON (the session, its people, intervals, frames, corrections) or CSV
        (one row per interval, with its person). Hidden tracks are left out unless
        ``include_hidden``."""
        if fmt not in ("csv", "json"):
            raise ValueError("format must be csv or json")
        info = self.get_session(session_id)
        intervals = self.timeline(session_id, include_hidden=include_hidden)
        if fmt == "json":
            return json.dumps(
                {
                    "session": info.to_dict(),
                    "people": [p.to_dict() for p in self.people(session_id, include_hidden=include_hidden)],
                    "intervals": [i.to_dict() for i in intervals],
                    "frames": self.frames(session_id) if info.frame_rows else [],
                    "corrections": self.corrections(session_id),
                    "valence_index": "sum of probabilities weighted happy +1; angry, disgust, fear, sad -1; "
                    "surprise, neutral 0 (an index of apparent expressions, not a measurement)",
                },
                indent=2,
            )
        nicknames = self._nicknames(session_id)
        buffer = io.StringIO(self.export_header())
        buffer.seek(0, io.SEEK_END)
        writer = csv.writer(buffer)
        for i in intervals:
            person = i.track_id if i.person is None else i.person
            writer.writerow(
                [
                    info.id,
                    spreadsheet_safe(info.name),
                    i.track_id,
                    person,
                    spreadsheet_safe(nicknames.get(person, "")),
                    i.start_ms,
                    i.end_ms,
                    i.start_at.isoformat(),
                    i.frames,
                    i.dominant,
                    f"{i.valence:.4f}",
                    *[f"{i.probabilities[n]:.5f}" for n in LABELS],
                    *[f"{i.shown_ms[n]:.1f}" for n in LABELS],
                ]
            )
        return buffer.getvalue()

    def _nicknames(self, session_id: int) -> dict[int, str]:
        query = select(SessionPersonRow.number, SessionPersonRow.nickname).where(
            SessionPersonRow.session_id == session_id, SessionPersonRow.nickname.is_not(None)
        )
        with self._session() as s:
            return {int(n): str(name) for n, name in s.execute(query)}

    @staticmethod
    def export_header() -> str:
        """The CSV export's header line."""
        columns = [
            "session_id",
            "session_name",
            "track_id",
            "person",
            "nickname",
            "start_ms",
            "end_ms",
            "start_at",
            "frames",
            "dominant",
            "valence",
            *PROBABILITY_COLUMNS,
            *(f"shown_ms_{n}" for n in LABELS),
        ]
        buffer = io.StringIO()
        csv.writer(buffer).writerow(columns)
        return buffer.getvalue()

    def export_all(self, fmt: Literal["csv", "json"] = "json", *, include_hidden: bool = False) -> str:
        """Every session: JSON, a list of what :meth:`export` gives for each; CSV, their rows in one
        table (one header)."""
        if fmt not in ("csv", "json"):
            raise ValueError("format must be csv or json")
        ids = sorted(s.id for s in self.list_sessions())
        parts = [part for i in ids if (part := self._export_if_there(i, fmt, include_hidden)) is not None]
        if fmt == "json":
            return "[" + ",\n".join(parts) + "]"
        header = self.export_header()
        return header + "".join(part[len(header) :] for part in parts)

    def _export_if_there(
        self, session_id: int, fmt: Literal["csv", "json"], include_hidden: bool
    ) -> str | None:
        """One session's export, or None when it was deleted after the list was read: an export of
        everything is of the sessions there are, not a failure because one went meanwhile."""
        try:
            return self.export(session_id, fmt, include_hidden=include_hidden)
        except StoreError as exc:
            if str(exc).startswith(f"no session {session_id}"):
                return None
            raise
