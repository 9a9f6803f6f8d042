"""The faces a run learns from and selects its epochs on: Training and PublicTest as the run
splits them (a stratified sample for a ``limit`` run), and uint8 faces as network input."""

from __future__ import annotations

import numpy as np
import torch

from moodlens.data import FaceDataset
from moodlens.labels import NUM_CLASSES
from moodlens.training.config import TrainConfig


def _stratified_limit(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of about ``limit`` examples keeping class proportions (at least 2 per class)."""
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        take = min(len(idx), max(2, round(limit * len(idx) / len(labels))))
        chosen.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def split_data(data: FaceDataset, config: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """Training and model-selection sets; without a PublicTest split, 10% of Training is held out."""
    train = data.split("Training")
    if "PublicTest" in set(data.splits.tolist()):
        val = data.split("PublicTest")
    else:
        held = _stratified_limit(train.labels, max(NUM_CLASSES * 2, len(train) // 10), config.seed)
        mask = np.zeros(len(train), dtype=bool)
        mask[held] = True
        train, val = train.subset(~mask), train.subset(mask)
    if config.limit:
        train = train.subset(
            np.isin(np.arange(len(train)), _stratified_limit(train.labels, config.limit, config.seed))
        )
        val_limit = max(NUM_CLASSES * 2, config.limit // 4)
        val = val.subset(np.isin(np.arange(len(val)), _stratified_limit(val.labels, val_limit, config.seed)))
    return train, val


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W) faces as the (N, 1, H, W) tensor a network takes."""
    return torch.from_numpy(images).unsqueeze(1)
