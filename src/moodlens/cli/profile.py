"""``moodlens profile``: a person's neutral baseline and corrections, kept as label-space numbers.

Also the ``--profile NAME[@N]`` option that ``image``, ``video``, ``camera``, ``batch`` and ``serve``
share: :func:`add_profile_option` and :func:`load_profile`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moodlens.cli.common import add_analyzer_options, build_analyzer
from moodlens.cli.numbers import number
from moodlens.labels import LABELS

DB_HELP = "database URL or SQLite file (default: $MOODLENS_DB, then history.sqlite3 in your data folder)"


class UsageError(ValueError):
    """Bad input from the user: one line on stderr, exit status 2, nothing written."""


def _add_db(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the action; the one after wins (SUPPRESS keeps it from
    # overwriting the one before with None).
    parser.add_argument("--db", metavar="URL", help=DB_HELP, default=None if top else argparse.SUPPRESS)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "profile",
        help="a person's neutral baseline and corrections (opt-in, label-space numbers only)",
        description=(
            "A profile learns one person's face: a neutral baseline (photos of them at rest) and "
            "corrections ('this photo shows surprise'). It keeps the model's 7 probabilities for "
            "each, never a face, crop, landmark or embedding, in the history database next to "
            "sessions. Use it with --profile NAME on image, video, camera, batch and serve. "
            "Needs the [store] extra."
        ),
    )
    _add_db(parser, top=True)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = actions.add_parser(name, help=help_text, description=help_text)
        _add_db(p, top=False)
        return p

    create = action("create", "create a profile (needs the person's consent)")
    create.add_argument(
        "name",
        help="1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or "
        "digit (no @: NAME@N names a face)",
    )
    create.add_argument(
        "--consent", action="store_true", help="the person agrees to a profile of their apparent expressions"
    )
    action("list", "list the profiles")
    show = action("show", "what a profile holds: baseline, corrections, last change")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print it as JSON")
    export = action("export", "export a profile and its samples as JSON")
    export.add_argument("name")
    export.add_argument("--out", help="file to write (default: standard output)")
    for verb, text in (
        ("delete", "delete a profile and everything derived from it (sessions keep their plain results)"),
        ("reset", "forget a profile's baseline and corrections, keep the profile"),
    ):
        p = action(verb, text)
        p.add_argument("name")
        p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    remove = action("remove", "remove one neutral photo or correction (ids from 'profile show')")
    remove.add_argument("name")
    remove.add_argument("sample", type=int, metavar="ID")

    neutral = action("neutral", "set the neutral baseline from photos, a camera or a stretch of video")
    neutral.add_argument("name")
    neutral.add_argument(
        "images", nargs="*", metavar="IMAGE", help="photos of the person at rest, one face each"
    )
    source = neutral.add_mutually_exclusive_group()
    source.add_argument("--camera", nargs="?", const="0", metavar="INDEX", help="read a camera (default 0)")
    source.add_argument("--video", metavar="FILE", help="read a stretch of a video file")
    neutral.add_argument(
        "--from", dest="start", type=number(0), default=0.0, metavar="S", help="start (seconds)"
    )
    neutral.add_argument("--to", dest="end", type=number(0), metavar="S", help="end (seconds; video)")
    neutral.add_argument(
        "--seconds",
        type=number(0.5, 60),
        default=3.0,
        metavar="S",
        help="camera: how long to look (default 3)",
    )
    add_analyzer_options(neutral)

    correct = action("correct", 'teach it: "this photo shows LABEL" (or --not: "it was not LABEL")')
    correct.add_argument("name")
    correct.add_argument("image", metavar="IMAGE")
    correct.add_argument("label", metavar="LABEL", help=f"one of {', '.join(LABELS)}")
    correct.add_argument("--not", dest="negative", action="store_true", help="the photo does NOT show LABEL")
    add_analyzer_options(correct)
    parser.set_defaults(func=run)


def _store(url: str | None, *, create: bool = False) -> Any:
    """The history store; only ``create`` makes a database that is not there (a read, a change of
    a profile or a failed command leaves no new file behind)."""
    from moodlens.errors import extra_required

    with extra_required("store", "sqlalchemy", "alembic", "platformdirs"):
        from sqlalchemy.exc import OperationalError

        from moodlens.store import HistoryStore
        from moodlens.store.database import display_url, resolve_url
    resolved = resolve_url(url)
    if not create and resolved.startswith("sqlite:///"):
        path = Path(resolved.removeprefix("sqlite:///"))
        if not path.exists():
            raise UsageError(
                f"no history database at {path} (moodlens profile create NAME --consent makes one; "
                "--db URL names another)"
            )
    try:
        return HistoryStore(resolved, create=create)
    except OperationalError as exc:
        raise UsageError(f"{display_url(resolved)}: cannot open the database: {exc.orig}") from None


def run(args: argparse.Namespace) -> int:
    from moodlens.errors import StoreError

    store = None
    try:
        if args.action == "create" and not args.consent:
            raise UsageError(
                "a profile keeps numbers about one person's apparent expressions; pass --consent to "
                "confirm they agree (see docs/responsible-use.md)"
            )
        store = _store(args.db, create=args.action == "create")
        return int(_ACTIONS[args.action](store, args))
    except (UsageError, KeyError, ValueError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"moodlens profile {args.action}: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:
        if store is not None:  # so the [store] extra is there (without it: MissingExtraError)
            from sqlalchemy.exc import SQLAlchemyError

            if isinstance(exc, SQLAlchemyError):
                # A read-only file or folder, a full disk, a database locked for too long...
                raise StoreError(f"{store.where}: {getattr(exc, 'orig', exc)}") from None
        raise
    finally:
        if store is not None:
            store.close()


def _confirmed(args: argparse.Namespace, what: str, where: str) -> int | None:
    from moodlens.cli.common import confirmed

    return confirmed(f"profile {args.action}", args.yes, f"{what} in {where}", declined="nothing changed")


def _create(store: Any, args: argparse.Namespace) -> int:
    info = store.create_profile(args.name, consent=True)
    print(f"created profile {info.name!r} in {store.where}")
    print(f"next: moodlens profile neutral {_quote(info.name)} PHOTO...  (photos of them at rest)")
    return 0


def _quote(name: str) -> str:
    return f"'{name}'" if " " in name else name


def _list(store: Any, args: argparse.Namespace) -> int:
    profiles = store.list_profiles()
    if not profiles:
        print(f"no profiles in {store.where}")
        return 0
    print(f"{'name':24}  {'baseline':8}  {'corrections':>11}  last changed (UTC)")
    for p in profiles:
        print(
            f"{p.name:24}  {'set' if p.neutral_samples else 'not set':8}  {p.corrections:>11}  "
            f"{p.last_changed:%Y-%m-%d %H:%M:%S}"
        )
    return 0


def _show(store: Any, args: argparse.Namespace) -> int:
    from moodlens.personal import Profile, Sample

    info = store.get_profile(args.name)
    samples = store.profile_samples(args.name)
    models = sorted({s.model for s in samples})
    fitted = {
        m: Profile.fit(info.name, [Sample.of(s) for s in samples if s.model == m]).state() for m in models
    }
    if args.json:
        print(
            json.dumps(
                {"profile": info.to_dict(), "fitted": fitted, "samples": [s.to_dict() for s in samples]},
                indent=2,
            )
        )
        return 0
    print(
        f"profile {info.name!r}: baseline {'set' if info.neutral_samples else 'not set'} "
        f"({info.neutral_samples} neutral sample(s)), {info.corrections} correction(s), "
        f"last changed {info.last_changed:%Y-%m-%d %H:%M:%S} UTC"
    )
    for model, state in fitted.items():
        shift = state["baseline_shift"]
        if shift:
            moved = ", ".join(f"{k} {v:+.2f}" for k, v in shift.items())
            print(f"  {model}: baseline shift of log-probabilities: {moved}")
    for s in samples:
        # A correction that says "neutral" is not part of the baseline: say which is which.
        what = "baseline" if s.kind == "neutral" else f"is {s.label}" if s.label else f"not {s.not_label}"
        print(f"  #{s.id}  {s.created_at:%Y-%m-%d %H:%M:%S}  {what:12}  {s.source}")
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    from moodlens.cli.common import export

    return export("profile export", args.out, store.url, lambda: store.export_profile(args.name))


def _delete(store: Any, args: argparse.Namespace) -> int:
    store.get_profile(args.name)
    code = _confirmed(args, f"delete profile {args.name!r} and everything derived from it", store.where)
    if code is not None:
        return code
    store.delete_profile(args.name)
    print(f"deleted profile {args.name!r} (sessions made with it keep their plain model results)")
    return 0


def _reset(store: Any, args: argparse.Namespace) -> int:
    store.get_profile(args.name)
    code = _confirmed(args, f"forget the baseline and corrections of {args.name!r}", store.where)
    if code is not None:
        return code
    store.reset_profile(args.name)
    print(f"profile {args.name!r} reset: no baseline, no corrections")
    return 0


def _remove(store: Any, args: argparse.Namespace) -> int:
    store.remove_profile_sample(args.name, args.sample)
    print(f"removed #{args.sample} from profile {args.name!r}")
    return 0


def _one_face(analyzer: Any, path: str) -> Any:
    from moodlens.errors import MoodlensError

    try:
        result = analyzer.analyze(path)
    except MoodlensError as exc:
        raise UsageError(str(exc)) from None
    if len(result.faces) != 1:
        raise UsageError(
            f"{path}: {len(result.faces) or 'no'} face{'s' if len(result.faces) != 1 else ''} found; "
            "a profile photo must show exactly one face, the person's"
        )
    return result.faces[0].probabilities


def _neutral(store: Any, args: argparse.Namespace) -> int:
    from moodlens.personal import model_id

    store.get_profile(args.name)
    if bool(args.images) + (args.camera is not None) + (args.video is not None) != 1:
        raise UsageError("give photos, or --camera, or --video FILE --from S --to S (one of them)")
    analyzer = build_analyzer(args)
    model = model_id(analyzer.classifier)
    if args.images:
        # Every photo is checked before anything is written: one bad photo writes nothing.
        readings = [(_one_face(analyzer, path), f"image:{Path(path).name}") for path in args.images]
    else:
        readings = [_stretch(analyzer, args)]
    ids = store.add_profile_samples(
        args.name, [new_sample("neutral", probs, model, source) for probs, source in readings]
    )
    total = sum(1 for s in store.profile_samples(args.name, model=model) if s.kind == "neutral")
    print(
        f"profile {args.name!r}: added {len(ids)} neutral sample(s) ({', '.join(s for _, s in readings)}); "
        f"the baseline is the mean of all {total} (model {model})"
    )
    for probs, source in readings:
        read = LABELS[int(probs.argmax())]
        if read != "neutral" and float(probs.max()) >= 0.8:
            print(f"  note: the model reads {source} as {read} {float(probs.max()):.0%}: the face at rest?")
    return 0


def _stretch(analyzer: Any, args: argparse.Namespace) -> tuple[Any, str]:
    """The mean reading of the one face in a few seconds of camera or video."""
    import numpy as np

    from moodlens.errors import MoodlensError
    from moodlens.pipeline.sources import VideoSource

    if args.video is not None:
        if args.end is None:
            raise UsageError("--video needs --to S: the end of the stretch to read, in seconds")
        if args.end <= args.start:
            raise UsageError(f"--to {args.end:g} must be after --from {args.start:g}")
        source: Any = args.video
        start_ms, end_ms = args.start * 1000, args.end * 1000
        where = f"video:{Path(args.video).name} {args.start:g}-{args.end:g} s"
    else:
        source = int(args.camera) if str(args.camera).isdigit() else args.camera
        start_ms, end_ms = 0.0, args.seconds * 1000
        where = f"camera {args.seconds:g} s"
        print(f"look at the camera with a neutral face for {args.seconds:g} s...", file=sys.stderr)
    try:
        readings, crowded, last_ms = _read_stretch(
            analyzer, VideoSource(source), args.video is None, start_ms, end_ms
        )
    except MoodlensError as exc:  # unreadable, empty or missing video, or no camera: bad input, exit 2
        raise UsageError(str(exc)) from None
    if args.video is not None and last_ms is not None and last_ms < end_ms:
        # A stretch past the end: said as such, and recorded as the seconds there were.
        length = f"the video's last frame is at {last_ms / 1000:.1f} s"
        if last_ms < start_ms:
            raise UsageError(f"{where}: {length}, before --from {args.start:g}")
        where = f"video:{Path(args.video).name} {args.start:g}-{last_ms / 1000:.1f} s ({length})"
    if not readings:
        extra = f" ({crowded} frame(s) had several faces)" if crowded else ""
        raise UsageError(f"{where}: no frame with exactly one face{extra}")
    mean = np.exp(np.mean(readings, axis=0))
    return mean / mean.sum(), f"{where}, {len(readings)} frame(s)"


def _read_stretch(
    analyzer: Any, video: Any, live: bool, start_ms: float, end_ms: float
) -> tuple[list[Any], int, float | None]:
    """The log-probabilities of frames with exactly one face in [start_ms, end_ms], how many
    frames had several, and the time of the last frame read (None: no frame; a camera's times
    count from its first frame)."""
    import numpy as np

    readings, crowded, first, last = [], 0, None, None
    with video as frames:
        for frame in frames:
            first = frame.timestamp_ms if first is None else first
            t = frame.timestamp_ms - (first if live else 0)
            last = t
            if t < start_ms:
                continue
            if t > end_ms:
                break
            faces = analyzer.analyze(frame.image).faces
            if len(faces) == 1:
                readings.append(np.log(np.clip(faces[0].probabilities, 1e-4, 1)))
            elif faces:
                crowded += 1
    return readings, crowded, last


def _correct(store: Any, args: argparse.Namespace) -> int:
    from moodlens.labels import Expression
    from moodlens.personal import model_id

    label = Expression.from_label(args.label).label  # ValueError: not one of the seven
    store.get_profile(args.name)
    analyzer = build_analyzer(args)
    probs = _one_face(analyzer, args.image)
    model = model_id(analyzer.classifier)
    sample = new_sample(
        "correction",
        probs,
        model,
        f"image:{Path(args.image).name}",
        label=None if args.negative else label,
        not_label=label if args.negative else None,
    )
    (sample_id,) = store.add_profile_samples(args.name, [sample])
    said = f"not {label}" if args.negative else label
    before = LABELS[int(probs.argmax())]
    print(f"profile {args.name!r}: #{sample_id} {Path(args.image).name} is {said} (the model read {before})")
    if not any(s.kind == "neutral" for s in store.profile_samples(args.name, model=model)):
        print(
            f"  note: no baseline yet, so --profile {_quote(args.name)} is refused until "
            f"'moodlens profile neutral {_quote(args.name)} PHOTO...'"
        )
    return 0


def new_sample(
    kind: Any, probs: Any, model: str, source: str, *, label: str | None = None, not_label: str | None = None
) -> Any:
    import numpy as np

    from moodlens.store.profiles import NewSample

    return NewSample(
        kind=kind,
        probabilities=np.asarray(probs, dtype=np.float64),
        label=label,
        not_label=not_label,
        model=model,
        source=source,
    )


_ACTIONS = {
    "create": _create,
    "list": _list,
    "show": _show,
    "export": _export,
    "delete": _delete,
    "reset": _reset,
    "remove": _remove,
    "neutral": _neutral,
    "correct": _correct,
}


# --- the --profile option of the analysing commands -----------------------------------------------


@dataclass(frozen=True)
class ProfileChoice:
    name: str
    #: The face it applies to, 0-based; None: the only face (photos) or the main track (streams).
    face: int | None


def parse_profile(text: str) -> ProfileChoice:
    name, sep, number_text = text.rpartition("@") if "@" in text else (text, "", "")
    if sep and not (number_text.isdigit() and int(number_text) >= 1):
        raise argparse.ArgumentTypeError(
            f"--profile NAME@N: N must be a face number from 1, got {number_text!r}"
        )
    if not name.strip():
        raise argparse.ArgumentTypeError("--profile needs a profile name")
    return ProfileChoice(name, int(number_text) - 1 if sep else None)


def add_profile_option(parser: Any, *, streams: bool = False) -> None:
    who = "the main stable track" if streams else "the only face, or face N with NAME@N"
    parser.add_argument(
        "--profile",
        type=parse_profile,
        metavar="NAME[@N]" if not streams else "NAME",
        help=f"read {who} through a personal profile ('moodlens profile'), looked up in $MOODLENS_DB or "
        "the default database"
        + (
            "; --db names another and also records the session (with --consent)"
            if streams
            else "; or in --db"
        ),
    )


def load_profile(choice: ProfileChoice | None, db: str | None, classifier: Any) -> Any:
    """The fitted profile for ``classifier``, or None without ``--profile``.

    Raises UsageError for an unknown profile, or one with nothing fitted for this model.
    """
    if choice is None:
        return None
    from moodlens.personal import Profile, Sample, model_id

    store = _store(db)
    try:
        try:
            # Its stored name ("Kasumi" for --profile kasumi): what outputs and datasets record.
            name = store.get_profile(choice.name).name
        except KeyError as exc:
            raise UsageError(exc.args[0] if exc.args else str(exc)) from None
        model = model_id(classifier)
        samples = store.profile_samples(name, model=model)
    finally:
        store.close()
    profile = Profile.fit(name, [Sample.of(s) for s in samples])
    if profile.baseline is None:
        raise UsageError(
            f"profile {name!r} has no baseline for model {model} yet: "
            f"moodlens profile neutral {_quote(name)} PHOTO... first"
        )
    return profile
