"""What a batch reads: files, folders, globs and manifests, as items with a stable identity.

An item's key identifies *this version* of a file: its absolute path, size and modification time
(or, with ``content_hash``, a hash of its bytes), so a re-run skips what is done and redoes a file
that changed. URLs (anything OpenCV opens, e.g. ``rtsp://`` or ``https://``) are keyed by the URL.

Whatever a folder holds, a bad entry is that entry's problem, reported with the reason, and the
rest goes on: a file name that is not valid UTF-8, a named pipe (never opened: reading one waits
for a writer), a socket or device, a symlink loop, a broken link.
"""

from __future__ import annotations

import csv
import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".jfif"}
)
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"})
MANIFEST_SUFFIXES = frozenset({".csv", ".txt", ".lst"})


@dataclass(frozen=True)
class Item:
    """One photo or video to analyse."""

    source: str  # the path (absolute) or URL, as recorded in the dataset
    kind: str  # "photo" or "video"
    key: str
    size: int = 0
    mtime_ns: int = 0


def _kind(name: str) -> str | None:
    suffix = Path(name.split("?", 1)[0]).suffix.lower()
    if suffix in PHOTO_SUFFIXES:
        return "photo"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def item_key(source: str, size: int, mtime_ns: int, *, content: Path | None = None) -> str:
    digest = hashlib.sha256()
    if content is not None:
        with content.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(f"{source}\0{size}\0{mtime_ns}".encode())
    return digest.hexdigest()[:24]


def shown(name: str) -> str:
    """``name`` as it can be printed and stored: bytes of a file name that are not UTF-8 (which
    Python keeps as lone surrogates) are written as ``\\xNN``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder, not a photo or video"),
    (stat.S_ISFIFO, "a named pipe (FIFO), not a regular file: not read"),
    (stat.S_ISSOCK, "a socket, not a regular file: not read"),
    (stat.S_ISCHR, "a device, not a regular file: not read"),
    (stat.S_ISBLK, "a device, not a regular file: not read"),
)


def _item(source: str, content_hash: bool) -> Item | str:
    """An item for a path or URL, or why it is not one. Only a regular file is ever opened."""
    if shown(source) != source:
        # Parquet, JSON and the status table hold text: the name could not be recorded as it is.
        return "the file name is not valid UTF-8: rename the file (e.g. with convmv) to analyse it"
    kind = _kind(source)
    if "://" in source:
        return Item(source, kind or "video", item_key(source, 0, 0))
    if kind is None:
        return "not a photo or video file name (by its suffix)"
    try:
        info = os.stat(source)  # follows links; a loop is ELOOP
        path = Path(source).resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # RuntimeError: pathlib's symlink loop before 3.13
        if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
            return "a symlink loop: the link never reaches a file"
        if exc.errno == errno.ENOENT and os.path.islink(source):
            return "a broken symlink: what it points to does not exist"
        return exc.strerror or str(exc)
    for test, why in _NOT_REGULAR:
        if test(info.st_mode):
            return why
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    return Item(
        str(path),
        kind,
        item_key(str(path), info.st_size, info.st_mtime_ns, content=path if content_hash else None),
        info.st_size,
        info.st_mtime_ns,
    )


def _manifest(path: Path) -> list[str]:
    """Paths or URLs from a text list (one per line) or a CSV (a ``path``, ``file``, ``source`` or
    ``url`` column, else the first). Relative paths are relative to the manifest."""
    text = path.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if path.suffix.lower() == ".csv" and lines:
        rows = list(csv.reader(lines))
        header = [h.strip().lower() for h in rows[0]]
        column = next((header.index(n) for n in ("path", "file", "source", "url") if n in header), None)
        entries = (
            [r[column] for r in rows[1:] if len(r) > column]
            if column is not None
            else [r[0] for r in rows if r]
        )
    else:
        entries = lines
    return [e if "://" in e or Path(e).is_absolute() else str(path.parent / e) for e in entries]


def expand(
    inputs: list[str], *, recursive: bool = True, content_hash: bool = False
) -> tuple[list[Item], list[tuple[str, str]]]:
    """The items named by ``inputs`` (in order, without repeats) and the inputs that name none."""
    items: list[Item] = []
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(source: str) -> None:
        made = _item(source, content_hash)
        if isinstance(made, str):
            if shown(source) not in seen:  # a bad file named twice is reported once
                seen.add(shown(source))
                problems.append((shown(source), made))
        elif made.source not in seen:
            seen.add(made.source)
            items.append(made)

    for entry in inputs:
        try:
            if "://" in entry:
                add(entry)
                continue
            path = Path(entry)
            if path.is_dir():
                pattern = "**/*" if recursive else "*"
                # Every entry named like a photo or video but a folder: a pipe, a loop or a bad
                # name is reported by add(), never dropped without a word.
                found = sorted(p for p in path.glob(pattern) if _kind(p.name) is not None and not p.is_dir())
                if not found:
                    problems.append((shown(entry), "the folder holds no photo or video"))
                for p in found:
                    add(str(p))
            elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
                for listed in _manifest(path):
                    add(listed)
            elif any(ch in entry for ch in "*?[") and not path.exists():
                found = sorted(Path(p) for p in glob.glob(entry, recursive=True) if not Path(p).is_dir())
                found = [p for p in found if _kind(p.name) is not None]
                if not found:
                    problems.append((shown(entry), "the pattern matches no photo or video"))
                for p in found:
                    add(str(p))
            else:
                add(entry)
        except (OSError, RuntimeError) as exc:
            problems.append((shown(entry), getattr(exc, "strerror", None) or str(exc)))
        except (UnicodeDecodeError, csv.Error) as exc:
            problems.append((shown(entry), f"not a readable manifest ({exc})"))
    return items, problems
