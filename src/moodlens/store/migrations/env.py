"""Alembic environment: moodlens runs migrations programmatically on a connection it passes in
``config.attributes["connection"]``; ``alembic -x url=...`` works too for maintainers."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from moodlens.store.schema import Base

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        url = context.get_x_argument(as_dictionary=True).get("url")
        if not url:
            raise RuntimeError("pass a database: alembic -x url=sqlite:///history.sqlite3 upgrade head")
        with create_engine(url).begin() as conn:
            context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
