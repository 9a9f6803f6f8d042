"""--link-people: the pipeline's linker (tracks -> people) and the CLI around it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from moodlens.cli.main import main
from moodlens.identity import EMBEDDING_SIZE
from moodlens.pipeline.people import LinkSettings, PeopleLinker, turn
from moodlens.results import Box, Detection, Face

_UNIFORM = np.full(7, 1 / 7, np.float32)


class _ByPlace:
    """An embedder that tells people apart by where their face is (x < 300: A, else B), and
    counts what it was asked to embed."""

    def __init__(self) -> None:
        self.embedded = 0
        self.vectors = np.eye(2, EMBEDDING_SIZE, dtype=np.float32)

    def embed(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection]) -> npt.NDArray[np.float32]:
        self.embedded += len(detections)
        rows = [self.vectors[0 if d.box.x1 < 300 else 1] for d in detections]
        return np.stack(rows) if rows else np.zeros((0, EMBEDDING_SIZE), np.float32)


def _face(track_id: int, x: float, size: float = 60) -> Face:
    return Face(Detection(Box(x, 100, x + size, 100 + size), 0.9), _UNIFORM, track_id=track_id)


def _feed(linker: PeopleLinker, frames: range, faces: Sequence[Face]) -> None:
    image = np.zeros((300, 700, 3), np.uint8)
    for i in frames:
        linker.observe(image, faces, i * 40.0)


def test_no_tracks_no_people() -> None:
    assert PeopleLinker(_ByPlace()).people() == []


def test_two_shots_of_one_person_are_one_person_and_a_stranger_is_not() -> None:
    embedder = _ByPlace()
    linker = PeopleLinker(embedder)
    _feed(linker, range(0, 20), [_face(1, 100)])  # shot A: person A
    _feed(linker, range(20, 40), [_face(2, 500)])  # shot B: person B
    _feed(linker, range(40, 60), [_face(3, 120)])  # shot A again: person A, a new track
    people = {p.track_ids for p in linker.people()}
    assert people == {(1, 3), (2,)}


def test_two_tracks_seen_together_are_never_one_person() -> None:
    linker = PeopleLinker(_ByPlace())
    _feed(linker, range(0, 20), [_face(1, 100), _face(2, 200)])  # identical embeddings, same frames
    assert {p.track_ids for p in linker.people()} == {(1,), (2,)}


def test_embedding_is_bounded_and_skips_small_faces_and_tentative_ones() -> None:
    embedder = _ByPlace()
    linker = PeopleLinker(embedder, LinkSettings(every_ms=400, max_per_track=3, min_face=32))
    # 100 frames at 25 fps = 4 s: at most one embedding per 400 ms, at most 3 per track.
    _feed(linker, range(100), [_face(1, 100), _face(2, 400, size=20)])
    image = np.zeros((300, 700, 3), np.uint8)
    linker.observe(image, [Face(Detection(Box(500, 100, 560, 160), 0.9), _UNIFORM)], 5000.0)
    assert embedder.embedded == 3
    # The small face still counts as a person of its own (it was seen), with no embedding.
    assert {p.track_ids for p in linker.people()} == {(1,), (2,)}
    linker.close()
    assert linker.people() == []


def test_people_seen_together_set_how_close_a_link_must_be() -> None:
    """Two people in one shot are 0.30 apart: in this footage, 0.30 does not mean "the same
    person", so two tracks 0.30 apart in different shots are not linked either."""

    def unit(angle: float) -> npt.NDArray[np.float32]:
        v = np.zeros(EMBEDDING_SIZE, np.float32)
        v[0], v[1] = np.cos(angle), np.sin(angle)
        return v

    # Distance between unit vectors at angle a: 2 sin(a / 2); 0.30 -> a ~ 0.3011 rad.
    angle = 2 * np.arcsin(0.15)

    class _Fixed:
        def embed(
            self, image: npt.NDArray[np.uint8], detections: Sequence[Detection]
        ) -> npt.NDArray[np.float32]:
            return np.stack([unit(0.0 if d.box.x1 < 300 else angle) for d in detections])

    linker = PeopleLinker(_Fixed())
    _feed(linker, range(0, 20), [_face(1, 100), _face(2, 400)])  # two people together, 0.30 apart
    _feed(linker, range(20, 40), [_face(3, 450)])  # a later shot: 0.30 from track 1, 0 from 2
    assert linker.threshold() == pytest.approx(0.8 * 0.30, abs=1e-3)
    assert {p.track_ids for p in linker.people()} == {(1,), (2, 3)}
    # Alone, with nobody seen together, the model's own threshold holds.
    alone = PeopleLinker(_Fixed())
    _feed(alone, range(0, 20), [_face(1, 100)])
    assert alone.threshold() == LinkSettings().threshold


def test_a_turned_face_is_not_embedded() -> None:
    marks = np.array(
        [[110, 120], [150, 120], [158, 140], [115, 160], [145, 160]], np.float32
    )  # nose far right
    turned = Face(Detection(Box(100, 100, 160, 160), 0.9, marks), _UNIFORM, track_id=1)
    assert turn(turned.detection) > LinkSettings().max_turn
    embedder = _ByPlace()
    linker = PeopleLinker(embedder)
    linker.observe(np.zeros((300, 700, 3), np.uint8), [turned], 0.0)
    assert embedder.embedded == 0
    centred = marks.copy()
    centred[2, 0] = 130
    assert turn(Detection(Box(100, 100, 160, 160), 0.9, centred)) == pytest.approx(0.0)
    assert turn(Detection(Box(0, 0, 10, 10), 0.9)) == 0.0  # no landmarks: taken as frontal


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"every_ms": -1}, "every_ms"),
        ({"max_per_track": 0}, "max_per_track"),
        ({"threshold": -0.1}, "threshold"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LinkSettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_video_link_people_reports_people_and_records_them(
    media: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Hamilton clip: the singer is cut away from and back to; linked, they are one person in
    the printout, the summary JSON and the history."""
    clip = media / "short_hamilton_clip.mp4"
    summary, db = tmp_path / "summary.json", tmp_path / "h.sqlite3"
    code = main(
        [
            "video",
            str(clip),
            "--link-people",
            "--summary",
            str(summary),
            "--db",
            f"sqlite:///{db}",
            "--consent",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    data = json.loads(summary.read_text())
    people = data["people"]
    tracks = [t["track_id"] for t in data["tracks"]]
    assert sorted(t for p in people for t in p["track_ids"]) == sorted(tracks)
    assert len(people) < len(tracks)  # someone was linked
    assert f"{len(people)} people ({len(tracks)} tracks)" in out
    joined = next(p for p in people if len(p["track_ids"]) > 1)
    assert joined["person"] == min(joined["track_ids"])
    with sqlite3.connect(db) as con:
        (stored,) = con.execute("select count(*) from session_tracks where source = 'linked'").fetchone()
    assert stored >= len(joined["track_ids"])
    # Nothing but numbers: no table holds anything like an embedding.
    with sqlite3.connect(db) as con:
        columns = [
            r[1] for t in ("session_tracks", "session_people") for r in con.execute(f"pragma table_info({t})")
        ]
    assert not any("embed" in c or "vector" in c for c in columns)
