"""Frame sources: video files, camera indices and URLs that OpenCV can open, as iterators of
timestamped frames.

Files yield every frame with its presentation time; a corrupt frame in the middle is skipped
and counted. A file that ends before the end its container announces is *cut short*
(:attr:`VideoSource.cut_short`); :func:`probe_frames` counts the frames a file really holds
without decoding them. Live sources (cameras, streams) can be read through
:class:`LatestFrameReader`, which keeps only the newest frame so that a slow consumer drops
frames instead of falling behind (bounded latency). Files can be read through
:class:`PrefetchReader`, which decodes ahead on a background thread (OpenCV releases the GIL
while decoding) so that decoding runs on one core while the frames are analysed on another; no
frame is dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.errors import VideoError


@dataclass(frozen=True)
class VideoFrame:
    """A decoded frame: ``timestamp_ms`` is its time in the stream (presentation time for
    files, time since opening for live sources); ``captured_s`` is ``time.monotonic()`` when it
    was read, for latency measurements."""

    image: npt.NDArray[np.uint8]
    index: int
    timestamp_ms: float
    captured_s: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class SourceInfo:
    name: str
    width: int
    height: int
    fps: float
    frame_count: int | None
    live: bool


def _is_camera(spec: str | int) -> bool:
    return isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit())


def _counts_frames(path: Path) -> bool:
    """Whether the container of ``path`` records how many frames it holds (MP4/MOV, AVI): then
    OpenCV's frame count is exact. Other containers (Matroska/WebM, MPEG-TS, FLV...) only have a
    duration, and OpenCV's count is duration x frame rate, an estimate that a whole file of variable
    frame rate does not reach (OpenCV's ``CvCapture_FFMPEG::get_total_frames``)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(12)
    except OSError:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    # ISO base media (MP4, MOV, 3GP): a box at the start, most often ftyp.
    return head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _open_capture(target: str | int) -> cv2.VideoCapture:
    """A capture for ``target``; files and streams are decoded by FFmpeg on one thread.

    Why one: the analysis keeps both cores busy, and FFmpeg's frame threads (one per core by
    default) only add hand-over work there: on the singer clip (640x360) one thread decodes a frame
    in ~0.5 ms of CPU against ~0.8 ms, at 1080p in ~8.6 ms against ~9.8 (docs/benchmarks.md). The
    decoder already runs on its own thread ahead of the analysis (:class:`PrefetchReader`).
    """
    if isinstance(target, str):
        capture = cv2.VideoCapture(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if capture.isOpened():
            return capture
        capture.release()  # not FFmpeg's (an image sequence, another backend): OpenCV's choice
    return cv2.VideoCapture(target)


class VideoSource:
    """Opens ``spec`` (a file path, a camera index such as ``0``, or a URL) and yields frames.

    Use as a context manager, or call :meth:`close`. ``max_corrupt`` consecutive unreadable
    frames end a file early (with the count kept in ``corrupt_frames``).
    """

    def __init__(self, spec: str | int | Path, *, max_corrupt: int = 30) -> None:
        self.spec = spec
        self.name = str(spec)
        self.max_corrupt = max_corrupt
        self.corrupt_frames = 0
        self.frames_read = 0
        #: Frames the container announced that never came (a file cut short); set at the end.
        self.missing_frames = 0
        #: The presentation time of the last frame read (ms), for :attr:`cut_short`.
        self.last_ms: float | None = None
        self.live = _is_camera(spec if not isinstance(spec, Path) else str(spec)) or "://" in self.name
        if not self.live:
            path = Path(str(spec))
            if not path.exists():
                raise VideoError(f"{path}: no such file")
            if path.is_dir():
                raise VideoError(f"{path}: is a folder, not a video")
            if path.stat().st_size == 0:
                raise VideoError(f"{path}: the file is empty (0 bytes)")
        target: str | int = int(str(spec)) if _is_camera(str(spec)) else str(spec)
        self._capture = _open_capture(target)
        if not self._capture.isOpened():
            what = "camera" if isinstance(target, int) else "video"
            hint = (
                "is a camera connected, and is it free?"
                if isinstance(target, int)
                else "missing codec, unsupported format or a corrupt file"
            )
            raise VideoError(f"{self.name}: cannot open the {what} ({hint})")
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # The rate OpenCV computed its frame count with (the announced duration is count / rate).
        self._count_rate = fps
        self._exact_count = not self.live and _counts_frames(Path(str(spec)))
        self._first: npt.NDArray[np.uint8] | None = self._read_first()
        height, width = self._first.shape[:2]
        self.info = SourceInfo(
            name=self.name,
            width=int(width),
            height=int(height),
            fps=fps if 1.0 <= fps <= 1000.0 else 30.0,
            frame_count=count if count > 0 and not self.live else None,
            live=self.live,
        )
        self._started = time.monotonic()
        self._start_index = 0

    def seek(self, frame_index: int) -> None:
        """Start the file at ``frame_index`` (before iterating): a batch worker's video segment.
        OpenCV's FFmpeg backend decodes from the keyframe before it, so the frame is exact."""
        if self.live:
            raise VideoError(f"{self.name}: a live source cannot seek")
        if frame_index <= 0:
            return
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, float(frame_index)):
            raise VideoError(f"{self.name}: cannot seek to frame {frame_index}")
        self._first = None
        self._start_index = frame_index

    def _read_first(self) -> npt.NDArray[np.uint8]:
        for _ in range(self.max_corrupt + 1):
            ok, frame = self._capture.read()
            if ok and frame is not None and frame.size:
                return np.asarray(frame, dtype=np.uint8)
            if not self.live and self._past_end():
                break
            self.corrupt_frames += 1
        self._capture.release()
        raise VideoError(f"{self.name}: the video has no readable frame")

    def _past_end(self) -> bool:
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0
        position = self._capture.get(cv2.CAP_PROP_POS_FRAMES) or 0
        return count <= 0 or position >= count

    def _timestamp(self, index: int) -> float:
        if self.live:
            return (time.monotonic() - self._started) * 1000.0
        position = float(self._capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
        if position > 0 or index == 0:
            return position
        return index * 1000.0 / self.info.fps

    def __iter__(self) -> Iterator[VideoFrame]:
        index = self._start_index
        if self._first is not None:
            first, self._first = self._first, None
            self.frames_read += 1
            self.last_ms = 0.0 if not self.live else self._timestamp(0)
            yield VideoFrame(first, 0, self.last_ms)
            index = 1
        misses = 0
        count = self.info.frame_count
        while self._capture.isOpened():
            ok, frame = self._capture.read()
            if not ok or frame is None or frame.size == 0:
                misses += 1
                if misses > self.max_corrupt or (count is not None and index + misses > count):
                    # The end (trailing failures are not counted as corrupt frames). A file that
                    # ends well before the frame count its container announces was cut short.
                    if count is not None:
                        self.missing_frames = max(0, count - index)
                    return
                if self.live:
                    time.sleep(0.01)
                continue
            if misses:
                # Frames that failed to decode between two good ones: skipped, counted.
                self.corrupt_frames += misses
                index += misses
                misses = 0
            self.frames_read += 1
            self.last_ms = self._timestamp(index)
            yield VideoFrame(np.asarray(frame, dtype=np.uint8), index, self.last_ms)
            index += 1

    @property
    def cut_short(self) -> bool:
        """True when the file ended well before the end its container announces: more than 2
        frames and 1% short of its frame count (container counts are sometimes off by a frame or
        two) and, where that count is only an estimate (Matroska, WebM: duration x rate), as short
        of its duration too. A whole WebM of variable frame rate holds fewer frames than its
        estimate but reaches its announced end in time; a cut file stops short in both."""
        count = self.info.frame_count or 0
        if self.missing_frames <= max(2, count // 100):
            return False
        if self._exact_count or self.last_ms is None or self._count_rate <= 0:
            return True
        frame_ms = 1000.0 / self._count_rate
        announced_ms = count * frame_ms
        reached_ms = self.last_ms + frame_ms  # the end of the last frame read
        return announced_ms - reached_ms > max(2 * frame_ms, announced_ms / 100)

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass(frozen=True)
class FrameProbe:
    """What a video file really holds, read from its packets (not its container's header)."""

    #: Frames (packets of the video stream) up to the file's real end.
    frames: int
    #: Whether frame ``i`` is shown at ``i / fps`` (within half a frame) all through the file: a
    #: frame number then says where in the file it is, so the file can be cut and sought by frame
    #: number (OpenCV seeks by time, frame = time x fps). False for variable frame rates and
    #: jumps in the timestamps.
    regular: bool
    #: The last frame's presentation time (ms).
    last_ms: float


def probe_frames(path: str | Path, fps: float) -> FrameProbe:
    """Count the frames of a video file by reading its packets without decoding them (OpenCV's
    raw mode of FFmpeg: the file is read, nothing decoded; 2 ms for the 275 frames of the singer
    clip), and check that their times follow ``fps``. A container's frame count and duration are
    claims: a 144 KB file can claim 2,500 hours. Where the raw mode is missing, frames are
    decoded to be counted."""
    capture = _open_capture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(
                f"{path}: cannot open the video (missing codec, unsupported format or a corrupt file)"
            )
        capture.set(cv2.CAP_PROP_FORMAT, -1)  # raw packets; False (ignored) on other backends
        times: list[float] = []
        while capture.grab():
            times.append(float(capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0))
    finally:
        capture.release()
    if not times:
        return FrameProbe(0, True, 0.0)
    times.sort()  # packets come in decoding order (B-frames)
    frame_ms = 1000.0 / fps if fps > 0 else 0.0
    start = times[0]
    regular = frame_ms > 0 and all(abs(t - start - i * frame_ms) < frame_ms / 2 for i, t in enumerate(times))
    return FrameProbe(len(times), regular, times[-1] - start)


class LatestFrameReader:
    """Reads a live source on a background thread and hands out only the newest frame.

    Frames that arrive while the consumer is busy are overwritten and counted in ``dropped``,
    so latency stays bounded by one frame plus the processing time.
    """

    def __init__(self, source: VideoSource) -> None:
        self.source = source
        self.dropped = 0
        self._latest: VideoFrame | None = None
        self._done = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="moodlens-reader", daemon=True)
        self._stop = threading.Event()
        self._thread.start()

    def _run(self) -> None:
        try:
            for frame in self.source:
                if self._stop.is_set():
                    break
                with self._cond:
                    if self._latest is not None:
                        self.dropped += 1
                    self._latest = frame
                    self._cond.notify()
        except BaseException as exc:  # surfaced to the consumer in __iter__
            self._error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify()

    def __iter__(self) -> Iterator[VideoFrame]:
        while True:
            with self._cond:
                while self._latest is None and not self._done:
                    self._cond.wait(timeout=0.5)
                frame, self._latest = self._latest, None
                finished = self._done
            if frame is not None:
                yield frame
            elif finished:
                if self._error is not None:
                    raise self._error
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


_END = object()


class PrefetchReader:
    """Iterates ``frames`` on a background thread, up to ``depth`` frames ahead, in order.

    For files: every frame arrives, decoding overlaps with analysis. An error in the source is
    raised to the consumer at the point where it happened. Use as a context manager (or call
    :meth:`close`) so the thread ends when the consumer stops early.
    """

    def __init__(self, frames: Iterable[VideoFrame], *, depth: int = 8) -> None:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._frames = frames
        self._thread = threading.Thread(target=self._run, name="moodlens-prefetch", daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for frame in self._frames:
                if not self._put(frame):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
            return
        self._put(_END)

    def __iter__(self) -> Iterator[VideoFrame]:
        while True:
            try:
                item = self._queue.get(timeout=0.2)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    return  # closed, or already read to the end
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, VideoFrame)
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def __enter__(self) -> PrefetchReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
