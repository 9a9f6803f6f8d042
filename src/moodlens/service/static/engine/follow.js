// Following faces between detections, as pipeline/stream.py's StreamAnalyzer._follow does it:
// each face of the previous frame is moved to where its grey patch (shrunk to about `side` pixels
// high, INTER_AREA) matches best now (OpenCV's matchTemplate, TM_CCOEFF_NORMED, and minMaxLoc's
// first maximum) in a window of `margin` x its size around it. A patch too flat to match
// (`min_contrast` grey levels of standard deviation) or a best match under `min_score` is not
// followed (the engine detects instead). Settings: shared_constants.json's "stream.follow".

import { resizeArea } from "./resize.js";

/** The grey levels (cv2.COLOR_BGR2GRAY: OpenCV 4's 15-bit fixed point) of the rectangle
 * [x1, x2) x [y1, y2) of an RGBA frame, as an RGBA frame with R = G = B = grey (so that
 * resize.js shrinks it exactly as OpenCV shrinks one channel). */
export function greyCrop(frame, x1, y1, x2, y2) {
  const w = x2 - x1;
  const h = y2 - y1;
  const out = new Uint8ClampedArray(w * h * 4);
  const src = frame.data;
  for (let y = 0; y < h; y++) {
    let i = ((y + y1) * frame.width + x1) * 4;
    let o = y * w * 4;
    for (let x = 0; x < w; x++, i += 4, o += 4) {
      const grey = (src[i] * 9798 + src[i + 1] * 19235 + src[i + 2] * 3735 + 16384) >> 15;
      out[o] = grey;
      out[o + 1] = grey;
      out[o + 2] = grey;
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

/** One channel of an RGBA grey frame, as Float64Array. */
function channel(frame) {
  const n = frame.width * frame.height;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = frame.data[i * 4];
  return out;
}

/** Standard deviation of the values (numpy's std: population). */
export function std(values) {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) * (v - mean);
  return Math.sqrt(sq / values.length);
}

/** cv2.matchTemplate(region, patch, TM_CCOEFF_NORMED) then cv2.minMaxLoc: the best score and
 * where (x, y), the first in row order among equals. region and patch: {values, width, height}. */
export function matchTemplate(region, patch) {
  const { width: rw, height: rh, values: r } = region;
  const { width: pw, height: ph, values: p } = patch;
  const n = pw * ph;
  let pMean = 0;
  for (let i = 0; i < n; i++) pMean += p[i];
  pMean /= n;
  const centred = new Float64Array(n);
  let pNorm = 0;
  for (let i = 0; i < n; i++) {
    centred[i] = p[i] - pMean;
    pNorm += centred[i] * centred[i];
  }
  pNorm = Math.sqrt(pNorm);
  let best = -Infinity;
  let bx = 0;
  let by = 0;
  for (let y = 0; y + ph <= rh; y++) {
    for (let x = 0; x + pw <= rw; x++) {
      let sum = 0;
      let sum2 = 0;
      let cross = 0;
      for (let j = 0; j < ph; j++) {
        const row = (y + j) * rw + x;
        const prow = j * pw;
        for (let i = 0; i < pw; i++) {
          const v = r[row + i];
          sum += v;
          sum2 += v * v;
          cross += v * centred[prow + i];
        }
      }
      // OpenCV's normalisation (common_matchTemplate): a numerator past the denominator
      // (rounding) is 1 or -1 within 12.5%, else 0; a flat window scores 0.
      const t = Math.sqrt(Math.max(sum2 - (sum * sum) / n, 0)) * pNorm;
      let score;
      if (Math.abs(cross) < t) score = cross / t;
      else if (Math.abs(cross) < t * 1.125) score = cross > 0 ? 1 : -1;
      else score = 0;
      if (score > best) {
        best = score;
        bx = x;
        by = y;
      }
    }
  }
  return { score: best, x: bx, y: by };
}

/** The previous frame's faces (Map key -> detection {box, score, landmarks}) moved to where they
 * are in `frame`; [[key, detection], ...] for those that could be followed. */
export function follow(previousFrame, frame, previous, settings) {
  if (!previousFrame) return [];
  const { width, height } = frame;
  const out = [];
  for (const [key, det] of previous) {
    const [x1, y1, x2, y2] = det.box;
    const bw = x2 - x1;
    const bh = y2 - y1;
    const scale = Math.min(1, settings.side / Math.max(bh, 1));
    const margin = settings.margin * Math.max(bw, bh);
    const sx1 = Math.max(0, Math.trunc(x1 - margin));
    const sy1 = Math.max(0, Math.trunc(y1 - margin));
    const sx2 = Math.min(width, Math.trunc(x2 + margin));
    const sy2 = Math.min(height, Math.trunc(y2 + margin));
    const px1 = Math.max(0, Math.trunc(x1));
    const py1 = Math.max(0, Math.trunc(y1));
    const px2 = Math.min(width, Math.trunc(x2));
    const py2 = Math.min(height, Math.trunc(y2));
    if (px2 - px1 < 4 || py2 - py1 < 4 || sx2 - sx1 <= px2 - px1 || sy2 - sy1 <= py2 - py1) continue;
    const patch = resizeArea(greyCrop(previousFrame, px1, py1, px2, py2), 0, 0, scale);
    const region = resizeArea(greyCrop(frame, sx1, sy1, sx2, sy2), 0, 0, scale);
    if (patch.height > region.height || patch.width > region.width || Math.min(patch.width, patch.height) < 3) continue;
    const patchValues = channel(patch);
    if (std(patchValues) < settings.min_contrast) continue;
    const found = matchTemplate(
      { values: channel(region), width: region.width, height: region.height },
      { values: patchValues, width: patch.width, height: patch.height },
    );
    if (found.score < settings.min_score) continue;
    const dx = sx1 + found.x / scale - px1;
    const dy = sy1 + found.y / scale - py1;
    const moved = [
      Math.max(0, x1 + dx),
      Math.max(0, y1 + dy),
      Math.min(width, x2 + dx),
      Math.min(height, y2 + dy),
    ];
    if (moved[2] <= moved[0] || moved[3] <= moved[1]) continue;
    const landmarks = det.landmarks ? det.landmarks.map(([x, y]) => [x + dx, y + dy]) : det.landmarks;
    out.push([key, { box: moved, score: det.score, landmarks }]);
  }
  return out;
}
