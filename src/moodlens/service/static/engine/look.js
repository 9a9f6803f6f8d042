// The tracker's appearance cue, as pipeline/tracking.py computes it: hue-saturation histograms
// (16 x 8 bins, OpenCV's 8-bit HSV) of the middle of the face and of the clothes below it,
// compared by Bhattacharyya distance. Looks live in memory, per track, for the track's lifetime:
// nothing about a face's appearance is stored, logged or sent.

import { cropFrame, resizeArea } from "./resize.js";

// OpenCV's 8-bit RGB -> HSV division tables (hsv_shift = 12, hue range 180).
const SDIV = new Int32Array(256);
const HDIV = new Int32Array(256);
for (let i = 1; i < 256; i++) {
  SDIV[i] = Math.round((255 << 12) / i);
  HDIV[i] = Math.round((180 << 12) / (6 * i));
}

/** OpenCV's cvtColor(BGR2HSV) of one pixel: [h (0..179), s, v]. */
export function hsv(r, g, b) {
  const v = Math.max(r, g, b);
  const vmin = Math.min(r, g, b);
  const diff = v - vmin;
  const s = (diff * SDIV[v] + 2048) >> 12;
  let h;
  if (v === r) h = g - b;
  else if (v === g) h = b - r + 2 * diff;
  else h = r - g + 4 * diff;
  h = (h * HDIV[diff] + 2048) >> 12;
  if (h < 0) h += 180;
  return [h, s, v];
}

/** cv2.calcHist of H (16 bins over [0, 180)) and S (8 over [0, 256)), normalised to sum 1. */
export function hsHistogram(frame, bins) {
  const [hb, sb] = bins;
  const hist = new Float32Array(hb * sb);
  // OpenCV's lookup: bin = floor(value * (bins / range)), the factor computed first.
  const ha = hb / 180;
  const sa = sb / 256;
  const d = frame.data;
  const n = frame.width * frame.height;
  for (let i = 0; i < n; i++) {
    const [h, s] = hsv(d[i * 4], d[i * 4 + 1], d[i * 4 + 2]);
    const hi = Math.min(hb - 1, Math.floor(h * ha));
    const si = Math.min(sb - 1, Math.floor(s * sa));
    hist[hi * sb + si] += 1;
  }
  let total = 0;
  for (const v of hist) total += v;
  if (!(total > 0)) return null;
  for (let i = 0; i < hist.length; i++) hist[i] /= total;
  return hist;
}

function clip(box, width, height) {
  const out = [Math.max(0, box[0]), Math.max(0, box[1]), Math.min(width, box[2]), Math.min(height, box[3])];
  return out[2] <= out[0] || out[3] <= out[1] ? null : out;
}

const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);

/** Intersection over union of two [x1, y1, x2, y2] boxes (results.Box.iou). */
export function iou(a, b) {
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix * iy;
  const union = area(a) + area(b) - inter;
  return union > 0 ? inter / union : 0;
}

function histogram(frame, box, constants) {
  const clipped = clip(box, frame.width, frame.height);
  if (!clipped) return null;
  const [x1, y1, x2, y2] = clipped.map((v) => Math.trunc(v));
  if (x2 - x1 < 2 || y2 - y1 < 2) return null;
  const side = constants.hist_side;
  const patch = resizeArea(cropFrame(frame, x1, y1, x2, y2), side, side);
  return hsHistogram(patch, constants.hist_bins);
}

function band(box) {
  const w = box[2] - box[0];
  const h = box[3] - box[1];
  return [box[0] - 0.25 * w, box[3] + 0.25 * h, box[2] + 0.25 * w, box[3] + 1.25 * h];
}

function grown(box, fraction) {
  const dx = (fraction * (box[2] - box[0])) / 2;
  const dy = (fraction * (box[3] - box[1])) / 2;
  return [box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy];
}

/** The look of the face in `box` (tracking.appearance_of): {face, body | null} or null. */
export function appearanceOf(frame, box, constants) {
  const mx = 0.15 * (box[2] - box[0]);
  const my = 0.15 * (box[3] - box[1]);
  const face = histogram(frame, [box[0] + mx, box[1] + my, box[2] - mx, box[3] - my], constants);
  if (!face) return null;
  const b = band(box);
  const inside = clip(b, frame.width, frame.height);
  const body = inside && area(inside) >= 0.6 * area(b) ? histogram(frame, b, constants) : null;
  return { face, body };
}

/** The look of every face of a frame, only what is that face's own (tracking.looks_of). */
export function looksOf(frame, boxes, constants) {
  const big = boxes.map((b) => grown(b, 0.2));
  const bands = boxes.map(band);
  return boxes.map((box, i) => {
    const others = boxes.map((_, j) => j).filter((j) => j !== i);
    if (others.some((j) => iou(big[i], boxes[j]) > 0)) return null;
    const look = appearanceOf(frame, box, constants);
    if (look && others.some((j) => iou(bands[i], boxes[j]) > 0 || iou(bands[i], bands[j]) > 0)) {
      return { face: look.face, body: null };
    }
    return look;
  });
}

/** A running mean of two looks: `weight` of `other`; a body seen by one side only is kept. */
export function blend(look, other, weight) {
  const mix = (a, b) => Float32Array.from(a, (v, i) => Math.fround((1 - weight) * v) + Math.fround(weight * b[i]));
  let body = look.body;
  if (other.body) body = body ? mix(body, other.body) : other.body;
  return { face: mix(look.face, other.face), body };
}

/** cv2.compareHist(a, b, HISTCMP_BHATTACHARYYA). */
export function bhattacharyya(a, b) {
  let s1 = 0;
  let s2 = 0;
  let result = 0;
  for (let i = 0; i < a.length; i++) {
    s1 += a[i];
    s2 += b[i];
    result += Math.sqrt(a[i] * b[i]);
  }
  s1 *= s2;
  s1 = Math.abs(s1) > 1.1920928955078125e-7 ? 1 / Math.sqrt(s1) : 1;
  return Math.sqrt(Math.max(1 - result * s1, 0));
}

/** How unlike two looks are, in [0, 1]; 0.5 when one is missing (tracking.appearance_distance). */
export function appearanceDistance(a, b) {
  if (!a || !b) return 0.5;
  const face = bhattacharyya(a.face, b.face);
  if (!a.body || !b.body) return face;
  return Math.max(face, 0.5 * (face + bhattacharyya(a.body, b.body)));
}
