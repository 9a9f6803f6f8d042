import assert from "node:assert/strict";
import { test } from "node:test";
import { ExpressionSmoother, shownLabel } from "../../src/moodlens/service/static/engine/smooth.js";
import { constants, fixture } from "./helpers.mjs";

const shared = constants();

test("smoothed probabilities and shown labels equal pipeline/smoothing.py's", () => {
  const smoother = new ExpressionSmoother(shared.smoothing);
  for (const step of fixture("smooth").steps) {
    if (step.forget) {
      smoother.forget(step.forget);
      continue;
    }
    const { smoothed, stable } = smoother.update(step.key, step.probs, step.t);
    assert.equal(stable, step.stable, `t=${step.t}`);
    step.smoothed.forEach((v, i) => assert.ok(Math.abs(smoothed[i] - v) < 1e-5, `t=${step.t} [${i}]`));
  }
});

test("the first observation passes through", () => {
  const smoother = new ExpressionSmoother(shared.smoothing);
  const { smoothed, stable } = smoother.update(1, [0.1, 0, 0, 0.8, 0.1, 0, 0], 0);
  assert.equal(stable, 3);
  assert.ok(Math.abs(smoothed[3] - 0.8) < 1e-6);
  assert.deepEqual(smoother.keys(), [1]);
});

test("the uncertain rule: a label held under 40% is shown as uncertain", () => {
  const { labels, uncertain } = shared;
  assert.equal(shownLabel(labels, uncertain, 3, 0.39), "uncertain");
  assert.equal(shownLabel(labels, uncertain, 3, 0.4), "happy");
});
