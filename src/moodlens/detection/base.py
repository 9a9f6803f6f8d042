"""The face-detector seam: ``detect(image) -> list[Detection]`` and the settings all backends share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.results import Detection


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces in a BGR uint8 image; boxes and landmarks are in that image's pixels."""

    name: str

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]: ...


@dataclass(frozen=True)
class DetectorSettings:
    """``min_face``: smallest face side in pixels to report; ``threshold``: minimum score;
    ``max_side``: the longest side the detector scans when that still keeps ``min_face`` faces
    above the network's own smallest detectable size (a speed knob for large photos)."""

    min_face: int = 20
    threshold: float = 0.6
    max_side: int = 640

    def __post_init__(self) -> None:
        if self.min_face < 1:
            raise ValueError(f"min_face must be >= 1 pixel, got {self.min_face}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {self.threshold}")
        if self.max_side < 32:
            raise ValueError(f"max_side must be >= 32, got {self.max_side}")


def scan_scale(height: int, width: int, settings: DetectorSettings, native_min: float) -> float:
    """How much to shrink an image before detection (<= 1).

    Shrinking speeds detection up roughly with the pixel count, but a face of ``min_face`` pixels
    must stay at least ``native_min`` pixels (the smallest face the network finds) after it.
    """
    longest = max(height, width)
    speed = settings.max_side / longest
    keep_small = native_min / settings.min_face
    return float(min(1.0, max(speed, keep_small)))


def shrink(image: npt.NDArray[np.uint8], scale: float) -> npt.NDArray[np.uint8]:
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def keep(detections: list[Detection], settings: DetectorSettings, height: int, width: int) -> list[Detection]:
    """Clip boxes to the image, drop those under the threshold or smaller than ``min_face``,
    and sort by score, best first."""
    out = []
    for det in detections:
        box = det.box.clipped(width, height)
        if box is None or det.score < settings.threshold:
            continue
        if max(det.box.width, det.box.height) < settings.min_face:
            continue
        out.append(Detection(box, det.score, det.landmarks))
    out.sort(key=lambda d: d.score, reverse=True)
    return out
