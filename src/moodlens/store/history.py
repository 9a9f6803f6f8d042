"""The history store: one object over one database, composed of parts with one job each:

- :mod:`~moodlens.store.sessions`: starting, ending and closing sessions, their rows, deletion;
- :mod:`~moodlens.store.corrections`: a person's corrections of what a session read;
- :mod:`~moodlens.store.profiles`: opt-in personal calibrations, in label space only;
- :mod:`~moodlens.store.people` (and its in-memory :mod:`~moodlens.store.grouping`): which tracks are
  one person, hidden tracks, nicknames (with consent);
- :mod:`~moodlens.store.queries`: timelines, distributions, trends, exports;

over :class:`~moodlens.store.base.StoreBase`, which holds the engine."""

from __future__ import annotations

import os

from sqlalchemy import Engine

# create_sqlite_atomically, process_alive, spreadsheet_safe, this_process and Period were defined
# here before the store was split into parts: they are still importable from here.
from moodlens.store.base import (  # noqa: F401
    create_sqlite_atomically,
    process_alive,
    spreadsheet_safe,
    this_process,
)
from moodlens.store.corrections import CorrectionInfo, CorrectionsMixin
from moodlens.store.people import PeopleMixin, Person
from moodlens.store.profiles import ProfilesMixin
from moodlens.store.queries import Bucket, IntervalInfo, Period, QueriesMixin  # noqa: F401
from moodlens.store.sessions import SessionInfo, SessionsMixin
from moodlens.summary import VALENCE_WEIGHTS, valence_index

__all__ = [
    "VALENCE_WEIGHTS",
    "Bucket",
    "CorrectionInfo",
    "HistoryStore",
    "IntervalInfo",
    "Person",
    "SessionInfo",
    "valence_index",
]


class HistoryStore(QueriesMixin, PeopleMixin, CorrectionsMixin, SessionsMixin, ProfilesMixin):
    """A history database. ``HistoryStore(url)`` opens (and if empty creates) it; a database at
    another schema revision is refused with instructions (see
    :func:`moodlens.store.database.check_schema`). Opening it closes the sessions whose recording
    process died (``closed_interrupted`` says how many)."""

    def __init__(
        self,
        url: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        engine: Engine | None = None,
        busy_timeout_ms: int = 10_000,
    ) -> None:
        super().__init__(url, create=create, engine=engine, busy_timeout_ms=busy_timeout_ms)
        self.closed_interrupted = self.close_interrupted()
