"""What every part of the history store shares: the engine and its sessionmaker, how a refused
write becomes a :class:`StoreError`, and a few helpers (the clock, the recording process, creating
a SQLite file atomically, spreadsheet-safe text)."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from moodlens.store.database import (
    StoreError,
    check_new_location,
    check_schema,
    default_path,
    display_url,
    make_engine,
    require_existing,
    resolve_url,
    sqlite_file,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks (Linux), so a reused pid is not taken for it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def this_process() -> str:
    """``host:pid:start`` of the running process."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def process_alive(owner: str) -> bool:
    """Whether the process named by ``owner`` still runs; True for another host (cannot tell)."""
    host, _, rest = owner.partition(":")
    pid_text, _, ticks = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return not ticks or _start_ticks(pid) in ("", ticks)


def _put_in_place(temporary: Path, target: Path) -> bool:
    """Move the new database to ``target`` unless another process made one there meanwhile
    (two first recordings at once): a hard link fails when the name exists, where a rename would
    replace the other process's database under it, and whatever it wrote with it. Returns whether
    this one was put in place."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        if target.stat().st_size > 0:
            return False  # the other one's: it is used, and ours is dropped
        os.replace(temporary, target)  # an empty file (touched by hand) is not a database
        return True
    except OSError:  # a file system without hard links: the rename, as before
        os.replace(temporary, target)
        return True
    temporary.unlink()
    return True


def create_sqlite_atomically(url: str) -> bool:
    """A new SQLite history file is built beside its destination and moved into place, so that a
    failure while creating it (a full disk) leaves nothing behind, not a half-made database.
    Returns whether it made one. A folder that does not exist is an error
    (:class:`~moodlens.store.database.DatabaseNotFoundError`: a mistyped name), except the
    default data folder, which is made."""
    from moodlens.store.database import migrate

    target = sqlite_file(url)  # None: not a SQLite file (a server, memory, a "file:" URI)
    if target is None or (target.exists() and target.stat().st_size > 0):
        return False
    check_new_location(url)
    if target.parent == default_path().parent:
        target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.creating-{os.getpid()}-{threading.get_ident()}")
    engine = make_engine(f"sqlite:///{temporary}")
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode=DELETE")
        migrate(engine)
        engine.dispose()
        return _put_in_place(temporary, target)
    except BaseException:
        engine.dispose()
        temporary.unlink(missing_ok=True)
        raise
    finally:
        temporary.unlink(missing_ok=True)  # left when another process's database was put first
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{temporary}{suffix}").unlink(missing_ok=True)


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet will not run: a leading =, +, -, @, tab or CR is quoted with '
    (OWASP's advice on CSV injection); names and sources are the only free text in an export."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class StoreBase:
    """Opens a history database; the mixins of :class:`HistoryStore` read and write through
    :meth:`_session`. With ``create`` (recording) a database that is not there is created
    (``created`` says so); without it (reading), a SQLite file that is not there is a
    :class:`~moodlens.store.database.DatabaseNotFoundError` and nothing is made. A database at
    another schema revision is refused with instructions (see
    :func:`moodlens.store.database.check_schema`)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        engine: Engine | None = None,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        self.url = resolve_url(url) if engine is None else engine.url.render_as_string(hide_password=False)
        #: Whether opening it created the database (a new SQLite file).
        self.created = False
        if engine is None and create:
            self.created = create_sqlite_atomically(self.url)
        elif engine is None:
            require_existing(self.url)
        self.engine = engine or make_engine(self.url, busy_timeout_ms=busy_timeout_ms)
        check_schema(self.engine, create=create)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def where(self) -> str:
        return display_url(self.url)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A write that the database refuses (read-only file or folder, full disk) is a StoreError."""
        from sqlalchemy.exc import OperationalError

        try:
            yield
        except OperationalError as exc:
            reason = str(exc.orig)
            if "readonly" in reason.replace(" ", "").lower():
                reason += "; the database file (or its folder) is read-only: check its permissions"
            raise StoreError(f"{self.where}: cannot write ({reason})") from None

    def _session(self) -> Session:
        return self._sessions()
