"""Face tracking: a stable id per face across frames.

Tracks are matched to detections by the overlap (IoU) between each track's *predicted* box
(constant velocity) and the detection, falling back to centre distance for fast moves; the
best pairs are taken first. Velocity prediction keeps identities right when two faces cross,
and a track survives ``max_age_ms`` without detections (short occlusions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moodlens.results import Box


@dataclass
class Track:
    id: int
    box: Box
    last_ms: float
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per ms, of the box centre
    hits: int = 1

    def predicted(self, timestamp_ms: float) -> Box:
        dt = max(0.0, timestamp_ms - self.last_ms)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return Box(self.box.x1 + dx, self.box.y1 + dy, self.box.x2 + dx, self.box.y2 + dy)


def _match_score(predicted: Box, box: Box, iou_threshold: float) -> float:
    iou = predicted.iou(box)
    if iou >= iou_threshold:
        return 1.0 + iou
    # No overlap to speak of: accept a close centre of a similar size (a fast move), scored lower.
    (px, py), (bx, by) = predicted.center, box.center
    size = max(predicted.width, predicted.height, box.width, box.height)
    distance = ((px - bx) ** 2 + (py - by) ** 2) ** 0.5 / size
    ratio = min(predicted.area, box.area) / max(predicted.area, box.area)
    if distance < 0.6 and ratio > 0.5:
        return float(1.0 - distance)
    return 0.0


class FaceTracker:
    """Assigns track ids to detections, frame after frame. Ids start at 1 and are never reused."""

    def __init__(
        self, *, iou_threshold: float = 0.25, max_age_ms: float = 1000.0, velocity_smoothing: float = 0.6
    ):
        if not 0.0 < iou_threshold < 1.0:
            raise ValueError("iou_threshold must lie in (0, 1)")
        if max_age_ms < 0:
            raise ValueError("max_age_ms must be >= 0")
        self.iou_threshold = iou_threshold
        self.max_age_ms = max_age_ms
        self.velocity_smoothing = velocity_smoothing
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: Sequence[Box], timestamp_ms: float) -> list[int]:
        """Match this frame's boxes to tracks; returns the track id of each box, in order."""
        self._expire(timestamp_ms)
        pairs = []
        for track in self.tracks.values():
            predicted = track.predicted(timestamp_ms)
            for index, box in enumerate(boxes):
                score = _match_score(predicted, box, self.iou_threshold)
                if score > 0.0:
                    pairs.append((score, track.id, index))
        pairs.sort(reverse=True)
        ids: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for _, track_id, index in pairs:
            if track_id in used or ids[index] is not None:
                continue
            used.add(track_id)
            ids[index] = track_id
            self._advance(self.tracks[track_id], boxes[index], timestamp_ms)
        for index, box in enumerate(boxes):
            if ids[index] is None:
                track = Track(self._next_id, box, timestamp_ms)
                self.tracks[track.id] = track
                self._next_id += 1
                ids[index] = track.id
        return [i for i in ids if i is not None]

    def _advance(self, track: Track, box: Box, timestamp_ms: float) -> None:
        dt = timestamp_ms - track.last_ms
        if dt > 0:
            (ox, oy), (nx, ny) = track.box.center, box.center
            measured = ((nx - ox) / dt, (ny - oy) / dt)
            k = self.velocity_smoothing
            track.velocity = (
                k * track.velocity[0] + (1 - k) * measured[0],
                k * track.velocity[1] + (1 - k) * measured[1],
            )
        track.box = box
        track.last_ms = timestamp_ms
        track.hits += 1

    def _expire(self, timestamp_ms: float) -> None:
        for track_id in [t.id for t in self.tracks.values() if timestamp_ms - t.last_ms > self.max_age_ms]:
            del self.tracks[track_id]

    def seen_at(self, timestamp_ms: float) -> list[Track]:
        """Tracks updated at exactly ``timestamp_ms`` (those visible in the last frame)."""
        return [t for t in self.tracks.values() if t.last_ms == timestamp_ms]

    def reset(self) -> None:
        self.tracks.clear()
