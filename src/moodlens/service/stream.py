"""The live stream over a WebSocket (``/api/v1/stream``).

Protocol, all JSON except frames:

- client ``{"type": "start", "consent": true, "name": "...", "record": true}``: required first;
  without consent no frame is processed. The reply is ``{"type": "started", ...}``.
- client binary frame: 8 bytes little-endian float64 capture time in ms, then a JPEG (or PNG).
  The reply is ``{"type": "result", "t": ..., "frame": n, "faces": [...], "headline": {...}, ...}``:
  ``headline`` follows one person (``pipeline.headline``), each face has ``shown_label`` (its label,
  or ``uncertain``); ``cut`` says a new shot started (every earlier box is stale).
  At most one frame is in flight per client: a frame sent before the previous result came back
  is dropped with an error reply, so memory per client stays bounded.
- client ``{"type": "stop"}``: ends the session; the reply carries a per-track summary.
- any malformed message gets ``{"type": "error", "code": ..., "message": ...}``; the stream goes on.

Frames are decoded in memory and dropped after use; they are never written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from moodlens.errors import ImageError
from moodlens.images import decode_image
from moodlens.pipeline.headline import HeadlineTracker
from moodlens.pipeline.stream import StreamAnalyzer
from moodlens.results import FrameResult
from moodlens.service.app import Services, services

router = APIRouter()
_HEADER = struct.Struct("<d")
#: Capture times are milliseconds on the client's clock (``performance.now()``): from 0 to about
#: 115 days. Anything else, or a time before the previous frame's, is refused as a bad frame.
MAX_CAPTURE_MS = 1e10


class _RateLimiter:
    """A token bucket: ``rate`` frames per second on average, bursts of up to one second."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tokens = rate
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class _Client:
    def __init__(self, svc: Services, ws: WebSocket) -> None:
        self.svc = svc
        self.ws = ws
        self.stream: StreamAnalyzer | None = None
        self.headline = HeadlineTracker()
        self.writer: Any = None
        self.busy: asyncio.Task[None] | None = None
        self.limiter = _RateLimiter(svc.settings.max_fps)
        self.send_lock = asyncio.Lock()
        self.frames = 0
        self.dropped = 0
        self.last_t = -math.inf
        self.opened = time.monotonic()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message))

    async def fail(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    async def on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message["type"]
        except (json.JSONDecodeError, KeyError, TypeError):
            await self.fail("bad_message", "expected a JSON object with a 'type'")
            return
        if kind == "start":
            await self.start(message)
        elif kind == "stop":
            summary = await self.finish()
            await self.send({"type": "stopped", **summary})
        elif kind == "ping":
            await self.send({"type": "pong"})
        else:
            await self.fail("bad_message", f"unknown message type {kind!r}")

    async def start(self, message: dict[str, Any]) -> None:
        if message.get("consent") is not True:
            await self.fail("consent_required", "the person in front of the camera must consent first")
            return
        if self.stream is not None:
            await self.finish()
        self.stream = StreamAnalyzer(self.svc.analyzer)
        self.headline = HeadlineTracker()
        self.frames, self.dropped, self.last_t = 0, 0, -math.inf
        recording = bool(message.get("record", True)) and self.svc.store is not None
        session_id = None
        if recording:
            from moodlens.store import HistoryWriter

            name = str(message.get("name", ""))[:200]
            store = self.svc.store
            assert store is not None
            self.writer = await run_in_threadpool(
                lambda: HistoryWriter.start(store, name=name, source="browser camera", consent=True)
            )
            session_id = self.writer.session_id
        await self.send(
            {
                "type": "started",
                "session_id": session_id,
                "recording": recording,
                "max_fps": self.svc.settings.max_fps,
            }
        )

    async def on_frame(self, data: bytes) -> None:
        settings = self.svc.settings
        if self.stream is None:
            await self.fail("not_started", "send a start message (with consent) before frames")
            return
        if self.busy is not None and not self.busy.done():
            self.dropped += 1
            await self.fail("busy", "one frame at a time: wait for the previous result")
            return
        if not self.limiter.allow():
            self.dropped += 1
            await self.fail("rate_limited", f"over {settings.max_fps:g} frames per second")
            return
        if len(data) > settings.max_frame_bytes:
            await self.fail("frame_too_large", f"frames must be at most {settings.max_frame_bytes} bytes")
            return
        if len(data) <= _HEADER.size:
            await self.fail("bad_frame", "a frame is 8 bytes of timestamp followed by a JPEG")
            return
        (t,) = _HEADER.unpack_from(data)
        if not math.isfinite(t) or not 0 <= t <= MAX_CAPTURE_MS:
            await self.fail(
                "bad_frame", f"the capture time must be a number of ms from 0 to {MAX_CAPTURE_MS:.0e}"
            )
            return
        if t < self.last_t:
            await self.fail("bad_frame", "the capture time went backwards: frames must come in order")
            return
        self.last_t = t
        # Decoding, like the analysis, runs off the event loop (process does both).
        self.busy = asyncio.create_task(self.process(data[_HEADER.size :], t))

    async def process(self, encoded: bytes, t: float) -> None:
        stream, writer = self.stream, self.writer
        assert stream is not None
        settings = self.svc.settings
        started = time.perf_counter()

        def decode() -> Any:
            return decode_image(encoded, name="frame", max_pixels=settings.max_frame_pixels)

        try:
            image = await run_in_threadpool(decode)
        except ImageError as exc:
            await self.fail("bad_frame", str(exc))
            return
        index = self.frames
        self.frames += 1

        def work() -> FrameResult:
            result = stream.process(image, timestamp_ms=t, frame_index=index)
            if writer is not None:
                writer.write(result)
            return result

        try:
            async with self.svc.inference:
                result = await run_in_threadpool(work)
        except Exception as exc:  # the stream must survive one bad frame
            await self.fail("processing_failed", f"{type(exc).__name__}: {exc}")
            return
        self.svc.frames_processed += 1
        headline = self.headline.update(result)
        await self.send(
            {
                "type": "result",
                "t": t,
                "frame": index,
                "width": result.width,
                "height": result.height,
                "cut": result.cut,
                "faces": [f.to_dict() for f in result.faces],
                "headline": None if headline is None else headline.to_dict(),
                "server_ms": round((time.perf_counter() - started) * 1000, 2),
            }
        )

    async def finish(self) -> dict[str, Any]:
        if self.busy is not None:
            await asyncio.gather(self.busy, return_exceptions=True)
            self.busy = None
        summary: dict[str, Any] = {"frames": self.frames, "dropped": self.dropped, "tracks": []}
        if self.stream is not None:
            summary["tracks"] = [s.to_dict() for s in self.stream.summaries()]
        if self.writer is not None:
            writer, self.writer = self.writer, None
            summary["session_id"] = writer.session_id
            try:
                await run_in_threadpool(writer.close)
            except Exception as exc:  # the session must end, and the client hear why
                summary["history_error"] = f"{type(exc).__name__}: {exc}"
            if writer.error is not None:
                summary["history_error"] = str(writer.error)
        self.stream = None
        return summary


@router.websocket("/api/v1/stream")
async def stream_endpoint(ws: WebSocket) -> None:
    svc = services(ws.app)
    if svc.clients >= svc.settings.max_clients:
        await ws.close(code=1013, reason="server busy: too many clients")
        return
    await ws.accept()
    svc.clients += 1
    client = _Client(svc, ws)
    try:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                break
            if message.get("text") is not None:
                await client.on_text(message["text"])
            elif message.get("bytes") is not None:
                await client.on_frame(message["bytes"])
    except WebSocketDisconnect:
        pass
    finally:
        svc.clients -= 1
        # A client that vanishes can cancel this task; the recording must still be closed, so the
        # cleanup runs as its own task, shielded, and referenced until it is done.
        cleanup = asyncio.ensure_future(client.finish())
        svc.cleanups.add(cleanup)
        cleanup.add_done_callback(svc.cleanups.discard)
        await asyncio.shield(cleanup)
