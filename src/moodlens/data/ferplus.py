"""FERPlus relabelling of FER2013 (``fer2013new.csv``): ten crowd votes per row.

Rows align with the FER2013 CSV *by position* (image names repeat), so the votes are matched
through ``FaceDataset.rows``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import numpy.typing as npt

from moodlens.data.dataset import FaceDataset
from moodlens.errors import DataError
from moodlens.labels import Expression

VOTE_COLUMNS = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
    "unknown",
    "NF",
)
# Position of each of our 7 classes among FERPlus's vote columns.
_TO_FER = [
    VOTE_COLUMNS.index(name)
    for name in ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
]
assert [Expression.from_label(VOTE_COLUMNS[i]) for i in _TO_FER] == list(Expression)


def read_ferplus_votes(path: str | Path) -> npt.NDArray[np.float32]:
    """The (N, 10) vote matrix in ``VOTE_COLUMNS`` order; rows without an image name get NF=10."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: no such file (FERPlus fer2013new.csv)")
    votes: list[list[float]] = []
    with source.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in VOTE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{source}: not a FERPlus file, missing column(s) {', '.join(missing)}")
        for index, row in enumerate(reader):
            try:
                counts = [float(row[c]) for c in VOTE_COLUMNS]
            except (TypeError, ValueError):
                raise DataError(f"{source}: line {index + 2}: vote counts must be numbers") from None
            if not (row.get("Image name") or "").strip():
                counts = [0.0] * 9 + [10.0]
            votes.append(counts)
    if not votes:
        raise DataError(f"{source}: no rows")
    return np.array(votes, dtype=np.float32)


def apply_ferplus(dataset: FaceDataset, path: Path, *, mode: str = "majority") -> FaceDataset:
    """Replace FER2013 labels with FERPlus ones.

    ``majority``: the most voted of the 7 classes, dropping rows whose top vote is contempt,
    unknown or not-a-face. ``distribution``: the same rows, with the vote shares over the 7
    classes kept as soft targets.
    """
    if mode not in ("majority", "distribution"):
        raise ValueError(f"unknown FERPlus mode {mode!r}; expected majority or distribution")
    votes = read_ferplus_votes(path)
    if int(dataset.rows.max()) >= len(votes):
        raise DataError(
            f"{path}: has {len(votes)} rows but the FER2013 CSV has row {int(dataset.rows.max())}; "
            "the two files must come from the same release"
        )
    mine = votes[dataset.rows]
    seven = mine[:, _TO_FER]
    keep = seven.max(axis=1) > mine[:, 7:].max(axis=1)
    kept = dataset.subset(keep)
    seven = seven[keep]
    soft = (seven / seven.sum(axis=1, keepdims=True)).astype(np.float32)
    return FaceDataset(
        images=kept.images,
        labels=soft.argmax(axis=1).astype(np.int64),
        splits=kept.splits,
        rows=kept.rows,
        source=f"{dataset.source} + FERPlus {path.name} ({mode})",
        sha256=dataset.sha256,
        soft_labels=soft if mode == "distribution" else None,
        skipped=dataset.skipped + int((~keep).sum()),
    )
