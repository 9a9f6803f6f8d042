"""The API's contract, checked against what the server really does (issue 29, "an exact contract"):
the OpenAPI document states every answer (status codes, content types, models, bounds JSON Schema
can state exactly); real answers validate against it; the AsyncAPI document (``/asyncapi.json``)
describes every message of real live-stream sessions; a 405 lists every method of its path; no
error names a path of the server's machine; the API reference loads nothing from elsewhere and
passes axe-core.

schemathesis checks the rest in CI (``.ci/run``): every check, the stateful phase following the
document's links, against a live server over the history ``seed_history`` writes
(``python tests/test_contract.py seed URL``).
"""

from __future__ import annotations

import json
import re
import struct
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")

TOKEN = "contract-token-0123456789abcdef"


def seed_history(url: str, sessions: int = 2) -> None:
    """A history to test the API against: ``sessions`` recorded sessions (people merged and named,
    a hidden track, a correction; the first with frame rows), an empty one, and two profiles with
    samples. schemathesis deletes sessions as it goes: CI seeds enough for its stateful phase."""
    from moodlens.labels import LABELS
    from moodlens.store import HistoryStore
    from moodlens.store.profiles import NewSample

    store = HistoryStore(url, create=True)
    try:
        store.create_profile("ann", consent=True)
        store.create_profile("Zoë 2", consent=True)
        neutral = [0.05, 0.02, 0.03, 0.1, 0.05, 0.05, 0.7]
        store.add_profile_samples(
            "ann",
            [
                NewSample(kind="neutral", probabilities=neutral, model="seed:000000000000", source="seed"),
                NewSample(
                    kind="correction",
                    probabilities=[0.1, 0.05, 0.05, 0.2, 0.5, 0.05, 0.05],
                    model="seed:000000000000",
                    label="sad",
                    source="=seed",
                ),
            ],
        )
        for n in range(sessions):
            frame_rows = n == 0
            sid = store.start_session(name=f"seed {n}", consent=True, frame_rows=frame_rows, profile="ann")
            spans = {1: (0, "happy"), 2: (0, "neutral"), 3: (1, "happy"), 4: (1, "angry"), 5: (2, "sad")}
            rows, frames = [], []
            for track, (second, label) in spans.items():
                p = {name: (0.8 if name == label else 0.2 / 6) for name in LABELS}
                row: dict[str, Any] = {"session_id": sid, "track_id": track, "start_ms": second * 1000}
                row.update(
                    end_ms=second * 1000 + 966, start_at=datetime(2026, 3, 2, 9, tzinfo=UTC), frames=30
                )
                row.update({f"p_{name}": v for name, v in p.items()}, dominant=label)
                row.update({f"t_{name}": (966.0 if name == label else 0.0) for name in LABELS})
                rows.append(row)
                if frame_rows:
                    frame = {
                        "session_id": sid,
                        "track_id": track,
                        "timestamp_ms": second * 1000,
                        "label": label,
                    }
                    frames.append({**frame, **{f"p_{name}": v for name, v in p.items()}})
            store.insert(rows, frames)
            store.end_session(sid, media_ms=3000)
            store.merge_tracks(sid, [1, 3, 5])
            store.rename_person(sid, 1, "Singer", consent=True)
            store.hide_track(sid, 4)
            store.add_correction(
                sid, track_id=2, start_ms=0, end_ms=500, wrong_label="neutral", correct_label="sad"
            )
        empty = store.start_session(name="nothing recorded", consent=True)
        store.end_session(empty, media_ms=0)
    finally:
        store.close()


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    seed_history(sys.argv[2], *(int(n) for n in sys.argv[3:4]))


# --- fixtures ---------------------------------------------------------------------------------------


def _analyzer() -> Any:
    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.results import Box, Detection

    marks = [[90, 100], [150, 100], [120, 130], [95, 170], [145, 170]]
    return Analyzer(FakeDetector([Detection(Box(40, 30, 200, 230), 0.95, marks)]), FakeClassifier())


def _app(tmp_path: Path, **settings: Any) -> Any:
    from moodlens.service import ServiceSettings, create_app

    db = f"sqlite:///{tmp_path / 'history.sqlite3'}"
    seed_history(db)
    return create_app(ServiceSettings(db=db, max_fps=1000, **settings), analyzer=_analyzer())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(_app(tmp_path), base_url="http://127.0.0.1") as c:
        yield c


def _jpeg(width: int = 320, height: int = 240) -> bytes:
    ok, buffer = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buffer.tobytes()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


# --- the OpenAPI document ------------------------------------------------------------------------------


def test_labels_and_per_label_objects_follow_the_canonical_order() -> None:
    from typing import get_args

    from moodlens.labels import LABELS
    from moodlens.service import schemas

    assert get_args(schemas.Label) == LABELS
    assert get_args(schemas.ShownLabel) == (*LABELS, "uncertain")
    for model in (
        schemas.Probabilities,
        schemas.Shares,
        schemas.LabelMs,
        schemas.LabelCounts,
        schemas.LabelShift,
    ):
        assert tuple(model.model_fields) == LABELS, model.__name__


def test_every_operation_states_its_answers(client: Any) -> None:
    doc = client.get("/openapi.json").json()
    ids = [operation["operationId"] for _, _, operation in _operations(doc)]
    assert len(ids) == len(set(ids)) == 27
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, where
        for code, answer in responses.items():
            assert answer.get("description"), (where, code)
            for media, content in answer.get("content", {}).items():
                schema = content.get("schema", {})
                # A model, a list of models, or text: never a bare "any JSON".
                assert schema, (where, code, media)
                if media == "application/json":
                    assert "$ref" in json.dumps(schema) or schema.get("type") == "array", (where, code)
        # The guard's and the server's refusals, on every operation they can reach.
        assert {"400", "503"} <= set(responses), where
        if method in ("post", "put", "delete"):
            assert "403" in responses, where
        if "requestBody" in operation:
            assert {"408", "413"} <= set(responses), where
        if operation.get("parameters") or "application/json" in operation.get("requestBody", {}).get(
            "content", {}
        ):
            # A parameter or JSON body the schema refuses: our 422, with every failed input.
            assert responses["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
                "/InvalidRequestOut"
            ), where
    assert "security" not in doc  # no token on this server: none is asked for
    assert "/asyncapi.json" in doc["info"]["description"]


def test_the_document_types_requests_exactly(client: Any) -> None:
    from moodlens.labels import LABELS
    from moodlens.service.contract import MOMENT_PATTERN

    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    correction = schemas["Correction"]
    assert correction["properties"]["wrong_label"]["enum"] == list(LABELS)
    assert correction["properties"]["correct_label"]["anyOf"][0]["enum"] == list(LABELS)
    assert correction["required"] == ["track_id", "start_ms", "end_ms", "wrong_label"]
    assert len(correction["allOf"]) == 7  # the right label differs from the wrong one
    form = doc["paths"]["/api/v1/analyze"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["image"]
    for path in ("/api/v1/sessions/{session_id}/export", "/api/v1/export"):
        answer = doc["paths"][path]["get"]["responses"]["200"]
        assert set(answer["content"]) == {"application/json", "text/csv"}, path
        assert "Content-Disposition" in answer["headers"]
    assert schemas["Merge"]["properties"]["track_ids"]["uniqueItems"] is True
    assert schemas["NewProfile"]["required"] == ["name", "consent"]
    assert schemas["NewProfile"]["properties"]["consent"]["const"] is True
    # Every bound is one a JSON number holds exactly (2^63 - 1 is read as 2^63 by doubles).
    bounds = [n[k] for n in _walk(doc) for k in ("maximum", "minimum") if isinstance(n.get(k), int)]
    assert bounds and max(bounds) == 2**53 - 1
    since = next(p for p in doc["paths"]["/api/v1/distribution"]["get"]["parameters"] if p["name"] == "since")
    assert since["schema"]["pattern"] == MOMENT_PATTERN


def test_a_server_that_requires_its_token_says_so(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(_app(tmp_path, token=TOKEN), base_url="http://127.0.0.1") as c:
        assert c.get("/openapi.json").status_code == 401
        doc = c.get("/openapi.json", headers={"authorization": f"Bearer {TOKEN}"}).json()
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "header", "cookie", "query"}
    assert all("401" in operation["responses"] for _, _, operation in _operations(doc))


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/api/v1/sessions/1", "GET, DELETE"),
        ("PUT", "/api/v1/sessions/1", "GET, DELETE"),
        ("PATCH", "/api/v1/profiles", "GET, POST"),
        ("PUT", "/api/v1/profiles/ann", "GET, DELETE"),
        ("POST", "/api/v1/health", "GET"),
        ("GET", "/api/v1/analyze", "POST"),
    ],
)
def test_a_405_names_every_method_of_its_path(client: Any, method: str, path: str, allow: str) -> None:
    reply = client.request(method, path)
    assert reply.status_code == 405
    assert reply.headers["allow"] == allow
    assert reply.json() == {"error": f"{method} is not allowed here: use {allow}"}


@pytest.mark.parametrize(
    ("moment", "status"),
    [
        ("2026-03-02", 200),
        ("2024-02-29T23:59:59.5Z", 200),
        ("2026-03-02T09:30+02:00", 200),
        ("0001-01-01T00:00:00", 200),
        ("0001-01-01T00:00-05:00", 200),
        ("9999-12-31T23:59:59+14:00", 200),
        ("0.5", 422),  # a Unix time to Pydantic, not a date
        ("2023-02-29", 422),
        ("2026-03-02 09:30", 422),
        ("20260302", 422),
        ("2026-03-02T24:00", 422),
        ("0001-01-01T00:00:00+14:00", 400),  # year 0 in UTC
        ("9999-12-31T23:59:59-14:00", 400),  # year 10000 in UTC
    ],
)
def test_dates_and_times_are_the_pattern_the_document_states(client: Any, moment: str, status: int) -> None:
    from moodlens.service.contract import MOMENT_PATTERN

    reply = client.get("/api/v1/distribution", params={"since": moment})
    assert reply.status_code == status, reply.text
    assert bool(re.fullmatch(MOMENT_PATTERN, moment)) is (status == 200)


def test_the_moment_pattern_is_the_calendar() -> None:
    """Every day of the years around the edges and the leap-year rules, against the calendar."""
    import calendar

    from moodlens.service.contract import MOMENT_PATTERN

    pattern = re.compile(MOMENT_PATTERN)
    for year in (*range(1, 9), 100, 400, 1900, 2000, 2023, 2024, 9996, 9999):
        for month in range(1, 13):
            for day in range(1, 32):
                text = f"{year:04d}-{month:02d}-{day:02d}"
                assert bool(pattern.fullmatch(text)) is (day <= calendar.monthrange(year, month)[1]), text
    assert not pattern.fullmatch("0000-01-01")


# --- real answers against the document -------------------------------------------------------------------


def _validator(doc: dict[str, Any], pointer: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resource(
        "urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return Draft202012Validator({"$ref": f"urn:doc#{pointer}"}, registry=registry)


def _answer_schema(doc: dict[str, Any], path: str, method: str, status: int, media: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    answer = doc["paths"][path][method]["responses"][str(status)]
    assert media in answer["content"], (path, status, media)
    return f"/paths/{escaped}/{method}/responses/{status}/content/{media.replace('/', '~1')}/schema"


def test_real_answers_validate_against_the_document(client: Any) -> None:
    """One request of each kind (answers and refusals) on a seeded history: each body validates
    against what the document says for its operation, status and content type."""
    doc = client.get("/openapi.json").json()
    base = "/api/v1"
    sample = client.get(f"{base}/profiles/ann").json()["samples"][0]["id"]
    requests: list[tuple[str, str, str, dict[str, Any]]] = [
        ("get", "/health", "/health", {}),
        ("get", "/labels", "/labels", {}),
        ("get", "/version", "/version", {}),
        ("post", "/analyze", "/analyze", {"files": {"image": ("x.jpg", _jpeg(), "image/jpeg")}}),
        ("post", "/analyze", "/analyze", {"content": b"text", "headers": {"content-type": "image/png"}}),
        ("get", "/sessions", "/sessions", {}),
        ("get", "/sessions/{session_id}", "/sessions/1", {}),
        ("get", "/sessions/{session_id}", "/sessions/3", {}),  # nothing recorded: no distribution
        ("get", "/sessions/{session_id}", "/sessions/99", {}),
        ("get", "/sessions/{session_id}", "/sessions/0", {}),
        ("get", "/sessions/{session_id}/timeline", "/sessions/1/timeline?include_hidden=true", {}),
        ("get", "/distribution", "/distribution?period=week", {}),
        ("get", "/sessions/{session_id}/export", "/sessions/1/export", {}),
        ("get", "/export", "/export", {}),
        ("get", "/sessions/{session_id}/people", "/sessions/1/people?include_hidden=true", {}),
        ("post", "/sessions/{session_id}/people/merge", "/sessions/2/people/merge",
         {"json": {"track_ids": [2, 4]}}),
        ("post", "/sessions/{session_id}/tracks/{track_id}/split", "/sessions/2/tracks/3/split", {}),
        ("put", "/sessions/{session_id}/people/{number}/nickname", "/sessions/2/people/2/nickname",
         {"json": {"nickname": "Pianist", "consent": True}}),
        ("post", "/sessions/{session_id}/tracks/{track_id}/hide", "/sessions/2/tracks/2/hide", {}),
        ("post", "/sessions/{session_id}/corrections", "/sessions/1/corrections",
         {"json": {"track_id": 1, "start_ms": 0, "end_ms": 900, "wrong_label": "happy"}}),
        ("post", "/sessions/{session_id}/corrections", "/sessions/1/corrections",
         {"json": {"track_id": 1, "start_ms": 0, "end_ms": 900, "wrong_label": "Happy"}}),
        ("get", "/profiles", "/profiles", {}),
        ("post", "/profiles", "/profiles", {"json": {"name": "bo", "consent": True}}),
        ("post", "/profiles", "/profiles", {"json": {"name": "bo", "consent": True}}),
        ("post", "/profiles", "/profiles", {"json": {"name": "cy", "consent": False}}),
        ("get", "/profiles/{name}", "/profiles/ann", {}),
        ("get", "/profiles/{name}/export", "/profiles/ann/export", {}),
        ("get", "/profiles/{name}/fit", "/profiles/ann/fit", {}),
        ("get", "/profiles/{name}/fit", "/profiles/ann/fit?reader=browser", {}),
        ("get", "/profiles/{name}/fit", "/profiles/nobody/fit", {}),
        ("post", "/profiles/{name}/samples", "/profiles/ann/samples",
         {"json": {"kind": "neutral", "readings": [[0.1, 0, 0, 0.2, 0.1, 0, 0.6]]}}),
        ("post", "/profiles/{name}/samples", "/profiles/ann/samples",
         {"json": {"kind": "correction", "readings": [[0.1, 0, 0, 0.2, 0.1, 0, 0.6]]}}),
        ("post", "/profiles/{name}/samples", "/profiles/ann/samples",
         {"json": {"kind": "neutral", "readings": [[0.1, 0, 0, 0.2]]}}),
        ("delete", "/profiles/{name}/samples/{sample_id}", f"/profiles/ann/samples/{sample}", {}),
        ("post", "/profiles/{name}/reset", "/profiles/ann/reset", {}),
        ("get", "/profiles/{name}", "/profiles/nobody", {}),
        ("delete", "/sessions/{session_id}", "/sessions/2", {}),
        ("delete", "/profiles/{name}", "/profiles/bo", {}),
    ]  # fmt: skip
    seen = set()
    for method, template, url, options in requests:
        reply = client.request(method.upper(), base + url, **options)
        where = (method, url, reply.status_code)
        seen.add(reply.status_code)
        assert str(reply.status_code) in doc["paths"][base + template][method]["responses"], where
        if reply.status_code == 204:
            assert reply.content == b"", where
            continue
        media = reply.headers["content-type"].split(";")[0]
        pointer = _answer_schema(doc, base + template, method, reply.status_code, media)
        errors = [e.message for e in _validator(doc, pointer).iter_errors(reply.json())]
        assert not errors, (where, errors[:3])
    csv = client.get(f"{base}/sessions/1/export?format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert (
        "text/csv"
        in doc["paths"][f"{base}/sessions/{{session_id}}/export"]["get"]["responses"]["200"]["content"]
    )
    assert {200, 201, 204, 400, 404, 409, 422} <= seen


# --- the live stream against the AsyncAPI document ------------------------------------------------------


def _frame(t: float) -> bytes:
    return struct.pack("<d", t) + _jpeg()


class _Checked:
    """A WebSocket whose every JSON message, each way, is validated against /asyncapi.json."""

    def __init__(self, ws: Any, doc: dict[str, Any]) -> None:
        self.ws = ws
        self.doc = doc
        self.received: list[dict[str, Any]] = []

    def _check(self, name: str, message: dict[str, Any]) -> None:
        errors = [
            e.message
            for e in _validator(self.doc, f"/components/messages/{name}/payload").iter_errors(message)
        ]
        assert not errors, (name, message, errors[:3])

    def send(self, message: dict[str, Any]) -> None:
        self._check(message["type"], message)
        self.ws.send_text(json.dumps(message))

    def send_frame(self, t: float) -> None:
        self.ws.send_bytes(_frame(t))

    def receive(self) -> dict[str, Any]:
        message: dict[str, Any] = self.ws.receive_json()
        server_sends = [ref["$ref"].rsplit("/", 1)[1] for ref in self.doc["operations"]["send"]["messages"]]
        assert message["type"] in server_sends, message
        self._check(message["type"], message)
        self.received.append(message)
        return message


def test_the_stream_sends_what_the_asyncapi_document_says(tmp_path: Path) -> None:
    """Real sessions (a profile calibrated and corrected, people linked, refusals of each kind):
    every message either side sends validates against the served document, which declares every
    property the server sends (additionalProperties: false)."""
    from fastapi.testclient import TestClient

    from moodlens.identity.embedder import FakeEmbedder

    app = _app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        doc = client.get("/asyncapi.json").json()
        assert doc["asyncapi"] == "3.0.0" and doc["channels"]["stream"]["address"] == "/api/v1/stream"
        app.state.services.embedder = FakeEmbedder()
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, doc)
            raw.send_text("{not json")
            assert ws.receive()["code"] == "bad_message"
            ws.send_frame(0.0)
            assert ws.receive()["code"] == "not_started"
            ws.send({"type": "calibrate", "seconds": 3})
            assert ws.receive()["code"] == "no_profile"
            raw.send_text(json.dumps({"type": "start", "consent": False}))
            assert ws.receive()["code"] == "consent_required"
            ws.send({"type": "start", "consent": True, "profile": "nobody"})
            assert ws.receive()["code"] == "unknown_profile"
            ws.send(
                {"type": "start", "consent": True, "name": "contract", "profile": "ann", "link_people": True}
            )
            started = ws.receive()
            assert started["type"] == "started" and started["recording"] and started["link_people"]
            ws.send({"type": "correct", "label": "sad"})
            assert ws.receive()["code"] == "no_face"
            ws.send({"type": "calibrate", "seconds": 1})
            t = 0.0
            events = []
            while t <= 1600:  # the calibration ends after a second of capture time
                ws.send_frame(t)
                reply = ws.receive()
                if reply["type"] == "profile":
                    events.append(reply["event"])
                    reply = ws.receive()
                assert reply["type"] == "result"
                t += 100
            ws.send({"type": "correct", "not": "happy"})
            events.append(ws.receive()["event"])
            ws.send({"type": "reload_profile"})
            events.append(ws.receive()["event"])
            assert events == ["calibrated", "corrected", "reloaded"]
            ws.send({"type": "ping"})
            assert ws.receive()["type"] == "pong"
            raw.send_bytes(b"\x00" * 4)
            assert ws.receive()["code"] == "bad_frame"
            raw.send_text(json.dumps({"type": "correct", "label": "sad", "not": "happy"}))
            assert ws.receive()["code"] == "bad_message"
            ws.send({"type": "stop"})
            stopped = ws.receive()
        assert stopped["type"] == "stopped" and stopped["session_id"] == started["session_id"]
        assert stopped["people_summaries"] and stopped["tracks"]
        results = [m for m in ws.received if m["type"] == "result"]
        faces = [face for m in results for face in m["faces"]]
        assert {"landmarks", "track_id", "profile", "model_probabilities", "smoothed_probabilities"} <= {
            key for face in faces for key in face
        }
        assert any(m["headline"] is not None for m in results)
        assert {m["type"] for m in ws.received} == {
            "started",
            "result",
            "stopped",
            "pong",
            "profile",
            "error",
        }


def _observed(t: float, *faces: tuple[int, str, float]) -> dict[str, Any]:
    """An observations message: each face (track id, stable label, its probability), the rest of
    the probability spread evenly over the other labels."""
    from moodlens.labels import LABELS

    out = []
    for track_id, label, p in faces:
        probs = {name: round((1 - p) / 6, 4) for name in LABELS}
        probs[label] = round(1 - sum(v for name, v in probs.items() if name != label), 4)
        out.append({"track_id": track_id, "stable_label": label, "smoothed_probabilities": probs})
    return {"type": "observations", "t": t, "faces": out}


def test_a_browser_mode_session_records_observations_and_refuses_frames(tmp_path: Path) -> None:
    """Browser mode: a record-only session takes what the history keeps (observations), checks
    every field, refuses frames (never decoded, counted in the summary), and stores a session of
    the same shape as a server-mode one, which the history routes give back; every message each way
    validates against the served AsyncAPI document."""
    from fastapi.testclient import TestClient

    app = _app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        doc = client.get("/asyncapi.json").json()
        assert "observations" in doc["channels"]["stream"]["messages"]
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, doc)
            ws.send(_observed(0.0, (1, "happy", 0.8)))
            assert ws.receive()["code"] == "not_started"
            raw.send_text(json.dumps({"type": "start", "consent": True, "mode": "phone"}))
            assert ws.receive()["code"] == "bad_message"
            ws.send({"type": "start", "consent": True, "mode": "browser", "profile": "nobody"})
            assert ws.receive()["code"] == "unknown_profile"
            ws.send({"type": "start", "consent": True, "mode": "browser", "link_people": True})
            assert ws.receive()["code"] == "bad_message"
            ws.send({"type": "start", "consent": True, "mode": "browser", "name": "on the device"})
            started = ws.receive()
            assert started["mode"] == "browser" and started["recording"] and started["session_id"]
            ws.send_frame(0.0)
            assert ws.receive()["code"] == "frames_refused"
            t = 0.0
            for step in range(30):  # 3 s: two people, one of them turning sad half-way
                ws.send(_observed(t, (1, "happy" if step < 15 else "sad", 0.7), (2, "neutral", 0.9)))
                t += 100.0
            bad = [
                _observed(t, (1, "joy", 0.7)),  # not a label
                _observed(t, (0, "happy", 0.7)),  # track ids start at 1
                _observed(t, (1, "happy", 0.7), (1, "sad", 0.7)),  # one track twice
                _observed(t - 500, (1, "happy", 0.7)),  # back in time
                _observed(float("nan"), (1, "happy", 0.7)),
                {"type": "observations", "t": t, "faces": "none"},
                {"type": "observations", "faces": []},
            ]
            half = _observed(t, (1, "happy", 0.7))
            half["faces"][0]["smoothed_probabilities"]["neutral"] += 0.5  # sums to 1.5
            missing = _observed(t, (1, "happy", 0.7))
            del missing["faces"][0]["smoothed_probabilities"]["fear"]
            for message in [*bad, half, missing]:
                raw.send_text(json.dumps(message))
                assert ws.receive()["code"] == "bad_observations", message
            ws.send({"type": "stop"})
            stopped = ws.receive()
        assert stopped["type"] == "stopped" and stopped["mode"] == "browser"
        assert stopped["session_id"] == started["session_id"] and stopped["binary_messages"] == 1
        assert stopped["frames"] == 30 and stopped["track_count"] == 2 and stopped["people"] == 2
        first = next(s for s in stopped["tracks"] if s["track_id"] == 1)
        assert first["shares"]["happy"] == pytest.approx(0.5, abs=0.05)
        assert first["shares"]["sad"] == pytest.approx(0.5, abs=0.05)

        # Stored as a server-mode session is: the same routes, the same shape.
        session = client.get(f"/api/v1/sessions/{started['session_id']}").json()
        errors = [
            e.message
            for e in _validator(
                client.get("/openapi.json").json(),
                _answer_schema(
                    client.get("/openapi.json").json(),
                    "/api/v1/sessions/{session_id}",
                    "get",
                    200,
                    "application/json",
                ),
            ).iter_errors(session)
        ]
        assert not errors, errors[:3]
        assert session["name"] == "on the device" and session["ended_at"]
        assert sorted(p["track_ids"][0] for p in session["people"]) == [1, 2]
        timeline = client.get(f"/api/v1/sessions/{started['session_id']}/timeline").json()
        assert timeline and {row["track_id"] for row in timeline} == {1, 2}


def test_a_browser_mode_session_needs_the_database(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from moodlens.service import ServiceSettings, create_app

    app = create_app(ServiceSettings(max_fps=1000), analyzer=_analyzer())
    with (
        TestClient(app, base_url="http://127.0.0.1") as client,
        client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw,
    ):
        ws = _Checked(raw, client.get("/asyncapi.json").json())
        ws.send({"type": "start", "consent": True, "mode": "browser"})
        assert ws.receive()["code"] == "no_history"


def test_every_error_code_the_stream_sends_is_documented() -> None:
    """The codes in stream.py's refusals are the document's (a new one must be described)."""
    from typing import get_args

    from moodlens.service import stream
    from moodlens.service.asyncapi import ErrorCode

    source = Path(stream.__file__).read_text(encoding="utf-8")
    sent = set(re.findall(r'\.fail\(\s*"([a-z_]+)"', source))
    assert sent == set(get_args(ErrorCode))


# --- errors name nothing of the server's machine ----------------------------------------------------------

#: One request per operation (and the stream's handshake is not HTTP): what each error says.
_EVERY_OPERATION: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/sessions", {}),
    ("GET", "/api/v1/sessions/1", {}),
    ("GET", "/api/v1/sessions/1/timeline", {}),
    ("GET", "/api/v1/distribution?since=2026-01-01", {}),
    ("GET", "/api/v1/sessions/1/export?format=csv", {}),
    ("GET", "/api/v1/export", {}),
    ("DELETE", "/api/v1/sessions/1", {}),
    ("POST", "/api/v1/sessions/1/corrections",
     {"json": {"track_id": 1, "start_ms": 0, "end_ms": 9, "wrong_label": "sad"}}),
    ("GET", "/api/v1/sessions/1/people", {}),
    ("POST", "/api/v1/sessions/1/people/merge", {"json": {"track_ids": [1, 2]}}),
    ("POST", "/api/v1/sessions/1/tracks/1/split", {}),
    ("PUT", "/api/v1/sessions/1/people/1/nickname", {"json": {"nickname": None}}),
    ("POST", "/api/v1/sessions/1/tracks/1/hide", {}),
    ("POST", "/api/v1/sessions/1/tracks/1/unhide", {}),
    ("GET", "/api/v1/profiles", {}),
    ("POST", "/api/v1/profiles", {"json": {"name": "new", "consent": True}}),
    ("GET", "/api/v1/profiles/ann", {}),
    ("POST", "/api/v1/profiles/ann/reset", {}),
    ("DELETE", "/api/v1/profiles/ann/samples/1", {}),
    ("GET", "/api/v1/profiles/ann/export", {}),
    ("DELETE", "/api/v1/profiles/ann", {}),
]  # fmt: skip


def test_no_error_names_a_path_or_address_of_the_server(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A history in a folder with a telling name, whose database then fails in every call with the
    store's own words (they name the database): every answer says what failed, never where."""
    from fastapi.testclient import TestClient

    from moodlens.store import StoreError

    folder = tmp_path / "private-folder-7f3a"
    folder.mkdir()
    app = _app(folder)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        answers = [client.request(m, url, **options) for m, url, options in _EVERY_OPERATION]
        answers += [client.get("/api/v1/sessions/99"), client.get("/api/v1/profiles/nobody/export")]
        store = app.state.services.store
        where = store.where

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise StoreError(f"{where}: cannot read (disk I/O error); sqlite:///{folder}/history.sqlite3")

        for name in dir(type(store)):
            if not name.startswith("_") and name != "close" and callable(getattr(store, name)):
                setattr(store, name, broken)
        failed = [client.request(m, url, **options) for m, url, options in _EVERY_OPERATION]
    assert {a.status_code for a in failed} == {503}
    for answer in answers + failed:
        assert "private-folder" not in answer.text and str(tmp_path) not in answer.text, answer.text
        assert "sqlite" not in answer.text.lower(), answer.text
        assert answer.status_code < 500 or answer.status_code == 503
    assert "private-folder-7f3a" in caplog.text  # the server's log keeps the details


# --- the API reference in a browser ---------------------------------------------------------------------


def test_the_api_reference_is_in_the_package_with_its_licences() -> None:
    """pyproject's package-data carries the reference page and the vendored ReDoc with its licences."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    package = root / "src" / "moodlens"
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "moodlens"
    ]
    carried = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    static = package / "service" / "static"
    vendor = static / "vendor" / "redoc"
    needed = [static / "redoc.html", static / "redoc.js", static / "redoc.css", *vendor.iterdir()]
    assert {p.name for p in vendor.iterdir()} >= {"LICENSE", "SOURCE", "redoc.standalone.js.LICENSE.txt"}
    assert not [str(p.relative_to(package)) for p in needed if p not in carried]
    assert "cdn.redoc.ly" not in (vendor / "redoc.standalone.js").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moodlens serve`` over a seeded history, as a person runs it."""
    import subprocess

    from conftest import wait_until_serving
    from test_browser import _free_port, _requirements

    _requirements()
    db = f"sqlite:///{tmp_path_factory.mktemp('db') / 'history.sqlite3'}"
    seed_history(db)
    url = f"http://127.0.0.1:{_free_port()}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "serve", "--port", url.rsplit(":", 1)[1], "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until_serving(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(("path", "rendered"), [("/redoc", ".api-content h2"), ("/docs", ".opblock")])
def test_the_api_reference_loads_nothing_from_elsewhere_and_passes_axe(
    served: str, path: str, rendered: str
) -> None:
    """Every request the page makes (the browser's own network log) goes to this server, the
    stream's document is linked, and axe-core finds no violation."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from test_browser import CHROMEDRIVER, CHROMIUM
    from test_dashboard_browser import AXE

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--disable-background-networking", "--disable-component-update",
                "--no-first-run"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(served + path)
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, rendered))
        links = [
            a.get_attribute("href")
            for a in driver.find_elements(By.CSS_SELECTOR, "a[href$='/asyncapi.json']")
        ]
        assert links, "the API reference links the stream's AsyncAPI document"
        requested = [
            json.loads(entry["message"])["message"]["params"]["request"]["url"]
            for entry in driver.get_log("performance")
            if '"Network.requestWillBeSent"' in entry["message"]
        ]
        assert requested, "no request was logged"
        outside = [u for u in requested if not u.startswith((served, "data:", "blob:"))]
        assert outside == [], outside
        refused = [
            e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]
        ]
        assert refused == [], refused
        if not AXE.is_file():
            pytest.skip(
                f"axe-core not found at {AXE}: .ci/run takes it from the npm registry (MOODLENS_AXE_JS)"
            )
        driver.execute_script(AXE.read_text(encoding="utf-8"))
        violations = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => "
            "({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))));"
        )
        assert violations == [], json.dumps(violations, indent=1)
    finally:
        driver.quit()


def test_the_stream_names_no_path_of_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recorder fails while closing (a full disk): the stop summary says so, without the path."""
    from fastapi.testclient import TestClient

    from moodlens.store import HistoryWriter, StoreError

    def full_disk(self: Any) -> None:
        self.error = StoreError(f"{self.store.where}: could not close the session (disk full)")

    monkeypatch.setattr(HistoryWriter, "close", full_disk)
    folder = tmp_path / "private-folder-7f3a"
    folder.mkdir()
    with (
        TestClient(_app(folder), base_url="http://127.0.0.1") as client,
        client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws,
    ):
        ws.send_text(json.dumps({"type": "start", "consent": True}))
        ws.receive_json()
        ws.send_bytes(_frame(0.0))
        ws.receive_json()
        ws.send_text(json.dumps({"type": "stop"}))
        stopped = ws.receive_json()
    assert "history_error" in stopped
    assert "private-folder" not in json.dumps(stopped), stopped["history_error"]


def test_a_browser_mode_session_with_a_profile(tmp_path: Path) -> None:
    """Browser mode with a profile: the page adds its own engine's readings as samples over REST
    (kept under the engine's model, apart from the server's), gets back the fit it applies, and
    records a session in which the one face read through the profile carries the model's reading,
    which the history keeps; calibrate and correct over the stream are refused with what to do."""
    from fastapi.testclient import TestClient

    from moodlens.labels import LABELS
    from moodlens.personal import Profile, Sample, mean_reading
    from moodlens.service.models_route import engine_model_id

    app = _app(tmp_path)
    engine = engine_model_id()
    rest = [0.02, 0.02, 0.03, 0.03, 0.5, 0.02, 0.38]  # a resting face the model reads as sad
    with TestClient(app, base_url="http://127.0.0.1") as client:
        base = "/api/v1/profiles/ann"
        before = client.get(f"{base}/fit?reader=browser").json()
        assert before["model"] == engine and before["reader"] == "browser"
        assert not before["fitted"]["baseline_set"]  # the seeded samples are another model's
        readings = [rest, [0.03, 0.02, 0.03, 0.02, 0.45, 0.02, 0.43]]
        added = client.post(f"{base}/samples", json={"kind": "neutral", "readings": readings})
        assert added.status_code == 201, added.text
        body = added.json()
        stored = next(s for s in body["profile"]["samples"] if s["id"] == body["sample_id"])
        assert stored["model"] == engine and stored["kind"] == "neutral"
        assert [stored["probabilities"][n] for n in LABELS] == pytest.approx(mean_reading(readings), abs=1e-6)
        assert "2 frame(s)" in stored["source"] and "browser" in stored["source"]
        fitted = Profile.fit("ann", [Sample("neutral", mean_reading(readings))])
        numbers, expected = body["fit"]["numbers"], fitted.wire()
        assert numbers["shift"] == pytest.approx(expected.pop("shift"), abs=1e-6)
        assert {k: v for k, v in numbers.items() if k != "shift"} == expected
        assert body["fit"]["fitted"]["baseline_set"] and body["profile"]["model"] == engine
        assert client.get(f"{base}/fit?reader=browser").json() == body["fit"]
        # Bound to the profile's id (as the page binds its session): a profile deleted and made
        # again under the name is another person's, and the readings never land in it.
        bound = body["fit"]["profile_id"]
        assert bound == client.get(base).json()["id"]
        # The server's own model has no baseline from the page's readings.
        assert not client.get(f"{base}/fit").json()["fitted"]["baseline_set"]
        corrected = client.post(
            f"{base}/samples", json={"kind": "correction", "readings": [rest], "not_label": "sad"}
        )
        assert corrected.status_code == 201 and corrected.json()["fit"]["fitted"]["corrections"] == 1
        refused = [
            {"kind": "neutral", "readings": [rest], "label": "happy"},
            {"kind": "correction", "readings": [rest]},
            {"kind": "correction", "readings": [rest], "label": "happy", "not_label": "sad"},
            {"kind": "neutral", "readings": [[0.5] * 7]},
        ]
        for sent in refused:
            assert client.post(f"{base}/samples", json=sent).status_code == 400, sent
        for sent in [
            {"kind": "neutral", "readings": []},
            {"kind": "neutral", "readings": [rest[:6]]},
            {"kind": "neutral", "readings": [rest], "reader": "phone"},
            {"kind": "happy", "readings": [rest]},
            {"kind": "neutral", "readings": [rest] * 301},
            {"kind": "neutral", "readings": [rest], "image": "..."},
        ]:
            assert client.post(f"{base}/samples", json=sent).status_code == 422, sent
        assert (
            client.post(
                "/api/v1/profiles/nobody/samples", json={"kind": "neutral", "readings": [rest]}
            ).status_code
            == 404
        )

        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, client.get("/asyncapi.json").json())
            ws.send({"type": "start", "consent": True, "mode": "browser", "name": "ann", "profile": "ann"})
            started = ws.receive()
            assert started["profile"] == "ann" and started["mode"] == "browser"
            for what in ({"type": "calibrate", "seconds": 3}, {"type": "correct", "label": "happy"}):
                ws.send(what)
                error = ws.receive()
                assert error["code"] == "bad_message" and "/samples" in error["message"]
            model = {n: v for n, v in zip(LABELS, rest, strict=True)}
            # The model's reading smoothed as without the profile (here angry, its raw one sad):
            # what the history keeps, so that a session has one history with or without a profile.
            held = {n: 0.7 if n == "angry" else 0.05 for n in LABELS}
            t = 0.0
            for _ in range(20):
                message = _observed(t, (1, "neutral", 0.8), (2, "happy", 0.9))
                message["faces"][0].update(
                    model_probabilities=model, model_smoothed_probabilities=held, model_stable_label="angry"
                )
                ws.send(message)
                t += 100.0
            for missing in ("model_stable_label", "model_smoothed_probabilities"):
                half = _observed(t, (1, "neutral", 0.8))
                half["faces"][0].update(
                    model_probabilities=model, model_smoothed_probabilities=held, model_stable_label="angry"
                )
                del half["faces"][0][missing]
                raw.send_text(json.dumps(half))
                refused = ws.receive()
                assert refused["code"] == "bad_observations" and "come together" in refused["message"]
            twice = _observed(t, (1, "neutral", 0.8), (2, "happy", 0.9))
            for face in twice["faces"]:
                face["model_probabilities"] = model
            raw.send_text(json.dumps(twice))
            assert ws.receive()["code"] == "bad_observations"
            ws.send({"type": "stop"})
            stopped = ws.receive()
        assert stopped["frames"] == 20
        session = client.get(f"/api/v1/sessions/{started['session_id']}").json()
        assert session["profile"] == "ann"
        # The history keeps the model's own smoothed reading of the profiled face (angry), the
        # shown one of the other.
        timeline = client.get(f"/api/v1/sessions/{started['session_id']}/timeline").json()
        first = [row for row in timeline if row["track_id"] == 1]
        assert first and all(row["dominant"] == "angry" for row in first)
        assert all(row["dominant"] == "happy" for row in timeline if row["track_id"] == 2)

        # Without a profile, no face may carry the model's reading.
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, client.get("/asyncapi.json").json())
            ws.send({"type": "start", "consent": True, "mode": "browser"})
            assert ws.receive()["profile"] is None
            message = _observed(0.0, (1, "neutral", 0.8))
            message["faces"][0]["model_probabilities"] = model
            ws.send(message)
            assert ws.receive()["code"] == "bad_observations"


def test_a_profile_name_in_another_case_is_the_same_profile(tmp_path: Path) -> None:
    """ "Ann" and "ann" are one person's name: the API refuses to make the second (409, naming the
    one that exists) and reads the existing profile under either spelling."""
    from fastapi.testclient import TestClient

    with TestClient(_app(tmp_path), base_url="http://127.0.0.1") as client:
        refused = client.post("/api/v1/profiles", json={"name": "ANN", "consent": True})
        assert refused.status_code == 409 and "'ann' exists" in refused.json()["error"]
        names = [p["name"] for p in client.get("/api/v1/profiles").json()]
        assert [n for n in names if n.casefold() == "ann"] == ["ann"]
        assert client.get("/api/v1/profiles/Ann").json()["name"] == "ann"
        assert client.post("/api/v1/profiles", json={"name": "ZOË 2", "consent": True}).status_code == 409


def test_a_stream_never_teaches_a_profile_made_again_under_its_profile_s_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera reads faces through "ann"; "ann" is deleted and someone makes "ANN": the stream
    stops reading through the deleted profile (said once, as profile_failed) and a correction sent
    on it never lands in the new person's profile. Odd JSON (a 5,000-digit number, deep nesting)
    is a bad_message, and the stream goes on."""
    from fastapi.testclient import TestClient

    import moodlens.service.stream as stream_module

    monkeypatch.setattr(stream_module, "PROFILE_CHECK_S", 0.0)  # check at every frame
    app = _app(tmp_path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        doc = client.get("/asyncapi.json").json()
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, doc)
            for odd in ('{"type": ' + "9" * 5000 + "}", "[" * 100_000 + "]" * 100_000):
                raw.send_text(odd)
                assert ws.receive()["code"] == "bad_message"
            ws.send({"type": "start", "consent": True, "profile": "ann"})
            assert ws.receive()["profile"] == "ann"
            t, read_through = 0.0, False
            while not read_through and t < 2000:  # until the main track is confirmed
                ws.send_frame(t)
                reply = ws.receive()
                read_through = reply["type"] == "result" and any(
                    f.get("profile") == "ann" for f in reply["faces"]
                )
                t += 100
            assert read_through
            assert client.delete("/api/v1/profiles/ann").status_code == 204
            assert client.post("/api/v1/profiles", json={"name": "ANN", "consent": True}).status_code == 201
            # The check runs beside the frames: the frame that starts it is still read through
            # the profile, and the one after the warning is not.
            replies: list[dict[str, Any]] = []
            while not any(r.get("code") == "profile_failed" for r in replies) and t < 5000:
                t += 100
                ws.send_frame(t)
                replies.append(ws.receive())
                if replies[-1]["type"] == "error" and replies[-1]["code"] == "profile_failed":
                    replies.append(ws.receive())  # that frame's result
            dropped = next(r for r in replies if r.get("code") == "profile_failed")
            assert "'ann' was deleted" in dropped["message"]
            assert [r.get("code") for r in replies].count("profile_failed") == 1
            t += 100
            ws.send_frame(t)
            result = ws.receive()
            assert result["type"] == "result" and not any(f.get("profile") for f in result["faces"])
            ws.send({"type": "correct", "label": "sad"})
            assert ws.receive()["code"] == "no_profile"
            ws.send({"type": "stop"})
            assert ws.receive()["type"] == "stopped"
        assert client.get("/api/v1/profiles/ANN").json()["samples"] == []


def test_text_a_terminal_or_utf_8_cannot_take_is_refused_not_a_crash(tmp_path: Path) -> None:
    """A lone surrogate (JSON "\\ud800") in any text field is a 422 with a one-line error, not a
    500 while echoing it; a session name with an escape sequence or a line break (which `moodlens
    history list` would print) and a `record` given as text are a bad_message on the stream."""
    from fastapi.testclient import TestClient

    bodies = [
        ("post", "/api/v1/profiles", '{"name": "\\ud800x", "consent": true}'),
        ("post", "/api/v1/sessions/1/corrections",
         '{"track_id": 1, "start_ms": 0, "end_ms": 900, "wrong_label": "happy", "note": "x\\ud800"}'),
        ("put", "/api/v1/sessions/2/people/2/nickname", '{"nickname": "x\\ud800", "consent": true}'),
        ("post", "/api/v1/profiles/ann/samples",
         '{"kind": "neutral", "readings": [[0.1, 0, 0, 0.2, 0.1, 0, 0.6]], "source": "x\\ud800"}'),
        ("post", "/api/v1/profiles", '{"consent": true, "\\ud800": {"a": 1}}'),  # in a key (echoed)
    ]  # fmt: skip
    with TestClient(_app(tmp_path), base_url="http://127.0.0.1") as client:
        for method, url, body in bodies:
            reply = client.request(
                method.upper(), url, content=body, headers={"content-type": "application/json"}
            )
            assert reply.status_code == 422, (url, reply.text)
            assert "\n" not in reply.json()["error"]
        sessions = len(client.get("/api/v1/sessions").json())
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
            for start in (
                {"name": "evil\x1b]0;pwned\x07"},
                {"name": "two\nlines"},
                {"name": {"a": 1}},
                {"record": "false"},
                {"name": "evil\x1b[31m", "mode": "browser"},
            ):
                ws.send_json({"type": "start", "consent": True, **start})
                refused = ws.receive_json()
                assert refused["type"] == "error" and refused["code"] == "bad_message", (start, refused)
            ws.send_json({"type": "start", "consent": True, "name": "Zoë's rehearsal", "record": False})
            assert ws.receive_json()["recording"] is False
        assert len(client.get("/api/v1/sessions").json()) == sessions  # none was made


def test_a_browser_mode_session_keeps_a_bounded_number_of_tracks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that sends a new track id in every message cannot grow the server without end: past
    the session's limit, observations with new ids are refused (bad_observations, saying to start
    a new session); the tracks it has go on being recorded."""
    from fastapi.testclient import TestClient

    import moodlens.service.stream as stream_module

    monkeypatch.setattr(stream_module, "MAX_SESSION_TRACKS", 3)
    with TestClient(_app(tmp_path), base_url="http://127.0.0.1") as client:
        doc = client.get("/asyncapi.json").json()
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as raw:
            ws = _Checked(raw, doc)
            ws.send({"type": "start", "consent": True, "mode": "browser", "name": "many"})
            session = ws.receive()["session_id"]
            ws.send(_observed(0.0, (1, "happy", 0.8), (2, "sad", 0.8)))
            ws.send(_observed(100.0, (3, "happy", 0.8)))
            ws.send(_observed(200.0, (3, "happy", 0.8), (4, "sad", 0.8)))
            refused = ws.receive()
            assert refused["code"] == "session_full" and "(3)" in refused["message"]
            ws.send(_observed(300.0, (1, "happy", 0.8), (3, "happy", 0.8)))  # known ids: fine
            ws.send({"type": "stop"})
            stopped = ws.receive()
        assert stopped["type"] == "stopped" and [t["track_id"] for t in stopped["tracks"]] == [1, 2, 3]
        assert client.get(f"/api/v1/sessions/{session}").json()["tracks"] == 3


def test_a_slow_database_never_holds_up_a_frame_read_through_a_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check that the session's profile still exists runs beside the frames: a database that
    takes seconds to answer (or fails) delays no result, and a failure is not a deletion."""
    from fastapi.testclient import TestClient

    import moodlens.service.stream as stream_module

    monkeypatch.setattr(stream_module, "PROFILE_CHECK_S", 0.0)
    app = _app(tmp_path)

    def slow_then_down(name: str) -> Any:
        time.sleep(2.0)
        raise OSError("the database server does not answer")

    with (
        TestClient(app, base_url="http://127.0.0.1") as client,
        client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws,
    ):
        ws.send_json({"type": "start", "consent": True, "profile": "ann", "record": False})
        assert ws.receive_json()["type"] == "started"
        monkeypatch.setattr(app.state.services.store, "get_profile", slow_then_down)
        waits = []
        for i in range(8):
            started = time.monotonic()
            ws.send_bytes(struct.pack("<d", i * 100.0) + _jpeg())
            reply = ws.receive_json()
            waits.append(time.monotonic() - started)
            assert reply["type"] == "result", reply
        assert max(waits) < 1.5, waits
        ws.send_json({"type": "stop"})
        stopped = ws.receive_json()
    assert stopped["type"] == "stopped"


def test_readings_bound_to_a_profile_id_never_reach_a_profile_made_again(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    rest = [0.02, 0.02, 0.03, 0.03, 0.5, 0.02, 0.38]
    with TestClient(_app(tmp_path), base_url="http://127.0.0.1") as client:
        bound = client.get("/api/v1/profiles/ann/fit?reader=browser").json()["profile_id"]
        sample = {"kind": "neutral", "readings": [rest], "profile_id": bound}
        assert client.post("/api/v1/profiles/ann/samples", json=sample).status_code == 201
        assert client.delete("/api/v1/profiles/ann").status_code == 204
        assert client.post("/api/v1/profiles", json={"name": "Ann", "consent": True}).status_code == 201
        refused = client.post("/api/v1/profiles/ann/samples", json=sample)
        assert (
            refused.status_code == 404 and "was deleted after this session started" in refused.json()["error"]
        )
        assert client.get("/api/v1/profiles/Ann").json()["samples"] == []
        unbound = {"kind": "neutral", "readings": [rest]}  # a script that names the profile only
        assert client.post("/api/v1/profiles/ann/samples", json=unbound).status_code == 201
