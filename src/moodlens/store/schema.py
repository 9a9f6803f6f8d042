"""The history schema: sessions, per-track interval aggregates, optional per-frame rows, user
corrections, profiles (a person's opt-in calibration samples) and the people of a session (which of
its tracks are one person; numbers, and a nickname only with consent). By design there is no column
for images, crops, face geometry or embeddings: only labels and probabilities are kept.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from moodlens.labels import LABELS


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones: store naive UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes stored in the history must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    __tablename__ = "sessions"
    # Ids are never reused after a delete (SQLite AUTOINCREMENT; PostgreSQL sequences never reuse).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 (SQLAlchemy reads it as is)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    frame_rows: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The recording's length in media time (its last frame's timestamp plus one frame period).
    media_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: The recording process (host:pid:start time), to close its session if it dies mid-recording.
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: True for a session whose process died before closing it (closed on the next open).
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: The profile the session was recorded with; NULL when none, or once that profile is deleted
    #: (the session keeps its plain model results).
    profile_id: Mapped[int | None] = mapped_column(
        ForeignKey("profiles.id", ondelete="SET NULL", name="fk_sessions_profile_id"), nullable=True
    )
    #: The classifier (name and version or digest) whose probabilities the session holds.
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)

    intervals: Mapped[list[IntervalRow]] = relationship(
        back_populates="session", cascade="all, delete-orphan", passive_deletes=True
    )


class Probabilities:
    """The 7 probabilities in canonical label order, as columns ``p_<label>``."""

    p_angry: Mapped[float] = mapped_column(Float)
    p_disgust: Mapped[float] = mapped_column(Float)
    p_fear: Mapped[float] = mapped_column(Float)
    p_happy: Mapped[float] = mapped_column(Float)
    p_sad: Mapped[float] = mapped_column(Float)
    p_surprise: Mapped[float] = mapped_column(Float)
    p_neutral: Mapped[float] = mapped_column(Float)

    def probabilities(self) -> dict[str, float]:
        return {name: float(getattr(self, f"p_{name}")) for name in LABELS}


class ShownTimes:
    """Milliseconds of media time each expression was shown, as columns ``t_<label>``."""

    t_angry: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_disgust: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_fear: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_happy: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_sad: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_surprise: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    t_neutral: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")

    def shown_ms(self) -> dict[str, float]:
        return {name: float(getattr(self, f"t_{name}")) for name in LABELS}


class IntervalRow(Probabilities, ShownTimes, Base):
    """One track over one interval: frame count, time-weighted mean smoothed probabilities, the
    time each expression was shown, and the one shown longest (moodlens.summary)."""

    __tablename__ = "intervals"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    start_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    frames: Mapped[int] = mapped_column(Integer)
    dominant: Mapped[str] = mapped_column(String(16))
    #: Whether the track was read through the session's profile in this interval (its main stable
    #: track): only such intervals teach that profile when corrected.
    profiled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    session: Mapped[SessionRow] = relationship(back_populates="intervals")

    __table_args__ = (Index("ix_intervals_session_track_start", "session_id", "track_id", "start_ms"),)


class FrameRow(Probabilities, Base):
    """Optional (off by default): smoothed probabilities of every face in every frame."""

    __tablename__ = "frames"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(Integer)
    timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(16))

    __table_args__ = (Index("ix_frames_session_time", "session_id", "timestamp_ms"),)


class CorrectionRow(Base):
    """A person's correction of an interval ("that was not sad"), kept for a later feedback loop."""

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(Integer)
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    wrong_label: Mapped[str] = mapped_column(String(16))
    correct_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProfileRow(Base):
    """A named, opt-in personal calibration of one person. It holds no face: only the label-space
    samples below (STYLE.md, point 18)."""

    __tablename__ = "profiles"
    # Ids are never reused after a delete, like session ids.
    __table_args__ = (UniqueConstraint("name", name="uq_profiles_name"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the profile's samples last changed (added, removed, reset).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    consent_given: Mapped[bool] = mapped_column(Boolean)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProfileSampleRow(Probabilities, Base):
    """One thing a person said about one reading of their face: the model's 7 probabilities and
    the expression it showed (``label``) or did not show (``not_label``). Append-only: concurrent
    writers to one profile each add their own rows."""

    __tablename__ = "profile_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    not_label: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: The classifier the probabilities came from: a profile's numbers mean something for one model.
    model: Mapped[str] = mapped_column(String(100))
    #: Where the reading came from ("image:photo.jpg", "history:session 4 correction 7").
    source: Mapped[str] = mapped_column(String(500), default="")
    #: The history correction this sample was derived from: deleting it deletes the sample.
    correction_id: Mapped[int | None] = mapped_column(
        ForeignKey("corrections.id", ondelete="CASCADE"), nullable=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("kind IN ('neutral', 'correction')", name="ck_profile_samples_kind"),
        {"sqlite_autoincrement": True},
    )


class SessionPersonRow(Base):
    """A person of a session made of several of its tracks, or named. Its number is its lowest
    track id (so a track on its own is the person of its own number, with no row). It holds a
    number and, only with consent, a nickname: never a face (STYLE.md, point 18)."""

    __tablename__ = "session_people"

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    nickname: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The nickname is stored only when the user confirmed the person agreed to it.
    consent_given: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (CheckConstraint("nickname IS NULL OR consent_given", name="ck_session_people_consent"),)


class SessionTrackRow(Base):
    """How one track of a session is read: the person it belongs to (NULL: its own person),
    whether it is hidden, and who said so (``auto``: as recorded; ``linked``: automatic linking at
    the end of a run; ``user``: a person merged, split or hid it). A track with no row is its own,
    visible person."""

    __tablename__ = "session_tracks"

    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True)
    track_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    person: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    source: Mapped[str] = mapped_column(String(8), default="auto", server_default="auto")

    __table_args__ = (
        ForeignKeyConstraint(
            ["session_id", "person"],
            ["session_people.session_id", "session_people.number"],
            name="fk_session_tracks_person",
        ),
        CheckConstraint("source IN ('auto', 'linked', 'user')", name="ck_session_tracks_source"),
    )


PROBABILITY_COLUMNS = tuple(f"p_{name}" for name in LABELS)
SHOWN_COLUMNS = tuple(f"t_{name}" for name in LABELS)
