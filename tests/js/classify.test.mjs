import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { calibrate, parseMetadata } from "../../src/moodlens/service/static/engine/classify.js";
import { fixture } from "./helpers.mjs";

for (const c of fixture("classify").cases) {
  test(`calibrated probabilities equal OnnxClassifier's (${c.output}, T=${c.temperature}, offset ${c.offset ? "yes" : "no"})`, () => {
    const meta = { output: c.output, temperature: c.temperature, offset: c.offset };
    c.rows.forEach((row, i) => {
      const got = calibrate(row, meta);
      got.forEach((p, k) => assert.ok(Math.abs(p - c.probabilities[i][k]) < 1e-5, `row ${i}[${k}]: ${p} vs ${c.probabilities[i][k]}`));
    });
  });
}

test("the shipped model's metadata: gray 48x48, its decision offset and temperature", () => {
  const raw = JSON.parse(readFileSync(new URL("../../src/moodlens/models/crowd.json", import.meta.url), "utf8"));
  const meta = parseMetadata(raw);
  assert.deepEqual(meta.inputSize, [48, 48]);
  assert.equal(meta.colour, "gray");
  assert.equal(meta.temperature, raw.calibration.temperature);
  assert.deepEqual(meta.offset, raw.decision.offset);
  assert.equal(meta.crop.align, true);
});

test("a colour model is refused with the reason", () => {
  assert.throws(() => parseMetadata({ labels: [], input: { size: [48, 48], colour: "rgb" } }), /gray faces only/);
});
