"""Time shown per expression in each interval, each session's length in media time, and which
process records a session (so that a session whose process died is closed as interrupted).

Every summary (CLI, history, API, dashboard) counts a person's expressions by the time each was
shown (moodlens.summary). Intervals written before this revision get their whole span attributed
to their dominant label, which is what they recorded.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: One frame at 30 FPS: what a one-frame interval of an old session lasted.
_FRAME_MS = 33


def upgrade() -> None:
    with op.batch_alter_table("intervals") as batch:
        for name in _LABELS:
            batch.add_column(sa.Column(f"t_{name}", sa.Float(), nullable=False, server_default="0"))
    # Session ids are never reused: on SQLite the table is rebuilt with AUTOINCREMENT (a plain rowid
    # table hands a deleted session's id to the next one); PostgreSQL's sequences never reuse.
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table(
        "sessions", recreate="always" if sqlite else "auto", table_kwargs={"sqlite_autoincrement": True}
    ) as batch:
        batch.add_column(sa.Column("media_ms", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("owner", sa.String(200), nullable=True))
        batch.add_column(sa.Column("interrupted", sa.Boolean(), nullable=False, server_default=sa.false()))
    for name in _LABELS:
        op.execute(
            sa.text(
                f"UPDATE intervals SET t_{name} = end_ms - start_ms + {_FRAME_MS} WHERE dominant = :label"
            ).bindparams(label=name)
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("interrupted")
        batch.drop_column("owner")
        batch.drop_column("media_ms")
    with op.batch_alter_table("intervals") as batch:
        for name in _LABELS:
            batch.drop_column(f"t_{name}")
