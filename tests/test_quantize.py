"""INT8 quantization of an exported model: the copy follows the contract, keeps its predictions
and returns probabilities that sum to 1 (the softmax stays in float)."""

from pathlib import Path

import numpy as np
import pytest

from conftest import make_contract_model
from moodlens.classification import OnnxClassifier, load_metadata

onnx = pytest.importorskip("onnx", reason="quantization needs the onnx package ([dev] or [train] extra)")

from moodlens.training.quantize import quantize_int8  # noqa: E402


def test_int8_copy_keeps_predictions_and_exact_probabilities(tmp_path: Path) -> None:
    import onnxruntime as ort

    source = make_contract_model(tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    calibration = rng.integers(0, 255, (64, 48, 48), dtype=np.uint8)
    target = quantize_int8(source, tmp_path / "model-int8.onnx", calibration)

    meta = load_metadata(target)
    assert meta.name == "model-int8"
    assert meta.metrics == {}  # the float model's scores are not the INT8 model's
    assert "softmax in float" in meta.training["quantization"]
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert "QuantizeLinear" in ops

    faces = rng.integers(0, 255, (32, 48, 48), dtype=np.uint8)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (raw,) = session.run(None, {"input": faces[:, None].astype(np.float32)})
    assert np.allclose(raw.sum(axis=1), 1.0, atol=1e-5)  # not rounded to steps of 1/255
    exact = OnnxClassifier(source).predict(faces)
    int8 = OnnxClassifier(target).predict(faces)
    assert np.abs(int8 - exact).max() < 0.05
