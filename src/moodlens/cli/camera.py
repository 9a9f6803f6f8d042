"""``moodlens camera``: live apparent expressions from a camera, with bounded latency."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from typing import Any

from moodlens.cli.common import (
    add_analyzer_options,
    add_stream_options,
    build_analyzer,
    build_stream,
    check_consent,
    open_outputs,
    report_run,
    report_writer,
)

WINDOW = "moodlens (q or Esc to quit)"


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "camera",
        help="live apparent expressions from a camera (q or Esc quits)",
        description="Read a camera (or a stream URL), show faces with tracked, smoothed apparent "
        "expressions in a window, and optionally record the annotated video and a timeline. "
        "When processing is slower than the camera, frames are dropped rather than queued. A "
        "visible indicator shows that the camera is in use.",
    )
    parser.add_argument("--device", default="0", help="camera index or stream URL (default: 0)")
    parser.add_argument("--no-window", action="store_true", help="do not open a window")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")
    add_stream_options(parser)
    add_analyzer_options(parser, min_face=40, max_side=320, threads=1)
    parser.set_defaults(func=run)


def window_available() -> tuple[bool, str]:
    """Whether OpenCV can open a window here, and why not."""
    import cv2

    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False, "no display (DISPLAY is not set)"
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False, (
            "this OpenCV build has no window support (opencv-python-headless); install opencv-python<5 "
            "instead, or watch in the browser with 'moodlens serve'"
        )
    return True, ""


def run(args: argparse.Namespace) -> int:
    import cv2

    from moodlens.pipeline.runner import run_stream
    from moodlens.pipeline.sources import LatestFrameReader, VideoSource
    from moodlens.render import default_annotator
    from moodlens.store.database import StoreError

    if not check_consent(args, "camera"):
        return 2
    show = not args.no_window
    if show:
        show, why = window_available()
        if not show:
            if not (args.out or args.timeline or args.summary or args.db):
                print(
                    f"moodlens camera: error: cannot open a window: {why}; pass --out, --timeline or "
                    "--summary to record without one",
                    file=sys.stderr,
                )
                return 2
            print(f"moodlens camera: no window ({why}); recording only", file=sys.stderr)
    try:
        analyzer = build_analyzer(args)
        stream = build_stream(args, analyzer)
    except ValueError as exc:
        print(f"moodlens camera: error: {exc}", file=sys.stderr)
        return 2
    deadline = None if args.seconds is None else time.monotonic() + args.seconds

    def on_frame(frame: Any, result: Any, drawn: Any) -> bool:
        if deadline is not None and time.monotonic() > deadline:
            return False
        if not show or drawn is None:
            return True
        cv2.imshow(WINDOW, drawn)
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        return not (key in (ord("q"), 27) or closed)

    with ExitStack() as stack:
        source = stack.enter_context(VideoSource(args.device))
        info = source.info
        print(
            f"camera {info.name} on: {info.width}x{info.height} at {info.fps:.0f} FPS; "
            "frames stay in memory and are never stored unless you pass --out",
            file=sys.stderr,
        )
        reader = LatestFrameReader(source)
        stack.callback(reader.close)
        video, sinks, writer = open_outputs(stack, args, info, f"camera {info.name}")
        annotator = default_annotator(fps=True, bars=not args.no_bars)
        annotator.annotators = (*annotator.annotators, _CameraIndicator())
        try:
            stats = run_stream(
                reader, stream, annotator=annotator, video=video, sinks=sinks, on_frame=on_frame
            )
        except StoreError as exc:
            print(f"moodlens camera: stopped: {exc}", file=sys.stderr)
            return 1
        stats.dropped = reader.dropped
        stats.corrupt = source.corrupt_frames
        if show:
            cv2.destroyAllWindows()
    print("camera off", file=sys.stderr)
    report_run(stats, stream.summaries(), args.summary)
    failed = report_writer(writer)
    return 130 if stats.interrupted else failed


class _CameraIndicator:
    """A red 'camera on' dot in the top-right corner: the camera is in use."""

    def annotate(self, frame: Any, result: Any) -> Any:
        import cv2

        w = frame.shape[1]
        r = max(6, w // 80)
        cv2.circle(frame, (w - 2 * r, 2 * r), r, (0, 0, 230), cv2.FILLED, cv2.LINE_AA)
        cv2.putText(
            frame,
            "CAMERA ON",
            (w - 2 * r - 10 * r, 2 * r + r // 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            r / 14,
            (0, 0, 230),
            max(1, r // 6),
            cv2.LINE_AA,
        )
        return frame
