import assert from "node:assert/strict";
import { test } from "node:test";
import { PersonalProfile } from "../../src/moodlens/service/static/engine/personal.js";
import { fixture } from "./helpers.mjs";

const { cases } = fixture("personal");

test("a profile read in the page gives moodlens.personal.Profile.apply's probabilities", () => {
  assert.equal(cases.length, 5);
  for (const { numbers, inputs, outputs } of cases) {
    const profile = new PersonalProfile(numbers);
    inputs.forEach((input, j) => {
      const got = profile.apply(input);
      assert.equal(got.length, 7);
      // Python rounds the result to float32.
      got.forEach((v, i) => assert.ok(Math.abs(v - outputs[j][i]) < 2e-6, `${numbers.name} input ${j} [${i}]: ${v} vs ${outputs[j][i]}`));
    });
  }
});

test("a profile without samples changes nothing", () => {
  const { numbers, inputs } = cases.find((c) => c.numbers.name === "empty");
  const profile = new PersonalProfile(numbers);
  const p = [0.1, 0.05, 0.05, 0.5, 0.1, 0.1, 0.1];
  profile.apply(p).forEach((v, i) => assert.ok(Math.abs(v - p[i]) < 1e-9));
  assert.ok(inputs.length > 0);
});

test("numbers missing a part are refused", () => {
  const { numbers } = cases[0];
  assert.throws(() => new PersonalProfile({ ...numbers, prototypes: undefined }), /prototypes/);
  assert.throws(() => new PersonalProfile({ ...numbers, shift: [0, 0] }), /7 numbers/);
});
