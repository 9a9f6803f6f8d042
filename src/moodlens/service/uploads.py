"""Request bodies read in memory only, up to a limit and a deadline: nothing is ever spooled to disk.

Every request's body is capped while it arrives (``CappedBody``, applied to every route by
``security.AccessGuard``): chunked or not, reading stops at the route's byte limit (413) or at its
deadline (408), and the answer closes the connection. A route that answers before reading the whole
body closes the connection too, so that the rest of a body is never read.

Starlette's ``request.form()`` writes every part over 1 MB to a temporary file (a photo's JPEG bytes
on disk, against "no frame is ever written to disk"); here the body is read into memory up to
``limit`` bytes (chunked bodies included: reading stops at the limit) and within ``deadline_s``
(a client that trickles a body is cut off), and a multipart body is parsed in memory with
python-multipart's push parser.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.requests import ClientDisconnect

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyError(Exception):
    """The body is too large, too slow, or not the multipart it says it is (with the HTTP status)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_body(request: Request, limit: int, deadline_s: float = 30.0) -> bytes:
    """The whole body, in memory; BodyError 413 over ``limit`` bytes, 408 past ``deadline_s``."""
    chunks: list[bytes] = []
    size = 0
    started = time.monotonic()
    stream = request.stream().__aiter__()
    while True:
        remaining = deadline_s - (time.monotonic() - started)
        if remaining <= 0:
            raise BodyError(408, f"the request body took longer than {deadline_s:g} s to arrive")
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=remaining)
        except StopAsyncIteration:
            break
        except TimeoutError:
            raise BodyError(408, f"the request body took longer than {deadline_s:g} s to arrive") from None
        except ClientDisconnect:  # gone (or cut off to make room): nobody reads the answer
            raise BodyError(400, "the client went away before sending the whole body") from None
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(status: int, message: str) -> tuple[Message, Message]:
    """The ASGI messages of a JSON error (``{"error": message}``) that closes the connection."""
    body = json.dumps({"error": message}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


class CappedBody:
    """One HTTP request's body, capped as it arrives: at most ``limit`` bytes, all of them within
    ``deadline_s`` of the request head. Past either, ``receive`` raises ``BodyError`` (413 or 408)
    and the answer becomes that error, whatever the app makes of the exception; any answer sent
    before the whole body arrived says ``connection: close``, so the rest is never read."""

    def __init__(
        self, scope: Message, receive: Receive, send: Send, *, limit: int, deadline_s: float
    ) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.deadline_s = deadline_s
        self.started = time.monotonic()
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        length = headers.get(b"content-length", b"")
        self.declared = int(length) if length.isdigit() else None
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        self.complete = not chunked and not self.declared  # no body at all
        self.received = 0
        self.refused: BodyError | None = None
        self.answered = False  # the response has started
        self.replaced = False  # the refusal's error went out instead of the app's answer

    @property
    def declared_too_large(self) -> bool:
        return self.declared is not None and self.declared > self.limit

    def _refuse(self, status: int, message: str) -> BodyError:
        self.refused = BodyError(status, message)
        return self.refused

    async def receive(self) -> Message:
        if self.refused is not None:
            return {"type": "http.disconnect"}
        if self.complete or self.answered:
            return await self._receive()  # e.g. a streaming response listening for a disconnect
        remaining = self.deadline_s - (time.monotonic() - self.started)
        late = f"the request body did not arrive within {self.deadline_s:g} s"
        if remaining <= 0:
            raise self._refuse(408, late)
        try:
            message = await asyncio.wait_for(self._receive(), timeout=remaining)
        except TimeoutError:
            raise self._refuse(408, late) from None
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                raise self._refuse(413, f"request body over {self.limit} bytes")
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.replaced:
            return  # the app's answer to a refused body: the error went out instead
        if message["type"] == "http.response.start":
            self.answered = True
            if self.refused is not None:
                await self.send_error(self.refused.status, str(self.refused))
                return
            if not self.complete:
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
        await self._send(message)

    async def send_error(self, status: int, message: str) -> None:
        """Answer with a JSON error and close; later messages from the app are dropped."""
        start, body = error_response(status, message)
        self.answered = self.replaced = True
        await self._send(start)
        await self._send(body)

    async def run(self, app: Callable[[Message, Receive, Send], Awaitable[None]], scope: Message) -> None:
        """``app`` on this request; a refused body is answered with its error if the app did not."""
        try:
            await app(scope, self.receive, self.send)
        except BodyError as exc:
            if exc is not self.refused:
                raise
        if self.refused is not None and not self.answered:
            await self.send_error(self.refused.status, str(self.refused))


@dataclass
class Part:
    name: str = ""
    filename: str | None = None
    content_type: str = ""
    data: bytearray = field(default_factory=bytearray)


def parse_multipart(body: bytes, content_type: str, *, max_parts: int = 8) -> list[Part]:
    """The parts of a ``multipart/form-data`` body, parsed in memory."""
    from python_multipart import MultipartParser
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BodyError(400, "expected multipart/form-data with a boundary")
    parts: list[Part] = []
    header_name = bytearray()
    header_value = bytearray()
    headers: dict[str, str] = {}

    def on_part_begin() -> None:
        if len(parts) >= max_parts:
            raise BodyError(400, f"more than {max_parts} parts in the form")
        headers.clear()
        parts.append(Part())

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].data += data[start:end]

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[header_name.decode("latin-1").lower()] = header_value.decode("latin-1")
        header_name.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        _, disposition = parse_options_header(headers.get("content-disposition", ""))
        part = parts[-1]
        part.name = disposition.get(b"name", b"").decode("utf-8", "replace")
        filename = disposition.get(b"filename")
        part.filename = None if filename is None else filename.decode("utf-8", "replace")
        part.content_type = headers.get("content-type", "")

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except BodyError:
        raise
    except Exception as exc:  # python-multipart's own parse errors
        raise BodyError(400, f"malformed multipart body ({exc})") from None
    return parts


def image_part(parts: list[Part]) -> bytes:
    """The bytes of the field named ``image``, else of the first file field."""
    chosen = next((p for p in parts if p.name == "image"), None) or next(
        (p for p in parts if p.filename), None
    )
    if chosen is None:
        raise BodyError(400, "no image in the form: send it in a file field named 'image'")
    return bytes(chosen.data)
