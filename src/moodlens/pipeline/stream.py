"""Stream processing: detect (every N frames) -> track -> classify -> smooth, frame after frame.

Between detection frames each visible face is followed by template matching in a small window
around its predicted position, which costs a fraction of a detection.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.labels import LABELS, NUM_CLASSES, Expression
from moodlens.pipeline.analyzer import Analyzer
from moodlens.pipeline.smoothing import ExpressionSmoother, SmoothingSettings
from moodlens.pipeline.tracking import FaceTracker
from moodlens.results import Box, Detection, Face, FrameResult

_FOLLOW_SIDE = 32  # faces are followed at about this height in pixels
_FOLLOW_MIN_SCORE = 0.55


@dataclass(frozen=True)
class StreamSettings:
    detect_every: int = 1
    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    max_age_ms: float = 1000.0
    iou_threshold: float = 0.25
    #: 0 classifies every face in every frame; above 0, a tracked face is classified again only
    #: when this much stream time has passed, and its last probabilities stand in between.
    #: Expressions change over hundreds of milliseconds and the smoothing averages over
    #: ``smoothing.time_constant_ms`` anyway; ~100 ms saves most of the classifier's time at
    #: 30 FPS and above, at some cost in agreement of the shown labels (docs/benchmarks.md).
    classify_every_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        if not self.classify_every_ms >= 0:
            raise ValueError("classify_every_ms must be >= 0")


@dataclass
class _Accumulator:
    first_ms: float
    last_ms: float
    frames: int = 0
    counts: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.int64))
    sums: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(NUM_CLASSES, np.float64))


@dataclass(frozen=True)
class TrackSummary:
    """How one tracked face looked over the run."""

    track_id: int
    first_ms: float
    last_ms: float
    frames: int
    duration_ms: float
    shares: dict[str, float]
    mean_probabilities: dict[str, float]
    dominant: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "track_id": self.track_id,
            "first_ms": round(self.first_ms, 1),
            "last_ms": round(self.last_ms, 1),
            "frames": self.frames,
            "duration_ms": round(self.duration_ms, 1),
            "dominant": self.dominant,
            "shares": {k: round(v, 4) for k, v in self.shares.items()},
            "mean_probabilities": {k: round(v, 4) for k, v in self.mean_probabilities.items()},
        }


class StreamAnalyzer:
    """Turns successive frames into tracked, smoothed ``FrameResult``s. Build one per stream."""

    def __init__(self, analyzer: Analyzer, settings: StreamSettings | None = None) -> None:
        self.analyzer = analyzer
        self.settings = settings or StreamSettings()
        self.tracker = FaceTracker(
            iou_threshold=self.settings.iou_threshold, max_age_ms=self.settings.max_age_ms
        )
        self.smoother = ExpressionSmoother(self.settings.smoothing)
        self._accumulators: dict[int, _Accumulator] = {}
        self._previous_gray: npt.NDArray[np.uint8] | None = None
        self._previous: dict[int, Detection] = {}
        self._held: dict[int, tuple[float, npt.NDArray[np.float32]]] = {}
        self._frames = 0

    def process(
        self, image: npt.NDArray[np.uint8], *, timestamp_ms: float, frame_index: int | None = None
    ) -> FrameResult:
        """Analyse the next frame of the stream (BGR uint8). Timestamps must not go backwards."""
        started = time.perf_counter()
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        detect = self._frames % self.settings.detect_every == 0 or not self._previous
        detections: list[Detection] = []
        if not detect:
            followed = self._follow(gray)
            # A face that cannot be followed (turned away, changed too much): detect now
            # rather than lose it for the frames until the next detection.
            detect = len(followed) < len(self._previous)
            detections = [d for _, d in followed]
        if detect:
            detections = self.analyzer.detector.detect(image)
            if self.analyzer.max_faces is not None:
                detections = detections[: self.analyzer.max_faces]
        ids = self.tracker.update([d.box for d in detections], timestamp_ms)
        detected = time.perf_counter()
        base = self._classify(image, detections, ids, timestamp_ms, frame_index)
        faces = []
        for face in base.faces:
            assert face.track_id is not None
            smoothed, stable = self.smoother.update(face.track_id, face.probabilities, timestamp_ms)
            faces.append(replace(face, smoothed=smoothed, stable=stable))
            self._accumulate(face.track_id, timestamp_ms, stable, smoothed)
        for key in self.smoother.keys():  # noqa: SIM118 (a list: forget() changes the dict)
            if key not in self.tracker.tracks:
                self.smoother.forget(key)
        for key in list(self._held):
            if key not in self.tracker.tracks:
                del self._held[key]
        self._previous_gray = gray
        self._previous = {f.track_id: f.detection for f in faces if f.track_id is not None}
        self._frames += 1
        timings = dict(base.timings_ms)
        timings["detect" if detect else "follow"] = (detected - started) * 1000
        timings["total"] = (time.perf_counter() - started) * 1000
        return replace(base, faces=tuple(faces), timings_ms=timings)

    def _classify(
        self,
        image: npt.NDArray[np.uint8],
        detections: list[Detection],
        ids: list[int],
        timestamp_ms: float,
        frame_index: int | None,
    ) -> FrameResult:
        """Classify the faces that are due; the others keep their last probabilities."""
        interval = self.settings.classify_every_ms
        due = [
            k
            for k, track_id in enumerate(ids)
            if interval <= 0
            or track_id not in self._held
            or not 0 <= timestamp_ms - self._held[track_id][0] < interval
        ]
        base = self.analyzer.classify(
            image,
            [detections[k] for k in due],
            timestamp_ms=timestamp_ms,
            frame_index=frame_index,
            track_ids=[ids[k] for k in due],
        )
        if interval <= 0:
            return base
        fresh = dict(zip(due, base.faces, strict=True))
        faces = []
        for k, (det, track_id) in enumerate(zip(detections, ids, strict=True)):
            if k in fresh:
                self._held[track_id] = (timestamp_ms, fresh[k].probabilities)
                faces.append(fresh[k])
            else:
                faces.append(Face(det, self._held[track_id][1], track_id=track_id))
        return replace(base, faces=tuple(faces))

    def _follow(self, gray: npt.NDArray[np.uint8]) -> list[tuple[int, Detection]]:
        """Move each face of the previous frame to where its patch matches best now."""
        previous = self._previous_gray
        if previous is None:
            return []
        height, width = gray.shape
        out = []
        for track_id, det in self._previous.items():
            box = det.box
            scale = min(1.0, _FOLLOW_SIDE / max(box.height, 1.0))
            margin = 0.5 * max(box.width, box.height)
            sx1, sy1 = max(0, int(box.x1 - margin)), max(0, int(box.y1 - margin))
            sx2, sy2 = min(width, int(box.x2 + margin)), min(height, int(box.y2 + margin))
            px1, py1, px2, py2 = int(box.x1), int(box.y1), int(box.x2), int(box.y2)
            if px2 - px1 < 4 or py2 - py1 < 4 or sx2 - sx1 <= px2 - px1 or sy2 - sy1 <= py2 - py1:
                continue
            patch = cv2.resize(
                previous[py1:py2, px1:px2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
            )
            region = cv2.resize(
                gray[sy1:sy2, sx1:sx2], None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
            )
            if patch.shape[0] > region.shape[0] or patch.shape[1] > region.shape[1] or min(patch.shape) < 3:
                continue
            scores = cv2.matchTemplate(region, patch, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(scores)
            if best < _FOLLOW_MIN_SCORE:
                continue
            dx, dy = sx1 + bx / scale - px1, sy1 + by / scale - py1
            moved = Box(box.x1 + dx, box.y1 + dy, box.x2 + dx, box.y2 + dy).clipped(width, height)
            if moved is None:
                continue
            marks = None if det.landmarks is None else det.landmarks + np.array([dx, dy], dtype=np.float32)
            out.append((track_id, Detection(moved, det.score, marks)))
        return out

    def _accumulate(
        self, track_id: int, timestamp_ms: float, stable: Expression, smoothed: npt.NDArray[np.float32]
    ) -> None:
        acc = self._accumulators.setdefault(track_id, _Accumulator(timestamp_ms, timestamp_ms))
        acc.last_ms = timestamp_ms
        acc.frames += 1
        acc.counts[int(stable)] += 1
        acc.sums += smoothed

    def summaries(self) -> list[TrackSummary]:
        """Per-track summary of everything processed so far (shares of time per shown label)."""
        out = []
        for track_id, acc in sorted(self._accumulators.items()):
            period = (acc.last_ms - acc.first_ms) / (acc.frames - 1) if acc.frames > 1 else 0.0
            shares = acc.counts / max(1, acc.frames)
            means = acc.sums / max(1, acc.frames)
            out.append(
                TrackSummary(
                    track_id=track_id,
                    first_ms=acc.first_ms,
                    last_ms=acc.last_ms,
                    frames=acc.frames,
                    duration_ms=acc.last_ms - acc.first_ms + period,
                    shares={name: float(s) for name, s in zip(LABELS, shares, strict=True)},
                    mean_probabilities={name: float(m) for name, m in zip(LABELS, means, strict=True)},
                    dominant=LABELS[int(np.argmax(acc.counts))],
                )
            )
        return out
