"""moodlens.identity: the shipped face embedder (its conversion, provenance and licence), the
alignment, the fake, and the linking of tracks into people."""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from moodlens import identity
from moodlens.errors import ModelError
from moodlens.identity import (
    CHIP_SIZE,
    EMBEDDING_SIZE,
    LINK_THRESHOLD,
    FaceEmbedder,
    FakeEmbedder,
    OnnxFaceEmbedder,
    Person,
    TrackSighting,
    embedding_distance,
    face_chips,
    link_tracks,
    track_embedding,
)
from moodlens.identity.align import TEMPLATE, extract_chip, similarity_transform
from moodlens.identity.embedder import default_model_path
from moodlens.results import Box, Detection

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "moodlens" / "models"
SHIPPED_SHA256 = "19a8272969c4f3c01c762a4bbdfb91e7329d18ecb49af4256caf9a7bcd47c0b5"
SCRIPT = ROOT / "scripts" / "convert_face_embedder.py"
#: The npm tarball (npm pack @vladmandic/face-api@1.7.15), for the rebuild test.
TARBALL = Path(os.environ.get("MOODLENS_FACE_API_TGZ", "/tmp/npm/vladmandic-face-api-1.7.15.tgz"))


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("convert_face_embedder", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# --- the shipped model: provenance, licence, conversion -----------------------------------------


def test_public_api() -> None:
    assert sorted(identity.__all__) == sorted(
        [
            "CHIP_SIZE",
            "EMBEDDING_SIZE",
            "LINK_THRESHOLD",
            "FaceEmbedder",
            "FakeEmbedder",
            "OnnxFaceEmbedder",
            "Person",
            "TrackSighting",
            "embedding_distance",
            "face_chips",
            "link_tracks",
            "track_embedding",
        ]
    )


def test_shipped_model_is_the_pinned_file() -> None:
    data = default_model_path().read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHIPPED_SHA256
    assert len(data) < 7_000_000  # the uint8 weights stayed uint8


def test_licence_and_notice_travel_with_the_model() -> None:
    licence = (MODELS / "LICENSE-face-embedder").read_text(encoding="utf-8")
    assert "MIT License" in licence and "public domain" in licence
    script = _script()
    for pin in (script.BIN_SHA256, script.MANIFEST_SHA256, SHIPPED_SHA256):
        assert pin in licence
    for notice in (MODELS / "NOTICE", ROOT / "NOTICE"):
        text = notice.read_text(encoding="utf-8")
        assert "face_embedder.onnx" in text and "@vladmandic/face-api@1.7.15" in text


def test_onnx_graph_equals_the_numpy_reference() -> None:
    """The graph, run by ONNX Runtime, against a forward written from face-api.js's TypeScript,
    both on the weights stored in the shipped file (no tarball needed)."""
    onnx = pytest.importorskip("onnx", reason="reading the model's weights needs onnx (the [dev] extra)")
    script = _script()
    model = onnx.load(str(default_model_path()))
    weights = script.weights_from_onnx(model)
    assert len(weights) == 117
    diff = script.check(model.SerializeToString(), weights, seed=3)
    assert diff < 1e-5


@pytest.mark.skipif(not TARBALL.is_file(), reason=f"no npm tarball at {TARBALL} (set MOODLENS_FACE_API_TGZ)")
def test_conversion_is_reproducible(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the conversion needs onnx (the [dev] extra)")
    out = tmp_path / "face_embedder.onnx"
    assert _script().main([str(TARBALL), "--out", str(out)]) == 0
    assert out.read_bytes() == default_model_path().read_bytes()


# --- the embedder and its alignment -------------------------------------------------------------


def _face_image(seed: int = 0) -> tuple[np.ndarray, Detection]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(240, 320, 3), dtype=np.uint8)
    return image, Detection(Box(100, 60, 200, 190), 0.9, TEMPLATE + np.array([110.0, 70.0]))


def test_embedder_is_lazy_and_checks_its_arguments(tmp_path: Path) -> None:
    embedder = OnnxFaceEmbedder()
    assert isinstance(embedder, FaceEmbedder)
    assert embedder._session is None  # nothing loaded until a face is embedded
    with pytest.raises(ValueError, match="threads"):
        OnnxFaceEmbedder(threads=-1)
    with pytest.raises(ModelError, match="no such"):
        OnnxFaceEmbedder(tmp_path / "missing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    lazy = OnnxFaceEmbedder(broken)  # accepted: the file is read on first use
    image, det = _face_image()
    with pytest.raises(ModelError, match="cannot load"):
        lazy.embed(image, [det])


def test_no_faces_no_embeddings() -> None:
    embedder = OnnxFaceEmbedder()
    image, _ = _face_image()
    out = embedder.embed(image, [])
    assert out.shape == (0, EMBEDDING_SIZE) and out.dtype == np.float32
    assert embedder._session is None


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((10, 10, 3), np.float32)])
def test_embedder_rejects_what_is_not_a_bgr_image(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="uint8 BGR"):
        OnnxFaceEmbedder().embed(bad, [_face_image()[1]])


def test_embeddings_with_and_without_landmarks() -> None:
    image, det = _face_image()
    no_marks = Detection(det.box, det.score)
    out = OnnxFaceEmbedder(threads=1, batch_size=1).embed(image, [det, no_marks, det])
    assert out.shape == (3, EMBEDDING_SIZE) and out.dtype == np.float32
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], out[2], atol=1e-5)  # batching changes nothing


def test_landmarks_on_the_template_give_a_plain_crop() -> None:
    image, det = _face_image()
    chip = face_chips(image, [det])[0]
    np.testing.assert_array_equal(chip, image[70 : 70 + CHIP_SIZE, 110 : 110 + CHIP_SIZE])


def test_similarity_transform_recovers_a_known_one() -> None:
    angle, scale, shift = math.radians(20), 1.7, np.array([30.0, -12.0])
    rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    moved = TEMPLATE @ rot.T + shift
    matrix = similarity_transform(TEMPLATE, moved)
    assert matrix is not None
    np.testing.assert_allclose(matrix, np.hstack([rot, shift[:, None]]), atol=1e-9)
    assert similarity_transform(TEMPLATE, np.zeros((5, 2))) is None  # all landmarks on one point


def test_large_faces_are_downsampled_before_the_chip_is_cut() -> None:
    """A face 8x the chip, striped at 2 px: without area averaging the chip would alias."""
    stripes = np.zeros((1400, 1400, 3), np.uint8)
    stripes[:, ::2] = 255
    m = np.array([[8.0, 0.0, 100.0], [0.0, 8.0, 100.0]])
    chip = extract_chip(stripes, m)
    assert abs(float(chip.mean()) - 127.5) < 3 and float(chip.std()) < 10
    outside = extract_chip(stripes, np.array([[8.0, 0.0, 5000.0], [0.0, 8.0, 5000.0]]))
    assert not outside.any()


def test_fake_embedder() -> None:
    image, det = _face_image()
    fake = FakeEmbedder()
    assert isinstance(fake, FaceEmbedder)
    assert fake.embed(image, []).shape == (0, EMBEDDING_SIZE)
    two = FakeEmbedder(np.eye(EMBEDDING_SIZE, dtype=np.float32)[:2])
    out = two.embed(image, [det, det, det])
    np.testing.assert_array_equal(out[:, :2], [[1, 0], [0, 1], [1, 0]])
    assert two.calls == 1
    with pytest.raises(ValueError, match="vectors"):
        FakeEmbedder(np.zeros((2, 3)))


# --- linking ------------------------------------------------------------------------------------


def _unit(angle_deg: float) -> np.ndarray:
    """A unit vector in the first two dimensions: the chord between angles a and b is
    2 sin(|a - b| / 2)."""
    v = np.zeros(EMBEDDING_SIZE, np.float32)
    v[0], v[1] = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    return v


def _track(
    track_id: int, start: float, end: float, *vectors: np.ndarray, frames: set[int] | None = None
) -> TrackSighting:
    emb = np.stack(vectors) if vectors else np.zeros((0, EMBEDDING_SIZE), np.float32)
    return TrackSighting(track_id, start, end, emb, None if frames is None else frozenset(frames))


def test_no_tracks_no_people() -> None:
    assert link_tracks([]) == []


def test_two_shots_of_one_person_are_one_person() -> None:
    # before and after a cut, a little noise on the embeddings (and their length)
    people = link_tracks(
        [_track(7, 5000, 9000, 1.4 * _unit(3), 1.5 * _unit(5)), _track(2, 0, 4000, 1.45 * _unit(0))]
    )
    assert people == [Person(1, (2, 7))]


def test_two_different_people_stay_two() -> None:
    people = link_tracks([_track(1, 0, 4000, _unit(0)), _track(2, 5000, 9000, _unit(60))])
    assert people == [Person(1, (1,)), Person(2, (2,))]


def test_tracks_seen_together_are_never_one_person() -> None:
    same = _unit(0)
    assert link_tracks([_track(1, 0, 4000, same), _track(2, 4000, 8000, same)]) == [
        Person(1, (1,)),
        Person(2, (2,)),
    ]
    # frame sets decide where both tracks have them: overlapping spans, no common frame
    apart = [_track(1, 0, 4000, same, frames={0, 1, 2, 9}), _track(2, 100, 300, same, frames={3, 4})]
    assert link_tracks(apart) == [Person(1, (1, 2))]
    together = [_track(1, 0, 4000, same, frames={0, 1, 2, 9}), _track(2, 100, 300, same, frames={2, 3})]
    assert len(link_tracks(together)) == 2


def test_a_third_track_cannot_join_two_that_were_seen_together() -> None:
    # 1 and 2 share a frame; 3 (after both) looks like both: it joins one of them, never both
    tracks = [_track(1, 0, 100, _unit(0)), _track(2, 50, 150, _unit(2)), _track(3, 500, 600, _unit(1.2))]
    people = link_tracks(tracks)
    assert [p.track_ids for p in people] == [(1,), (2, 3)]  # 3 is closer to 2 (0.8 vs 1.2 degrees)


def test_chains_are_not_followed() -> None:
    """A ~ B and B ~ C but A far from C: complete linkage links the closer pair and stops."""
    step_ab, step_bc = 20.0, 19.0  # chords 0.347 and 0.330, A-C 0.668 (threshold 0.40)
    assert 2 * math.sin(math.radians(step_ab) / 2) < LINK_THRESHOLD
    assert 2 * math.sin(math.radians(step_ab + step_bc) / 2) > LINK_THRESHOLD
    a = _track(1, 0, 1, _unit(0))
    b = _track(2, 10, 11, _unit(step_ab))
    c = _track(3, 20, 21, _unit(step_ab + step_bc))
    assert [p.track_ids for p in link_tracks([a, b, c])] == [(1,), (2, 3)]
    # with A-B the closer pair, A and B are linked instead
    c_far = _track(3, 20, 21, _unit(step_ab + 21.0))
    assert [p.track_ids for p in link_tracks([a, b, c_far])] == [(1, 2), (3,)]


def test_numbering_follows_first_appearance_whatever_the_input_order() -> None:
    tracks = [
        _track(10, 300, 400, _unit(90)),
        _track(11, 100, 200, _unit(0)),
        _track(12, 500, 600, _unit(1)),
        _track(13, 0, 50),  # no embedding: a person of its own
    ]
    want = [Person(1, (13,)), Person(2, (11, 12)), Person(3, (10,))]
    assert link_tracks(tracks) == want
    assert link_tracks(tracks[::-1]) == want


def test_track_embedding_weighs_every_sighting_equally() -> None:
    v = track_embedding(np.stack([10 * _unit(0), 0.1 * _unit(90)]))
    assert v is not None
    np.testing.assert_allclose(v, _unit(45), atol=1e-6)
    assert track_embedding(np.zeros((0, EMBEDDING_SIZE))) is None
    assert embedding_distance(3 * _unit(0), _unit(60)) == pytest.approx(1.0)


def test_linking_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="once"):
        link_tracks([_track(1, 0, 1, _unit(0)), _track(1, 5, 6, _unit(0))])
    with pytest.raises(ValueError, match="first_ms <= last_ms"):
        _track(1, 10, 5, _unit(0))
    with pytest.raises(ValueError, match="threshold"):
        link_tracks([], threshold=-1)
    with pytest.raises(ValueError, match="finite"):
        _track(1, 0, 1, np.full(EMBEDDING_SIZE, np.nan, np.float32))


# --- the shared photos: a sanity check, not where the threshold came from ----------------------


@pytest.mark.media
def test_same_and_different_people_in_the_shared_photos(media: Path) -> None:
    from moodlens.detection import create_detector
    from moodlens.images import read_image

    detector = create_detector("yunet")
    embedder = OnnxFaceEmbedder()

    def embedding(name: str) -> np.ndarray:
        image = read_image(media / name)
        found = max(detector.detect(image), key=lambda d: d.box.area)
        assert found.landmarks is not None
        return embedder.embed(image, [found])[0]

    obama = embedding("obama.jpg")
    distances = {
        name: embedding_distance(obama, embedding(name))
        for name in ("obama_small.jpg", "rose_leslie_neutral.jpg", "astronaut.png")
    }
    print("distance to obama.jpg:", {k: round(v, 3) for k, v in distances.items()})
    assert distances["obama_small.jpg"] < LINK_THRESHOLD
    assert distances["rose_leslie_neutral.jpg"] > LINK_THRESHOLD
    assert distances["astronaut.png"] > LINK_THRESHOLD
