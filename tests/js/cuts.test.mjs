import assert from "node:assert/strict";
import { test } from "node:test";
import { ShotCutDetector, contentChange, thumbnailHsv } from "../../src/moodlens/service/static/engine/cuts.js";
import { bytes, constants, fixture, frame } from "./helpers.mjs";

const data = fixture("cuts");
const settings = constants().cuts;

test("HSV thumbnails equal cuts.thumbnail_hsv (bilinear then area for wide frames, area alone else)", () => {
  data.frames.forEach((image, i) => {
    const thumb = thumbnailHsv(frame(image), settings.thumb_width);
    assert.deepEqual([thumb.height, thumb.width], data.sizes[i]);
    const want = new Int16Array(bytes(data.thumbnails[i]).buffer);
    let differ = 0;
    want.forEach((v, k) => {
      const d = Math.abs(thumb.data[k] - v);
      if (d > 0) differ++;
      assert.ok(d <= 2 || (k % 3 === 0 && d >= 178), `thumbnail ${i} value ${k}: ${thumb.data[k]} vs ${v}`);
    });
    assert.ok(differ / want.length < 0.02, `thumbnail ${i}: ${differ} values differ`);
  });
});

test("content scores equal cuts.content_change: the same shot scores low, another shot high", () => {
  const [a, b, c] = data.frames.slice(0, 3).map((f) => thumbnailHsv(frame(f), settings.thumb_width));
  assert.ok(Math.abs(contentChange(a, b) - data.scores[0]) < 0.2);
  assert.ok(Math.abs(contentChange(b, c) - data.scores[1]) < 0.2);
  assert.ok(data.scores[0] < settings.threshold && data.scores[1] > settings.threshold);
});

test("the detector finds the cut, once", () => {
  const cuts = new ShotCutDetector(settings);
  const found = data.frames.slice(0, 3).map((f, i) => cuts.update(frame(f), i * 40));
  assert.deepEqual(found, [false, false, true]);
});
