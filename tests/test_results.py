import json

import numpy as np
import pytest

from moodlens.labels import Expression
from moodlens.results import Box, Detection, Face, FrameResult


def test_empty_frame_result() -> None:
    result = FrameResult(faces=(), width=640, height=480)
    assert len(result) == 0
    assert result.to_dict() == {"width": 640, "height": 480, "faces": []}


@pytest.mark.parametrize("coords", [(10, 10, 10, 20), (10, 10, 5, 20), (0, 0, float("nan"), 1)])
def test_box_rejects_degenerate_coordinates(coords: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="box"):
        Box(*coords)


def test_box_geometry() -> None:
    a = Box(0, 0, 10, 10)
    b = Box(5, 5, 15, 15)
    assert a.iou(b) == pytest.approx(25 / 175)
    assert a.iou(a) == 1.0
    assert Box.from_xywh(1, 2, 3, 4) == Box(1, 2, 4, 6)
    assert a.clipped(5, 5) == Box(0, 0, 5, 5)
    assert Box(-10, -10, -1, -1).clipped(100, 100) is None
    assert a.scaled(2) == Box(0, 0, 20, 20)


def test_detection_validates_score_and_landmarks() -> None:
    box = Box(0, 0, 10, 10)
    with pytest.raises(ValueError, match="score"):
        Detection(box, 1.5)
    with pytest.raises(ValueError, match="landmarks"):
        Detection(box, 0.9, np.zeros(6))
    det = Detection(box, 0.9, np.arange(10))
    assert det.landmarks is not None and det.landmarks.shape == (5, 2)
    assert det.scaled(0.5).landmarks[1].tolist() == [1.0, 1.5]  # type: ignore[index]


def test_face_probabilities_must_be_a_distribution() -> None:
    det = Detection(Box(0, 0, 10, 10), 0.9)
    with pytest.raises(ValueError, match="7 values"):
        Face(det, np.ones(6) / 6)
    with pytest.raises(ValueError, match="sum to 1"):
        Face(det, np.ones(7))


def test_face_label_and_json() -> None:
    probs = np.array([0.05, 0.05, 0.05, 0.6, 0.05, 0.1, 0.1])
    face = Face(Detection(Box(1, 2, 30, 40), 0.95, np.arange(10)), probs, track_id=3)
    assert face.expression is Expression.HAPPY
    assert face.label == "happy"
    assert face.confidence == pytest.approx(0.6)
    data = json.loads(json.dumps(face.to_dict()))
    assert data["label"] == "happy"
    assert data["track_id"] == 3
    assert list(data["probabilities"]) == [
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    ]
    assert data["landmarks"]["eye_left"] == [0.0, 1.0]
    frame = FrameResult((face,), 100, 100, timestamp_ms=33.3, frame_index=1)
    assert json.loads(json.dumps(frame.to_dict()))["faces"][0]["box"] == [1.0, 2.0, 30.0, 40.0]
