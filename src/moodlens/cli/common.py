"""Options shared by the commands that analyse images, videos and cameras."""

from __future__ import annotations

import argparse
from typing import Any

from moodlens.images import DEFAULT_MAX_PIXELS


def add_analyzer_options(parser: argparse.ArgumentParser, *, min_face: int = 20, max_side: int = 640) -> None:
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
    group.add_argument(
        "--max-side",
        type=int,
        default=max_side,
        metavar="PX",
        help=f"longest side the detector scans, when --min-face allows (default: {max_side})",
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
        args.detector,
        min_face=args.min_face,
        threshold=args.threshold,
        max_side=args.max_side,
        model=args.detector_model,
    )
    classifier = (
        OnnxClassifier(args.model, threads=args.threads)
        if args.model
        else default_classifier(threads=args.threads)
    )
    return Analyzer(detector, classifier, max_faces=args.max_faces, max_pixels=args.max_pixels)


def add_stream_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tracking, smoothing and outputs")
    group.add_argument("--out", metavar="VIDEO", help="write the annotated video (.mp4 or .avi)")
    group.add_argument("--timeline", metavar="FILE", help="one row per face per frame (.csv or .jsonl)")
    group.add_argument("--summary", metavar="FILE", help="per-track summary as JSON (also printed)")
    group.add_argument(
        "--detect-every",
        type=int,
        default=1,
        metavar="N",
        help="run the detector every N frames and follow faces in between (default: 1)",
    )
    group.add_argument(
        "--smoothing-ms",
        type=float,
        default=300.0,
        metavar="MS",
        help="time constant of the probability smoothing (default: 300)",
    )
    group.add_argument(
        "--hysteresis",
        type=float,
        default=0.1,
        help="margin a new label needs over the shown one (default: 0.1)",
    )
    group.add_argument("--no-bars", action="store_true", help="draw no probability bars")


def build_stream(args: argparse.Namespace, analyzer: Any) -> Any:
    from moodlens.pipeline.smoothing import SmoothingSettings
    from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings

    settings = StreamSettings(
        detect_every=args.detect_every,
        smoothing=SmoothingSettings(time_constant_ms=args.smoothing_ms, hysteresis=args.hysteresis),
    )
    return StreamAnalyzer(analyzer, settings)


def report_run(stats: Any, summaries: list[Any], summary_path: str | None) -> None:
    """Print the per-track summary and the run's figures; write the JSON summary if asked."""
    import json
    import sys
    from pathlib import Path

    for s in summaries:
        top = sorted(s.shares.items(), key=lambda kv: -kv[1])[:3]
        shares = ", ".join(f"{name} {share:.0%}" for name, share in top if share > 0)
        print(
            f"track {s.track_id}: {s.duration_ms / 1000:.1f} s, {s.frames} frames, "
            f"mostly apparent {s.dominant} ({shares})"
        )
    figures = stats.to_dict()
    line = f"{figures['frames']} frames in {figures['wall_s']:.1f} s ({figures['fps']:.1f} FPS)"
    if stats.corrupt:
        line += f", {stats.corrupt} corrupt frame(s) skipped"
    if stats.dropped:
        line += f", {stats.dropped} frame(s) dropped to keep up"
    print(line, file=sys.stderr)
    if summary_path:
        data = {"run": figures, "tracks": [s.to_dict() for s in summaries]}
        Path(summary_path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
