"""YuNet (libfacedetection.train's own ONNX export) run by ONNX Runtime: the default detector.

The model file ships inside moodlens (``moodlens/models/yunet_s_dynamic.onnx``, Apache-2.0,
unmodified; see ``NOTICE`` and ``moodlens/models/LICENSE-yunet``). Its outputs are decoded as
OpenCV's ``FaceDetectorYN`` does: for each stride (8, 16, 32) and grid cell, the score is
``sqrt(cls * obj)``, the box centre is ``(cell + offset) * stride``, its size ``exp(log_size) *
stride``, and each of the 5 landmarks ``(cell + offset) * stride``; overlapping boxes are merged
by non-maximum suppression (IoU 0.3).

Why the ONNX model rather than the compiled wheel: on the same images it finds as many faces at
a third of the time per frame (docs/detection.md), ONNX Runtime releases the GIL, and its thread
count is ours to set.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.detection.base import DetectorSettings, keep, scan_scale, shrink
from moodlens.errors import ModelError
from moodlens.results import Box, Detection

MODEL_FILE = "yunet_s_dynamic.onnx"
STRIDES = (8, 16, 32)
NMS_IOU = 0.3
#: Smallest face (box side, pixels) the network finds reliably at its native scale: the compiled
#: wheel's value, so large frames are scanned at the same size as before (at 10, 1080p frames are
#: scanned smaller and 4.5% of the faces on pedestrians_1080p.mp4 are lost; docs/detection.md).
NATIVE_MIN_FACE = 12.0
#: Candidates kept before NMS (OpenCV keeps 5,000); more than any photo holds.
TOP_K = 2000


def default_model_path() -> Path:
    path = Path(str(resources.files("moodlens.models").joinpath(MODEL_FILE)))
    if not path.is_file():
        raise ModelError(f"the shipped YuNet model is missing ({path}); reinstall moodlens")
    return path


def _padded(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """NCHW float32 BGR, padded at the bottom and right to multiples of 32 (the network's need)."""
    h, w = image.shape[:2]
    ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
    blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
    blob[0, :, :h, :w] = image.transpose(2, 0, 1)
    return blob


def decode(
    outputs: dict[str, npt.NDArray[np.float32]], height: int, width: int, threshold: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Boxes (N,4 x1 y1 x2 y2), scores (N,) and landmarks (N,10) of every cell above ``threshold``,
    for an input of ``height`` x ``width`` (the padded size)."""
    boxes, scores, marks = [], [], []
    for stride in STRIDES:
        rows, cols = math.ceil(height / stride), math.ceil(width / stride)
        cls = np.clip(outputs[f"cls_{stride}"][0, :, 0], 0.0, 1.0)
        obj = np.clip(outputs[f"obj_{stride}"][0, :, 0], 0.0, 1.0)
        if len(cls) != rows * cols:
            raise ModelError(f"YuNet output cls_{stride} has {len(cls)} cells, expected {rows * cols}")
        score = np.sqrt(cls * obj)
        chosen = np.flatnonzero(score >= threshold)
        if chosen.size == 0:
            continue
        r, c = np.divmod(chosen, cols)
        bbox = outputs[f"bbox_{stride}"][0, chosen]
        kps = outputs[f"kps_{stride}"][0, chosen]
        cx, cy = (c + bbox[:, 0]) * stride, (r + bbox[:, 1]) * stride
        bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
        boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
        scores.append(score[chosen])
        grid = np.repeat(np.stack([c, r], axis=1), 5, axis=0).reshape(-1, 10)
        marks.append((kps + grid) * stride)
    if not boxes:
        empty = np.zeros((0, 4), np.float32)
        return empty, np.zeros(0, np.float32), np.zeros((0, 10), np.float32)
    return (
        np.concatenate(boxes).astype(np.float32),
        np.concatenate(scores).astype(np.float32),
        np.concatenate(marks).astype(np.float32),
    )


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou: float = NMS_IOU) -> list[int]:
    """Indices kept by greedy non-maximum suppression, best score first (OpenCV's implementation)."""
    if len(boxes) == 0:
        return []
    order = np.argsort(-scores)[:TOP_K]
    xywh = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes[order]]
    kept = cv2.dnn.NMSBoxes(xywh, scores[order].tolist(), 0.0, iou)
    return [int(order[i]) for i in np.asarray(kept).reshape(-1)]


class YuNetDetector:
    """The default detector: YuNet-s on ONNX Runtime, multi-face, with 5 landmarks."""

    name = "yunet"
    gives_landmarks = True

    def __init__(
        self, settings: DetectorSettings | None = None, *, model: str | Path | None = None, threads: int = 1
    ) -> None:
        """``threads``: ONNX Runtime intra-op threads (1 by default: the classifier, the decoder and
        the other pipeline stages share the cores, and one thread per stage scales best)."""
        import onnxruntime as ort

        self.settings = settings or DetectorSettings(threshold=0.6)
        self.model_path = Path(model) if model is not None else default_model_path()
        if not self.model_path.is_file():
            raise ModelError(f"{self.model_path}: no such YuNet model file")
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                str(self.model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own exception types for corrupt graphs
            raise ModelError(f"{self.model_path}: ONNX Runtime cannot load the model ({exc})") from None
        names = {o.name for o in self._session.get_outputs()}
        wanted = {f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES}
        if not wanted <= names:
            raise ModelError(f"{self.model_path}: not a YuNet model (outputs {sorted(names)})")
        self._outputs = sorted(wanted)

    def raw(self, image: npt.NDArray[np.uint8], threshold: float) -> list[Detection]:
        """Detections at the image's own scale, after NMS, before the size/threshold filter."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected a uint8 BGR image, got {image.dtype} {image.shape}")
        blob = _padded(image)
        values: list[Any] = self._session.run(self._outputs, {"input": blob})
        outputs = dict(zip(self._outputs, values, strict=True))
        boxes, scores, marks = decode(outputs, blob.shape[2], blob.shape[3], threshold)
        return [
            Detection(Box(*map(float, boxes[i])), float(min(1.0, scores[i])), marks[i])
            for i in nms(boxes, scores)
        ]

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        height, width = image.shape[:2]
        scale = scan_scale(height, width, self.settings, NATIVE_MIN_FACE)
        small = shrink(image, scale)
        if min(small.shape[:2]) < 16:
            return []
        found = self.raw(np.ascontiguousarray(small), self.settings.threshold)
        if scale < 1.0:
            found = [det.scaled(1.0 / scale) for det in found]
        return keep(found, self.settings, height, width)
