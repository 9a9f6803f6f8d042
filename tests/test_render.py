import numpy as np
import pytest

from moodlens.render import (
    BoxAnnotator,
    Compose,
    FpsAnnotator,
    LabelAnnotator,
    ProbabilityBarAnnotator,
    annotate,
    default_annotator,
)
from moodlens.results import Box, Detection, Face, FrameResult

PROBS = np.array([0.05, 0.05, 0.05, 0.6, 0.05, 0.1, 0.1])


def _result(boxes: list[Box], **kw: float) -> FrameResult:
    faces = tuple(Face(Detection(b, 0.9), PROBS, track_id=i) for i, b in enumerate(boxes))
    return FrameResult(faces, 320, 240, **kw)  # type: ignore[arg-type]


def test_no_faces_leave_the_frame_untouched() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    out = annotate(frame, _result([]))
    assert out is frame
    assert not out.any()


def test_annotators_draw_in_place_and_chain() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    result = _result([Box(50, 50, 150, 170)])
    out = Compose((BoxAnnotator(), LabelAnnotator(), ProbabilityBarAnnotator())).annotate(frame, result)
    assert out is frame
    assert frame[50, 100].any()  # box edge
    assert frame[60:140, 160:250].any()  # bars to the right of the face


def test_faces_at_the_edges_do_not_crash() -> None:
    frame = np.zeros((240, 320, 3), np.uint8)
    result = _result([Box(0, 0, 60, 60), Box(280, 200, 320, 240), Box(0.5, 100, 319.5, 239)])
    default_annotator(fps=True).annotate(frame, result)
    assert frame.any()


def test_fps_from_timestamps() -> None:
    fps = FpsAnnotator(smoothing=0.0)
    frame = np.zeros((240, 320, 3), np.uint8)
    fps.annotate(frame, _result([], timestamp_ms=0.0))
    assert not frame.any()  # one timestamp: no rate yet
    fps.annotate(frame, _result([], timestamp_ms=40.0))
    assert fps._rate == 25.0
    assert frame.any()


def test_fps_from_an_injected_clock() -> None:
    ticks = iter([0.0, 0.1, 0.2])
    fps = FpsAnnotator(smoothing=0.0, clock=lambda: next(ticks))
    frame = np.zeros((240, 320, 3), np.uint8)
    for _ in range(3):
        fps.annotate(frame, _result([]))
    assert fps._rate == pytest.approx(10.0)


def test_stream_fields_drive_what_is_shown() -> None:
    from moodlens.labels import Expression

    sad = np.array([0.05, 0.05, 0.05, 0.1, 0.6, 0.05, 0.1])
    face = Face(Detection(Box(50, 50, 150, 170), 0.9), PROBS, track_id=1, smoothed=sad, stable=Expression.SAD)
    assert face.shown_expression is Expression.SAD
    assert face.label == "happy"  # the raw top label is unchanged
    data = face.to_dict()
    assert data["stable_label"] == "sad"
    assert data["smoothed_probabilities"]["sad"] == 0.6
