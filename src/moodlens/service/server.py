"""Serving the app with uvicorn, with limits at the connection level.

uvicorn caps neither the time a client may take to send its request headers nor, with its default
``httptools`` parser, their size: 120 slow connections stayed open for a minute, and 32 MB headers
were read and answered. And its connection cap (``limit_concurrency``) answers 503 to every newcomer
while slow clients hold the slots: 200 connections trickling bodies made ``/health`` answer 503 for
a whole minute. Here:

- the h11 parser with a 16 KiB limit on the request line and headers (larger: 400, connection closed);
- every connection must deliver a complete request head within ``HEADER_TIMEOUT_S`` of opening (and
  of the previous response, on keep-alive), or it is closed; idle keep-alive connections close after
  5 s (uvicorn's own timer);
- at most ``MAX_CONNECTIONS`` connections at once, and a slot is never held by a slow client: a new
  connection beyond the cap takes the slot of a stalled one (one closing, then one waiting for a
  request head the longest, then the request whose body arrives the slowest; each stalled for at
  least ``EVICT_GRACE_S``), which is answered 503 if it was sending a body. Only when every slot is
  busy with a request whose body is in (the app is working on it) does a newcomer get a 503;
- request bodies are capped in size and time in every route (``service.uploads.CappedBody``: 413 or
  408); the answer to a request whose body is still arriving closes the connection, *lingering*: our
  side is shut, what the client still sends is discarded for up to ``LINGER_S`` (and
  ``LINGER_BYTES``), then the socket is closed. Closing at once with unread bytes makes the kernel
  send a reset, and the client would often never read its 413 (nginx's ``lingering_close``).

All this happens before the token check, so an unauthenticated client cannot hold the server either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 200
#: uvicorn's own cap, a backstop above ours (an evicted connection's task may take a moment to end).
BACKSTOP_CONNECTIONS = MAX_CONNECTIONS + 64
EVICT_GRACE_S = 1.0
LINGER_S = 2.0
LINGER_BYTES = 1 << 20


class _LingeringTransport:
    """A transport whose ``close()``, while the client is still sending its request body, shuts
    our side only and closes after ``LINGER_S`` (or once the client closes, or has sent
    ``LINGER_BYTES`` more); everything else is the wrapped transport's."""

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, mid_body: Callable[[], bool]
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._mid_body = mid_body
        self._timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self.discarded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not self._mid_body() or not self._transport.can_write_eof():
            self._transport.close()
            return
        self.lingering = True
        self._transport.write_eof()  # the answer is flushed first, then FIN
        self._transport.resume_reading()
        self._timer = self._loop.call_later(LINGER_S, self.close_now)

    def close_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()

    def discard(self, data: bytes) -> None:
        self.discarded += len(data)
        if self.discarded > LINGER_BYTES:
            self.close_now()


async def _server_full(scope: Any, receive: Any, send: Any) -> None:
    body = json.dumps({"error": f"the server is at its limit of {MAX_CONNECTIONS} connections"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not send a request head in time, and
    giving the slots of stalled connections to new ones."""

    header_timeout_s = HEADER_TIMEOUT_S
    max_connections = MAX_CONNECTIONS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw_transport = transport
        self._lingering = _LingeringTransport(transport, self.loop, self._mid_body)
        super().connection_made(cast(asyncio.Transport, self._lingering))
        self._head_timer: asyncio.TimerHandle | None = None
        self._phase(0)
        self._arm()
        self._app = self.app
        if not self._make_room():
            if len(self.connections) > BACKSTOP_CONNECTIONS:
                self._lingering.close_now()
            else:
                self.app = _server_full  # its request gets a 503 (uvicorn reads self.app per request)

    # --- who may be evicted --------------------------------------------------------------------

    def _phase(self, received: int) -> None:
        """A new phase (waiting for a request head, or receiving its body) starts now."""
        self._phase_started = time.monotonic()
        self._phase_bytes = received

    def _mid_body(self) -> bool:
        return self.conn.their_state is h11.SEND_BODY

    def _stall(self, now: float) -> tuple[int, float, float] | None:
        """How stalled this connection is (lower: evicted first), or None if it is not."""
        age = now - self._phase_started
        if self._lingering.lingering:
            return (0, 0.0, -age)
        if age < EVICT_GRACE_S:
            return None
        if self.conn.their_state is h11.IDLE:
            return (1, 0.0, -age)
        if self._mid_body() and not (self.cycle and self.cycle.response_started):
            return (2, self._phase_bytes / age, -age)
        return None  # the app is working on a whole request, or answering one

    def _make_room(self) -> bool:
        """Whether this connection has a slot, taking a stalled connection's if the server is full."""
        if len(self.connections) <= self.max_connections:
            return True
        now = time.monotonic()
        stalled = [
            (stall, id(conn), conn)
            for conn in self.connections
            if conn is not self
            and isinstance(conn, GuardedH11Protocol)
            and (stall := conn._stall(now)) is not None
        ]
        if not stalled:
            return False
        min(stalled, key=lambda item: item[:2])[2]._evict()
        return True

    def _evict(self) -> None:
        """Close this connection to make room; a request whose body was arriving gets a 503."""
        cycle = self.cycle
        if self._mid_body() and cycle is not None and not cycle.response_started:
            body = json.dumps({"error": "the server is full and this request body was too slow"}).encode()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            events = [h11.Response(status_code=503, headers=headers), h11.Data(data=body), h11.EndOfMessage()]
            with contextlib.suppress(h11.LocalProtocolError):
                self._raw_transport.write(b"".join(self.conn.send(event) or b"" for event in events))
            # The app's task stops waiting for the body: it reads a disconnect, its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self._disarm()
        self._lingering.close_now()

    # --- uvicorn's hooks -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            self._lingering.discard(data)
            return
        self._phase_bytes += len(data)
        if self.app is _server_full and self._make_room():
            self.app = self._app  # a slot came free (or stalled) meanwhile
        super().data_received(data)

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _disarm(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def handle_events(self) -> None:
        waiting = self.conn.their_state is h11.IDLE
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the request head is in: the route's own deadlines take over
            if waiting:
                self._phase(0)  # now receiving its body (if any): its rate counts from here

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        self.transport = self._raw_transport  # the WebSocket protocol takes the socket over
        super().handle_websocket_upgrade(event)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._phase(0)
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering._timer is not None:
            self._lingering._timer.cancel()
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
        limit_concurrency=BACKSTOP_CONNECTIONS,
        timeout_keep_alive=5,
        # No access log: URLs can carry the token, and nothing about frames belongs in logs.
        access_log=False,
        log_level="warning",
        ws_max_size=ws_max_size,
    )
