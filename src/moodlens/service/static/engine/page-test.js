// The parity test page's hooks (tests/test_engine_parity.py drives them through WebDriver):
//   await window.engineTest.start({threads, settings, profile}) -> the engine's info (profile: a
//     fit's numbers, read through on the main track as in browser mode)
//   await window.engineTest.analysePng(base64Png, timestampMs) -> the engine's result (+ pixel sum)
import { createEngine } from "./engine.js";

let engine = null;
const status = document.getElementById("status");

async function decodePng(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }), {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

window.engineTest = {
  async start({ threads = 1, settings = {}, profile = null } = {}) {
    if (engine) await engine.dispose();
    engine = await createEngine({ modelBase: "/models/", wasmPaths: "/engine/ort/", threads, settings });
    engine.setProfile(profile);
    status.textContent = `ready: ${engine.info.threads} thread(s)`;
    return engine.info;
  },
  async analysePng(base64, timestampMs) {
    const image = await decodePng(base64);
    let sum = 0;
    for (let i = 0; i < image.data.length; i += 4) sum += image.data[i] + image.data[i + 1] + image.data[i + 2];
    const result = await engine.process(image, timestampMs);
    return { ...result, pixel_sum: sum };
  },
  async detectPng(base64, threshold = null) {
    const image = await decodePng(base64);
    if (threshold === null) return engine.detector.detect(image);
    return engine.detector.raw(image, threshold);
  },
};
status.textContent = "loaded";
