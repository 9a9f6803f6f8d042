"""Profiles: a person's opt-in calibration, kept as label-space samples (7 probabilities and the
expression they showed or did not show; never a face, crop, landmark or embedding). Sessions
record the profile and the classifier they were made with, and each interval whether its track was
read through that profile (only such intervals teach it when corrected; older ones never do).

A sample derived from a history correction goes with it (ON DELETE CASCADE); a session made with a
profile keeps its rows when that profile is deleted (ON DELETE SET NULL).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from moodlens.store.schema import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def upgrade() -> None:
    # Profile and sample ids are never reused after a delete (SQLite AUTOINCREMENT; PostgreSQL's
    # sequences never reuse).
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("consent_given", sa.Boolean(), nullable=False),
        sa.Column("consent_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("name", name="uq_profiles_name"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "profile_samples",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "profile_id", sa.Integer(), sa.ForeignKey("profiles.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.String(16), nullable=True),
        sa.Column("not_label", sa.String(16), nullable=True),
        *[sa.Column(f"p_{name}", sa.Float(), nullable=False) for name in _LABELS],
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column(
            "correction_id", sa.Integer(), sa.ForeignKey("corrections.id", ondelete="CASCADE"), nullable=True
        ),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('neutral', 'correction')", name="ck_profile_samples_kind"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_profile_samples_profile_id", "profile_samples", ["profile_id"])
    op.create_index("ix_profile_samples_correction_id", "profile_samples", ["correction_id"])
    with op.batch_alter_table("intervals") as batch:
        batch.add_column(sa.Column("profiled", sa.Boolean(), nullable=False, server_default=sa.false()))
    # SQLite cannot add a foreign key to a table: it is rebuilt, keeping AUTOINCREMENT (as 0002 set)
    # and the highest id ever given, so that a deleted session's id is still not handed out again
    # (a rebuilt table would start from the highest id it holds).
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    given = _highest_session_id(bind) if sqlite else 0
    with op.batch_alter_table(
        "sessions", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("profile_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("model", sa.String(100), nullable=True))
        batch.create_foreign_key(
            "fk_sessions_profile_id", "profiles", ["profile_id"], ["id"], ondelete="SET NULL"
        )
    if sqlite:
        given = max(given, _highest_session_id(bind))
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'sessions'"))
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('sessions', :seq)"), {"seq": given}
        )


def _highest_session_id(bind: sa.Connection) -> int:
    """SQLite: the highest session id ever given (AUTOINCREMENT's record, else the highest held)."""
    recorded = bind.execute(sa.text("SELECT MAX(seq) FROM sqlite_sequence WHERE name = 'sessions'")).scalar()
    held = bind.execute(sa.text("SELECT MAX(id) FROM sessions")).scalar()
    return max(int(recorded or 0), int(held or 0))


def downgrade() -> None:
    with op.batch_alter_table("sessions", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_sessions_profile_id", type_="foreignkey")
        batch.drop_column("model")
        batch.drop_column("profile_id")
    with op.batch_alter_table("intervals") as batch:
        batch.drop_column("profiled")
    op.drop_index("ix_profile_samples_correction_id", table_name="profile_samples")
    op.drop_index("ix_profile_samples_profile_id", table_name="profile_samples")
    op.drop_table("profile_samples")
    op.drop_table("profiles")
