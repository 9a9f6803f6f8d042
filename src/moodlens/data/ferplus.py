"""FERPlus relabelling of FER2013 (``fer2013new.csv``): ten crowd votes per row.

Rows align with the FER2013 CSV *by position* (image names repeat), so the votes are matched
through ``FaceDataset.rows``.

Two derived label sets, both from the votes with the microsoft/FERPlus outlier rule (a class
holding a single vote is treated as one annotator's slip and its vote is dropped):

- the **majority label** (:func:`majority_labels`), the rule of the microsoft/FERPlus code and of
  every published FERPlus figure: the top class must hold more than half of the remaining votes,
  and faces whose majority is contempt, unknown or not-a-face are left out. Every crowd accuracy
  moodlens reports uses it (3,137 PrivateTest and 3,186 PublicTest faces);
- the **crowd distribution** (:func:`crowd_distribution`): the remaining votes' shares over our 7
  classes, the soft target of the crowd model. Contempt, unknown and not-a-face votes are not
  classes of ours; a face whose top remaining vote is one of those three is not a target.
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
#: Our class index for each vote column; -1 for contempt, unknown and not-a-face.
_FROM_COLUMN = np.array([_TO_FER.index(i) if i in _TO_FER else -1 for i in range(len(VOTE_COLUMNS))])

FERPLUS_MODES = ("majority", "distribution", "both")


def read_ferplus_votes(path: str | Path) -> npt.NDArray[np.float32]:
    """The (N, 10) vote matrix in ``VOTE_COLUMNS`` order; rows without an image name get NF=10."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"{source}: no such file (FERPlus fer2013new.csv)")
    votes: list[list[float]] = []
    try:
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
                if not all(0 <= c < 1e6 for c in counts):
                    raise DataError(f"{source}: line {index + 2}: vote counts must be finite and >= 0")
                if not (row.get("Image name") or "").strip():
                    counts = [0.0] * 9 + [10.0]
                votes.append(counts)
    except UnicodeDecodeError:
        raise DataError(f"{source}: not a text CSV file (FERPlus fer2013new.csv expected)") from None
    if not votes:
        raise DataError(f"{source}: no rows")
    return np.array(votes, dtype=np.float32)


def drop_outlier_votes(votes: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The votes with every single-vote class set to 0 (microsoft/FERPlus ``_process_data``)."""
    return np.where(votes <= 1.0, 0.0, votes).astype(np.float32)


def majority_labels(votes: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """The FERPlus majority label of each row in our class order, -1 where the rule leaves it out.

    After outlier removal the top class must hold more than half of the remaining votes (all ten
    columns count in that sum), and it must be one of our 7 classes.
    """
    kept = drop_outlier_votes(votes)
    top = kept.argmax(axis=1)
    total = kept.sum(axis=1)
    peak = kept[np.arange(len(kept)), top]
    labels: npt.NDArray[np.int64] = _FROM_COLUMN[top].astype(np.int64)
    labels[~(peak > 0.5 * total)] = -1
    return labels


def crowd_distribution(
    votes: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_]]:
    """Soft targets over our 7 classes and the rows where they are a target.

    A row is a target when, after outlier removal, its top class is one of ours (ties go to
    ours); its distribution is the share of each of our classes among their remaining votes.
    """
    kept = drop_outlier_votes(votes)
    seven = kept[:, _TO_FER]
    others = kept[:, 7:].max(axis=1)
    valid = (seven.sum(axis=1) > 0) & (seven.max(axis=1) >= others)
    soft = np.zeros_like(seven)
    soft[valid] = seven[valid] / seven[valid].sum(axis=1, keepdims=True)
    return soft.astype(np.float32), valid


def apply_ferplus(dataset: FaceDataset, path: Path, *, mode: str = "majority") -> FaceDataset:
    """Attach FERPlus votes and, by ``mode``, replace the FER2013 labels with them.

    ``majority``: the FERPlus majority label; rows the rule leaves out are dropped.
    ``distribution``: the crowd distribution as soft targets (labels: its top class); rows that
    are not a target are dropped. ``both``: every FER2013 row and label kept, the votes attached,
    for a network with a FER2013 head and a crowd head.
    """
    if mode not in FERPLUS_MODES:
        raise ValueError(f"unknown FERPlus mode {mode!r}; expected one of {', '.join(FERPLUS_MODES)}")
    votes = read_ferplus_votes(path)
    if int(dataset.rows.max()) >= len(votes):
        raise DataError(
            f"{path}: has {len(votes)} rows but the FER2013 CSV has row {int(dataset.rows.max())}; "
            "the two files must come from the same release"
        )
    mine = votes[dataset.rows]
    source = f"{dataset.source} + FERPlus {path.name} ({mode})"
    if mode == "both":
        return dataset.with_votes(mine, source=source)
    if mode == "majority":
        labels = majority_labels(mine)
        keep = labels >= 0
        soft = None
    else:
        distribution, keep = crowd_distribution(mine)
        labels = distribution.argmax(axis=1).astype(np.int64)
        soft = distribution[keep]
    kept = dataset.with_votes(mine, source=source).subset(keep)
    return FaceDataset(
        images=kept.images,
        labels=labels[keep],
        splits=kept.splits,
        rows=kept.rows,
        source=source,
        sha256=dataset.sha256,
        soft_labels=soft,
        votes=kept.votes,
        skipped=dataset.skipped + int((~keep).sum()),
    )
