"""Typed results passed between layers: boxes, detections, faces with expressions, frames.

Adapters to JSON-like dicts live in ``to_dict``; nothing downstream passes dicts around.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from moodlens.labels import LABELS, NUM_CLASSES, UNCERTAIN_BELOW, Expression, shown_label

#: Order of the 5 landmarks: the eye on the image's left, the eye on the image's right, the
#: nose tip, the mouth corner on the image's left, the mouth corner on the image's right.
LANDMARK_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixel coordinates, ``x2 > x1`` and ``y2 > y1``."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2)
        if not all(np.isfinite(v) for v in values):
            raise ValueError(f"box coordinates must be finite, got {values}")
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise ValueError(f"box must have x2 > x1 and y2 > y1, got {values}")

    @classmethod
    def from_xywh(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(float(x), float(y), float(x + w), float(y + h))

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1

    @property
    def center(self) -> tuple[float, float]:
        return ((self.x1 + self.x2) / 2, (self.y1 + self.y2) / 2)

    @property
    def area(self) -> float:
        return self.width * self.height

    def iou(self, other: Box) -> float:
        ix = max(0.0, min(self.x2, other.x2) - max(self.x1, other.x1))
        iy = max(0.0, min(self.y2, other.y2) - max(self.y1, other.y1))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def scaled(self, factor: float) -> Box:
        """The box in an image resized by ``factor``."""
        return Box(self.x1 * factor, self.y1 * factor, self.x2 * factor, self.y2 * factor)

    def clipped(self, width: int, height: int) -> Box | None:
        """The part inside a ``width`` x ``height`` image, or None when nothing is left."""
        x1, y1 = max(0.0, self.x1), max(0.0, self.y1)
        x2, y2 = min(float(width), self.x2), min(float(height), self.y2)
        if x2 <= x1 or y2 <= y1:
            return None
        return Box(x1, y1, x2, y2)

    def to_list(self) -> list[float]:
        return [round(self.x1, 1), round(self.y1, 1), round(self.x2, 1), round(self.y2, 1)]


def _as_landmarks(value: npt.ArrayLike | None) -> npt.NDArray[np.float32] | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    if arr.size != 2 * len(LANDMARK_NAMES) or not np.all(np.isfinite(arr)):
        raise ValueError(f"landmarks must be 5 finite (x, y) points, got {arr.size} values")
    return arr.reshape(len(LANDMARK_NAMES), 2)


@dataclass(frozen=True)
class Detection:
    """One face found by a detector: its box, the detector's score (0..1), optional landmarks."""

    box: Box
    score: float
    landmarks: npt.NDArray[np.float32] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f"detection score must lie in [0, 1], got {self.score}")
        object.__setattr__(self, "landmarks", _as_landmarks(self.landmarks))

    def scaled(self, factor: float) -> Detection:
        marks = None if self.landmarks is None else self.landmarks * factor
        return Detection(self.box.scaled(factor), self.score, marks)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"box": self.box.to_list(), "score": round(self.score, 4)}
        if self.landmarks is not None:
            out["landmarks"] = {
                name: [round(float(x), 1), round(float(y), 1)]
                for name, (x, y) in zip(LANDMARK_NAMES, self.landmarks, strict=True)
            }
        return out


def _as_probabilities(value: npt.ArrayLike) -> npt.NDArray[np.float32]:
    probs = np.asarray(value, dtype=np.float32).reshape(-1)
    if probs.shape != (NUM_CLASSES,):
        raise ValueError(f"probabilities must have {NUM_CLASSES} values, got {probs.shape[0]}")
    if not np.all(np.isfinite(probs)) or probs.min() < -1e-6 or abs(float(probs.sum()) - 1) > 1e-3:
        raise ValueError("probabilities must be finite, non-negative and sum to 1")
    return probs


@dataclass(frozen=True)
class Face:
    """A detected face with the probabilities of the 7 apparent expressions (canonical order).

    In a stream, ``track_id`` identifies the person across frames, ``smoothed`` holds the
    probabilities smoothed over time and ``stable`` the label shown (it changes with hysteresis).
    """

    detection: Detection
    probabilities: npt.NDArray[np.float32]
    track_id: int | None = None
    smoothed: npt.NDArray[np.float32] | None = None
    stable: Expression | None = None
    #: With a personal profile applied (moodlens.personal): ``probabilities`` are the personal
    #: ones, these the model's, and ``profile`` the profile's name.
    model_probabilities: npt.NDArray[np.float32] | None = None
    profile: str | None = None
    #: With a profile, in a stream: the model's own reading smoothed, and its stable label, as a
    #: run without the profile shows them (what the history keeps for the face).
    model_smoothed: npt.NDArray[np.float32] | None = None
    model_stable: Expression | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "probabilities", _as_probabilities(self.probabilities))
        if self.model_probabilities is not None:
            object.__setattr__(self, "model_probabilities", _as_probabilities(self.model_probabilities))
        if (self.profile is None) != (self.model_probabilities is None):
            raise ValueError("a personal reading needs both the profile's name and the model's probabilities")
        if self.model_smoothed is not None:
            if self.model_probabilities is None or self.model_stable is None:
                raise ValueError(
                    "the model's smoothed reading comes with a profile's reading and its stable label"
                )
            object.__setattr__(self, "model_smoothed", _as_probabilities(self.model_smoothed))
        if self.smoothed is not None:
            object.__setattr__(self, "smoothed", _as_probabilities(self.smoothed))

    @property
    def shown_probabilities(self) -> npt.NDArray[np.float32]:
        """What a display should show: the smoothed probabilities in a stream, else the raw ones."""
        return self.smoothed if self.smoothed is not None else self.probabilities

    @property
    def shown_expression(self) -> Expression:
        """The label to display: the stable (hysteresis) label in a stream, else the top one."""
        return self.stable if self.stable is not None else self.expression

    @property
    def shown_confidence(self) -> float:
        """The probability of the shown expression (smoothed in a stream)."""
        return float(self.shown_probabilities[int(self.shown_expression)])

    @property
    def uncertain(self) -> bool:
        """True when the shown expression is held with less than ``labels.UNCERTAIN_BELOW``."""
        return self.shown_confidence < UNCERTAIN_BELOW

    @property
    def shown_label(self) -> str:
        """What every output shows: the shown expression's label, or ``uncertain``."""
        return shown_label(self.shown_expression, self.shown_confidence)

    @property
    def box(self) -> Box:
        return self.detection.box

    @property
    def expression(self) -> Expression:
        """The most probable apparent expression."""
        return Expression(int(np.argmax(self.probabilities)))

    @property
    def label(self) -> str:
        return self.expression.label

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())

    def to_dict(self) -> dict[str, Any]:
        out = self.detection.to_dict()
        if self.track_id is not None:
            out["track_id"] = self.track_id
        out["label"] = self.label
        out["confidence"] = round(self.confidence, 4)
        out["probabilities"] = _named(self.probabilities)
        if self.model_probabilities is not None:
            out["model_label"] = LABELS[int(np.argmax(self.model_probabilities))]
            out["model_confidence"] = round(float(self.model_probabilities.max()), 4)
            out["model_probabilities"] = _named(self.model_probabilities)
            out["profile"] = self.profile
        if self.model_smoothed is not None and self.model_stable is not None:
            out["model_smoothed_probabilities"] = _named(self.model_smoothed)
            out["model_stable_label"] = self.model_stable.label
        if self.smoothed is not None:
            out["smoothed_probabilities"] = _named(self.smoothed)
        if self.stable is not None:
            out["stable_label"] = self.stable.label
        out["shown_label"] = self.shown_label
        out["uncertain"] = self.uncertain
        return out


def _named(probabilities: npt.NDArray[np.float32]) -> dict[str, float]:
    return {name: round(float(p), 4) for name, p in zip(LABELS, probabilities, strict=True)}


@dataclass(frozen=True)
class FrameResult:
    """Everything found in one image or video frame."""

    faces: tuple[Face, ...]
    width: int
    height: int
    timestamp_ms: float | None = None
    frame_index: int | None = None
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    #: In a stream: a shot cut comes just before this frame (every track ended there).
    cut: bool = False

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"frame size must be positive, got {self.width}x{self.height}")
        object.__setattr__(self, "faces", tuple(self.faces))

    def __len__(self) -> int:
        return len(self.faces)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"width": self.width, "height": self.height}
        if self.timestamp_ms is not None:
            out["timestamp_ms"] = round(self.timestamp_ms, 3)
        if self.frame_index is not None:
            out["frame_index"] = self.frame_index
        if self.cut:
            out["cut"] = True
        out["faces"] = [face.to_dict() for face in self.faces]
        return out
