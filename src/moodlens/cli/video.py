"""``moodlens video``: track faces through a video file and follow their apparent expressions."""

from __future__ import annotations

import argparse
import sys
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

if TYPE_CHECKING:
    from moodlens.cli.interrupts import CalmWrapUp


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "video",
        help="analyse a video file: tracked faces, smoothed expressions, timeline",
        description="Process every frame of a video: faces get a stable track id, their expression "
        "probabilities are smoothed over time, and the results can be drawn into a new video and "
        "written as a per-frame timeline. Ctrl-C stops cleanly, keeping what was written (beside, "
        "not over, a complete earlier output of the same name).",
    )
    parser.add_argument("input", help="a video file (or a URL OpenCV can open)")
    parser.add_argument(
        "--full-source",
        action="store_true",
        help="with --db: record the video's full path as the session's source (default: its file name)",
    )
    add_stream_options(parser)
    add_analyzer_options(parser, threads=1)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moodlens.cli.interrupts import CalmWrapUp

    with CalmWrapUp() as calm:
        return _run(args, calm)


def _run(args: argparse.Namespace, calm: CalmWrapUp) -> int:
    from moodlens.errors import StoreError
    from moodlens.personal import model_id
    from moodlens.pipeline.runner import RunStats, run_stream
    from moodlens.pipeline.sinks import TimelineSink, VideoSink
    from moodlens.pipeline.sources import PrefetchReader, VideoSource
    from moodlens.render import default_annotator

    if not check_consent(args, "video") or not check_history(args, "video"):
        return 2
    from moodlens.cli.image import IMAGE_SUFFIXES

    if Path(args.input).suffix.lower() in IMAGE_SUFFIXES and Path(args.input).is_file():
        # OpenCV reads a photo as a video of one frame, too short for a track's summary.
        print(
            f"moodlens video: note: {args.input} is a photo, read as one frame; "
            f"'moodlens image {args.input}' describes its faces",
            file=sys.stderr,
        )
    if not check_outputs("video", stream_outputs(args), stream_inputs(args, args.input)):
        return 2
    try:
        analyzer = build_analyzer(args)
        stream = build_stream(args, analyzer)
    except ValueError as exc:
        print(f"moodlens video: error: {exc}", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        source = stack.enter_context(VideoSource(args.input))
        info = source.info
        # A file is decoded ahead on the second core; a live URL must not queue up (latency).
        frames = source if info.live else stack.enter_context(PrefetchReader(source))
        # The history keeps the file's name, not its path (user and folder names), unless asked.
        source_name = info.name if args.full_source else Path(info.name).name
        # Made once the source has opened and the settings were accepted: a refused run leaves
        # no empty folder behind; still before any frame is read.
        if not make_output_folders("video", stream_outputs(args)):
            return 2
        partial_no = partial_number(args)
        video, sinks, writer = open_outputs(
            stack,
            args,
            info,
            f"video {source_name}",
            model=model_id(analyzer.classifier),
            partial_from=partial_no,
        )
        progress = None
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            progress = stack.enter_context(tqdm(total=info.frame_count, unit="frame", dynamic_ncols=True))
        annotator = default_annotator(fps=True, bars=not args.no_bars) if video else None
        stopped = False
        try:
            stats = run_stream(
                frames, stream, annotator=annotator, video=video, sinks=sinks, progress=progress
            )
        except StoreError as exc:
            # The history gave up mid-way: what was written is kept, beside complete earlier
            # outputs rather than over them, and named below.
            calm.arm()
            print(f"moodlens video: stopped: {exc}", file=sys.stderr)
            stats, stopped = RunStats(interrupted=True), True
        calm.arm()  # the analysis is over: a Ctrl-C now must not cut the wrap-up short
        stats.corrupt = source.corrupt_frames
        stats.missing = source.missing_frames if source.cut_short else 0
        # Ctrl-C on a file cuts the run short (a live stream has no end: Ctrl-C is how it stops):
        # its shorter outputs must not replace complete ones of an earlier run.
        cut = stopped or (stats.interrupted and not info.live)
        files = [o for o in (video, *sinks) if isinstance(o, (VideoSink, TimelineSink))]
        if cut:
            for output in files:
                output.cut_short()
        people = [] if stopped else finish_people(stream, writer)
    # The files are named before the summary is written: a summary that cannot be written (a
    # full disk) must not hide where the rest went.
    name_outputs([("annotated video" if o is video else "timeline", o.path, o.where) for o in files])
    if stopped:
        return 1
    summary_at = report_run(stats, stream.summaries(), args.summary, people, cut=cut, partial_from=partial_no)
    failed = report_writer(writer)
    if summary_at is not None and args.summary:
        name_outputs([("summary", Path(args.summary), summary_at)])
    if stats.interrupted:
        print("interrupted: outputs were closed cleanly", file=sys.stderr)
        return 130
    return 1 if stats.missing else failed
