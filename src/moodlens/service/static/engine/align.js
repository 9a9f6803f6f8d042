// Face alignment and cropping, as classification/preprocess.py does it: a similarity transform
// takes the 5 landmarks onto the FER2013 template (Umeyama), the face is warped into the model's
// input size with OpenCV's fixed-point bilinear warpAffine (BORDER_REPLICATE), large faces are
// area-shrunk first (as _warp does), and the crop is turned to gray with OpenCV's coefficients.
//
// The crops live in memory for one frame only: nothing about a face is kept or sent.

import { cropFrame, resizeArea, roundEven } from "./resize.js";

/** Least-squares similarity (rotation, uniform scale, shift) taking src points to dst points
 * (Umeyama 1991, without reflection), as a 2x3 matrix [[a, b, tx], [c, d, ty]]. */
export function similarity(src, dst) {
  const n = src.length;
  let msx = 0;
  let msy = 0;
  let mdx = 0;
  let mdy = 0;
  for (let i = 0; i < n; i++) {
    msx += src[i][0];
    msy += src[i][1];
    mdx += dst[i][0];
    mdy += dst[i][1];
  }
  msx /= n;
  msy /= n;
  mdx /= n;
  mdy /= n;
  // Covariance cov = d^T s / n (2x2) and the variance of the source.
  let c00 = 0;
  let c01 = 0;
  let c10 = 0;
  let c11 = 0;
  let varS = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - msx;
    const sy = src[i][1] - msy;
    const dx = dst[i][0] - mdx;
    const dy = dst[i][1] - mdy;
    c00 += dx * sx;
    c01 += dx * sy;
    c10 += dy * sx;
    c11 += dy * sy;
    varS += sx * sx + sy * sy;
  }
  c00 /= n;
  c01 /= n;
  c10 /= n;
  c11 /= n;
  varS /= n;
  // For 2x2, the best proper rotation and Umeyama's scale (trace of D S over the variance) have a
  // closed form: rotation angle atan2(c10 - c01, c00 + c11), scale = |(c00 + c11, c10 - c01)| / var.
  const p = c00 + c11;
  const q = c10 - c01;
  const norm = Math.hypot(p, q);
  const cos = norm > 0 ? p / norm : 1;
  const sin = norm > 0 ? q / norm : 0;
  const scale = varS > 0 ? norm / varS : 1;
  const a = scale * cos;
  const b = -scale * sin;
  const c = scale * sin;
  const d = scale * cos;
  return [
    [a, b, mdx - (a * msx + b * msy)],
    [c, d, mdy - (c * msx + d * msy)],
  ];
}

function multiply(m, n) {
  // (2x3 as 3x3) m @ n
  return [
    [
      m[0][0] * n[0][0] + m[0][1] * n[1][0],
      m[0][0] * n[0][1] + m[0][1] * n[1][1],
      m[0][0] * n[0][2] + m[0][1] * n[1][2] + m[0][2],
    ],
    [
      m[1][0] * n[0][0] + m[1][1] * n[1][0],
      m[1][0] * n[0][1] + m[1][1] * n[1][1],
      m[1][0] * n[0][2] + m[1][1] * n[1][2] + m[1][2],
    ],
  ];
}

/** The 2x3 matrix taking image pixels to crop pixels for one face (preprocess.face_transform).
 * detection: {box: [x1, y1, x2, y2], landmarks: [[x, y] x 5] | null}; spec: the model's crop
 * spec {scale, shift_y, align}; size: [h, w]; template: the FER template (unit square). */
export function faceTransform(detection, spec, size, constants) {
  const [h, w] = size;
  let matrix;
  if (spec.align && detection.landmarks) {
    const template = constants.fer_template.map(([x, y]) => [x * w, y * h]);
    matrix = similarity(detection.landmarks, template);
  } else {
    const [x1, y1, x2, y2] = detection.box;
    const side = y2 - y1;
    const cx = (x1 + x2) / 2;
    const cy = (y1 + y2) / 2 + constants.box_centre_shift * side;
    const zoom = w / side;
    matrix = [
      [zoom, 0, w / 2 - zoom * cx],
      [0, (zoom * h) / w, h / 2 - ((zoom * h) / w) * cy],
    ];
  }
  if (spec.scale !== 1 || spec.shift_y !== 0) {
    const s = spec.scale;
    const adjust = [
      [1 / s, 0, w / 2 - w / 2 / s],
      [0, 1 / s, h / 2 - h / 2 / s - (spec.shift_y * h) / s],
    ];
    matrix = multiply(adjust, matrix);
  }
  return matrix;
}

/** The inverse of a 2x3 affine matrix (cv2.invertAffineTransform). */
export function invertAffine(m) {
  let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  det = det !== 0 ? 1 / det : 0;
  const a11 = m[1][1] * det;
  const a22 = m[0][0] * det;
  const a12 = -m[0][1] * det;
  const a21 = -m[1][0] * det;
  return [
    [a11, a12, -a11 * m[0][2] - a12 * m[1][2]],
    [a21, a22, -a21 * m[0][2] - a22 * m[1][2]],
  ];
}

/** cv2.warpAffine(frame, m, (w, h), INTER_LINEAR, BORDER_REPLICATE), bit-exact: OpenCV maps each
 * destination pixel back in 1/1024 px, then bilinear in 1/32 px steps with 15-bit weights. */
export function warpAffine(frame, m, w, h) {
  const inv = invertAffine(m);
  const W = frame.width;
  const H = frame.height;
  const s = frame.data;
  const out = new Uint8ClampedArray(w * h * 4);
  const adelta = new Int32Array(w);
  const bdelta = new Int32Array(w);
  for (let x = 0; x < w; x++) {
    adelta[x] = roundEven(inv[0][0] * x * 1024);
    bdelta[x] = roundEven(inv[1][0] * x * 1024);
  }
  for (let y = 0; y < h; y++) {
    const X0 = roundEven((inv[0][1] * y + inv[0][2]) * 1024) + 16;
    const Y0 = roundEven((inv[1][1] * y + inv[1][2]) * 1024) + 16;
    for (let x = 0; x < w; x++) {
      const X = (X0 + adelta[x]) >> 5;
      const Y = (Y0 + bdelta[x]) >> 5;
      const sx = X >> 5;
      const sy = Y >> 5;
      const ax = X & 31;
      const ay = Y & 31;
      const w00 = (32 - ax) * (32 - ay) * 32;
      const w01 = ax * (32 - ay) * 32;
      const w10 = (32 - ax) * ay * 32;
      const w11 = ax * ay * 32;
      const x0 = sx < 0 ? 0 : sx >= W ? W - 1 : sx;
      const x1 = sx + 1 < 0 ? 0 : sx + 1 >= W ? W - 1 : sx + 1;
      const y0 = sy < 0 ? 0 : sy >= H ? H - 1 : sy;
      const y1 = sy + 1 < 0 ? 0 : sy + 1 >= H ? H - 1 : sy + 1;
      const p00 = (y0 * W + x0) * 4;
      const p01 = (y0 * W + x1) * 4;
      const p10 = (y1 * W + x0) * 4;
      const p11 = (y1 * W + x1) * 4;
      const o = (y * w + x) * 4;
      for (let c = 0; c < 3; c++) {
        const v = s[p00 + c] * w00 + s[p01 + c] * w01 + s[p10 + c] * w10 + s[p11 + c] * w11;
        out[o + c] = (v + 16384) >> 15;
      }
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

/** One face's crop (preprocess._warp): shrink the face's region by area first when the warp
 * would shrink it below half size (one bilinear warp aliases), then warp. */
export function warpFace(frame, matrix, size, constants) {
  const [h, w] = size;
  let m = matrix;
  let image = frame;
  const zoom = Math.sqrt(Math.abs(m[0][0] * m[1][1] - m[0][1] * m[1][0]));
  if (zoom < constants.area_below_zoom) {
    const inv = invertAffine(m);
    const corners = [
      [0, 0],
      [w, 0],
      [0, h],
      [w, h],
    ].map(([x, y]) => [inv[0][0] * x + inv[0][1] * y + inv[0][2], inv[1][0] * x + inv[1][1] * y + inv[1][2]]);
    let x0 = Math.floor(Math.min(...corners.map((c) => c[0]))) - 2;
    let y0 = Math.floor(Math.min(...corners.map((c) => c[1]))) - 2;
    let x1 = Math.ceil(Math.max(...corners.map((c) => c[0]))) + 2;
    let y1 = Math.ceil(Math.max(...corners.map((c) => c[1]))) + 2;
    x0 = Math.max(0, x0);
    y0 = Math.max(0, y0);
    x1 = Math.min(frame.width, x1);
    y1 = Math.min(frame.height, y1);
    if (x1 - x0 >= 2 && y1 - y0 >= 2) {
      const factor = Math.min(1, 2 * zoom);
      const rw = Math.max(1, roundEven((x1 - x0) * factor));
      const rh = Math.max(1, roundEven((y1 - y0) * factor));
      image = resizeArea(cropFrame(frame, x0, y0, x1, y1), rw, rh);
      const fx = rw / (x1 - x0);
      const fy = rh / (y1 - y0);
      m = multiply(m, [
        [1 / fx, 0, x0],
        [0, 1 / fy, y0],
      ]);
    }
  }
  return warpAffine(image, m, w, h);
}

/** cv2.cvtColor(BGR2GRAY) of an RGBA frame: OpenCV 4's 15-bit fixed-point weights. */
export function toGray(frame) {
  const n = frame.width * frame.height;
  const out = new Uint8Array(n);
  const s = frame.data;
  for (let i = 0; i < n; i++) {
    const p = i * 4;
    out[i] = (s[p + 2] * 3735 + s[p + 1] * 19235 + s[p] * 9798 + 16384) >> 15;
  }
  return out;
}

/** Gray crops of the faces as the classifier's float32 NCHW input (N, 1, h, w), 0..255.
 * spec: the model's crop spec; size: [h, w]. */
export function cropFaces(frame, detections, spec, size, constants) {
  const [h, w] = size;
  const batch = new Float32Array(detections.length * h * w);
  detections.forEach((det, i) => {
    const crop = warpFace(frame, faceTransform(det, spec, size, constants), size, constants);
    batch.set(toGray(crop), i * h * w);
  });
  return batch;
}
