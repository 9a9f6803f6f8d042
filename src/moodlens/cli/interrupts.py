"""Ctrl-C while a stream command closes its outputs.

The first Ctrl-C stops the analysis, as it always has; the outputs are then closed and named and
the summary is written. Users press Ctrl-C twice without thinking, and a second one then used to
cut that wrap-up short: the shorter outputs stayed under names the command never printed, and the
summary was never written. :class:`CalmWrapUp` holds further presses while the command finishes
(a second press says what is happening; a third, a user who insists, stops at once, and the
outputs not closed yet stay under their partial names), so nothing that was asked for is lost and
nothing hangs. It takes SIGINT only from Python's default handler: an ignored SIGINT (a command
started with ``&`` from a script) or a host program's handler is left alone.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any

#: Presses held during the wrap-up before one is let through (the user insists).
HELD_PRESSES = 1


class CalmWrapUp:
    """A context manager that takes SIGINT for the command's lifetime (main thread only; elsewhere
    it does nothing). Until :meth:`arm` or the first press, Ctrl-C raises KeyboardInterrupt at
    once; after either, :data:`HELD_PRESSES` presses are held with a line on stderr, and the next
    one raises."""

    def __init__(self) -> None:
        self.armed = False
        self.held = 0
        self._previous: Any = None
        self._installed = False

    def arm(self) -> None:
        """The analysis is over: from now on the command is closing its outputs."""
        self.armed = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if not self.armed:
            self.armed = True  # this press stops the analysis; the next ones meet the wrap-up
            raise KeyboardInterrupt
        if self.held >= HELD_PRESSES:
            raise KeyboardInterrupt
        self.held += 1
        print(
            "moodlens: closing the outputs and writing the summary so that nothing is lost; "
            "Ctrl-C again to stop at once (what is not closed yet then stays under a .partial name)",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> CalmWrapUp:
        # Only over Python's own handler, as asyncio.Runner does: SIGINT ignored (a command run
        # with & from a script) stays ignored, and a host program's handler stays its own.
        on_main = threading.current_thread() is threading.main_thread()
        if on_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
