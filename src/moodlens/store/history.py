"""The history store: what is written (sessions, intervals, frames, corrections) and what can be
read back (timelines, distributions, trends, a valence index), exported and deleted."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import socket
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, Select, delete, func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from moodlens.labels import LABELS, Expression
from moodlens.store.database import StoreError, check_schema, display_url, make_engine, resolve_url
from moodlens.store.schema import (
    PROBABILITY_COLUMNS,
    SHOWN_COLUMNS,
    CorrectionRow,
    FrameRow,
    IntervalRow,
    SessionRow,
)
from moodlens.summary import VALENCE_WEIGHTS, ExpressionSummary, Tally, summarise, valence_index

__all__ = ["VALENCE_WEIGHTS", "Bucket", "HistoryStore", "IntervalInfo", "SessionInfo", "valence_index"]

Period = Literal["session", "day", "week"]


@dataclass(frozen=True)
class SessionInfo:
    id: int
    name: str
    source: str
    started_at: datetime
    ended_at: datetime | None
    consent_given: bool
    consent_at: datetime | None
    frame_rows: bool
    tracks: int
    intervals: int
    frames: int
    #: The recording's length in media time (None while running, or for sessions before 0.2).
    media_ms: int | None = None
    #: The recording process died before closing the session (closed on a later open).
    interrupted: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started_at", "ended_at", "consent_at"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out


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
        }


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


def _now() -> datetime:
    return datetime.now(UTC)


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks (Linux), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def this_process() -> str:
    """``host:pid:start`` of the running process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def process_alive(owner: str) -> bool:
    """Whether the process named by ``owner`` still runs; True for another host (cannot tell)."""
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return not ticks or _start_ticks(pid) in ("", ticks)


def create_sqlite_atomically(url: str) -> None:
    """A new SQLite history file is built beside its destination and moved into place, so that a
    failure while creating it (a full disk) leaves nothing behind, not a half-made database."""
    from sqlalchemy.engine import make_url

    from moodlens.store.database import migrate

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    if str(parsed.query.get("uri", "")).lower() in ("true", "1"):
        # A "file:" URI names the file itself (and may say mode=ro): it is not a path to create.
        return
    target = Path(parsed.database)
    if target.exists() and target.stat().st_size > 0:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.creating-{os.getpid()}")
    engine = make_engine(f"sqlite:///{temporary}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
        migrate(engine)
        engine.dispose()
        os.replace(temporary, target)
    except BaseException:
        engine.dispose()
        temporary.unlink(missing_ok=True)
        raise
    finally:
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{temporary}{suffix}").unlink(missing_ok=True)


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet will not run: a leading =, +, -, @, tab or CR is quoted with '
    (OWASP's advice on CSV injection); the session name is the only free text in an export."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class HistoryStore:
    """A history database. ``HistoryStore(url)`` opens (and if empty creates) it; a database at
    another schema revision is refused with instructions (see :func:`check_schema`)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        engine: Engine | None = None,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.url = resolve_url(url) if engine is None else engine.url.render_as_string(hide_password=False)
        if engine is None and create:
            create_sqlite_atomically(self.url)
        self.engine = engine or make_engine(self.url, busy_timeout_ms=busy_timeout_ms)
        check_schema(self.engine, create=create)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.closed_interrupted = self.close_interrupted()

    @property
    def where(self) -> str:
        return display_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that the database refuses (read-only file or folder, full disk) is a StoreError."""
        from sqlalchemy.exc import OperationalError

        try:
            yield
        except OperationalError as exc:
            reason = str(exc.orig)
            if "readonly" in reason.replace(" ", "").lower():
                reason += "; the database file (or its folder) is read-only: check its permissions"
            raise StoreError(f"{self.where}: cannot write ({reason})") from None

    def _session(self) -> Session:
        return self._sessions()

    # --- writing -------------------------------------------------------------------------------

    def start_session(
        self,
        *,
        name: str = "",
        source: str = "",
        consent: bool = False,
        frame_rows: bool = False,
        started_at: datetime | None = None,
    ) -> int:
        started = started_at or _now()
        row = SessionRow(
            name=name[:200],
            source=source[:500],
            started_at=started,
            consent_given=consent,
            consent_at=started if consent else None,
            frame_rows=frame_rows,
            owner=this_process(),
        )
        with self._writing(), self._session() as s, s.begin():
            s.add(row)
        return row.id

    def close_interrupted(self) -> int:
        """Close the sessions whose recording process died (on this host): ended at their last
        interval, marked interrupted. Returns how many; a read-only database is left as it is."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self._session() as s, s.begin():
                running = s.scalars(select(SessionRow).where(SessionRow.ended_at.is_(None))).all()
                dead = [row for row in running if row.owner and not process_alive(row.owner)]
                for row in dead:
                    last = s.execute(
                        select(func.max(IntervalRow.end_ms)).where(IntervalRow.session_id == row.id)
                    ).scalar()
                    row.ended_at = row.started_at + timedelta(milliseconds=int(last or 0))
                    row.media_ms = None if last is None else int(last)
                    row.interrupted = True
                return len(dead)
        except SQLAlchemyError:
            return 0

    def end_session(
        self, session_id: int, ended_at: datetime | None = None, *, media_ms: int | None = None
    ) -> None:
        with self._session() as s, s.begin():
            row = s.get(SessionRow, session_id)
            if row is None:
                raise StoreError(f"no session {session_id} in {self.where}")
            row.ended_at = ended_at or _now()
            if media_ms is not None:
                row.media_ms = max(0, int(media_ms))

    def insert(self, intervals: Iterable[dict[str, Any]], frames: Iterable[dict[str, Any]] = ()) -> None:
        """Insert interval and frame rows (dicts of column values) in one transaction."""
        intervals, frames = list(intervals), list(frames)
        if not intervals and not frames:
            return
        with self._session() as s, s.begin():
            if intervals:
                s.execute(insert(IntervalRow), intervals)
            if frames:
                s.execute(insert(FrameRow), frames)

    def add_correction(
        self,
        session_id: int,
        *,
        track_id: int,
        start_ms: int,
        end_ms: int,
        wrong_label: str,
        correct_label: str | None = None,
        note: str = "",
    ) -> int:
        wrong = Expression.from_label(wrong_label).label
        right = None if correct_label is None else Expression.from_label(correct_label).label
        if end_ms < start_ms:
            raise ValueError("end_ms must be >= start_ms")
        self.get_session(session_id)
        row = CorrectionRow(
            session_id=session_id,
            track_id=track_id,
            start_ms=start_ms,
            end_ms=end_ms,
            wrong_label=wrong,
            correct_label=right,
            note=note[:2000],
            created_at=_now(),
        )
        with self._writing(), self._session() as s, s.begin():
            s.add(row)
        return row.id

    # --- reading -------------------------------------------------------------------------------

    def _session_infos(self, where: Any = None) -> list[SessionInfo]:
        counts = (
            select(
                IntervalRow.session_id,
                func.count(func.distinct(IntervalRow.track_id)).label("tracks"),
                func.count().label("intervals"),
                func.coalesce(func.sum(IntervalRow.frames), 0).label("frames"),
            )
            .group_by(IntervalRow.session_id)
            .subquery()
        )
        query = (
            select(SessionRow, counts.c.tracks, counts.c.intervals, counts.c.frames)
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .order_by(SessionRow.started_at.desc(), SessionRow.id.desc())
        )
        if where is not None:
            query = query.where(where)
        with self._session() as s:
            rows = s.execute(query).all()
        return [
            SessionInfo(
                id=r.id,
                name=r.name,
                source=r.source,
                started_at=r.started_at,
                ended_at=r.ended_at,
                consent_given=r.consent_given,
                consent_at=r.consent_at,
                frame_rows=r.frame_rows,
                tracks=int(t or 0),
                intervals=int(i or 0),
                frames=int(f or 0),
                media_ms=r.media_ms,
                interrupted=bool(r.interrupted),
            )
            for r, t, i, f in rows
        ]

    def list_sessions(self) -> list[SessionInfo]:
        return self._session_infos()

    def get_session(self, session_id: int) -> SessionInfo:
        found = self._session_infos(SessionRow.id == session_id)
        if not found:
            raise StoreError(f"no session {session_id} in {self.where}")
        return found[0]

    def timeline(self, session_id: int, track_id: int | None = None) -> list[IntervalInfo]:
        """The intervals of a session (one track, or all), ordered by track then time."""
        self.get_session(session_id)
        query = select(IntervalRow).where(IntervalRow.session_id == session_id)
        if track_id is not None:
            query = query.where(IntervalRow.track_id == track_id)
        query = query.order_by(IntervalRow.track_id, IntervalRow.start_ms)
        with self._session() as s:
            rows = s.scalars(query).all()
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
            )
            for r in rows
        ]

    def people(self, session_id: int) -> list[ExpressionSummary]:
        """Each person (track) of a session summarised by the one rule of moodlens.summary: the
        same figures ``moodlens video`` printed for the run that recorded it."""
        by_track: dict[int, list[Tally]] = {}
        for interval in self.timeline(session_id):
            by_track.setdefault(interval.track_id, []).append(interval.tally())
        return [summarise(track_id, tallies) for track_id, tallies in sorted(by_track.items())]

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

    def corrections(self, session_id: int) -> list[dict[str, Any]]:
        query = select(CorrectionRow).where(CorrectionRow.session_id == session_id).order_by(CorrectionRow.id)
        with self._session() as s:
            rows = s.scalars(query).all()
        return [
            {
                "id": r.id,
                "track_id": r.track_id,
                "start_ms": r.start_ms,
                "end_ms": r.end_ms,
                "wrong_label": r.wrong_label,
                "correct_label": r.correct_label,
                "note": r.note,
                "created_at": r.created_at.isoformat(),
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
    ) -> list[Bucket]:
        """Distributions per session, day (UTC) or week (starting on Monday): the share of time each
        expression was shown and the time-weighted mean probabilities (moodlens.summary)."""
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

    # --- export, deletion, retention -----------------------------------------------------------

    def export(self, session_id: int, fmt: Literal["csv", "json"] = "json") -> str:
        info = self.get_session(session_id)
        intervals = self.timeline(session_id)
        if fmt == "json":
            return json.dumps(
                {
                    "session": info.to_dict(),
                    "people": [p.to_dict() for p in self.people(session_id)],
                    "intervals": [i.to_dict() for i in intervals],
                    "frames": self.frames(session_id) if info.frame_rows else [],
                    "corrections": self.corrections(session_id),
                    "valence_index": "sum of probabilities weighted happy +1; angry, disgust, fear, sad -1; "
                    "surprise, neutral 0 (an index of apparent expressions, not a measurement)",
                },
                indent=2,
            )
        if fmt != "csv":
            raise ValueError("format must be csv or json")
        buffer = io.StringIO(self.export_header())
        buffer.seek(0, io.SEEK_END)
        writer = csv.writer(buffer)
        for i in intervals:
            writer.writerow(
                [
                    info.id,
                    spreadsheet_safe(info.name),
                    i.track_id,
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

    @staticmethod
    def export_header() -> str:
        """The CSV export's header line."""
        columns = [
            "session_id",
            "session_name",
            "track_id",
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

    def export_all(self, fmt: Literal["csv", "json"] = "json") -> str:
        """Every session: JSON, a list of what :meth:`export` gives for each; CSV, their rows in one
        table (one header)."""
        if fmt not in ("csv", "json"):
            raise ValueError("format must be csv or json")
        ids = sorted(s.id for s in self.list_sessions())
        if fmt == "json":
            return "[" + ",\n".join(self.export(i, "json") for i in ids) + "]"
        header = self.export_header()
        return header + "".join(self.export(i, "csv")[len(header) :] for i in ids)

    def delete_session(self, session_id: int) -> None:
        """Delete a session and everything recorded in it."""
        self.get_session(session_id)
        self._delete([session_id])

    def _delete(self, ids: list[int]) -> int:
        if not ids:
            return 0
        with self._session() as s, s.begin():
            # Children first, explicitly: correct whether or not the backend enforces cascades.
            for table in (IntervalRow, FrameRow, CorrectionRow):
                s.execute(delete(table).where(table.session_id.in_(ids)))
            s.execute(delete(SessionRow).where(SessionRow.id.in_(ids)))
        return len(ids)

    def purge(self, *, older_than_days: float | None = None, everything: bool = False) -> int:
        """Delete sessions that started more than ``older_than_days`` ago, or all of them."""
        if older_than_days is None and not everything:
            raise ValueError("purge needs older_than_days or everything=True")
        query = select(SessionRow.id)
        if not everything:
            assert older_than_days is not None
            if older_than_days < 0:
                raise ValueError("older_than_days must be >= 0")
            query = query.where(SessionRow.started_at < _now() - timedelta(days=older_than_days))
        with self._session() as s:
            ids = list(s.scalars(query).all())
        return self._delete(ids)

    def apply_retention(self, days: float | None) -> int:
        """Automatic deletion: sessions older than ``days`` go (None or 0 keeps everything)."""
        if not days:
            return 0
        try:
            return self.purge(older_than_days=days)
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.where}: retention cleanup failed ({exc})") from None
