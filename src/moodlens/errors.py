"""Exceptions that carry a message meant for a person: what failed, on which input, what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class MoodlensError(Exception):
    """Base class of every error moodlens raises on purpose."""


class ImageError(MoodlensError):
    """An image could not be read or decoded (missing, empty, corrupt, too large...)."""


class ModelError(MoodlensError):
    """A model file or its metadata is missing, malformed or does not follow the contract."""


class DataError(MoodlensError):
    """A training or evaluation data set is malformed (a bad CSV row, an unreadable image...)."""


class VideoError(MoodlensError):
    """A video source could not be opened or read, or an output could not be written."""


class StoreError(MoodlensError):
    """The history database cannot be used: unreachable, locked, or at another schema revision.

    Defined here, not in ``moodlens.store``, so that code paths which only *handle* it import
    nothing from the ``[store]`` extra.
    """


class MissingExtraError(MoodlensError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"this needs the [{extra}] extra (the '{module}' package is missing): "
            f"pip install 'moodlens[{extra}]'"
        )
        self.module = module
        self.extra = extra


@contextmanager
def extra_required(extra: str, *modules: str) -> Iterator[None]:
    """Turn a missing optional dependency into a message naming ``pip install 'moodlens[extra]'``.

    >>> with extra_required("train", "torch"):  # doctest: +SKIP
    ...     import torch
    """
    try:
        yield
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root in modules:
            raise MissingExtraError(root, extra) from None
        raise
