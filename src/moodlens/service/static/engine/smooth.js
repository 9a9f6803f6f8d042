// Temporal smoothing of expression probabilities per track and the uncertain rule, as
// pipeline/smoothing.py and labels.py do it. Probabilities follow an exponential moving average
// whose weight depends on the time since the last observation (time constant in ms, so the
// result does not depend on the frame rate); the shown label changes with hysteresis: a
// challenger must beat it by `hysteresis`, or stay on top for `persist_ms`, and a label is held
// at least `min_hold_ms`. A label held with less than `uncertain.below` is shown as "uncertain".
//
// Settings: shared_constants.json's "smoothing"; the uncertain rule: its "uncertain".

const argmax = (values) => {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
};

export class ExpressionSmoother {
  constructor(settings) {
    this.settings = settings;
    this.states = new Map();
  }

  /** Fold in one observation of track `key`; returns {smoothed (Float32Array), stable (index)}. */
  update(key, probabilities, t) {
    const probs = Float32Array.from(probabilities);
    const state = this.states.get(key);
    if (!state) {
      const top = argmax(probs);
      this.states.set(key, { smoothed: probs, lastMs: t, stable: top, stableSince: t, challenger: null, since: 0 });
      return { smoothed: Float32Array.from(probs), stable: top };
    }
    const dt = Math.max(0, t - state.lastMs);
    const tau = this.settings.time_constant_ms;
    const alpha = tau === 0 ? 1 : 1 - Math.exp(-dt / tau);
    const next = new Float32Array(probs.length);
    let total = 0;
    for (let i = 0; i < probs.length; i++) {
      next[i] = (1 - alpha) * state.smoothed[i] + alpha * probs[i];
      total += next[i];
    }
    total = Math.fround(total);
    for (let i = 0; i < probs.length; i++) next[i] /= total;
    state.smoothed = next;
    state.lastMs = t;
    this.updateLabel(state, t);
    return { smoothed: Float32Array.from(next), stable: state.stable };
  }

  updateLabel(state, now) {
    const s = this.settings;
    const top = argmax(state.smoothed);
    if (top === state.stable) {
      state.challenger = null;
      return;
    }
    if (top !== state.challenger) {
      state.challenger = top;
      state.since = now;
    }
    const held = now - state.stableSince >= s.min_hold_ms;
    const margin = state.smoothed[top] - state.smoothed[state.stable] >= s.hysteresis;
    const persisted = now - state.since >= s.persist_ms;
    if (held && (margin || persisted)) {
      state.stable = top;
      state.stableSince = now;
      state.challenger = null;
    }
  }

  forget(key) {
    this.states.delete(key);
  }

  keys() {
    return [...this.states.keys()];
  }
}

/** What every output shows for a label held with `probability`: the label, or "uncertain". */
export function shownLabel(labels, uncertain, index, probability) {
  return probability < uncertain.below ? uncertain.label : labels[index];
}
