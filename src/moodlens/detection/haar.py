"""OpenCV's Haar cascade: a fallback only (AP 0.45-0.51 here, and slower than the CNNs)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.detection.base import DetectorSettings, keep, scan_scale, shrink
from moodlens.errors import ModelError
from moodlens.results import Box, Detection

NATIVE_MIN_FACE = 24.0


class HaarDetector:
    """Frontal faces only, no landmarks. The score is a monotone map of the cascade's level
    weight into 0..1 (``1 - exp(-w / 3)``), so the same threshold option applies."""

    name = "haar"

    def __init__(self, settings: DetectorSettings | None = None, cascade: str | Path | None = None) -> None:
        self.settings = settings or DetectorSettings(threshold=0.5)
        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
        path = Path(cascade) if cascade else cascades / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelError(f"{path}: cannot load the Haar cascade")

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        height, width = image.shape[:2]
        scale = scan_scale(height, width, self.settings, NATIVE_MIN_FACE)
        gray = cv2.equalizeHist(cv2.cvtColor(shrink(image, scale), cv2.COLOR_BGR2GRAY))
        min_side = max(int(NATIVE_MIN_FACE), round(self.settings.min_face * scale))
        rects, _, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=1.1,
            minNeighbors=5,
            minSize=(min_side, min_side),
            outputRejectLevels=True,
        )
        found = []
        for (x, y, w, h), weight in zip(rects, np.asarray(weights).reshape(-1), strict=True):
            score = float(1.0 - np.exp(-max(float(weight), 0.0) / 3.0))
            found.append(Detection(Box.from_xywh(x, y, w, h), score).scaled(1.0 / scale))
        return keep(found, self.settings, height, width)
