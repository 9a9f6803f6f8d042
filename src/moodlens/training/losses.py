"""What the network learns against: class weights, the first head's cross-entropy (hard labels or
soft targets), the crowd head's soft cross-entropy against the vote shares, and the logit-adjusted
offset both may add to the logits."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from moodlens.data import FaceDataset
from moodlens.labels import NUM_CLASSES
from moodlens.training.config import TrainConfig
from moodlens.training.state import LoopState


def class_weights(counts: np.ndarray, scheme: str) -> torch.Tensor:
    counts = np.maximum(counts.astype(np.float64), 1.0)
    if scheme == "none":
        weights = np.ones_like(counts)
    elif scheme == "inverse_sqrt":
        weights = counts**-0.5
    else:
        weights = 1.0 / counts
    weights = weights / (weights * counts).sum() * counts.sum()  # mean weight per example = 1
    return torch.tensor(weights, dtype=torch.float32)


def logit_offset(prior: np.ndarray, tau: float, device: torch.device) -> torch.Tensor:
    """``tau * log(prior)`` for the logit-adjusted loss; a floor keeps an empty class finite."""
    log_prior = np.log(np.maximum(np.asarray(prior, dtype=np.float64), 1e-4))
    return torch.tensor(tau * log_prior, dtype=torch.float32, device=device)


def crowd_targets(train: FaceDataset, config: TrainConfig, device: torch.device) -> dict[str, Any]:
    """The crowd head's ``LoopState`` fields: vote shares, where they are targets, class weights
    of the crowd's majorities and the crowd's logit offset."""
    from moodlens.data.ferplus import crowd_distribution

    assert train.votes is not None
    soft, valid = crowd_distribution(train.votes)
    top = soft[valid].argmax(axis=1)
    return {
        "crowd": torch.from_numpy(soft),
        "crowd_valid": torch.from_numpy(valid),
        "crowd_weights": class_weights(np.bincount(top, minlength=NUM_CLASSES), config.class_weighting).to(
            device
        ),
        "crowd_offset": logit_offset(soft[valid].mean(axis=0), config.logit_adjust_tau, device),
    }


def label_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    soft: torch.Tensor | None,
    weights: torch.Tensor,
    *,
    label_smoothing: float,
) -> torch.Tensor:
    if soft is None:
        return F.cross_entropy(logits, y, weight=weights, label_smoothing=label_smoothing)
    eps = label_smoothing
    target = soft * (1 - eps) + eps / NUM_CLASSES
    per_example = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
    return (per_example * weights[y]).mean()


def crowd_loss(
    loop: LoopState, logits: torch.Tensor, idx: torch.Tensor, *, device: torch.device, label_smoothing: float
) -> torch.Tensor:
    """Soft cross-entropy of the crowd head against the vote shares, on rows that are targets."""
    assert loop.crowd is not None and loop.crowd_valid is not None and loop.crowd_weights is not None
    assert loop.crowd_offset is not None
    valid = loop.crowd_valid[idx].to(device)
    if not bool(valid.any()):
        return logits.sum() * 0.0
    target = loop.crowd[idx].to(device)[valid]
    eps = label_smoothing
    target = target * (1 - eps) + eps / NUM_CLASSES
    adjusted = logits[valid] + loop.crowd_offset
    per_example = -(target * F.log_softmax(adjusted, dim=1)).sum(dim=1)
    weights = loop.crowd_weights[target.argmax(dim=1)]
    # Scaled to the whole batch, so that a batch with fewer crowd targets weighs less.
    return (per_example * weights).sum() / len(idx)
