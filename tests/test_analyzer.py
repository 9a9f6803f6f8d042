from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens import Analyzer, FakeClassifier, FakeDetector
from moodlens.errors import ImageError
from moodlens.labels import Expression
from moodlens.results import Box, Detection

IMAGE = np.full((120, 160, 3), 90, np.uint8)


def _analyzer(dets: list[Detection]) -> Analyzer:
    return Analyzer(FakeDetector(dets), FakeClassifier(expression=Expression.SURPRISE))


def test_no_faces() -> None:
    result = _analyzer([]).analyze(IMAGE)
    assert result.faces == ()
    assert (result.width, result.height) == (160, 120)


def test_each_detection_becomes_a_face() -> None:
    dets = [
        Detection(Box(10, 10, 50, 60), 0.9),
        Detection(Box(80, 20, 130, 80), 0.8, np.arange(10) + 80),
    ]
    result = _analyzer(dets).analyze(IMAGE, timestamp_ms=40.0, frame_index=1)
    assert [f.label for f in result.faces] == ["surprise", "surprise"]
    assert result.faces[1].detection.landmarks is not None
    assert result.timestamp_ms == 40.0 and result.frame_index == 1
    assert {"detect", "classify"} <= set(result.timings_ms)


def test_max_faces_keeps_the_first() -> None:
    dets = [Detection(Box(10, 10, 50, 60), 0.9), Detection(Box(80, 20, 130, 80), 0.8)]
    analyzer = Analyzer(FakeDetector(dets), FakeClassifier(), max_faces=1)
    assert len(analyzer.analyze(IMAGE).faces) == 1


def test_accepts_paths_bytes_and_arrays(tmp_path: Path) -> None:
    analyzer = _analyzer([Detection(Box(10, 10, 50, 60), 0.9)])
    _, buf = cv2.imencode(".png", IMAGE)
    path = tmp_path / "x.png"
    path.write_bytes(buf.tobytes())
    for source in (
        path,
        str(path),
        buf.tobytes(),
        IMAGE,
        IMAGE[:, :, 0],
        np.dstack([IMAGE, IMAGE[:, :, :1]]),
    ):
        assert len(analyzer.analyze(source).faces) == 1


def test_bad_input_raises_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such file"):
        _analyzer([]).analyze(tmp_path / "missing.jpg")


def _labelled_faces(manifest: list[dict[str, str]]) -> list[tuple[str, int, str, str]]:
    """(file, face position, expected label, order) for every face the manifest labels."""
    out = []
    for row in manifest:
        if not row["faces"].isdigit() or not row["expression"]:
            continue
        order = "top-to-bottom" if row["notes"].lower().startswith("top") else "left-to-right"
        for position, label in enumerate(row["expression"].split(";")):
            if label:
                out.append((row["file"], position, label, order))
    return out


#: Labelled faces the shipped model is known to get wrong, with the reason. Each has a test of its
#: own below that is an expected failure while the miss lasts and fails once a model gets it right,
#: so the entry cannot outlive the miss.
KNOWN_MISSES = {
    ("obama_and_biden.jpg", 1): "a closed-mouth smile with a furrowed brow, read as sad or neutral"
}


def _labels_in_order(analyzer: Analyzer, path: Path, order: str) -> list[str]:
    faces = analyzer.analyze(path).faces
    key = (lambda f: f.box.center[1]) if order == "top-to-bottom" else (lambda f: f.box.center[0])
    return [f.label for f in sorted(faces, key=key)]


def test_obvious_expressions_with_the_shipped_model(media: Path, manifest: list[dict[str, str]]) -> None:
    """The faces the manifest labels (single faces and groups, in its left-to-right or
    top-to-bottom order) come out right: every happy face but the known misses, and most others."""
    analyzer = Analyzer()
    results: dict[str, list[str]] = {}
    outcomes = []
    for name, position, expected, order in _labelled_faces(manifest):
        if name not in results:
            results[name] = _labels_in_order(analyzer, media / name, order)
        labels = results[name]
        assert position < len(labels), f"{name}: face {position + 1} not found"
        outcomes.append((name, position, expected, labels[position]))
    wrong = [o for o in outcomes if o[2] != o[3]]
    assert not [o for o in wrong if o[2] == "happy" and o[:2] not in KNOWN_MISSES], wrong
    assert len(wrong) <= 0.25 * len(outcomes), f"{len(wrong)} of {len(outcomes)} wrong: {wrong}"


@pytest.mark.parametrize(("name", "position"), sorted(KNOWN_MISSES))
def test_known_misses_of_the_shipped_model(
    media: Path, manifest: list[dict[str, str]], name: str, position: int
) -> None:
    expected = {(f, p): (label, order) for f, p, label, order in _labelled_faces(manifest)}
    label, order = expected[(name, position)]
    if _labels_in_order(Analyzer(), media / name, order)[position] != label:
        pytest.xfail(KNOWN_MISSES[(name, position)])
    pytest.fail(f"{name} face {position + 1} now comes out {label}: remove it from KNOWN_MISSES")
