// Image resizing as OpenCV's cv2.resize does it on 8-bit 3-channel images, so that what the
// detector, the aligner and the tracker's look see in the page is what they see in Python.
//
// Images here are RGBA frames: {data: Uint8ClampedArray (or Uint8Array) of width*height*4,
// width, height}. Only the colour channels are resized; alpha is set to 255.
//
// INTER_AREA (shrinking): OpenCV's area weights in float32 (its ResizeArea_Invoker), and its
// integer fast path when the factor is a whole number (2x2 cells: (sum + 2) >> 2).
// INTER_LINEAR: OpenCV's fixed-point bilinear (11-bit coefficients), used for INTER_AREA when an
// axis grows (with the area coefficients) and for the cut check's thumbnail.

/** Round half to even, as OpenCV's cvRound (lrint) and Python's round() do. */
export function roundEven(x) {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const clamp255 = (v) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** A new RGBA frame of this size (alpha 255). */
export function newFrame(width, height) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  return { data, width, height };
}

/** The rectangle [x1, x2) x [y1, y2) of a frame, copied (integer bounds inside the frame). */
export function cropFrame(frame, x1, y1, x2, y2) {
  const w = x2 - x1;
  const h = y2 - y1;
  const out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const start = ((y + y1) * frame.width + x1) * 4;
    out.set(frame.data.subarray(start, start + w * 4), y * w * 4);
  }
  return { data: out, width: w, height: h };
}

function areaTable(ssize, dsize, scale) {
  // OpenCV's computeResizeAreaTab: (destination, source, weight) triples.
  const di = [];
  const si = [];
  const alpha = [];
  for (let dx = 0; dx < dsize; dx++) {
    const fsx1 = dx * scale;
    const fsx2 = fsx1 + scale;
    const cellWidth = Math.min(scale, ssize - fsx1);
    let sx1 = Math.ceil(fsx1);
    let sx2 = Math.floor(fsx2);
    sx2 = Math.min(sx2, ssize - 1);
    sx1 = Math.min(sx1, sx2);
    if (sx1 - fsx1 > 1e-3) {
      di.push(dx);
      si.push(sx1 - 1);
      alpha.push(Math.fround((sx1 - fsx1) / cellWidth));
    }
    for (let sx = sx1; sx < sx2; sx++) {
      di.push(dx);
      si.push(sx);
      alpha.push(Math.fround(1.0 / cellWidth));
    }
    if (fsx2 - sx2 > 1e-3) {
      di.push(dx);
      si.push(sx2);
      alpha.push(Math.fround(Math.min(Math.min(fsx2 - sx2, 1), cellWidth) / cellWidth));
    }
  }
  return { di: Int32Array.from(di), si: Int32Array.from(si), alpha: Float32Array.from(alpha) };
}

function areaGeneral(src, dw, dh, scaleX, scaleY) {
  const out = newFrame(dw, dh);
  const xt = areaTable(src.width, dw, scaleX);
  const yt = areaTable(src.height, dh, scaleY);
  const buf = new Float32Array(dw * 3);
  const sum = new Float32Array(dw * 3);
  const s = src.data;
  const d = out.data;
  const n = xt.di.length;
  const xsi = xt.si.map((v) => v * 4);
  const xdi = xt.di.map((v) => v * 3);
  const xa = xt.alpha;
  const fr = Math.fround;
  const width3 = dw * 3;
  let prev = yt.di[0];
  const flush = (row) => {
    let o = row * dw * 4;
    for (let i = 0; i < width3; i += 3, o += 4) {
      d[o] = clamp255(roundEven(sum[i]));
      d[o + 1] = clamp255(roundEven(sum[i + 1]));
      d[o + 2] = clamp255(roundEven(sum[i + 2]));
    }
  };
  for (let j = 0; j < yt.di.length; j++) {
    const beta = yt.alpha[j];
    const dy = yt.di[j];
    const rowStart = yt.si[j] * src.width * 4;
    buf.fill(0);
    for (let k = 0; k < n; k++) {
      const si = rowStart + xsi[k];
      const dn = xdi[k];
      const a = xa[k];
      buf[dn] += fr(s[si] * a);
      buf[dn + 1] += fr(s[si + 1] * a);
      buf[dn + 2] += fr(s[si + 2] * a);
    }
    if (dy !== prev) {
      flush(prev);
      for (let i = 0; i < width3; i++) sum[i] = fr(beta * buf[i]);
      prev = dy;
    } else {
      for (let i = 0; i < width3; i++) sum[i] += fr(beta * buf[i]);
    }
  }
  flush(prev);
  return out;
}

function areaFast(src, dw, dh, sx, sy) {
  // OpenCV's resizeAreaFast_: whole cells; cells cut by the border average what they hold.
  const out = newFrame(dw, dh);
  const s = src.data;
  const d = out.data;
  const W = src.width;
  const H = src.height;
  const area = sx * sy;
  const scale = Math.fround(1 / area);
  const full = Math.floor(W / sx);
  for (let dy = 0; dy < dh; dy++) {
    const y0 = dy * sy;
    const fullRow = y0 + sy <= H;
    for (let dx = 0; dx < dw; dx++) {
      const x0 = dx * sx;
      const o = (dy * dw + dx) * 4;
      for (let c = 0; c < 3; c++) {
        let total = 0;
        let count = 0;
        for (let yy = 0; yy < sy && y0 + yy < H; yy++) {
          for (let xx = 0; xx < sx && x0 + xx < W; xx++) {
            total += s[((y0 + yy) * W + x0 + xx) * 4 + c];
            count++;
          }
        }
        if (fullRow && dx < full) {
          d[o + c] = area === 4 ? (total + 2) >> 2 : clamp255(roundEven(Math.fround(total * scale)));
        } else {
          d[o + c] = count ? clamp255(roundEven(Math.fround(total / count))) : 0;
        }
      }
    }
  }
  return out;
}

function linearCoefficients(ssize, dsize, scale, invScale, area) {
  // OpenCV's resizeGeneric_ coefficients for 2 taps, as 11-bit fixed point.
  const ofs = new Int32Array(dsize);
  const a0 = new Int32Array(dsize);
  const a1 = new Int32Array(dsize);
  for (let dx = 0; dx < dsize; dx++) {
    let sx;
    let fx;
    if (area) {
      sx = Math.floor(dx * scale);
      fx = Math.fround(dx + 1 - (sx + 1) * invScale);
      fx = fx <= 0 ? 0 : Math.fround(fx - Math.floor(fx));
    } else {
      fx = Math.fround((dx + 0.5) * scale - 0.5);
      sx = Math.floor(fx);
      fx = Math.fround(fx - sx);
    }
    if (sx < 0) {
      fx = 0;
      sx = 0;
    }
    if (sx >= ssize - 1) {
      fx = 0;
      sx = ssize - 1;
    }
    ofs[dx] = sx;
    a0[dx] = roundEven(Math.fround(1 - fx) * 2048);
    a1[dx] = roundEven(fx * 2048);
  }
  return { ofs, a0, a1 };
}

function linear(src, dw, dh, area) {
  const W = src.width;
  const H = src.height;
  const invX = dw / W;
  const invY = dh / H;
  const xc = linearCoefficients(W, dw, 1 / invX, invX, area);
  const yc = linearCoefficients(H, dh, 1 / invY, invY, area);
  const s = src.data;
  const out = newFrame(dw, dh);
  const d = out.data;
  const rows = [new Int32Array(dw * 3), new Int32Array(dw * 3)];
  const hresize = (y, row) => {
    const start = y * W * 4;
    for (let dx = 0; dx < dw; dx++) {
      const sx = xc.ofs[dx];
      const nx = Math.min(sx + 1, W - 1);
      const p = start + sx * 4;
      const q = start + nx * 4;
      for (let c = 0; c < 3; c++) row[dx * 3 + c] = s[p + c] * xc.a0[dx] + s[q + c] * xc.a1[dx];
    }
  };
  for (let dy = 0; dy < dh; dy++) {
    const sy = yc.ofs[dy];
    hresize(sy, rows[0]);
    hresize(Math.min(sy + 1, H - 1), rows[1]);
    const b0 = yc.a0[dy];
    const b1 = yc.a1[dy];
    for (let i = 0; i < dw * 3; i++) {
      // OpenCV's vectorised 8-bit vertical pass: (((r0 >> 4) * b0) >> 16) + (((r1 >> 4) * b1) >> 16), then + 2 >> 2.
      const v = (((rows[0][i] >> 4) * b0) >> 16) + (((rows[1][i] >> 4) * b1) >> 16);
      d[(dy * dw + ((i / 3) | 0)) * 4 + (i % 3)] = clamp255((v + 2) >> 2);
    }
  }
  return out;
}

/** cv2.resize(frame, (dw, dh), interpolation=cv2.INTER_AREA); with `factor`, as
 * cv2.resize(frame, None, fx=factor, fy=factor, ...) (the size rounded, the factor kept). */
export function resizeArea(src, dw, dh, factor = null) {
  if (factor !== null) {
    dw = roundEven(src.width * factor);
    dh = roundEven(src.height * factor);
  }
  if (dw === src.width && dh === src.height) {
    return { data: new Uint8ClampedArray(src.data), width: dw, height: dh };
  }
  const scaleX = 1 / (factor ?? dw / src.width);
  const scaleY = 1 / (factor ?? dh / src.height);
  if (scaleX >= 1 && scaleY >= 1) {
    const ix = roundEven(scaleX);
    const iy = roundEven(scaleY);
    if (Math.abs(scaleX - ix) < Number.EPSILON && Math.abs(scaleY - iy) < Number.EPSILON) {
      return areaFast(src, dw, dh, ix, iy);
    }
    return areaGeneral(src, dw, dh, scaleX, scaleY);
  }
  return linear(src, dw, dh, true);
}

/** cv2.resize(frame, (dw, dh), interpolation=cv2.INTER_LINEAR). */
export function resizeLinear(src, dw, dh) {
  if (dw === src.width && dh === src.height) {
    return { data: new Uint8ClampedArray(src.data), width: dw, height: dh };
  }
  return linear(src, dw, dh, false);
}
