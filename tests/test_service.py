"""In-process tests of the web app: REST API, WebSocket stream, token, limits, malformed input."""

from __future__ import annotations

import json
import os
import stat
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")

from fastapi.testclient import TestClient

from moodlens import Analyzer, FakeClassifier, FakeDetector
from moodlens.cli.main import main
from moodlens.results import Box, Detection
from moodlens.service import ServiceSettings, create_app
from moodlens.service.security import load_or_create_token
from moodlens.service.settings import is_loopback

TOKEN = "t0ken-for-the-tests-0123456789"


def _jpeg(width: int = 160, height: int = 120) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def _frame(t: float, jpeg: bytes | None = None) -> bytes:
    return struct.pack("<d", t) + (jpeg if jpeg is not None else _jpeg())


def _analyzer() -> Analyzer:
    return Analyzer(FakeDetector([Detection(Box(10, 10, 60, 70), 0.9)]), FakeClassifier())


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(db=f"sqlite:///{tmp_path / 'h.sqlite3'}", max_fps=1000)
    with TestClient(create_app(settings, analyzer=_analyzer()), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture
def no_history() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(), analyzer=_analyzer()), base_url="http://127.0.0.1") as c:
        yield c


def test_health_version_labels(client: TestClient) -> None:
    assert client.get("/api/v1/health").json()["status"] == "ok"
    version = client.get("/api/v1/version").json()
    assert version["model"]["labels"][3] == "happy"
    labels = client.get("/api/v1/labels").json()
    assert [item["label"] for item in labels] == [
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    ]
    assert all(item["colour"].startswith("#") for item in labels)


def test_pages_and_offline_docs(client: TestClient) -> None:
    for path in (
        "/",
        "/dashboard",
        "/docs",
        "/openapi.json",
        "/static/live.js",
        "/docs-assets/swagger-ui-bundle.js",
    ):
        assert client.get(path).status_code == 200, path
    page = client.get("/").text
    assert "prohibited in the EU" in page and "never stored" in page
    docs = client.get("/docs").text
    assert "cdn" not in docs.lower()


def test_analyze_multipart_and_raw(client: TestClient) -> None:
    multipart = client.post("/api/v1/analyze", files={"image": ("x.jpg", _jpeg(), "image/jpeg")})
    assert multipart.status_code == 200
    face = multipart.json()["faces"][0]
    assert face["label"] == "happy" and len(face["probabilities"]) == 7
    settings = multipart.json()["settings"]
    assert settings["detector"] == "fake" and {"model", "max_faces"} <= set(settings)
    raw = client.post("/api/v1/analyze", content=_jpeg(), headers={"content-type": "image/jpeg"})
    assert raw.status_code == 200 and raw.json()["width"] == 160


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [(b"", 400, "empty"), (b"not an image", 400, "cannot decode"), (_jpeg()[:300], 400, "truncated")],
)
def test_analyze_rejects_bad_images(client: TestClient, body: bytes, status: int, message: str) -> None:
    response = client.post("/api/v1/analyze", content=body, headers={"content-type": "image/jpeg"})
    assert response.status_code == status
    assert message in response.json()["error"]


def test_analyze_form_without_image(client: TestClient) -> None:
    response = client.post("/api/v1/analyze", files={"note": (None, "hello")})
    assert response.status_code == 400
    assert "no image" in response.json()["error"]


def test_request_size_limit(tmp_path: Path) -> None:
    settings = ServiceSettings(max_upload_bytes=1000)
    with TestClient(create_app(settings, analyzer=_analyzer()), base_url="http://127.0.0.1") as c:
        response = c.post("/api/v1/analyze", content=b"x" * 5000, headers={"content-type": "image/jpeg"})
        assert response.status_code == 413


def test_history_endpoints_need_a_database(no_history: TestClient) -> None:
    response = no_history.get("/api/v1/sessions")
    assert response.status_code == 404
    assert "--db" in response.json()["error"]


def _record(client: TestClient, frames: int = 4, name: str = "test") -> int:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "name": name}))
        started = ws.receive_json()
        for i in range(frames):
            ws.send_bytes(_frame(i * 100.0))
            assert ws.receive_json()["type"] == "result"
        ws.send_text(json.dumps({"type": "stop"}))
        stopped = ws.receive_json()
    assert stopped["type"] == "stopped" and stopped["frames"] == frames
    session_id: int = started["session_id"]
    return session_id


def test_stream_results_and_history(client: TestClient) -> None:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "name": "demo"}))
        started = ws.receive_json()
        assert started["recording"] and started["session_id"] == 1
        results = []
        for i in range(5):  # a face is a person once seen twice
            ws.send_bytes(_frame(i * 50.0))
            results.append(ws.receive_json())
        assert all(r["type"] == "result" for r in results)
        assert results[0]["headline"] is None and results[0]["faces"][0].get("track_id") is None
        result = results[-1]
        assert result["headline"] == {"track_id": 1, "label": "happy", "confidence": 0.7, "uncertain": False}
        face = result["faces"][0]
        assert face["track_id"] == 1 and face["stable_label"] == "happy" and "smoothed_probabilities" in face
        assert face["shown_label"] == "happy" and face["uncertain"] is False
        ws.send_text(json.dumps({"type": "stop"}))
        assert ws.receive_json()["tracks"][0]["dominant"] == "happy"
    sessions = client.get("/api/v1/sessions").json()
    assert sessions[0]["name"] == "demo" and sessions[0]["consent_given"]
    detail = client.get("/api/v1/sessions/1").json()
    assert detail["distribution"]["frames"] == 4
    (person,) = detail["people"]
    assert person["track_id"] == 1 and person["dominant"] == "happy" and person["frames"] == 4
    timeline = client.get("/api/v1/sessions/1/timeline").json()
    assert timeline[0]["dominant"] == "happy"
    assert client.get("/api/v1/distribution?period=week").json()[0]["frames"] == 4


def test_export_correct_delete(client: TestClient) -> None:
    sid = _record(client)
    csv_export = client.get(f"/api/v1/sessions/{sid}/export?format=csv")
    assert csv_export.status_code == 200 and csv_export.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv_export.headers["content-disposition"]
    assert client.get(f"/api/v1/sessions/{sid}/export?format=json").json()["session"]["id"] == sid
    correction = {
        "track_id": 1,
        "start_ms": 0,
        "end_ms": 300,
        "wrong_label": "happy",
        "correct_label": "neutral",
    }
    assert client.post(f"/api/v1/sessions/{sid}/corrections", json=correction).status_code == 201
    bad = {**correction, "wrong_label": "bored"}
    assert client.post(f"/api/v1/sessions/{sid}/corrections", json=bad).status_code == 400
    assert client.delete(f"/api/v1/sessions/{sid}").status_code == 204
    assert client.get(f"/api/v1/sessions/{sid}").status_code == 404
    assert client.delete(f"/api/v1/sessions/{sid}").status_code == 404


def test_stream_requires_consent_and_start(client: TestClient) -> None:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_bytes(_frame(0.0))
        assert ws.receive_json()["code"] == "not_started"
        ws.send_text(json.dumps({"type": "start", "consent": False}))
        assert ws.receive_json()["code"] == "consent_required"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("{not json", "bad_message"),
        (json.dumps({"kind": "x"}), "bad_message"),
        (json.dumps({"type": "dance"}), "bad_message"),
    ],
)
def test_malformed_messages_get_an_error_and_the_stream_goes_on(
    client: TestClient, message: str, code: str
) -> None:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "record": False}))
        ws.receive_json()
        ws.send_text(message)
        assert ws.receive_json()["code"] == code
        ws.send_bytes(b"\x00" * 4)
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_bytes(_frame(0.0, b"garbage jpeg"))
        assert ws.receive_json()["code"] == "bad_frame"
        ws.send_bytes(_frame(10.0))
        assert ws.receive_json()["type"] == "result"  # still alive
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json()["type"] == "pong"


def test_frame_size_and_pixel_limits(tmp_path: Path) -> None:
    settings = ServiceSettings(max_frame_bytes=2000, max_frame_pixels=100 * 100)
    with (
        TestClient(create_app(settings, analyzer=_analyzer()), base_url="http://127.0.0.1") as c,
        c.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws,
    ):
        ws.send_text(json.dumps({"type": "start", "consent": True}))
        ws.receive_json()
        ws.send_bytes(_frame(0.0, b"\xff" * 5000))
        assert ws.receive_json()["code"] == "frame_too_large"
        ws.send_bytes(_frame(1.0, _jpeg(320, 240)))
        reply = ws.receive_json()
        assert reply["code"] == "bad_frame"
        assert "MP limit" in reply["message"]


def test_rate_limit(tmp_path: Path) -> None:
    settings = ServiceSettings(max_fps=2)
    with (
        TestClient(create_app(settings, analyzer=_analyzer()), base_url="http://127.0.0.1") as c,
        c.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws,
    ):
        ws.send_text(json.dumps({"type": "start", "consent": True}))
        ws.receive_json()
        codes = []
        for i in range(6):
            ws.send_bytes(_frame(i * 1.0))
            reply = ws.receive_json()
            codes.append(reply.get("code", reply["type"]))
        assert codes.count("result") == 2
        assert codes.count("rate_limited") == 4


def test_a_second_frame_in_flight_is_dropped(client: TestClient) -> None:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "record": False}))
        ws.receive_json()
        ws.send_bytes(_frame(0.0))
        ws.send_bytes(_frame(1.0))
        replies = [ws.receive_json(), ws.receive_json()]
        kinds = sorted(r.get("code", r["type"]) for r in replies)
        # The second frame either arrived while the first was processed (dropped) or after.
        assert kinds in (["busy", "result"], ["result", "result"])


def test_disconnect_mid_session_closes_the_recording(client: TestClient) -> None:
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "name": "cut"}))
        ws.receive_json()
        ws.send_bytes(_frame(0.0))
        ws.receive_json()
        ws.send_bytes(_frame(50.0))  # and hang up without waiting
    # The server closes the recording after the disconnect, asynchronously: wait for it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (session,) = client.get("/api/v1/sessions").json()
        if session["ended_at"] is not None:
            break
        time.sleep(0.05)
    assert session["ended_at"] is not None
    assert client.get("/api/v1/health").json()["clients"] == 0


# --- security ---------------------------------------------------------------------------------


@pytest.fixture
def guarded() -> Iterator[TestClient]:
    settings = ServiceSettings(host="0.0.0.0", token=TOKEN)
    with TestClient(create_app(settings, analyzer=_analyzer()), base_url="http://127.0.0.1") as c:
        yield c


def test_token_required_off_loopback() -> None:
    with pytest.raises(ValueError, match="requires an access token"):
        ServiceSettings(host="0.0.0.0")
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("192.168.1.10")


@pytest.mark.parametrize(
    "path", ["/", "/dashboard", "/api/v1/health", "/api/v1/sessions", "/docs", "/openapi.json"]
)
def test_every_http_call_checks_the_token(guarded: TestClient, path: str) -> None:
    assert guarded.get(path).status_code == 401
    assert guarded.get(path, headers={"authorization": "Bearer wrong-token-xxxxxxxx"}).status_code == 401
    ok = guarded.get(path, headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code in (200, 404)


def test_websocket_checks_the_token(guarded: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect), guarded.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.receive_json()
    with guarded.websocket_connect("ws://127.0.0.1/api/v1/stream", headers={"x-moodlens-token": TOKEN}) as ws:
        ws.send_text(json.dumps({"type": "ping"}))
        assert ws.receive_json()["type"] == "pong"


def test_token_in_the_address_becomes_a_cookie(guarded: TestClient) -> None:
    first = guarded.get(f"/dashboard?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/dashboard"
    assert "HttpOnly" in first.headers["set-cookie"]
    assert guarded.get("/api/v1/health").status_code == 200  # the client kept the cookie


def test_cross_origin_websocket_and_dns_rebinding_are_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    evil: dict[str, Any] = {"origin": "http://evil.example"}
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("ws://127.0.0.1/api/v1/stream", headers=evil) as ws,
    ):
        ws.receive_json()
    assert client.get("/api/v1/health", headers={"host": "evil.example"}).status_code == 400


def test_cors_is_closed_by_default(client: TestClient) -> None:
    response = client.get("/api/v1/health", headers={"origin": "http://elsewhere.example"})
    assert "access-control-allow-origin" not in response.headers
    with pytest.raises(ValueError, match="'\\*' is not accepted"):
        ServiceSettings(cors_origins=("*",))


def test_token_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "config" / "token"
    token, created = load_or_create_token(path)
    assert created and len(token) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, created_again = load_or_create_token(path)
    assert again == token and not created_again


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0"], "argument --port: 0 is out of range: expected 1 to 65535"),
        (["--retention-days", "nan"], "argument --retention-days: expected a finite number"),
        (["--retention-days", "-1"], "argument --retention-days: -1 is out of range"),
        (["--threads", "-3"], "argument --threads: -3 is out of range"),
    ],
)
def test_serve_refuses_bad_settings(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", *argv])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


# --- hardening ----------------------------------------------------------------------------------


@pytest.mark.parametrize("t", [float("nan"), float("inf"), -5.0, 1e300])
def test_bad_capture_times_are_bad_frames_and_the_session_still_closes(client: TestClient, t: float) -> None:
    import threading

    before = threading.active_count()
    with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
        ws.send_text(json.dumps({"type": "start", "consent": True, "name": "clock"}))
        ws.receive_json()
        ws.send_bytes(_frame(100.0))
        assert ws.receive_json()["type"] == "result"
        ws.send_bytes(_frame(t))
        reply = ws.receive_json()
        assert reply["code"] == "bad_frame" and "capture time" in reply["message"]
        ws.send_bytes(_frame(50.0))  # backwards
        assert "went backwards" in ws.receive_json()["message"]
        ws.send_text(json.dumps({"type": "stop"}))
        stopped = ws.receive_json()
        assert stopped["type"] == "stopped" and "history_error" not in stopped
    sessions = client.get("/api/v1/sessions").json()
    assert all(s["ended_at"] is not None for s in sessions)
    assert threading.active_count() <= before + 1  # the history writer's thread is gone


def test_cross_site_state_changes_are_refused(client: TestClient) -> None:
    files = {"image": ("x.jpg", _jpeg(), "image/jpeg")}
    foreign = client.post("/api/v1/analyze", files=files, headers={"origin": "https://evil.example"})
    assert foreign.status_code == 403 and "cross-site" in foreign.json()["error"]
    assert client.post("/api/v1/analyze", files=files, headers={"origin": "null"}).status_code == 403
    sneaky = client.post("/api/v1/analyze", files=files, headers={"sec-fetch-site": "cross-site"})
    assert sneaky.status_code == 403
    assert client.delete("/api/v1/sessions/1", headers={"origin": "https://evil.example"}).status_code == 403
    own = client.post("/api/v1/analyze", files=files, headers={"origin": "http://127.0.0.1"})
    assert own.status_code == 200
    assert client.post("/api/v1/analyze", files=files).status_code == 200  # curl, scripts: no Origin


def test_the_testserver_host_is_not_trusted(tmp_path: Path) -> None:
    with TestClient(create_app(ServiceSettings(), analyzer=_analyzer())) as c:
        assert c.get("/api/v1/health").status_code == 400  # Host: testserver


def test_pages_carry_security_headers(client: TestClient) -> None:
    for path in ("/", "/dashboard", "/api/v1/health", "/docs"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
    live = client.get("/").headers["content-security-policy"]
    assert "script-src" not in live and "default-src 'self'" in live  # no inline script on our pages


def test_uploads_never_touch_the_disk(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3 MB multipart photo and a chunked body are read in memory: no temporary file is made."""
    import tempfile

    def no_disk(*args: object, **kwargs: object) -> object:
        raise AssertionError("an upload was spooled to a temporary file")

    for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, no_disk)
    rng = np.random.default_rng(0)
    big = cv2.imencode(".png", rng.integers(0, 255, (1000, 1000, 3), dtype=np.uint8))[1].tobytes()
    assert len(big) > 2_000_000
    reply = client.post("/api/v1/analyze", files={"image": ("big.png", big, "image/png")})
    assert reply.status_code == 200, reply.text

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    chunked = client.post("/api/v1/analyze", content=chunks(), headers={"content-type": "image/png"})
    assert chunked.status_code == 200
    too_big = client.post("/api/v1/analyze", content=(b"x" * 65536 for _ in range(200)))
    assert too_big.status_code == 413


def test_decoder_bombs_are_refused_before_decoding(client: TestClient) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
        size = len(data) if length is None else length
        return struct.pack(">I", size) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100, 100, 8, 2, 0, 0, 0))
    liar = header + chunk(b"IDAT", b"\x00" * 100, length=0xFFFFFFF0) + chunk(b"IEND", b"")
    reply = client.post("/api/v1/analyze", content=liar, headers={"content-type": "image/png"})
    assert reply.status_code == 400 and "chunk" in reply.json()["error"]
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2)
    tiff += struct.pack("<HHII", 256, 4, 1, 30000) + struct.pack("<HHII", 257, 4, 1, 30000) + b"\x00" * 64
    reply = client.post("/api/v1/analyze", content=tiff, headers={"content-type": "image/tiff"})
    assert reply.status_code == 400 and "30000x30000" in reply.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/sessions/9223372036854775808",
        "/api/v1/sessions/99999999999999999999/timeline",
        "/api/v1/distribution?since=2024-01-01",
        "/api/v1/distribution?since=2024-01-01T00:00:00&until=2024-02-01",
        "/api/v1/distribution?since=not-a-date",
    ],
)
def test_parameters_never_cause_a_server_error(client: TestClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code < 500, reply.text


def test_serve_takes_a_client_limit() -> None:
    from moodlens.cli.main import build_parser

    args = build_parser().parse_args(["serve", "--max-clients", "40"])
    assert args.max_clients == 40
    assert build_parser().parse_args(["serve"]).max_clients == ServiceSettings().max_clients
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["serve", "--max-clients", "0"])
    assert refused.value.code == 2
