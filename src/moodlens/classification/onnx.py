"""The default classifier: an ONNX model run by ONNX Runtime, batched over all faces of a frame."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.classification.metadata import ModelMetadata, load_metadata
from moodlens.errors import ModelError
from moodlens.labels import NUM_CLASSES


def check_crops(crops: npt.NDArray[np.uint8]) -> int:
    """Validate a crop batch; return N."""
    if not isinstance(crops, np.ndarray):
        raise TypeError(f"crops must be a numpy array, got {type(crops).__name__}")
    if crops.dtype != np.uint8:
        raise ValueError(f"crops must be uint8, got {crops.dtype}")
    if crops.ndim == 3 or (crops.ndim == 4 and crops.shape[3] == 3):
        if crops.shape[1] < 8 or crops.shape[2] < 8:
            if crops.shape[0] == 0:
                return 0
            raise ValueError(f"crops must be at least 8x8 pixels, got {crops.shape[1]}x{crops.shape[2]}")
        return int(crops.shape[0])
    raise ValueError(f"crops must be (N,H,W) gray or (N,H,W,3) BGR, got shape {crops.shape}")


def _softmax(x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float32)


def prepare_batch(crops: npt.NDArray[np.uint8], metadata: ModelMetadata) -> npt.NDArray[np.float32]:
    """uint8 crops (N,H,W) gray or (N,H,W,3) BGR -> the model's float32 NCHW input: colour order
    and size as ``metadata`` says (calibration for INT8 uses it too, so it sees what inference sees)."""
    h, w = metadata.input_size
    gray_in = crops.ndim == 3
    colour = metadata.colour
    if gray_in and colour != "gray":
        crops = np.repeat(crops[..., None], 3, axis=3)
    elif not gray_in and colour == "gray":
        crops = np.stack([cv2.cvtColor(c, cv2.COLOR_BGR2GRAY) for c in crops])
    elif not gray_in and colour == "rgb":
        crops = crops[..., ::-1]
    if crops.shape[1:3] != (h, w):
        interp = cv2.INTER_AREA if crops.shape[1] > h else cv2.INTER_LINEAR
        crops = np.stack([cv2.resize(c, (w, h), interpolation=interp) for c in crops])
        if crops.ndim == 3 and colour != "gray":
            crops = crops[..., None]
    batch = crops.astype(np.float32)
    return batch[:, None] if batch.ndim == 3 else np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


class OnnxClassifier:
    """Runs a model that follows the moodlens contract (``model.onnx`` + ``model.json``)."""

    def __init__(self, model: str | Path, *, threads: int = 0, batch_size: int = 64) -> None:
        import onnxruntime as ort

        path = Path(model)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.path = path
        self.metadata: ModelMetadata = load_metadata(path)
        self.batch_size = batch_size
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for corrupt graphs
            raise ModelError(f"{path}: ONNX Runtime cannot load the model ({exc})") from None
        inputs = {i.name: i for i in self._session.get_inputs()}
        outputs = {o.name for o in self._session.get_outputs()}
        meta = self.metadata
        if meta.input_name not in inputs:
            raise ModelError(f"{path}: the graph has no input {meta.input_name!r} (it has {sorted(inputs)})")
        if meta.output_name not in outputs:
            raise ModelError(
                f"{path}: the graph has no output {meta.output_name!r} (it has {sorted(outputs)})"
            )
        shape = inputs[meta.input_name].shape
        expected = [meta.channels, *meta.input_size]
        fixed = [d if isinstance(d, int) else None for d in shape[1:]]
        if len(shape) != 4 or any(f is not None and f != e for f, e in zip(fixed, expected, strict=True)):
            raise ModelError(f"{path}: graph input shape {shape} does not match the metadata (N, {expected})")

    @functools.cached_property
    def sha256(self) -> str:
        """The model file's sha256, read once (profiles record which model their numbers belong to)."""
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        n = check_crops(crops)
        if n == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        return self.predict_prepared(prepare_batch(crops, self.metadata))

    def predict_prepared(
        self, batch: npt.NDArray[np.float32], *, calibrated: bool = True
    ) -> npt.NDArray[np.float32]:
        """Probabilities for a batch already in the model's input form (:func:`prepare_batch`'s
        output, or a training batch); ``calibrated=False`` leaves the stored temperature out."""
        n = len(batch)
        out = []
        meta = self.metadata
        for start in range(0, n, self.batch_size):
            (result,) = self._session.run(
                [meta.output_name], {meta.input_name: batch[start : start + self.batch_size]}
            )
            out.append(np.asarray(result, dtype=np.float32))
        if not out:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        probs = np.concatenate(out)
        if probs.shape != (n, NUM_CLASSES):
            raise ModelError(f"{self.path}: expected output (N, {NUM_CLASSES}), got {probs.shape}")
        temperature = meta.temperature if calibrated else 1.0
        if meta.offset:
            # The decision rule belongs to the model (it changes the arg-max); the temperature is
            # calibration, fitted after it, and left out with calibrated=False.
            offset = np.asarray(meta.offset, dtype=np.float32)
            logp = probs if meta.output == "logits" else np.log(np.clip(probs, 1e-12, None))
            return _softmax((logp + offset) / np.float32(temperature))
        if meta.output == "logits":
            return _softmax(probs / np.float32(temperature))
        # Quantized or half-precision models round their probabilities (an INT8 output moves in
        # steps of 1/255), so the rows no longer sum to exactly 1; rescale rather than reject.
        probs = np.clip(probs, 0.0, None)
        totals = probs.sum(axis=1, keepdims=True)
        if not np.all(np.isfinite(totals)) or np.any(totals <= 0):
            raise ModelError(f"{self.path}: the model returned rows that are not probabilities")
        probs = probs / totals
        if temperature != 1.0:
            probs = apply_temperature(probs, temperature)
        return np.asarray(probs, dtype=np.float32)


def apply_temperature(probs: npt.NDArray[np.float32], temperature: float) -> npt.NDArray[np.float32]:
    """``softmax(logits / T)`` from ``softmax(logits)``: log p differs from the logits by a per-row
    constant, so ``p ** (1/T)`` renormalised is exactly the tempered softmax."""
    logp = np.log(np.clip(probs, 1e-12, None)) / np.float32(temperature)
    return _softmax(logp.astype(np.float32))
