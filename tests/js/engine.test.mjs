import assert from "node:assert/strict";
import { test } from "node:test";
import { scanScale } from "../../src/moodlens/service/static/engine/detect.js";
import { serverDetectorSettings } from "../../src/moodlens/service/static/engine/engine.js";
import { constants } from "./helpers.mjs";

const shared = constants();
const health = { status: "ok", settings: { detector: "yunet", model: "crowd", max_faces: 20, min_face: 40, max_side: 480, threshold: 0.87 } };

test("the live page's engine detects with the server's settings, from /api/v1/health", () => {
  assert.deepEqual(serverDetectorSettings(health, shared.detector), { threshold: 0.87, min_face: 40, max_side: 480 });
});

test("settings the server does not report come from the fallback", () => {
  const fallback = shared.camera ?? shared.detector;
  const want = { threshold: fallback.threshold, min_face: fallback.min_face, max_side: fallback.max_side };
  assert.deepEqual(serverDetectorSettings({ status: "ok" }, fallback), want);
  assert.deepEqual(serverDetectorSettings(null, fallback), want);
  assert.deepEqual(serverDetectorSettings({ settings: { min_face: 40 } }, fallback), { ...want, min_face: 40 });
  assert.deepEqual(serverDetectorSettings({ settings: { min_face: "40" } }), {});
});

test("with the server's settings a 1080p frame is scanned at 576x324 and 640x360 at 480x270", () => {
  const settings = serverDetectorSettings(health);
  const native = shared.detector.native_min_face;
  assert.equal(scanScale(1080, 1920, settings, native), 0.3);
  assert.equal(scanScale(360, 640, settings, native), 0.75);
  // The shared defaults (moodlens image's) scan 1080p at 1152x648.
  assert.equal(scanScale(1080, 1920, shared.detector, native), 0.6);
});
