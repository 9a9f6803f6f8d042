"""Serving the app with uvicorn, with limits at the connection level.

uvicorn caps neither the time a client may take to send its request headers nor, with its default
``httptools`` parser, their size: 120 slow connections stayed open for a minute, and 32 MB headers
were read and answered. Here:

- the h11 parser with a 16 KiB limit on the request line and headers (larger: 400, connection closed);
- every connection must deliver a complete request head within ``HEADER_TIMEOUT_S`` of opening (and
  of the previous response, on keep-alive), or it is closed; idle keep-alive connections close after
  5 s (uvicorn's own timer);
- at most ``MAX_CONNECTIONS`` connections at once (503 beyond);
- request bodies have their own deadline in the routes that read them (``service.uploads``).

All this happens before the token check, so an unauthenticated client cannot hold the server either.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 200


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not send a request head in time."""

    header_timeout_s = HEADER_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request head is in: the route's own deadlines take over

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def run(
    app: Any, *, host: str, port: int, ws_max_size: int, header_timeout_s: float = HEADER_TIMEOUT_S
) -> None:
    """Serve ``app`` until interrupted."""
    import uvicorn

    protocol = type("GuardedH11", (GuardedH11Protocol,), {"header_timeout_s": header_timeout_s})
    uvicorn.run(
        app,
        host=host,
        port=port,
        http=protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        # No access log: URLs can carry the token, and nothing about frames belongs in logs.
        access_log=False,
        log_level="warning",
        ws_max_size=ws_max_size,
    )
