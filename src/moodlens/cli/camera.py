"""``moodlens camera``: live apparent expressions from a camera, with bounded latency."""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodlens.cli.common import (
    add_analyzer_options,
    add_stream_options,
    build_analyzer,
    build_stream,
    check_consent,
    check_history,
    check_outputs,
    finish_people,
    make_output_folders,
    name_outputs,
    open_outputs,
    partial_number,
    report_run,
    report_writer,
    stream_inputs,
    stream_outputs,
)
from moodlens.cli.numbers import number

WINDOW = "moodlens (q or Esc to quit)"

if TYPE_CHECKING:
    from moodlens.cli.interrupts import CalmWrapUp


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "camera",
        help="live apparent expressions from a camera (q or Esc quits)",
        description="Read a camera (or a stream URL) and show faces with tracked, smoothed apparent "
        "expressions live: in an OpenCV window when the installed OpenCV has one, otherwise in your "
        "browser (a page served on 127.0.0.1 with a private link, opened for you). Optionally record "
        "the annotated video and a timeline. When processing is slower than the camera, frames are "
        "dropped rather than queued. A visible indicator shows that the camera is in use.",
    )
    parser.add_argument("--device", default="0", help="camera index or stream URL (default: 0)")
    parser.add_argument(
        "--view",
        choices=("auto", "window", "browser", "none"),
        default="auto",
        help="where to show the live picture: auto (a window if OpenCV has one, else the browser; "
        "default), window, browser, or none",
    )
    parser.add_argument("--no-window", action="store_true", help="show no live picture (same as --view none)")
    parser.add_argument(
        "--no-open", action="store_true", help="with the browser view: print its link, do not open a browser"
    )
    parser.add_argument("--seconds", type=number(0, 10**9), help="stop after this many seconds")
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
    if "GUI" in cv2.getBuildInformation() and "NONE" in _gui_line(cv2.getBuildInformation()):
        return False, "this OpenCV build has no window support (the headless wheel moodlens installs)"
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False, "this OpenCV build has no window support (the headless wheel moodlens installs)"
    return True, ""


def _gui_line(build: str) -> str:
    for line in build.splitlines():
        if line.strip().startswith("GUI:"):
            return line.upper()
    return ""


def choose_view(args: argparse.Namespace) -> tuple[str, str]:
    """The live view to use (window, browser or none) and, when it is not the asked one, why."""
    if args.no_window or args.view == "none":
        return "none", ""
    if args.view == "browser":
        return "browser", ""
    has_window, why = window_available()
    if has_window:
        return "window", ""
    if args.view == "window":
        return "error", why
    return "browser", why


def run(args: argparse.Namespace) -> int:
    from moodlens.cli.interrupts import CalmWrapUp

    with CalmWrapUp() as calm:
        return _run(args, calm)


def _run(args: argparse.Namespace, calm: CalmWrapUp) -> int:
    import cv2

    from moodlens.errors import StoreError
    from moodlens.personal import model_id
    from moodlens.pipeline.preview import BrowserPreview
    from moodlens.pipeline.runner import RunStats, run_stream
    from moodlens.pipeline.sinks import TimelineSink
    from moodlens.pipeline.sources import LatestFrameReader, VideoSource
    from moodlens.render import default_annotator

    if not check_consent(args, "camera") or not check_history(args, "camera"):
        return 2
    if not check_outputs("camera", stream_outputs(args), stream_inputs(args, args.device)):
        return 2
    view, why = choose_view(args)
    if view == "error":
        print(f"moodlens camera: error: cannot open a window: {why}; use --view browser", file=sys.stderr)
        return 2
    show = view == "window"
    try:
        analyzer = build_analyzer(args)
        stream = build_stream(args, analyzer)
    except ValueError as exc:
        print(f"moodlens camera: error: {exc}", file=sys.stderr)
        return 2
    deadline = None if args.seconds is None else time.monotonic() + args.seconds

    preview: Any = None

    def on_frame(frame: Any, result: Any, drawn: Any) -> bool:
        if deadline is not None and time.monotonic() > deadline:
            return False
        if preview is not None:
            if drawn is not None:
                preview.show(drawn)
            return not preview.stop_requested
        if not show or drawn is None:
            return True
        cv2.imshow(WINDOW, drawn)
        key = cv2.waitKey(1) & 0xFF
        closed = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1
        return not (key in (ord("q"), 27) or closed)

    with ExitStack() as stack:
        source = stack.enter_context(VideoSource(args.device))
        info = source.info
        # Made once the source has opened and the settings were accepted: a refused run leaves
        # no empty folder behind; still before any frame is read or the live view opens.
        if not make_output_folders("camera", stream_outputs(args)):
            return 2
        print(
            f"camera {info.name} on: {info.width}x{info.height} at {info.fps:.0f} FPS; "
            "frames stay in memory and are never stored unless you pass --out",
            file=sys.stderr,
        )
        reader = LatestFrameReader(source)
        stack.callback(reader.close)
        if view == "browser":
            preview = stack.enter_context(BrowserPreview(title=f"camera {info.name}"))
            reason = f" ({why})" if why else ""
            print(f"live view{reason}: {preview.url}  (Stop on the page or Ctrl-C ends)", file=sys.stderr)
            if not args.no_open:
                import webbrowser

                webbrowser.open(preview.url)
        partial_no = partial_number(args)
        video, sinks, writer = open_outputs(
            stack,
            args,
            info,
            f"camera {info.name}",
            model=model_id(analyzer.classifier),
            partial_from=partial_no,
        )
        annotator = default_annotator(fps=True, bars=not args.no_bars)
        annotator.annotators = (*annotator.annotators, _CameraIndicator())
        stopped = False
        try:
            # depth 1: a live frame waits for detection at most one frame (bounded latency).
            stats = run_stream(
                reader, stream, annotator=annotator, video=video, sinks=sinks, on_frame=on_frame, depth=1
            )
        except StoreError as exc:
            calm.arm()
            print(f"moodlens camera: stopped: {exc}", file=sys.stderr)
            stats, stopped = RunStats(interrupted=True), True
        calm.arm()  # the analysis is over: a Ctrl-C now must not cut the wrap-up short
        stats.dropped = reader.dropped
        stats.corrupt = source.corrupt_frames
        if show:
            cv2.destroyAllWindows()
        people = [] if stopped else finish_people(stream, writer)
    print("camera off", file=sys.stderr)
    # A camera has no end of its own, so its outputs always replace earlier ones (Ctrl-C is how
    # it stops); they are named before the summary is written, which may fail on its own.
    named = [("annotated video", video), *[("timeline", s) for s in sinks if isinstance(s, TimelineSink)]]
    name_outputs([(what, o.path, o.where) for what, o in named if o is not None])
    if stopped:
        return 1
    summary_at = report_run(stats, stream.summaries(), args.summary, people, partial_from=partial_no)
    failed = report_writer(writer)
    if summary_at is not None and args.summary:
        name_outputs([("summary", Path(args.summary), summary_at)])
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
