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
    assert "softmax, first convolution and last matrix product in float" in meta.training["quantization"]
    ops = {node.op_type for node in onnx.load(str(target)).graph.node}
    assert "QuantizeLinear" in ops

    faces = rng.integers(0, 255, (32, 48, 48), dtype=np.uint8)
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (raw,) = session.run(None, {"input": faces[:, None].astype(np.float32)})
    assert np.allclose(raw.sum(axis=1), 1.0, atol=1e-5)  # not rounded to steps of 1/255
    exact = OnnxClassifier(source).predict(faces)
    int8 = OnnxClassifier(target).predict(faces)
    assert np.abs(int8 - exact).max() < 0.05


def _conv_model(path: Path) -> Path:
    """Conv-ReLU x3, then two matrix products and a softmax, with the metadata of ``source``."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    inits, nodes, x = [], [], "input"
    for i, (cin, cout) in enumerate([(1, 4), (4, 8), (8, 8)]):
        inits.append(
            numpy_helper.from_array(rng.normal(0, 0.3, (cout, cin, 3, 3)).astype(np.float32), f"w{i}")
        )
        nodes += [
            helper.make_node(
                "Conv", [x, f"w{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1], name=f"conv{i}"
            ),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}"),
        ]
        x = f"r{i}"
    inits += [
        numpy_helper.from_array(rng.normal(0, 0.05, (8 * 6 * 6, 16)).astype(np.float32), "fc1"),
        numpy_helper.from_array(rng.normal(0, 0.3, (16, 7)).astype(np.float32), "fc2"),
        numpy_helper.from_array(np.array([1 / 255], np.float32), "k"),
    ]
    nodes = [helper.make_node("Mul", ["image", "k"], ["input"], name="scale"), *nodes]
    nodes += [
        helper.make_node("Flatten", [x], ["flat"], axis=1, name="flatten"),
        helper.make_node("MatMul", ["flat", "fc1"], ["h"], name="fc1"),
        helper.make_node("MatMul", ["h", "fc2"], ["logits"], name="fc2"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1, name="softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 1, 48, 48])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 7])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    meta = make_contract_model(path.with_name("meta.onnx")).with_suffix(".json").read_text()
    path.with_suffix(".json").write_text(meta.replace('"name": "input"', '"name": "image"'))
    return path


def test_int8_keeps_the_first_convolution_and_the_logits_in_float(tmp_path: Path) -> None:
    source = _conv_model(tmp_path / "conv.onnx")
    rng = np.random.default_rng(0)
    target = quantize_int8(source, tmp_path / "conv-int8.onnx", rng.integers(0, 255, (64, 48, 48), np.uint8))
    graph = onnx.load(str(target)).graph
    produced_by = {out: node for node in graph.node for out in node.output}

    def weight_is_int8(name: str) -> bool:
        node = next(n for n in graph.node if n.name == name)
        source_node = produced_by.get(node.input[1])
        return source_node is not None and source_node.op_type == "DequantizeLinear"

    assert [weight_is_int8(n) for n in ("conv0", "conv1", "conv2", "fc1", "fc2")] == [
        False,
        True,
        True,
        True,
        False,
    ]
    faces = rng.integers(0, 255, (16, 48, 48), dtype=np.uint8)
    exact = OnnxClassifier(source).predict(faces)
    assert np.abs(OnnxClassifier(target).predict(faces) - exact).max() < 0.05


def test_calibration_faces_are_resized_to_the_models_input(tmp_path: Path) -> None:
    """FER2013 faces are 48x48; the transfer networks take 96x96."""
    source = make_contract_model(tmp_path / "big.onnx", size=96)
    calibration = np.random.default_rng(0).integers(0, 255, (32, 48, 48), dtype=np.uint8)
    target = quantize_int8(source, tmp_path / "big-int8.onnx", calibration)
    assert OnnxClassifier(target).metadata.input_size == (96, 96)
