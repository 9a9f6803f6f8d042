"""Do the probabilities mean what they say? Expected calibration error, reliability bins and
temperature scaling (numpy only).

ECE follows Guo et al. (2017), "On Calibration of Modern Neural Networks": the top-class
confidence is binned into 15 equal-width bins over [0, 1], and the gaps between each bin's mean
confidence and its accuracy are averaged, weighted by the bin's share of examples. Temperature
scaling divides the logits by one scalar T fitted by minimising the negative log-likelihood on a
held-out split (PublicTest here), which changes confidences but never the predicted label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

ECE_BINS = 15
#: Temperatures searched when fitting (the metadata accepts [0.05, 20]).
T_RANGE = (0.1, 10.0)


@dataclass(frozen=True)
class Reliability:
    """Per-bin mean confidence, accuracy and count, for a reliability diagram."""

    edges: npt.NDArray[np.float64]
    confidence: npt.NDArray[np.float64]
    accuracy: npt.NDArray[np.float64]
    count: npt.NDArray[np.int64]

    @property
    def ece(self) -> float:
        total = int(self.count.sum())
        if total == 0:
            return 0.0
        gaps = np.abs(self.confidence - self.accuracy) * self.count
        return float(np.nansum(gaps) / total)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bins": len(self.count),
            "ece": round(self.ece, 5),
            "confidence": [None if math.isnan(v) else round(float(v), 4) for v in self.confidence],
            "accuracy": [None if math.isnan(v) else round(float(v), 4) for v in self.accuracy],
            "count": self.count.tolist(),
        }


def _check(probs: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"probabilities must be (N, C) for N labels, got {p.shape} and {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError("labels must index the probability columns")
    return p, y


def reliability(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = ECE_BINS) -> Reliability:
    """Reliability bins of the top-class confidence (empty bins hold NaN)."""
    p, y = _check(probs, labels)
    edges = np.linspace(0.0, 1.0, bins + 1)
    confidence = p.max(axis=1) if len(p) else np.zeros(0)
    correct = (p.argmax(axis=1) == y) if len(p) else np.zeros(0, dtype=bool)
    # Bin i holds (edges[i], edges[i+1]]; a confidence of exactly 0 goes to the first bin.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=bins) / count
        mean_acc = np.bincount(index, weights=correct.astype(np.float64), minlength=bins) / count
    return Reliability(edges, mean_conf, mean_acc, count)


def expected_calibration_error(probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = ECE_BINS) -> float:
    return reliability(probs, labels, bins).ece


def tempered(probs: npt.ArrayLike, temperature: float) -> npt.NDArray[np.float64]:
    """``softmax(logits / T)`` computed from ``softmax(logits)`` (exact: the logs differ by a constant)."""
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    e = np.exp(logp)
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def negative_log_likelihood(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    p, y = _check(probs, labels)
    if len(y) == 0:
        return 0.0
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def fit_temperature(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The temperature that minimises the NLL of ``labels`` (golden-section search on log T).

    The NLL of temperature-scaled logits is convex in 1/T, hence unimodal in log T.
    """
    p, y = _check(probs, labels)
    if len(y) == 0:
        raise ValueError("cannot fit a temperature on no examples")
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return negative_log_likelihood(tempered(p, math.exp(log_t)), y)

    a, b = lo + (1 - ratio) * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(60):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - ratio) * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = loss(b)
    return float(math.exp((lo + hi) / 2))
