"""Opening the history database: the default location, SQLite settings, schema versions.

A database that does not exist is created only when asked (``HistoryStore(url, create=True)``:
recording, or creating a profile), at the current schema; a read never creates a file or a folder,
and a SQLite file whose folder does not exist is an error (:class:`DatabaseNotFoundError`), except
in the default data folder. An existing database is used only when its schema revision is exactly
the one this moodlens knows; otherwise opening fails with a message that says how to migrate (or
that moodlens itself must be upgraded). Nothing is changed silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, DatabaseError, NoSuchModuleError, OperationalError, SQLAlchemyError

from moodlens.errors import StoreError

#: The schema revision this version of moodlens reads and writes (the newest migration).
SCHEMA_REVISION = "0004"
_MIGRATIONS = Path(__file__).parent / "migrations"
ENV_URL = "MOODLENS_DB"


__all__ = [
    "SCHEMA_REVISION",
    "DatabaseNotFoundError",
    "NotFoundError",
    "StoreError",
    "default_path",
    "migrate",
    "resolve_url",
]


class NotFoundError(StoreError, KeyError):
    """Something asked for by name or id is not in the history (a profile, a sample, a correction).

    A :class:`StoreError`, so the CLI and the web app report it like the rest (one line, exit status
    1); a :class:`KeyError` too, for code that looks things up. Its message is shown as written
    (a plain KeyError would show it quoted).
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DatabaseNotFoundError(StoreError):
    """The database named is not there (a read, which never creates one), or a new SQLite file's
    folder does not exist: most often a mistyped name. The CLI says so with exit status 2."""


def default_path() -> Path:
    """``history.sqlite3`` in the user's data folder (e.g. ~/.local/share/moodlens)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("moodlens", appauthor=False)) / "history.sqlite3"


def resolve_url(url: str | os.PathLike[str] | None) -> str:
    """An explicit URL, else ``$MOODLENS_DB``, else the default SQLite file; a bare path is a
    SQLite file. ``postgres://`` (Heroku's and libpq's spelling) and a plain ``postgresql://``
    become ``postgresql+psycopg://``, the driver the ``[postgres]`` extra installs. Creates
    nothing."""
    chosen = os.fspath(url) if url else os.environ.get(ENV_URL) or ""
    if not chosen or chosen == "default":
        return f"sqlite:///{default_path()}"
    if "://" not in chosen:
        return f"sqlite:///{Path(chosen).expanduser().resolve()}"
    scheme, _, rest = chosen.partition("://")
    dialect, plus, driver = scheme.partition("+")
    if dialect.lower() in ("postgres", "postgresql"):
        return f"postgresql+{driver if plus else 'psycopg'}://{rest}"
    return chosen


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names (absolute); None for another backend, an in-memory database or
    a ``file:`` URI (which may say ``mode=ro``: it names the file itself)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if str(parsed.query.get("uri", "")).lower() in ("true", "1"):
        return None
    return Path(parsed.database).expanduser().absolute()


def require_existing(url: str) -> None:
    """Raise :class:`DatabaseNotFoundError` when ``url`` names a SQLite file that is not there."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        raise DatabaseNotFoundError(
            f"no history database at {path} (check the name; a recording with --db and --consent creates one)"
        )


def check_new_location(url: str) -> None:
    """Raise :class:`DatabaseNotFoundError` when a new SQLite file cannot be made where ``url``
    says because its folder does not exist (the default data folder is made when needed)."""
    path = sqlite_file(url)
    if path is None or path.exists() or path.parent.is_dir():
        return
    if path.parent == default_path().parent:
        return
    raise DatabaseNotFoundError(
        f"cannot create a history database at {path}: the folder {path.parent} does not exist "
        "(check the name, or create the folder first)"
    )


def display_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str, *, busy_timeout_ms: int = 10_000, **kwargs: Any) -> Engine:
    """An engine for ``url``; on SQLite a writer waits up to ``busy_timeout_ms`` for a lock."""
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)

            @event.listens_for(engine, "connect")
            def _sqlite_settings(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                # NORMAL sync is crash-safe in WAL mode (a kill -9 loses no committed
                # transaction). WAL itself is a setting of the file, made once the file is known
                # to be a moodlens history (check_schema): a connection must not change a file
                # that is not ours.
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                cursor.close()

            return engine
        return create_engine(url, pool_pre_ping=True, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StoreError(f"{display_url(url)}: not a usable database URL: {exc}") from None
    except ImportError as exc:  # the URL's driver is not installed
        hint = " (PostgreSQL needs: pip install 'moodlens[postgres]')" if "postgres" in url else ""
        raise StoreError(f"{display_url(url)}: its database driver is missing: {exc}{hint}") from None


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema revision in the database; None for an empty database."""
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        if "alembic_version" not in tables:
            if tables:
                # Another program's database (or one made before schema versions): adding the
                # history's tables to it would change a file that is not moodlens's.
                shown = ", ".join(sorted(tables)[:4]) + (", ..." if len(tables) > 4 else "")
                raise StoreError(
                    f"{display_url(str(engine.url))}: holds tables ({shown}) but no moodlens schema "
                    "version: it was not made by moodlens, which will not touch it; give another --db"
                )
            return None
        row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
        return None if row is None else str(row[0])


def check_schema(engine: Engine, *, create: bool = True) -> None:
    """Create the schema in an empty database, accept the current revision, refuse the rest."""
    where = display_url(str(engine.url))
    try:
        revision = current_revision(engine)
    except OperationalError as exc:
        raise StoreError(f"{where}: cannot open the database ({exc.orig})") from None
    except DatabaseError as exc:
        raise StoreError(f"{where}: not a database moodlens can read ({exc.orig})") from None
    if revision == SCHEMA_REVISION:
        _use_wal(engine)
        return
    if revision is None:
        if not create:
            raise StoreError(f"{where}: the database is empty (no moodlens history yet)")
        migrate(engine)
        _use_wal(engine)
        return
    known = _known_revisions()
    if revision in known:
        raise StoreError(
            f"{where}: the history schema is at revision {revision}, this moodlens needs {SCHEMA_REVISION}. "
            f"Back the database up, then run: moodlens history migrate --db {where}"
        )
    raise StoreError(
        f"{where}: the history schema is at revision {revision}, which this moodlens does not know "
        f"(it knows up to {SCHEMA_REVISION}): it was written by a newer moodlens; upgrade moodlens"
    )


def _use_wal(engine: Engine) -> None:
    """SQLite in WAL mode: readers never block the writer. The mode is kept in the file, so this
    changes it once, and only a file that holds a moodlens history."""
    if engine.dialect.name != "sqlite":
        return  # an in-memory database answers "memory" and stays as it is
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    except OperationalError as exc:
        raise StoreError(f"{display_url(str(engine.url))}: cannot open the database ({exc.orig})") from None


def _known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(_MIGRATIONS))
    return {rev.revision for rev in script.walk_revisions()}


def migrate(engine: Engine) -> str:
    """Bring the database to the current schema revision; returns the revision."""
    from alembic import command

    where = display_url(str(engine.url))
    try:
        current_revision(engine)  # refuses another program's database before changing anything
    except OperationalError as exc:
        raise StoreError(f"{where}: cannot open the database ({exc.orig})") from None
    except DatabaseError as exc:
        raise StoreError(f"{where}: not a database moodlens can read ({exc.orig})") from None
    try:
        with engine.connect() as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:
                # Rebuilding a SQLite table drops the old one, and with foreign keys on, dropping
                # sessions would cascade to their intervals. The pragma only works outside a
                # transaction, so it is set before the migration's own transaction begins.
                conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                conn.commit()
            with conn.begin():
                command.upgrade(_alembic_config(conn), "head")
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                conn.commit()
                if broken:
                    raise StoreError(f"{where}: the migration left {len(broken)} row(s) without a session")
    except SQLAlchemyError as exc:
        raise StoreError(f"{where}: migration failed ({exc})") from None
    return SCHEMA_REVISION
