"""Bounded request bodies, error bodies that name nothing of the server's machine, and a soak test of
a real ``moodlens serve`` while 200 slow clients and oversized chunked bodies attack it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from conftest import wait_until_serving

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")

from fastapi.testclient import TestClient

from moodlens import Analyzer, FakeClassifier, FakeDetector
from moodlens.results import Box, Detection
from moodlens.service import ServiceSettings, create_app
from moodlens.service.app import store_failure
from moodlens.store import StoreError

CORRECTIONS = "/api/v1/sessions/1/corrections"


def _app(tmp_path: Path, **settings: object) -> TestClient:
    analyzer = Analyzer(FakeDetector([Detection(Box(10, 10, 60, 70), 0.9)]), FakeClassifier())
    config = ServiceSettings(db=f"sqlite:///{tmp_path / 'h.sqlite3'}", **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, analyzer=analyzer), base_url="http://127.0.0.1")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with _app(tmp_path) as c:
        yield c


# --- every body capped while it is read ---------------------------------------------------------


def test_a_chunked_json_body_is_cut_at_the_small_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(160):  # 10 MiB: under the old limit, which only looked at Content-Length
            yield b" " * 65536

    reply = client.post(CORRECTIONS, content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert reply.json() == {"error": f"request body over {64 * 1024} bytes"}
    assert reply.headers["connection"] == "close"


@pytest.mark.parametrize("path", [CORRECTIONS, "/api/v1/profiles", "/api/v1/health"])
def test_a_declared_body_over_the_json_limit_is_refused_unread(client: TestClient, path: str) -> None:
    reply = client.post(
        path, content=b"{" + b" " * 70_000 + b"}", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 413 and "over 65536 bytes" in reply.json()["error"]
    assert reply.headers["connection"] == "close"


def test_small_json_bodies_and_images_still_pass(client: TestClient) -> None:
    reply = client.post("/api/v1/profiles", json={"name": "ann", "consent": True})
    assert reply.status_code == 201, reply.text
    assert "connection" not in reply.headers  # read in full: the connection stays open
    image = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_000  # over the JSON limit, far under the image one
    reply = client.post("/api/v1/analyze", content=image, headers={"content-type": "image/png"})
    assert reply.status_code == 400 and "over" not in reply.json()["error"]


async def _trickled(app: Any, path: str, content_type: str) -> list[dict[str, Any]]:
    """The messages ``app`` sends for a request whose body comes one byte every 0.1 s (the test
    client reads a body in full before the app sees it, so this speaks ASGI itself)."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", content_type.encode()),
                    (b"content-length", b"1000")],
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b" ", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    return sent


@pytest.mark.parametrize(
    ("path", "content_type", "settings"),
    [
        (CORRECTIONS, "application/json", {"json_timeout_s": 0.3}),
        ("/api/v1/analyze", "image/jpeg", {"upload_timeout_s": 0.3}),
    ],
)
def test_a_trickled_body_gets_408_and_closes(
    tmp_path: Path, path: str, content_type: str, settings: dict[str, float]
) -> None:
    analyzer = Analyzer(FakeDetector([]), FakeClassifier())
    config = ServiceSettings(db=f"sqlite:///{tmp_path / 'h.sqlite3'}", **settings)  # type: ignore[arg-type]
    started = time.monotonic()
    sent = asyncio.run(_trickled(create_app(config, analyzer=analyzer), path, content_type))
    assert time.monotonic() - started < 1.5
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"]) == {"error": "the request body did not arrive within 0.3 s"}
    assert len(sent) == 2  # the app's own answer to the failed read is dropped


def test_an_answer_before_the_body_is_read_closes_the_connection(client: TestClient) -> None:
    reply = client.post("/api/v1/nowhere", content=b"x" * 1000)
    assert reply.status_code == 404 and reply.headers["connection"] == "close"
    assert "connection" not in client.get("/api/v1/health").headers


@pytest.mark.parametrize("name", ["max_json_bytes", "json_timeout_s", "upload_timeout_s"])
def test_body_limits_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ServiceSettings(**{name: 0})  # type: ignore[arg-type]


# --- error bodies name nothing of the server's machine ---------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/sessions/7", None),
        ("GET", "/api/v1/sessions/7/timeline", None),
        ("GET", "/api/v1/sessions/7/export?format=csv", None),
        ("DELETE", "/api/v1/sessions/7", None),
        ("POST", "/api/v1/sessions/7/corrections",
         {"track_id": 1, "start_ms": 0, "end_ms": 5, "wrong_label": "sad"}),
    ],
)  # fmt: skip
def test_history_errors_do_not_name_the_database(
    client: TestClient, tmp_path: Path, method: str, path: str, body: object
) -> None:
    reply = client.request(method, path, json=body)
    assert reply.status_code == 404
    assert reply.json() == {"error": "no session 7"}
    assert str(tmp_path) not in reply.text and "sqlite" not in reply.text


@pytest.mark.parametrize(
    ("message", "status", "said"),
    [
        ("no session 12 in sqlite:////srv/moodlens/h.sqlite3", 404, "no session 12"),
        ("sqlite:////srv/h.sqlite3: cannot write (attempt to write a readonly database)", 503,
         "refused the write"),
        ("postgresql://ann:***@db.lan/moodlens: cannot open the database (timeout)", 503, "unavailable"),
    ],
)  # fmt: skip
def test_store_failures_become_generic_messages(
    message: str, status: int, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    got_status, got = store_failure(StoreError(message))
    assert got_status == status and said in got
    assert "/srv" not in got and "db.lan" not in got and "sqlite" not in got
    if status == 503:
        assert message in caplog.text  # the details stay in the server's log


def test_a_missing_row_is_a_404_with_the_store_s_own_words() -> None:
    from moodlens.store.database import NotFoundError

    said = "session 3 has no correction 9 (moodlens history export 3 lists them)"
    assert store_failure(NotFoundError(said)) == (404, said)


# --- requests that were 500s -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["since=0001-01-01T00:00:00%2B14:00", "until=9999-12-31T23:59:59-14:00", "since=0001-01-01T00:00:00"],
)
def test_dates_out_of_range_in_utc_are_a_400(client: TestClient, query: str) -> None:
    reply = client.get(f"/api/v1/distribution?{query}")
    if query == "since=0001-01-01T00:00:00":
        assert reply.status_code == 200  # year 1 itself is fine
        return
    assert reply.status_code == 400
    assert "outside years 1 to 9999" in reply.json()["error"]


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_numbers_are_a_clean_422(client: TestClient, constant: str) -> None:
    body = f'{{"track_id": 1, "start_ms": 0, "end_ms": {constant}, "wrong_label": "sad"}}'
    reply = client.post(CORRECTIONS, content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422
    answer = reply.json()
    assert answer["error"].startswith("invalid request: body.end_ms")
    assert answer["detail"][0]["input"] == constant


# --- a soak test against a real server ---------------------------------------------------------------

SLOW_CLIENTS = 200
SOAK_S = 18.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class SlowClients:
    """``count`` connections, each sending a request head and then one byte of its body every half
    second; one cut off by the server is replaced, until ``stop``. Records the answers they got."""

    HEADS: ClassVar[list[bytes]] = [
        b"POST /api/v1/sessions/1/corrections HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n{",
        b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
        b"Content-Length: 500000\r\n\r\n\xff",
        b"POST /api/v1/profiles HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n",
    ]

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.answers: Counter[str] = Counter()
        self.left_open_after_answer = 0
        self.opened = 0

    def _open(self, index: int) -> tuple[socket.socket, bytes, int, float]:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        kind = index % len(self.HEADS)
        sock.sendall(self.HEADS[kind])
        sock.setblocking(False)
        self.opened += 1
        return sock, b"", kind, 0.0

    def run(self, stop: threading.Event) -> None:
        clients: list[tuple[socket.socket, bytes, int, float] | None] = [None] * self.count
        while not stop.is_set():
            now = time.monotonic()
            for index, client in enumerate(clients):
                if client is None:
                    with contextlib.suppress(OSError):
                        clients[index] = self._open(index)
                    continue
                sock, got, kind, answered_at = client
                closed = False
                try:
                    data = sock.recv(65536)
                    closed = data == b""
                    got += data
                except BlockingIOError:
                    pass
                except OSError:
                    closed = True
                if got and not answered_at:
                    answered_at = now
                if not closed:
                    try:
                        sock.send(b"1\r\na\r\n" if kind == 2 else b"a")
                    except BlockingIOError:
                        pass
                    except OSError:
                        closed = True
                if closed:
                    self.answers[got[9:12].decode() if got.startswith(b"HTTP/1.1 ") else "closed"] += 1
                    sock.close()
                    clients[index] = None
                else:
                    if answered_at and now - answered_at > 3.0:
                        self.left_open_after_answer += 1
                        answered_at = now + 3600  # count it once
                    clients[index] = (sock, got, kind, answered_at)
            stop.wait(0.5)
        for client in clients:
            if client is not None:
                client[0].close()


def _oversized(
    port: int, path: str, content_type: str, stop: threading.Event, out: dict[str, object]
) -> None:
    """A chunked body of up to 400 MiB, sent as fast as the server takes it."""
    frame = b"10000\r\n" + b" " * 65536 + b"\r\n"
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n".encode()
            )
            while sent < 400 * 2**20 and not stop.is_set():
                sock.sendall(frame)
                sent += 65536
        except OSError:
            pass
        with contextlib.suppress(OSError):
            reply = sock.recv(65536)
    out[path] = (sent, reply[:12].decode("latin-1"))


@pytest.mark.slow
def test_soak_slow_clients_and_oversized_bodies(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "serve", "--port", str(port)], stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    threads: list[threading.Thread] = []
    try:
        wait_until_serving(url, proc)
        for _ in range(5):
            urllib.request.urlopen(f"{url}/api/v1/health", timeout=5).close()
        baseline = _rss_mb(proc.pid)
        slow = SlowClients(port, SLOW_CLIENTS)
        cut: dict[str, object] = {}
        threads = [
            threading.Thread(target=slow.run, args=(stop,)),
            threading.Thread(target=_oversized, args=(port, CORRECTIONS, "application/json", stop, cut)),
            threading.Thread(target=_oversized, args=(port, "/api/v1/analyze", "image/jpeg", stop, cut)),
        ]
        for thread in threads:
            thread.start()
        times: list[float] = []
        statuses: Counter[int] = Counter()
        peak = baseline
        time.sleep(2.0)  # the slow clients are in
        ends = time.monotonic() + SOAK_S
        while time.monotonic() < ends:
            started = time.monotonic()
            try:
                with urllib.request.urlopen(f"{url}/api/v1/health", timeout=5) as reply:
                    statuses[reply.status] += 1
            except urllib.error.HTTPError as exc:
                statuses[exc.code] += 1
            except OSError:
                statuses[0] += 1
            times.append(time.monotonic() - started)
            peak = max(peak, _rss_mb(proc.pid))
            time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        alive = proc.poll() is None
        proc.terminate()
        proc.wait(timeout=20)
    log.seek(0)
    server_log = log.read()
    times.sort()
    figures = (
        f"/health: {len(times)} calls, {dict(statuses)}, median {times[len(times) // 2] * 1000:.0f} ms, "
        f"max {times[-1] * 1000:.0f} ms; RSS {baseline:.0f} -> peak {peak:.0f} MB (+{peak - baseline:.0f}); "
        f"slow clients: {slow.opened} connections, answers {dict(slow.answers)}, "
        f"{slow.left_open_after_answer} left open after an answer; "
        f"oversized bodies (bytes sent, reply): {cut}"
    )
    print(figures)
    assert alive, server_log
    assert statuses == Counter({200: len(times)}), figures
    assert times[-1] < 0.5, figures
    assert peak - baseline < 100, figures
    assert slow.answers["408"] > 0 and slow.answers["503"] > 0, figures  # cut off: too slow, or evicted
    assert slow.left_open_after_answer == 0, figures
    for path, (sent, _reply) in cut.items():  # type: ignore[misc]
        assert sent < 64 * 2**20, (path, figures)  # cut off, not read to the end
    assert "Traceback" not in server_log, server_log
