"""The decision rule of a class-balanced model: how much of the training prior to give back.

A model trained with a logit-adjusted loss (``logit_adjust_tau``) outputs probabilities as if every
expression were equally common, which reads rare expressions (fear, disgust) far better and common
ones (neutral, happy) a little worse. Adding ``beta * log(prior)`` to its log-probabilities moves
it back towards the natural posterior: ``beta = 0`` is fully balanced, ``beta = tau`` undoes the
adjustment. ``beta`` is chosen on PublicTest (never PrivateTest) by the mean of accuracy and
balanced accuracy, the two figures a user of the default model sees (how often it agrees with
people, and how well it reads each expression, however rare).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from moodlens.evaluation.metrics import compute_metrics
from moodlens.labels import NUM_CLASSES

BETAS = tuple(round(0.05 * i, 2) for i in range(21))


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
    logp: npt.ArrayLike, labels: npt.ArrayLike, counts: npt.ArrayLike, betas: tuple[float, ...] = BETAS
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
    best = max(table, key=lambda row: (row[1] + row[2], -row[0]))
    return DecisionChoice(best[0], tuple(round(float(v), 5) for v in best[0] * prior), tuple(table))
