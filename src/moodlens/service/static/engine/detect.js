// YuNet face detection, pre- and post-processing as detection/yunet.py and detection/base.py do
// it: the frame is shrunk (INTER_AREA) when faces of min_face pixels stay above the network's
// smallest face, padded at the bottom and right to a multiple of 32, fed as float32 BGR NCHW;
// each stride's cells are decoded (score sqrt(cls * obj), centre (cell + offset) * stride, size
// exp(log size) * stride, 5 landmarks), OpenCV's NMS (IoU 0.3) keeps the best, and boxes are
// clipped, filtered by score and size and sorted best first.
//
// The pure functions (blob, decode, nms, scanScale, keep) need no runtime; YuNet wraps a session.

import { resizeArea, roundEven } from "./resize.js";

/** How much to shrink a frame before detection (detection/base.py scan_scale). */
export function scanScale(height, width, settings, nativeMin) {
  const speed = settings.max_side / Math.max(height, width);
  const keepSmall = nativeMin / settings.min_face;
  return Math.min(1, Math.max(speed, keepSmall));
}

/** Float32 NCHW BGR blob of an RGBA frame, zero-padded to multiples of `multiple`. */
export function blob(frame, multiple) {
  const { width: w, height: h, data } = frame;
  const pw = Math.ceil(w / multiple) * multiple;
  const ph = Math.ceil(h / multiple) * multiple;
  const plane = pw * ph;
  const out = new Float32Array(3 * plane);
  for (let y = 0; y < h; y++) {
    let p = y * w * 4;
    let o = y * pw;
    for (let x = 0; x < w; x++, p += 4, o++) {
      out[o] = data[p + 2];
      out[plane + o] = data[p + 1];
      out[2 * plane + o] = data[p];
    }
  }
  return { data: out, height: ph, width: pw };
}

/** Every cell above threshold: {boxes: [[x1, y1, x2, y2]], scores: [], landmarks: [[[x, y] x 5]]}.
 * outputs: name -> Float32Array (cls_8, obj_8, bbox_8, kps_8, ... for each stride). */
export function decode(outputs, height, width, threshold, strides) {
  const boxes = [];
  const scores = [];
  const landmarks = [];
  for (const stride of strides) {
    const rows = Math.ceil(height / stride);
    const cols = Math.ceil(width / stride);
    const cls = outputs[`cls_${stride}`];
    const obj = outputs[`obj_${stride}`];
    const bbox = outputs[`bbox_${stride}`];
    const kps = outputs[`kps_${stride}`];
    if (cls.length !== rows * cols) {
      throw new Error(`YuNet output cls_${stride} has ${cls.length} cells, expected ${rows * cols}`);
    }
    for (let i = 0; i < cls.length; i++) {
      const c0 = Math.min(1, Math.max(0, cls[i]));
      const o0 = Math.min(1, Math.max(0, obj[i]));
      const score = Math.fround(Math.sqrt(Math.fround(c0 * o0)));
      if (!(score >= threshold)) continue;
      const r = Math.floor(i / cols);
      const c = i - r * cols;
      const cx = (c + bbox[i * 4]) * stride;
      const cy = (r + bbox[i * 4 + 1]) * stride;
      const bw = Math.exp(bbox[i * 4 + 2]) * stride;
      const bh = Math.exp(bbox[i * 4 + 3]) * stride;
      boxes.push([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2].map(Math.fround));
      scores.push(score);
      const marks = [];
      for (let k = 0; k < 5; k++) {
        marks.push([
          Math.fround((kps[i * 10 + 2 * k] + c) * stride),
          Math.fround((kps[i * 10 + 2 * k + 1] + r) * stride),
        ]);
      }
      landmarks.push(marks);
    }
  }
  return { boxes, scores, landmarks };
}

function overlap(a, b) {
  // OpenCV's rectOverlap of Rect2d (x, y, w, h): intersection over union.
  const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = ix > 0 && iy > 0 ? ix * iy : 0;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Indices kept by greedy non-maximum suppression, best score first (cv2.dnn.NMSBoxes). */
export function nms(boxes, scores, iou, topK) {
  const order = scores
    .map((s, i) => [s, i])
    .sort((a, b) => b[0] - a[0])
    .slice(0, topK)
    .filter(([s]) => s > 0)
    .map(([, i]) => i);
  const kept = [];
  for (const i of order) {
    if (kept.every((k) => overlap(boxes[i], boxes[k]) <= iou)) kept.push(i);
  }
  return kept;
}

/** Clip to the frame, drop boxes under the threshold or smaller than min_face, best first
 * (detection/base.py keep). detections: [{box, score, landmarks}]. */
export function keep(detections, settings, height, width) {
  const out = [];
  for (const det of detections) {
    const [x1, y1, x2, y2] = det.box;
    const clipped = [Math.max(0, x1), Math.max(0, y1), Math.min(width, x2), Math.min(height, y2)];
    if (clipped[2] <= clipped[0] || clipped[3] <= clipped[1] || det.score < settings.threshold) continue;
    if (Math.max(x2 - x1, y2 - y1) < settings.min_face) continue;
    out.push({ ...det, box: clipped });
  }
  return out.sort((a, b) => b.score - a.score);
}

/** Scale a detection's box and landmarks by `factor`. */
export function scaled(det, factor) {
  return {
    ...det,
    box: det.box.map((v) => v * factor),
    landmarks: det.landmarks && det.landmarks.map(([x, y]) => [x * factor, y * factor]),
  };
}

/** YuNet on an onnxruntime-web session. constants: shared_constants.json's "detector". */
export class YuNet {
  constructor(ort, session, constants, settings = {}) {
    this.ort = ort;
    this.session = session;
    this.constants = constants;
    this.settings = {
      threshold: constants.threshold,
      min_face: constants.min_face,
      max_side: constants.max_side,
      ...settings,
    };
    this.outputNames = [];
    for (const kind of ["cls", "obj", "bbox", "kps"]) {
      for (const s of constants.strides) this.outputNames.push(`${kind}_${s}`);
    }
  }

  /** Detections at the frame's own scale after NMS, before the size/threshold filter. */
  async raw(frame, threshold) {
    const c = this.constants;
    const input = blob(frame, c.pad_multiple);
    const tensor = new this.ort.Tensor("float32", input.data, [1, 3, input.height, input.width]);
    const results = await this.session.run({ [c.input]: tensor }, this.outputNames);
    const outputs = {};
    for (const name of this.outputNames) outputs[name] = results[name].data;
    const found = decode(outputs, input.height, input.width, threshold, c.strides);
    tensor.dispose?.();
    for (const name of this.outputNames) results[name].dispose?.();
    return nms(found.boxes, found.scores, c.nms_iou, c.top_k).map((i) => ({
      box: found.boxes[i],
      score: Math.min(1, found.scores[i]),
      landmarks: found.landmarks[i],
    }));
  }

  /** Faces in an RGBA frame, best first (YuNetDetector.detect). */
  async detect(frame) {
    const { height, width } = frame;
    const scale = scanScale(height, width, this.settings, this.constants.native_min_face);
    let small = frame;
    if (scale < 1) {
      small = resizeArea(frame, Math.max(1, roundEven(width * scale)), Math.max(1, roundEven(height * scale)));
    }
    if (Math.min(small.width, small.height) < this.constants.smallest_scan) return [];
    let found = await this.raw(small, this.settings.threshold);
    if (scale < 1) found = found.map((d) => scaled(d, 1 / scale));
    return keep(found, this.settings, height, width);
  }
}
