"""``moodlens`` entry point: one sub-command per module, each in its own file."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from moodlens._version import __version__
from moodlens.errors import MissingExtraError, MoodlensError

_COMMANDS = (
    "image",
    "video",
    "camera",
    "train",
    "evaluate",
    "calibrate",
    "batch",
    "export",
    "export-web",
    "history",
    "profile",
    "serve",
    "info",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moodlens",
        description=(
            "Find faces and recognise their apparent facial expression, locally. moodlens reports "
            "how a face looks (an apparent expression), not what a person feels."
        ),
        epilog="Run 'moodlens COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"moodlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    from moodlens.cli import image, train

    image.register(sub)
    train.register(sub)
    # image and train always load; the others need their extras.
    for name in (c for c in _COMMANDS if c not in ("image", "train")):
        module = _optional_command(name)
        if module is not None:
            module.register(sub)
    return parser


def _optional_command(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"moodlens.cli.{name.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name == f"moodlens.cli.{name.replace('-', '_')}":
            return None
        raise


def quiet_native_logs() -> None:
    """Keep OpenCV's and FFmpeg's own log lines off the terminal: moodlens says what failed, and
    where, in its own words. Set in the command-line entry point only (importing moodlens changes
    no environment); an explicit setting in the environment wins, for debugging."""
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read when a video opens
    if "OPENCV_LOG_LEVEL" not in os.environ:
        # cv2 is already loaded (moodlens's package imports it), so its level is set by call.
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


def _stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has left (POLLERR on its write end), so
    that a broken pipe there ends the command quietly and one elsewhere (a FIFO given as an
    output) is an error like any other; False where it cannot tell (Windows, a captured stdout)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the parser is built or reads the arguments
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    quiet_native_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # here, where a reader gone away (a pipe into head) is caught below
    except MissingExtraError as exc:
        print(f"moodlens {args.command}: {exc}", file=sys.stderr)
        return 2
    except MoodlensError as exc:
        print(f"moodlens {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) and _stdout_gone():
            # The reader of our output went away (``moodlens history show 1 | head``): stop
            # quietly, as other Unix tools do, and keep Python from reporting the failed flush.
            import contextlib
            import os

            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE, what a shell reports for a tool the pipe stopped
        # A file or folder that cannot be read or written (permissions, a full disk, a name too
        # long, a pipe given as an output whose reader left...): the path and the reason, one line.
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"moodlens {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # the last safety net: one line, the details only on request
        import os

        if os.environ.get("MOODLENS_DEBUG"):
            raise
        print(
            f"moodlens {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(please report it; MOODLENS_DEBUG=1 shows the details)",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
