"""How a run measures a network: its softmax outputs on faces, and the PublicTest metrics that
select its epochs."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from moodlens.data import FaceDataset
from moodlens.evaluation.metrics import Metrics, compute_metrics
from moodlens.labels import NUM_CLASSES
from moodlens.training.augment import resize_batch
from moodlens.training.faces import to_tensor


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images: np.ndarray,
    *,
    size: int,
    device: torch.device,
    bf16: bool,
    batch_size: int = 256,
    hflip_tta: bool = False,
    heads: int = 1,
) -> np.ndarray:
    """Softmax outputs of ``model`` on uint8 (N,H,W) images: (N, 7 * heads), one softmax per head."""
    model.eval()
    out = []

    def softmax(logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits.float().view(len(logits), heads, NUM_CLASSES), dim=2).flatten(1)

    for start in range(0, len(images), batch_size):
        x = resize_batch(to_tensor(images[start : start + batch_size]).float(), size).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            probs = softmax(model(x))
            if hflip_tta:
                probs = (probs + softmax(model(torch.flip(x, dims=[3])))) / 2
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES * heads), np.float32)


def selection_metrics(val: FaceDataset, probs: np.ndarray, *, heads: int, ferplus_mode: str) -> Metrics:
    """PublicTest metrics of the first head, against the labels that select its epoch."""
    if heads == 1 and ferplus_mode == "distribution" and val.votes is not None:
        # A crowd model is selected by the measure it is reported on: the FERPlus majority.
        crowd = val.crowd_labels()
        rated = crowd >= 0
        return compute_metrics(crowd[rated], probs[rated, :NUM_CLASSES].argmax(1))
    return compute_metrics(val.labels, probs[:, :NUM_CLASSES].argmax(1))
