"""Validated numbers for command-line options: a bad value is an argparse error (one line, exit 2)
that says which values are allowed, never a traceback or a silently odd run."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

#: The largest id a database row can have (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def integer(low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value} is out of range: expected {_range(low, high)}")
        return value

    return parse


def number(low: float | None = None, high: float | None = None) -> Callable[[str], float]:
    """An argparse ``type`` for a finite number in [low, high] (NaN and infinity are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range: expected {_range(low, high)}")
        return value

    return parse


def _range(low: float | None, high: float | None) -> str:
    def show(value: float | None) -> str:
        return str(value) if isinstance(value, int) else f"{value:g}"

    if low is not None and high is not None:
        return f"{show(low)} to {show(high)}"
    if low is not None:
        return f"at least {show(low)}"
    return f"at most {show(high)}"


#: Common option types.
THREADS = integer(0, 256)
RECORD_ID = integer(1, MAX_ID)
TRACK_ID = integer(0, 2**31 - 1)
MEDIA_MS = integer(0, MAX_ID)
DAYS = number(0, 36_500)
