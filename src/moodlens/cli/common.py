"""Options shared by the commands that analyse images, videos and cameras."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from moodlens.cli.numbers import DAYS, THREADS, integer, number
from moodlens.images import DEFAULT_MAX_PIXELS


def add_analyzer_options(
    parser: argparse.ArgumentParser, *, min_face: int = 20, max_side: int = 640, threads: int = 0
) -> None:
    """The detector and classifier options. Streams use ``threads=1``: one frame's few faces
    are classified faster on one thread, and the other core decodes, detects or serves."""
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
        type=integer(1, 10_000),
        default=min_face,
        metavar="PX",
        help=f"smallest face side to report, in pixels (default: {min_face})",
    )
    group.add_argument(
        "--threshold",
        type=number(0, 1),
        metavar="T",
        help="minimum detector score 0..1 (default: the detector's calibrated value)",
    )
    group.add_argument(
        "--max-side",
        type=integer(32, 20_000),
        default=max_side,
        metavar="PX",
        help=f"longest side the detector scans, when --min-face allows (default: {max_side})",
    )
    group.add_argument(
        "--max-faces", type=integer(1, 10_000), metavar="N", help="keep only the N most confident faces"
    )
    add_model_option(group)
    group.add_argument(
        "--threads",
        type=THREADS,
        default=threads,
        help=f"classifier threads (0: ONNX Runtime's choice; default: {threads})",
    )
    group.add_argument(
        "--max-pixels", type=integer(1, 10**10), default=DEFAULT_MAX_PIXELS, help=argparse.SUPPRESS
    )


def add_model_option(group: Any) -> None:
    from moodlens.classification.registry import DEFAULT_MODEL_NAME, SHIPPED_MODELS

    group.add_argument(
        "--model",
        metavar="NAME|PATH",
        help=f"classifier: a shipped model ({', '.join(SHIPPED_MODELS)}) or an ONNX file with its JSON "
        f"(default: {DEFAULT_MODEL_NAME}; 'moodlens info' says what each was trained on)",
    )


def build_analyzer(args: argparse.Namespace) -> Any:
    """An Analyzer from the shared options (validation errors become ValueError messages)."""
    from moodlens.classification import load_classifier
    from moodlens.detection import create_detector
    from moodlens.pipeline import Analyzer

    detector = create_detector(
        args.detector,
        min_face=args.min_face,
        threshold=args.threshold,
        max_side=args.max_side,
        model=args.detector_model,
    )
    classifier = load_classifier(args.model, threads=args.threads)
    return Analyzer(detector, classifier, max_faces=args.max_faces, max_pixels=args.max_pixels)


def add_stream_settings(group: Any) -> None:
    """The tracking and smoothing settings (shared by ``video``, ``camera`` and ``batch``)."""
    from moodlens.pipeline.stream import StreamSettings

    every = StreamSettings().detect_every
    group.add_argument(
        "--detect-every",
        type=integer(1, 10_000),
        default=every,
        metavar="N",
        help="run the detector every N frames and follow faces in between; it also runs at every "
        f"shot cut and while a new face is not yet confirmed (default: {every}; 1: every frame)",
    )
    group.add_argument(
        "--classify-every-ms",
        type=number(0, 3_600_000),
        default=0.0,
        metavar="MS",
        help="classify a tracked face again only after MS of stream time, keeping its last "
        "probabilities in between (default: 0, every frame; ~100 saves most classifier time)",
    )
    group.add_argument(
        "--smoothing-ms",
        type=number(0, 3_600_000),
        default=300.0,
        metavar="MS",
        help="time constant of the probability smoothing (default: 300)",
    )
    group.add_argument(
        "--hysteresis",
        type=number(0, 0.99),
        default=0.1,
        help="margin a new label needs over the shown one (default: 0.1)",
    )


def add_stream_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("tracking, smoothing and outputs")
    group.add_argument(
        "--out",
        metavar="VIDEO",
        help="write the annotated video (.mp4, .m4v, .mov: MPEG-4; .avi, .mkv: MJPEG)",
    )
    group.add_argument("--timeline", metavar="FILE", help="one row per face per frame (.csv or .jsonl)")
    group.add_argument("--summary", metavar="FILE", help="per-track summary as JSON (also printed)")
    add_stream_settings(group)
    group.add_argument(
        "--link-people",
        action="store_true",
        help="link the tracks that show the same person (after a cut, after leaving and coming "
        "back) with a face-embedding model held in memory for this run only, and report per "
        "person (docs/responsible-use.md)",
    )
    group.add_argument("--no-bars", action="store_true", help="draw no probability bars")
    history = parser.add_argument_group("history (needs the [store] extra)")
    history.add_argument(
        "--db",
        nargs="?",
        const="default",
        metavar="URL",
        help="record the session in the history database (default: a SQLite file in "
        "your data folder; or any SQLAlchemy URL, e.g. postgresql+psycopg://...)",
    )
    history.add_argument(
        "--consent",
        action="store_true",
        help="confirm that the people filmed agreed to have their apparent expressions recorded",
    )
    history.add_argument(
        "--session-name",
        default="",
        type=_session_name,
        help="a name for the recorded session (at most 200 characters, no control characters)",
    )
    from moodlens.cli.profile import add_profile_option

    add_profile_option(history, streams=True)
    history.add_argument("--frame-rows", action="store_true", help="also store every frame (off by default)")
    history.add_argument(
        "--on-db-error",
        choices=("buffer", "stop"),
        default="buffer",
        help="when the database is locked or down: buffer (bounded) or stop cleanly",
    )
    history.add_argument(
        "--retention-days",
        type=DAYS,
        default=30.0,
        help="delete recorded sessions older than this many days (0 keeps all; default 30)",
    )


def build_stream(args: argparse.Namespace, analyzer: Any) -> Any:
    from moodlens.pipeline.smoothing import SmoothingSettings
    from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings

    settings = StreamSettings(
        detect_every=args.detect_every,
        classify_every_ms=args.classify_every_ms,
        smoothing=SmoothingSettings(time_constant_ms=args.smoothing_ms, hysteresis=args.hysteresis),
    )
    from moodlens.cli.profile import load_profile

    profile = load_profile(getattr(args, "profile", None), profile_db(args), analyzer.classifier)
    linker = None
    if getattr(args, "link_people", False):
        from moodlens.identity import OnnxFaceEmbedder
        from moodlens.pipeline.people import PeopleLinker

        linker = PeopleLinker(OnnxFaceEmbedder(threads=getattr(args, "threads", 1) or 1))
    return StreamAnalyzer(analyzer, settings, profile=profile, linker=linker)


def finish_people(stream: Any, writer: Any) -> list[Any]:
    """With ``--link-people``: the run's people (and their summaries), recorded in the history
    (once the writer has closed its session) as which track ids are one person; the embeddings
    are dropped here. Without it: empty."""
    if stream.linker is None:
        return []
    people: list[Any] = stream.people()
    stream.linker.close()
    if writer is not None and people:
        writer.close()
        if writer.error is None:
            writer.store.link_people(writer.session_id, [p.track_ids for p, _ in people])
    return people


def describe_person(person: Any, summary: Any) -> str:
    """``person 1 (tracks #1, #3): 4.8 s on screen, mostly apparent happy (...)``."""
    tracks = ", ".join(f"#{t}" for t in person.track_ids)
    said = summary.describe().split(": ", 1)[1]
    return f"person {person.person_id} (track{'s' if len(person.track_ids) > 1 else ''} {tracks}): {said}"


def profile_db(args: argparse.Namespace) -> str | None:
    """Where --profile looks: --db's URL, else the default database (also for a bare --db)."""
    db = getattr(args, "db", None)
    return None if db in (None, "default") else str(db)


def report_run(
    stats: Any,
    summaries: list[Any],
    summary_path: str | None,
    people: list[Any] | None = None,
    *,
    cut: bool = False,
    partial_from: int = 1,
) -> Path | None:
    """Print the per-track summary (per person with ``--link-people``) and the run's figures;
    write the JSON summary if asked and return where it is: a run ``cut`` short (Ctrl-C on a
    file) writes it as ``NAME.partial`` where a file is already at ``NAME``, never over it."""
    import json
    import sys

    if people:
        count = sum(len(p.track_ids) for p, _ in people)
        who = "person" if len(people) == 1 else "people"
        print(f"{len(people)} {who} ({count} track{'' if count == 1 else 's'})")
        for person, summary in people:
            print(describe_person(person, summary))
    else:
        for s in summaries:
            print(s.describe())
    figures = stats.to_dict()
    line = f"{figures['frames']} frames in {figures['wall_s']:.1f} s ({figures['fps']:.1f} FPS)"
    if stats.corrupt:
        line += f", {stats.corrupt} corrupt frame(s) skipped"
    if stats.dropped:
        line += f", {stats.dropped} frame(s) dropped to keep up"
    print(line, file=sys.stderr)
    if stats.missing:
        print(
            f"warning: the video ended {stats.missing} frame(s) before the end its container announces: "
            "the file is probably cut short (everything up to the cut was analysed)",
            file=sys.stderr,
        )
    if not summary_path:
        return None
    from moodlens.pipeline.sinks import reserve_partial, write_atomically

    data: dict[str, Any] = {"run": figures, "tracks": [s.to_dict() for s in summaries]}
    if people is not None and people:
        data["people"] = [
            {**summary.to_dict(), "person": person.person_id, "track_ids": list(person.track_ids)}
            for person, summary in people
        ]
    target = Path(summary_path)
    reserved = cut and target.exists()
    if reserved:
        target = reserve_partial(target, start=partial_from)  # never over an earlier run's
    try:
        write_atomically(target, json.dumps(data, indent=2) + "\n")
    except BaseException:
        if reserved:
            target.unlink(missing_ok=True)  # reserved, never written: no leftover
        raise
    return target


def partial_number(args: argparse.Namespace) -> int:
    """The number a stream run's partial files share (``.partial``, ``.partial-2``, ...): the
    first at which none of its outputs (video, timeline, summary) has a file of an earlier run."""
    from moodlens.pipeline.sinks import free_partial_number

    outputs = [(args.out, True), (args.timeline, False), (args.summary, False)]
    return free_partial_number([(path, keep) for path, keep in outputs if path])


def name_outputs(outputs: list[tuple[str, Path, Path | None]]) -> None:
    """Say where each output went, as (what, path asked for, where it is) triples: at its name,
    or beside an earlier result under a partial name (nothing for an output that kept nothing)."""
    import sys

    for what, path, where in outputs:
        if where == path:
            print(f"{what}: {path}", file=sys.stderr)
        elif where is not None:
            kept = f"{path} (an earlier result) is left as it was; this run's shorter one is {where}"
            print(f"interrupted: {kept}", file=sys.stderr)


def open_outputs(
    stack: Any,
    args: argparse.Namespace,
    info: Any,
    source_name: str,
    *,
    model: str | None = None,
    partial_from: int = 1,
) -> tuple[Any, list[Any], Any]:
    """The annotated-video sink, the per-result sinks (timeline, history) and the history writer,
    all registered on ``stack`` so that they close, in order, whatever happens; the files'
    partial names numbered from ``partial_from`` (:func:`partial_number`)."""
    import sys

    from moodlens.pipeline.sinks import TimelineSink, VideoSink

    video = None
    if args.out:
        size = (info.width, info.height)
        video = stack.enter_context(VideoSink(args.out, fps=info.fps, size=size, partial_from=partial_from))
    sinks: list[Any] = []
    if args.timeline:
        sinks.append(stack.enter_context(TimelineSink(args.timeline, partial_from=partial_from)))
    writer = None
    if args.db is not None:
        from moodlens.errors import extra_required

        with extra_required("store", "sqlalchemy", "alembic", "platformdirs"):
            from moodlens.store import HistoryStore, HistoryWriter, WriterSettings
        store = HistoryStore(args.db, create=True)  # recording with --consent may create it
        stack.callback(store.close)
        if store.created:
            print(f"created history database at {store.where}", file=sys.stderr)
        removed = store.apply_retention(args.retention_days)
        if removed:
            print(
                f"history: removed {removed} session(s) older than {args.retention_days:g} days",
                file=sys.stderr,
            )
        settings = WriterSettings(frame_rows=args.frame_rows, on_error=args.on_db_error)
        profile = getattr(args, "profile", None)
        writer = HistoryWriter.start(
            store,
            name=args.session_name,
            source=source_name,
            consent=args.consent,
            settings=settings,
            profile=None if profile is None else profile.name,
            model=model,
        )
        stack.callback(writer.close)
        sinks.append(writer)
        print(f"history: recording session {writer.session_id} in {store.where}", file=sys.stderr)
    return video, sinks, writer


def check_consent(args: argparse.Namespace, command: str) -> bool:
    """Recording history needs the explicit consent flag; prints why and returns False if missing."""
    import sys

    if args.db is not None and not args.consent:
        print(
            f"moodlens {command}: error: recording apparent expressions needs the consent of the people "
            "filmed; pass --consent to confirm you have it (see docs/responsible-use.md)",
            file=sys.stderr,
        )
        return False
    return True


def check_history(args: argparse.Namespace, command: str) -> bool:
    """Before any work: a new history database can be made where ``--db`` says (a SQLite file's
    folder must exist: a mistyped path is not silently created). Prints why and returns False."""
    import sys

    if args.db is None:
        return True
    from moodlens.errors import extra_required

    with extra_required("store", "sqlalchemy", "alembic", "platformdirs"):
        from moodlens.store.database import DatabaseNotFoundError, check_new_location, resolve_url
    try:
        check_new_location(resolve_url(args.db))
    except DatabaseNotFoundError as exc:
        print(f"moodlens {command}: error: {exc}", file=sys.stderr)
        return False
    return True


def report_writer(writer: Any) -> int:
    """Print what the history writer saved; 1 if it failed, else 0."""
    import sys

    if writer is None:
        return 0
    stats = writer.stats
    print(
        f"history: session {writer.session_id}: {stats.intervals} interval(s) in {stats.commits} commit(s)"
        + (f", {stats.dropped} row(s) dropped" if stats.dropped else ""),
        file=sys.stderr,
    )
    if writer.error is not None:
        print(f"history: error: {writer.error}", file=sys.stderr)
        return 1
    return 0


def _identity(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(device, inode) of an existing file: what ``os.path.samefile`` compares, so a symlink, a
    relative path or a hard link to a file is that file; None when there is nothing there."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def printable(text: str) -> str:
    """``text`` with control characters, line breaks and lone surrogates written as escapes, for
    a terminal: a name stored before names were checked must not drive it or fake a line."""
    import unicodedata

    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")
        else c
        for c in text
    )


def _session_name(text: str) -> str:
    """``--session-name``, checked as the store will check it, before any work."""
    from moodlens.names import check_session_name

    try:
        return check_session_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def output_clash(
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    apart: bool = True,
    partial: bool = True,
) -> str | None:
    """Why these outputs cannot be written, or None: an output that is an input (by
    ``os.path.samefile``'s test when both exist), with ``partial`` an output whose partial name
    (:func:`moodlens.pipeline.sinks.partial_path`, where it is written until complete) is an
    input, or (with ``apart``) two outputs that are one file. ``outputs`` are (option, path)
    pairs; a None path is an output not asked for."""
    sources: dict[tuple[int, int], str] = {}
    for source in inputs:
        identity = _identity(source)
        if identity is not None:
            sources.setdefault(identity, str(source))
    seen: dict[Path, str] = {}
    for option, path in outputs:
        if path is None:
            continue
        identity = _identity(path)
        if identity is not None and identity in sources:
            where = "" if os.fspath(path) == sources[identity] else f" (the input {sources[identity]})"
            name = os.fspath(path)
            return f"{option} {name} is an input{where}: it would be overwritten; write to another file"
        # An output is written under a partial name until it is complete (clip.partial.mp4 for
        # clip.mp4): that name must not be an input either, or the first frame written truncates
        # it (an input salvaged from a killed run is named just so).
        for temporary in _partial_names(path) if partial else ():
            identity = _identity(temporary)
            if identity is not None and identity in sources:
                return (
                    f"{option} {os.fspath(path)} is written as {temporary} until it is complete, and "
                    f"{temporary} is an input ({sources[identity]}): it would be overwritten; "
                    "rename the input or write to another file"
                )
        if not apart:
            continue
        try:
            resolved = Path(path).resolve()
        except (OSError, RuntimeError):  # a symlink loop: opening it will say so
            continue
        if resolved in seen:
            return f"{seen[resolved]} and {option} both name {os.fspath(path)}; give each output its own file"
        seen[resolved] = option
    return None


def clashes_with_database(command: str, out: str | None, url: str) -> bool:
    """True (after one line on stderr) when an export's ``--out`` names no file (a folder, ``x/``)
    or would overwrite the history database it is read from (``--out h.sqlite3 --db h.sqlite3``:
    every session and profile)."""
    if not out:
        return False
    import sys

    from moodlens.store.database import sqlite_file

    problem = _not_a_file_name([("--out", out)])
    if problem is not None:
        print(f"moodlens {command}: error: {problem}", file=sys.stderr)
        return True
    database = sqlite_file(url)
    problem = output_clash([("--out", out)], [database] if database else [], partial=False)
    if problem is not None:
        print(f"moodlens {command}: error: {problem} (the history database)", file=sys.stderr)
    return problem is not None


def confirmed(command: str, yes: bool, question: str, *, declined: str) -> int | None:
    """Ask ``question`` before a change that cannot be undone: None to go on, else the exit status
    (2: no terminal to ask and no ``--yes``, after one line on stderr; 1: declined, after
    ``declined``). Without a terminal nothing is assumed: a script must say ``--yes``."""
    import sys

    if yes:
        return None
    if not sys.stdin.isatty():
        print(f"moodlens {command}: error: pass --yes to confirm (no terminal to ask)", file=sys.stderr)
        return 2
    if input(f"{question}? [y/N] ").strip().lower() not in ("y", "yes"):
        print(declined)
        return 1
    return None


def export(command: str, out: str | None, url: str, read: Callable[[], str]) -> int:
    """Write what ``read`` returns to ``out`` (standard output when None): the checks on ``out``
    come before anything is read, its folder is made only once there is something to write (an
    unknown session or profile makes none), and a file already there is replaced only whole."""
    import sys

    if clashes_with_database(command, out, url):
        return 2
    text = read()
    text = text if text.endswith("\n") else text + "\n"  # a file and the terminal get the same bytes
    if not out:
        sys.stdout.write(text)
        return 0
    from moodlens.pipeline.sinks import write_atomically

    folder = Path(out).parent
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # the deepest first
    if not make_output_folders(command, [("--out", out)]):
        return 2
    try:
        write_atomically(Path(out), text)
    except OSError:
        # A write that fails (a full disk, a quota) leaves what it found: the folders this command
        # made for it go too, when nothing else has been put in them meanwhile.
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    print(f"wrote {out}", file=sys.stderr)
    return 0


def _partial_names(path: str | os.PathLike[str]) -> tuple[Path, ...]:
    from moodlens.pipeline.sinks import partial_path

    target = Path(path)
    return (partial_path(target), partial_path(target, keep_suffix=True))


def _not_a_file_name(outputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> str | None:
    """Why one of ``outputs`` names no file a command can write (a folder, ``.``, ``name/``), or None:
    said before any work rather than when the file is written, the summary only at the end."""
    for option, path in outputs:
        if path is None:
            continue
        name = os.fspath(path)
        if Path(name).name in ("", ".", "..") or name.endswith(("/", os.sep)) or Path(name).is_dir():
            return f"{option} {name} is a folder; name a file in it"
    return None


def check_outputs(
    command: str,
    outputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    inputs: Iterable[str | os.PathLike[str]],
) -> bool:
    """Refuse, before any work, outputs of a kind the command cannot write (an annotated video
    as .txt, a timeline as .xlsx) or that would overwrite an input or each other: prints one line
    and returns False (the command then exits with status 2, as for any other usage error)."""
    import sys

    from moodlens.pipeline.sinks import TIMELINE_SUFFIXES, VIDEO_SUFFIXES

    outputs = list(outputs)
    kinds = {"--out": ("annotated video", VIDEO_SUFFIXES), "--timeline": ("timeline", TIMELINE_SUFFIXES)}
    problem = _not_a_file_name(outputs)
    if problem is None:
        problem = output_clash(outputs, inputs)  # first: an input at stake is what matters most
    for option, path in outputs if problem is None else ():
        if path is not None and option in kinds and Path(path).suffix.lower() not in kinds[option][1]:
            what, suffixes = kinds[option]
            problem = f"{option} {os.fspath(path)}: the {what} must end in {', '.join(suffixes)}"
            break
    if problem is not None:
        print(f"moodlens {command}: error: {problem}", file=sys.stderr)
        return False
    return True


def make_output_folders(command: str, outputs: Iterable[tuple[str, str | os.PathLike[str] | None]]) -> bool:
    """Make the folders the outputs go into, before any work, as ``image --out`` does: a summary
    whose folder is missing would otherwise fail only once the whole video has been read. Prints
    one line and returns False (exit status 2) for a folder that cannot be made or written into."""
    import sys

    for option, path in outputs:
        if path is None:
            continue
        folder = Path(path).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot create the folder {folder} ({exc.strerror or exc})"
        else:
            if os.access(folder, os.W_OK | os.X_OK):
                continue
            problem = f"cannot write into the folder {folder} (permission denied)"
        print(f"moodlens {command}: error: {option} {os.fspath(path)}: {problem}", file=sys.stderr)
        return False
    return True


def stream_outputs(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """The files ``video`` and ``camera`` write, as (option, path) pairs."""
    return [("--out", args.out), ("--timeline", args.timeline), ("--summary", args.summary)]


def stream_inputs(args: argparse.Namespace, source: str) -> list[str | Path]:
    """What ``video`` and ``camera`` outputs must not overwrite: the source, and the history
    database (``--timeline h.sqlite3 --db h.sqlite3`` would replace it)."""
    database = history_file(args.db)
    return [source] if database is None else [source, database]


def history_file(db: str | None) -> Path | None:
    """The SQLite file a ``--db`` value names (None: no --db, another backend, or no [store])."""
    if db is None:
        return None
    try:
        from moodlens.store.database import resolve_url, sqlite_file
    except ImportError:  # the command itself says which extra is missing
        return None
    return sqlite_file(resolve_url(None if db == "default" else db))
