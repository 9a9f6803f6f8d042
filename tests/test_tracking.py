import pytest

from moodlens.pipeline.tracking import FaceTracker
from moodlens.results import Box


def _box(x: float, y: float = 100, size: float = 60) -> Box:
    return Box(x, y, x + size, y + size)


def test_no_detections() -> None:
    tracker = FaceTracker()
    assert tracker.update([], 0.0) == []
    assert tracker.tracks == {}


def test_a_moving_face_keeps_its_id() -> None:
    tracker = FaceTracker()
    ids = [tracker.update([_box(10 + 8 * i)], i * 33.3) for i in range(30)]
    assert {i[0] for i in ids} == {1}


def test_entering_and_leaving() -> None:
    tracker = FaceTracker(max_age_ms=200)
    assert tracker.update([_box(10)], 0) == [1]
    assert tracker.update([_box(12), _box(300)], 33) == [1, 2]
    for t in (66, 150, 250, 350, 400):
        assert tracker.update([_box(300)], t) == [2]
    assert 1 not in tracker.tracks  # gone for longer than max_age
    assert tracker.update([_box(14)], 433) == [3]  # ids are never reused


def test_short_occlusion_keeps_the_id() -> None:
    tracker = FaceTracker(max_age_ms=1000)
    for i in range(5):
        tracker.update([_box(100 + 5 * i)], i * 40)
    for i in range(5, 15):  # hidden for 400 ms
        tracker.update([], i * 40)
    assert tracker.update([_box(100 + 5 * 15)], 15 * 40) == [1]


def test_two_faces_crossing_keep_their_ids() -> None:
    """A moves right, B moves left; they overlap, B is hidden behind A for a few frames."""
    tracker = FaceTracker()
    seen: dict[int, list[float]] = {1: [], 2: []}
    for i in range(40):
        t = i * 33.3
        a, b = _box(20 + 12 * i), _box(500 - 12 * i, y=110)
        boxes = [a] if 18 <= i <= 21 else [a, b]
        ids = tracker.update(boxes, t)
        for track_id, box in zip(ids, boxes, strict=True):
            seen.setdefault(track_id, []).append(box.x1)
    assert set(seen) == {1, 2}
    assert seen[1] == sorted(seen[1])  # track 1 only ever moves right
    assert seen[2] == sorted(seen[2], reverse=True)  # track 2 only ever moves left


def test_fast_motion_without_overlap_is_still_matched() -> None:
    tracker = FaceTracker()
    tracker.update([_box(100)], 0)
    assert tracker.update([_box(130)], 33) == [1]  # moved half a face width


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        FaceTracker(iou_threshold=1.5)
