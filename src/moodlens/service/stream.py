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
- client ``{"type": "stop"}``: ends the session; the reply carries a per-track summary, the
  counts ``people`` and ``track_count``, and with ``"link_people": true`` in ``start`` a
  ``people_summaries`` list (each person's track ids and summary over them): the server linked the
  tracks that show one person with a face-embedding model, in memory for this session only, and
  the history records which tracks are one person (numbers only).
- with a profile (``"profile": "NAME"`` in ``start``; the server needs ``--db``), the main stable
  track is read through it (its faces carry ``profile`` and ``model_probabilities``), and:
  client ``{"type": "calibrate", "seconds": 3}`` collects the main track's model readings over
  the next seconds of capture time and stores them as a neutral sample; client
  ``{"type": "correct", "label": "surprise"}`` (or ``"not": "sad"``) stores the main track's
  reading of the last second as a correction. Both refit the profile at once and reply
  ``{"type": "profile", "event": ..., "sample_id": ..., "profile": {...}}``; only those 7 numbers
  per sample are kept.
- browser mode (the live page analyses the camera itself, frames stay on the device):
  ``{"type": "start", "consent": true, "mode": "browser", "name": "..."}`` starts a *record-only*
  session (it needs the server's database; no linking: that needs frames). The client then sends,
  per analysed frame, what the history keeps:
  ``{"type": "observations", "t": ..., "faces": [{"track_id": 3, "stable_label": "happy",
  "smoothed_probabilities": {...7 labels...}}]}`` (confirmed faces only; capture times in ms that
  never go back; each face's probabilities the 7 labels, each in [0, 1], summing to 1; track ids
  whole numbers, each once). It is folded into the same ``HistoryWriter`` as a server-mode frame, so
  the stored session has the same shape; a refused message gets ``bad_observations`` and is not
  recorded. No reply otherwise (at most ``max_fps`` a second, as frames). A binary message (a frame)
  is refused in this mode (``frames_refused``) and never decoded; ``stopped`` counts the binary
  messages the server received (``binary_messages``: 0 in a browser-mode session).
  With ``"profile": "NAME"`` in a browser-mode start, the page reads the main face through the
  profile itself (``GET /api/v1/profiles/NAME/fit?reader=browser``), that face's observation
  carries ``model_probabilities`` too (the model's own reading of the frame) with
  ``model_smoothed_probabilities`` and ``model_stable_label`` (that reading smoothed as the page
  smooths a face without a profile: the history keeps these, as for a server-mode face read
  through a profile, so a session has one history with or without it), and calibrate and correct
  are REST calls (``POST /api/v1/profiles/NAME/samples`` with the page's readings), not stream
  messages.
- any malformed message gets ``{"type": "error", "code": ..., "message": ...}``; the stream goes on.

Frames are decoded in memory and dropped after use; they are never written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import struct
import time
from collections import deque
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from moodlens.errors import ImageError
from moodlens.images import decode_image
from moodlens.labels import LABELS, Expression
from moodlens.names import check_session_name, clip_session_name
from moodlens.pipeline.headline import HeadlineTracker
from moodlens.pipeline.stream import StreamAnalyzer
from moodlens.results import Box, Detection, Face, FrameResult
from moodlens.service.app import Services, services
from moodlens.summary import ExpressionSummary, PersonTimeline, ScreenTime

log = logging.getLogger("moodlens.service")
router = APIRouter()
_HEADER = struct.Struct("<d")
#: Capture times are milliseconds on the client's clock (``performance.now()``): from 0 to about
#: 115 days. Anything else, or a time before the previous frame's, is refused as a bad frame.
MAX_CAPTURE_MS = 1e10
#: An observations message: at most this many faces, and track ids up to 2**31 - 1.
MAX_OBSERVED_FACES = 64
#: Distinct track ids one browser-mode session may send: far above what a camera in front of
#: people shows (a 62 s loop of a five-person clip had 36), far below what would let one page grow
#: the server's memory without end (64 new ids a message at 30 messages a second).
MAX_SESSION_TRACKS = 5000
#: How often a server-mode session checks that its profile still exists (seconds).
PROFILE_CHECK_S = 2.0
MAX_TRACK_ID = 2**31 - 1
#: How far a face's 7 probabilities may sum from 1 (the page rounds each to 4 digits).
SUM_TOLERANCE = 0.01
#: Where a record-only session's faces are: nowhere the server knows (it never sees the frame).
_NOWHERE = Detection(Box(0.0, 0.0, 1.0, 1.0), 1.0)


class ObservationError(ValueError):
    """An observations message the server refuses (the reason is for the client)."""


def _probabilities(value: Any, where: str) -> np.ndarray[Any, np.dtype[np.float32]]:
    """Seven labelled probabilities of an observation, checked; raises ObservationError."""
    if not isinstance(value, dict) or set(value) != set(LABELS):
        raise ObservationError(f"{where} must have the 7 labels, no more")
    values = [value[name] for name in LABELS]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1
        for v in values
    ):
        raise ObservationError(f"{where} must each lie in [0, 1]")
    total = float(sum(values))
    if abs(total - 1.0) > SUM_TOLERANCE:
        raise ObservationError(f"{where} must sum to 1 (got {total:.4f})")
    return np.asarray(values, dtype=np.float32) / np.float32(total)


def parse_observations(
    message: dict[str, Any], last_t: float, profile: str | None = None
) -> tuple[float, list[Face]]:
    """The capture time and the faces (as the history writer reads them) of an observations
    message, every field checked; raises ObservationError. In a session started with a
    ``profile``, one face (the one the page reads through it) may carry its ``model_probabilities``:
    the history keeps those, as it does for a server-mode face read through a profile."""
    t = message.get("t")
    if (
        isinstance(t, bool)
        or not isinstance(t, int | float)
        or not math.isfinite(t)
        or not 0 <= t <= MAX_CAPTURE_MS
    ):
        raise ObservationError(f"t must be a capture time in ms from 0 to {MAX_CAPTURE_MS:.0e}")
    if t < last_t:
        raise ObservationError("the capture time went backwards: observations must come in order")
    faces = message.get("faces")
    if not isinstance(faces, list) or len(faces) > MAX_OBSERVED_FACES:
        raise ObservationError(f"faces must be a list of at most {MAX_OBSERVED_FACES} faces")
    out: list[Face] = []
    seen: set[int] = set()
    for i, face in enumerate(faces):
        if not isinstance(face, dict):
            raise ObservationError(f"faces[{i}] must be an object")
        track_id = face.get("track_id")
        if isinstance(track_id, bool) or not isinstance(track_id, int) or not 1 <= track_id <= MAX_TRACK_ID:
            raise ObservationError(f"faces[{i}].track_id must be a whole number from 1 to {MAX_TRACK_ID}")
        if track_id in seen:
            raise ObservationError(f"faces[{i}].track_id {track_id} appears twice")
        seen.add(track_id)
        label = face.get("stable_label")
        if label not in LABELS:
            raise ObservationError(f"faces[{i}].stable_label must be one of {', '.join(LABELS)}")
        smoothed = _probabilities(face.get("smoothed_probabilities"), f"faces[{i}].smoothed_probabilities")
        stable = Expression.from_label(label)
        model = face.get("model_probabilities")
        if model is not None:
            if profile is None:
                raise ObservationError(
                    f"faces[{i}].model_probabilities: only a session started with a profile sends them"
                )
            if any(f.profile is not None for f in out):
                raise ObservationError(
                    f"faces[{i}].model_probabilities: one face is read through the profile"
                )
            model = _probabilities(model, f"faces[{i}].model_probabilities")
        model_smoothed, model_stable = _model_smoothing(face, model, i)
        out.append(
            Face(
                _NOWHERE,
                smoothed,
                track_id=track_id,
                smoothed=smoothed,
                stable=stable,
                model_probabilities=model,
                profile=None if model is None else profile,
                model_smoothed=model_smoothed,
                model_stable=model_stable,
            )
        )
    return float(t), out


def _model_smoothing(
    face: dict[str, Any], model: Any, i: int
) -> tuple[np.ndarray[Any, np.dtype[np.float32]] | None, Expression | None]:
    """The model's own smoothed reading and stable label the page sends with the profiled face's
    raw one (both or neither), so that the history keeps what a session without the profile keeps."""
    smoothed, label = face.get("model_smoothed_probabilities"), face.get("model_stable_label")
    if smoothed is None and label is None:
        return None, None
    where = f"faces[{i}].model_smoothed_probabilities"
    if model is None:
        raise ObservationError(f"{where}: only with model_probabilities (the face read through the profile)")
    if smoothed is None or label not in LABELS:
        raise ObservationError(
            f"{where} and model_stable_label come together, the label one of {', '.join(LABELS)}"
        )
    return _probabilities(smoothed, where), Expression.from_label(label)


class _Observed:
    """A record-only session (browser mode): the page analyses, the server keeps the numbers.
    Per track, the same timeline and time on screen as ``StreamAnalyzer`` keeps for its summaries."""

    def __init__(self) -> None:
        self.timelines: dict[int, PersonTimeline] = {}
        self.screens: dict[int, ScreenTime] = {}

    def add(self, t: float, faces: list[Face]) -> None:
        for face in faces:
            assert face.track_id is not None and face.stable is not None and face.smoothed is not None
            self.timelines.setdefault(face.track_id, PersonTimeline()).add(t, int(face.stable), face.smoothed)
            self.screens.setdefault(face.track_id, ScreenTime()).add(t)

    def summaries(self) -> list[ExpressionSummary]:
        out = []
        for track_id in sorted(self.timelines):
            tally = self.timelines[track_id].snapshot()
            if tally is not None:
                out.append(ExpressionSummary.from_tally(track_id, tally, self.screens.get(track_id)))
        return out


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


def _session_name(message: dict[str, Any]) -> Any:
    """The start message's session name, its first 200 characters, never cut inside a letter
    (:func:`moodlens.names.clip_session_name`; what else it holds, the store refuses: text only,
    no control characters or line breaks)."""
    name = message.get("name", "")
    return clip_session_name(name) if isinstance(name, str) else name


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
        self.profile: str | None = None
        #: The id of the profile this session started with: samples go to that profile only (one
        #: deleted and made again under the same name is another person's).
        self.profile_id: int | None = None
        #: When the profile was last checked to still exist (monotonic seconds), and the check.
        self.profile_checked = 0.0
        self.profile_task: asyncio.Task[None] | None = None
        #: (capture time, model probabilities) of the main track, the last few seconds only.
        self.recent: deque[tuple[float, Any]] = deque()
        #: A calibration in progress: seconds asked, first capture time, readings so far.
        self.calibration: dict[str, Any] | None = None
        #: A record-only session (browser mode), instead of ``stream``.
        self.observed: _Observed | None = None
        #: Binary messages (frames) received in the current session, refused ones included.
        self.binary = 0

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.ws.send_text(json.dumps(message))

    async def fail(self, code: str, message: str) -> None:
        await self.send({"type": "error", "code": code, "message": message})

    async def on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, RecursionError, KeyError, TypeError):
            # ValueError: not JSON, or an integer of more digits than Python converts; RecursionError:
            # nesting deeper than the parser goes. Either way the stream goes on.
            await self.fail("bad_message", "expected a JSON object with a 'type'")
            return
        if kind == "start":
            await self.start(message)
        elif kind == "stop":
            summary = await self.finish()
            await self.send({"type": "stopped", **summary})
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "reload_profile" and self.profile is not None and self.stream is not None:
            loaded = await self.load_profile(self.profile, self.profile_id)
            if loaded is not None:
                self.stream.profile = loaded[0]
                await self.send({"type": "profile", "event": "reloaded", "profile": loaded[0].state()})
        elif kind == "calibrate":
            await self.calibrate(message)
        elif kind == "correct":
            await self.correct(message)
        elif kind == "observations":
            await self.observe(message)
        else:
            await self.fail("bad_message", f"unknown message type {kind!r}")

    async def start(self, message: dict[str, Any]) -> None:
        if message.get("consent") is not True:
            await self.fail("consent_required", "the person in front of the camera must consent first")
            return
        if not isinstance(message.get("record", True), bool):  # "false" is text, and would record
            await self.fail("bad_message", "start: record must be true or false")
            return
        try:  # checked before anything starts, as the store will check it
            name = check_session_name(_session_name(message))
        except ValueError as exc:
            await self.fail("bad_message", f"start: {exc}")
            return
        mode = message.get("mode", "server")
        if mode not in ("server", "browser"):
            await self.fail("bad_message", "start: mode must be server or browser")
            return
        if mode == "browser":
            await self.start_observing(message, name)
            return
        if self.stream is not None or self.observed is not None:
            await self.finish()
        profile_name = message.get("profile")
        profile, self.profile_id = None, None
        if profile_name is not None:
            loaded = await self.load_profile(profile_name)
            if loaded is None:
                return
            profile, self.profile_id = loaded
        self.profile = None if profile is None else profile.name
        self.profile_checked = time.monotonic()
        self.recent.clear()
        self.calibration = None
        linker = None
        if message.get("link_people") is True:
            from moodlens.pipeline.people import PeopleLinker

            linker = PeopleLinker(await run_in_threadpool(self.svc.face_embedder))
        self.stream = StreamAnalyzer(self.svc.analyzer, profile=profile, linker=linker)
        self.headline = HeadlineTracker()
        self.frames, self.dropped, self.last_t, self.binary = 0, 0, -math.inf, 0
        recording = message.get("record", True) and self.svc.store is not None
        session_id = None
        if recording:
            from moodlens.service.profiles import model_id

            await self.open_writer(
                name=name, source="browser camera", profile=self.profile, model=model_id(self.svc)
            )
            session_id = self.writer.session_id
        await self.send(
            {
                "type": "started",
                "session_id": session_id,
                "recording": recording,
                "max_fps": self.svc.settings.max_fps,
                "profile": self.profile,
                "link_people": linker is not None,
                "mode": "server",
            }
        )

    async def open_writer(self, **session: Any) -> None:
        """The history writer of a new session (``name``, ``source``, ``profile``, ``model``)."""
        from moodlens.store import HistoryWriter

        store = self.svc.store
        assert store is not None
        self.writer = await run_in_threadpool(lambda: HistoryWriter.start(store, consent=True, **session))

    async def start_observing(self, message: dict[str, Any], name: str) -> None:
        """A record-only session: the page analyses its own camera and sends observations."""
        if self.svc.store is None:
            await self.fail(
                "no_history", "a browser-mode session only records: this server keeps no database (--db)"
            )
            return
        if message.get("record", True) is not True:
            await self.fail(
                "bad_message", "start: a browser-mode session records (record: true) or is not needed"
            )
            return
        if message.get("link_people") is True:
            await self.fail("bad_message", "start: linking people needs frames (mode: server)")
            return
        store = self.svc.store
        profile = message.get("profile")
        if profile is not None:
            # The page reads the face through the profile itself (GET /api/v1/profiles/NAME/fit);
            # the session records the name, and the model's own readings of that face.
            try:
                info = await run_in_threadpool(store.get_profile, str(profile)[:64])
            except (KeyError, ValueError) as exc:
                await self.fail("unknown_profile", str(exc.args[0] if exc.args else exc))
                return
            profile = info.name
        if self.stream is not None or self.observed is not None:
            await self.finish()
        from moodlens.service.models_route import engine_model_id

        # The page's engine runs the shipped default classifier, whatever the server runs.
        model = await run_in_threadpool(engine_model_id)
        await self.open_writer(
            name=name, source="browser camera (analysed in the browser)", profile=profile, model=model
        )
        self.observed = _Observed()
        self.profile = profile
        self.profile_id = None if profile is None else info.id
        self.recent.clear()
        self.calibration = None
        self.frames, self.dropped, self.last_t, self.binary = 0, 0, -math.inf, 0
        self.limiter = _RateLimiter(self.svc.settings.max_fps)
        await self.send(
            {
                "type": "started",
                "session_id": self.writer.session_id,
                "recording": True,
                "max_fps": self.svc.settings.max_fps,
                "profile": profile,
                "link_people": False,
                "mode": "browser",
            }
        )

    async def observe(self, message: dict[str, Any]) -> None:
        """One analysed frame's observations, into the history as a server-mode frame would go."""
        observed, writer = self.observed, self.writer
        if observed is None or writer is None:
            await self.fail("not_started", "send a start message with mode browser before observations")
            return
        if not self.limiter.allow():
            self.dropped += 1
            await self.fail("rate_limited", f"over {self.svc.settings.max_fps:g} observations per second")
            return
        try:
            t, faces = parse_observations(message, self.last_t, self.profile)
        except ObservationError as exc:
            await self.fail("bad_observations", f"observations: {exc}")
            return
        new = {f.track_id for f in faces} - observed.timelines.keys()
        if len(observed.timelines) + len(new) > MAX_SESSION_TRACKS:
            await self.fail(
                "session_full",
                f"this session has {len(observed.timelines)} people tracks, the most one session keeps "
                f"({MAX_SESSION_TRACKS}): new faces are not recorded; stop it and start a new one",
            )
            return
        self.last_t = t
        index = self.frames
        self.frames += 1
        observed.add(t, faces)
        result = FrameResult(tuple(faces), 1, 1, timestamp_ms=t, frame_index=index)
        try:
            await run_in_threadpool(writer.write, result)
        except Exception as exc:  # the session goes on; the summary says it was not saved in full
            log.warning("history database: observations not recorded: %s", exc)

    async def load_profile(self, name: Any, expected_id: int | None = None) -> tuple[Any, int] | None:
        """The profile fitted for the server's model (empty until calibrated) and its id, or None
        after an error (said to the client); with ``expected_id``, only that same profile."""
        from moodlens.personal import Profile, Sample
        from moodlens.service.profiles import model_id

        store = self.svc.store
        if store is None:
            await self.fail(
                "no_profiles", "profiles need the server to keep a database (moodlens serve --db)"
            )
            return None
        model = model_id(self.svc)
        try:
            info = await run_in_threadpool(store.get_profile, str(name)[:64])
            if expected_id is not None and info.id != expected_id:
                raise KeyError(f"the profile {info.name!r} was deleted and made again: not the same one")
            samples = await run_in_threadpool(store.profile_samples, info.name, model)
        except (KeyError, ValueError) as exc:
            await self.fail("unknown_profile", str(exc.args[0] if exc.args else exc))
            return None
        return Profile.fit(info.name, [Sample.of(s) for s in samples]), info.id

    def drop_profile(self) -> None:
        """Read faces by the model alone from now on (the profile is gone)."""
        self.profile, self.profile_id = None, None
        self.calibration = None
        if self.stream is not None:
            self.stream.profile = None

    def schedule_profile_check(self) -> None:
        """Every few seconds, check beside the frames (a slow database never holds one up) that
        the profile this session reads faces through still exists; from the frame after a check
        that finds it gone, faces are read by the model alone."""
        if self.profile is None or self.profile_id is None or self.svc.store is None:
            return
        if self.profile_task is not None and not self.profile_task.done():
            return
        if time.monotonic() - self.profile_checked < PROFILE_CHECK_S:
            return
        self.profile_checked = time.monotonic()
        self.profile_task = asyncio.create_task(self.check_profile())

    async def check_profile(self) -> None:
        """Drop the profile (and say so once) when it was deleted, or made again under its name
        (another person's), since the session started with it."""
        store = self.svc.store
        if self.profile is None or self.profile_id is None or store is None:
            return
        name, expected = self.profile, self.profile_id
        try:
            info = await run_in_threadpool(store.get_profile, name)
            if info.id == expected:
                return
        except KeyError:
            pass
        except Exception as exc:  # a database that is down is not a deleted profile
            log.warning("history database: cannot check profile %r: %s", name, exc)
            return
        if self.profile_id != expected:  # a new session started meanwhile, with its own
            return
        self.drop_profile()
        try:
            await self.fail(
                "profile_failed",
                f"the profile {name!r} was deleted: faces are read by the model alone from now on",
            )
        except Exception:  # the client left meanwhile: nobody to tell
            log.debug("stream: the client left before hearing that its profile was deleted")

    async def _in_browser_mode(self, what: str) -> bool:
        """Browser mode has no frames here: the page adds its own readings over REST."""
        if self.observed is None:
            return False
        await self.fail(
            "bad_message",
            f"{what}: in browser mode the page reads the face itself and adds the sample with "
            "POST /api/v1/profiles/NAME/samples",
        )
        return True

    async def calibrate(self, message: dict[str, Any]) -> None:
        if await self._in_browser_mode("calibrate"):
            return
        if self.stream is None or self.profile is None:
            await self.fail("no_profile", "start the camera with a profile to calibrate it")
            return
        seconds = message.get("seconds", 3)
        if not isinstance(seconds, int | float) or not 1 <= seconds <= 10:
            await self.fail("bad_message", "calibrate: seconds must be a number from 1 to 10")
            return
        self.calibration = {"seconds": float(seconds), "start": None, "readings": []}

    async def correct(self, message: dict[str, Any]) -> None:
        from moodlens.labels import Expression

        if await self._in_browser_mode("correct"):
            return
        if self.stream is None or self.profile is None:
            await self.fail("no_profile", "start the camera with a profile to teach it")
            return
        try:
            label = (
                None if message.get("label") is None else Expression.from_label(str(message["label"])).label
            )
            not_label = (
                None if message.get("not") is None else Expression.from_label(str(message["not"])).label
            )
        except ValueError as exc:
            await self.fail("bad_message", f"correct: {exc}")
            return
        if (label is None) == (not_label is None):
            await self.fail(
                "bad_message", "correct: give either label (what it was) or not (what it was not)"
            )
            return
        latest = self.recent[-1][0] if self.recent else None
        readings = [p for t, p in self.recent if latest is not None and t >= latest - 1000]
        if not readings:
            await self.fail("no_face", "no reading of the main face in the last second to correct")
            return
        said = label or f"not {not_label}"
        await self.add_sample(
            "correction", readings, f"live camera: {said}", label=label, not_label=not_label
        )

    async def add_sample(self, kind: str, readings: list[Any], source: str, **labels: Any) -> None:
        """Store the mean reading (geometric, as the fit works in log-probabilities), refit, reply."""
        from moodlens.personal import mean_reading
        from moodlens.service.profiles import describe, model_id
        from moodlens.store.profiles import NewSample

        store, name = self.svc.store, self.profile
        assert store is not None and name is not None
        sample = NewSample(
            kind=kind,
            probabilities=mean_reading(readings),
            model=model_id(self.svc),
            source=f"{source}, {len(readings)} frame(s)",
            **labels,
        )
        try:
            (sample_id,) = await run_in_threadpool(
                lambda: store.add_profile_samples(name, [sample], profile_id=self.profile_id)
            )
            info = await run_in_threadpool(store.get_profile, name)
            samples = await run_in_threadpool(store.profile_samples, name)
        except (KeyError, ValueError) as exc:
            if isinstance(exc, KeyError):  # deleted since the session started: stop using it
                self.drop_profile()
            await self.fail("profile_failed", str(exc.args[0] if exc.args else exc))
            return
        loaded = await self.load_profile(name, self.profile_id)
        if loaded is not None and self.stream is not None:
            self.stream.profile = loaded[0]
        event = "calibrated" if kind == "neutral" else "corrected"
        await self.send(
            {
                "type": "profile",
                "event": event,
                "sample_id": sample_id,
                "profile": describe(info, samples, sample.model),
            }
        )

    async def after_result(self, result: FrameResult, t: float) -> None:
        """Keep the main track's model readings for corrections, and run a calibration."""
        main = next((f for f in result.faces if f.profile is not None), None)
        if main is not None:
            self.recent.append((t, main.model_probabilities))
        while self.recent and self.recent[0][0] < t - 3000:
            self.recent.popleft()
        calibration = self.calibration
        if calibration is None:
            return
        if calibration["start"] is None:
            calibration["start"] = t
        if main is not None and t <= calibration["start"] + 1000 * calibration["seconds"]:
            calibration["readings"].append(main.model_probabilities)
        if t >= calibration["start"] + 1000 * calibration["seconds"]:
            self.calibration = None
            if not calibration["readings"]:
                await self.fail(
                    "calibration_failed",
                    "no face was seen while calibrating: look at the camera and try again",
                )
                return
            await self.add_sample(
                "neutral", calibration["readings"], f"live camera {calibration['seconds']:g} s"
            )

    async def on_frame(self, data: bytes) -> None:
        settings = self.svc.settings
        self.binary += 1
        if self.observed is not None:
            await self.fail(
                "frames_refused", "this session records observations only: frames stay on the device"
            )
            return
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
        self.schedule_profile_check()
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
        except Exception as exc:  # the stream must survive one bad frame; the log says why
            log.warning("stream: a frame could not be processed: %s: %s", type(exc).__name__, exc)
            await self.fail("processing_failed", f"this frame could not be analysed ({type(exc).__name__})")
            return
        self.svc.frames_processed += 1
        if self.profile is not None:
            await self.after_result(result, t)
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
        people: list[Any] = []
        summary["mode"] = "browser" if self.observed is not None else "server"
        if self.observed is not None:
            summary["tracks"] = [s.to_dict() for s in self.observed.summaries()]
        if self.stream is not None:
            summary["tracks"] = [s.to_dict() for s in self.stream.summaries()]
            if self.stream.linker is not None:
                people = await run_in_threadpool(self.stream.people)
                self.stream.linker.close()
                summary["people_summaries"] = [
                    {**p.to_dict(), "person": person.person_id, "track_ids": list(person.track_ids)}
                    for person, p in people
                ]
        summary["track_count"] = len(summary["tracks"])
        summary["people"] = len(people) if people else len(summary["tracks"])
        summary["binary_messages"] = self.binary
        if self.writer is not None:
            writer, self.writer = self.writer, None
            summary["session_id"] = writer.session_id
            # The recorder's messages name the database (its path or URL on this machine): the
            # client hears what happened, the server's log says where.
            try:
                await run_in_threadpool(writer.close)
            except Exception as exc:  # the session must end, and the client hear why
                log.warning("history database: the session could not be closed: %s", exc)
                summary["history_error"] = (
                    "the session could not be saved completely; the server's log says why"
                )
            if writer.error is not None:
                log.warning("history database: %s", writer.error)
                summary["history_error"] = (
                    "the session could not be saved completely; the server's log says why"
                )
            elif people:
                store = writer.store
                groups = [list(person.track_ids) for person, _ in people]
                try:
                    await run_in_threadpool(store.link_people, writer.session_id, groups)
                except Exception as exc:  # the summary still reaches the client; the log says why
                    log.warning("history database: people not recorded: %s", exc)
                    summary["history_error"] = "people not recorded; the server's log says why"
        self.stream = None
        self.observed = None
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
