"""Shot-cut detection: has the picture changed to another shot since the last frame?

The measure is PySceneDetect's ``ContentDetector`` (the mean absolute change of hue, saturation
and value between consecutive frames, threshold 27 on a 0-255 scale), computed here on a
thumbnail. PySceneDetect itself is not a dependency: its wheel requires ``opencv-python``, which
would install a second cv2 beside moodlens's ``opencv-python-headless`` (the two share files and
break each other); the measure is a few lines. Measured on the tracking benchmark's clips and the
real singer clip (docs/realtime.md): every hard cut found, no cut reported inside a shot.

A cut must also be ``min_gap_ms`` after the previous one, so a flash or a fast pan that trips the
threshold for a few frames counts once at most.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

#: Thumbnail width: the measure is a mean over the frame, so a thumbnail gives the same value for
#: a tiny fraction of the cost (about 0.2 ms a frame at 1080p).
THUMB_WIDTH = 96


@dataclass(frozen=True)
class CutSettings:
    threshold: float = 27.0
    min_gap_ms: float = 300.0

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 255:
            raise ValueError("cut threshold must lie in (0, 255]")
        if self.min_gap_ms < 0:
            raise ValueError("min_gap_ms must be >= 0")


def thumbnail_hsv(image: npt.NDArray[np.uint8]) -> npt.NDArray[np.int16]:
    height, width = image.shape[:2]
    size = (THUMB_WIDTH, max(1, round(height * THUMB_WIDTH / max(width, 1))))
    if width > 4 * THUMB_WIDTH:
        # Area-averaging a whole 1080p frame costs ~4 ms; sampling it down to 4x the thumbnail
        # first (bilinear) and averaging that costs ~0.2 ms, for the same mean-based score.
        between = (4 * THUMB_WIDTH, max(1, round(height * 4 * THUMB_WIDTH / width)))
        image = np.asarray(cv2.resize(image, between, interpolation=cv2.INTER_LINEAR), dtype=np.uint8)
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2HSV), dtype=np.int16)


def content_change(a: npt.NDArray[np.int16], b: npt.NDArray[np.int16]) -> float:
    """PySceneDetect's content score, the mean over H, S and V of the mean absolute difference,
    with two corrections: hue is an angle (179 and 0 are neighbours), and a hue change counts only
    as much as the pixel is saturated (the hue of a gray or dark pixel is noise: a compressed black
    frame next to a dark gray one otherwise scores as a cut)."""
    if a.shape != b.shape:
        return 255.0
    hue = np.abs(a[..., 0] - b[..., 0])
    hue = np.minimum(hue, 180 - hue) * (255.0 / 90.0)  # 0..90 degrees-of-180 -> 0..255
    weight = np.minimum(a[..., 1], b[..., 1]) / 255.0
    sat = np.abs(a[..., 1] - b[..., 1])
    val = np.abs(a[..., 2] - b[..., 2])
    return float(((hue * weight).mean() + sat.mean() + val.mean()) / 3.0)


class ShotCutDetector:
    """Feed frames in order; :meth:`update` says whether a new shot starts at this frame."""

    def __init__(self, settings: CutSettings | None = None) -> None:
        self.settings = settings or CutSettings()
        self._previous: npt.NDArray[np.int16] | None = None
        self._last_cut_ms = -float("inf")
        self.last_score = 0.0
        self.cuts: list[float] = []

    def update(self, image: npt.NDArray[np.uint8], timestamp_ms: float) -> bool:
        current = thumbnail_hsv(image)
        previous, self._previous = self._previous, current
        if previous is None:
            self.last_score = 0.0
            return False
        self.last_score = content_change(previous, current)
        if (
            self.last_score < self.settings.threshold
            or timestamp_ms - self._last_cut_ms < self.settings.min_gap_ms
        ):
            return False
        self._last_cut_ms = timestamp_ms
        self.cuts.append(timestamp_ms)
        return True
