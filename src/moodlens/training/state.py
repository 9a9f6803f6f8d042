"""Training state that outlives a step: what a run carries from batch to batch, EMA weights, the
learning-rate schedule, RNG state and checkpoints written atomically (a run killed mid-write keeps
its previous checkpoint)."""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moodlens.training.config import TrainConfig


class EMA:
    """Exponential moving average of weights (float tensors) and buffers (copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # Warm-up: early on, follow the live weights closely.
        decay = min(self.decay, (1 + step) / (10 + step))
        live = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(live[name].detach(), alpha=1 - decay)
            else:
                value.copy_(live[name])


def lr_at(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    warm = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def rng_state(gen: torch.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "gen": gen.get_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


@dataclass
class LoopState:
    """Everything a run carries from batch to batch and epoch to epoch."""

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    teacher: nn.Module | None
    weights: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor | None
    gen: torch.Generator
    steps_per_epoch: int
    #: Two-head runs: the crowd head's soft targets, where they are targets, and its class weights.
    crowd: torch.Tensor | None = None
    crowd_valid: torch.Tensor | None = None
    crowd_weights: torch.Tensor | None = None
    #: ``tau * log(prior)`` of the first head's and the crowd head's training labels, added to
    #: the logits inside the loss only (a logit-adjusted run); zeros otherwise.
    offset: torch.Tensor | None = None
    #: What the student's logits get before they are compared with the teachers' (the difference
    #: between the two logit adjustments); None: the same as ``offset``.
    distill_offset: torch.Tensor | None = None
    crowd_offset: torch.Tensor | None = None
    #: The training pass through ``model`` (compiled with ``compile = true``); None: the model.
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None
    epoch: int = 0
    step: int = 0
    best_acc: float = -1.0
    best_epoch: int = -1
    #: Two-head runs: the crowd head's best PublicTest FERPlus-majority accuracy and its epoch.
    best_crowd_acc: float = -1.0
    best_crowd_epoch: int = -1
    stale: int = 0
