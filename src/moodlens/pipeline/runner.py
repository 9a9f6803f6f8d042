"""The stream loop: frames -> StreamAnalyzer -> annotate -> sinks, with statistics.

With ``parallel`` (the default), the image-only stage of each frame (shot-cut check and
detection, ``StreamAnalyzer.prepare``) runs on a worker thread, one or two frames ahead of the
stage that needs the stream's state (tracking, classification, smoothing, drawing, sinks). ONNX
Runtime and OpenCV release the GIL, so the two cores work at once; the queue between the stages
is bounded, frames stay in order, and the results are those of the sequential loop.

Ctrl-C ends the loop cleanly: the sinks are closed by their owners (context managers), so the
video stays playable and the timeline complete; ``RunStats.interrupted`` says it happened.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from moodlens.pipeline.sinks import VideoSink
from moodlens.pipeline.sources import VideoFrame
from moodlens.pipeline.stream import PreparedFrame, StreamAnalyzer
from moodlens.render.annotators import Annotator
from moodlens.results import FrameResult


#: Called after each frame with the frame, its result and the drawn image (or None when nothing
#: draws); returning False stops the loop (a window's quit key, a test).
class ResultSink(Protocol):
    """Anything that takes the result of every frame: a timeline file, the history writer."""

    def write(self, result: FrameResult) -> None: ...


FrameCallback = Callable[[VideoFrame, FrameResult, "npt.NDArray[np.uint8] | None"], bool]


@dataclass
class RunStats:
    frames: int = 0
    faces: int = 0
    corrupt: int = 0
    dropped: int = 0
    #: Frames a file's container announced that never came (the file was cut short).
    missing: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    process_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float | None:
            return round(float(np.percentile(values, q)), 2) if values else None

        return {
            "frames": self.frames,
            "faces": self.faces,
            "corrupt_frames": self.corrupt,
            "missing_frames": self.missing,
            "dropped_frames": self.dropped,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.fps, 2),
            "interrupted": self.interrupted,
            "process_ms_p50": pct(self.process_ms, 50),
            "process_ms_p95": pct(self.process_ms, 95),
            "latency_ms_p50": pct(self.latency_ms, 50),
            "latency_ms_p95": pct(self.latency_ms, 95),
        }


_DONE = object()


def _prepared(
    frames: Iterable[VideoFrame], stream: StreamAnalyzer, depth: int
) -> Iterator[tuple[VideoFrame, PreparedFrame]]:
    """``stream.prepare`` of each frame, run on a worker thread at most ``depth`` frames ahead."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for frame in frames:
                prepared = stream.prepare(
                    frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index
                )
                if not put((frame, prepared)):
                    return
            put(_DONE)
        except BaseException as exc:  # re-raised on the consumer's side, where it belongs
            put(exc)

    worker = threading.Thread(target=work, name="moodlens-detect", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=10)


def run_stream(
    frames: Iterable[VideoFrame],
    stream: StreamAnalyzer,
    *,
    annotator: Annotator | None = None,
    video: VideoSink | None = None,
    sinks: Sequence[ResultSink] = (),
    on_frame: FrameCallback | None = None,
    progress: Any = None,
    parallel: bool = True,
    depth: int = 2,
) -> RunStats:
    """Run ``frames`` through ``stream`` into the outputs. ``parallel`` overlaps the next frames'
    cut checks and scheduled detections with the rest of this one; ``depth`` bounds how many
    frames that stage may run ahead."""
    stats = RunStats()
    started = time.perf_counter()
    if parallel:
        staged: Iterator[tuple[VideoFrame, PreparedFrame]] = _prepared(frames, stream, depth)
    else:
        staged = (
            (f, stream.prepare(f.image, timestamp_ms=f.timestamp_ms, frame_index=f.index)) for f in frames
        )
    try:
        for frame, prepared in staged:
            result = stream.finish(prepared)
            stats.frames += 1
            stats.faces += len(result.faces)
            stats.process_ms.append(result.timings_ms.get("total", 0.0))
            stats.latency_ms.append((time.monotonic() - frame.captured_s) * 1000)
            drawn = None
            if annotator is not None and (video is not None or on_frame is not None):
                drawn = annotator.annotate(frame.image.copy(), result)
            if video is not None and drawn is not None:
                video.write(drawn)
            elif video is not None:
                video.write(frame.image)
            for sink in sinks:
                sink.write(result)
            if progress is not None:
                progress.update(1)
            if on_frame is not None and not on_frame(frame, result, drawn):
                break
    except KeyboardInterrupt:
        stats.interrupted = True
    finally:
        close = getattr(staged, "close", None)
        if close is not None:
            close()  # stops the detection thread when the loop ends early
    stats.wall_s = time.perf_counter() - started
    return stats
