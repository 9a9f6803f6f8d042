"""The analysis of one work unit (a photo, or a time segment of a video), the same code path as
``moodlens image`` and ``moodlens video``: the same Analyzer, the same StreamAnalyzer, the same
settings. Engines only decide where this runs.

With a personal profile (``AnalysisSettings.profile``), a photo's only face (or face
``profile_face``) is read through it, as ``moodlens image --profile NAME[@N]`` does: a photo with
several faces and no face number keeps the model's reading and says so (``UnitResult.note``). A
video segment's main stable track is read through it, by the StreamAnalyzer's rule, as
``moodlens video --profile NAME`` does; the rule runs per segment (see docs/scaling.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from moodlens.batch.inputs import Item
from moodlens.labels import LABELS
from moodlens.results import FrameResult

if TYPE_CHECKING:
    from moodlens.personal import Profile


@dataclass(frozen=True)
class AnalysisSettings:
    """The options of ``moodlens image``/``video`` that shape results (picklable: workers build
    their own analyzer from it)."""

    detector: str = "yunet"
    detector_model: str | None = None
    min_face: int = 20
    threshold: float | None = None
    max_side: int = 640
    max_faces: int | None = None
    model: str | None = None
    detect_every: int = 2  # StreamSettings' default, as moodlens video
    classify_every_ms: float = 0.0
    smoothing_ms: float = 300.0
    hysteresis: float = 0.1
    threads: int = 1
    #: A fitted personal profile (label-space numbers only, so it travels to workers and Ray
    #: actors with the settings), applied to one face per photo and the main track of a video.
    profile: Profile | None = None
    #: The photo face it applies to (0-based); None: the only face. Videos: the main track always.
    profile_face: int | None = None

    def __post_init__(self) -> None:
        if self.profile_face is not None and (self.profile is None or self.profile_face < 0):
            raise ValueError("profile_face needs a profile and must be >= 0")

    @property
    def profile_choice(self) -> str | None:
        """The profile as ``--profile`` names it (``NAME`` or ``NAME@N``), or None."""
        if self.profile is None:
            return None
        name = self.profile.name
        return name if self.profile_face is None else f"{name}@{self.profile_face + 1}"

    def analyzer(self) -> Any:
        from moodlens.classification import load_classifier
        from moodlens.detection import create_detector
        from moodlens.pipeline import Analyzer

        detector = create_detector(
            self.detector,
            min_face=self.min_face,
            threshold=self.threshold,
            max_side=self.max_side,
            model=self.detector_model,
        )
        return Analyzer(detector, load_classifier(self.model, threads=self.threads), max_faces=self.max_faces)

    def stream(self, analyzer: Any) -> Any:
        from moodlens.pipeline.smoothing import SmoothingSettings
        from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings

        settings = StreamSettings(
            detect_every=self.detect_every,
            classify_every_ms=self.classify_every_ms,
            smoothing=SmoothingSettings(time_constant_ms=self.smoothing_ms, hysteresis=self.hysteresis),
        )
        return StreamAnalyzer(analyzer, settings, profile=self.profile)


@dataclass(frozen=True)
class Unit:
    """A photo, or the frames ``[start_frame, end_frame)`` of a video, analysed from ``warmup_frame``
    on (the overlap with the previous segment, where tracks are joined)."""

    item: Item
    segment: int = 0
    start_frame: int = 0
    end_frame: int | None = None
    warmup_frame: int = 0
    frames_expected: int = 1

    @property
    def label(self) -> str:
        return (
            self.item.source if self.item.kind == "photo" else f"{self.item.source} [segment {self.segment}]"
        )


#: Face row columns, in order (the ``faces/`` dataset's schema, before ``source``/``key``/``model``).
FACE_COLUMNS = (
    "frame_index",
    "timestamp_ms",
    "track_id",
    "x1",
    "y1",
    "x2",
    "y2",
    "score",
    "label",
    "confidence",
    "stable_label",
    "shown_label",
    *(f"p_{n}" for n in LABELS),
    *(f"s_{n}" for n in LABELS),
    # The personal reading's name and the model's own probabilities: null on the rows no profile
    # was applied to (where p_/s_ and the labels are the model's).
    "profile",
    *(f"m_{n}" for n in LABELS),
)


@dataclass
class UnitResult:
    unit: Unit
    rows: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in FACE_COLUMNS})
    warmup: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in FACE_COLUMNS})
    #: The tracker's internal key of each row (tentative faces included), for joining segments.
    keys: list[int] = field(default_factory=list)
    warmup_keys: list[int] = field(default_factory=list)
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    model: str = ""
    error: str | None = None
    media_ms: float = 0.0
    #: Why a photo's faces kept the model's reading although a profile was given (not a failure).
    note: str | None = None
    #: Frames the video's container announced that never came: the unit read to the file's end
    #: and the file is cut short (:attr:`moodlens.pipeline.sources.VideoSource.cut_short`).
    missing_frames: int = 0


def _append(columns: dict[str, list[Any]], result: FrameResult) -> None:
    for face in result.faces:
        smoothed = face.smoothed if face.smoothed is not None else face.probabilities
        b = face.box
        values: list[Any] = [
            result.frame_index or 0,
            float(result.timestamp_ms or 0.0),
            face.track_id,
            b.x1,
            b.y1,
            b.x2,
            b.y2,
            face.detection.score,
            face.label,
            face.confidence,
            face.shown_expression.label,
            face.shown_label,
            *face.probabilities.tolist(),
            *np.asarray(smoothed).tolist(),
            face.profile,
            *(
                [None] * len(LABELS)
                if face.model_probabilities is None
                else np.asarray(face.model_probabilities).tolist()
            ),
        ]
        for name, value in zip(FACE_COLUMNS, values, strict=True):
            columns[name].append(value)


def analyze_unit(unit: Unit, analyzer: Any, settings: AnalysisSettings) -> UnitResult:
    """Analyse one unit; a failure is returned (with its reason), never raised."""
    from moodlens.errors import MoodlensError

    result = UnitResult(unit, model=analyzer.classifier.metadata.name)
    started = time.perf_counter()
    try:
        if unit.item.kind == "photo":
            _photo(unit, analyzer, settings, result)
        else:
            _video(unit, analyzer, settings, result)
    except MoodlensError as exc:
        result.error = str(exc)
    except (OSError, ValueError) as exc:
        result.error = f"{unit.item.source}: {type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def _photo(unit: Unit, analyzer: Any, settings: AnalysisSettings, result: UnitResult) -> None:
    from moodlens.images import read_image
    from moodlens.personal import ProfileTargetError, personalise

    frame = analyzer.analyze(read_image(unit.item.source), timestamp_ms=0.0, frame_index=0)
    if settings.profile is not None:
        try:
            frame = personalise(frame, settings.profile, settings.profile_face)
        except ProfileTargetError as exc:
            # As moodlens image: never every face; the model's reading stays, and the item says why.
            result.note = f"profile {settings.profile.name!r} not applied: {exc}"
    _append(result.rows, frame)
    result.frames, result.faces = 1, len(frame.faces)


def _video(unit: Unit, analyzer: Any, settings: AnalysisSettings, result: UnitResult) -> None:
    from moodlens.pipeline.sources import VideoSource

    stream = settings.stream(analyzer)
    with VideoSource(unit.item.source) as source:
        source.seek(unit.warmup_frame)
        for frame in source:
            if unit.end_frame is not None and frame.index >= unit.end_frame:
                break
            analysed = stream.process(frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index)
            if frame.index < unit.start_frame:
                _append(result.warmup, analysed)
                result.warmup_keys.extend(stream.tracker.last_keys)
                continue
            _append(result.rows, analysed)
            result.keys.extend(stream.tracker.last_keys)
            result.frames += 1
            result.faces += len(analysed.faces)
            result.media_ms = frame.timestamp_ms + 1000.0 / source.info.fps
        if unit.end_frame is None and source.cut_short:
            result.missing_frames = source.missing_frames
