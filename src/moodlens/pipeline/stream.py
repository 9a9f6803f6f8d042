"""Stream processing: cut check + detect -> track -> classify -> smooth, frame after frame.

A frame goes through two stages. :meth:`StreamAnalyzer.prepare` looks at the image alone (is
this a new shot? where are the faces?); :meth:`StreamAnalyzer.finish` needs the stream's state
(tracks, smoothing). ``process`` runs both; :func:`moodlens.pipeline.runner.run_stream` can run
``prepare`` of frame n+1 on another core while frame n is finished, with the same results.

With ``detect_every`` > 1, faces are followed between detections by template matching in a small
window around their position; detection still runs at every shot cut, whenever a face cannot be
followed, and while a new face is not yet confirmed as a person (the tracker is not confident).
The scheduled detections (every ``detect_every``-th frame) and those at a cut depend on the image
and its place in the stream alone, so ``prepare`` runs them (on the other core, in the parallel
runner); the ones the tracker asks for run in ``finish``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.identity import Person
from moodlens.personal import Profile, personal_face
from moodlens.pipeline.analyzer import Analyzer
from moodlens.pipeline.cuts import CutSettings, ShotCutDetector
from moodlens.pipeline.people import PeopleLinker
from moodlens.pipeline.smoothing import ExpressionSmoother, SmoothingSettings
from moodlens.pipeline.tracking import FaceTracker, TrackerSettings
from moodlens.results import Box, Detection, Face, FrameResult
from moodlens.summary import ExpressionSummary, PersonTimeline, ScreenTime, Tally, summarise

_FOLLOW_SIDE = 32  # faces are followed at about this height in pixels
_FOLLOW_MIN_SCORE = 0.55
_FOLLOW_MIN_CONTRAST = 2.0  # grey levels (standard deviation) a patch needs to be followed


#: The rescue's window snaps outwards to multiples of this many pixels, and its scale down to a
#: quarter octave: 0.5 ** q * _RESCUE_SCALES[r] (shared_constants.json, stream.rescue; literals, so
#: that the page's engine computes the very same factor). Grids of 2, 4, 8, 16 and
#: 32 px were run on the real-footage benchmark (docs/benchmarks.md): each keeps 0 merges, but
#: whether a face half out of the frame is still found on its last two frames (and so re-associated
#: when it comes back) varies with the crop; 8 px kept it.
_RESCUE_GRID = 8
_RESCUE_SCALES = (1.0, 0.8408964152537145, 0.7071067811865476, 0.5946035575013605)  # 2 ** (-r / 4)
#: A face found in the window must overlap where the person was expected (or last seen) by this
#: IoU, ByteTrack's threshold for its low-score association: at 0.3 a chain of rescued boxes
#: stepped from a man who left onto a woman coming up behind him (the street clip, frame 30).
_RESCUE_MIN_IOU = 0.5


@dataclass(frozen=True)
class StreamSettings:
    #: Detect every 2nd frame (and at every cut, and while the tracker is not confident), follow
    #: faces in between. Measured on the real clips against detecting every frame: the same shown
    #: label on 96.9% (singer) and 100% (street) of faces, 1.2-1.5x the frames per second
    #: (docs/benchmarks.md). 1 detects every frame.
    detect_every: int = 2
    smoothing: SmoothingSettings = field(default_factory=SmoothingSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    #: Shot-cut detection (None turns it off: one continuous shot).
    cuts: CutSettings | None = field(default_factory=CutSettings)
    #: 0 classifies every face in every frame; above 0, a tracked face is classified again only
    #: when this much stream time has passed, and its last probabilities stand in between.
    #: Expressions change over hundreds of milliseconds and the smoothing averages over
    #: ``smoothing.time_constant_ms`` anyway; ~100 ms saves most of the classifier's time at
    #: 30 FPS and above, at some cost in agreement of the shown labels (docs/benchmarks.md).
    classify_every_ms: float = 0.0
    #: A confirmed person the detector misses at its threshold (a profile, a half-hidden or
    #: blurred face) is looked for again around where they were, at this lower score (as
    #: ByteTrack keeps tracks alive with low-score boxes): a face found there that overlaps where
    #: they were, and no face the detector found, continues them. New people still need the
    #: detector's own threshold. None turns it off (also for detectors without low-score output).
    rescue_threshold: float | None = 0.3

    def __post_init__(self) -> None:
        if self.detect_every < 1:
            raise ValueError("detect_every must be >= 1")
        if self.rescue_threshold is not None and not 0.0 < self.rescue_threshold < 1.0:
            raise ValueError("rescue_threshold must lie in (0, 1) or be None")
        if not self.classify_every_ms >= 0:
            raise ValueError("classify_every_ms must be >= 0")


@dataclass(frozen=True)
class PreparedFrame:
    """What :meth:`StreamAnalyzer.prepare` found in one frame, before any stream state is used."""

    image: npt.NDArray[np.uint8]
    timestamp_ms: float
    frame_index: int | None
    cut: bool
    #: The detector's faces; None on frames between scheduled detections (``finish`` follows the
    #: faces there, or detects when the tracker is not confident).
    detections: list[Detection] | None
    detect_ms: float = 0.0


class StreamAnalyzer:
    """Turns successive frames into tracked, smoothed ``FrameResult``s. Build one per stream."""

    def __init__(
        self,
        analyzer: Analyzer,
        settings: StreamSettings | None = None,
        *,
        profile: Profile | None = None,
        linker: PeopleLinker | None = None,
    ) -> None:
        self.analyzer = analyzer
        self.settings = settings or StreamSettings()
        #: With ``--link-people``: embeds faces of confirmed tracks to link one person's tracks.
        self.linker = linker
        #: A person's profile, applied to the main stable track only (never to every face): the
        #: confirmed person seen longest, kept while they stay in view.
        self.profile = profile
        self._personal = ExpressionSmoother(self.settings.smoothing)
        self._main: int | None = None
        self._frames_seen: dict[int, int] = {}
        self.tracker = FaceTracker(self.settings.tracker)
        self.cuts = ShotCutDetector(self.settings.cuts) if self.settings.cuts is not None else None
        self.smoother = ExpressionSmoother(self.settings.smoothing)
        # Per-track state is keyed by the tracker's internal key (tentative tracks included), so
        # that smoothing runs from a face's first frame and survives a re-association.
        self._timelines: dict[int, PersonTimeline] = {}
        self._ids: dict[int, int] = {}  # key -> person id, once confirmed
        self._finished: list[tuple[int, PersonTimeline]] = []
        self._previous_gray: npt.NDArray[np.uint8] | None = None
        self._previous: dict[int, Detection] = {}
        self._held: dict[int, tuple[float, npt.NDArray[np.float32]]] = {}
        self._detected_ms: dict[int, float] = {}  # key -> when the detector last found the face
        # Every sighting of a face, tentative ones too: a person's time on screen starts when
        # their face first appears, not when the tracker confirms it.
        self._screen: dict[int, ScreenTime] = {}
        self._finished_screen: dict[int, ScreenTime] = {}
        self._prepared = 0

    def prepare(
        self, image: npt.NDArray[np.uint8], *, timestamp_ms: float, frame_index: int | None = None
    ) -> PreparedFrame:
        """Stage 1, image only: shot-cut check and the scheduled detections (every
        ``detect_every``-th frame, and at a cut). Frames must come in order (the cut check compares
        with the previous one, the schedule counts frames)."""
        cut = self.cuts.update(image, timestamp_ms) if self.cuts is not None else False
        detections = None
        started = time.perf_counter()
        if cut or self._prepared % self.settings.detect_every == 0:
            detections = self._detect(image)
        self._prepared += 1
        return PreparedFrame(
            image, timestamp_ms, frame_index, cut, detections, (time.perf_counter() - started) * 1000
        )

    def process(
        self, image: npt.NDArray[np.uint8], *, timestamp_ms: float, frame_index: int | None = None
    ) -> FrameResult:
        """Analyse the next frame of the stream (BGR uint8). Timestamps must not go backwards."""
        return self.finish(self.prepare(image, timestamp_ms=timestamp_ms, frame_index=frame_index))

    def finish(self, frame: PreparedFrame) -> FrameResult:
        """Stage 2: track, classify, smooth (in frame order)."""
        started = time.perf_counter()
        image, timestamp_ms = frame.image, frame.timestamp_ms
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        detected_now = frame.detections is not None
        detections = frame.detections or []
        if not detected_now:
            detections, detected_now = self._detect_or_follow(image, gray, frame.cut)
        found = len(detections) if detected_now else 0
        if detected_now and not frame.cut:
            detections = detections + self._rescue(image, detections, timestamp_ms)
        learn = [True] * found + [False] * (len(detections) - found) if detected_now else None
        ids = self.tracker.update(
            [d.box for d in detections], timestamp_ms, image=image, cut=frame.cut, learn=learn
        )
        keys = self.tracker.last_keys
        self._apply_events()
        for key in keys[:found]:
            self._detected_ms[key] = timestamp_ms
        for key in keys:
            self._screen.setdefault(key, ScreenTime()).add(timestamp_ms)
        tracked = time.perf_counter()
        base = self._classify(
            image, detections, keys, ids, timestamp_ms=timestamp_ms, frame_index=frame.frame_index
        )
        faces = []
        main = self._main_key(base.faces, keys)
        for model_face, key in zip(base.faces, keys, strict=True):
            face = model_face
            smoothed, stable = self.smoother.update(key, face.probabilities, timestamp_ms)
            model_smoothed, model_stable = None, None
            if key == main and self.profile is not None:
                # Smoothed on the personal reading, so what is shown holds steady as usual; the
                # model's own reading, smoothed as in a run without the profile, travels in
                # model_smoothed (history keeps that one).
                model_smoothed, model_stable = smoothed, stable
                face = personal_face(model_face, self.profile)
                smoothed, stable = self._personal.update(key, face.probabilities, timestamp_ms)
            faces.append(
                replace(
                    face,
                    smoothed=smoothed,
                    stable=stable,
                    model_smoothed=model_smoothed,
                    model_stable=model_stable,
                )
            )
            if face.track_id is not None:
                # A person's story starts when the tracker confirms them: every output (timeline,
                # history, summary) sees the same frames with the same id.
                self._timelines.setdefault(key, PersonTimeline()).add(timestamp_ms, int(stable), smoothed)
        if self.linker is not None:
            self.linker.observe(image, faces, timestamp_ms)
        for key in [k for k in self.smoother.keys() if k not in self.tracker.tracks]:  # noqa: SIM118
            self.smoother.forget(key)
        for key in [k for k in self._personal.keys() if k != main]:  # noqa: SIM118
            self._personal.forget(key)
        for key in [k for k in self._held if k not in self.tracker.tracks]:
            del self._held[key]
        self._previous_gray = gray
        self._previous = dict(zip(keys, (f.detection for f in faces), strict=True))
        timings = dict(base.timings_ms)
        timings["detect" if detected_now else "follow"] = frame.detect_ms + (
            0.0 if frame.detections is not None else (tracked - started) * 1000
        )
        timings["total"] = frame.detect_ms + (time.perf_counter() - started) * 1000
        return replace(base, faces=tuple(faces), timings_ms=timings, cut=frame.cut)

    def _main_key(self, faces: tuple[Face, ...], keys: list[int]) -> int | None:
        """The main stable track: the confirmed person in view seen in most frames, kept while in view."""
        if self.profile is None:
            return None
        confirmed = [k for f, k in zip(faces, keys, strict=True) if f.track_id is not None]
        for key in confirmed:
            self._frames_seen[key] = self._frames_seen.get(key, 0) + 1
        for key in [k for k in self._frames_seen if k not in self.tracker.tracks]:
            del self._frames_seen[key]
        if self._main not in confirmed:
            self._main = max(confirmed, key=lambda k: self._frames_seen[k], default=None)
        return self._main

    def _detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        detections = self.analyzer.detector.detect(image)
        if self.analyzer.max_faces is not None:
            detections = detections[: self.analyzer.max_faces]
        return detections

    def _detect_or_follow(
        self, image: npt.NDArray[np.uint8], gray: npt.NDArray[np.uint8], cut: bool
    ) -> tuple[list[Detection], bool]:
        # Scheduled frames and cuts were detected in ``prepare``. Not confident: a face is still
        # tentative (it may be a false detection, or a new person), or there is nothing to follow.
        due = not self._previous or cut or any(not t.confirmed for t in self.tracker.tracks.values())
        if not due:
            followed = self._follow(gray)
            # A face that cannot be followed (turned away, changed too much): detect now
            # rather than lose it for the frames until the next detection.
            if len(followed) == len(self._previous):
                return [d for _, d in followed], False
        return self._detect(image), True

    def _apply_events(self) -> None:
        """Carry per-track state through the tracker's confirmations, re-associations and ends."""
        events = self.tracker.events
        for new_key, old_key in events.revived:
            if old_key in self._timelines:
                self._timelines[new_key] = self._timelines.pop(old_key)
            if old_key in self._ids:
                self._ids[new_key] = self._ids.pop(old_key)
            if old_key in self._frames_seen:
                self._frames_seen[new_key] = self._frames_seen.pop(old_key)
            if self._main == old_key:
                self._main = new_key
            self._detected_ms.pop(old_key, None)
            if old_key in self._screen:
                screen = self._screen.pop(old_key)
                self._screen[new_key] = (
                    screen.merge(self._screen[new_key]) if new_key in self._screen else screen
                )
        for key in events.confirmed:
            track = self.tracker.tracks[key]
            assert track.id is not None
            self._ids[key] = track.id
        for key in events.ended:
            timeline = self._timelines.pop(key, None)
            seen = self._screen.pop(key, None)
            if timeline is not None and key in self._ids:
                timeline.close()
                self._finished.append((self._ids[key], timeline))
                if seen is not None:
                    self._finished_screen[self._ids[key]] = seen
            self._ids.pop(key, None)
            self._held.pop(key, None)
            self._detected_ms.pop(key, None)
            self.smoother.forget(key)

    def _classify(
        self,
        image: npt.NDArray[np.uint8],
        detections: list[Detection],
        keys: list[int],
        ids: list[int | None],
        *,
        timestamp_ms: float,
        frame_index: int | None,
    ) -> FrameResult:
        """Classify the faces that are due; the others keep their last probabilities."""
        interval = self.settings.classify_every_ms
        due = [
            k
            for k, key in enumerate(keys)
            if interval <= 0 or key not in self._held or not 0 <= timestamp_ms - self._held[key][0] < interval
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
        for k, (det, key) in enumerate(zip(detections, keys, strict=True)):
            if k in fresh:
                self._held[key] = (timestamp_ms, fresh[k].probabilities)
                faces.append(fresh[k])
            else:
                faces.append(Face(det, self._held[key][1], track_id=ids[k]))
        return replace(base, faces=tuple(faces))

    def _rescue(
        self, image: npt.NDArray[np.uint8], detections: list[Detection], timestamp_ms: float
    ) -> list[Detection]:
        """Confirmed people of the previous frame that the detector missed now, found again at
        ``StreamSettings.rescue_threshold`` in a window around where they were expected."""
        threshold = self.settings.rescue_threshold
        raw = getattr(self.analyzer.detector, "raw", None)
        if threshold is None or raw is None:
            return []
        height, width = image.shape[:2]
        out: list[Detection] = []
        for key, det in self._previous.items():
            track = self.tracker.tracks.get(key)
            if key not in self._ids or track is None:
                continue
            expected = track.predicted(timestamp_ms)
            if any(d.box.iou(expected) > 0.2 or d.box.iou(det.box) > 0.2 for d in detections):
                continue
            side = max(expected.width, expected.height)
            window = Box(
                expected.x1 - 0.75 * side,
                expected.y1 - 0.75 * side,
                expected.x2 + 0.75 * side,
                expected.y2 + 0.75 * side,
            ).clipped(width, height)
            if window is None or window.width < 16 or window.height < 16:
                continue
            # The window snaps outwards to a grid and the scale down to a quarter octave: a box
            # that moved by a fraction of a pixel gives the same crop, so the rescue does not
            # amplify the last digits of the previous frame's box (nor the page's engine differ
            # from this pipeline by those digits) into a different detection.
            grid = _RESCUE_GRID
            x1, y1 = int(window.x1) // grid * grid, int(window.y1) // grid * grid
            x2 = min(width, -(-math.ceil(window.x2) // grid) * grid)
            y2 = min(height, -(-math.ceil(window.y2) // grid) * grid)
            # The detector sees faces best at a few dozen to a couple of hundred pixels.
            steps = len(_RESCUE_SCALES)
            down = -math.floor(math.log2(min(1.0, 160.0 / side)) * steps)
            scale = 0.5 ** (down // steps) * _RESCUE_SCALES[down % steps]
            crop = image[y1:y2, x1:x2]
            if scale < 1.0:
                crop = np.asarray(
                    cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), dtype=np.uint8
                )
            found = [
                Detection(
                    Box(
                        x1 + f.box.x1 / scale,
                        y1 + f.box.y1 / scale,
                        x1 + f.box.x2 / scale,
                        y1 + f.box.y2 / scale,
                    ),
                    f.score,
                    None
                    if f.landmarks is None
                    else f.landmarks / scale + np.array([x1, y1], dtype=np.float32),
                )
                for f in raw(np.ascontiguousarray(crop), threshold)
            ]
            best = max(found, key=lambda f: max(f.box.iou(expected), f.box.iou(det.box)), default=None)
            if best is None or max(best.box.iou(expected), best.box.iou(det.box)) < _RESCUE_MIN_IOU:
                continue
            if any(best.box.iou(d.box) > 0.1 for d in [*detections, *out]):
                continue
            # The detector's box may reach past the frame's edge (a face cut off by it).
            inside = best.box.clipped(width, height)
            if inside is None or inside.width < 4 or inside.height < 4:
                continue
            out.append(Detection(inside, best.score, best.landmarks))
        return out

    def _follow(
        self, gray: npt.NDArray[np.uint8], keys: list[int] | None = None
    ) -> list[tuple[int, Detection]]:
        """Move each face of the previous frame (or those of ``keys``) to where its patch matches
        best now."""
        previous = self._previous_gray
        if previous is None:
            return []
        height, width = gray.shape
        out = []
        for key, det in self._previous.items():
            box = det.box
            scale = min(1.0, _FOLLOW_SIDE / max(box.height, 1.0))
            margin = 0.5 * max(box.width, box.height)
            sx1, sy1 = max(0, int(box.x1 - margin)), max(0, int(box.y1 - margin))
            sx2, sy2 = min(width, int(box.x2 + margin)), min(height, int(box.y2 + margin))
            px1, py1 = max(0, int(box.x1)), max(0, int(box.y1))
            px2, py2 = min(width, int(box.x2)), min(height, int(box.y2))
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
            if float(patch.std()) < _FOLLOW_MIN_CONTRAST:
                continue  # a flat patch matches anywhere equally well: detect instead
            scores = cv2.matchTemplate(region, patch, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(scores)
            if best < _FOLLOW_MIN_SCORE:
                continue
            dx, dy = sx1 + bx / scale - px1, sy1 + by / scale - py1
            moved = Box(box.x1 + dx, box.y1 + dy, box.x2 + dx, box.y2 + dy).clipped(width, height)
            if moved is None:
                continue
            marks = None if det.landmarks is None else det.landmarks + np.array([dx, dy], dtype=np.float32)
            out.append((key, Detection(moved, det.score, marks)))
        return out

    def _tallies(self) -> dict[int, Tally]:
        out: dict[int, Tally] = {}
        for track_id, timeline in self._finished:
            if timeline.tally is not None:
                out[track_id] = timeline.tally
        for key, timeline in self._timelines.items():
            tally = timeline.snapshot() if key in self._ids else None
            if tally is not None:
                out[self._ids[key]] = tally
        return out

    def _screens(self) -> dict[int, ScreenTime]:
        out = dict(self._finished_screen)
        for key, track_id in self._ids.items():
            if key in self._screen:
                out[track_id] = self._screen[key]
        return out

    def summaries(self) -> list[ExpressionSummary]:
        """Per track (confirmed tracks only), everything processed so far, by the one rule of
        :mod:`moodlens.summary`: time on screen and analysed, share of time per shown
        expression, dominant."""
        tallies, screens = self._tallies(), self._screens()
        return [ExpressionSummary.from_tally(k, tallies[k], screens.get(k)) for k in sorted(tallies)]

    def people(self) -> list[tuple[Person, ExpressionSummary]]:
        """With a linker: each person (the tracks it linked) and their summary over all of them,
        in order of first appearance. Without one, or before any person: empty."""
        if self.linker is None:
            return []
        tallies, screens = self._tallies(), self._screens()
        out = []
        for linked in self.linker.people():
            # A person is numbered by their first (lowest) track id, as the history numbers them,
            # so "person 3" is the same person in the CLI, the summary JSON and the dashboard.
            person = replace(linked, person_id=min(linked.track_ids))
            joined = [tallies[t] for t in person.track_ids if t in tallies]
            screen = ScreenTime()
            for track_id in person.track_ids:
                if track_id in screens:
                    screen = screen.merge(screens[track_id])
            if joined:
                out.append(
                    (person, summarise(person.person_id, joined, screen if screen.stretches else None))
                )
        return out
