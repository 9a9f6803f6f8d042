"""Outputs of a stream, as context managers: an annotated video and a per-frame timeline.

A sink writes under a temporary name beside its file (:func:`reserve_partial`: ``NAME.partial``, or
a numbered one where an earlier run left its own there) and renames it into place when it is
closed, so a file already at the final name is never damaged before the new one is complete, and
a run that dies (a crash, ``kill -9``) never leaves a half file under that name.
Closing a sink, also when the run was stopped with Ctrl-C, leaves a usable file (a playable video,
a complete last line); a sink told that its run was cut short (Ctrl-C on a video file, not a
camera) does not replace a file already at its name with the shorter result, which stays under the
temporary name. The timeline's rows are flushed every ``flush_every`` frames, so a run that
dies keeps them in ``NAME.partial``. Leaving a sink on an error keeps what it wrote under the
temporary name (nothing at all when it wrote nothing).
"""

from __future__ import annotations

import csv
import errno
import json
import os
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.errors import VideoError
from moodlens.labels import LABELS
from moodlens.results import FrameResult

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
#: What an annotated video and a timeline may be named (the sinks refuse other names too).
VIDEO_SUFFIXES = tuple(sorted(_FOURCC))
TIMELINE_SUFFIXES = (".csv", ".jsonl", ".json")


def partial_path(target: str | Path, *, keep_suffix: bool = False) -> Path:
    """Where ``target`` is written until it is complete: ``NAME.partial`` beside it, or with
    ``keep_suffix`` ``STEM.partial.SUFFIX`` (OpenCV chooses a video's container by its suffix)."""
    target = Path(target)
    if keep_suffix:
        return target.with_name(f"{target.stem}.partial{target.suffix}")
    return target.with_name(f"{target.name}.partial")


def numbered_partial(target: str | Path, n: int, *, keep_suffix: bool = False) -> Path:
    """:func:`partial_path`'s name for ``n`` = 1, then ``NAME.partial-2``, ``STEM.partial-3.SUFFIX``..."""
    first = partial_path(target, keep_suffix=keep_suffix)
    if n == 1:
        return first
    if keep_suffix:  # clip.partial.mp4 -> clip.partial-2.mp4
        return first.with_name(f"{first.stem}-{n}{first.suffix}")
    return first.with_name(f"{first.name}-{n}")  # timeline.csv.partial -> timeline.csv.partial-2


def free_partial_number(targets: list[tuple[str | Path, bool]]) -> int:
    """The first ``n`` at which no output of a run, given as (target, keep_suffix) pairs, has a
    file at its numbered partial name: so that the partial files of one run share one number."""
    for n in range(1, 1000):
        if not any(numbered_partial(t, n, keep_suffix=k).exists() for t, k in targets):
            return n
    return 1  # then each output finds its own free name (reserve_partial)


def reserve_partial(target: str | Path, *, keep_suffix: bool = False, start: int = 1) -> Path:
    """Create, empty, the file ``target`` is written to until it is complete, and return it:
    :func:`partial_path`'s name, or where a file is already there (the shorter result of an
    interrupted run that the user was told to find there, or an input salvaged from one) the
    first free ``NAME.partial-2``, ``STEM.partial-3.SUFFIX``, ... (from ``start``: a run's
    :func:`free_partial_number`). The name is taken with exclusive creation, so neither an
    earlier run's file nor a second run's is ever truncated."""
    first = partial_path(target, keep_suffix=keep_suffix)
    for n in range(max(1, start), 1000):
        candidate = numbered_partial(target, n, keep_suffix=keep_suffix)
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(descriptor)
        return candidate
    raise FileExistsError(f"{first}: 999 files of earlier interrupted runs are beside it; remove some")


def write_atomically(target: str | Path, data: bytes | str) -> None:
    """Write a small file whole: to a hidden temporary name beside it, then renamed into place
    (atomic on POSIX and Windows), so ``target`` holds either its old bytes or all the new ones."""
    target = Path(target)
    if not target.parent.is_dir():
        # Said of the file asked for, not of the hidden temporary name the write starts with.
        raise FileNotFoundError(errno.ENOENT, f"the folder {target.parent} does not exist", str(target))
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if isinstance(data, str):
            temporary.write_text(data, encoding="utf-8")
        else:
            temporary.write_bytes(data)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _finish(partial: Path, target: Path, keep: bool, failed: bool, cut: bool = False) -> Path | None:
    """Rename a closed partial file into place; on a failure keep it only if it holds something.
    A run ``cut`` short (Ctrl-C on a file, which has an end of its own) never replaces a file
    already at ``target`` (an earlier result): its output stays under the partial name.
    Returns where the output is, or None when nothing was kept."""
    if not failed and not (cut and target.exists()):
        os.replace(partial, target)
        return target
    if failed and not keep:
        partial.unlink(missing_ok=True)
        return None
    return partial


def finish_output(partial: Path, target: Path, *, cut: bool = False, failed: bool = False) -> Path:
    """:func:`_finish` for an output that is kept whatever happened: where it is now (the final
    name, or the partial one after a failure or beside a file it must not replace)."""
    where = _finish(partial, target, keep=True, failed=failed, cut=cut)
    assert where is not None
    return where


def _interrupted(kind: type[BaseException] | None) -> bool:
    # Ctrl-C escaping a ``with`` block (while outputs open, or a second Ctrl-C while the loop
    # stops) cuts the run short as surely as one the loop caught.
    return kind is not None and issubclass(kind, KeyboardInterrupt)


def _failed(kind: type[BaseException] | None) -> bool:
    # Ctrl-C is a clean stop (the run keeps what it wrote); any other exception is a failure.
    return kind is not None and not issubclass(kind, KeyboardInterrupt)


class VideoSink:
    """Writes frames to a video with the given size and frame rate (``.mp4`` or ``.avi``), as
    ``STEM.partial.SUFFIX`` until it is closed."""

    def __init__(self, path: str | Path, *, fps: float, size: tuple[int, int], partial_from: int = 1) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FOURCC:
            raise VideoError(f"{self.path}: unsupported video type; use one of {', '.join(sorted(_FOURCC))}")
        if not self.path.parent.exists():
            raise VideoError(f"{self.path}: the folder {self.path.parent} does not exist")
        self.size = size
        self.frames = 0
        try:
            self.partial = reserve_partial(self.path, keep_suffix=True, start=partial_from)
        except OSError as exc:
            raise VideoError(f"{self.path}: cannot write the video ({exc.strerror or exc})") from None
        self._closed = False
        #: Set by :meth:`cut_short`; where the video is once closed (None: nothing was kept).
        self.cut = False
        self.where: Path | None = None
        fourcc = cv2.VideoWriter.fourcc(*_FOURCC[suffix])
        self._writer = cv2.VideoWriter(str(self.partial), fourcc, float(fps), size)
        if not self._writer.isOpened():
            self.partial.unlink(missing_ok=True)
            raise VideoError(f"{self.path}: cannot write the video (permissions, disk or codec)")

    def write(self, frame: npt.NDArray[np.uint8]) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            # A stream whose size changes mid-way (rotation metadata, a camera mode switch).
            frame = np.asarray(cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        self._writer.write(frame)
        self.frames += 1

    def close(self, *, failed: bool = False) -> None:
        """Release the video and rename it into place (``failed``: keep it as ``.partial``)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.release()
        finally:  # a Ctrl-C during the release still leaves the video named
            self.where = _finish(self.partial, self.path, keep=self.frames > 0, failed=failed, cut=self.cut)

    def cut_short(self) -> None:
        """The run stopped before its input ended: on closing, do not replace a file already at
        the final name (the video stays as ``STEM.partial.SUFFIX``; see :attr:`where`)."""
        self.cut = True

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if _interrupted(kind):
            self.cut = True
        self.close(failed=_failed(kind))


TIMELINE_COLUMNS = [
    "timestamp_ms", "frame_index", "track_id", "x1", "y1", "x2", "y2", "score", "label", "stable_label",
    *[f"p_{name}" for name in LABELS], *[f"s_{name}" for name in LABELS],
    # A face read through a personal profile: its name and the model's own probabilities (the
    # label, p_ and s_ columns are then the personal reading); empty for every other face.
    "profile", *[f"m_{name}" for name in LABELS],
]  # fmt: skip


def enumerate_named(values: Any) -> list[tuple[str, Any]]:
    """(label, value) pairs; None values for every label when ``values`` is None."""
    return list(zip(LABELS, [None] * len(LABELS) if values is None else values, strict=True))


def timeline_rows(result: FrameResult) -> list[dict[str, Any]]:
    """One row per face of a frame: box, raw and smoothed probabilities, labels."""
    rows = []
    for face in result.faces:
        smoothed = face.smoothed if face.smoothed is not None else face.probabilities
        row: dict[str, Any] = {
            "timestamp_ms": None if result.timestamp_ms is None else round(result.timestamp_ms, 3),
            "frame_index": result.frame_index,
            "track_id": face.track_id,
            "x1": round(face.box.x1, 1),
            "y1": round(face.box.y1, 1),
            "x2": round(face.box.x2, 1),
            "y2": round(face.box.y2, 1),
            "score": round(face.detection.score, 4),
            "label": face.label,
            "stable_label": face.shown_expression.label,
        }
        row.update({f"p_{n}": round(float(p), 5) for n, p in zip(LABELS, face.probabilities, strict=True)})
        row.update({f"s_{n}": round(float(p), 5) for n, p in zip(LABELS, smoothed, strict=True)})
        model = face.model_probabilities
        row["profile"] = face.profile
        row.update(
            {f"m_{n}": None if model is None else round(float(p), 5) for n, p in enumerate_named(model)}
        )
        rows.append(row)
    return rows


class TimelineSink:
    """A CSV or JSON-lines file with one row per face per frame, written as ``NAME.partial``
    (flushed every ``flush_every`` frames) and renamed to ``NAME`` when closed."""

    def __init__(self, path: str | Path, *, flush_every: int = 30, partial_from: int = 1) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in TIMELINE_SUFFIXES:
            raise VideoError(f"{self.path}: the timeline must be .csv or .jsonl")
        self._closed = False
        #: Set by :meth:`cut_short`; where the timeline is once closed (None: nothing was kept).
        self.cut = False
        self.where: Path | None = None
        try:
            self.partial = reserve_partial(self.path, start=partial_from)
        except OSError as exc:
            raise VideoError(f"{self.path}: cannot write the timeline ({exc.strerror or exc})") from None
        try:
            self._handle: IO[str] = self.partial.open("w", encoding="utf-8", newline="")
        except OSError as exc:
            self.partial.unlink(missing_ok=True)  # reserved, never written: no leftover
            raise VideoError(f"{self.path}: cannot write the timeline ({exc.strerror or exc})") from None
        self._csv = csv.DictWriter(self._handle, TIMELINE_COLUMNS) if suffix == ".csv" else None
        if self._csv:
            self._csv.writeheader()
        self.flush_every = flush_every
        self.rows = 0
        self._frames = 0

    def write(self, result: FrameResult) -> None:
        for row in timeline_rows(result):
            if self._csv:
                self._csv.writerow(row)
            else:
                self._handle.write(json.dumps(row) + "\n")
            self.rows += 1
        self._frames += 1
        if self._frames % self.flush_every == 0:
            self._handle.flush()

    def close(self, *, failed: bool = False) -> None:
        """Close the file and rename it into place (``failed``: keep it as ``.partial``)."""
        if self._closed:
            return
        self._closed = True
        self._handle.close()
        self.where = _finish(self.partial, self.path, keep=self.rows > 0, failed=failed, cut=self.cut)

    def cut_short(self) -> None:
        """The run stopped before its input ended: on closing, do not replace a file already at
        the final name (the timeline stays as ``NAME.partial``; see :attr:`where`)."""
        self.cut = True

    def __enter__(self) -> TimelineSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if _interrupted(kind):
            self.cut = True
        self.close(failed=_failed(kind))
