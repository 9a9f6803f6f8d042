"""The in-memory data set every reader returns, and the one entry point that picks a reader."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from moodlens.errors import DataError
from moodlens.labels import NUM_CLASSES

#: FER2013's usage names: Training = fit, PublicTest = model selection, PrivateTest = final report.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")


@dataclass(frozen=True)
class FaceDataset:
    """Gray face images with labels in the canonical order.

    ``rows`` holds each image's position in its source (the CSV row number, 0-based after the
    header, or the index into ``files``) so that errors and galleries can point back to it.
    ``soft_labels``, when present, holds a distribution over the 7 classes (FERPlus votes).
    ``votes``, when present, holds each row's ten FERPlus crowd votes (``ferplus.VOTE_COLUMNS``).
    """

    images: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int64]
    splits: npt.NDArray[np.str_]
    rows: npt.NDArray[np.int64]
    source: str
    sha256: str
    soft_labels: npt.NDArray[np.float32] | None = None
    votes: npt.NDArray[np.float32] | None = None
    files: tuple[str, ...] = field(default_factory=tuple)
    skipped: int = 0

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N,H,W), got {self.images.dtype} {self.images.shape}")
        for name, arr in (("images", self.images), ("splits", self.splits), ("rows", self.rows)):
            if len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} entries, labels has {n}")
        if n and (self.labels.min() < 0 or self.labels.max() >= NUM_CLASSES):
            raise ValueError("labels must lie in 0..6")
        if self.soft_labels is not None and self.soft_labels.shape != (n, NUM_CLASSES):
            raise ValueError(f"soft_labels must be (N,7), got {self.soft_labels.shape}")
        if self.votes is not None and self.votes.shape != (n, 10):
            raise ValueError(f"votes must be (N,10), got {self.votes.shape}")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: npt.NDArray[np.bool_]) -> FaceDataset:
        """The examples where ``mask`` is true, provenance kept."""
        return FaceDataset(
            images=self.images[mask],
            labels=self.labels[mask],
            splits=self.splits[mask],
            rows=self.rows[mask],
            source=self.source,
            sha256=self.sha256,
            soft_labels=None if self.soft_labels is None else self.soft_labels[mask],
            votes=None if self.votes is None else self.votes[mask],
            files=self.files,
            skipped=self.skipped,
        )

    def with_votes(self, votes: npt.NDArray[np.float32], *, source: str) -> FaceDataset:
        """The same examples with FERPlus crowd votes attached."""
        return dataclasses.replace(self, votes=votes, source=source)

    def crowd_labels(self) -> npt.NDArray[np.int64]:
        """The FERPlus majority label of each example, -1 where the rule leaves it out."""
        from moodlens.data.ferplus import majority_labels

        if self.votes is None:
            raise DataError(f"{self.source}: no FERPlus votes attached (pass the FERPlus file)")
        return majority_labels(self.votes)

    def split(self, name: str) -> FaceDataset:
        """One usage split (``Training``, ``PublicTest`` or ``PrivateTest``)."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of: {', '.join(SPLITS)}")
        part = self.subset(self.splits == name)
        if len(part) == 0:
            present = ", ".join(sorted(set(self.splits.tolist()))) or "none"
            raise DataError(f"{self.source}: split {name!r} is empty (splits present: {present})")
        return part

    def class_counts(self) -> npt.NDArray[np.int64]:
        return np.bincount(self.labels, minlength=NUM_CLASSES).astype(np.int64)


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file, recorded with every training run and report."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_dataset(
    path: str | Path,
    *,
    ferplus: str | Path | None = None,
    ferplus_mode: str = "majority",
    skip_bad: bool = False,
) -> FaceDataset:
    """Read FER2013 from a CSV file (gzip or plain) or an image-folder tree.

    ``ferplus`` optionally replaces the labels with FERPlus votes (CSV data only, aligned by
    row position); ``ferplus_mode`` is ``majority`` or ``distribution``.
    """
    from moodlens.data.fer2013 import read_fer2013_csv
    from moodlens.data.ferplus import apply_ferplus
    from moodlens.data.imagefolder import read_image_folder

    source = Path(path)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir():
        dataset = read_image_folder(source, skip_bad=skip_bad)
        if ferplus is not None:
            raise DataError("FERPlus labels align with the FER2013 CSV by row; use the CSV with them")
        return dataset
    dataset = read_fer2013_csv(source, skip_bad=skip_bad)
    if ferplus is not None:
        dataset = apply_ferplus(dataset, Path(ferplus), mode=ferplus_mode)
    return dataset
