import assert from "node:assert/strict";
import { test } from "node:test";
import { resizeArea, resizeLinear, roundEven } from "../../src/moodlens/service/static/engine/resize.js";
import { bgrOf, bytes, compare, fixture, frame } from "./helpers.mjs";

const data = fixture("resize");

test("roundEven rounds half to even, as OpenCV and Python do", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundEven), [0, 2, 2, -0, -2, 2, 3]);
});

for (const c of data.cases) {
  test(`cv2.resize ${c.mode} to ${c.width}x${c.height}`, () => {
    const src = frame(data.image);
    const out = c.mode === "area" ? resizeArea(src, c.width, c.height) : resizeLinear(src, c.width, c.height);
    assert.equal(out.width, c.width);
    assert.equal(out.height, c.height);
    const { max, share } = compare(bgrOf(out), bytes(c.bgr));
    // Shrinking by area is bit-exact; bilinear may differ by one level on a few values (OpenCV's
    // vector and scalar paths round differently).
    if (c.mode === "area" && c.width <= data.image.width && c.height <= data.image.height) assert.equal(max, 0);
    else assert.ok(max <= 1 && share < 0.05, `max ${max}, share ${share}`);
  });
}

test("cv2.resize INTER_AREA by a whole factor (2x2 cells) is bit-exact", () => {
  const c = data.even.cases[0];
  const out = resizeArea(frame(data.even.image), c.width, c.height);
  assert.equal(compare(bgrOf(out), bytes(c.bgr)).max, 0);
});

test("cv2.resize with fx = fy: the size rounded, the factor kept", () => {
  const f = data.factor;
  const out = resizeArea(frame(data.image), 0, 0, f.factor);
  assert.deepEqual([out.width, out.height], [f.width, f.height]);
  assert.equal(compare(bgrOf(out), bytes(f.bgr)).max, 0);
});

test("the same size is a copy", () => {
  const src = frame(data.image);
  const out = resizeArea(src, src.width, src.height);
  assert.notEqual(out.data, src.data);
  assert.deepEqual(out.data, src.data);
});
