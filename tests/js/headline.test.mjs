import assert from "node:assert/strict";
import { test } from "node:test";
import { HeadlineTracker } from "../../src/moodlens/service/static/engine/headline.js";
import { constants, fixture } from "./helpers.mjs";

const shared = constants();

test("the headline equals pipeline/headline.py's, frame by frame (dwell, hysteresis, switches, a cut)", () => {
  const headline = new HeadlineTracker(shared.headline, shared.labels, shared.uncertain.label);
  for (const frame of fixture("headline").frames) {
    const got = headline.update({ timestamp_ms: frame.t, cut: frame.cut, faces: frame.faces });
    assert.deepEqual(got, frame.headline, `t=${frame.t}`);
  }
});

test("nobody: no headline", () => {
  const headline = new HeadlineTracker(shared.headline, shared.labels);
  assert.equal(headline.update({ timestamp_ms: 0, faces: [] }), null);
});
