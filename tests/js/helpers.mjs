// Shared by the engine's Node tests: fixtures written by make_fixtures.py, and the constants.
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";

const here = new URL(".", import.meta.url);

export const ENGINE = new URL("../../src/moodlens/service/static/engine/", here).href;

/** A fixture written by make_fixtures.py. */
export function fixture(name) {
  return JSON.parse(readFileSync(new URL(`fixtures/${name}.json`, here), "utf8"));
}

/** shared_constants.json, as the engine reads it. */
export function constants() {
  return JSON.parse(readFileSync(new URL("../../src/moodlens/shared_constants.json", here), "utf8"));
}

/** Bytes of a zlib-compressed base64 field. */
export function bytes(field) {
  return new Uint8Array(inflateSync(Buffer.from(field, "base64")));
}

/** An RGBA frame {data, width, height} from a fixture image. */
export function frame(image) {
  return { data: new Uint8ClampedArray(bytes(image.rgba)), width: image.width, height: image.height };
}

/** The colour channels of an RGBA frame in BGR order (as OpenCV's outputs are stored). */
export function bgrOf(rgbaFrame) {
  const n = rgbaFrame.width * rgbaFrame.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[i * 3] = rgbaFrame.data[i * 4 + 2];
    out[i * 3 + 1] = rgbaFrame.data[i * 4 + 1];
    out[i * 3 + 2] = rgbaFrame.data[i * 4];
  }
  return out;
}

/** Largest absolute difference and the share of values that differ. */
export function compare(a, b) {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  let differ = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    if (d) differ++;
  }
  return { max, share: differ / a.length };
}
