import assert from "node:assert/strict";
import { test } from "node:test";
import { appearanceDistance, hsv, looksOf } from "../../src/moodlens/service/static/engine/look.js";
import { FaceTracker, motionScore } from "../../src/moodlens/service/static/engine/track.js";
import { constants, fixture, frame } from "./helpers.mjs";

const data = fixture("track");
const settings = constants().tracker;

for (const [name, withLook] of [
  ["ids_without_look", false],
  ["ids_with_look", true],
]) {
  test(`the tracker gives the Python tracker's ids, frame by frame (${withLook ? "with" : "without"} the look)`, () => {
    const tracker = new FaceTracker(settings);
    const image = frame(data.image);
    data.frames.forEach((f, i) => {
      const ids = tracker.update(f.boxes, f.t, { frame: withLook ? image : null, cut: f.cut });
      assert.deepEqual(ids, data[name][i], `frame ${i} (t=${f.t})`);
    });
  });
}

test("no boxes: no ids, and nothing is confirmed", () => {
  const tracker = new FaceTracker(settings);
  assert.deepEqual(tracker.update([], 0), []);
  assert.deepEqual(tracker.events.confirmed, []);
});

test("a face becomes a person on its second sighting, and keeps its id", () => {
  const tracker = new FaceTracker(settings);
  assert.deepEqual(tracker.update([[10, 10, 60, 60]], 0), [null]);
  assert.deepEqual(tracker.update([[12, 10, 62, 60]], 33), [1]);
  assert.deepEqual(tracker.update([[14, 10, 64, 60]], 66), [1]);
});

test("a shot cut ends every track", () => {
  const tracker = new FaceTracker(settings);
  tracker.update([[10, 10, 60, 60]], 0);
  tracker.update([[10, 10, 60, 60]], 33);
  assert.deepEqual(tracker.update([[10, 10, 60, 60]], 66, { cut: true }), [null]);
  assert.equal(tracker.events.ended.length, 1);
});

test("motion score: overlap first, then a close centre of a similar size", () => {
  assert.ok(motionScore([0, 0, 10, 10], [0, 0, 10, 10], 0.25) === 2);
  const fast = motionScore([0, 0, 10, 10], [4, 4, 14, 14], 0.25);
  assert.ok(fast > 0 && fast < 1, `${fast}`);
  assert.equal(motionScore([0, 0, 10, 10], [100, 100, 110, 110], 0.25), 0);
});

test("OpenCV's 8-bit HSV", () => {
  assert.deepEqual(hsv(255, 0, 0), [0, 255, 255]);
  assert.deepEqual(hsv(0, 255, 0), [60, 255, 255]);
  assert.deepEqual(hsv(0, 0, 255), [120, 255, 255]);
  assert.deepEqual(hsv(10, 10, 10), [0, 0, 10]);
});

test("looks and their distances equal tracking.looks_of and appearance_distance", () => {
  const looks = looksOf(frame(data.image), data.looks.boxes, settings);
  looks.forEach((look, i) => {
    const want = data.looks.looks[i];
    if (want === null) return assert.equal(look, null, `look ${i}`);
    for (const part of ["face", "body"]) {
      if (want[part] === null) assert.equal(look[part], null, `look ${i} ${part}`);
      else want[part].forEach((v, k) => assert.ok(Math.abs(look[part][k] - v) < 1e-6, `look ${i} ${part}[${k}]`));
    }
  });
  looks.forEach((a, i) =>
    looks.forEach((b, j) => assert.ok(Math.abs(appearanceDistance(a, b) - data.looks.distances[i][j]) < 1e-5, `${i}, ${j}`)),
  );
});
