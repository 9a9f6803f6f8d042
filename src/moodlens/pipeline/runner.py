"""The stream loop: frames -> StreamAnalyzer -> annotate -> sinks, with statistics.

Ctrl-C ends the loop cleanly: the sinks are closed by their owners (context managers), so the
video stays playable and the timeline complete; ``RunStats.interrupted`` says it happened.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from moodlens.pipeline.sinks import VideoSink
from moodlens.pipeline.sources import VideoFrame
from moodlens.pipeline.stream import StreamAnalyzer
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
            "dropped_frames": self.dropped,
            "wall_s": round(self.wall_s, 3),
            "fps": round(self.fps, 2),
            "interrupted": self.interrupted,
            "process_ms_p50": pct(self.process_ms, 50),
            "process_ms_p95": pct(self.process_ms, 95),
            "latency_ms_p50": pct(self.latency_ms, 50),
            "latency_ms_p95": pct(self.latency_ms, 95),
        }


def run_stream(
    frames: Iterable[VideoFrame],
    stream: StreamAnalyzer,
    *,
    annotator: Annotator | None = None,
    video: VideoSink | None = None,
    sinks: Sequence[ResultSink] = (),
    on_frame: FrameCallback | None = None,
    progress: Any = None,
) -> RunStats:
    stats = RunStats()
    started = time.perf_counter()
    try:
        for frame in frames:
            result = stream.process(frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index)
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
    stats.wall_s = time.perf_counter() - started
    return stats
