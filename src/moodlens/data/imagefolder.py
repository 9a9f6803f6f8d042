"""The image-folder layout: ``train/<class>/*``, ``test/<class>/*`` and optionally a validation folder."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from moodlens.data.dataset import FaceDataset
from moodlens.errors import DataError
from moodlens.labels import Expression

SIDE = 48
_SPLIT_FOLDERS = {
    "train": "Training",
    "training": "Training",
    "val": "PublicTest",
    "valid": "PublicTest",
    "validation": "PublicTest",
    "publictest": "PublicTest",
    "test": "PrivateTest",
    "privatetest": "PrivateTest",
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm"}


def _read_gray(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ValueError("the file is empty")
    image = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ValueError("not a readable image")
    if image.shape != (SIDE, SIDE):
        image = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    return image


def read_image_folder(root: str | Path, *, skip_bad: bool = False) -> FaceDataset:
    """Read every image under ``root/<split>/<class>/``.

    Split folders: train/training, val/valid/validation/publictest, test/privatetest. Class
    folders are matched case-insensitively, with synonyms ("happiness", "Surprised"...).
    """
    base = Path(root)
    split_dirs = [d for d in sorted(base.iterdir()) if d.is_dir() and d.name.lower() in _SPLIT_FOLDERS]
    if not split_dirs:
        raise DataError(f"{base}: expected split folders train/ and test/ (with one folder per class)")
    images: list[np.ndarray] = []
    labels: list[int] = []
    splits: list[str] = []
    files: list[str] = []
    skipped = 0
    digest = hashlib.sha256()
    for split_dir in split_dirs:
        split = _SPLIT_FOLDERS[split_dir.name.lower()]
        for class_dir in sorted(d for d in split_dir.iterdir() if d.is_dir()):
            try:
                label = Expression.from_label(class_dir.name)
            except ValueError as exc:
                raise DataError(f"{class_dir}: {exc}") from None
            for path in sorted(class_dir.iterdir()):
                if path.suffix.lower() not in _IMAGE_SUFFIXES:
                    continue
                try:
                    image = _read_gray(path)
                except (ValueError, OSError) as exc:
                    if not skip_bad:
                        raise DataError(f"{path}: {exc}; pass --skip-bad to skip bad images") from None
                    skipped += 1
                    continue
                digest.update(str(path.relative_to(base)).encode())
                digest.update(image.tobytes())
                images.append(image)
                labels.append(int(label))
                splits.append(split)
                files.append(str(path))
    if not images:
        raise DataError(f"{base}: no images found under {', '.join(d.name for d in split_dirs)}")
    return FaceDataset(
        images=np.stack(images),
        labels=np.array(labels, dtype=np.int64),
        splits=np.array(splits),
        rows=np.arange(len(images), dtype=np.int64),
        source=str(base),
        sha256=digest.hexdigest(),
        files=tuple(files),
        skipped=skipped,
    )
