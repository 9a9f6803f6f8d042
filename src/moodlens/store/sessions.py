"""Sessions: starting and ending them, closing those whose recording process died, inserting their
interval and frame rows, listing them, and deleting them (one, old ones, or by retention)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, false, func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from moodlens.names import check_session_name
from moodlens.store.base import StoreBase, _now, process_alive, this_process
from moodlens.store.database import StoreError
from moodlens.store.profiles import MAX_MODEL, profile_row, touch_profiles
from moodlens.store.schema import (
    CorrectionRow,
    FrameRow,
    IntervalRow,
    ProfileRow,
    ProfileSampleRow,
    SessionPersonRow,
    SessionRow,
    SessionTrackRow,
)

__all__ = ["SessionInfo", "SessionsMixin"]


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
    #: Every track recorded (hidden ones included).
    tracks: int
    intervals: int
    frames: int
    #: The recording's length in media time (None while running, or for sessions before 0.2).
    media_ms: int | None = None
    #: The recording process died before closing the session (closed on a later open).
    interrupted: bool = False
    #: The profile the session was recorded with (None if none, or once it is deleted).
    profile: str | None = None
    #: The classifier the session's probabilities came from (None if it was not recorded).
    model: str | None = None
    #: The people its visible tracks make (a track on its own is one person; see
    #: :mod:`moodlens.store.people`).
    people: int = 0
    #: The tracks hidden (left out of ``people``, summaries and exports).
    hidden_tracks: int = 0

    def counts_text(self) -> str:
        """``5 people (36 tracks)``, ``1 person (3 tracks, 1 hidden)``."""
        people = f"{self.people} {'person' if self.people == 1 else 'people'}"
        tracks = f"{self.tracks} {'track' if self.tracks == 1 else 'tracks'}"
        hidden = f", {self.hidden_tracks} hidden" if self.hidden_tracks else ""
        return f"{people} ({tracks}{hidden})"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("started_at", "ended_at", "consent_at"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out


class SessionsMixin(StoreBase):
    """What a recording writes, and the session list."""

    # --- writing -------------------------------------------------------------------------------

    def start_session(
        self,
        *,
        name: str = "",
        source: str = "",
        consent: bool = False,
        frame_rows: bool = False,
        started_at: datetime | None = None,
        profile: str | None = None,
        model: str | None = None,
    ) -> int:
        """A new session; ``profile`` names the profile it is recorded with, ``model`` the
        classifier (name and version or digest) whose probabilities it will hold."""
        name = check_session_name(name)
        model = model or None
        if model is not None and len(model) > MAX_MODEL:
            raise ValueError(f"a session names its model in at most {MAX_MODEL} characters, got {model!r}")
        started = started_at or _now()
        row = SessionRow(
            name=name,
            source=source[:500],
            started_at=started,
            consent_given=consent,
            consent_at=started if consent else None,
            frame_rows=frame_rows,
            owner=this_process(),
            model=model,
        )
        with self._writing(), self._session() as s, s.begin():
            if profile is not None:
                row.profile_id = profile_row(s, profile).id
            s.add(row)
        return row.id

    def close_interrupted(self) -> int:
        """Close the sessions whose recording process died (on this host): ended at their last
        interval, marked interrupted. Returns how many; a read-only database is left as it is."""
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
        # People: a track's person is its row's, else the track itself (moodlens.store.people);
        # hidden tracks are counted apart and make no one.
        tracks = select(IntervalRow.session_id, IntervalRow.track_id).distinct().subquery()
        hidden = func.coalesce(SessionTrackRow.hidden, false())
        person = func.coalesce(SessionTrackRow.person, tracks.c.track_id)
        people = (
            select(
                tracks.c.session_id,
                func.count(func.distinct(case((~hidden, person)))).label("people"),
                func.sum(case((hidden, 1), else_=0)).label("hidden"),
            )
            .outerjoin(
                SessionTrackRow,
                and_(
                    SessionTrackRow.session_id == tracks.c.session_id,
                    SessionTrackRow.track_id == tracks.c.track_id,
                ),
            )
            .group_by(tracks.c.session_id)
            .subquery()
        )
        query = (
            select(
                SessionRow,
                counts.c.tracks,
                counts.c.intervals,
                counts.c.frames,
                ProfileRow.name,
                people.c.people,
                people.c.hidden,
            )
            .outerjoin(counts, counts.c.session_id == SessionRow.id)
            .outerjoin(people, people.c.session_id == SessionRow.id)
            .outerjoin(ProfileRow, ProfileRow.id == SessionRow.profile_id)
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
                profile=profile,
                model=r.model,
                people=int(n or 0),
                hidden_tracks=int(h or 0),
            )
            for r, t, i, f, profile, n, h in rows
        ]

    def list_sessions(self) -> list[SessionInfo]:
        return self._session_infos()

    def get_session(self, session_id: int) -> SessionInfo:
        found = self._session_infos(SessionRow.id == session_id)
        if not found:
            raise StoreError(f"no session {session_id} in {self.where}")
        return found[0]

    # --- deletion, retention -------------------------------------------------------------------

    def recording(self, session_id: int) -> str | None:
        """The recorder (``host:pid:start``) of a session that is still being recorded: not ended
        and its process alive (on another host, taken as alive); None otherwise. Deleting such a
        session pulls it from under its recorder, which then cannot save its rows."""
        with self._session() as s:
            row = s.get(SessionRow, session_id)
        if row is None:
            raise StoreError(f"no session {session_id} in {self.where}")
        if row.ended_at is not None or not row.owner or not process_alive(row.owner):
            return None
        return str(row.owner)

    def delete_session(self, session_id: int) -> None:
        """Delete a session and everything recorded in it (and what its corrections taught a
        profile). It is deleted even while it is recording: callers ask :meth:`recording` first."""
        self.get_session(session_id)
        self._delete([session_id])

    def _delete(self, ids: list[int]) -> int:
        if not ids:
            return 0
        with self._session() as s, s.begin():
            # Children first, explicitly: correct whether or not the backend enforces cascades.
            corrections = select(CorrectionRow.id).where(CorrectionRow.session_id.in_(ids))
            taught = ProfileSampleRow.correction_id.in_(corrections)
            touch_profiles(s, list(s.scalars(select(ProfileSampleRow.profile_id).where(taught).distinct())))
            s.execute(delete(ProfileSampleRow).where(taught))
            for table in (IntervalRow, FrameRow, CorrectionRow, SessionTrackRow, SessionPersonRow):
                s.execute(delete(table).where(table.session_id.in_(ids)))
            s.execute(delete(SessionRow).where(SessionRow.id.in_(ids)))
        return len(ids)

    def purge(self, *, older_than_days: float | None = None, everything: bool = False) -> int:
        """Delete sessions that started more than ``older_than_days`` ago, or all of them, except
        those being recorded now (:meth:`recording_sessions`): a camera that has run for longer than the
        retention period, or a purge typed while the server records, must not pull the session
        from under its writer. They go at the next purge after they end."""
        if older_than_days is None and not everything:
            raise ValueError("purge needs older_than_days or everything=True")
        query = select(SessionRow.id, SessionRow.ended_at, SessionRow.owner)
        if not everything:
            assert older_than_days is not None
            if older_than_days < 0:
                raise ValueError("older_than_days must be >= 0")
            query = query.where(SessionRow.started_at < _now() - timedelta(days=older_than_days))
        with self._session() as s:
            rows = s.execute(query).all()
        return self._delete([r.id for r in rows if not _being_recorded(r.ended_at, r.owner)])

    def recording_sessions(self) -> list[int]:
        """The sessions being recorded now: not ended, by a process that still runs (on another
        host, which cannot be asked, a session not ended counts as being recorded)."""
        query = select(SessionRow.id, SessionRow.ended_at, SessionRow.owner).where(
            SessionRow.ended_at.is_(None)
        )
        with self._session() as s:
            rows = s.execute(query.order_by(SessionRow.id)).all()
        return [r.id for r in rows if _being_recorded(r.ended_at, r.owner)]

    def apply_retention(self, days: float | None) -> int:
        """Automatic deletion: sessions older than ``days`` go (None or 0 keeps everything)."""
        if not days:
            return 0
        try:
            return self.purge(older_than_days=days)
        except SQLAlchemyError as exc:
            raise StoreError(f"{self.where}: retention cleanup failed ({exc})") from None


def _being_recorded(ended_at: datetime | None, owner: str | None) -> bool:
    return ended_at is None and bool(owner) and process_alive(str(owner))
