"""Profiles in the history store, against a real SQLite file and a real PostgreSQL server (the
``db_url`` and ``store`` fixtures of conftest.py; PostgreSQL cases skip with the reason when
MOODLENS_TEST_POSTGRES_URL is not set)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import sigkill_after_commits

pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")

from sqlalchemy import text

from moodlens.cli.main import main
from moodlens.labels import LABELS, Expression
from moodlens.results import Box, Detection, Face, FrameResult
from moodlens.store import HistoryStore, HistoryWriter, StoreError
from moodlens.store.database import NotFoundError
from moodlens.store.profiles import NewSample, ProfileInfo

MODEL = "crowd 2.2 sha256:0123abcd"


def probs(label: str, top: float = 0.8) -> np.ndarray:
    """A reading that says ``label`` with probability ``top``."""
    p = np.full(len(LABELS), (1 - top) / (len(LABELS) - 1))
    p[LABELS.index(label)] = top
    return p


def neutral(source: str = "image:rest.jpg", model: str = MODEL) -> NewSample:
    return NewSample(kind="neutral", probabilities=probs("neutral"), model=model, source=source)


def count(store: HistoryStore, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


# --- creating, listing, naming ---------------------------------------------------------------------


def test_no_profiles_then_an_empty_one(store: HistoryStore) -> None:
    assert store.list_profiles() == []
    info = store.create_profile("ann", consent=True)
    assert isinstance(info, ProfileInfo)
    assert (info.name, info.neutral_samples, info.corrections) == ("ann", 0, 0)
    assert info.consent_at is not None and info.created_at == info.updated_at == info.last_changed
    assert store.list_profiles() == [info] and store.get_profile("ann") == info
    assert store.profile_samples("ann") == []
    assert store.add_profile_samples("ann", []) == []
    assert store.reset_profile("ann") == 0
    exported = json.loads(store.export_profile("ann"))
    assert exported["profile"]["name"] == "ann" and exported["samples"] == []
    assert "never a face" in exported["kept"]
    assert info.to_dict()["created_at"] == info.created_at.isoformat()


@pytest.mark.parametrize(
    "name",
    ["a", "7", "Ann", "ann-2", "A.B_c d", "Zoë", "x" * 64, "Ann Lee"],
)
def test_good_names(store: HistoryStore, name: str) -> None:
    assert store.create_profile(name, consent=True).name == name
    assert store.get_profile(name).name == name


@pytest.mark.parametrize(
    "name",
    ["", " ann", "-ann", "_ann", ".ann", "ann@2", "@ann", "a/b", "x" * 65, "ann ", "a\nb", "a\tb", "a;b"],
)
def test_bad_names_say_what_is_allowed(store: HistoryStore, name: str) -> None:
    with pytest.raises(
        ValueError, match=r"1-64 letters, digits, spaces.*starting with a letter or digit"
    ) as err:
        store.create_profile(name, consent=True)
    assert "\n" not in str(err.value).replace(repr(name), "")
    assert store.list_profiles() == []


def test_consent_and_duplicates(store: HistoryStore) -> None:
    with pytest.raises(ValueError, match="needs that person's consent"):
        store.create_profile("ann", consent=False)
    assert store.list_profiles() == []
    store.create_profile("ann", consent=True)
    with pytest.raises(ValueError, match="a profile named 'ann' exists"):
        store.create_profile("ann", consent=True)
    store.create_profile("bob", consent=True)
    assert [p.name for p in store.list_profiles()] == ["ann", "bob"]


@pytest.mark.parametrize("typed", ["ANN", "Ann", "aNn"])
def test_a_name_in_another_case_is_the_same_profile(store: HistoryStore, typed: str) -> None:
    store.create_profile("ann", consent=True)
    with pytest.raises(ValueError, match="a profile named 'ann' exists"):
        store.create_profile(typed, consent=True)
    assert [p.name for p in store.list_profiles()] == ["ann"]
    (sample_id,) = store.add_profile_samples(typed, [neutral()])
    assert store.get_profile(typed).name == "ann"
    assert [s.id for s in store.profile_samples("ann")] == [sample_id]
    session = store.start_session(profile=typed)
    assert store.get_session(session).profile == "ann"


def test_two_writers_creating_one_name_in_two_cases_make_one_profile(db_url: str) -> None:
    """The unique constraint knows exact spellings only: the case check and the insert are one
    locked step, so "Zed" and "zed" created at the same moment by two connections give one
    profile and one clear refusal, every time."""
    from moodlens.store import HistoryStore

    HistoryStore(db_url, create=True).close()
    # On PostgreSQL, also under a stricter default isolation, where a lock taken by a query would
    # come after the snapshot (read committed is the server's default; a database may differ).
    for isolation in ("read committed", "repeatable read") if db_url.startswith("postgresql") else ("",):
        if isolation:
            _default_isolation(db_url, isolation)
        _race_two_creators(db_url, isolation)


def _default_isolation(db_url: str, isolation: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(db_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        database = make_url(db_url).database
        conn.execute(text(f"ALTER DATABASE \"{database}\" SET default_transaction_isolation = '{isolation}'"))
    engine.dispose()


def _race_two_creators(db_url: str, isolation: str) -> None:
    import threading

    from sqlalchemy import text

    from moodlens.store import HistoryStore
    from moodlens.store.profiles import ProfileExistsError

    stores = [HistoryStore(db_url, busy_timeout_ms=10_000) for _ in range(2)]
    try:
        if isolation:
            with stores[0]._session() as s:
                shown = s.execute(text("SHOW default_transaction_isolation")).scalar()
            assert shown == isolation, shown
        for round_ in range(6):
            tag = "".join(word[0] for word in isolation.split())  # "rc", "rr": a name per level
            names = [f"Zed{round_}{tag}", f"zed{round_}{tag}"]
            gate = threading.Barrier(2)
            outcomes: list[str] = []

            def create(store: HistoryStore, name: str, gate: threading.Barrier, outcomes: list[str]) -> None:
                gate.wait()
                try:
                    store.create_profile(name, consent=True)
                    outcomes.append("made")
                except ProfileExistsError as exc:
                    outcomes.append(str(exc))

            threads = [
                threading.Thread(target=create, args=(store, name, gate, outcomes))
                for store, name in zip(stores, names, strict=True)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert outcomes.count("made") == 1 and len(outcomes) == 2, outcomes
            assert "exists" in next(o for o in outcomes if o != "made"), outcomes
            made = [p.name for p in stores[0].list_profiles() if p.name.casefold() == names[1]]
            assert len(made) == 1 and stores[1].get_profile(names[1].upper()).name == made[0]
    finally:
        for store in stores:
            store.close()


def test_samples_bound_to_a_profile_id_never_reach_a_profile_made_again(store: HistoryStore) -> None:
    """What a live session adds goes to the profile it started with: deleted and made again
    under the same name (someone else), the new one is left untouched."""
    first = store.create_profile("ann", consent=True)
    assert store.add_profile_samples("ann", [neutral()], profile_id=first.id)
    store.delete_profile("ann")
    with pytest.raises(NotFoundError, match="'ann' was deleted after this session started"):
        store.add_profile_samples("ann", [neutral()], profile_id=first.id)
    again = store.create_profile("ANN", consent=True)
    with pytest.raises(NotFoundError, match="not the same one"):
        store.add_profile_samples("ann", [neutral()], profile_id=first.id)
    assert store.profile_samples("ANN") == []
    assert store.add_profile_samples("ann", [neutral()], profile_id=again.id)


def test_names_stored_before_in_two_cases_need_the_exact_spelling(store: HistoryStore) -> None:
    """A store from before names were unique in any case may hold "Ann" and "ANN": each is found
    by its own spelling, and a third spelling matches neither rather than guessing."""
    from sqlalchemy import insert

    from moodlens.store.schema import ProfileRow

    store.create_profile("Ann", consent=True)
    now = store.get_profile("Ann").created_at
    with store._session() as s, s.begin():
        s.execute(insert(ProfileRow).values(name="ANN", created_at=now, updated_at=now, consent_given=True))
    assert store.get_profile("ANN").name == "ANN" and store.get_profile("Ann").name == "Ann"
    with pytest.raises(NotFoundError, match="no profile named 'ann'"):
        store.get_profile("ann")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.get_profile("nobody"),
        lambda s: s.add_profile_samples("nobody", [neutral()]),
        lambda s: s.profile_samples("nobody"),
        lambda s: s.remove_profile_sample("nobody", 1),
        lambda s: s.reset_profile("nobody"),
        lambda s: s.delete_profile("nobody"),
        lambda s: s.export_profile("nobody"),
        lambda s: s.start_session(profile="nobody"),
    ],
)
def test_an_unknown_name_is_a_clear_error(store: HistoryStore, call: Any) -> None:
    message = (
        "no profile named 'nobody' "
        "(moodlens profile list shows them; moodlens profile create nobody makes one)"
    )
    with pytest.raises(NotFoundError) as err:
        call(store)
    assert str(err.value) == message
    assert isinstance(err.value, KeyError) and isinstance(err.value, StoreError)
    assert store.list_sessions() == []


# --- samples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "smile"}, "kind is one of neutral, correction"),
        ({"probabilities": [0.5, 0.5]}, "7 probabilities"),
        ({"probabilities": [np.nan] + [1 / 6] * 6}, "finite, >= 0 and add up to 1"),
        ({"probabilities": [-0.1, 0.1] + [1 / 5] * 5}, "finite, >= 0 and add up to 1"),
        ({"probabilities": [0.1] * 7}, "finite, >= 0 and add up to 1"),
        ({"probabilities": [np.inf] * 7}, "finite, >= 0 and add up to 1"),
        ({"label": "happy"}, "a neutral sample is the face at rest"),
        ({"not_label": "sad"}, "a neutral sample is the face at rest"),
        ({"kind": "correction"}, "either the expression it was"),
        ({"kind": "correction", "label": "happy", "not_label": "sad"}, "either the expression it was"),
        ({"kind": "correction", "label": "meh"}, "unknown expression 'meh'"),
        ({"model": ""}, "names its model"),
        ({"model": "m" * 101}, "names its model"),
    ],
)
def test_bad_samples_are_refused(fields: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"kind": "neutral", "probabilities": probs("neutral"), "model": MODEL, **fields}
    with pytest.raises(ValueError, match=message):
        NewSample(**args)


def test_samples_add_read_back_and_count(store: HistoryStore) -> None:
    before = store.create_profile("ann", consent=True)
    samples = [
        neutral(),
        NewSample(kind="correction", probabilities=probs("sad"), label="happiness", model=MODEL, source="x"),
        NewSample(kind="correction", probabilities=list(probs("angry")), not_label="angry", model="other 1"),
        NewSample(
            kind="neutral", probabilities=probs("neutral"), label="neutral", model=MODEL, source="s" * 600
        ),
    ]
    ids = store.add_profile_samples("ann", samples)
    assert len(ids) == 4 and ids == sorted(ids)
    stored = store.profile_samples("ann")
    assert [s.id for s in stored] == ids
    assert [(s.kind, s.label, s.not_label) for s in stored] == [
        ("neutral", "neutral", None),
        ("correction", "happy", None),
        ("correction", None, "angry"),
        ("neutral", "neutral", None),
    ]
    np.testing.assert_allclose(stored[1].probabilities, probs("sad"))
    assert stored[1].probability()["sad"] == pytest.approx(0.8)
    assert len(stored[3].source) == 500 and stored[0].correction_id is None
    assert [s.id for s in store.profile_samples("ann", model="other 1")] == [ids[2]]
    assert store.profile_samples("ann", model="none such") == []
    info = store.get_profile("ann")
    assert (info.neutral_samples, info.corrections) == (2, 2)
    assert info.updated_at > before.updated_at and info.last_changed >= info.updated_at
    assert json.loads(json.dumps(stored[0].to_dict()))["probabilities"]["neutral"] == pytest.approx(0.8)


def test_a_bad_sample_adds_nothing(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    with pytest.raises(TypeError, match="NewSample"):
        store.add_profile_samples("ann", [neutral(), {"kind": "neutral"}])  # type: ignore[list-item]
    assert store.profile_samples("ann") == []


def test_remove_and_reset(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    store.create_profile("bob", consent=True)
    first, second = store.add_profile_samples("ann", [neutral(), neutral()])
    (bobs,) = store.add_profile_samples("bob", [neutral()])
    store.remove_profile_sample("ann", first)
    assert [s.id for s in store.profile_samples("ann")] == [second]
    with pytest.raises(NotFoundError, match=f"profile 'ann' has no sample {first}"):
        store.remove_profile_sample("ann", first)
    with pytest.raises(NotFoundError, match=f"has no sample {bobs}"):
        store.remove_profile_sample("ann", bobs)  # another profile's sample
    assert store.reset_profile("ann") == 1
    assert store.profile_samples("ann") == [] and store.get_profile("ann").neutral_samples == 0
    assert len(store.profile_samples("bob")) == 1
    (again,) = store.add_profile_samples("ann", [neutral()])
    assert again > bobs  # sample ids are never reused


def test_delete_removes_samples_and_keeps_sessions(store: HistoryStore) -> None:
    old = store.create_profile("ann", consent=True)
    store.add_profile_samples("ann", [neutral(), neutral()])
    sid = store.start_session(name="with ann", consent=True, profile="ann", model=MODEL)
    store.insert([interval(sid, 1, (0, 966), 30, "happy")])
    assert store.get_session(sid).profile == "ann" and store.get_session(sid).model == MODEL
    store.delete_profile("ann")
    assert store.list_profiles() == []
    with pytest.raises(NotFoundError):
        store.get_profile("ann")
    assert count(store, "profile_samples") == 0
    info = store.get_session(sid)
    assert (info.profile, info.model, info.intervals, info.name) == (None, MODEL, 1, "with ann")
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT profile_id FROM sessions")).scalar() is None
    assert store.create_profile("ann", consent=True).id > old.id  # profile ids are never reused


def test_export_is_everything_and_spreadsheet_safe(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    store.add_profile_samples("ann", [neutral(source="=HYPERLINK(1)"), neutral()])
    data = json.loads(store.export_profile("ann"))
    assert data["profile"]["neutral_samples"] == 2
    assert [s["source"] for s in data["samples"]] == ["'=HYPERLINK(1)", "image:rest.jpg"]
    assert set(data["samples"][0]["probabilities"]) == set(LABELS)
    assert data["samples"][0]["model"] == MODEL


# --- what a history correction teaches ------------------------------------------------------------


def interval(
    sid: int, track: int, span: tuple[int, int], frames: int, label: str, *, profiled: bool = False
) -> dict[str, Any]:
    (start, end), p = span, probs(label)
    row: dict[str, Any] = {
        "session_id": sid,
        "track_id": track,
        "start_ms": start,
        "end_ms": end,
        "start_at": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "frames": frames,
        "dominant": label,
        "profiled": profiled,
        **{f"p_{n}": float(v) for n, v in zip(LABELS, p, strict=True)},
        **{f"t_{n}": (end - start + 33.0 if n == label else 0.0) for n in LABELS},
    }
    return row


def recorded(store: HistoryStore, *, profile: str | None = "ann", model: str | None = MODEL) -> int:
    """A session of three tracks. Track 1, read through the profile: happy 30 frames, sad 10
    frames, neutral 30 frames; then, in its last second, not read through it (the profile had moved
    on to another face). Track 2, another person: angry 30 frames."""
    through = profile is not None
    sid = store.start_session(consent=True, profile=profile, model=model)
    store.insert(
        [
            interval(sid, 1, (0, 966), 30, "happy", profiled=through),
            interval(sid, 1, (1000, 1966), 10, "sad", profiled=through),
            interval(sid, 1, (2000, 2966), 30, "neutral", profiled=through),
            interval(sid, 1, (3000, 3966), 30, "fear"),
            interval(sid, 2, (0, 966), 30, "angry"),
        ]
    )
    return sid


@pytest.mark.parametrize(
    ("track", "span", "correct", "expected"),
    [
        # track, (start, end), correct label, (label, not_label, the weighted mix it learned)
        (1, (500, 1500), "surprise", ("surprise", None, {"happy": 30, "sad": 10})),
        (1, (1000, 1000), None, (None, "sad", {"sad": 10})),
        (1, (0, 5000), "neutral", ("neutral", None, {"happy": 30, "sad": 10, "neutral": 30})),
        (1, (2500, 3500), "happy", ("happy", None, {"neutral": 30})),  # only what went through it
        (1, (3000, 3966), "happy", None),  # track 1 no longer read through the profile: nothing
        (2, (0, 966), "happy", None),  # another person's track: nothing
    ],
)
def test_a_correction_teaches_the_sessions_profile_only_where_it_read_the_track(
    store: HistoryStore, track: int, span: tuple[int, int], correct: str | None, expected: Any
) -> None:
    store.create_profile("ann", consent=True)
    before = store.get_profile("ann").updated_at
    sid = recorded(store)
    cid = store.add_correction(
        sid, track_id=track, start_ms=span[0], end_ms=span[1], wrong_label="sad", correct_label=correct
    )
    assert [c["id"] for c in store.corrections(sid)] == [cid]  # recorded, whatever it taught
    info = store.get_correction(sid, cid)
    assert (info.track_id, info.start_ms, info.end_ms, info.session_profile) == (track, *span, "ann")
    samples = store.profile_samples("ann")
    if expected is None:
        assert samples == [] and info.taught_profile is None
        assert store.corrections(sid)[0]["taught_profile"] is None
        assert info.outcome() == (
            f"profile 'ann' learned nothing from it: track {track} was not read through it between "
            f"{span[0]} and {span[1]} ms (only the main track is)"
        )
        return
    label, not_label, mix = expected
    (sample,) = samples
    total = sum(mix.values())
    mean = sum(frames * probs(name) for name, frames in mix.items()) / total
    np.testing.assert_allclose(sample.probabilities, mean, atol=1e-9)
    assert (sample.kind, sample.label, sample.not_label) == ("correction", label, not_label)
    assert (sample.model, sample.correction_id) == (MODEL, cid)
    assert sample.source == f"history:session {sid} correction {cid}"
    assert store.get_profile("ann").updated_at > before
    assert info.taught_profile == store.corrections(sid)[0]["taught_profile"] == "ann"
    said = f"was {correct}" if correct else "was not sad"
    assert info.outcome() == (
        f"profile 'ann' learned that track {track} at {span[0] / 1000:.1f}-{span[1] / 1000:.1f} s {said}"
    )


NOT_THERE = "session {sid} has no interval of track {track} between {start} and {end} ms; "
TRACKS = "its tracks: 1 (0-3966 ms), 2 (0-966 ms) (moodlens history show {sid} --json lists its intervals)"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"correct_label": "sad"}, "the right label must differ from the wrong one (both are 'sad')"),
        ({"correct_label": "sadness"}, "the right label must differ from the wrong one"),
        ({"wrong_label": "bored"}, "unknown expression"),
        ({"start_ms": 900, "end_ms": 100}, "end_ms must be >= start_ms"),
        ({"track_id": 99}, NOT_THERE + TRACKS),
        ({"start_ms": 100_000, "end_ms": 200_000}, NOT_THERE + TRACKS),
        ({"track_id": 2, "start_ms": 967, "end_ms": 5000}, NOT_THERE + TRACKS),  # just after it
    ],
)
def test_a_correction_of_what_was_not_recorded_is_refused(
    store: HistoryStore, change: dict[str, Any], message: str
) -> None:
    store.create_profile("ann", consent=True)
    sid = recorded(store)
    asked = {"track_id": 1, "start_ms": 0, "end_ms": 900, "wrong_label": "sad", **change}
    expected = message.format(sid=sid, track=asked["track_id"], start=asked["start_ms"], end=asked["end_ms"])
    with pytest.raises(ValueError) as refused:
        store.add_correction(sid, **asked)
    assert str(refused.value).startswith(expected) and "\n" not in str(refused.value)
    assert store.corrections(sid) == [] and store.profile_samples("ann") == []


def test_a_correction_of_an_empty_session_or_a_missing_one(store: HistoryStore) -> None:
    sid = store.start_session(consent=True)
    with pytest.raises(
        ValueError,
        match=f"^session {sid} has no interval of track 1 between 0 and 10 ms; nothing was recorded in it",
    ):
        store.add_correction(sid, track_id=1, start_ms=0, end_ms=10, wrong_label="sad")
    with pytest.raises(StoreError, match="no session 99"):
        store.add_correction(99, track_id=1, start_ms=0, end_ms=10, wrong_label="sad")
    with pytest.raises(NotFoundError, match=f"session {sid} has no correction 1 "):
        store.get_correction(sid, 1)
    with pytest.raises(StoreError, match="no session 99"):
        store.get_correction(99, 1)
    many = store.start_session(consent=True)
    store.insert([interval(many, t, (0, 966), 30, "sad") for t in range(1, 16)])
    with pytest.raises(ValueError, match=r", 12 \(0-966 ms\) and 3 more \(moodlens history show"):
        store.add_correction(many, track_id=16, start_ms=0, end_ms=10, wrong_label="sad")


def _face(track: int, model: np.ndarray, profile: str | None) -> Face:
    """A tracked face; read through ``profile`` when it is given (its shown reading is then the
    personal one, here always surprise, and the model's travels beside it)."""
    shown = model if profile is None else probs("surprise")
    stable = Expression(int(np.argmax(shown)))
    return Face(
        Detection(Box(0, 0, 10, 10), 0.9),
        shown,
        track_id=track,
        smoothed=shown,
        stable=stable,
        model_probabilities=None if profile is None else model,
        profile=profile,
    )


def test_the_writer_marks_the_intervals_read_through_the_profile(
    store: HistoryStore, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Track 3 (the singer) is read through the profile except from 2 s to 3 s, when it moves to
    track 5 (someone in the audience): only those intervals teach it, in the model's terms."""
    store.create_profile("singer", consent=True)
    with HistoryWriter.start(store, consent=True, profile="singer", model=MODEL) as writer:
        for i in range(120):
            t = i * 1000 / 30
            moved = 2000 <= t < 3000
            faces = (
                _face(3, probs("happy"), None if moved else "singer"),
                _face(5, probs("angry"), "singer" if moved else None),
            )
            writer.write(FrameResult(faces, 320, 240, timestamp_ms=t, frame_index=i))
    sid = writer.session_id
    marks = {(i.track_id, i.start_ms // 1000): i.profiled for i in store.timeline(sid)}
    assert marks == {
        **{(3, second): second != 2 for second in range(4)},
        **{(5, second): second == 2 for second in range(4)},
    }
    assert {i.dominant for i in store.timeline(sid, track_id=5)} == {"angry"}  # the model's reading
    assert json.loads(store.export(sid))["intervals"][0]["profiled"] is True
    with HistoryWriter.start(store, consent=True) as plain:
        plain.write(FrameResult((_face(1, probs("happy"), None),), 320, 240, timestamp_ms=0.0))
    assert [i.profiled for i in store.timeline(plain.session_id)] == [False]
    assert main(["history", "--db", db_url, "show", str(sid)]) == 0
    shown = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  track")]
    assert len(shown) == 2 and all(line.endswith(" (read through profile 'singer')") for line in shown)
    audience = store.add_correction(sid, track_id=5, start_ms=0, end_ms=1999, wrong_label="angry")
    assert store.profile_samples("singer") == []
    assert store.get_correction(sid, audience).taught_profile is None
    taught = store.add_correction(
        sid, track_id=5, start_ms=2000, end_ms=2999, wrong_label="angry", correct_label="neutral"
    )
    (sample,) = store.profile_samples("singer")
    np.testing.assert_allclose(sample.probabilities, probs("angry"), atol=1e-6)
    assert sample.correction_id == taught and store.get_correction(sid, taught).taught_profile == "singer"


def test_a_session_read_through_a_profile_keeps_the_same_history_as_a_plain_one(store: HistoryStore) -> None:
    """A video recorded with and without a profile: the history of the profiled face is the
    model's reading smoothed as in the plain run (it was the raw reading, with no hysteresis:
    the same clip's history then changed with the profile)."""
    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.personal import Profile, Sample
    from moodlens.pipeline.stream import StreamAnalyzer

    rng = np.random.default_rng(5)
    # A face whose reading flickers between happy and neutral from frame to frame, as real ones do.
    readings = [
        probs("happy" if rng.random() < 0.45 else "neutral", float(rng.uniform(0.5, 0.9))) for _ in range(150)
    ]

    class Flicker(FakeClassifier):
        def predict(self, crops: np.ndarray) -> np.ndarray:
            self.calls += 1
            return np.tile(readings[(self.calls - 1) % len(readings)], (len(crops), 1)).astype(np.float32)

    image = np.full((120, 160, 3), 90, np.uint8)
    face = [Detection(Box(40, 20, 100, 80), 0.95)]
    store.create_profile("ann", consent=True)
    profile = Profile.fit("ann", [Sample("neutral", probs("neutral", 0.6))])

    def record(through: Profile | None) -> list[Any]:
        stream = StreamAnalyzer(Analyzer(FakeDetector(face), Flicker()), profile=through)
        name = None if through is None else through.name
        with HistoryWriter.start(store, consent=True, profile=name, model=MODEL) as writer:
            for i in range(len(readings)):
                writer.write(stream.process(image, timestamp_ms=i * 1000 / 30, frame_index=i))
        return store.timeline(writer.session_id)

    plain, personal = record(None), record(profile)
    assert len(plain) == len(personal) >= 4 and any(i.profiled for i in personal)
    for a, b in zip(plain, personal, strict=True):
        assert (a.track_id, a.start_ms, a.frames, a.dominant) == (
            b.track_id,
            b.start_ms,
            b.frames,
            b.dominant,
        )
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-4)
        assert a.shown_ms == pytest.approx(b.shown_ms, abs=1e-3)


@pytest.mark.parametrize(
    ("argv", "code", "out", "err"),
    [
        (
            ["--track", "1", "--start-ms", "0", "--end-ms", "900", "--not", "sad", "--is", "neutral"],
            0,
            "recorded correction 1; profile 'ann' learned that track 1 at 0.0-0.9 s was neutral\n",
            "",
        ),
        (
            ["--track", "2", "--start-ms", "0", "--end-ms", "900", "--not", "sad"],
            0,
            "recorded correction 1; profile 'ann' learned nothing from it: track 2 was not read through "
            "it between 0 and 900 ms (only the main track is)\n",
            "",
        ),
        (
            ["--track", "1", "--start-ms", "0", "--end-ms", "900", "--not", "happy", "--is", "happy"],
            2,
            "",
            "moodlens history correct: error: the right label must differ from the wrong one "
            "(both are 'happy')\n",
        ),
        (
            ["--track", "99", "--start-ms", "0", "--end-ms", "900", "--not", "sad"],
            2,
            "",
            "moodlens history correct: error: session 1 has no interval of track 99 between 0 and 900 ms; "
            "its tracks: 1 (0-3966 ms), 2 (0-966 ms) (moodlens history show 1 --json lists its intervals)\n",
        ),
        (
            ["--track", "1", "--start-ms", "100000", "--end-ms", "200000", "--not", "sad"],
            2,
            "",
            "moodlens history correct: error: session 1 has no interval of track 1 between 100000 and "
            "200000 ms; its tracks: 1 (0-3966 ms), 2 (0-966 ms) (moodlens history show 1 --json lists "
            "its intervals)\n",
        ),
    ],
)
def test_history_correct_says_what_it_taught_or_why_not(
    store: HistoryStore,
    db_url: str,
    capsys: pytest.CaptureFixture[str],
    *,
    argv: list[str],
    code: int,
    out: str,
    err: str,
) -> None:
    store.create_profile("ann", consent=True)
    assert recorded(store) == 1
    assert main(["history", "--db", db_url, "correct", "1", *argv]) == code
    assert capsys.readouterr() == (out, err)
    assert len(store.corrections(1)) == (1 if code == 0 else 0)


def test_a_recorded_video_teaches_its_profile_only_from_the_tracks_it_read(
    media: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The singer clip with a profile: the tracks read through it are marked (the main one of each
    shot), and a correction of any other (the audience's) teaches nothing."""
    assert main(["profile", "create", "Singer", "--consent", "--db", db_url]) == 0
    assert main(["profile", "neutral", "Singer", str(media / "rose_leslie_neutral.jpg"), "--db", db_url]) == 0
    clip = str(media / "short_hamilton_clip.mp4")
    assert main(["video", clip, "--db", db_url, "--consent", "--profile", "Singer"]) == 0
    capsys.readouterr()
    store = HistoryStore(db_url)
    try:
        (session,) = store.list_sessions()
        timeline = store.timeline(session.id)
        read = {i.track_id for i in timeline if i.profiled}
        others = {i.track_id for i in timeline} - read
        assert read and others, timeline
        for track in sorted(others):
            cid = store.add_correction(
                session.id,
                track_id=track,
                start_ms=0,
                end_ms=10_000,
                wrong_label="neutral",
                correct_label="sad",
            )
            assert store.get_correction(session.id, cid).taught_profile is None
        assert store.get_profile("Singer").corrections == 0
        main_track = min(read)
        cid = store.add_correction(
            session.id,
            track_id=main_track,
            start_ms=0,
            end_ms=10_000,
            wrong_label="neutral",
            correct_label="sad",
        )
        assert store.get_correction(session.id, cid).taught_profile == "Singer"
        assert store.get_profile("Singer").corrections == 1
    finally:
        store.close()


def test_corrections_without_a_profile_teach_nothing(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    plain = recorded(store, profile=None)
    cid = store.add_correction(
        plain, track_id=1, start_ms=0, end_ms=900, wrong_label="happy", correct_label="sad"
    )
    assert store.profile_samples("ann") == []
    info = store.get_correction(plain, cid)
    assert (info.taught_profile, info.session_profile) == (None, None)
    assert info.outcome() == f"no profile learned from it (session {plain} has none)"
    no_model = recorded(store, model=None)  # a session that did not record its classifier
    store.add_correction(no_model, track_id=1, start_ms=0, end_ms=900, wrong_label="happy")
    (sample,) = store.profile_samples("ann")
    assert (sample.model, sample.not_label) == ("unknown", "happy")


def test_removing_a_correction_removes_what_it_taught(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    (own,) = store.add_profile_samples("ann", [neutral()])
    sid = recorded(store)
    first, second, third = (
        store.add_correction(sid, track_id=1, start_ms=0, end_ms=900, wrong_label="happy", correct_label=c)
        for c in ("sad", "fear", "angry")
    )
    assert len(store.profile_samples("ann")) == 4
    store.remove_correction(sid, first)
    assert [s.correction_id for s in store.profile_samples("ann")] == [None, second, third]
    with pytest.raises(NotFoundError, match=f"session {sid} has no correction {first}"):
        store.remove_correction(sid, first)
    # The foreign key alone removes a sample too (SQLite enforces it: PRAGMA foreign_keys=ON).
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM corrections WHERE id = :id"), {"id": second})
    assert [s.correction_id for s in store.profile_samples("ann")] == [None, third]
    # Deleting the session deletes its corrections and what they taught; the profile stays.
    store.delete_session(sid)
    assert [s.id for s in store.profile_samples("ann")] == [own]
    assert store.get_profile("ann").corrections == 0


def test_a_session_and_its_profile_read_back(store: HistoryStore) -> None:
    store.create_profile("ann", consent=True)
    sid = store.start_session(name="s", profile="ann", model=MODEL)
    data = store.get_session(sid).to_dict()
    assert (data["profile"], data["model"]) == ("ann", MODEL)
    assert json.loads(store.export(sid))["session"]["profile"] == "ann"
    with pytest.raises(ValueError, match="at most 100 characters"):
        store.start_session(model="m" * 101)


# --- several processes, and a kill -9 --------------------------------------------------------------

CORRECTING_CHILD = """
import sys
import numpy as np
from moodlens.store import HistoryStore
from moodlens.store.profiles import NewSample
url, sid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = HistoryStore(url)
p = np.array([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.4])
print("ready", flush=True)
sys.stdin.readline()
for i in range(n):
    store.add_correction(sid, track_id=1, start_ms=0, end_ms=2000, wrong_label="sad", correct_label="happy")
    store.add_profile_samples("ann", [NewSample(kind="neutral", probabilities=p, model="m", source=str(i))])
store.close()
print("done", flush=True)
"""


@pytest.mark.slow
def test_two_processes_teaching_one_profile_lose_nothing(db_url: str) -> None:
    store = HistoryStore(db_url)
    store.create_profile("ann", consent=True)
    sid = recorded(store)
    n = 30
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CORRECTING_CHILD, db_url, str(sid), str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready", child.stderr
    for child in children:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        out, err = child.communicate(timeout=180)
        assert child.returncode == 0 and "done" in out, err
    assert len(store.corrections(sid)) == 2 * n
    info = store.get_profile("ann")
    assert (info.corrections, info.neutral_samples) == (2 * n, 2 * n)
    assert {s.correction_id for s in store.profile_samples("ann") if s.kind == "correction"} == {
        c["id"] for c in store.corrections(sid)
    }
    store.close()


KILLED_CHILD = """
import sys
import numpy as np
from moodlens.store import HistoryStore
from moodlens.store.profiles import NewSample
store = HistoryStore(sys.argv[1])
p = np.array([0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.7])
batch = [NewSample(kind="neutral", probabilities=p, model="m", source=f"frame {i}") for i in range(3)]
added = 0
while True:
    added += len(store.add_profile_samples("ann", batch))
    print("committed", added, flush=True)
"""


@pytest.mark.slow
def test_sigkill_while_adding_samples_keeps_every_committed_one(db_url: str) -> None:
    store = HistoryStore(db_url)
    store.create_profile("ann", consent=True)
    store.close()
    committed = sigkill_after_commits(KILLED_CHILD, db_url, timeout_s=60)
    store = HistoryStore(db_url)
    if db_url.startswith("sqlite"):
        with store.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    samples = store.profile_samples("ann")
    # Every batch the child reported is there; at most the one it was adding when killed may be
    # too (committed, not yet reported); never part of a batch.
    assert committed <= len(samples) <= committed + 3 and len(samples) % 3 == 0
    assert all(abs(float(s.probabilities.sum()) - 1) < 1e-9 for s in samples)
    assert store.get_profile("ann").neutral_samples == len(samples)
    store.add_profile_samples("ann", [neutral()])  # and it still takes more
    store.close()


# --- schema ---------------------------------------------------------------------------------------


def test_the_migrations_make_the_schema_the_code_declares(store: HistoryStore) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from moodlens.store.schema import Base

    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_0002_database_is_migrated_with_its_history(db_url: str) -> None:
    """A database at revision 0002 (moodlens 0.2) is refused until migrated; the migration keeps
    every row, the sessions' ids are still never reused, and old sessions have no profile."""
    from alembic import command

    from moodlens.store.database import _alembic_config, make_engine, migrate

    engine = make_engine(db_url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0002")
        for sid in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO sessions (id, name, source, started_at, consent_given, frame_rows, "
                    "media_ms) VALUES (:id, 'old', 'video x', '2026-11-01 10:00:00', :yes, :no, 967)"
                ),
                {"id": sid, "yes": True, "no": False},
            )
        row = interval(1, 1, (0, 967), 30, "neutral")
        del row["profiled"]  # not a column before 0003
        row["start_at"] = "2026-11-01 10:00:00"
        conn.execute(
            text(f"INSERT INTO intervals ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row
        )
        conn.execute(
            text(
                "INSERT INTO corrections (session_id, track_id, start_ms, end_ms, wrong_label, note, "
                "created_at) VALUES (1, 1, 0, 500, 'sad', 'n', '2026-11-01 10:00:01')"
            )
        )
        conn.execute(text("DELETE FROM sessions WHERE id = 2"))
        if engine.dialect.name == "postgresql":  # as if the sessions had been made through the sequence
            conn.execute(text("SELECT setval('sessions_id_seq', 2)"))
    with pytest.raises(StoreError, match="revision 0002, this moodlens needs 0004"):
        HistoryStore(db_url)
    assert migrate(engine) == "0004"  # through 0003 (profiles) and 0004 (people)
    engine.dispose()
    store = HistoryStore(db_url)
    (old,) = store.list_sessions()
    assert (old.id, old.name, old.intervals, old.frames, old.media_ms) == (1, "old", 1, 30, 967)
    assert (old.profile, old.model) == (None, None)
    assert store.people(1)[0].dominant == "neutral"
    assert [i.profiled for i in store.timeline(1)] == [False]  # old intervals never teach a profile
    assert [c["wrong_label"] for c in store.corrections(1)] == ["sad"]
    store.create_profile("ann", consent=True)
    assert store.start_session(name="new", profile="ann") == 3
    store.add_correction(1, track_id=1, start_ms=0, end_ms=500, wrong_label="sad")
    assert store.profile_samples("ann") == []  # the old session has no profile
    store.close()
