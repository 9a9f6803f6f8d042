"""Temporal smoothing of expression probabilities, per track, driven by timestamps.

Probabilities follow an exponential moving average whose weight depends on the time since
the last observation (a time constant in ms, so the result does not depend on the frame
rate). The displayed label changes with hysteresis: a challenger must beat the shown label by
a margin, or stay on top for ``persist_ms``, and a label is held at least ``min_hold_ms``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from moodlens.labels import Expression


@dataclass
class _State:
    smoothed: npt.NDArray[np.float32]
    last_ms: float
    stable: Expression
    stable_since_ms: float
    challenger: Expression | None = None
    challenger_since_ms: float = 0.0


@dataclass(frozen=True)
class SmoothingSettings:
    time_constant_ms: float = 300.0
    hysteresis: float = 0.1
    min_hold_ms: float = 250.0
    persist_ms: float = 1000.0

    def __post_init__(self) -> None:
        if self.time_constant_ms < 0 or self.min_hold_ms < 0 or self.persist_ms < 0:
            raise ValueError("smoothing times must be >= 0")
        if not 0.0 <= self.hysteresis < 1.0:
            raise ValueError("hysteresis must lie in [0, 1)")


class ExpressionSmoother:
    """Keeps one smoothing state per key (a track id)."""

    def __init__(self, settings: SmoothingSettings | None = None) -> None:
        self.settings = settings or SmoothingSettings()
        self._states: dict[int, _State] = {}

    def update(
        self, key: int, probabilities: npt.ArrayLike, timestamp_ms: float
    ) -> tuple[npt.NDArray[np.float32], Expression]:
        """Fold in one observation; returns (smoothed probabilities, label to show)."""
        probs = np.asarray(probabilities, dtype=np.float32)
        state = self._states.get(key)
        if state is None:
            top = Expression(int(np.argmax(probs)))
            self._states[key] = _State(probs.copy(), timestamp_ms, top, timestamp_ms)
            return probs.copy(), top
        dt = max(0.0, timestamp_ms - state.last_ms)
        tau = self.settings.time_constant_ms
        alpha = 1.0 if tau == 0 else 1.0 - math.exp(-dt / tau)
        state.smoothed = ((1 - alpha) * state.smoothed + alpha * probs).astype(np.float32)
        state.smoothed /= state.smoothed.sum()
        state.last_ms = timestamp_ms
        self._update_label(state, timestamp_ms)
        return state.smoothed.copy(), state.stable

    def _update_label(self, state: _State, now: float) -> None:
        top = Expression(int(np.argmax(state.smoothed)))
        if top == state.stable:
            state.challenger = None
            return
        if top != state.challenger:
            state.challenger, state.challenger_since_ms = top, now
        held = now - state.stable_since_ms >= self.settings.min_hold_ms
        margin = float(state.smoothed[top] - state.smoothed[state.stable]) >= self.settings.hysteresis
        persisted = now - state.challenger_since_ms >= self.settings.persist_ms
        if held and (margin or persisted):
            state.stable, state.stable_since_ms, state.challenger = top, now, None

    def forget(self, key: int) -> None:
        self._states.pop(key, None)

    def keys(self) -> list[int]:
        return list(self._states)
