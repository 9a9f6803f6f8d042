"""Options shared by the commands that analyse images, videos and cameras."""

from __future__ import annotations

import argparse
from typing import Any

from moodlens.images import DEFAULT_MAX_PIXELS


def add_analyzer_options(parser: argparse.ArgumentParser, *, min_face: int = 20) -> None:
    from moodlens.detection import DEFAULT_DETECTOR, DETECTORS

    group = parser.add_argument_group("detection and classification")
    group.add_argument(
        "--detector",
        default=DEFAULT_DETECTOR,
        choices=list(DETECTORS),
        help=f"face detector (default: {DEFAULT_DETECTOR})",
    )
    group.add_argument("--detector-model", metavar="PATH", help="model file for detectors that need one")
    group.add_argument(
        "--min-face",
        type=int,
        default=min_face,
        metavar="PX",
        help=f"smallest face side to report, in pixels (default: {min_face})",
    )
    group.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="minimum detector score 0..1 (default: the detector's calibrated value)",
    )
    group.add_argument("--max-faces", type=int, metavar="N", help="keep only the N most confident faces")
    group.add_argument("--model", metavar="PATH", help="classifier ONNX model (default: the shipped one)")
    group.add_argument("--threads", type=int, default=0, help="classifier threads (default: ONNX Runtime's)")
    group.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS)


def build_analyzer(args: argparse.Namespace) -> Any:
    """An Analyzer from the shared options (validation errors become ValueError messages)."""
    from moodlens.classification import OnnxClassifier, default_classifier
    from moodlens.detection import create_detector
    from moodlens.pipeline import Analyzer

    detector = create_detector(
        args.detector, min_face=args.min_face, threshold=args.threshold, model=args.detector_model
    )
    classifier = (
        OnnxClassifier(args.model, threads=args.threads)
        if args.model
        else default_classifier(threads=args.threads)
    )
    return Analyzer(detector, classifier, max_faces=args.max_faces, max_pixels=args.max_pixels)
