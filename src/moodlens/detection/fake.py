"""A detector that returns fixed boxes: for tests and documentation examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from moodlens.results import Detection


class FakeDetector:
    """Returns the same detections for every image (clipped to it; ones fully outside dropped)."""

    name = "fake"

    def __init__(self, detections: Sequence[Detection] = ()) -> None:
        self.detections = tuple(detections)
        self.calls = 0

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        self.calls += 1
        height, width = image.shape[:2]
        out = []
        for det in self.detections:
            box = det.box.clipped(width, height)
            if box is not None:
                out.append(Detection(box, det.score, det.landmarks))
        return out
