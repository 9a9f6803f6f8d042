"""Request bodies read in memory only, up to a limit and a deadline: nothing is ever spooled to disk.

Starlette's ``request.form()`` writes every part over 1 MB to a temporary file (a photo's JPEG bytes
on disk, against "no frame is ever written to disk"); here the body is read into memory up to
``limit`` bytes (chunked bodies included: reading stops at the limit) and within ``deadline_s``
(a client that trickles a body is cut off), and a multipart body is parsed in memory with
python-multipart's push parser.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from fastapi import Request


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
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


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
