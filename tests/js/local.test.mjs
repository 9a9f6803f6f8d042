import assert from "node:assert/strict";
import { test } from "node:test";
import { LocalTally, observations, threadsFor } from "../../src/moodlens/service/static/local.js";
import { constants, fixture } from "./helpers.mjs";

const data = fixture("tally");
const { labels } = constants();

test("the page's own stop summary counts time as moodlens.summary does", () => {
  const tally = new LocalTally();
  for (const result of data.results) tally.add(result);
  const summary = tally.summary();
  assert.equal(summary.track_count, Object.keys(data.summaries).length);
  assert.equal(summary.people, summary.track_count);
  assert.equal(summary.frames, data.results.length);
  for (const track of summary.tracks) {
    const want = data.summaries[String(track.track_id)];
    assert.ok(Math.abs(track.duration_ms - want.duration_ms) < 1e-6, `#${track.track_id} ${track.duration_ms} vs ${want.duration_ms}`);
    for (const label of labels) {
      assert.ok(Math.abs((track.shares[label] ?? 0) - want.shares[label]) < 1e-9, `#${track.track_id} ${label}`);
    }
  }
});

test("observations carry what the history keeps, of confirmed faces only", () => {
  const probs = Object.fromEntries(labels.map((l) => [l, 1 / 7]));
  const face = { box: [1, 2, 3, 4], score: 0.9, landmarks: {}, label: "happy", probabilities: probs, stable_label: "sad", smoothed_probabilities: probs, shown_label: "sad", uncertain: false };
  const message = observations({ t: 1234.5, frame: 3, width: 640, height: 480, faces: [{ ...face, track_id: 4 }, { ...face }] });
  assert.deepEqual(message, {
    type: "observations",
    t: 1234.5,
    faces: [{ track_id: 4, stable_label: "sad", smoothed_probabilities: probs }],
  });
});

test("the face read through a profile also carries the model's own reading, raw and smoothed (the history keeps that)", () => {
  const even = Object.fromEntries(labels.map((l) => [l, 1 / 7]));
  const model = Object.fromEntries(labels.map((l) => [l, l === "sad" ? 0.4 : 0.1]));
  const face = { box: [1, 2, 3, 4], score: 0.9, label: "neutral", probabilities: even, stable_label: "neutral", smoothed_probabilities: even };
  const message = observations({
    t: 10,
    faces: [
      {
        ...face,
        track_id: 1,
        profile: "ann",
        model_label: "sad",
        model_probabilities: model,
        model_smoothed_probabilities: even,
        model_stable_label: "happy",
      },
      { ...face, track_id: 2 },
    ],
  });
  assert.deepEqual(message.faces, [
    {
      track_id: 1,
      stable_label: "neutral",
      smoothed_probabilities: even,
      model_probabilities: model,
      model_smoothed_probabilities: even,
      model_stable_label: "happy",
    },
    { track_id: 2, stable_label: "neutral", smoothed_probabilities: even },
  ]);
});

test("WebAssembly threads: half the cores, 1 to 4, and 1 where the page is not isolated", () => {
  assert.equal(threadsFor(2, true), 1);
  assert.equal(threadsFor(8, true), 4);
  assert.equal(threadsFor(16, true), 4);
  assert.equal(threadsFor(6, true), 3);
  assert.equal(threadsFor(8, false), 1);
});
