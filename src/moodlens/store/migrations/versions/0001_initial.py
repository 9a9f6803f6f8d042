"""The first history schema: sessions, intervals, frames, corrections.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from moodlens.store.schema import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _probabilities() -> list[sa.Column]:  # type: ignore[type-arg]
    return [sa.Column(f"p_{name}", sa.Float(), nullable=False) for name in _LABELS]


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("consent_given", sa.Boolean(), nullable=False),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.Column("frame_rows", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_sessions_started_at", "sessions", ["started_at"])
    op.create_table(
        "intervals",
        sa.Column("id", _BIGID, primary_key=True),
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("start_at", UTCDateTime(), nullable=False),
        sa.Column("frames", sa.Integer(), nullable=False),
        *_probabilities(),
        sa.Column("dominant", sa.String(16), nullable=False),
    )
    op.create_index("ix_intervals_session_id", "intervals", ["session_id"])
    op.create_index("ix_intervals_start_at", "intervals", ["start_at"])
    op.create_index("ix_intervals_session_track_start", "intervals", ["session_id", "track_id", "start_ms"])
    op.create_table(
        "frames",
        sa.Column("id", _BIGID, primary_key=True),
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        *_probabilities(),
        sa.Column("label", sa.String(16), nullable=False),
    )
    op.create_index("ix_frames_session_time", "frames", ["session_id", "timestamp_ms"])
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("track_id", sa.Integer(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("wrong_label", sa.String(16), nullable=False),
        sa.Column("correct_label", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_corrections_session_id", "corrections", ["session_id"])


def downgrade() -> None:
    for table in ("corrections", "frames", "intervals", "sessions"):
        op.drop_table(table)
