"""``moodlens batch``: analyse archives of photos and videos into a Parquet dataset."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from moodlens.cli.numbers import integer, number


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "batch",
        help="analyse archives of photos and videos into a Parquet dataset (local cores or Ray)",
        description="Analyse files, folders, globs or manifests (CSV/text lists of paths or URLs) of photos "
        "and videos, with the same settings and results as 'moodlens image' and 'moodlens video', into a "
        "Parquet dataset in --out: faces/ (one row per face per frame), tracks/ (per video, one row per "
        "person), status.parquet (done / failed with the reason / skipped). Re-running the same command "
        "skips what is done; long videos are cut into segments processed in parallel and joined. Needs "
        "the [batch] extra, and [ray] for --engine ray.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs or manifests")
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="the dataset folder (created if needed; an existing one must be empty or a dataset of "
        "moodlens batch, which this run resumes)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write the dataset into a folder that holds other files (they are left alone)",
    )
    parser.add_argument(
        "--engine", choices=("local", "ray"), default="local", help="where to run (default: local)"
    )
    parser.add_argument(
        "--address",
        default=None,
        help="with --engine ray: auto, HOST:PORT or ray://HOST:PORT, a running cluster that must answer "
        "within 10 s (default: a private Ray instance on this machine)",
    )
    parser.add_argument(
        "--workers",
        type=integer(1, 10_000),
        default=None,
        help="worker processes / Ray actors (default: one per CPU core)",
    )
    parser.add_argument(
        "--segment-s",
        type=number(1, 86_400),
        default=120.0,
        metavar="S",
        help="cut videos longer than S seconds into segments of S seconds (default 120)",
    )
    parser.add_argument(
        "--overlap-s",
        type=number(0, 60),
        default=2.0,
        metavar="S",
        help="each segment is analysed from S seconds before its start, to join tracks (default 2)",
    )
    parser.add_argument("--retry-failed", action="store_true", help="redo the items that failed before")
    parser.add_argument(
        "--content-hash",
        action="store_true",
        help="identify files by a hash of their bytes (default: path, size, time)",
    )
    from moodlens.cli.common import add_analyzer_options, add_stream_settings
    from moodlens.cli.profile import DB_HELP, parse_profile

    add_analyzer_options(parser, threads=1)
    add_stream_settings(parser.add_argument_group("videos (as moodlens video)"))
    personal = parser.add_argument_group("personal profile (needs the [store] extra)")
    personal.add_argument(
        "--profile",
        type=parse_profile,
        metavar="NAME[@N]",
        help="read through a personal profile ('moodlens profile'): a photo's only face, or face N "
        "with NAME@N (a photo with several faces and no N keeps the model's reading and is reported); "
        "a video's main stable track, per segment. Both readings are kept (p_ and m_ columns)",
    )
    personal.add_argument("--db", metavar="URL", help=DB_HELP)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moodlens.errors import extra_required

    with extra_required("batch", "pyarrow"):
        import pyarrow  # noqa: F401  (fail now, not in a worker)
    from moodlens.batch import (
        AnalysisSettings,
        DatasetMismatchError,
        EngineError,
        LocalEngine,
        OutputFolderError,
        Progress,
        RayEngine,
        Segmenting,
        check_folder,
        expand,
        run_batch,
    )

    if args.overlap_s >= args.segment_s:
        print("moodlens batch: error: --overlap-s must be shorter than --segment-s", file=sys.stderr)
        return 2
    try:
        check_folder(Path(args.out), force=args.force)  # before any work
    except OutputFolderError as exc:
        print(f"moodlens batch: error: {exc}", file=sys.stderr)
        return 2
    settings = AnalysisSettings(
        detector=args.detector,
        detector_model=args.detector_model,
        min_face=args.min_face,
        threshold=args.threshold,
        max_side=args.max_side,
        max_faces=args.max_faces,
        model=args.model,
        detect_every=args.detect_every,
        classify_every_ms=args.classify_every_ms,
        smoothing_ms=args.smoothing_ms,
        hysteresis=args.hysteresis,
        threads=args.threads,
    )
    from moodlens.cli.common import profile_db
    from moodlens.cli.profile import load_profile

    try:
        analyzer = settings.analyzer()  # the models and settings are checked here, before any worker starts
        # Fitted once, here: workers get the fitted numbers with the settings, never the database.
        profile = load_profile(args.profile, profile_db(args), analyzer.classifier)
    except ValueError as exc:  # UsageError too: an unknown profile, no baseline for this model
        print(f"moodlens batch: error: {exc}", file=sys.stderr)
        return 2
    if profile is not None:
        settings = dataclasses.replace(settings, profile=profile, profile_face=args.profile.face)
    items, skipped = expand(args.inputs, content_hash=args.content_hash)
    if args.engine == "ray":
        with extra_required("ray", "ray"):
            import ray  # noqa: F401
        engine: Any = RayEngine(args.address, args.workers)
    else:
        engine = LocalEngine(args.workers or os.cpu_count() or 1)
    bar = None
    if sys.stderr.isatty():
        from tqdm.auto import tqdm

        bar = tqdm(total=0, unit="frame", dynamic_ncols=True)

    def progress(update: Progress) -> None:
        if bar is not None:
            bar.total = update.frames_total
            bar.n = update.frames_done
            name = Path(update.label.split(" [", maxsplit=1)[0]).name[-30:]
            bar.set_postfix_str(f"{update.items_done}/{update.items_total} items, {name}", refresh=False)
            bar.refresh()

    try:
        if isinstance(engine, RayEngine):
            engine.connect()  # an address where no cluster answers fails here, in seconds
        report = run_batch(
            items,
            Path(args.out),
            engine,
            settings,
            segmenting=Segmenting(args.segment_s, args.overlap_s),
            retry_failed=args.retry_failed,
            skipped_inputs=skipped,
            progress=progress,
            force=args.force,
        )
    except (DatasetMismatchError, OutputFolderError, EngineError) as exc:
        print(f"moodlens batch: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if bar is not None:
            bar.close()
        if isinstance(engine, RayEngine):
            engine.close()
    if report.interrupted:
        done = report.done + report.truncated + report.skipped_before
        failed = f", {report.failed} failed" if report.failed else ""
        segments = report.segments_kept
        kept = f" ({segments} finished segment(s) of long videos kept)" if segments else ""
        print(
            f"interrupted: {done} done{failed}, {report.left} left{kept}; run the same command to resume",
            file=sys.stderr,
        )
        return 130
    if report.upgraded:
        print(
            f"{report.upgraded} item(s) written by an earlier moodlens given the new columns (null)",
            file=sys.stderr,
        )
    truncated = f"{report.truncated} cut short, " if report.truncated else ""
    print(
        f"{report.items} item(s): {report.done} done, {truncated}{report.failed} failed, "
        f"{report.skipped_before} already done before, {report.skipped_inputs} input(s) skipped; "
        f"{report.frames} frames, {report.faces} faces in {report.seconds:.1f} s "
        f"({report.frames_per_second:.1f} frames/s, engine {engine.name})",
        file=sys.stderr,
    )
    if report.segments_reused:
        print(
            f"resumed from {report.segments_reused} segment(s) of long videos finished by an earlier run",
            file=sys.stderr,
        )
    for source, reason in skipped:
        print(f"  skipped {source}: {reason}", file=sys.stderr)
    for source, reason in report.failures:
        print(f"  failed {source}: {reason}", file=sys.stderr)
    for source, reason in report.truncations:
        print(f"  cut short {source}: {reason}", file=sys.stderr)
    for source, reason in report.notes:
        print(f"  {source}: {reason}", file=sys.stderr)
    print(f"dataset: {args.out} (faces/, tracks/, status.parquet)", file=sys.stderr)
    # As moodlens image: a photo the profile could not be applied to is reported, status 1; as
    # moodlens video: a video cut short too.
    return 1 if report.failed or skipped or report.notes or report.truncated else 0
