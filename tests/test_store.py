"""History store tests against a real SQLite file and a real PostgreSQL server (no mocks).

PostgreSQL: set MOODLENS_TEST_POSTGRES_URL to a server where the role may create databases
(.ci/run starts one); without it those cases skip with the reason.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from conftest import sigkill_after_commits

pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")

from sqlalchemy import create_engine, text

from moodlens.cli.main import main
from moodlens.labels import Expression
from moodlens.results import Box, Detection, Face, FrameResult
from moodlens.store import (
    HistoryStore,
    HistoryWriter,
    StoreError,
    WriterSettings,
    valence_index,
)
from moodlens.store.database import SCHEMA_REVISION
from moodlens.store.schema import Base

HAPPY = np.array([0.02, 0.02, 0.02, 0.8, 0.04, 0.05, 0.05], dtype=np.float32)
SAD = np.array([0.02, 0.02, 0.02, 0.04, 0.8, 0.05, 0.05], dtype=np.float32)

# The fixtures db_url (a SQLite file, then a scratch PostgreSQL database) and store are in conftest.py.


def _frame(t: float, faces: list[tuple[int, np.ndarray]]) -> FrameResult:
    return FrameResult(
        tuple(
            Face(
                Detection(Box(0, 0, 10, 10), 0.9),
                p,
                track_id=tid,
                smoothed=p,
                stable=Expression(int(np.argmax(p))),
            )
            for tid, p in faces
        ),
        320,
        240,
        timestamp_ms=t,
        frame_index=int(t // 33),
    )


def _stream(writer: HistoryWriter, seconds: float, fps: float = 30.0) -> None:
    for i in range(int(seconds * fps)):
        t = i * 1000 / fps
        faces = [(1, HAPPY if t < 2000 else SAD)]
        if 1000 <= t < 3000:
            faces.append((2, SAD))
        writer.write(_frame(t, faces))


def test_empty_store(store: HistoryStore) -> None:
    assert store.list_sessions() == []
    assert store.distribution() == []
    with pytest.raises(StoreError, match="no session 42"):
        store.get_session(42)


def test_a_recorded_session_reads_back(store: HistoryStore) -> None:
    with HistoryWriter.start(store, name="walk", source="test", consent=True) as writer:
        _stream(writer, 4.0)
    info = store.get_session(writer.session_id)
    assert (info.name, info.source, info.consent_given, info.tracks) == ("walk", "test", True, 2)
    assert info.ended_at is not None and info.consent_at is not None
    assert info.frames == 120 + 60
    timeline = store.timeline(writer.session_id, track_id=1)
    assert [i.start_ms // 1000 for i in timeline] == [0, 1, 2, 3]
    assert [i.dominant for i in timeline] == ["happy", "happy", "sad", "sad"]
    assert timeline[0].frames == 30
    assert timeline[0].probabilities["happy"] == pytest.approx(0.8, abs=1e-6)
    assert len(store.timeline(writer.session_id, track_id=2)) == 2
    (bucket,) = store.distribution(period="session", session_id=writer.session_id)
    assert bucket.frames == 180
    assert bucket.dominant_shares["sad"] == pytest.approx(120 / 180)
    assert bucket.valence == pytest.approx(valence_index(bucket.mean_probabilities))


def test_no_images_or_geometry_are_stored(store: HistoryStore) -> None:
    columns = {c.name for table in Base.metadata.tables.values() for c in table.columns}
    assert not columns & {"image", "crop", "embedding", "pixels", "x1", "y1", "x2", "y2", "landmarks"}


def test_frame_rows_only_when_asked(store: HistoryStore) -> None:
    with HistoryWriter.start(store, consent=True) as off:
        _stream(off, 1.0)
    with HistoryWriter.start(store, consent=True, settings=WriterSettings(frame_rows=True)) as on:
        _stream(on, 1.0)
    assert store.frames(off.session_id) == []
    assert len(store.frames(on.session_id)) == 30
    assert store.get_session(on.session_id).frame_rows


def test_distribution_by_day_and_week(store: HistoryStore) -> None:
    monday = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    for day, probs in ((0, HAPPY), (1, SAD), (8, HAPPY)):
        started = monday + timedelta(days=day)
        sid = store.start_session(consent=True, started_at=started)
        writer = HistoryWriter(store, sid, started)
        for i in range(30):
            writer.write(_frame(i * 33.3, [(1, probs)]))
        writer.close()
    days = store.distribution(period="day")
    assert [b.key for b in days] == ["2026-11-23", "2026-11-24", "2026-12-01"]
    weeks = store.distribution(period="week")
    assert [(b.key, b.frames) for b in weeks] == [("2026-11-23", 60), ("2026-11-30", 30)]
    assert weeks[0].valence == pytest.approx((valence_index(HAPPY) + valence_index(SAD)) / 2, abs=1e-5)
    trends = store.trends(period="day", since=monday + timedelta(days=1))
    assert [t["key"] for t in trends] == ["2026-11-24", "2026-12-01"]


def test_valence_index_formula() -> None:
    assert valence_index(HAPPY) == pytest.approx(0.8 - 0.02 - 0.02 - 0.02 - 0.04)
    assert (
        valence_index(
            {"angry": 0, "disgust": 0, "fear": 0, "happy": 0, "sad": 0, "surprise": 1, "neutral": 0}
        )
        == 0
    )
    assert -1 <= valence_index(SAD) <= 1


def test_export_delete_and_corrections(store: HistoryStore) -> None:
    with HistoryWriter.start(store, name="a", consent=True) as writer:
        _stream(writer, 2.0)
    sid = writer.session_id
    cid = store.add_correction(
        sid, track_id=1, start_ms=0, end_ms=1000, wrong_label="sadness", correct_label="happy"
    )
    with pytest.raises(ValueError, match="unknown expression"):
        store.add_correction(sid, track_id=1, start_ms=0, end_ms=1, wrong_label="meh")
    data = json.loads(store.export(sid, "json"))
    assert data["session"]["name"] == "a"
    assert len(data["intervals"]) == 3
    assert data["corrections"][0]["id"] == cid and data["corrections"][0]["wrong_label"] == "sad"
    csv_text = store.export(sid, "csv")
    assert csv_text.splitlines()[0].startswith("session_id,session_name,track_id")
    assert len(csv_text.splitlines()) == 4
    store.delete_session(sid)
    assert store.list_sessions() == []
    with pytest.raises(StoreError):
        store.export(sid)
    with store.engine.connect() as conn:
        for table in ("intervals", "frames", "corrections"):
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 0


def test_retention_deletes_only_old_sessions(store: HistoryStore) -> None:
    old = store.start_session(started_at=datetime.now(UTC) - timedelta(days=40))
    new = store.start_session()
    for sid in (old, new):
        store.end_session(sid)
    assert store.apply_retention(0) == 0
    assert store.apply_retention(30) == 1
    assert [s.id for s in store.list_sessions()] == [new]
    assert old != new
    assert store.purge(everything=True) == 1


def test_a_session_being_recorded_survives_retention_and_purge(store: HistoryStore) -> None:
    """A camera recording for longer than the retention period, or a purge typed while the server
    records, keeps the live session (its writer is this process, which runs); it goes at the first
    purge after it ends. A session not ended whose process died is not protected."""
    from sqlalchemy import update

    from moodlens.store.schema import SessionRow

    long_running = store.start_session(started_at=datetime.now(UTC) - timedelta(days=40))
    assert store.recording_sessions() == [long_running]
    assert store.apply_retention(30) == 0 and store.purge(everything=True) == 0
    assert [s.id for s in store.list_sessions()] == [long_running]
    store.end_session(long_running)
    assert store.recording_sessions() == []
    assert store.apply_retention(30) == 1
    dead = store.start_session()
    with store.engine.begin() as conn:  # its process is gone (a pid that cannot exist)
        conn.execute(update(SessionRow).where(SessionRow.id == dead).values(owner="no-such-host-x:1:1"))
    assert store.recording_sessions() == [dead]  # another host's process cannot be asked: kept
    with store.engine.begin() as conn:
        conn.execute(
            update(SessionRow)
            .where(SessionRow.id == dead)
            .values(owner=f"{socket.gethostname()}:999999999:1")
        )
    assert store.recording_sessions() == [] and store.purge(everything=True) == 1


def test_schema_version_mismatch_is_refused(db_url: str) -> None:
    HistoryStore(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    with pytest.raises(StoreError, match="revision 0999, which this moodlens does not know"):
        HistoryStore(db_url)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE alembic_version SET version_num = '{SCHEMA_REVISION}'"))
    engine.dispose()
    HistoryStore(db_url).close()


@pytest.mark.parametrize("table", ["sessions", "notes"])
def test_foreign_tables_are_not_touched(tmp_path: Path, table: str) -> None:
    """Another program's SQLite file, whatever its tables, is refused by every way in (a read,
    a recording that would create the schema, a migration) and left byte for byte as it was: no
    history tables added, not even its journal mode changed."""
    from moodlens.store.database import make_engine, migrate

    path = tmp_path / "other.sqlite3"
    url = f"sqlite:///{path}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, what TEXT)"))
    engine.dispose()
    before = path.read_bytes()
    for open_it in (lambda: HistoryStore(url), lambda: HistoryStore(url, create=False)):
        with pytest.raises(StoreError, match=f"holds tables \\({table}\\).*was not made by moodlens"):
            open_it()
    with pytest.raises(StoreError, match="was not made by moodlens"):
        migrate(make_engine(url))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.sqlite3"]


def test_unreachable_database_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match=r"cannot open the database|not a usable database URL"):
        HistoryStore("postgresql+psycopg://nobody:x@127.0.0.1:1/none")


@pytest.mark.parametrize("how", ["path", "uri"])
def test_sqlite_file_is_in_wal_mode(tmp_path: Path, how: str) -> None:
    where = tmp_path / "h.sqlite3"
    url = where if how == "path" else f"sqlite:///file:{where}?mode=rwc&uri=true"
    store = HistoryStore(url, create=True)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    store.close()


def _lock(path: Path, seconds: float) -> threading.Thread:
    import sqlite3

    ready = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, timeout=5)
        conn.execute("BEGIN EXCLUSIVE")
        ready.set()
        time.sleep(seconds)
        conn.rollback()
        conn.close()

    thread = threading.Thread(target=hold)
    thread.start()
    ready.wait()
    return thread


def test_locked_database_buffers_then_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, busy_timeout_ms=100)
    writer = HistoryWriter.start(store, consent=True, settings=WriterSettings(commit_every_ms=100))
    locker = _lock(path, 1.5)
    _stream(writer, 3.0)
    time.sleep(0.5)
    locker.join()
    writer.close()
    assert writer.error is None
    assert writer.stats.retries > 0
    assert store.get_session(writer.session_id).frames == 90 + 60
    store.close()


def test_locked_database_with_stop_policy_stops_the_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, busy_timeout_ms=100)
    writer = HistoryWriter.start(
        store, consent=True, settings=WriterSettings(commit_every_ms=50, on_error="stop")
    )
    locker = _lock(path, 2.0)

    def feed() -> None:
        for i in range(10_000):
            writer.write(_frame(i * 33.3, [(1, HAPPY)]))
            time.sleep(0.002)

    with pytest.raises(StoreError, match="cannot write the history"):
        feed()
    locker.join()
    writer.close()
    store.close()


def test_buffer_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = HistoryStore(path, busy_timeout_ms=50)
    settings = WriterSettings(commit_every_ms=20, frame_rows=True, max_buffer=100)
    writer = HistoryWriter.start(store, consent=True, settings=settings)
    locker = _lock(path, 1.0)
    _stream(writer, 10.0)
    time.sleep(0.8)
    locker.join()
    writer.close()
    assert writer.stats.dropped > 0
    store.close()


CRASH_WRITER = """
import sys, time, numpy as np
from moodlens.store import HistoryStore, HistoryWriter, WriterSettings
from moodlens.labels import Expression
from moodlens.results import Box, Detection, Face, FrameResult
store = HistoryStore(sys.argv[1])
settings = WriterSettings(interval_ms=100, commit_every_ms=100)
writer = HistoryWriter.start(store, consent=True, settings=settings)
p = np.array([0.02, 0.02, 0.02, 0.8, 0.04, 0.05, 0.05], dtype=np.float32)
seen, i = 0, 0
while True:
    faces = tuple(Face(Detection(Box(0, 0, 9, 9), 0.9), p, track_id=t, smoothed=p, stable=Expression.HAPPY)
                  for t in (1, 2, 3))
    writer.write(FrameResult(faces, 10, 10, timestamp_ms=i * 10.0))
    i += 1
    if writer.stats.intervals != seen:
        seen = writer.stats.intervals
        print("committed", seen, flush=True)
    time.sleep(0.001)
"""


@pytest.mark.slow
def test_sigkill_mid_stream_keeps_every_committed_interval(db_url: str, tmp_path: Path) -> None:
    HistoryStore(db_url).close()
    committed = sigkill_after_commits(CRASH_WRITER, db_url, timeout_s=30)
    store = HistoryStore(db_url)
    if db_url.startswith("sqlite"):
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    (session,) = store.list_sessions()
    # Killed mid-recording: the next open closes it at its last interval, marked interrupted.
    assert session.interrupted and session.ended_at is not None
    assert session.media_ms is not None and session.ended_at >= session.started_at
    assert session.intervals >= committed
    store.close()


def test_history_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.sqlite3")
    store = HistoryStore(db)
    with HistoryWriter.start(store, name="cli", source="test", consent=True) as writer:
        _stream(writer, 2.0)
    store.close()
    assert main(["history", "--db", db, "list"]) == 0
    assert "cli / test" in capsys.readouterr().out
    assert main(["history", "--db", db, "show", str(writer.session_id)]) == 0
    out = capsys.readouterr().out
    assert "valence index" in out and "track 1" in out
    export = tmp_path / "s.csv"
    assert main(["history", "--db", db, "export", "1", "--format", "csv", "--out", str(export)]) == 0
    assert export.read_text().startswith("session_id")
    assert (
        main(
            [
                "history",
                "--db",
                db,
                "correct",
                "1",
                "--track",
                "1",
                "--start-ms",
                "0",
                "--end-ms",
                "999",
                "--not",
                "sad",
                "--is",
                "neutral",
            ]
        )
        == 0
    )
    assert main(["history", "--db", db, "trends", "--period", "week"]) == 0
    capsys.readouterr()
    for verb in (["purge", "--all"], ["delete", "1"]):  # no terminal to confirm on: nothing assumed
        assert main(["history", "--db", db, *verb]) == 2
        said = f"moodlens history {verb[0]}: error: pass --yes to confirm (no terminal to ask)"
        assert capsys.readouterr().err.strip() == said
    assert main(["history", "--db", db, "delete", "1", "--yes"]) == 0
    assert main(["history", "--db", db, "show", "1"]) == 1
    assert "no session 1" in capsys.readouterr().err
    assert main(["history", "--db", db, "migrate"]) == 0


def test_video_cli_records_history(media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.sqlite3")
    clip = str(media / "short_hamilton_clip.mp4")
    assert main(["video", clip, "--db", db]) == 2
    assert "--consent" in capsys.readouterr().err
    assert (
        main(["video", clip, "--db", db, "--consent", "--session-name", "clip", "--detect-every", "3"]) == 0
    )
    store = HistoryStore(db)
    (session,) = store.list_sessions()
    assert session.name == "clip" and session.consent_given and session.tracks >= 1
    store.close()


@pytest.mark.slow
def test_summary_timeline_and_history_tell_one_story(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the real singer clip: no track spans the shot cut at 7.0 s, and the printed summary, the
    timeline file and the stored history agree on every person's dominant expression and time on
    screen (media time: nobody is on screen longer than the clip)."""
    import csv
    import json

    from moodlens.summary import summaries_from_rows

    db, timeline, summary = tmp_path / "h.sqlite3", tmp_path / "t.csv", tmp_path / "s.json"
    clip = str(media / "short_hamilton_clip.mp4")
    argv = [
        "video",
        clip,
        "--db",
        str(db),
        "--consent",
        "--timeline",
        str(timeline),
        "--summary",
        str(summary),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    from_run = {t["track_id"]: t for t in json.loads(summary.read_text())["tracks"]}
    from_timeline = {s.track_id: s for s in summaries_from_rows(csv.DictReader(timeline.open()))}
    store = HistoryStore(str(db))
    (session,) = store.list_sessions()
    from_history = {p.track_id: p for p in store.people(session.id)}
    assert set(from_run) == set(from_timeline) == set(from_history) and from_run
    for track_id, run in from_run.items():
        for other in (from_timeline[track_id], from_history[track_id]):
            assert other.dominant == run["dominant"], track_id
            assert other.duration_ms == pytest.approx(run["duration_ms"], abs=1.0), track_id
        assert f"track {track_id}: " in printed
    rows = list(csv.DictReader(timeline.open()))
    cut_ms = 7040.4
    for track_id in from_run:
        times = [float(r["timestamp_ms"]) for r in rows if r["track_id"] == str(track_id)]
        assert max(times) < cut_ms or min(times) >= cut_ms, f"track {track_id} spans the cut"
    assert session.media_ms is not None and 9000 <= session.media_ms <= 9400
    assert (
        sum(p.duration_ms for p in from_history.values()) <= 2 * session.media_ms
    )  # at most 2 faces at once
    store.close()


def test_a_live_recording_is_not_taken_for_an_interrupted_one(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    store = HistoryStore(db)
    sid = store.start_session(name="live", consent=True)
    again = HistoryStore(db)  # this process is alive: its session stays open
    assert again.closed_interrupted == 0 and again.get_session(sid).ended_at is None
    again.close()
    store.close()


def test_a_failed_first_creation_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moodlens.store import database

    target = tmp_path / "new.sqlite3"

    def full_disk(engine: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(database, "migrate", full_disk)
    with pytest.raises(OSError, match="No space left"):
        HistoryStore(f"sqlite:///{target}")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    store = HistoryStore(f"sqlite:///{target}")  # the next try starts clean
    assert store.list_sessions() == []
    store.close()


def test_exported_names_are_not_spreadsheet_formulas(store: HistoryStore) -> None:
    with HistoryWriter.start(store, name='=HYPERLINK("http://x")', consent=True) as writer:
        _stream(writer, 1.0)
    row = store.export(writer.session_id, "csv").splitlines()[1]
    assert "'=HYPERLINK" in row


def test_session_ids_are_never_reused(store: HistoryStore) -> None:
    first = store.start_session(name="a", consent=True)
    store.delete_session(first)
    second = store.start_session(name="b", consent=True)
    assert second > first


def test_export_of_every_session(store: HistoryStore) -> None:
    import json

    assert store.export_all("csv") == store.export_header()
    ids = []
    for name in ("a", "b"):
        with HistoryWriter.start(store, name=name, consent=True) as writer:
            _stream(writer, 1.0)
        ids.append(writer.session_id)
    everything = json.loads(store.export_all("json"))
    assert [e["session"]["id"] for e in everything] == ids
    lines = store.export_all("csv").splitlines()
    assert lines[0].startswith("session_id,") and lines.count(lines[0]) == 1
    assert {line.split(",")[0] for line in lines[1:]} == {str(i) for i in ids}


def test_a_0_1_database_is_migrated_with_its_history(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A database written by moodlens 0.1 (schema 0001) is refused until migrated; the migration
    keeps every row and gives old intervals their span as the shown time of their dominant label."""
    from alembic import command
    from sqlalchemy import text

    from moodlens.store.database import _alembic_config, make_engine

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(
            text(
                "INSERT INTO sessions (id, name, source, started_at, consent_given, frame_rows) "
                "VALUES (1, 'old', 'video x', '2026-11-01 10:00:00', 1, 0)"
            )
        )
        probs = ", ".join(["0.1"] * 6 + ["0.4"])
        conn.execute(
            text(
                "INSERT INTO intervals (session_id, track_id, start_ms, end_ms, start_at, frames, p_angry, "
                "p_disgust, p_fear, p_happy, p_sad, p_surprise, p_neutral, dominant) "
                f"VALUES (1, 1, 0, 967, '2026-11-01 10:00:00', 30, {probs}, 'neutral')"
            )
        )
    engine.dispose()
    assert main(["history", "--db", url, "list"]) == 1
    assert "moodlens history migrate" in capsys.readouterr().err
    assert main(["history", "--db", url, "migrate"]) == 0
    store = HistoryStore(url)
    (person,) = store.people(1)
    assert person.dominant == "neutral" and person.duration_ms == pytest.approx(1000)
    assert store.start_session(name="new") == 2
    store.close()


def test_exporting_everything_while_a_session_is_deleted(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session deleted between the list of sessions and its turn in "export all" is left out
    (the export is of the sessions there are), instead of failing the whole export."""
    ids = []
    for name in ("kept", "gone"):
        with HistoryWriter.start(store, name=name, consent=True) as writer:
            _stream(writer, 1.0)
        ids.append(writer.session_id)
    listed = store.list_sessions()
    store.delete_session(ids[1])
    monkeypatch.setattr(store, "list_sessions", lambda: listed)  # read before the delete
    exported = json.loads(store.export_all("json"))
    assert [e["session"]["name"] for e in exported] == ["kept"]
    rows = store.export_all("csv").splitlines()
    assert len(rows) > 1 and all(row.split(",")[0] == str(ids[0]) for row in rows[1:])


def test_a_correction_racing_the_session_s_delete_is_no_session(
    store: HistoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The insert's foreign key fails when the session went after the checks (SQLite opens the
    write transaction at the first write): that is "no session N", a 404, not a crash."""
    from sqlalchemy.exc import IntegrityError

    from moodlens.store import corrections

    with HistoryWriter.start(store, name="a", consent=True) as writer:
        _stream(writer, 2.0)
    sid = writer.session_id

    def failed_key(*_: object) -> None:
        raise IntegrityError("INSERT INTO corrections", {}, Exception("FOREIGN KEY constraint failed"))

    # The session is still there: what went was the profile the correction would teach.
    monkeypatch.setattr(corrections, "_check_recorded", failed_key)
    with pytest.raises(StoreError, match=f"session {sid}: its profile was deleted .*send it again"):
        store.add_correction(sid, track_id=1, start_ms=0, end_ms=1000, wrong_label="sad")
    assert store.corrections(sid) == []

    def deleted_meanwhile(*args: object) -> None:
        store.delete_session(sid)  # by another connection, after this one's checks
        failed_key(*args)

    monkeypatch.setattr(corrections, "_check_recorded", deleted_meanwhile)
    with pytest.raises(StoreError, match=f"no session {sid} .*deleted meanwhile") as caught:
        store.add_correction(sid, track_id=1, start_ms=0, end_ms=1000, wrong_label="sad")
    pytest.importorskip("fastapi", reason="the answer's status is the web app's ([serve] extra)")
    from moodlens.service.app import store_failure

    assert store_failure(caught.value) == (404, f"no session {sid}")


@pytest.mark.parametrize("name", ["a\x1b[31mred", "two\nlines", "x\u2028y", "x\ud800", "n" * 201, 7])
def test_a_session_name_a_terminal_would_obey_is_refused(store: HistoryStore, name: object) -> None:
    with pytest.raises(ValueError, match="session name"):
        store.start_session(name=name, consent=True)  # type: ignore[arg-type]
    assert store.list_sessions() == []
    assert store.get_session(store.start_session(name="Zoë — take 2", consent=True)).name == "Zoë — take 2"


def test_the_writer_keeps_only_the_people_on_screen(store: HistoryStore) -> None:
    """A long session where many people pass: the writer forgets each one once their last
    interval is written, so its memory and its work per frame follow who is on screen now, and
    every interval still reaches the database."""
    with HistoryWriter.start(store, name="street", consent=True) as writer:
        for i in range(600):  # 20 s at 30 frames/s, a new person every 10 frames, each on for 10
            writer.write(_frame(i * 1000 / 30, [(1 + i // 10, HAPPY)]))
            assert len(writer._active) <= 4 and len(writer._open) <= 5  # on screen, or gone < 0.5 s
    tracks = {i.track_id for i in store.timeline(writer.session_id, include_hidden=True)}
    assert tracks == set(range(1, 61))
    assert sum(i.frames for i in store.timeline(writer.session_id, include_hidden=True)) == 600


def test_two_first_recordings_at_once_share_one_new_database(tmp_path: Path) -> None:
    """Three processes make the same new SQLite file at the same moment: one file is put in place,
    the others are dropped, and what each then writes is in it (a rename would have replaced a
    database under the process already writing to it)."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'new.sqlite3'}"
    code = (
        "import sys, time, pathlib\n"
        "from moodlens.store import HistoryStore\n"
        "go = pathlib.Path(sys.argv[2])\n"
        "while not go.exists(): time.sleep(0.005)\n"
        "store = HistoryStore(sys.argv[1], create=True, busy_timeout_ms=20_000)\n"
        "store.create_profile(sys.argv[3], consent=True)\n"
        "store.close()\n"
    )
    for attempt in range(3):
        (tmp_path / "new.sqlite3").unlink(missing_ok=True)
        go = tmp_path / f"go{attempt}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, url, str(go), f"p{i}"], stderr=subprocess.PIPE, text=True
            )
            for i in range(3)
        ]
        time.sleep(3)  # every process has imported moodlens and waits
        go.touch()
        errs = [proc.communicate(timeout=120)[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0, 0, 0], (attempt, errs)
        store = HistoryStore(url)
        assert sorted(p.name for p in store.list_profiles()) == ["p0", "p1", "p2"], attempt
        store.close()
        assert [p.name for p in tmp_path.iterdir() if "creating" in p.name] == []


def test_a_person_back_for_one_sighting_keeps_their_frame_period(store: HistoryStore) -> None:
    """A person seen every 100 ms, gone for over the gap, then seen once: that sighting lasts their
    last frame period (100 ms), not the default 33 ms, in the history as in the live summary."""
    with HistoryWriter.start(store, name="back", consent=True) as writer:
        for i in range(6):
            writer.write(_frame(i * 100.0, [(1, HAPPY), (2, SAD)]))
        for t in range(600, 4000, 100):
            writer.write(_frame(float(t), [(2, SAD)] + ([(1, HAPPY)] if t == 2300 else [])))
    back = [i for i in store.timeline(writer.session_id) if i.track_id == 1 and i.start_ms == 2300]
    assert len(back) == 1 and back[0].frames == 1
    assert back[0].shown_ms["happy"] == pytest.approx(100.0)


def test_history_delete_asks_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import builtins
    import sys

    db = str(tmp_path / "h.sqlite3")
    store = HistoryStore(db, create=True)
    with HistoryWriter.start(store, consent=True) as writer:
        writer.write(FrameResult((), 320, 240, timestamp_ms=0.0))
    store.close()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    asked: list[str] = []
    answers = iter(["no", "y"])
    monkeypatch.setattr(builtins, "input", lambda prompt: asked.append(prompt) or next(answers))
    sid = str(writer.session_id)
    assert main(["history", "--db", db, "delete", sid]) == 1
    assert capsys.readouterr().out.strip() == "nothing deleted"
    assert main(["history", "--db", db, "show", sid]) == 0
    assert main(["history", "--db", db, "delete", sid]) == 0
    assert asked[0].startswith(f"delete session {sid} and everything recorded in it from ")
    assert asked[0].endswith("h.sqlite3? [y/N] ")
    capsys.readouterr()
    assert main(["history", "--db", db, "show", sid]) == 1
