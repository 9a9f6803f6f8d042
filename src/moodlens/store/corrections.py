"""Corrections: a person saying that a stretch of a session's track was not what it read as ("that
was not sad", "it was neutral"). When the session was recorded with a profile, the correction also
teaches that profile, in the same transaction (:func:`moodlens.store.profiles.add_correction_sample`);
removing the correction removes what it taught."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from moodlens.labels import Expression
from moodlens.store.base import _now
from moodlens.store.database import NotFoundError, StoreError
from moodlens.store.profiles import add_correction_sample, touch_profiles
from moodlens.store.schema import CorrectionRow, ProfileSampleRow, SessionRow
from moodlens.store.sessions import SessionsMixin

__all__ = ["CorrectionsMixin"]


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
        """Record a correction; returns its id. If the session has a profile, the frame-weighted
        mean probabilities of the corrected span become a ``correction`` sample of it (labelled
        ``correct_label``, or ``not_label=wrong_label`` when only that is known)."""
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
            s.flush()
            session = s.get(SessionRow, session_id)
            if session is None:  # deleted since the check above
                raise StoreError(f"no session {session_id} in {self.where}")
            add_correction_sample(s, session, row)
        return row.id

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
