import assert from "node:assert/strict";
import { test } from "node:test";
import { follow, greyCrop, matchTemplate } from "../../src/moodlens/service/static/engine/follow.js";
import { bytes, constants, fixture, frame } from "./helpers.mjs";

const data = fixture("follow");
const settings = constants().stream.follow;

test("grey levels equal cv2.COLOR_BGR2GRAY (OpenCV's fixed point)", () => {
  const image = frame(data.previous);
  const grey = greyCrop(image, 0, 0, image.width, image.height);
  const want = bytes(data.grey);
  want.forEach((v, i) => assert.equal(grey.data[i * 4], v, `pixel ${i}`));
});

test("matchTemplate's best score and place equal cv2.matchTemplate TM_CCOEFF_NORMED + minMaxLoc", () => {
  const m = data.match;
  const values = (field) => Float64Array.from(bytes(field));
  const found = matchTemplate(
    { values: values(m.region), width: m.region_size[0], height: m.region_size[1] },
    { values: values(m.patch), width: m.patch_size[0], height: m.patch_size[1] },
  );
  assert.deepEqual([found.x, found.y], m.at);
  assert.ok(Math.abs(found.score - m.score) < 1e-5, `${found.score} vs ${m.score}`);
});

test("faces followed as StreamAnalyzer._follow follows them (the flat, tiny and edge ones not)", () => {
  const previous = new Map(
    data.boxes.map((box, i) => [i + 10, { box, score: 0.9, landmarks: data.landmarks[i] }]),
  );
  const followed = follow(frame(data.previous), frame(data.frame), previous, settings);
  assert.deepEqual(followed.map(([key]) => key), data.followed.map((f) => f.key));
  followed.forEach(([, det], i) => {
    const want = data.followed[i];
    det.box.forEach((v, k) => assert.ok(Math.abs(v - want.box[k]) < 1e-3, `box ${i}: ${det.box} vs ${want.box}`));
    det.landmarks.flat().forEach((v, k) => assert.ok(Math.abs(v - want.landmarks.flat()[k]) < 1e-3));
    assert.equal(det.score, 0.9);
  });
});
