"""Corrections: a person saying that a stretch of a session's track was not what it read as ("that
was not sad", "it was neutral"). A correction names a stretch the session recorded (one that does
not is refused, saying what there is). When the session was recorded with a profile and the track
was read through it there (the session's main track), the correction also teaches that profile, in
the same transaction (:func:`moodlens.store.profiles.add_correction_sample`); removing the
correction removes what it taught."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from moodlens.labels import Expression
from moodlens.store.base import _now
from moodlens.store.database import NotFoundError, StoreError
from moodlens.store.profiles import add_correction_sample, touch_profiles
from moodlens.store.schema import CorrectionRow, IntervalRow, ProfileRow, ProfileSampleRow, SessionRow
from moodlens.store.sessions import SessionsMixin

__all__ = ["CorrectionInfo", "CorrectionsMixin"]

#: How many tracks a refused correction lists (a crowd may have hundreds).
_LISTED_TRACKS = 12


@dataclass(frozen=True)
class CorrectionInfo:
    """A stored correction, and what it taught."""

    id: int
    session_id: int
    track_id: int
    start_ms: int
    end_ms: int
    wrong_label: str
    correct_label: str | None
    note: str
    created_at: datetime
    #: The profile this correction taught; None when the session has no profile, the track was not
    #: read through it in that stretch, or what it taught was removed since.
    taught_profile: str | None = None
    #: The profile the session was recorded with (None if none, or once it is deleted).
    session_profile: str | None = None

    def describe(self) -> str:
        """What the correction says, e.g. ``track 3 at 7.0-9.0 s was sad``."""
        said = f"was {self.correct_label}" if self.correct_label else f"was not {self.wrong_label}"
        return f"track {self.track_id} at {self.start_ms / 1000:.1f}-{self.end_ms / 1000:.1f} s {said}"

    def outcome(self) -> str:
        """Whether and which profile it taught, in words (what ``moodlens history correct`` says)."""
        if self.taught_profile is not None:
            return f"profile {self.taught_profile!r} learned that {self.describe()}"
        if self.session_profile is None:
            return f"no profile learned from it (session {self.session_id} has none)"
        return (
            f"profile {self.session_profile!r} learned nothing from it: track {self.track_id} was not "
            f"read through it between {self.start_ms} and {self.end_ms} ms (only the main track is)"
        )

    def to_dict(self) -> dict[str, Any]:
        """Its fields but ``session_profile`` (the session's own record says that)."""
        out = asdict(self)
        del out["session_profile"]
        out["created_at"] = self.created_at.isoformat()
        return out


def _check_recorded(s: Session, session_id: int, track_id: int, start_ms: int, end_ms: int) -> None:
    """A ValueError unless an interval of the track overlaps [start_ms, end_ms], saying what the
    session has (its tracks and the stretch each was recorded in)."""
    overlapping = s.scalars(
        select(IntervalRow.id)
        .where(
            IntervalRow.session_id == session_id,
            IntervalRow.track_id == track_id,
            IntervalRow.start_ms <= end_ms,
            IntervalRow.end_ms >= start_ms,
        )
        .limit(1)
    ).first()
    if overlapping is not None:
        return
    spans = s.execute(
        select(IntervalRow.track_id, func.min(IntervalRow.start_ms), func.max(IntervalRow.end_ms))
        .where(IntervalRow.session_id == session_id)
        .group_by(IntervalRow.track_id)
        .order_by(IntervalRow.track_id)
    ).all()
    if not spans:
        there = "nothing was recorded in it"
    else:
        listed = ", ".join(f"{t} ({first}-{last} ms)" for t, first, last in spans[:_LISTED_TRACKS])
        more = len(spans) - _LISTED_TRACKS
        there = f"its tracks: {listed}" + (f" and {more} more" if more > 0 else "")
    raise ValueError(
        f"session {session_id} has no interval of track {track_id} between {start_ms} and {end_ms} ms; "
        f"{there} (moodlens history show {session_id} --json lists its intervals)"
    )


class CorrectionsMixin(SessionsMixin):
    """Adding, listing and removing corrections."""

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
        """Record a correction; returns its id (:meth:`get_correction` says what it taught). A
        ValueError when the labels are the same or unknown, or when no interval of the track
        overlaps [start_ms, end_ms] (the message lists the session's tracks).

        If the session has a profile, the frame-weighted mean probabilities of the corrected
        stretch, over the intervals in which the track was read through that profile, become a
        ``correction`` sample of it (labelled ``correct_label``, or ``not_label=wrong_label`` when
        only that is known); a track not read through it (another person's) teaches nothing."""
        wrong = Expression.from_label(wrong_label).label
        right = None if correct_label is None else Expression.from_label(correct_label).label
        if right == wrong:
            raise ValueError(f"the right label must differ from the wrong one (both are {wrong!r})")
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
        try:
            with self._writing(), self._session() as s, s.begin():
                session = s.get(SessionRow, session_id)
                if session is None:  # deleted since the check above
                    raise StoreError(f"no session {session_id} in {self.where}")
                _check_recorded(s, session_id, track_id, start_ms, end_ms)
                s.add(row)
                s.flush()
                add_correction_sample(s, session, row)
        except IntegrityError:
            # SQLite opens the write transaction at the first write, so a session (or the profile
            # the correction teaches) deleted by another process after the reads above fails the
            # insert's foreign key instead. Nothing was stored either way.
            with self._session() as s:
                gone = s.get(SessionRow, session_id) is None
            if gone:
                raise StoreError(f"no session {session_id} in {self.where} (deleted meanwhile)") from None
            raise StoreError(
                f"session {session_id}: its profile was deleted while the correction was stored; "
                "nothing was stored: send it again"
            ) from None
        return row.id

    def _correction_infos(self, where: Any) -> list[CorrectionInfo]:
        taught, session_profile = aliased(ProfileRow), aliased(ProfileRow)
        query = (
            select(CorrectionRow, taught.name, session_profile.name)
            .join(SessionRow, SessionRow.id == CorrectionRow.session_id)
            .outerjoin(ProfileSampleRow, ProfileSampleRow.correction_id == CorrectionRow.id)
            .outerjoin(taught, taught.id == ProfileSampleRow.profile_id)
            .outerjoin(session_profile, session_profile.id == SessionRow.profile_id)
            .where(where)
            .order_by(CorrectionRow.id)
        )
        with self._session() as s:
            rows = s.execute(query).all()
        return [
            CorrectionInfo(
                id=r.id,
                session_id=r.session_id,
                track_id=r.track_id,
                start_ms=r.start_ms,
                end_ms=r.end_ms,
                wrong_label=r.wrong_label,
                correct_label=r.correct_label,
                note=r.note,
                created_at=r.created_at,
                taught_profile=taught_name,
                session_profile=session_name,
            )
            for r, taught_name, session_name in rows
        ]

    def get_correction(self, session_id: int, correction_id: int) -> CorrectionInfo:
        """One correction of a session, with the profile it taught (``taught_profile``) and a
        sentence saying so (``outcome()``)."""
        found = self._correction_infos(
            (CorrectionRow.id == correction_id) & (CorrectionRow.session_id == session_id)
        )
        if not found:
            self.get_session(session_id)
            raise NotFoundError(
                f"session {session_id} has no correction {correction_id} "
                f"(moodlens history export {session_id} lists them)"
            )
        return found[0]

    def corrections(self, session_id: int) -> list[dict[str, Any]]:
        """A session's corrections, oldest first (:meth:`CorrectionInfo.to_dict`)."""
        return [c.to_dict() for c in self._correction_infos(CorrectionRow.session_id == session_id)]

    def remove_correction(self, session_id: int, correction_id: int) -> None:
        """Remove a correction and the profile sample it taught, if any."""
        self.get_session(session_id)
        with self._writing(), self._session() as s, s.begin():
            found = s.scalars(
                select(CorrectionRow.id).where(
                    CorrectionRow.id == correction_id, CorrectionRow.session_id == session_id
                )
            ).first()
            if found is None:
                raise NotFoundError(
                    f"session {session_id} has no correction {correction_id} "
                    f"(moodlens history export {session_id} lists them)"
                )
            # Explicitly, as the foreign key's cascade would: whether or not the backend enforces it.
            taught = ProfileSampleRow.correction_id == correction_id
            touch_profiles(s, list(s.scalars(select(ProfileSampleRow.profile_id).where(taught))))
            s.execute(delete(ProfileSampleRow).where(taught))
            s.execute(delete(CorrectionRow).where(CorrectionRow.id == correction_id))
