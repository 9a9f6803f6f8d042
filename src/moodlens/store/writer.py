"""Streaming results into the history store without slowing the pipeline down.

The pipeline thread folds each frame into per-track interval aggregates (cheap) and hands
finished rows to a bounded queue; a background thread commits them in batches at least every
``commit_every_ms``. A transaction is all or nothing, so a kill -9 loses at most the rows of the
last period and never leaves a partial one. When the database is locked or unreachable the
writer retries; with ``on_error="buffer"`` rows wait in a bounded buffer (the oldest are dropped
beyond it, and counted), with ``on_error="stop"`` the next ``write`` raises :class:`StoreError`
so the pipeline can stop cleanly.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from moodlens.labels import LABELS
from moodlens.pipeline.smoothing import ExpressionSmoother
from moodlens.results import FrameResult
from moodlens.store.database import StoreError
from moodlens.store.history import HistoryStore
from moodlens.summary import DEFAULT_PERIOD_MS, MAX_GAP_MS, ExpressionSummary, PersonTimeline, Tally


@dataclass(frozen=True)
class WriterSettings:
    interval_ms: int = 1000
    commit_every_ms: int = 1000
    frame_rows: bool = False
    on_error: Literal["buffer", "stop"] = "buffer"
    max_buffer: int = 200_000
    queue_size: int = 50_000

    def __post_init__(self) -> None:
        if self.interval_ms < 10 or self.commit_every_ms < 10:
            raise ValueError("interval_ms and commit_every_ms must be >= 10")
        if self.on_error not in ("buffer", "stop"):
            raise ValueError("on_error must be buffer or stop")
        if self.max_buffer < 1 or self.queue_size < 1:
            raise ValueError("max_buffer and queue_size must be >= 1")


@dataclass
class WriterStats:
    intervals: int = 0
    frames: int = 0
    commits: int = 0
    dropped: int = 0
    retries: int = 0
    commit_ms: list[float] = field(default_factory=list)


#: On close, how long to keep retrying a database that is locked or down before giving up.
_FINAL_RETRY_S = 10.0


class HistoryWriter:
    """Writes one session. Use as a context manager; ``close`` flushes and ends the session."""

    def __init__(
        self,
        store: HistoryStore,
        session_id: int,
        started_at: datetime,
        settings: WriterSettings | None = None,
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.started_at = started_at
        self.settings = settings or WriterSettings()
        self.stats = WriterStats()
        self.error: StoreError | None = None
        # Per person: the timeline that resolves each observation's duration (moodlens.summary),
        # and the tallies of the intervals still open, by interval index.
        self._people: dict[int, PersonTimeline] = {}
        self._model_smoother = ExpressionSmoother()
        #: The tracks with an observation still pending (on screen, or gone for under the gap),
        #: in order of first sight (a dict as an ordered set: rows are queued in a fixed order).
        self._active: dict[int, None] = {}
        self._open: dict[int, dict[int, Tally]] = {}
        # Per person: the intervals (by index) in which their face was read through the profile.
        self._profiled: dict[int, set[int]] = {}
        self._last_ms: float | None = None
        self._period_ms = DEFAULT_PERIOD_MS
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(self.settings.queue_size)
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="moodlens-history", daemon=True)
        self._thread.start()

    @classmethod
    def start(
        cls,
        store: HistoryStore,
        *,
        name: str = "",
        source: str = "",
        consent: bool = False,
        settings: WriterSettings | None = None,
        profile: str | None = None,
        model: str | None = None,
    ) -> HistoryWriter:
        """Create a session and a writer for it (the session records whether frames are kept, and
        the profile and classifier it is recorded with, when given)."""
        settings = settings or WriterSettings()
        started = datetime.now(UTC)
        session_id = store.start_session(
            name=name,
            source=source,
            consent=consent,
            frame_rows=settings.frame_rows,
            started_at=started,
            profile=profile,
            model=model,
        )
        return cls(store, session_id, started, settings)

    # --- pipeline side ---------------------------------------------------------------------------

    def write(self, result: FrameResult) -> None:
        """Fold one frame's tracked faces in. Raises StoreError if the writer gave up (policy stop)."""
        if self.error is not None:
            raise self.error
        if result.timestamp_ms is None:
            raise ValueError("history rows need frame timestamps (timestamp_ms)")
        now = result.timestamp_ms
        if self._last_ms is not None and 0 < now - self._last_ms <= MAX_GAP_MS:
            self._period_ms = now - self._last_ms
        self._last_ms = now
        seen = set()
        for face in result.faces:
            if face.track_id is None:
                continue
            seen.add(face.track_id)
            probs = face.shown_probabilities
            label = face.shown_expression
            if face.model_smoothed is not None and face.model_stable is not None:
                # A face read through a profile: history keeps the model's plain reading, smoothed
                # as in a run without the profile, so a correction teaches the profile in the
                # model's terms and deleting the profile leaves the session's results as the
                # model gave them (the same as a session recorded without it).
                probs, label = face.model_smoothed, face.model_stable
            elif face.model_probabilities is not None:
                # A page (browser mode) older than model_smoothed_probabilities sends only the
                # model's raw reading of the profiled face: smoothed here with the page's settings.
                probs, label = self._model_smoother.update(face.track_id, face.model_probabilities, now)
            if face.profile is not None:
                # Only the intervals marked so teach the profile when corrected: another person's
                # track (an audience member's) never does.
                index = int(now // self.settings.interval_ms)
                self._profiled.setdefault(face.track_id, set()).add(index)
            person = self._people.setdefault(face.track_id, PersonTimeline())
            self._active[face.track_id] = None
            resolved = person.add(now, int(label), probs)
            if resolved is not None:
                self._fold(face.track_id, resolved)
            if self.settings.frame_rows:
                row = {
                    "session_id": self.session_id,
                    "track_id": face.track_id,
                    "timestamp_ms": int(now),
                    "label": label.label,
                }
                row.update({f"p_{n}": float(p) for n, p in zip(LABELS, probs, strict=True)})
                self._put("frame", row)
        # A person gone for longer than the summary's gap: their last observation is complete.
        # Only people with an observation pending are looked at, so the work per frame follows
        # who is on screen, not every track the session had (a person's timeline is kept: back
        # after a gap, their last frame period still gives a single sighting its duration).
        for track_id in [t for t in self._active if t not in seen and self._people[t].stale(now)]:
            del self._active[track_id]
            resolved = self._people[track_id].close()
            if resolved is not None:
                self._fold(track_id, resolved)
        # Intervals no observation can reach any more (before the current one) are written.
        bucket = int(now // self.settings.interval_ms)
        for track_id in list(self._open):
            tallies = self._open[track_id]
            present = self._people.get(track_id)
            pending = None if present is None else present.pending_ms
            floor = bucket if pending is None else int(pending // self.settings.interval_ms)
            for index in [b for b in tallies if b < floor]:
                self._emit(track_id, index, tallies.pop(index))
            if not tallies:
                del self._open[track_id]

    def _fold(self, track_id: int, observation: tuple[float, int, Any, float]) -> None:
        timestamp, label, probs, duration = observation
        index = int(timestamp // self.settings.interval_ms)
        tally = self._open.setdefault(track_id, {}).setdefault(index, Tally(timestamp, timestamp))
        tally.add(timestamp, label, probs, duration)

    def _emit(self, track_id: int, index: int, tally: Tally) -> None:
        summary = ExpressionSummary.from_tally(track_id, tally)
        marked = self._profiled.get(track_id)
        profiled = marked is not None and index in marked
        if marked:  # this interval and any earlier one are done
            marked.difference_update([i for i in marked if i <= index])
            if not marked:
                del self._profiled[track_id]
        row: dict[str, Any] = {
            "session_id": self.session_id,
            "track_id": track_id,
            "start_ms": int(tally.first_ms),
            "end_ms": int(tally.last_ms),
            "start_at": self.started_at + timedelta(milliseconds=tally.first_ms),
            "frames": tally.frames,
            "dominant": summary.dominant,
            "profiled": profiled,
        }
        row.update({f"p_{n}": v for n, v in summary.mean_probabilities.items()})
        row.update({f"t_{n}": v for n, v in summary.shown_ms.items()})
        self._put("interval", row)

    def _put(self, kind: str, row: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((kind, row))
        except queue.Full:
            # The database cannot keep up at all: drop rather than stall the camera.
            self.stats.dropped += 1

    def close(self) -> None:
        """Flush open intervals, commit everything, end the session. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            for track_id, person in self._people.items():
                resolved = person.close()
                if resolved is not None:
                    self._fold(track_id, resolved)
            for track_id, tallies in self._open.items():
                for index in sorted(tallies):
                    self._emit(track_id, index, tallies[index])
        except Exception as exc:  # the session is still ended and the thread still stopped
            self.error = StoreError(f"{self.store.where}: the last rows could not be prepared ({exc})")
        self._open.clear()
        self._profiled.clear()
        self._queue.put(None)
        self._thread.join()
        if self.error is None:
            media_ms = None if self._last_ms is None else round(self._last_ms + self._period_ms)
            try:
                self.store.end_session(self.session_id, media_ms=media_ms)
            except (SQLAlchemyError, StoreError) as exc:
                self.error = StoreError(f"{self.store.where}: could not close the session ({exc})")

    def __enter__(self) -> HistoryWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- background side -----------------------------------------------------------------------

    def _run(self) -> None:
        pending: deque[tuple[str, dict[str, Any]]] = deque()
        period = self.settings.commit_every_ms / 1000.0
        last_commit = time.monotonic()
        finish_by: float | None = None  # when closing, how long to keep retrying
        backoff = 0.05
        while True:
            timeout = max(0.0, period - (time.monotonic() - last_commit))
            try:
                item = self._queue.get(timeout=timeout)
                if item is None:
                    finish_by = time.monotonic() + _FINAL_RETRY_S
                else:
                    pending.append(item)
                    while len(pending) < 20_000:  # drain what is already there
                        more = self._queue.get_nowait()
                        if more is None:
                            finish_by = time.monotonic() + _FINAL_RETRY_S
                            break
                        pending.append(more)
            except queue.Empty:
                pass
            due = finish_by is not None or time.monotonic() - last_commit >= period
            if due and pending and not self._commit(pending):
                if self.settings.on_error == "stop":
                    return
                while len(pending) > self.settings.max_buffer:
                    pending.popleft()
                    self.stats.dropped += 1
                if finish_by is not None and time.monotonic() > finish_by:
                    self.error = StoreError(
                        f"{self.store.where}: the database stayed unavailable; "
                        f"{len(pending)} row(s) of this session were not saved"
                    )
                    return
                time.sleep(backoff)
                backoff = min(2.0, backoff * 2)
                continue
            backoff = 0.05
            if due:
                last_commit = time.monotonic()
            if finish_by is not None and not pending:
                return

    def _commit(self, pending: deque[tuple[str, dict[str, Any]]]) -> bool:
        intervals = [row for kind, row in pending if kind == "interval"]
        frames = [row for kind, row in pending if kind == "frame"]
        started = time.perf_counter()
        try:
            self.store.insert(intervals, frames)
        except SQLAlchemyError as exc:
            self.stats.retries += 1
            reason = getattr(exc, "orig", exc)
            if self.settings.on_error == "stop":
                self.error = StoreError(f"{self.store.where}: cannot write the history ({reason}); stopping")
            return False
        self.stats.commit_ms.append((time.perf_counter() - started) * 1000)
        self.stats.commits += 1
        self.stats.intervals += len(intervals)
        self.stats.frames += len(frames)
        pending.clear()
        return True
