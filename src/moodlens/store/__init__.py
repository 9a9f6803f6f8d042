"""History of apparent expressions over time, in a real database (SQLite by default,
PostgreSQL for servers). Only labels and probabilities are stored: never images, crops, face
geometry or embeddings. Needs the ``[store]`` extra (SQLAlchemy, Alembic)."""

from moodlens.store.database import SCHEMA_REVISION, StoreError, default_path, migrate, resolve_url
from moodlens.store.history import (
    VALENCE_WEIGHTS,
    Bucket,
    CorrectionInfo,
    HistoryStore,
    IntervalInfo,
    Person,
    SessionInfo,
    valence_index,
)
from moodlens.store.writer import HistoryWriter, WriterSettings

__all__ = [
    "SCHEMA_REVISION",
    "VALENCE_WEIGHTS",
    "Bucket",
    "CorrectionInfo",
    "HistoryStore",
    "HistoryWriter",
    "IntervalInfo",
    "Person",
    "SessionInfo",
    "StoreError",
    "WriterSettings",
    "default_path",
    "migrate",
    "resolve_url",
    "valence_index",
]
