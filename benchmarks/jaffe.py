"""JAFFE (../shared/data/jaffe, or MOODLENS_JAFFE): 213 posed photos of 10 people, read end to end.

JAFFE is for checks only: the per-person benchmark and the zero-shot check of a model on posed
faces. Never train, select or calibrate a shipped model on it, and never commit it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import SHARED
from moodlens.labels import LABELS

JAFFE = Path(os.environ.get("MOODLENS_JAFFE", SHARED / "data" / "jaffe"))
#: JAFFE's file names carry the posed expression as two letters (``KA.AN1.39.tiff``).
CODES = {
    "AN": "angry",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}


@dataclass(frozen=True)
class Photo:
    path: Path
    person: str
    label: int  # index into LABELS


def read_jaffe(folder: Path = JAFFE, people: int = 0) -> list[Photo]:
    """The photos, sorted by name; ``people`` > 0 keeps the first that many people."""
    photos = []
    for path in sorted(folder.glob("*.tiff")):
        person, code = path.name.split(".")[:2]
        if code[:2] not in CODES:
            raise ValueError(f"{path}: no expression code in the name (expected one of {', '.join(CODES)})")
        photos.append(Photo(path, person, LABELS.index(CODES[code[:2]])))
    if not photos:
        raise FileNotFoundError(f"no JAFFE photos (*.tiff) in {folder}")
    if people:
        kept = sorted({p.person for p in photos})[:people]
        photos = [p for p in photos if p.person in kept]
    return photos


def analyse(analyzer: object, photos: list[Photo]) -> tuple[np.ndarray, np.ndarray]:
    """End to end (detector included): (N, 7) model probabilities and the number of faces found.

    A photo without exactly one face gets NaN probabilities; it counts as wrong in every figure.
    """
    probs = np.full((len(photos), len(LABELS)), np.nan)
    faces = np.zeros(len(photos), dtype=np.int64)
    for i, photo in enumerate(photos):
        result = analyzer.analyze(photo.path)  # type: ignore[attr-defined]
        faces[i] = len(result.faces)
        if len(result.faces) == 1:
            probs[i] = result.faces[0].probabilities
    return probs, faces
