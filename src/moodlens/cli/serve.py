"""``moodlens serve``: the local web app (live camera page, REST API, dashboard)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from moodlens.cli.common import add_analyzer_options, build_analyzer
from moodlens.cli.numbers import DAYS, integer, number


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "serve",
        help="run the local web app: camera page, REST API and dashboard",
        description="Serve the live camera page (/), the dashboard (/dashboard), the REST API (/api/v1) and "
        "its documentation (/docs). It listens on loopback by default; any other address requires "
        "the access token, generated on first start and stored with 0600 permissions. Frames are "
        "processed in memory and never stored.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=integer(1, 65535), default=8000)
    parser.add_argument(
        "--db",
        nargs="?",
        const="default",
        metavar="URL",
        help="record sessions in this history database (default file if no URL); a new one is created "
        "(and the command says so) in a folder that exists",
    )
    parser.add_argument("--token-file", metavar="PATH", help="where the access token is kept")
    parser.add_argument("--require-token", action="store_true", help="require the token on loopback too")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow this origin to call the API from a browser (repeatable)",
    )
    parser.add_argument(
        "--max-fps", type=number(0.1, 1000), default=30.0, help="per-client frame limit (default 30)"
    )
    parser.add_argument(
        "--max-clients",
        type=integer(1, 10_000),
        default=16,
        metavar="N",
        help="live clients at once (default 16); a browser-mode client costs the server little, a "
        "server-mode one a share of a core",
    )
    parser.add_argument(
        "--retention-days",
        type=DAYS,
        default=30.0,
        help="delete recorded sessions older than this at start-up (default 30; 0 keeps everything)",
    )
    parser.add_argument(
        "--header-timeout",
        type=number(1, 300),
        default=10.0,
        metavar="S",
        help="close connections that have not sent a request's headers within S seconds (default 10)",
    )
    add_analyzer_options(parser, min_face=40, max_side=480, threads=1)
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="the personal profile the live page starts with (it reads the main face through it; needs --db)",
    )
    parser.set_defaults(func=run)


def _check_profile(args: argparse.Namespace) -> None:
    """``--profile`` names a profile that exists in the --db database (a ValueError otherwise)."""
    if args.db is None:
        raise ValueError("--profile needs --db: profiles are kept in the history database")
    from moodlens.cli.common import profile_db
    from moodlens.cli.profile import _store

    store = _store(profile_db(args))
    try:
        store.get_profile(args.profile)
    except KeyError as exc:
        raise ValueError(str(exc.args[0] if exc.args else exc)) from None
    finally:
        store.close()


def _open_history(args: argparse.Namespace) -> Any:
    """The history store for ``--db``, opened before serving. Serving records sessions (with the
    consent given on the page), so a database that is not there is created, and the command
    says so, as ``moodlens video --db ... --consent`` does; the retention runs here too."""
    from moodlens.store import HistoryStore

    store = HistoryStore(args.db, create=True)
    if store.created:
        print(f"created history database at {store.where}", file=sys.stderr)
    removed = store.apply_retention(args.retention_days)
    if removed:
        print(
            f"history: removed {removed} session(s) older than {args.retention_days:g} days",
            file=sys.stderr,
        )
    return store


def run(args: argparse.Namespace) -> int:
    from moodlens.cli.common import check_history
    from moodlens.errors import extra_required

    with extra_required("serve", "uvicorn", "fastapi", "starlette", "sqlalchemy", "multipart", "h11"):
        from moodlens.service import ServiceSettings, create_app
        from moodlens.service.security import default_token_path, load_or_create_token
        from moodlens.service.server import run as serve_app
        from moodlens.service.settings import is_loopback
    if not check_history(args, "serve"):  # a new database's folder must exist: a typo is not created
        return 2
    token = None
    if args.require_token or not is_loopback(args.host):
        path = Path(args.token_file) if args.token_file else default_token_path()
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            token, created = load_or_create_token(path)
        for warning in caught:
            print(f"moodlens serve: warning: {warning.message}", file=sys.stderr)
        if created:
            print(f"access token (shown once; kept in {path} with 0600 permissions):\n  {token}")
        else:
            print(f"access token required: it is in {path}")
        print(f"open http://{args.host}:{args.port}/?token=<token> once; the browser keeps it in a cookie")
    try:
        settings = ServiceSettings(
            host=args.host,
            port=args.port,
            db=args.db,
            token=token,
            cors_origins=tuple(args.cors_origin),
            max_fps=args.max_fps,
            max_clients=args.max_clients,
            retention_days=args.retention_days,
            profile=args.profile,
        )
        analyzer = build_analyzer(args)
        if args.profile is not None:
            _check_profile(args)
    except ValueError as exc:
        print(f"moodlens serve: error: {exc}", file=sys.stderr)
        return 2
    # Opened here, not at the app's start-up: creating it is said on the terminal, and a database
    # that cannot be used is one line and exit 1 (MoodlensError), not a server that fails to start.
    store = _open_history(args) if args.db is not None else None
    try:
        app = create_app(settings, analyzer=analyzer, store=store)
        print(f"moodlens serving on http://{args.host}:{args.port}/ (dashboard: /dashboard, API docs: /docs)")
        serve_app(
            app,
            host=args.host,
            port=args.port,
            ws_max_size=settings.max_frame_bytes + 1024,
            header_timeout_s=args.header_timeout,
        )
    finally:
        if store is not None:
            store.close()
    return 0
