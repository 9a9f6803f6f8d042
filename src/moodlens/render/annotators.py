"""Annotators draw a ``FrameResult`` on a frame: ``annotate(frame, result) -> frame``.

They draw in place and return the frame, so they chain; pass ``frame.copy()`` to keep the
original. One colour per expression throughout (``moodlens.labels.COLOURS_BGR``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.labels import COLOURS_BGR, LABELS, UNCERTAIN_BGR, Expression
from moodlens.render.layout import place_panels
from moodlens.results import Face, FrameResult

Frame = npt.NDArray[np.uint8]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


class Annotator(Protocol):
    def annotate(self, frame: Frame, result: FrameResult) -> Frame: ...


def _scale_for(frame: Frame) -> float:
    """Text and line size relative to a 640-pixel-wide frame."""
    return float(np.clip(max(frame.shape[:2]) / 750.0, 0.5, 2.5))


def _text_box(
    frame: Frame, text: str, origin: tuple[int, int], colour: tuple[int, int, int], scale: float
) -> None:
    thickness = max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = origin
    x = int(np.clip(x, 0, max(0, frame.shape[1] - tw - 4)))
    y = int(np.clip(y, th + base + 4, frame.shape[0]))
    cv2.rectangle(frame, (x, y - th - base - 4), (x + tw + 4, y), colour, cv2.FILLED)
    luminance = 0.114 * colour[0] + 0.587 * colour[1] + 0.299 * colour[2]
    ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    cv2.putText(frame, text, (x + 2, y - base - 2), _FONT, scale, ink, thickness, cv2.LINE_AA)


def _colour(face: Face) -> tuple[int, int, int]:
    return UNCERTAIN_BGR if face.uncertain else COLOURS_BGR[face.shown_expression]


@dataclass
class BoxAnnotator:
    """A rectangle around each face in its expression's colour."""

    thickness: int | None = None

    def annotate(self, frame: Frame, result: FrameResult) -> Frame:
        t = self.thickness or max(1, round(2 * _scale_for(frame)))
        for face in result.faces:
            b = face.box
            cv2.rectangle(
                frame,
                (round(b.x1), round(b.y1)),
                (round(b.x2), round(b.y2)),
                _colour(face),
                t,
                cv2.LINE_AA,
            )
        return frame


@dataclass
class LabelAnnotator:
    """``#3 happy 87%`` above each face (the track id when there is one); ``uncertain`` when the
    shown label is held with less than ``labels.UNCERTAIN_BELOW``."""

    show_confidence: bool = True

    def annotate(self, frame: Frame, result: FrameResult) -> Frame:
        scale = _scale_for(frame) * 0.6
        for face in result.faces:
            parts = [] if face.track_id is None else [f"#{face.track_id}"]
            parts.append(face.shown_label)
            if self.show_confidence:
                parts.append(f"{face.shown_confidence:.0%}")
            _text_box(
                frame,
                " ".join(parts),
                (round(face.box.x1), round(face.box.y1) - 2),
                _colour(face),
                scale,
            )
        return frame


@dataclass
class ProbabilityBarAnnotator:
    """Seven labelled bars beside each face, placed where they cover no face (``render.layout``);
    a face without such a place keeps its compact form (the label above it)."""

    width: int | None = None
    min_face: int = 40

    def panel_size(self, frame: Frame) -> tuple[int, int, int, int]:
        """(panel width, panel height, label column width, row height) at this frame's scale."""
        scale = _scale_for(frame)
        bar_w = self.width or round(60 * scale)
        row = max(10, round(12 * scale))
        text_scale = row / 30.0
        (label_w, _), _ = cv2.getTextSize("surprise", _FONT, text_scale, 1)
        label_w += 6
        return label_w + bar_w + 4, row * len(LABELS) + 2, label_w, row

    def annotate(self, frame: Frame, result: FrameResult) -> Frame:
        width, height, label_w, row = self.panel_size(frame)
        text_scale = row / 30.0
        bar_w = width - label_w - 4
        shown = [f for f in result.faces if f.box.height >= self.min_face]
        label_scale = _scale_for(frame) * 0.6
        (tag_w, tag_h), base = cv2.getTextSize(
            "#00 surprise 100%", _FONT, label_scale, max(1, round(label_scale * 1.5))
        )
        places = place_panels(
            [f.box for f in shown],
            (width, height),
            (frame.shape[1], frame.shape[0]),
            label=(tag_w + 4, tag_h + base + 4),
        )
        for face, place in zip(shown, places, strict=True):
            if place is None:
                continue
            x, y0 = round(place.x), round(place.y)
            overlay = frame[y0 : y0 + height, x : x + width]
            overlay[:] = (overlay * 0.35).astype(np.uint8)  # darken behind the bars for legibility
            for i, (name, p) in enumerate(zip(LABELS, face.shown_probabilities, strict=True)):
                y = y0 + 1 + i * row
                cv2.putText(
                    frame, name, (x + 3, y + row - 3), _FONT, text_scale, (255, 255, 255), 1, cv2.LINE_AA
                )
                filled = round(bar_w * float(p))
                colour = COLOURS_BGR[Expression(i)]
                cv2.rectangle(
                    frame, (x + label_w, y + 2), (x + label_w + filled, y + row - 2), colour, cv2.FILLED
                )
        return frame


@dataclass
class FpsAnnotator:
    """Frames per second in the top-left corner (smoothed).

    With a ``clock`` (seconds, e.g. ``time.perf_counter``) it shows how fast frames are being
    processed; without one, the rate of the results' ``timestamp_ms`` (the stream's own rate).
    A fixed ``fps`` is shown as given.
    """

    fps: float | None = None
    smoothing: float = 0.9
    clock: Callable[[], float] | None = None
    _last_ms: float | None = field(default=None, init=False, repr=False)
    _rate: float | None = field(default=None, init=False, repr=False)

    def annotate(self, frame: Frame, result: FrameResult) -> Frame:
        rate = self.fps
        now = self.clock() * 1000.0 if self.clock is not None else result.timestamp_ms
        if rate is None and now is not None:
            if self._last_ms is not None and now > self._last_ms:
                current = 1000.0 / (now - self._last_ms)
                k = self.smoothing
                self._rate = current if self._rate is None else k * self._rate + (1 - k) * current
            self._last_ms = now
            rate = self._rate
        if rate is not None:
            _text_box(
                frame,
                f"{rate:.1f} FPS",
                (4, round(30 * _scale_for(frame))),
                (40, 40, 40),
                _scale_for(frame) * 0.6,
            )
        return frame


@dataclass
class Compose:
    """Runs annotators in order."""

    annotators: tuple[Annotator, ...]

    def annotate(self, frame: Frame, result: FrameResult) -> Frame:
        for annotator in self.annotators:
            frame = annotator.annotate(frame, result)
        return frame


def default_annotator(*, fps: bool = False, bars: bool = True) -> Compose:
    """Box + label (+ probability bars) (+ FPS): what the CLI draws."""
    parts: list[Annotator] = [BoxAnnotator(), LabelAnnotator()]
    if bars:
        parts.append(ProbabilityBarAnnotator())
    if fps:
        parts.append(FpsAnnotator(clock=time.perf_counter))
    return Compose(tuple(parts))


def annotate(frame: Frame, result: FrameResult, annotators: Iterable[Annotator] | None = None) -> Frame:
    """Draw ``result`` on ``frame`` (in place) with the default annotators or the given ones."""
    chain = default_annotator() if annotators is None else Compose(tuple(annotators))
    return chain.annotate(frame, result)
