"""Face tracking: one stable id per person, within a shot.

What makes a "person" trustworthy here:

- **Matching** pairs each track's *predicted* box (constant velocity) with this frame's boxes by
  overlap, falling back to centre distance for fast moves; where the image is given, a cheap
  appearance cue (a colour histogram of the face box) breaks ties, so two faces that cross keep
  their ids. The best pairs are taken first.
- **Confirmation**: a new track is *tentative* until it has been seen ``confirm_hits`` times over
  at least ``confirm_ms``; only then does it get an id. A one-frame false detection never becomes
  a person (its face is reported without an id).
- **Occlusion**: a confirmed track survives ``max_age_ms`` without detections; after that it is
  *lost*, and for ``reid_ms`` a new face may take its id back, but only through two gates:
  *where* (the new face lies near the path the lost face was on when it left: from where it was
  last seen along its velocity, within a radius that grows with the time it was gone, so a face
  that left on the left never comes back on the right) and *what* (its look matches the lost one,
  and no other gated lost face as well). A face that fits no gate is a new person: a missed
  re-association splits one person in two, a wrong one merges two people, and the second is the
  worse error (it corrupts both people's summaries).
- **Shot cuts** end every track, lost ones included: nobody is carried from one shot into the
  next (a cut to another person is never the same person).

The appearance cue is two colour histograms: of the middle of the face, and of the clothes just
below it (two people with similar faces at this size rarely wear the same colours). The clothes can
only make two looks *less* alike, never more: they are often hidden in a crowd. The cue lives in
memory only, per track, for the track's lifetime: nothing about a face's appearance is stored,
logged or sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.results import Box

#: Histogram bins (hue x saturation) of the appearance cue.
_HIST_BINS = (16, 8)
_HIST_SIDE = 24


@dataclass(frozen=True)
class TrackerSettings:
    iou_threshold: float = 0.25
    #: A confirmed track keeps its id this long without a detection (short occlusions).
    max_age_ms: float = 1000.0
    #: A new track becomes a person after ``confirm_hits`` detections spanning ``confirm_ms``.
    #: Measured on the labelled real clips (docs/benchmarks.md, "Confirmation"): 2 sightings
    #: with no wait misses half as many faces as 3 over 100 ms (10 vs 25 on the singer clip) with
    #: no false person on any clip; 1 would make any single false detection a person.
    confirm_hits: int = 2
    confirm_ms: float = 0.0
    #: A tentative track missed for longer than this is dropped.
    tentative_miss_ms: float = 300.0
    #: A lost track can be re-associated this long after it was last seen (through both gates).
    #: 10 s: on the street clip played forward and back, a walker who left on the right is
    #: back 5.6 s later; the "where" gate, not this window, is what keeps strangers apart.
    reid_ms: float = 10000.0
    #: Largest appearance distance (Bhattacharyya, 0 = identical) for a re-association.
    reid_distance: float = 0.3
    #: While someone is lost, how long a newcomer stays a candidate for them before it is new.
    reid_wait_ms: float = 500.0
    #: How much the appearance distance counts against a motion match (0 turns the cue off).
    appearance_weight: float = 0.5
    velocity_smoothing: float = 0.6
    #: The "where" gate of a re-association, in face widths around the lost face's path: this
    #: much at once, growing by ``gate_growth`` per second gone, up to ``gate_max``. People
    #: hidden in a crowd drift slowly; a face that is 2.5 widths away after 3 s can still be the
    #: same person, one 4.5 widths away after 2.7 s is someone else (docs/realtime.md).
    gate_base: float = 0.75
    gate_growth: float = 0.75
    gate_max: float = 4.0
    #: How far ahead a lost face's velocity is followed (people stop, turn, are carried by the
    #: crowd: a longer straight line is a guess).
    gate_horizon_ms: float = 2000.0

    def __post_init__(self) -> None:
        if not 0.0 < self.iou_threshold < 1.0:
            raise ValueError("iou_threshold must lie in (0, 1)")
        for name in (
            "max_age_ms",
            "confirm_ms",
            "tentative_miss_ms",
            "reid_ms",
            "reid_wait_ms",
            "appearance_weight",
            "gate_base",
            "gate_growth",
            "gate_horizon_ms",
        ):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if self.confirm_hits < 1:
            raise ValueError("confirm_hits must be >= 1")
        if not 0.0 <= self.reid_distance <= 1.0:
            raise ValueError("reid_distance must lie in [0, 1]")
        if not 0.0 <= self.velocity_smoothing < 1.0:
            raise ValueError("velocity_smoothing must lie in [0, 1)")
        if not self.gate_max >= self.gate_base:
            raise ValueError("gate_max must be >= gate_base")

    @classmethod
    def legacy(cls, *, max_age_ms: float = 1000.0) -> TrackerSettings:
        """moodlens 0.1's tracker: every detection is a person at once, no appearance cue, no
        re-association (the baseline of benchmarks/bench_tracking.py)."""
        return cls(
            max_age_ms=max_age_ms,
            confirm_hits=1,
            confirm_ms=0.0,
            reid_ms=0.0,
            reid_wait_ms=0.0,
            appearance_weight=0.0,
        )


@dataclass
class Track:
    key: int
    box: Box
    first_ms: float
    last_ms: float
    velocity: tuple[float, float] = (0.0, 0.0)  # pixels per ms, of the box centre
    hits: int = 1
    #: The public id once confirmed (ids start at 1 and are never reused); None while tentative.
    id: int | None = None
    appearance: Look | None = None

    @property
    def confirmed(self) -> bool:
        return self.id is not None

    def predicted(self, timestamp_ms: float) -> Box:
        dt = max(0.0, timestamp_ms - self.last_ms)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return Box(self.box.x1 + dx, self.box.y1 + dy, self.box.x2 + dx, self.box.y2 + dy)


@dataclass
class TrackerEvents:
    """What the last update did, for callers that keep per-track state."""

    confirmed: list[int] = field(default_factory=list)  # keys confirmed this frame
    revived: list[tuple[int, int]] = field(default_factory=list)  # (new key, the lost key it continues)
    ended: list[int] = field(default_factory=list)  # keys gone for good (lost too long, or a cut)


@dataclass(frozen=True)
class Look:
    """The appearance cue of one face: hue-saturation histograms (normalised) of the middle of the
    face and, where the frame shows it, of the clothes below it."""

    face: npt.NDArray[np.float32]
    body: npt.NDArray[np.float32] | None = None

    def blend(self, other: Look, weight: float) -> Look:
        """A running mean: ``weight`` of ``other``; a body seen by one side only is kept."""
        body = self.body
        if other.body is not None:
            body = other.body if body is None else (1 - weight) * body + weight * other.body
        return Look((1 - weight) * self.face + weight * other.face, body)


def _histogram(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.float32] | None:
    height, width = image.shape[:2]
    clipped = box.clipped(width, height)
    if clipped is None:
        return None
    x1, y1, x2, y2 = int(clipped.x1), int(clipped.y1), int(clipped.x2), int(clipped.y2)
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    patch = cv2.resize(image[y1:y2, x1:x2], (_HIST_SIDE, _HIST_SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(patch, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(_HIST_BINS), [0, 180, 0, 256]).astype(np.float32)
    total = float(hist.sum())
    return hist / total if total > 0 else None


def appearance_of(image: npt.NDArray[np.uint8], box: Box) -> Look | None:
    """The look of the face in ``box``, or None for a box outside the image. The middle 70% of the
    box holds the face itself (less background, hair or neighbour at its edges); the clothes are
    the band a quarter to one and a quarter face heights below it, a little wider than the face,
    used only when most of that band is inside the frame."""
    mx, my = 0.15 * box.width, 0.15 * box.height
    face = _histogram(image, Box(box.x1 + mx, box.y1 + my, box.x2 - mx, box.y2 - my))
    if face is None:
        return None
    band = _band(box)
    height, width = image.shape[:2]
    inside = band.clipped(width, height)
    body = _histogram(image, band) if inside is not None and inside.area >= 0.6 * band.area else None
    return Look(face, body)


def appearance_distance(a: Look | None, b: Look | None) -> float:
    """How unlike two looks are, in [0, 1] (Bhattacharyya distances); 0.5 (undecided) when one is
    missing. The clothes can only add to the faces' distance: max(face, mean(face, clothes))."""
    if a is None or b is None:
        return 0.5
    face = float(cv2.compareHist(a.face, b.face, cv2.HISTCMP_BHATTACHARYYA))
    if a.body is None or b.body is None:
        return face
    body = float(cv2.compareHist(a.body, b.body, cv2.HISTCMP_BHATTACHARYYA))
    return max(face, 0.5 * (face + body))


def _band(box: Box) -> Box:
    return Box(
        box.x1 - 0.25 * box.width,
        box.y2 + 0.25 * box.height,
        box.x2 + 0.25 * box.width,
        box.y2 + 1.25 * box.height,
    )


def looks_of(image: npt.NDArray[np.uint8], boxes: Sequence[Box]) -> list[Look | None]:
    """The look of every face of a frame, keeping only what is that face's own: no face cue for a
    face that touches another (it may show part of it, or be partly hidden by it; a looser rule,
    "nothing in the middle of the box", lost an identity where two faces cross on the synthetic
    benchmark), no clothes cue where
    the band below the face meets another face or another face's band (a crowd)."""
    out: list[Look | None] = []
    grown = [_grown(box, 0.2) for box in boxes]
    bands = [_band(box) for box in boxes]
    for i, box in enumerate(boxes):
        others = [j for j in range(len(boxes)) if j != i]
        if any(grown[i].iou(boxes[j]) > 0 for j in others):
            out.append(None)
            continue
        look = appearance_of(image, box)
        if look is not None and any(bands[i].iou(boxes[j]) > 0 or bands[i].iou(bands[j]) > 0 for j in others):
            look = Look(look.face)
        out.append(look)
    return out


def _grown(box: Box, fraction: float) -> Box:
    dx, dy = fraction * box.width / 2, fraction * box.height / 2
    return Box(box.x1 - dx, box.y1 - dy, box.x2 + dx, box.y2 + dy)


def _motion_score(predicted: Box, box: Box, iou_threshold: float) -> float:
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
    """Assigns person ids to detections, frame after frame (see the module's docstring)."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        #: Tracks being followed now (tentative and confirmed), by internal key.
        self.tracks: dict[int, Track] = {}
        #: Confirmed tracks not seen for longer than ``max_age_ms``, still re-associable.
        self.lost: dict[int, Track] = {}
        self.events = TrackerEvents()
        self._keys: list[int] = []
        self._next_key = 1
        self._next_id = 1

    def update(
        self,
        boxes: Sequence[Box],
        timestamp_ms: float,
        *,
        image: npt.NDArray[np.uint8] | None = None,
        cut: bool = False,
        learn: Sequence[bool] | None = None,
    ) -> list[int | None]:
        """Match this frame's boxes to tracks; returns each box's person id (None: not yet a
        person). ``image`` enables the appearance cue; ``cut`` says a new shot starts here;
        ``learn`` (one flag per box) says which boxes' looks may be used."""
        self.events = TrackerEvents()
        if cut:
            self.events.ended.extend([*self.tracks, *self.lost])
            self.tracks.clear()
            self.lost.clear()
        self._expire(timestamp_ms)
        looks: list[Look | None] = looks_of(image, boxes) if image is not None else [None] * len(boxes)
        if learn is not None:
            # A box the caller does not vouch for (a low-score rescue may sit on the back of a
            # head or on hair) neither teaches nor is compared by its look.
            looks = [look if ok else None for look, ok in zip(looks, learn, strict=True)]
        keys: list[int | None] = [None] * len(boxes)
        used: set[int] = set()
        for _, key, index in self._pairs(boxes, looks, timestamp_ms):
            if key in used or keys[index] is not None:
                continue
            used.add(key)
            keys[index] = key
            self._advance(self.tracks[key], boxes[index], looks[index], timestamp_ms)
        for index, box in enumerate(boxes):
            if keys[index] is None:
                keys[index] = self._start(box, looks[index], timestamp_ms)
        self._keys = [k for k in keys if k is not None]
        for key in self._keys:
            track = self.tracks[key]
            if not track.confirmed:
                # A face coming out from behind another is half hidden at first: its look is
                # checked against the lost people again on every frame until it is confirmed.
                self._revive(track)
            self._maybe_confirm(track)
        return [self.tracks[k].id for k in self._keys]

    @property
    def last_keys(self) -> list[int]:
        """The internal key of each box of the last update (tentative tracks included)."""
        return list(self._keys)

    def _pairs(
        self, boxes: Sequence[Box], looks: list[Look | None], timestamp_ms: float
    ) -> list[tuple[float, int, int]]:
        weight = self.settings.appearance_weight
        pairs = []
        for track in self.tracks.values():
            predicted = track.predicted(timestamp_ms)
            for index, box in enumerate(boxes):
                # After a few missed frames a noisy velocity can carry the prediction off a
                # person who stood still: where they were last seen counts too.
                score = max(
                    _motion_score(predicted, box, self.settings.iou_threshold),
                    _motion_score(track.box, box, self.settings.iou_threshold),
                )
                if score <= 0.0:
                    continue
                if weight > 0 and track.appearance is not None and looks[index] is not None:
                    score -= weight * appearance_distance(track.appearance, looks[index])
                # A person already confirmed wins a detection over a tentative newcomer.
                pairs.append((score + (0.05 if track.confirmed else 0.0), track.key, index))
        pairs.sort(reverse=True)
        return pairs

    def _start(self, box: Box, look: Look | None, timestamp_ms: float) -> int:
        """A new (tentative) track; :meth:`_revive` may give it a lost person's id."""
        track = Track(self._next_key, box, timestamp_ms, timestamp_ms, appearance=look)
        self._next_key += 1
        self.tracks[track.key] = track
        return track.key

    def _revive(self, track: Track) -> None:
        """A lost person back: of the lost tracks that pass the "where" gate for this tentative
        one, the one whose look matches best (and clearly better than any other) continues under
        its id."""
        revived = self._reassociate(track)
        if revived is None:
            return
        old = self.lost.pop(revived)
        track.id, track.first_ms, track.hits = old.id, old.first_ms, old.hits + track.hits
        self.events.revived.append((track.key, old.key))

    def within_gate(self, lost: Track, box: Box, timestamp_ms: float) -> bool:
        """Whether a face at ``box`` first seen at ``timestamp_ms`` can be ``lost`` coming back:
        its size is within a factor of 2 and its centre near the path ``lost`` was on when it
        left (from its last position along its velocity, for up to ``gate_horizon_ms``), within
        ``gate_base + gate_growth * seconds gone`` face widths (at most ``gate_max``)."""
        s = self.settings
        gone = timestamp_ms - lost.last_ms
        if not 0 <= gone <= s.reid_ms or not 0.5 <= box.area / max(lost.box.area, 1.0) <= 2.0:
            return False
        size = max(lost.box.width, lost.box.height)
        radius = size * min(s.gate_max, s.gate_base + s.gate_growth * gone / 1000.0)
        (ax, ay), ahead = lost.box.center, min(gone, s.gate_horizon_ms)
        bx, by = ax + lost.velocity[0] * ahead, ay + lost.velocity[1] * ahead
        px, py = box.center
        # Distance from the centre to the segment a -> b (the path the face was on).
        dx, dy = bx - ax, by - ay
        length = dx * dx + dy * dy
        t = 0.0 if length == 0 else min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / length))
        return bool(((px - ax - t * dx) ** 2 + (py - ay - t * dy) ** 2) ** 0.5 <= radius)

    def _gated(self, track: Track) -> list[Track]:
        return [lost for lost in self.lost.values() if self.within_gate(lost, track.box, track.first_ms)]

    def _reassociate(self, track: Track) -> int | None:
        look = track.appearance
        if look is None or not self.lost or self.settings.reid_ms <= 0:
            return None
        scored = sorted(
            (appearance_distance(lost.appearance, look), lost.key)
            for lost in self._gated(track)
            if lost.appearance is not None
        )
        if not scored or scored[0][0] > self.settings.reid_distance:
            return None
        if len(scored) > 1 and scored[1][0] - scored[0][0] < 0.05:
            return None  # two lost people fit and look alike: do not guess
        return scored[0][1]

    def _maybe_confirm(self, track: Track) -> None:
        s = self.settings
        # A newcomer where a lost person may come back (half hidden at first) stays a candidate
        # for them for up to ``reid_wait_ms`` before it is called a new person; anywhere else
        # it is confirmed as soon as it is seen ``confirm_hits`` times.
        wait = max(s.confirm_ms, s.reid_wait_ms) if self.lost and self._gated(track) else s.confirm_ms
        if track.confirmed or track.hits < s.confirm_hits or track.last_ms - track.first_ms < wait:
            return
        track.id = self._next_id
        self._next_id += 1
        self.events.confirmed.append(track.key)

    def _advance(self, track: Track, box: Box, look: Look | None, timestamp_ms: float) -> None:
        dt = timestamp_ms - track.last_ms
        if dt > 0:
            (ox, oy), (nx, ny) = track.box.center, box.center
            measured = ((nx - ox) / dt, (ny - oy) / dt)
            k = self.settings.velocity_smoothing
            track.velocity = (
                k * track.velocity[0] + (1 - k) * measured[0],
                k * track.velocity[1] + (1 - k) * measured[1],
            )
        if look is not None:
            track.appearance = look if track.appearance is None else track.appearance.blend(look, 0.2)
        track.box = box
        track.last_ms = timestamp_ms
        track.hits += 1

    def _expire(self, timestamp_ms: float) -> None:
        s = self.settings
        for track in list(self.tracks.values()):
            gone = timestamp_ms - track.last_ms
            if track.confirmed and gone > s.max_age_ms:
                del self.tracks[track.key]
                if s.reid_ms > 0:
                    self.lost[track.key] = track
                else:
                    self.events.ended.append(track.key)
            elif not track.confirmed and gone > min(s.tentative_miss_ms, s.max_age_ms):
                del self.tracks[track.key]
                self.events.ended.append(track.key)
        for track in list(self.lost.values()):
            if timestamp_ms - track.last_ms > s.reid_ms:
                del self.lost[track.key]
                self.events.ended.append(track.key)

    def confirmed_ids(self) -> dict[int, int]:
        """Internal key -> person id of every confirmed track being followed."""
        return {key: track.id for key, track in self.tracks.items() if track.id is not None}

    def reset(self) -> None:
        self.events.ended.extend([*self.tracks, *self.lost])
        self.tracks.clear()
        self.lost.clear()
