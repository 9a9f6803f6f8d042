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


def _is_regional(c: str) -> bool:
    return "\U0001f1e6" <= c <= "\U0001f1ff"


def _inside_a_character(text: str, cut: int) -> bool:
    """Whether a cut before ``text[cut]`` would split what a person sees as one character: a letter
    and its accents, an emoji and its skin tone or variation, a sequence joined by ZWJ, a flag's
    two regional letters, or a subdivision flag's tags. (Not the whole of Unicode's grapheme
    rules, which the standard library lacks; these are the sequences names are typed with.)"""
    after, before = text[cut], text[cut - 1]
    if unicodedata.category(after) in ("Mn", "Mc", "Me") or "\u200d" in (after, before):
        return True
    if "\U0001f3fb" <= after <= "\U0001f3ff" or "\U000e0020" <= after <= "\U000e007f":
        return True  # a skin tone, or a tag of a subdivision flag
    if _is_regional(after) and _is_regional(before):
        run = 0
        while cut - run - 1 >= 0 and _is_regional(text[cut - run - 1]):
            run += 1
        return run % 2 == 1  # an odd count before the cut: the cut splits a pair
    return False


def clip_session_name(name: str) -> str:
    """A typed name cut to :data:`MAX_SESSION_NAME` characters the way a person would cut it: in
    NFC form first (so "é" typed as "e" and an accent counts once), and never inside what reads
    as one character (:func:`_inside_a_character`): a cut there would store another letter or a
    broken emoji."""
    normal = unicodedata.normalize("NFC", name)
    if len(normal) <= MAX_SESSION_NAME:
        return normal
    cut = MAX_SESSION_NAME
    while cut > 0 and _inside_a_character(normal, cut):
        cut -= 1
    return normal[:cut]
