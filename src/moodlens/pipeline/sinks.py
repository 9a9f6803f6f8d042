"""Outputs of a stream, as context managers: an annotated video and a per-frame timeline.

Closing a sink always leaves a usable file (a playable video, a complete last line), also when
the run is interrupted; rows are flushed every ``flush_every`` frames.
"""

from __future__ import annotations

import csv
import json
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


class VideoSink:
    """Writes frames to a video with the given size and frame rate (``.mp4`` or ``.avi``)."""

    def __init__(self, path: str | Path, *, fps: float, size: tuple[int, int]) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FOURCC:
            raise VideoError(f"{self.path}: unsupported video type; use one of {', '.join(sorted(_FOURCC))}")
        if not self.path.parent.exists():
            raise VideoError(f"{self.path}: the folder {self.path.parent} does not exist")
        self.size = size
        self.frames = 0
        fourcc = cv2.VideoWriter.fourcc(*_FOURCC[suffix])
        self._writer = cv2.VideoWriter(str(self.path), fourcc, float(fps), size)
        if not self._writer.isOpened():
            raise VideoError(f"{self.path}: cannot write the video (permissions, disk or codec)")

    def write(self, frame: npt.NDArray[np.uint8]) -> None:
        if (frame.shape[1], frame.shape[0]) != self.size:
            # A stream whose size changes mid-way (rotation metadata, a camera mode switch).
            frame = np.asarray(cv2.resize(frame, self.size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
        self._writer.write(frame)
        self.frames += 1

    def close(self) -> None:
        self._writer.release()

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


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
    """A CSV or JSON-lines file with one row per face per frame."""

    def __init__(self, path: str | Path, *, flush_every: int = 30) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in (".csv", ".jsonl", ".json"):
            raise VideoError(f"{self.path}: the timeline must be .csv or .jsonl")
        try:
            self._handle: IO[str] = self.path.open("w", encoding="utf-8", newline="")
        except OSError as exc:
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

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> TimelineSink:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
