"""Our own fuzz suite: generated hostile inputs (no committed binaries) through the decoder, the CLI,
the history store and the web app. Every one must end in a clear refusal: no traceback, no hang
(timeouts), documented exit codes, no 5xx, bounded memory."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.cli.main import main
from moodlens.errors import ImageError
from moodlens.images import decode_image

FORMATS = (".jpg", ".png", ".bmp", ".webp", ".tiff", ".gif", ".pgm")


def _encoded(ext: str) -> bytes:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), (5, 5), 0)
    if ext == ".pgm":
        image = image[:, :, 0]
    ok, buffer = cv2.imencode(ext, image)
    assert ok
    return buffer.tobytes()


def _mutations(data: bytes, seed: int) -> list[bytes]:
    """Truncations at many cut points, flipped bytes, and garbage appended."""
    rng = np.random.default_rng(seed)
    out = [data[:cut] for cut in sorted({1, 2, 4, 8, 16, 24, 33, 64, len(data) // 2, len(data) - 1})]
    for _ in range(12):
        mutated = bytearray(data)
        for position in rng.integers(0, len(data), size=int(rng.integers(1, 8))):
            mutated[int(position)] = int(rng.integers(0, 256))
        out.append(bytes(mutated))
    out.append(data + bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    return out


def _bombs() -> dict[str, bytes]:
    """Headers that claim enormous images, for every format with a size in its header."""

    def png_chunk(kind: bytes, data: bytes, length: int | None = None) -> bytes:
        size = len(data) if length is None else length
        return struct.pack(">I", size) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
    small_ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100, 100, 8, 2, 0, 0, 0))
    idat = png_chunk(b"IDAT", zlib.compress(b"\x00" * 200_000))
    sof = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 60000, 60000, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    )
    bmp = (
        b"BM"
        + struct.pack("<IHHI", 0, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 40000, 40000, 1, 24, 0, 0, 0, 0, 0, 0)
    )
    gif = b"GIF89a" + struct.pack("<HH", 65535, 65535) + b"\x00\x00\x00" + b"\x3b"
    webp = b"RIFF" + struct.pack("<I", 30) + b"WEBPVP8X" + struct.pack("<I", 10) + b"\x00" * 4
    webp += (16383).to_bytes(3, "little") * 2
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2)
    tiff += struct.pack("<HHII", 256, 4, 1, 30000) + struct.pack("<HHII", 257, 4, 1, 30000) + b"\x00" * 64
    return {
        "png_size": b"\x89PNG\r\n\x1a\n" + ihdr + idat + png_chunk(b"IEND", b""),
        "png_chunk_liar": b"\x89PNG\r\n\x1a\n" + small_ihdr + png_chunk(b"IDAT", b"\x00" * 64, 0xFFFFFFF0)
        + png_chunk(b"IEND", b""),
        "jpeg_size": b"\xff\xd8" + sof + b"\xff\xda" + b"\x00" * 100 + b"\xff\xd9",
        "jpeg_no_markers": b"\xff\xd8" + b"\x00" * 2_000_000,
        "bmp_size": bmp + b"\x00" * 64,
        "gif_size": gif,
        "webp_size": webp,
        "tiff_size": tiff,
        "pnm_size": b"P6\n60000 60000\n255\n" + b"\x00" * 64,
    }  # fmt: skip


@pytest.mark.parametrize("ext", FORMATS)
def test_mutated_images_are_refused_or_decoded_never_crash(ext: str) -> None:
    for index, data in enumerate(_mutations(_encoded(ext), seed=len(ext))):
        try:
            image = decode_image(data, name=f"m{index}{ext}", max_pixels=1_000_000)
        except ImageError as exc:
            message = str(exc)
        else:
            assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
            continue
        assert message.startswith(f"m{index}{ext}: ")


@pytest.mark.parametrize("name", sorted(_bombs()))
def test_every_header_bomb_is_refused_before_decoding(name: str) -> None:
    with pytest.raises(ImageError, match=r"(over the|corrupt|not a supported|truncated|invalid size)"):
        decode_image(_bombs()[name], name=name, max_pixels=40_000_000)


@pytest.mark.skipif(sys.platform != "linux", reason="reads the child's peak memory from /proc/self/status")
def test_bombs_through_the_cli_stay_under_a_gigabyte_and_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "bombs"
    folder.mkdir()
    for name, data in _bombs().items():
        (folder / f"{name}.png").write_bytes(data)
    for ext in FORMATS:
        for index, data in enumerate(_mutations(_encoded(ext), seed=7)[:10]):
            (folder / f"cut{index}{ext}").write_bytes(data)
    os.mkfifo(folder / "fifo.jpg")
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across fork and exec, so the child
    # would report the pytest process's own peak (over a gigabyte late in the full suite).
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from moodlens.cli.main import main\n"
        f"rc = main(['image', {str(folder)!r}, '--json'])\n"
        "status = Path('/proc/self/status').read_text().splitlines()\n"
        "peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))\n"
        "print('PEAK', peak, file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    peak_kb = int(result.stderr.rsplit("PEAK", 1)[1].split()[0])
    assert peak_kb < 1024 * 1024, f"peak RSS {peak_kb / 1024:.0f} MiB"
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(list(folder.iterdir())) - 1  # every file answered; a folder lists no FIFO


BAD_OPTIONS = [
    ["image", "x.jpg", "--threads", "-3"],
    ["image", "x.jpg", "--min-face", "0"],
    ["image", "x.jpg", "--threshold", "nan"],
    ["image", "x.jpg", "--max-side", "1e9"],
    ["video", "x.mp4", "--detect-every", "0"],
    ["video", "x.mp4", "--classify-every-ms", "inf"],
    ["video", "x.mp4", "--smoothing-ms", "-1"],
    ["video", "x.mp4", "--hysteresis", "2"],
    ["video", "x.mp4", "--retention-days", "nan"],
    ["camera", "--seconds", "-1"],
    ["history", "show", "0"],
    ["history", "show", "99999999999999999999"],
    ["history", "purge", "--older-than", "-3"],
    ["history", "purge", "--older-than", "inf"],
    ["history", "correct", "1", "--track", "-1", "--start-ms", "0", "--end-ms", "1", "--not", "sad"],
    ["serve", "--port", "70000"],
    ["serve", "--max-fps", "0"],
    ["evaluate", "--data", "x.csv", "--out", "r", "--threads", "abc"],
    ["train", "--epochs", "0"],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=[" ".join(a) for a in BAD_OPTIONS])
def test_bad_numbers_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error: argument" in capsys.readouterr().err


def test_broken_databases_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sqlalchemy", reason="the history needs the [store] extra")
    from moodlens.store import HistoryStore

    good = tmp_path / "good.sqlite3"
    HistoryStore(good, create=True).close()  # reads never create a database
    assert main(["history", "--db", str(good), "list"]) == 0
    cases = {
        "text.sqlite3": b"this is not a database\n" * 10,
        "truncated.sqlite3": good.read_bytes()[:700],
        "random.sqlite3": bytes(np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8)),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        assert main(["history", "--db", str(tmp_path / name), "list"]) == 1, name
        err = capsys.readouterr().err
        assert err.startswith("moodlens history: error: ") and "Traceback" not in err, err
    folder = tmp_path / "folder.sqlite3"
    folder.mkdir()
    assert main(["history", "--db", str(folder), "list"]) == 1
    assert "moodlens history: error:" in capsys.readouterr().err
    assert main(["history", "--db", str(good), "export", "1", "--out", str(tmp_path)]) == 2  # a folder
    capsys.readouterr()


def test_hostile_requests_never_get_a_server_error(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
    from fastapi.testclient import TestClient

    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.results import Box, Detection
    from moodlens.service import ServiceSettings, create_app

    analyzer = Analyzer(FakeDetector([Detection(Box(10, 10, 60, 70), 0.9)]), FakeClassifier())
    settings = ServiceSettings(db=f"sqlite:///{tmp_path / 'h.sqlite3'}", max_fps=10_000)
    rng = np.random.default_rng(3)
    bodies = [b"", b"\x00" * 10, *_bombs().values(), *_mutations(_encoded(".jpg"), 5)[:8]]
    paths = [
        "/api/v1/sessions/-1",
        "/api/v1/sessions/abc",
        "/api/v1/sessions/1e3",
        "/api/v1/sessions/1/timeline?track=-5",
        "/api/v1/distribution?period=year",
        "/api/v1/distribution?since=2024-13-45",
        "/api/v1/distribution?until=nan",
        "/api/v1/sessions/1/export?format=xml",
        "/api/v1/%00",
        "/../../etc/passwd",
        "/static/../app.py",
        "/api/v1/analyze?x=" + "a" * 5000,
    ]
    with TestClient(create_app(settings, analyzer=analyzer), base_url="http://127.0.0.1") as client:
        for path in paths:
            assert client.get(path).status_code < 500, path
        for body in bodies:
            for kind in ("image/jpeg", "multipart/form-data; boundary=xyz", "application/octet-stream"):
                reply = client.post("/api/v1/analyze", content=body, headers={"content-type": kind})
                assert reply.status_code < 500, (kind, body[:20], reply.text)
        corrections: list[object] = [
            {"track_id": "x"},
            {"track_id": 1, "start_ms": -1, "end_ms": 1, "wrong_label": "sad"},
            {"track_id": 1, "start_ms": 5, "end_ms": 1, "wrong_label": "sad"},
            [1, 2],
            "nan",
        ]
        for correction in corrections:
            assert client.post("/api/v1/sessions/1/corrections", json=correction).status_code < 500
        with client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws:
            for message in (
                '{"type": "start"}',
                "{",
                "[]",
                '{"type": 5}',
                '{"type": "start", "consent": "yes"}',
            ):
                ws.send_text(message)
                assert ws.receive_json()["type"] == "error"
            ws.send_text(json.dumps({"type": "start", "consent": True, "name": "x" * 10_000}))
            assert ws.receive_json()["type"] == "started"
            for k in range(20):
                frame = struct.pack("<d", 10.0 * k) + bytes(
                    rng.integers(0, 256, int(rng.integers(0, 3000)), dtype=np.uint8)
                )
                ws.send_bytes(frame)
                assert ws.receive_json()["type"] in ("error", "result")
            ws.send_text(json.dumps({"type": "stop"}))
            assert ws.receive_json()["type"] == "stopped"


def test_a_read_only_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("sqlalchemy", reason="the history needs the [store] extra")
    from moodlens.store import HistoryStore

    monkeypatch.chdir(tmp_path)  # a "file:" URI must not become a relative path created here

    path = tmp_path / "h.sqlite3"
    store = HistoryStore(f"sqlite:///{path}")
    store.end_session(store.start_session(name="kept", consent=True))  # not still recording
    store.close()
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"  # as a file without write permission behaves
    assert main(["history", "--db", read_only, "list"]) == 0
    capsys.readouterr()
    assert main(["history", "--db", read_only, "delete", "1", "--yes"]) == 1
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err
    assert not (tmp_path / "file:").exists()
