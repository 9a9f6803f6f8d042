"""The people of a session (moodlens.store.people): tracks merged into people, split back, named
with consent, hidden; counts, summaries and exports follow. On a real SQLite file and a real
PostgreSQL server (the ``store`` and ``db_url`` fixtures of conftest.py), never mocks."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")

from sqlalchemy import text

from moodlens.cli.main import main
from moodlens.labels import LABELS
from moodlens.store import HistoryStore, Person, StoreError
from moodlens.store.database import NotFoundError
from moodlens.store.people import check_nickname
from moodlens.summary import Tally, summarise

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def interval(sid: int, track: int, second: int, label: str, frames: int = 30) -> dict[str, Any]:
    """One second of one track showing ``label`` (0.8; the rest shared)."""
    row: dict[str, Any] = {
        "session_id": sid,
        "track_id": track,
        "start_ms": second * 1000,
        "end_ms": second * 1000 + 966,
        "start_at": T0,
        "frames": frames,
        "dominant": label,
        **{f"p_{n}": (0.8 if n == label else 0.2 / 6) for n in LABELS},
        **{f"t_{n}": (1000.0 if n == label else 0.0) for n in LABELS},
    }
    return row


#: A looping clip: the singer is tracks 1, 3 and 5 (she is lost at each loop), her pianist tracks 2
#: and 4, and track 6 is a face on a poster.
LOOP = {
    1: [(0, "happy"), (1, "happy")],
    2: [(0, "neutral"), (1, "neutral")],
    3: [(2, "happy"), (3, "sad")],
    4: [(2, "neutral")],
    5: [(4, "happy")],
    6: [(0, "angry"), (1, "angry"), (2, "angry"), (3, "angry"), (4, "angry")],
}


def recorded(
    store: HistoryStore, tracks: dict[int, list[tuple[int, str]]] = LOOP, *, end: bool = True
) -> int:
    sid = store.start_session(name="loop", consent=True, started_at=T0)
    store.insert([interval(sid, t, second, label) for t, spans in tracks.items() for second, label in spans])
    if end:
        store.end_session(sid, media_ms=5000)
    return sid


def rows(store: HistoryStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)


def numbers(store: HistoryStore, sid: int, **kwargs: bool) -> dict[int, tuple[int, ...]]:
    return {p.number: p.all_track_ids for p in store.people(sid, **kwargs)}


# --- reading --------------------------------------------------------------------------------------


def test_an_empty_session_has_nobody(store: HistoryStore) -> None:
    sid = store.start_session(consent=True)
    assert store.people(sid) == [] and store.track_summaries(sid) == []
    info = store.get_session(sid)
    assert (info.people, info.tracks, info.hidden_tracks) == (0, 0, 0)
    assert info.counts_text() == "0 people (0 tracks)"
    with pytest.raises(StoreError, match="no session 42"):
        store.people(42)
    with pytest.raises(StoreError, match="no session 42"):
        store.merge_tracks(42, [1, 2])


def test_each_track_is_its_own_person_until_merged(store: HistoryStore) -> None:
    sid = recorded(store)
    people = store.people(sid)
    assert [(p.number, p.track_ids, p.label, p.source) for p in people] == [
        (t, (t,), f"Person {t}", "auto") for t in range(1, 7)
    ]
    # One person per track: the figures are each track's own, as `moodlens video` printed them.
    for person, track in zip(people, store.track_summaries(sid), strict=True):
        assert person.summary == track
    assert store.get_session(sid).counts_text() == "6 people (6 tracks)"
    assert rows(store, "session_people") == rows(store, "session_tracks") == 0  # nothing stored


# --- merge, merge of merged, split -----------------------------------------------------------------


def test_merge_makes_one_person_and_is_idempotent(store: HistoryStore) -> None:
    sid = recorded(store)
    singer = store.merge_tracks(sid, [5, 3, 1])
    assert isinstance(singer, Person)
    assert (singer.number, singer.track_ids, singer.source, singer.label) == (
        1,
        (1, 3, 5),
        "user",
        "Person 1",
    )
    assert singer.tracks_text() == "#1 #3 #5"
    # Her summary is her tracks' intervals folded by the one rule (moodlens.summary).
    tallies = {s.track_id: s for s in store.track_summaries(sid)}
    assert singer.duration_ms == pytest.approx(sum(tallies[t].duration_ms for t in (1, 3, 5)))
    assert singer.frames == 5 * 30 and singer.dominant == "happy"
    assert singer.summary is not None and singer.summary.shares["happy"] == pytest.approx(4 / 5)
    assert (singer.first_ms, singer.last_ms) == (0, 4966)
    assert store.merge_tracks(sid, [1, 5]) == singer  # already one person: nothing changes
    assert store.merge_tracks(sid, [3, 5, 3]) == singer
    info = store.get_session(sid)
    assert (info.people, info.tracks) == (4, 6) and info.counts_text() == "4 people (6 tracks)"
    assert numbers(store, sid) == {1: (1, 3, 5), 2: (2,), 4: (4,), 6: (6,)}


def test_merging_people_merges_them_whole(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [3, 5])
    store.merge_tracks(sid, [2, 4])
    assert numbers(store, sid) == {1: (1,), 2: (2, 4), 3: (3, 5), 6: (6,)}
    # Naming one track of each person merges both people: a person takes its lowest track's number.
    merged = store.merge_tracks(sid, [5, 4])
    assert merged.track_ids == (2, 3, 4, 5)
    assert numbers(store, sid) == {1: (1,), 2: (2, 3, 4, 5), 6: (6,)}
    assert store.get_session(sid).people == 3


def test_merge_needs_two_tracks_the_session_has(store: HistoryStore) -> None:
    sid = recorded(store)
    with pytest.raises(ValueError, match="at least two tracks"):
        store.merge_tracks(sid, [3, 3])
    with pytest.raises(NotFoundError, match=r"session \d+ has no track 99; its tracks: 1, 2, 3, 4, 5, 6"):
        store.merge_tracks(sid, [1, 99])
    assert numbers(store, sid) == {t: (t,) for t in range(1, 7)}  # a refused merge changes nothing


def test_split_undoes_a_merge_for_one_track(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [1, 3, 5])
    store.rename_person(sid, 1, "Singer", consent=True)
    alone = store.split_track(sid, 3)
    assert (alone.number, alone.track_ids, alone.nickname) == (3, (3,), None)
    assert numbers(store, sid)[1] == (1, 5) and store.get_person(sid, 1).nickname == "Singer"
    # Splitting the track that numbers the person: the rest are renumbered, and keep the name.
    store.split_track(sid, 1)
    assert store.get_person(sid, 5).nickname == "Singer"
    assert store.get_person(sid, 1).nickname is None
    assert numbers(store, sid) == {t: (t,) for t in range(1, 7)}
    assert store.split_track(sid, 2).track_ids == (2,)  # alone already: nothing changes
    with pytest.raises(NotFoundError, match="no track 7"):
        store.split_track(sid, 7)


# --- nicknames: only with consent --------------------------------------------------------------------


def test_a_nickname_needs_consent_and_none_clears_it(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [1, 3])
    for refused in ({}, {"consent": False}):
        with pytest.raises(ValueError, match="confirm that the person agreed"):
            store.rename_person(sid, 1, "Singer", **refused)
    assert rows(store, "session_people") == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT nickname FROM session_people")).scalar() is None
    named = store.rename_person(sid, 1, "  Zoë  ", consent=True)
    assert (named.nickname, named.label) == ("Zoë", "Zoë")
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT nickname, consent_given, consent_at FROM session_people")).one()
    assert row[0] == "Zoë" and row[1] and row[2] is not None
    assert store.rename_person(sid, 1, None).nickname is None  # no consent needed to remove it
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT nickname, consent_given, consent_at FROM session_people")).one()
    assert tuple(row) == (None, False, None)
    # A lone track may be named too; its row goes when the name does.
    store.rename_person(sid, 6, "Poster", consent=True)
    assert store.get_person(sid, 6).label == "Poster"
    store.rename_person(sid, 6, None)
    assert rows(store, "session_people") == 1


@pytest.mark.parametrize("bad", ["", "   ", "x" * 65, "two\nlines", "tab\there"])
def test_bad_nicknames_say_what_a_nickname_may_be(store: HistoryStore, bad: str) -> None:
    sid = recorded(store)
    with pytest.raises(ValueError, match="1-64 characters"):
        store.rename_person(sid, 1, bad, consent=True)


def test_renaming_someone_who_is_not_there(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [1, 3])
    with pytest.raises(NotFoundError, match="no person 3: track 3 is part of person 1"):
        store.rename_person(sid, 3, "x", consent=True)
    with pytest.raises(NotFoundError, match="no person 40; its people: 1, 2, 4, 5, 6"):
        store.rename_person(sid, 40, "x", consent=True)
    assert check_nickname("Ann") == "Ann"


def test_merged_people_keep_the_lowest_named_persons_nickname(store: HistoryStore) -> None:
    sid = recorded(store)
    store.rename_person(sid, 3, "Singer", consent=True)
    assert store.merge_tracks(sid, [1, 3]).nickname == "Singer"  # person 1 had none
    store.rename_person(sid, 5, "Other", consent=True)
    assert store.merge_tracks(sid, [5, 1]).nickname == "Singer"
    assert rows(store, "session_people") == 1


# --- hiding ------------------------------------------------------------------------------------------


def test_hidden_tracks_leave_counts_lanes_summaries_and_exports(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [1, 3, 5])
    poster = store.hide_track(sid, 6)
    assert poster.hidden and poster.summary is None and poster.hidden_track_ids == (6,)
    store.hide_track(sid, 5)
    info = store.get_session(sid)
    assert (info.people, info.tracks, info.hidden_tracks) == (3, 6, 2)
    assert info.counts_text() == "3 people (6 tracks, 2 hidden)"
    assert numbers(store, sid) == {1: (1, 3, 5), 2: (2,), 4: (4,)}
    singer = store.get_person(sid, 1)
    assert singer.track_ids == (1, 3) and singer.hidden_track_ids == (5,) and singer.frames == 4 * 30
    assert 6 not in numbers(store, sid) and 6 in numbers(store, sid, include_hidden=True)
    everyone = {p.number: p for p in store.people(sid, include_hidden=True)}
    assert everyone[1].frames == 5 * 30 and everyone[6].frames == 5 * 30
    # Lanes (the timeline), the session's distribution and the exports leave them out too.
    assert {i.track_id for i in store.timeline(sid)} == {1, 2, 3, 4}
    assert {i.track_id for i in store.timeline(sid, include_hidden=True)} == set(range(1, 7))
    assert len(store.timeline(sid, track_id=6)) == 5  # asked for by id
    (bucket,) = store.distribution(period="session", session_id=sid)
    assert bucket.dominant_shares["angry"] == 0 and bucket.frames == 7 * 30
    (everything,) = store.distribution(period="session", session_id=sid, include_hidden=True)
    assert everything.frames == 13 * 30
    exported = list(csv.DictReader(io.StringIO(store.export(sid, "csv"))))
    assert {r["track_id"] for r in exported} == {"1", "2", "3", "4"}
    assert len(list(csv.DictReader(io.StringIO(store.export(sid, "csv", include_hidden=True))))) == 13
    data = json.loads(store.export(sid, "json"))
    assert [p["number"] for p in data["people"]] == [1, 2, 4] and data["session"]["hidden_tracks"] == 2
    # Shown again: back in.
    store.hide_track(sid, 6, False)
    store.hide_track(sid, 5, hidden=False)
    assert store.get_session(sid).counts_text() == "4 people (6 tracks)"
    with pytest.raises(NotFoundError, match="no track 8"):
        store.hide_track(sid, 8)


# --- exports, automatic linking, a recording session ------------------------------------------------


def test_the_export_carries_each_intervals_person(store: HistoryStore) -> None:
    sid = recorded(store)
    store.merge_tracks(sid, [1, 3, 5])
    store.rename_person(sid, 1, "=Singer", consent=True)
    table = list(csv.DictReader(io.StringIO(store.export(sid, "csv"))))
    assert list(table[0])[:5] == ["session_id", "session_name", "track_id", "person", "nickname"]
    persons = {(r["track_id"], r["person"], r["nickname"]) for r in table}
    assert persons == {
        ("1", "1", "'=Singer"),  # spreadsheet-safe
        ("3", "1", "'=Singer"),
        ("5", "1", "'=Singer"),
        ("2", "2", ""),
        ("4", "4", ""),
        ("6", "6", ""),
    }
    data = json.loads(store.export(sid, "json"))
    assert {(i["track_id"], i["person"]) for i in data["intervals"]} >= {(3, 1), (4, 4)}
    singer = data["people"][0]
    assert (singer["number"], singer["label"], singer["track_ids"]) == (1, "=Singer", [1, 3, 5])
    assert singer["track_id"] == 1 and singer["dominant"] == "happy"
    assert data["session"]["people"] == 4 and data["session"]["tracks"] == 6
    everything = store.export_all("csv")
    assert everything.splitlines()[0] == store.export_header().strip()


def test_link_people_groups_tracks_but_never_undoes_a_user(store: HistoryStore) -> None:
    sid = recorded(store)
    store.split_track(sid, 2)  # alone already: nothing to record
    store.merge_tracks(sid, [4, 6])  # a user's decision...
    store.split_track(sid, 6)  # ...and its undo: track 6 stays on its own
    # Tracks 4 and 6 were a user's to sort: linking leaves them; 7 and 8 have nothing recorded.
    made = store.link_people(sid, [[1, 3, 5], [2, 4, 6], [7, 8]])
    assert [(p.number, p.track_ids, p.source) for p in made] == [(1, (1, 3, 5), "linked")]
    assert store.link_people(sid, [[1, 3, 5]]) == made  # idempotent
    assert numbers(store, sid) == {1: (1, 3, 5), 2: (2,), 4: (4,), 6: (6,)}
    assert store.link_people(sid, [[5, 6]], source="user")[0].track_ids == (1, 3, 5, 6)
    with pytest.raises(ValueError, match="track 3 is in two groups"):
        store.link_people(sid, [[1, 3], [3, 4]])
    with pytest.raises(ValueError, match="unknown source"):
        store.link_people(sid, [[1, 3]], source="magic")  # type: ignore[arg-type]
    assert store.link_people(sid, []) == []


def test_a_session_still_recording_can_be_sorted_as_it_can_be_corrected(store: HistoryStore) -> None:
    sid = recorded(store, end=False)
    assert store.recording(sid) is not None
    assert store.merge_tracks(sid, [1, 3]).track_ids == (1, 3)
    store.insert([interval(sid, 3, 5, "surprise")])  # the recording goes on: track 3 is still hers
    assert store.get_person(sid, 1).summary is not None
    assert store.get_person(sid, 1).frames == 5 * 30


def test_deleting_a_session_deletes_its_people(store: HistoryStore) -> None:
    keep, gone = recorded(store), recorded(store)
    for sid in (keep, gone):
        store.merge_tracks(sid, [1, 3])
        store.rename_person(sid, 1, "Singer", consent=True)
        store.hide_track(sid, 6)
    store.delete_session(gone)
    assert rows(store, "session_people") == 1 and rows(store, "session_tracks") == 3
    store.purge(everything=True)
    assert rows(store, "session_people") == rows(store, "session_tracks") == 0


def test_two_writers_merging_one_session_lose_nothing(db_url: str) -> None:
    """Each change reads and rewrites the session's grouping while it holds the session: two
    stores (two connections) merging different tracks at once both land."""
    HistoryStore(db_url).close()
    tracks = {t: [(0, "happy")] for t in range(1, 41)}
    setup = HistoryStore(db_url)
    sid = recorded(setup, tracks)
    errors: list[BaseException] = []

    def merge(pairs: list[tuple[int, int]]) -> None:
        store = HistoryStore(db_url, busy_timeout_ms=10_000)
        try:
            for pair in pairs:
                store.merge_tracks(sid, pair)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            store.close()

    odd = [(1, t) for t in range(3, 41, 2)]
    even = [(2, t) for t in range(4, 41, 2)]
    threads = [threading.Thread(target=merge, args=(pairs,)) for pairs in (odd, even)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert numbers(setup, sid) == {1: tuple(range(1, 41, 2)), 2: tuple(range(2, 41, 2))}
    setup.close()


# --- migration ---------------------------------------------------------------------------------------


def test_a_0003_database_is_migrated_and_reads_one_person_per_track(db_url: str) -> None:
    """A database at revision 0003 (before people) with a profile, a session and its intervals is
    refused until migrated; the migration keeps every row, each track is its own person, and the
    people can then be merged."""
    from alembic import command

    from moodlens.store.database import _alembic_config, make_engine, migrate

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0003")
        conn.execute(
            text(
                "INSERT INTO profiles (id, name, created_at, updated_at, consent_given, consent_at) "
                "VALUES (1, 'ann', '2026-12-01 10:00:00', '2026-12-01 10:00:00', :yes, '2026-12-01 10:00:00')"
            ),
            {"yes": True},
        )
        conn.execute(
            text(
                "INSERT INTO sessions (id, name, source, started_at, ended_at, consent_given, frame_rows, "
                "media_ms, interrupted, profile_id, model) VALUES (1, 'old', 'video x', "
                "'2026-12-01 10:00:00', '2026-12-01 10:00:05', :yes, :no, 5000, :no, 1, 'm')"
            ),
            {"yes": True, "no": False},
        )
        for track, spans in LOOP.items():
            for second, label in spans:
                row = interval(1, track, second, label)
                row["start_at"] = "2026-12-01 10:00:00"
                row["profiled"] = False
                conn.execute(
                    text(
                        f"INSERT INTO intervals ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"
                    ),
                    row,
                )
        if engine.dialect.name == "postgresql":  # as if the session had been made through the sequence
            conn.execute(text("SELECT setval('sessions_id_seq', 1)"))
    with pytest.raises(StoreError, match="revision 0003, this moodlens needs 0004"):
        HistoryStore(db_url)
    assert migrate(engine) == "0004"
    engine.dispose()
    store = HistoryStore(db_url)
    (old,) = store.list_sessions()
    assert (old.id, old.intervals, old.tracks, old.people, old.profile) == (1, 13, 6, 6, "ann")
    assert numbers(store, 1) == {t: (t,) for t in range(1, 7)}
    assert store.merge_tracks(1, [1, 3, 5]).track_ids == (1, 3, 5)
    assert store.get_session(1).counts_text() == "4 people (6 tracks)"
    assert store.start_session(name="new") == 2
    store.close()


def test_the_people_tables_hold_no_face(store: HistoryStore) -> None:
    from moodlens.store.schema import SessionPersonRow, SessionTrackRow

    columns = {c.name for table in (SessionPersonRow, SessionTrackRow) for c in table.__table__.columns}
    assert columns == {
        "session_id",
        "number",
        "nickname",
        "consent_given",
        "consent_at",
        "created_at",
        "updated_at",
        "track_id",
        "person",
        "hidden",
        "source",
    }


def test_summaries_of_a_person_are_the_rule_over_its_tracks(store: HistoryStore) -> None:
    """The person's figures equal summarise() over the intervals of its visible tracks."""
    sid = recorded(store)
    store.merge_tracks(sid, [2, 4, 6])
    store.hide_track(sid, 4)
    tallies: list[Tally] = [i.tally() for i in store.timeline(sid) if i.track_id in (2, 6)]
    expected = summarise(2, tallies)
    person = store.get_person(sid, 2)
    assert person.summary is not None
    assert person.summary.duration_ms == pytest.approx(expected.duration_ms)
    assert person.summary.frames == expected.frames and person.dominant == expected.dominant
    for label in LABELS:
        assert person.summary.mean_probabilities[label] == pytest.approx(expected.mean_probabilities[label])
    assert np.isclose(person.valence or 0.0, expected.valence)


# --- the command line ---------------------------------------------------------------------------------


def test_history_people_commands(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    store = HistoryStore(db)
    sid = str(recorded(store))
    store.close()

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(["history", "--db", db, *argv])
        except SystemExit as exc:  # argparse: its usage line, then the reason
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("list")
    assert code == 0 and "6 (6)" in out
    code, out, _ = run("merge", sid, "1", "3", "5")
    assert code == 0 and "Person 1 (#1 #3 #5)" in out and "4 people (6 tracks)" in out
    code, out, err = run("rename", sid, "1", "Singer")
    assert code == 2 and out == "" and "--consent" in err and len(err.strip().splitlines()) == 1
    code, out, _ = run("rename", sid, "1", "Singer", "--consent")
    assert code == 0 and "'Singer'" in out
    code, out, _ = run("people", sid)
    assert code == 0 and "Singer (#1 #3 #5)" in out and "Person 2 (#2)" in out
    code, out, _ = run("show", sid)
    assert code == 0 and "4 people (6 tracks)" in out and "Singer (#1 #3 #5)" in out and "  track 2:" in out
    code, out, _ = run("hide", sid, "6")
    assert code == 0 and "3 people (6 tracks, 1 hidden)" in out
    code, out, _ = run("people", sid, "--json")
    assert code == 0 and [p["number"] for p in json.loads(out)["people"]] == [1, 2, 4]
    code, out, _ = run("people", sid, "--include-hidden")
    assert "Person 6 (#6 (hidden))" in out
    code, out, _ = run("export", sid, "--format", "csv")
    assert code == 0 and {r["person"] for r in csv.DictReader(io.StringIO(out))} == {"1", "2", "4"}
    code, out, _ = run("export", sid, "--format", "csv", "--include-hidden")
    assert {r["person"] for r in csv.DictReader(io.StringIO(out))} == {"1", "2", "4", "6"}
    code, out, _ = run("hide", sid, "6", "--unhide")
    assert code == 0 and "4 people (6 tracks)" in out
    code, out, _ = run("split", sid, "3")
    assert code == 0 and "Person 3 (#3)" in out and "5 people (6 tracks)" in out
    code, out, _ = run("rename", sid, "1", "--clear")
    assert code == 0 and "no nickname" in out
    # Bad input: one line, exit status 2.
    for argv, said in [
        (("merge", sid, "1"), "at least two tracks"),
        (("merge", sid, "1", "99"), "has no track 99"),
        (("split", sid, "99"), "has no track 99"),
        (("hide", sid, "99"), "has no track 99"),
        (("rename", sid, "5", "x", "--consent"), "track 5 is part of person 1"),
        (("rename", sid, "40", "--clear"), "no person 40"),
        (("rename", sid, "1", "x", "--clear"), "--clear without a NAME"),
        (("rename", sid, "1"), "give a NAME"),
        (("rename", sid, "1", "", "--consent"), "bad nickname"),
        (("merge", sid, "1", "-3"), "expected 0 to"),
    ]:
        code, _, err = run(*argv)
        lines = [line for line in err.splitlines() if not line.startswith("usage:")]
        assert code == 2 and said in err and len(lines) == 1, (argv, err)
    code, _, err = run("people", "42")
    assert code == 1 and "no session 42" in err
