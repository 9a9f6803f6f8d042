"""A throwaway PostgreSQL database for the store tests and the store benchmark."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


@contextmanager
def scratch_database(base: str, prefix: str) -> Iterator[str]:
    """Creates a new database on the server of `base` (a role with CREATEDB) and yields its URL;
    drops it on exit.

    Before the drop, only the role's own sessions are ended: an autovacuum worker on the new
    database is a superuser process that a CREATEDB role may not terminate, so ending every
    session, or DROP DATABASE ... WITH (FORCE), fails whenever one is at work. A plain
    DROP DATABASE stops such workers itself and waits up to 5 s for ended sessions to go.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
                        " AND usename = current_user AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    finally:
        admin.dispose()
