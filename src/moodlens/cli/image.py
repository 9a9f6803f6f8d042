"""``moodlens image``: analyse photos (placeholder registered until the core lands)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    del sub
