"""The people of a session: which of its tracks are one person (a looping clip's singer is one
person, not a new one each time the tracker lost her), which tracks are hidden (a poster, a
reflection), and, only with consent, a person's nickname. Numbers only: no face, crop or embedding.

A track with no row is its own, visible person, so every session recorded before this revision
reads as it did (one person per track). Both tables go with their session (ON DELETE CASCADE).

Revision ID: 0004
Revises: 0003
Create Date: 2027-01-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from moodlens.store.schema import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "session_people",
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("nickname", sa.String(64), nullable=True),
        sa.Column("consent_given", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "number"),
        sa.CheckConstraint("nickname IS NULL OR consent_given", name="ck_session_people_consent"),
    )
    op.create_table(
        "session_tracks",
        sa.Column(
            "session_id", sa.Integer(), sa.ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("track_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("source", sa.String(8), nullable=False, server_default="auto"),
        sa.PrimaryKeyConstraint("session_id", "track_id"),
        sa.ForeignKeyConstraint(
            ["session_id", "person"],
            ["session_people.session_id", "session_people.number"],
            name="fk_session_tracks_person",
        ),
        sa.CheckConstraint("source IN ('auto', 'linked', 'user')", name="ck_session_tracks_source"),
    )


def downgrade() -> None:
    op.drop_table("session_tracks")
    op.drop_table("session_people")
