"""The Kaggle FER2013 CSV: ``emotion,pixels,Usage``, gzip or plain, 48x48 gray pixels per row."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path
from typing import IO

import numpy as np

from moodlens.data.dataset import SPLITS, FaceDataset, file_sha256
from moodlens.errors import DataError
from moodlens.labels import NUM_CLASSES

SIDE = 48
PIXELS = SIDE * SIDE
_REQUIRED = ("emotion", "pixels")


def _open_text(path: Path) -> IO[str]:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open("r", encoding="utf-8", newline="")


def _parse_pixels(text: str) -> np.ndarray:
    values = text.split()
    if len(values) != PIXELS:
        raise ValueError(f"expected {PIXELS} pixel values, got {len(values)}")
    try:
        pixels = np.array(values, dtype=np.int64)
    except (ValueError, OverflowError):
        raise ValueError("pixel values must be integers from 0 to 255") from None
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError("pixel values must lie in 0..255")
    return pixels.astype(np.uint8).reshape(SIDE, SIDE)


def _parse_row(row: dict[str, str]) -> tuple[int, np.ndarray, str]:
    label_text = (row.get("emotion") or "").strip()
    if not label_text.lstrip("-").isdigit():
        raise ValueError(f"emotion must be an integer 0..6, got {label_text!r}")
    label = int(label_text)
    if not 0 <= label < NUM_CLASSES:
        raise ValueError(f"emotion must be 0..6, got {label}")
    usage = (row.get("Usage") or "Training").strip()
    if usage not in SPLITS:
        raise ValueError(f"Usage must be one of {', '.join(SPLITS)}, got {usage!r}")
    return label, _parse_pixels(row.get("pixels") or ""), usage


def read_fer2013_csv(path: str | Path, *, skip_bad: bool = False) -> FaceDataset:
    """Read the FER2013 CSV. A bad row raises :class:`DataError` naming its line, unless
    ``skip_bad`` is set, in which case it is counted in ``FaceDataset.skipped``.

    A file without a ``Usage`` column puts every row in ``Training``.
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: no such file")
    if source.stat().st_size == 0:
        raise DataError(f"{source}: the file is empty")
    images: list[np.ndarray] = []
    labels: list[int] = []
    usages: list[str] = []
    rows: list[int] = []
    skipped = 0
    try:
        with _open_text(source) as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            missing = [name for name in _REQUIRED if name not in header]
            if missing:
                raise DataError(
                    f"{source}: not a FER2013 CSV: missing column(s) {', '.join(missing)} "
                    f"(header is {','.join(header) or 'empty'}; expected emotion,pixels,Usage)"
                )
            for index, row in enumerate(reader):
                try:
                    label, pixels, usage = _parse_row(row)
                except ValueError as exc:
                    if not skip_bad:
                        # Line numbers count the header as line 1, as an editor shows them.
                        raise DataError(
                            f"{source}: line {index + 2} (data row {index}): {exc}; "
                            "fix the row or pass --skip-bad to skip bad rows"
                        ) from None
                    skipped += 1
                    continue
                images.append(pixels)
                labels.append(label)
                usages.append(usage)
                rows.append(index)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{source}: cannot read the CSV: {exc}") from None
    if not labels:
        raise DataError(f"{source}: no usable rows ({skipped} bad rows skipped)")
    return FaceDataset(
        images=np.stack(images),
        labels=np.array(labels, dtype=np.int64),
        splits=np.array(usages),
        rows=np.array(rows, dtype=np.int64),
        source=str(source),
        sha256=file_sha256(source),
        skipped=skipped,
    )
