import assert from "node:assert/strict";
import { test } from "node:test";
import { blob, decode, keep, nms, scanScale, scaled } from "../../src/moodlens/service/static/engine/detect.js";
import { constants, fixture, frame } from "./helpers.mjs";

const data = fixture("detect");
const shared = constants().detector;
const outputs = Object.fromEntries(Object.entries(data.outputs).map(([k, v]) => [k, Float32Array.from(v)]));
const near = (a, b, tol, what) => a.flat(2).forEach((v, i) => assert.ok(Math.abs(v - b.flat(2)[i]) <= tol, `${what}: ${v} vs ${b.flat(2)[i]}`));

test("decode: every cell above the threshold, as yunet.decode", () => {
  const found = decode(outputs, data.height, data.width, data.threshold, shared.strides);
  assert.equal(found.scores.length, data.decoded.scores.length);
  near(found.boxes, data.decoded.boxes, 1e-3, "boxes");
  near(found.scores, data.decoded.scores, 1e-6, "scores");
  near(found.landmarks, data.decoded.landmarks.map((m) => [0, 1, 2, 3, 4].map((k) => [m[2 * k], m[2 * k + 1]])), 1e-3, "landmarks");
});

test("NMS keeps the boxes cv2.dnn.NMSBoxes keeps, best first", () => {
  const found = decode(outputs, data.height, data.width, data.threshold, shared.strides);
  assert.ok(found.scores.length > data.kept.length, "the fixture has overlapping boxes to remove");
  assert.deepEqual(nms(found.boxes, found.scores, shared.nms_iou, shared.top_k), data.kept);
});

test("nothing above the threshold: nothing found", () => {
  const found = decode(outputs, data.height, data.width, 1.01, shared.strides);
  assert.deepEqual(found, { boxes: [], scores: [], landmarks: [] });
  assert.deepEqual(nms([], [], 0.3, 10), []);
});

test("a wrong output size is an error that says so", () => {
  assert.throws(() => decode({ ...outputs, cls_8: new Float32Array(3) }, data.height, data.width, 0.5, [8]), /cls_8 has 3 cells/);
});

test("the blob: BGR planes, zero-padded to multiples of 32", () => {
  const b = blob(frame(data.blob.image), shared.pad_multiple);
  assert.deepEqual([1, 3, b.height, b.width], data.blob.padded);
  const total = b.data.reduce((a, v) => a + v, 0);
  assert.equal(total, data.blob.sum);
  const plane = b.height * b.width;
  assert.deepEqual([0, 1, 2].map((c) => b.data[c * plane + b.width + 2]), data.blob.corner);
});

test("scan scale: large frames shrink, but never so far that min_face falls under the native minimum", () => {
  const settings = { min_face: 20, max_side: 640 };
  assert.equal(scanScale(360, 640, settings, 12), 1);
  assert.equal(scanScale(1080, 1920, settings, 12), 0.6);
  assert.equal(scanScale(1080, 1920, { min_face: 60, max_side: 640 }, 12), 1 / 3);
});

test("keep: clipped, thresholded, min_face on the unclipped box, best first", () => {
  const dets = [
    { box: [-5, 10, 30, 50], score: 0.9, landmarks: null },
    { box: [10, 10, 20, 20], score: 0.95, landmarks: null }, // too small
    { box: [50, 50, 90, 90], score: 0.5, landmarks: null }, // under the threshold
    { box: [60, 60, 130, 140], score: 0.97, landmarks: null }, // reaches past the frame
    { box: [200, 200, 240, 240], score: 0.99, landmarks: null }, // outside
  ];
  const out = keep(dets, { threshold: 0.87, min_face: 20 }, 120, 120);
  assert.deepEqual(out.map((d) => d.box), [
    [60, 60, 120, 120],
    [0, 10, 30, 50],
  ]);
});

test("scaled moves boxes and landmarks back to the frame's pixels", () => {
  const d = scaled({ box: [1, 2, 3, 4], score: 0.9, landmarks: [[1, 1], [2, 2], [3, 3], [4, 4], [5, 5]] }, 2);
  assert.deepEqual(d.box, [2, 4, 6, 8]);
  assert.deepEqual(d.landmarks[4], [10, 10]);
});
