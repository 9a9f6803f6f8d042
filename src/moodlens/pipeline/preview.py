"""A live view in the browser for ``moodlens camera`` when OpenCV has no window (the headless wheel).

Standard library only, so it works on the inference-only install: a small HTTP server on loopback
serves one page and the latest annotated frame as an MJPEG stream (``multipart/x-mixed-replace``,
which every browser shows in an ``<img>``). The URL carries a random token, so another local user
cannot watch; frames are encoded only while a viewer is connected, kept in memory (the newest
one only) and never written anywhere. The page's Stop button ends the camera run.
"""

from __future__ import annotations

import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

_BOUNDARY = "moodlensframe"
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>moodlens camera</title>
<style>
body{{margin:0;background:#111;color:#eee;font:16px system-ui,sans-serif;display:flex;flex-direction:column;
align-items:center;gap:12px;padding:12px}}
img{{max-width:100%;height:auto;background:#222;min-height:120px}}
button{{font:inherit;padding:8px 20px;border-radius:6px;border:1px solid #999;background:#333;color:#fff;
cursor:pointer}}
button:focus-visible{{outline:3px solid #8cf;outline-offset:2px}}
p{{max-width:60ch;text-align:center;margin:0}}
</style></head><body>
<h1 style="font-size:1.2em;margin:0"><span aria-hidden="true" style="color:#e33">&#9679;</span>
Camera on: {title}</h1>
<img src="{stream}" alt="the camera's picture with each face's apparent expression drawn on it">
<p>Apparent expressions: how faces look, not what anyone feels. Frames stay in this computer's memory
and are not stored.</p>
<form method="post" action="{stop}"><button type="submit">Stop the camera</button></form>
<noscript><p>This page needs no JavaScript.</p></noscript>
</body></html>
"""
_STOPPED = (
    "<!doctype html><meta charset='utf-8'><title>moodlens</title><p>Camera off. You can close this tab.</p>"
)


class BrowserPreview:
    """Serves the newest frame given to :meth:`show` at :attr:`url` until closed.

    ``with BrowserPreview() as preview: ... preview.show(frame) ...``; :attr:`stop_requested`
    turns true when the viewer presses Stop.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, quality: int = 80, title: str = "") -> None:
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must lie in 1..100, got {quality}")
        self.quality = quality
        self.title = title or "moodlens"
        self._token = secrets.token_urlsafe(16)
        self._condition = threading.Condition()
        self._jpeg: bytes | None = None
        self._sequence = 0
        self._viewers = 0
        self._closed = False
        self._stop = threading.Event()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moodlens-preview", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{self._token}/"

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def viewers(self) -> int:
        return self._viewers

    def __enter__(self) -> BrowserPreview:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def show(self, frame: npt.NDArray[np.uint8]) -> None:
        """Make ``frame`` (BGR) the picture viewers see; skipped while nobody watches."""
        if self._viewers == 0:
            return
        import cv2

        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        with self._condition:
            self._jpeg = encoded.tobytes()
            self._sequence += 1
            self._condition.notify_all()

    def _next_frame(self, seen: int) -> tuple[int, bytes] | None:
        """Wait for a frame newer than ``seen``; None once closed."""
        with self._condition:
            while not self._closed and (self._jpeg is None or self._sequence == seen):
                self._condition.wait(timeout=1.0)
            if self._closed or self._jpeg is None:
                return None
            return self._sequence, self._jpeg

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        preview = self
        root = f"/{self._token}/"

        class Handler(BaseHTTPRequestHandler):
            server_version = "moodlens-preview"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:
                # Nothing about viewers or frames belongs in the terminal.
                return

            def _send(
                self, status: HTTPStatus, body: bytes, content_type: str = "text/html; charset=utf-8"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.send_header("X-Content-Type-Options", "nosniff")
                self.send_header(
                    "Content-Security-Policy",
                    "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
                    "frame-ancestors 'none'",
                )
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path == root:
                    page = _PAGE.format(
                        title=_escape(preview.title), stream=root + "stream.mjpg", stop=root + "stop"
                    )
                    self._send(HTTPStatus.OK, page.encode())
                elif self.path == root + "stream.mjpg":
                    self._stream()
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

            def do_POST(self) -> None:
                if self.path != root + "stop":
                    self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
                    return
                preview._stop.set()
                self._send(HTTPStatus.OK, _STOPPED.encode())

            def _stream(self) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                with preview._condition:
                    preview._viewers += 1
                seen = -1
                try:
                    while True:
                        item = preview._next_frame(seen)
                        if item is None:
                            return
                        seen, jpeg = item
                        head = (
                            f"--{_BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                            f"Content-Length: {len(jpeg)}\r\n\r\n"
                        )
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return
                finally:
                    with preview._condition:
                        preview._viewers -= 1

        return Handler


def _escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)
