"""Access control for the service: the token, Host and Origin checks, request-body limits.

Written as plain ASGI middleware so that one check covers HTTP requests and WebSocket
handshakes alike (Starlette's HTTP middleware does not see WebSockets).
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import warnings
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from moodlens.service.settings import ServiceSettings
from moodlens.service.uploads import CappedBody

COOKIE = "moodlens_token"
ASGIApp = Any
Scope = dict[str, Any]


def default_token_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("moodlens", appauthor=False)) / "access-token"


def load_or_create_token(path: Path | None = None) -> tuple[str, bool]:
    """The stored access token, creating it (0600 permissions) on first use; (token, created)."""
    target = path or default_token_path()
    if target.exists():
        mode = target.stat().st_mode & 0o777
        if mode & 0o077:
            # Readable by others: anyone on this machine could use it. Make it private, and say so.
            os.chmod(target, 0o600)
            warnings.warn(
                f"{target} was readable by other users (mode {mode:o}); its permissions are now 0600. "
                "If others may have read it, delete the file to get a new token.",
                stacklevel=2,
            )
        token = target.read_text(encoding="utf-8").strip()
        if len(token) >= 16:
            return token, False
    target.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(target, 0o600)
    return token, True


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _presented_token(scope: Scope, headers: dict[str, str]) -> tuple[str | None, bool]:
    """The token a request carries, and whether it came in the query string."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), False
    if "x-moodlens-token" in headers:
        return headers["x-moodlens-token"], False
    cookie = SimpleCookie(headers.get("cookie", ""))
    if COOKIE in cookie:
        return cookie[COOKIE].value, False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "token" in query:
        return query["token"][0], True
    return None, False


#: The one route that takes a large body (an image), and the room its multipart framing may take.
UPLOAD_PATH = "/api/v1/analyze"
MULTIPART_SLACK = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The pages load scripts, styles and images from this server only, are never framed, and talk to
#: it alone; the API docs pages (Swagger UI, ReDoc) start with an inline script and use workers.
_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_CSP_DOCS = _CSP + "; script-src 'self' 'unsafe-inline'; worker-src 'self' blob:"
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _with_security_headers(send: Any, path: str) -> Any:
    csp = _CSP_DOCS if path in ("/docs", "/redoc") else _CSP

    async def wrapped(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in _HEADERS if k not in present]
            if b"content-security-policy" not in present:
                extra.append((b"content-security-policy", csp.encode()))
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return wrapped


class AccessGuard:
    """Rejects requests without the token (when one is set), with a foreign Host header (DNS
    rebinding against a loopback server), WebSockets from foreign origins, and caps every
    request body while it arrives (``uploads.CappedBody``): the image route at the upload limit,
    every other route at the small JSON limit."""

    def __init__(self, app: ASGIApp, settings: ServiceSettings) -> None:
        self.app = app
        self.settings = settings
        self.token = settings.token
        self.hosts = {"localhost", "127.0.0.1", "[::1]", "::1", settings.host.lower()}

    def _host_ok(self, headers: dict[str, str]) -> bool:
        if not self.settings.loopback:
            return True  # reachable by name from elsewhere: the token protects it
        host = headers.get("host", "").lower()
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
        return name in self.hosts

    def _origin_ok(self, headers: dict[str, str]) -> bool:
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser
        allowed = {
            f"http://{headers.get('host', '')}",
            f"https://{headers.get('host', '')}",
            *self.settings.cors_origins,
        }
        return origin in allowed

    def _same_site(self, headers: dict[str, str]) -> bool:
        if "origin" in headers and headers["origin"] != "null":
            return self._origin_ok(headers)
        if headers.get("origin") == "null":
            return False  # sandboxed frames, file:// pages, some redirects: not this app
        # No Origin (curl, scripts, the CLI): browsers send one on every cross-site POST, and
        # Sec-Fetch-Site says the rest.
        return headers.get("sec-fetch-site", "same-origin") in ("same-origin", "none")

    def _body(self, scope: Scope, receive: Any, send: Any) -> CappedBody:
        settings = self.settings
        if scope["path"] == UPLOAD_PATH:
            limit, deadline = settings.max_upload_bytes + MULTIPART_SLACK, settings.upload_timeout_s
        else:
            limit, deadline = settings.max_json_bytes, settings.json_timeout_s
        return CappedBody(scope, receive, send, limit=limit, deadline_s=deadline)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        body = None
        if kind == "http":
            # Every answer, refusals included, goes through the body's cap: one sent before the
            # body is read closes the connection.
            body = self._body(scope, receive, _with_security_headers(send, scope["path"]))
            send = body.send
        headers = _headers(scope)
        if not self._host_ok(headers):
            await self._deny(kind, send, 400, "unexpected Host header")
            return
        if kind == "websocket" and not self._origin_ok(headers):
            await self._deny(kind, send, 403, "cross-origin WebSocket refused")
            return
        if kind == "http" and scope.get("method") not in SAFE_METHODS and not self._same_site(headers):
            # A web page elsewhere can POST a form here (a CORS "simple" request): refuse any
            # state-changing request that a browser marks as coming from another site.
            await self._deny(kind, send, 403, "cross-site request refused (its Origin is not this app)")
            return
        if self.token is not None:
            presented, from_query = _presented_token(scope, headers)
            if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
                await self._deny(kind, send, 401, "missing or wrong access token")
                return
            if (
                kind == "http"
                and from_query
                and scope.get("method") == "GET"
                and not scope["path"].startswith("/api/")
            ):
                await self._set_cookie_and_redirect(scope, send)
                return
        if body is None:
            await self.app(scope, receive, send)
            return
        if body.declared_too_large:
            await self._deny(kind, send, 413, f"request body over {body.limit} bytes")
            return
        await body.run(self.app, scope)

    async def _deny(self, kind: str, send: Any, status: int, message: str) -> None:
        if kind == "websocket":
            # Closing before accepting rejects the handshake (HTTP 403 for the client).
            await send({"type": "websocket.close", "code": 4000 + status, "reason": message})
            return
        body = json.dumps({"error": message}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _set_cookie_and_redirect(self, scope: Scope, send: Any) -> None:
        """A page opened with ?token=...: keep the token in an HttpOnly cookie and drop it from
        the address bar (and from the browser history)."""
        query = {k: v for k, v in parse_qs(scope.get("query_string", b"").decode()).items() if k != "token"}
        location = scope["path"] + (("?" + urlencode(query, doseq=True)) if query else "")
        cookie = f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [
                    (b"location", location.encode()),
                    (b"set-cookie", cookie.encode()),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
