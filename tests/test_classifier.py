import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import make_contract_model
from moodlens.classification import (
    EmotionClassifier,
    FakeClassifier,
    OnnxClassifier,
    default_classifier,
    default_model_path,
    load_metadata,
)
from moodlens.classification.metadata import FORMAT, CropSpec, ModelMetadata
from moodlens.errors import ModelError
from moodlens.labels import LABELS, Expression


def test_empty_batch(contract_model: Path) -> None:
    clf = OnnxClassifier(contract_model)
    assert clf.predict(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_probabilities_in_label_order(contract_model: Path) -> None:
    clf = OnnxClassifier(contract_model, batch_size=3)
    assert isinstance(clf, EmotionClassifier)
    crops = np.random.default_rng(0).integers(0, 255, (7, 48, 48), dtype=np.uint8)
    probs = clf.predict(crops)
    assert probs.shape == (7, 7) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # Batching in chunks of 3 gives the same numbers as one by one.
    single = np.concatenate([clf.predict(crops[i : i + 1]) for i in range(7)])
    assert np.allclose(probs, single, atol=1e-6)


def test_crops_of_other_sizes_and_colour_are_converted(contract_model: Path) -> None:
    clf = OnnxClassifier(contract_model)
    rng = np.random.default_rng(1)
    assert clf.predict(rng.integers(0, 255, (2, 96, 96), dtype=np.uint8)).shape == (2, 7)
    assert clf.predict(rng.integers(0, 255, (2, 30, 30, 3), dtype=np.uint8)).shape == (2, 7)


@pytest.mark.parametrize(
    ("crops", "message"),
    [
        (np.zeros((2, 48, 48), np.float32), "uint8"),
        (np.zeros((2, 48, 48, 4), np.uint8), "shape"),
        (np.zeros((48, 48), np.uint8), "shape"),
        (np.zeros((1, 4, 4), np.uint8), "at least 8x8"),
    ],
)
def test_bad_crops(contract_model: Path, crops: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxClassifier(contract_model).predict(crops)


def test_logits_models_are_softmaxed(tmp_path: Path) -> None:
    clf = OnnxClassifier(make_contract_model(tmp_path / "logits.onnx", output="logits"))
    probs = clf.predict(np.full((3, 48, 48), 200, np.uint8))
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_rounded_probabilities_are_rescaled(tmp_path: Path) -> None:
    """An INT8 model's probabilities move in steps of 1/255 and need not sum to exactly 1."""
    crops = np.random.default_rng(1).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    exact = OnnxClassifier(make_contract_model(tmp_path / "exact.onnx")).predict(crops)
    rounded = OnnxClassifier(make_contract_model(tmp_path / "rounded.onnx", output_gain=0.9)).predict(crops)
    assert np.allclose(rounded, exact, atol=1e-6)
    broken = OnnxClassifier(make_contract_model(tmp_path / "zero.onnx", output_gain=0.0))
    with pytest.raises(ModelError, match="not probabilities"):
        broken.predict(crops)


def test_missing_metadata(tmp_path: Path, contract_model: Path) -> None:
    lone = tmp_path / "lone.onnx"
    shutil.copy(contract_model, lone)
    with pytest.raises(ModelError, match="no metadata beside the model"):
        OnnxClassifier(lone)


def test_label_order_must_be_canonical(tmp_path: Path) -> None:
    labels = list(reversed(LABELS))
    with pytest.raises(ModelError, match="differ from the canonical order"):
        OnnxClassifier(make_contract_model(tmp_path / "rev.onnx", labels=labels))


def test_malformed_metadata(tmp_path: Path, contract_model: Path) -> None:
    bad = tmp_path / "bad.onnx"
    shutil.copy(contract_model, bad)
    bad.with_suffix(".json").write_text(json.dumps({"format": FORMAT, "labels": list(LABELS)}))
    with pytest.raises(ModelError, match="malformed model metadata"):
        load_metadata(bad)
    bad.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="unreadable metadata"):
        load_metadata(bad)


def test_metadata_input_must_match_the_graph(tmp_path: Path, contract_model: Path) -> None:
    path = tmp_path / "m.onnx"
    shutil.copy(contract_model, path)
    meta = json.loads(contract_model.with_suffix(".json").read_text())
    meta["input"]["size"] = [64, 64]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="does not match the metadata"):
        OnnxClassifier(path)


def test_corrupt_model_file(tmp_path: Path, contract_model: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x00garbage" * 10)
    shutil.copy(contract_model.with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ModelError, match="cannot load the model"):
        OnnxClassifier(path)
    with pytest.raises(ModelError, match="no such model file"):
        OnnxClassifier(tmp_path / "absent.onnx")


def test_metadata_round_trip() -> None:
    meta = ModelMetadata(name="x", labels=LABELS, input_size=(48, 48), crop=CropSpec(scale=1.2, shift_y=0.05))
    again = ModelMetadata.from_dict(meta.to_dict())
    assert again == meta
    with pytest.raises(ValueError, match="crop scale"):
        CropSpec(scale=10)


def test_fake_classifier() -> None:
    fake = FakeClassifier(expression=Expression.SAD)
    probs = fake.predict(np.zeros((3, 48, 48), np.uint8))
    assert probs.shape == (3, 7) and probs.argmax(axis=1).tolist() == [4, 4, 4]
    with pytest.raises(ValueError):
        FakeClassifier(np.ones(7))


def test_shipped_default_model_follows_the_contract() -> None:
    path = default_model_path()
    meta = load_metadata(path)
    assert meta.labels == LABELS
    assert path.stat().st_size < 20 * 2**20
    clf = default_classifier()
    probs = clf.predict(np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8))
    assert probs.shape == (4, 7)
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
