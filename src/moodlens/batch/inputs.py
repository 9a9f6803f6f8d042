"""What a batch reads: files, folders, globs and manifests, as items with a stable identity.

An item's key identifies *this version* of a file: its absolute path, size and modification time
(or, with ``content_hash``, a hash of its bytes), so a re-run skips what is done and redoes a file
that changed. URLs (anything OpenCV opens, e.g. ``rtsp://`` or ``https://``) are keyed by the URL.
"""

from __future__ import annotations

import csv
import glob
import hashlib
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


def _item(source: str, content_hash: bool) -> Item | str:
    """An item for a path or URL, or why it is not one."""
    kind = _kind(source)
    if "://" in source:
        return Item(source, kind or "video", item_key(source, 0, 0))
    path = Path(source).resolve()
    if kind is None:
        return "not a photo or video file name (by its suffix)"
    try:
        info = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not path.is_file():
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
            problems.append((source, made))
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
                found = sorted(p for p in path.glob(pattern) if p.is_file() and _kind(p.name) is not None)
                if not found:
                    problems.append((entry, "the folder holds no photo or video"))
                for p in found:
                    add(str(p))
            elif path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
                for listed in _manifest(path):
                    add(listed)
            elif any(ch in entry for ch in "*?[") and not path.exists():
                found = sorted(Path(p) for p in glob.glob(entry, recursive=True) if Path(p).is_file())
                found = [p for p in found if _kind(p.name) is not None]
                if not found:
                    problems.append((entry, "the pattern matches no photo or video"))
                for p in found:
                    add(str(p))
            else:
                add(entry)
        except OSError as exc:
            problems.append((entry, exc.strerror or str(exc)))
        except (UnicodeDecodeError, csv.Error) as exc:
            problems.append((entry, f"not a readable manifest ({exc})"))
    return items, problems
