from pathlib import Path

import cv2
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


@pytest.mark.parametrize("photo", ["friends_group6.jpg", "group7_small_faces.jpg", "obama_and_biden.jpg"])
def test_panels_never_cover_a_face_in_group_photos(media: Path, photo: str) -> None:
    """Drawn as the CLI draws them (screenshots in artifacts/): no probability panel overlaps any
    face or any face's label, and each face keeps its label."""
    import os

    from moodlens import Analyzer
    from moodlens.images import read_image
    from moodlens.render.annotators import ProbabilityBarAnnotator
    from moodlens.render.layout import Rect, label_rect, place_panels

    image = read_image(media / photo)
    result = Analyzer().analyze(image)
    assert len(result.faces) >= 3
    bars = ProbabilityBarAnnotator()
    width, height, _, _ = bars.panel_size(image)
    boxes = [f.box for f in result.faces]
    places = place_panels(boxes, (width, height), (image.shape[1], image.shape[0]), label=(120, 24))
    faces = [Rect.around(b) for b in boxes] + [label_rect(b, (120, 24)) for b in boxes]
    for place in places:
        if place is not None:
            assert not any(place.overlaps(face) for face in faces)
            assert place.x >= 0 and place.y >= 0
            assert place.x + place.w <= image.shape[1] and place.y + place.h <= image.shape[0]
    assert sum(p is not None for p in places) >= 1
    drawn = annotate(image.copy(), result)
    artifacts = Path(os.environ.get("MOODLENS_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(artifacts / f"group-{Path(photo).stem}.jpg"), drawn)


def test_layout_of_nothing_and_of_a_crowded_frame() -> None:
    from moodlens.render.layout import place_panels

    assert place_panels([], (100, 80), (640, 480)) == []
    crowded = [Box(x, y, x + 60, y + 60) for x in range(0, 640, 64) for y in range(0, 480, 64)]
    assert place_panels(crowded, (100, 80), (640, 480)) == [None] * len(crowded)  # compact forms
