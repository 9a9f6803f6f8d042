"""``moodlens history``: see, export, correct and delete the recorded expression history, and say
which tracks are one person (merge, split, rename with consent, hide)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from moodlens.cli.numbers import DAYS, MEDIA_MS, RECORD_ID, TRACK_ID


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "history",
        help="list, show, export, correct or delete recorded sessions; merge tracks into people",
        description="The history database holds, per session and tracked face, the apparent expressions "
        "over time (never images). These commands read, export and delete it. Needs the [store] extra.",
    )
    _add_db(parser, top=True)
    actions = _Actions(parser.add_subparsers(dest="action", metavar="ACTION", required=True))
    actions.add_parser("list", help="list the sessions")
    show = actions.add_parser("show", help="a session's tracks, distribution and valence index")
    show.add_argument("session", type=RECORD_ID)
    show.add_argument("--json", action="store_true", help="print the whole timeline as JSON")
    export = actions.add_parser("export", help="export a session (CSV or JSON)")
    export.add_argument("session", type=RECORD_ID)
    export.add_argument("--format", choices=("csv", "json"), default="json")
    export.add_argument("--out", help="file to write (default: standard output)")
    export.add_argument("--include-hidden", action="store_true", help="include the hidden tracks too")
    delete = actions.add_parser("delete", help="delete a session and everything recorded in it")
    delete.add_argument("session", type=RECORD_ID)
    delete.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete it even while it is still being recorded (the recording then loses what it has "
        "not saved yet)",
    )
    purge = actions.add_parser("purge", help="delete old sessions, or all of them")
    group = purge.add_mutually_exclusive_group(required=True)
    group.add_argument("--older-than", type=DAYS, metavar="DAYS", help="sessions older than DAYS days")
    group.add_argument("--all", action="store_true", help="every session")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    trends = actions.add_parser("trends", help="distribution and valence index per day or week")
    trends.add_argument("--period", choices=("day", "week", "session"), default="day")
    correct = actions.add_parser("correct", help='record a correction ("that was not sad")')
    correct.add_argument("session", type=RECORD_ID)
    where = "moodlens history show SESSION --json (or export SESSION) lists them"
    correct.add_argument(
        "--track",
        type=TRACK_ID,
        required=True,
        metavar="ID",
        help=f"the track (person) to correct: its track_id; {where}. Only the track read through the "
        "session's profile (its main track) teaches that profile",
    )
    correct.add_argument(
        "--start-ms",
        type=MEDIA_MS,
        required=True,
        metavar="MS",
        help="start of the stretch, in ms of media time from the session's start (the start_ms of "
        f"its intervals; {where})",
    )
    correct.add_argument(
        "--end-ms",
        type=MEDIA_MS,
        required=True,
        metavar="MS",
        help="end of the stretch, in ms of media time (>= --start-ms); it must overlap a recorded "
        "interval of the track",
    )
    correct.add_argument(
        "--not", dest="wrong", required=True, metavar="LABEL", help="the label that was wrong"
    )
    correct.add_argument("--is", dest="right", metavar="LABEL", help="the right label, if known")
    correct.add_argument("--note", default="")
    _register_people(actions)
    actions.add_parser("migrate", help="bring an older history database to the current schema")
    parser.set_defaults(func=run)


def _register_people(actions: _Actions) -> None:
    lists = "moodlens history people SESSION lists them"
    people = actions.add_parser(
        "people",
        help="a session's people: which tracks are one person, nicknames, hidden tracks",
        description="A tracker starts a new track whenever it loses a face, so one person can be "
        "several tracks. A person's number is its lowest track id; a track on its own is one person.",
    )
    people.add_argument("session", type=RECORD_ID)
    people.add_argument("--include-hidden", action="store_true", help="list hidden tracks' people too")
    people.add_argument("--json", action="store_true", help="print them as JSON")
    merge = actions.add_parser(
        "merge",
        help="merge tracks (and the people they belong to) into one person",
        description="Merge tracks into one person, numbered by its lowest track. Merging tracks that "
        "are already one person changes nothing; split undoes it.",
    )
    merge.add_argument("session", type=RECORD_ID)
    merge.add_argument(
        "tracks", type=TRACK_ID, nargs="+", metavar="TRACK", help=f"two or more tracks ({lists})"
    )
    split = actions.add_parser("split", help="undo a merge: a track becomes its own person again")
    split.add_argument("session", type=RECORD_ID)
    split.add_argument("track", type=TRACK_ID, metavar="TRACK")
    rename = actions.add_parser(
        "rename",
        help="give a person a nickname (with their consent), or remove it",
        description="The nickname is stored in this history database, with the session, and deleted "
        "with it. It is stored only with --consent: the person agreed to it.",
    )
    rename.add_argument("session", type=RECORD_ID)
    rename.add_argument("person", type=TRACK_ID, metavar="PERSON", help=f"the person's number ({lists})")
    rename.add_argument("name", nargs="?", metavar="NAME", help="the nickname (1-64 characters)")
    rename.add_argument(
        "--consent", action="store_true", help="the person agreed to this nickname being stored"
    )
    rename.add_argument("--clear", action="store_true", help="remove the person's nickname")
    hide = actions.add_parser(
        "hide",
        help="hide a track (a poster, a reflection) from people, summaries and exports",
    )
    hide.add_argument("session", type=RECORD_ID)
    hide.add_argument("track", type=TRACK_ID, metavar="TRACK")
    hide.add_argument("--unhide", action="store_true", help="show the track again")


DB_HELP = "database URL or SQLite file (default: $MOODLENS_DB, then history.sqlite3 in your data folder)"


def _add_db(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # Accepted before and after the action (as ``moodlens profile``); the one after wins
    # (SUPPRESS keeps an action without it from overwriting the one before with None).
    parser.add_argument("--db", metavar="URL", help=DB_HELP, default=None if top else argparse.SUPPRESS)


class _Actions:
    """The action subparsers, each also taking ``--db``."""

    def __init__(self, actions: Any) -> None:
        self._actions = actions

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = self._actions.add_parser(name, **kwargs)
        _add_db(parser, top=False)
        return parser


def _store(args: argparse.Namespace, *, migrate: bool = False) -> Any:
    """The history store; never creates a database (a read of a mistyped name is an error)."""
    from moodlens.errors import extra_required

    with extra_required("store", "sqlalchemy", "alembic", "platformdirs"):
        from moodlens.store import HistoryStore
        from moodlens.store.database import make_engine, require_existing, resolve_url
        from moodlens.store.database import migrate as run_migrations
    if migrate:
        url = resolve_url(args.db)
        require_existing(url)
        engine = make_engine(url)
        revision = run_migrations(engine)
        print(f"history schema is at revision {revision}")
        return HistoryStore(engine=engine)
    return HistoryStore(args.db, create=False)


def run(args: argparse.Namespace) -> int:
    from moodlens.errors import StoreError, extra_required

    with extra_required("store", "sqlalchemy", "alembic", "platformdirs"):
        from moodlens.store.database import DatabaseNotFoundError
    try:
        store = _store(args, migrate=args.action == "migrate")
    except DatabaseNotFoundError as exc:
        print(f"moodlens history {args.action}: error: {exc}", file=sys.stderr)
        return 2
    from sqlalchemy.exc import OperationalError

    try:
        return _ACTIONS[args.action](store, args)
    except OperationalError as exc:
        # A read-only file, a full disk, a database locked for longer than the wait...
        reason = str(exc.orig)
        if "readonly" in reason.replace(" ", "").lower():
            reason += "; the database file (or its folder) is read-only: check its permissions"
        raise StoreError(f"{store.where}: {reason}") from None
    finally:
        store.close()


def _length(session: Any) -> str:
    """A session's length in media time (what was recorded, not how long processing took)."""
    if session.ended_at is None:
        return "running"
    if session.interrupted:
        return "interrupted" if session.media_ms is None else f"{session.media_ms / 1000:.1f} s, cut"
    if session.media_ms is None:
        return "-"
    return f"{session.media_ms / 1000:.1f} s"


def _list(store: Any, args: argparse.Namespace) -> int:
    from moodlens.cli.common import printable

    sessions = store.list_sessions()
    if not sessions:
        print(f"no sessions in {store.where}")
        return 0
    header = f"{'id':>4}  {'started (UTC)':19}  {'length':>9}  {'people (tracks)':>15}  {'consent':7}"
    print(f"{header}  name / source")
    for s in sessions:
        people = f"{s.people} ({s.tracks})"
        print(
            f"{s.id:>4}  {s.started_at:%Y-%m-%d %H:%M:%S}  {_length(s):>9}  {people:>15}  "
            f"{'yes' if s.consent_given else 'no':7}  {printable(s.name) or '-'} / {printable(s.source)}"
        )
    return 0


def _show(store: Any, args: argparse.Namespace) -> int:
    from moodlens.cli.common import printable

    info = store.get_session(args.session)
    timeline = store.timeline(args.session)
    people = store.people(args.session)
    if args.json:
        print(
            json.dumps(
                {
                    "session": info.to_dict(),
                    "people": [p.to_dict() for p in people],
                    "intervals": [i.to_dict() for i in timeline],
                },
                indent=2,
            )
        )
        return 0
    print(
        f"session {info.id} {info.name!r} from {printable(info.source)}, "
        f"started {info.started_at:%Y-%m-%d %H:%M:%S} UTC, length {_length(info)}, {info.counts_text()}"
    )
    (bucket,) = store.distribution(period="session", session_id=args.session) or (None,)
    if bucket is None:
        print("nothing recorded")
        return 0
    top = sorted(bucket.dominant_shares.items(), key=lambda kv: -kv[1])
    print(
        f"{bucket.duration_ms / 1000:.1f} s of faces on screen; apparent (share of time): "
        + ", ".join(f"{k} {v:.0%}" for k, v in top if v >= 0.005)
    )
    print(
        f"valence index {bucket.valence:+.2f} (-1 .. +1; an index of apparent expressions, not a measurement)"
    )
    profiled = {i.track_id for i in timeline if i.profiled}
    profile = "a profile since deleted" if info.profile is None else f"profile {info.profile!r}"
    for person in people:
        # A track on its own, unnamed, reads as it always did ("track 3: ..."); a person of
        # several tracks, or named, as a person ("Person 3 (#3 #9): ...").
        lone = person.summary is not None and len(person.all_track_ids) == 1 and person.nickname is None
        text = person.summary.describe() if lone else person.describe()
        read = [t for t in person.track_ids if t in profiled]
        through = ""
        if read and (lone or read == list(person.track_ids)):
            through = f" (read through {profile})"
        elif read:
            which = f"{'tracks' if len(read) > 1 else 'track'} {', '.join(map(str, read))}"
            through = f" ({which} read through {profile})"
        print(f"  {text}{through}")
    return 0


def _export(store: Any, args: argparse.Namespace) -> int:
    from moodlens.cli.common import export

    return export(
        "history export",
        args.out,
        store.url,
        lambda: store.export(args.session, args.format, include_hidden=args.include_hidden),
    )


def _confirmed(args: argparse.Namespace, what: str, where: str) -> int | None:
    from moodlens.cli.common import confirmed

    return confirmed(
        f"history {args.action}", args.yes, f"delete {what} from {where}", declined="nothing deleted"
    )


def _delete(store: Any, args: argparse.Namespace) -> int:
    recorder = store.recording(args.session)
    if recorder is not None and not args.force:
        host, _, rest = recorder.partition(":")
        print(
            f"moodlens history delete: error: session {args.session} is still being recorded (process "
            f"{rest.partition(':')[0]} on {host}); stop that recording first, or pass --force to delete "
            "it anyway (the recording then loses what it has not saved)",
            file=sys.stderr,
        )
        return 2
    code = _confirmed(args, f"session {args.session} and everything recorded in it", store.where)
    if code is not None:
        return code
    store.delete_session(args.session)
    print(f"deleted session {args.session}")
    return 0


def _purge(store: Any, args: argparse.Namespace) -> int:
    what = "ALL sessions" if args.all else f"sessions older than {args.older_than:g} days"
    code = _confirmed(args, what, store.where)
    if code is not None:
        return code
    removed = store.purge(everything=True) if args.all else store.purge(older_than_days=args.older_than)
    print(f"deleted {removed} session(s)")
    live = store.recording_sessions()
    if live:
        listed = ", ".join(str(i) for i in live[:10]) + (", ..." if len(live) > 10 else "")
        print(f"kept {len(live)} session(s) being recorded now ({listed}): purge again once they end")
    return 0


def _trends(store: Any, args: argparse.Namespace) -> int:
    rows = store.trends(period=args.period)
    if not rows:
        print("nothing recorded")
        return 0
    print(f"{args.period:>10}  {'frames':>8}  {'valence':>7}  apparent (share of face-frames)")
    for row in rows:
        shares = sorted(row["dominant_shares"].items(), key=lambda kv: -kv[1])[:3]
        print(
            f"{row['key']:>10}  {row['frames']:>8}  {row['valence']:+7.2f}  "
            + ", ".join(f"{k} {v:.0%}" for k, v in shares if v > 0)
        )
    return 0


def _correct(store: Any, args: argparse.Namespace) -> int:
    try:
        correction = store.add_correction(
            args.session,
            track_id=args.track,
            start_ms=args.start_ms,
            end_ms=args.end_ms,
            wrong_label=args.wrong,
            correct_label=args.right,
            note=args.note,
        )
    except ValueError as exc:
        print(f"moodlens history correct: error: {exc}", file=sys.stderr)
        return 2
    print(f"recorded correction {correction}; {store.get_correction(args.session, correction).outcome()}")
    return 0


def _migrate(store: Any, args: argparse.Namespace) -> int:
    return 0


def _bad(args: argparse.Namespace, exc: Exception) -> int:
    """Bad input (a track or person the session does not have, no consent): one line, exit 2."""
    message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
    print(f"moodlens history {args.action}: error: {message}", file=sys.stderr)
    return 2


def _people(store: Any, args: argparse.Namespace) -> int:
    info = store.get_session(args.session)
    people = store.people(args.session, include_hidden=args.include_hidden)
    if args.json:
        print(json.dumps({"session": info.to_dict(), "people": [p.to_dict() for p in people]}, indent=2))
        return 0
    print(f"session {info.id}: {info.counts_text()}")
    for person in people:
        print(f"  {person.describe()}")
    if not people:
        print(
            "  nobody recorded"
            if not info.tracks
            else "  every track is hidden (--include-hidden lists them)"
        )
    return 0


def _merge(store: Any, args: argparse.Namespace) -> int:
    try:
        person = store.merge_tracks(args.session, args.tracks)
    except (ValueError, KeyError) as exc:
        return _bad(args, exc)
    print(f"merged tracks {', '.join(map(str, sorted(set(args.tracks))))}: {person.describe()}")
    print(f"session {args.session}: {store.get_session(args.session).counts_text()}")
    return 0


def _split(store: Any, args: argparse.Namespace) -> int:
    try:
        person = store.split_track(args.session, args.track)
    except (ValueError, KeyError) as exc:
        return _bad(args, exc)
    print(f"track {args.track} is its own person: {person.describe()}")
    print(f"session {args.session}: {store.get_session(args.session).counts_text()}")
    return 0


def _rename(store: Any, args: argparse.Namespace) -> int:
    if args.clear == (args.name is not None):
        message = "pass --clear without a NAME" if args.clear else "give a NAME (with --consent), or --clear"
        print(f"moodlens history rename: error: {message}", file=sys.stderr)
        return 2
    if args.clear and args.consent:
        print("moodlens history rename: error: --clear needs no --consent", file=sys.stderr)
        return 2
    try:
        person = store.rename_person(args.session, args.person, args.name, consent=args.consent)
    except (ValueError, KeyError) as exc:
        return _bad(args, exc)
    if args.clear:
        print(f"person {person.number} has no nickname now")
    else:
        where = f"stored in {store.where}, with session {args.session}"
        print(f"person {person.number} is {person.nickname!r} ({where})")
    return 0


def _hide(store: Any, args: argparse.Namespace) -> int:
    try:
        person = store.hide_track(args.session, args.track, not args.unhide)
    except (ValueError, KeyError) as exc:
        return _bad(args, exc)
    state = "shown again" if args.unhide else "hidden"
    print(f"track {args.track} of {person.label} is {state}")
    print(f"session {args.session}: {store.get_session(args.session).counts_text()}")
    return 0


_ACTIONS = {
    "list": _list,
    "show": _show,
    "export": _export,
    "delete": _delete,
    "purge": _purge,
    "trends": _trends,
    "correct": _correct,
    "people": _people,
    "merge": _merge,
    "split": _split,
    "rename": _rename,
    "hide": _hide,
    "migrate": _migrate,
}
