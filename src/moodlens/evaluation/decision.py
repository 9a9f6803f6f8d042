"""The decision rule of a class-balanced model: how much of the training prior to give back.

A model trained with a logit-adjusted loss (``logit_adjust_tau``) outputs probabilities as if every
expression were equally common, which reads rare expressions (fear, disgust) far better and common
ones (neutral, happy) a little worse. Adding ``beta * log(prior)`` to its log-probabilities moves
it back towards the natural posterior: ``beta = 0`` is fully balanced, ``beta = tau`` undoes the
adjustment; a negative ``beta`` balances a model trained on the natural prior (post-hoc logit
adjustment).

``beta`` is chosen on PublicTest (never PrivateTest): the most accurate ``beta`` whose balanced
accuracy (mean recall per expression) is at least ``min_balanced`` (0.80, the floor issue 27 sets
for the default model: how well it reads each expression, however rare), and when none reaches
it, the one with the best mean of the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from moodlens.evaluation.metrics import compute_metrics
from moodlens.labels import NUM_CLASSES

BETAS = tuple(round(0.05 * i, 2) for i in range(-20, 21))
MIN_BALANCED = 0.80


@dataclass(frozen=True)
class DecisionChoice:
    beta: float
    offset: tuple[float, ...]
    #: (beta, accuracy, balanced accuracy) for every beta tried.
    table: tuple[tuple[float, float, float], ...]


def log_prior(counts: npt.ArrayLike) -> npt.NDArray[np.float64]:
    c = np.asarray(counts, dtype=np.float64)
    if c.shape != (NUM_CLASSES,) or np.any(c < 0) or c.sum() <= 0:
        raise ValueError(f"expected {NUM_CLASSES} non-negative class counts, got {c}")
    prior = np.maximum(c / c.sum(), 1e-4)
    out: npt.NDArray[np.float64] = np.log(prior / prior.sum())
    return out


def choose_offset(
    logp: npt.ArrayLike,
    labels: npt.ArrayLike,
    counts: npt.ArrayLike,
    betas: tuple[float, ...] = BETAS,
    min_balanced: float = MIN_BALANCED,
) -> DecisionChoice:
    """``logp``: the model's log-probabilities without any offset or temperature (N, 7)."""
    scores = np.asarray(logp, dtype=np.float64)
    truth = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES or len(scores) != len(truth) or not len(truth):
        raise ValueError(f"expected (N, {NUM_CLASSES}) log-probabilities and N labels, N > 0")
    prior = log_prior(counts)
    table = []
    for beta in betas:
        metrics = compute_metrics(truth, (scores + beta * prior).argmax(axis=1))
        table.append((float(beta), metrics.accuracy, metrics.balanced_accuracy))
    floor = [row for row in table if row[2] >= min_balanced]
    if floor:
        best = max(floor, key=lambda row: (row[1], row[2]))
    else:
        best = max(table, key=lambda row: (row[1] + row[2], row[1]))
    return DecisionChoice(best[0], tuple(round(float(v), 5) for v in best[0] * prior), tuple(table))
