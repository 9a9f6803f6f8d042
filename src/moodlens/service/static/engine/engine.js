// The in-browser analysis engine: the whole of pipeline/stream.py's per-frame work in the page,
// on onnxruntime-web (WebAssembly, SIMD, threads where the page is cross-origin isolated):
// shot-cut check -> detect (YuNet) -> rescue of missed people at a low score -> track -> align +
// crop -> classify (the shipped model with its metadata) -> smooth + uncertain rule -> headline.
//
//   const engine = await createEngine({ modelBase: "/models/", wasmPaths: "/engine/ort/", threads: 2 });
//   const result = await engine.process(videoFrameOrImageData, performance.now());
//
// `result` has the shape of the server stream's result message (service/stream.py): faces with
// box, score, landmarks, track_id, probabilities, smoothed_probabilities, stable_label,
// shown_label, uncertain; and the headline. Frames stay on this device: they are read into
// memory for one call and dropped; nothing is sent anywhere.
//
// As the server does by default, faces are detected every `detect_every`-th frame (2), at every
// shot cut and whenever the tracker is not confident (a face not yet confirmed as a person, or
// nothing to follow), and followed in between by template matching (follow.js); a face that
// cannot be followed makes the engine detect at once. `settings.detect_every: 1` detects every
// frame. Everything follows the shared constants.
//
// With a person's profile (engine.setProfile(fit.numbers), from GET /api/v1/profiles/NAME/fit?
// reader=browser), the main stable track (the confirmed person in view seen in most frames, kept
// while in view) is read through it, smoothed on the personal reading, and its face carries
// `profile` and the model's own reading (`model_probabilities`), as StreamAnalyzer does.

import { cropFaces } from "./align.js";
import { Classifier, parseMetadata } from "./classify.js";
import { ShotCutDetector } from "./cuts.js";
import { YuNet } from "./detect.js";
import { follow } from "./follow.js";
import { HeadlineTracker } from "./headline.js";
import { iou } from "./look.js";
import { PersonalProfile } from "./personal.js";
import { cropFrame, resizeArea } from "./resize.js";
import { ExpressionSmoother, shownLabel } from "./smooth.js";
import { FaceTracker, predicted } from "./track.js";

const LANDMARK_NAMES = ["eye_left", "eye_right", "nose", "mouth_left", "mouth_right"];
const round = (x, digits) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};
const named = (labels, probs) => Object.fromEntries(labels.map((name, i) => [name, round(probs[i], 4)]));
const argmax = (v) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);

async function fetchJson(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/** The URL of a model file: the versioned one from the server's index where there is one (so the
 * browser may keep it for good), else the plain name. */
function modelUrl(modelBase, index, name) {
  const entry = index && index.files && index.files[name];
  return entry ? new URL(entry.url, new URL(modelBase, location.href)).href : `${modelBase}${name}`;
}

let canvas = null;
let context = null;

/** An RGBA frame {data, width, height} from ImageData, a canvas, a VideoFrame, a video or image
 * element or an ImageBitmap (drawn once into an offscreen canvas, read back). */
export function frameOf(source) {
  if (source && source.data && source.width && source.height) return source;
  const width = source.displayWidth ?? source.videoWidth ?? source.naturalWidth ?? source.width;
  const height = source.displayHeight ?? source.videoHeight ?? source.naturalHeight ?? source.height;
  if (!(width > 0 && height > 0)) throw new Error("the frame has no size (is the camera started?)");
  if (!canvas || canvas.width !== width || canvas.height !== height) {
    canvas = new OffscreenCanvas(width, height);
    context = canvas.getContext("2d", { willReadFrequently: true });
  }
  context.drawImage(source, 0, 0, width, height);
  return context.getImageData(0, 0, width, height);
}

export class Engine {
  constructor({ ort, detector, classifier, constants, settings, info }) {
    this.ort = ort;
    this.detector = detector;
    this.classifier = classifier;
    this.constants = constants;
    this.settings = settings;
    this.info = info;
    this.busy = false;
    this.profile = null;
    this.mainReading = null;
    this.reset();
  }

  /** Forget every track (a new session). */
  reset() {
    const c = this.constants;
    this.tracker = new FaceTracker(this.settings.tracker);
    this.smoother = new ExpressionSmoother(this.settings.smoothing);
    this.personal = new ExpressionSmoother(this.settings.smoothing); // the main track's personal readings
    this.framesSeen = new Map(); // tracker key -> frames seen confirmed (for the main track)
    this.main = null;
    this.headline = new HeadlineTracker(this.settings.headline, c.labels, c.uncertain.label);
    this.cuts = this.settings.cuts ? new ShotCutDetector(this.settings.cuts) : null;
    this.ids = new Map(); // tracker key -> person id, once confirmed
    this.previous = new Map(); // tracker key -> last frame's detection
    this.previousFrame = null; // the last frame analysed (for following faces into the next)
    this.frames = 0;
  }

  /** Read the main track through a profile (a fit's `numbers`), or through none (null). A new
   * fit of the same person (after a calibration or a correction) takes effect on the next frame. */
  setProfile(numbers) {
    this.profile = numbers ? new PersonalProfile(numbers) : null;
  }

  /** The main stable track: the confirmed person in view seen in most frames, kept while in view
   * (StreamAnalyzer._main_key). */
  mainKey(ids, keys) {
    if (this.profile === null) return null;
    const confirmed = keys.filter((_, i) => ids[i] !== null);
    for (const key of confirmed) this.framesSeen.set(key, (this.framesSeen.get(key) ?? 0) + 1);
    for (const key of [...this.framesSeen.keys()]) if (!this.tracker.tracks.has(key)) this.framesSeen.delete(key);
    if (!confirmed.includes(this.main)) {
      this.main = confirmed.reduce((best, k) => (best === null || this.framesSeen.get(k) > this.framesSeen.get(best) ? k : best), null);
    }
    return this.main;
  }

  /** Analyse the next frame; `timestampMs` must not go backwards (performance.now() will do). */
  async process(source, timestampMs) {
    if (this.busy) throw new Error("one frame at a time: await the previous process() first");
    this.busy = true;
    try {
      return await this.run(frameOf(source), timestampMs);
    } finally {
      this.busy = false;
    }
  }

  async run(frame, t) {
    const started = performance.now();
    const timings = {};
    const cut = this.cuts ? this.cuts.update(frame, t) : false;
    // StreamAnalyzer.prepare's schedule, then _detect_or_follow.
    let detections = null;
    let detectedNow = true;
    if (!cut && this.frames % this.settings.detect_every !== 0) {
      const tentative = [...this.tracker.tracks.values()].some((track) => track.id === null);
      if (this.previous.size && !tentative) {
        const followed = follow(this.previousFrame, frame, this.previous, this.constants.stream.follow);
        if (followed.length === this.previous.size) {
          detections = followed.map(([, d]) => d);
          detectedNow = false;
        }
      }
    }
    if (detections === null) detections = await this.detector.detect(frame);
    const found = detectedNow ? detections.length : 0;
    if (detectedNow && !cut) detections = detections.concat(await this.rescue(frame, detections, t));
    timings[detectedNow ? "detect" : "follow"] = performance.now() - started;
    const learn = detectedNow ? detections.map((_, i) => i < found) : null;
    const tracked = performance.now();
    const ids = this.tracker.update(
      detections.map((d) => d.box),
      t,
      { frame: this.settings.appearance ? frame : null, cut, learn },
    );
    const keys = this.tracker.lastKeys;
    this.applyEvents();
    timings.track = performance.now() - tracked;
    const classified = performance.now();
    const meta = this.classifier.meta;
    const batch = cropFaces(frame, detections, meta.crop, meta.inputSize, this.constants.crop);
    const probabilities = await this.classifier.predict(batch, detections.length);
    timings.classify = performance.now() - classified;
    const main = this.mainKey(ids, keys);
    const faces = detections.map((det, i) => {
      let { smoothed, stable } = this.smoother.update(keys[i], probabilities[i], t);
      const face = { detection: det, probabilities: probabilities[i], track_id: ids[i] };
      if (keys[i] === main && this.profile !== null) {
        // Smoothed on the personal reading; the model's own travels beside it, raw and smoothed
        // as without the profile (the history keeps the smoothed one).
        face.model = probabilities[i];
        face.modelSmoothed = smoothed;
        face.modelStable = stable;
        face.profile = this.profile.name;
        face.probabilities = this.profile.apply(probabilities[i]);
        ({ smoothed, stable } = this.personal.update(keys[i], face.probabilities, t));
      }
      return { ...face, smoothed, stable };
    });
    for (const key of this.smoother.keys()) if (!this.tracker.tracks.has(key)) this.smoother.forget(key);
    for (const key of this.personal.keys()) if (key !== main) this.personal.forget(key);
    // The main face's model reading at full precision (the result message rounds to 4 digits):
    // what the profile panel keeps for a calibration or a correction, as the server does.
    const read = faces.find((f) => f.profile);
    this.mainReading = read ? { t, probabilities: Array.from(read.model) } : null;
    this.previous = new Map(keys.map((k, i) => [k, detections[i]]));
    this.previousFrame = frame;
    const headline = this.headline.update({
      timestamp_ms: t,
      cut,
      faces: faces.map((f) => ({
        box: f.detection.box,
        track_id: f.track_id,
        shown: f.stable,
        shown_probabilities: f.smoothed,
      })),
    });
    const index = this.frames++;
    timings.total = performance.now() - started;
    return {
      type: "result",
      t,
      frame: index,
      width: frame.width,
      height: frame.height,
      cut,
      faces: faces.map((f) => this.faceDict(f)),
      headline,
      engine_ms: round(timings.total, 2),
      timings_ms: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, round(v, 2)])),
    };
  }

  /** A face as results.Face.to_dict writes it. */
  faceDict(face) {
    const { labels, uncertain } = this.constants;
    const det = face.detection;
    const out = { box: det.box.map((v) => round(v, 1)), score: round(det.score, 4) };
    if (det.landmarks) {
      out.landmarks = Object.fromEntries(
        LANDMARK_NAMES.map((name, i) => [name, det.landmarks[i].map((v) => round(v, 1))]),
      );
    }
    if (face.track_id !== null) out.track_id = face.track_id;
    const top = argmax(face.probabilities);
    out.label = labels[top];
    out.confidence = round(face.probabilities[top], 4);
    out.probabilities = named(labels, face.probabilities);
    out.smoothed_probabilities = named(labels, face.smoothed);
    out.stable_label = labels[face.stable];
    const shown = face.smoothed[face.stable];
    out.shown_label = shownLabel(labels, uncertain, face.stable, shown);
    out.uncertain = shown < uncertain.below;
    if (face.model) {
      const own = argmax(face.model);
      out.model_label = labels[own];
      out.model_confidence = round(face.model[own], 4);
      out.model_probabilities = named(labels, face.model);
      out.profile = face.profile;
      out.model_smoothed_probabilities = named(labels, face.modelSmoothed);
      out.model_stable_label = labels[face.modelStable];
    }
    return out;
  }

  applyEvents() {
    const events = this.tracker.events;
    for (const [fresh, old] of events.revived) {
      if (this.ids.has(old)) {
        this.ids.set(fresh, this.ids.get(old));
        this.ids.delete(old);
      }
      if (this.framesSeen.has(old)) {
        this.framesSeen.set(fresh, this.framesSeen.get(old));
        this.framesSeen.delete(old);
      }
      if (this.main === old) this.main = fresh;
    }
    for (const key of events.confirmed) this.ids.set(key, this.tracker.tracks.get(key).id);
    for (const key of events.ended) {
      this.ids.delete(key);
      this.smoother.forget(key);
    }
  }

  /** Confirmed people of the previous frame that the detector missed now, looked for again at
   * the rescue threshold in a window around where they were expected (StreamAnalyzer._rescue). */
  async rescue(frame, detections, t) {
    const threshold = this.settings.rescue_threshold;
    const r = this.constants.stream.rescue;
    if (threshold === null) return [];
    const { width, height } = frame;
    const out = [];
    for (const [key, det] of this.previous) {
      const track = this.tracker.tracks.get(key);
      if (!this.ids.has(key) || !track) continue;
      const expected = predicted(track, t);
      if (detections.some((d) => iou(d.box, expected) > r.skip_iou || iou(d.box, det.box) > r.skip_iou)) continue;
      const side = Math.max(expected[2] - expected[0], expected[3] - expected[1]);
      const m = r.window_margin * side;
      const win = [
        Math.max(0, expected[0] - m),
        Math.max(0, expected[1] - m),
        Math.min(width, expected[2] + m),
        Math.min(height, expected[3] + m),
      ];
      if (win[2] <= win[0] || win[3] <= win[1] || win[2] - win[0] < r.min_window || win[3] - win[1] < r.min_window) {
        continue;
      }
      // Snapped outwards to a grid, the scale down to a quarter octave (StreamAnalyzer._rescue):
      // a box that moved by a fraction of a pixel gives the same crop.
      const g = r.window_grid;
      const x1 = Math.floor(Math.trunc(win[0]) / g) * g;
      const y1 = Math.floor(Math.trunc(win[1]) / g) * g;
      const x2 = Math.min(width, Math.ceil(Math.ceil(win[2]) / g) * g);
      const y2 = Math.min(height, Math.ceil(Math.ceil(win[3]) / g) * g);
      const steps = r.scale_factors.length;
      const down = -Math.floor(Math.log2(Math.min(1, r.scan_side / side)) * steps);
      const scale = 0.5 ** Math.floor(down / steps) * r.scale_factors[down % steps];
      let crop = cropFrame(frame, x1, y1, x2, y2);
      if (scale < 1) crop = resizeArea(crop, 0, 0, scale);
      const found = (await this.detector.raw(crop, threshold)).map((f) => ({
        box: [x1 + f.box[0] / scale, y1 + f.box[1] / scale, x1 + f.box[2] / scale, y1 + f.box[3] / scale],
        score: f.score,
        landmarks: f.landmarks.map(([x, y]) => [x / scale + x1, y / scale + y1]),
      }));
      const fit = (f) => Math.max(iou(f.box, expected), iou(f.box, det.box));
      const best = found.reduce((a, b) => (a === null || fit(b) > fit(a) ? b : a), null);
      if (best === null || fit(best) < r.min_iou) continue;
      if ([...detections, ...out].some((d) => iou(best.box, d.box) > r.overlap_iou)) continue;
      const inside = [
        Math.max(0, best.box[0]),
        Math.max(0, best.box[1]),
        Math.min(width, best.box[2]),
        Math.min(height, best.box[3]),
      ];
      if (inside[2] - inside[0] < r.min_inside || inside[3] - inside[1] < r.min_inside) continue;
      out.push({ box: inside, score: best.score, landmarks: best.landmarks });
    }
    return out;
  }

  /** Release the model sessions. */
  async dispose() {
    await this.detector.session.release?.();
    await this.classifier.session.release?.();
  }
}

/** The detector settings the server analyses its live camera with, for the live page's engine in
 * browser mode, so that both modes read a camera alike: /api/v1/health's `settings` (threshold,
 * min_face, max_side; `moodlens serve` starts with faces >= 40 px scanned at <= 480 px), each one
 * the health answer lacks taken from `fallback` (shared_constants.json's camera settings where it
 * has them). Returns createEngine's `settings.detector`. */
export function serverDetectorSettings(health, fallback = {}) {
  const reported = (health && health.settings) || {};
  const out = {};
  for (const key of ["threshold", "min_face", "max_side"]) {
    const value = typeof reported[key] === "number" ? reported[key] : fallback[key];
    if (typeof value === "number") out[key] = value;
  }
  return out;
}

/** Load the runtime and both models; resolves to an Engine.
 * options: modelBase (where /models/ is served), wasmPaths (the onnxruntime-web folder),
 * threads (WebAssembly threads: 1, or more where the page is cross-origin isolated),
 * constants (the shared constants object, or the URL of shared_constants.json as the server serves it),
 * settings (overrides: detector {threshold, min_face, max_side} (the live page passes the server's,
 * serverDetectorSettings; a function gets the shared constants and returns them), tracker, smoothing, headline,
 * cuts (null: off), rescue_threshold (null: off), appearance (false: no look cue), detect_every
 * (1: detect on every frame; the default follows faces in between, as the server does)). */
export async function createEngine({
  modelBase = "/models/",
  wasmPaths = "/engine/ort/",
  threads = 1,
  constants = "/engine/constants.json",
  settings = {},
} = {}) {
  const loadStarted = performance.now();
  const shared = typeof constants === "string" ? await fetchJson(constants) : constants;
  const isolated = globalThis.crossOriginIsolated === true;
  const usedThreads = isolated ? Math.max(1, threads) : 1;
  const ort = await import(`${wasmPaths}ort.wasm.min.mjs`);
  ort.env.wasm.wasmPaths = wasmPaths;
  ort.env.wasm.numThreads = usedThreads;
  ort.env.logLevel = "error";
  const index = await fetchJson(`${modelBase}index.json`).catch(() => null);
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  const [detectorBytes, classifierBytes, rawMeta] = await Promise.all([
    fetchBytes(modelUrl(modelBase, index, shared.detector.model)),
    fetchBytes(modelUrl(modelBase, index, shared.classifier.model)),
    fetchJson(modelUrl(modelBase, index, shared.classifier.metadata)),
  ]);
  const meta = parseMetadata(rawMeta);
  if (meta.labels.join() !== shared.labels.join()) {
    throw new Error(`the model's labels ${meta.labels} differ from the canonical order ${shared.labels}`);
  }
  const detectorSession = await ort.InferenceSession.create(detectorBytes, options);
  const classifierSession = await ort.InferenceSession.create(classifierBytes, options);
  const detectorSettings =
    typeof settings.detector === "function" ? settings.detector(shared) : settings.detector ?? {};
  const merged = {
    tracker: { ...shared.tracker, ...(settings.tracker ?? {}) },
    smoothing: { ...shared.smoothing, ...(settings.smoothing ?? {}) },
    headline: { ...shared.headline, ...(settings.headline ?? {}) },
    cuts: settings.cuts === null ? null : { ...shared.cuts, ...(settings.cuts ?? {}) },
    rescue_threshold: settings.rescue_threshold === undefined ? shared.stream.rescue_threshold : settings.rescue_threshold,
    appearance: settings.appearance ?? true,
    detect_every: settings.detect_every ?? shared.stream.detect_every,
    detector: { threshold: shared.detector.threshold, min_face: shared.detector.min_face, max_side: shared.detector.max_side, ...detectorSettings },
  };
  return new Engine({
    ort,
    detector: new YuNet(ort, detectorSession, shared.detector, detectorSettings),
    classifier: new Classifier(ort, classifierSession, meta),
    constants: shared,
    settings: merged,
    info: {
      backend: "wasm",
      threads: usedThreads,
      threads_asked: threads,
      cross_origin_isolated: isolated,
      ort_version: ort.env.versions?.web ?? null,
      load_ms: round(performance.now() - loadStarted, 1),
    },
  });
}
