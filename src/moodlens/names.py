"""Text that people type and moodlens stores and prints back: what a session name may be.

Kept apart from the store (no database library needed) so that the command line checks a name
before any work, exactly as the store will.
"""

from __future__ import annotations

import unicodedata

MAX_SESSION_NAME = 200


def check_session_name(name: str) -> str:
    """The session name in Unicode NFC form, or a ValueError saying what a name may be: at most
    200 characters, none of them a control character, a line break or a lone surrogate (a name
    is printed by ``moodlens history list``, where an escape sequence would drive the terminal
    and a line break would fake a row)."""
    if not isinstance(name, str):
        raise ValueError(f"a session name is text, got {type(name).__name__}")
    normal = unicodedata.normalize("NFC", name)
    if len(normal) > MAX_SESSION_NAME or any(
        unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in normal
    ):
        raise ValueError(
            f"bad session name {name.encode('utf-8', 'replace').decode()!r}: at most {MAX_SESSION_NAME} "
            "characters, without control characters or line breaks"
        )
    return normal


def clip_session_name(name: str) -> str:
    """A typed name cut to :data:`MAX_SESSION_NAME` characters the way a person would cut it: in
    NFC form first (so "é" typed as "e" and an accent counts once), and never between a letter and
    its accents or inside a joined emoji (a cut there would store a different letter)."""
    normal = unicodedata.normalize("NFC", name)
    if len(normal) <= MAX_SESSION_NAME:
        return normal
    cut = MAX_SESSION_NAME
    while cut > 0 and (
        unicodedata.category(normal[cut]) in ("Mn", "Mc", "Me", "Sk")
        or "\u200d" in (normal[cut], normal[cut - 1])
    ):
        cut -= 1
    return normal[:cut]
