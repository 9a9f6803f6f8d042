// Browser mode of the live page: the analysis runs in this page (engine/, onnxruntime-web on
// WebAssembly), so camera frames stay on this device. One camera frame at a time is drawn into a
// canvas, analysed, and handed with its result to the page (the same overlay, headline and face
// list as a server result). Frames that arrive while the engine is busy are skipped.
//
// With Record history, what the history keeps of each analysed frame goes to the server as an
// "observations" message (observations(): the confirmed faces' ids, shown labels and smoothed
// probabilities; never a picture). Without it, the stop summary is counted here (LocalTally),
// by the rule the server's summaries follow (moodlens.summary).

import { createEngine } from "./engine/engine.js";

/** Why this browser cannot run the engine, or null when it can. */
export function unsupported() {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.instantiate !== "function") {
    return "this browser has no WebAssembly";
  }
  if (typeof OffscreenCanvas !== "function") return "this browser has no OffscreenCanvas";
  return null;
}

/** WebAssembly threads for this machine: half its cores (the camera, the page and the browser
 * need the rest), 1 to 4; 1 where the page is not cross-origin isolated (no SharedArrayBuffer). */
export function threadsFor(cores = navigator.hardwareConcurrency || 1, isolated = globalThis.crossOriginIsolated === true) {
  return isolated ? Math.max(1, Math.min(4, Math.floor(cores / 2))) : 1;
}

/** Where the runtime, the models and the constants are, relative to the page: the server's live
 * page is its root, and a static export (moodlens export-web) may be served from any folder. */
export function enginePaths(base = document.baseURI) {
  return {
    modelBase: new URL("models/", base).href,
    wasmPaths: new URL("engine/ort/", base).href,
    constants: new URL("engine/constants.json", base).href,
  };
}

export class LocalAnalysis {
  constructor(video, { onResult }) {
    this.video = video;
    this.onResult = onResult;
    this.picture = document.createElement("canvas");
    this.engine = null;
    this.loading = null;
    this.running = false;
    this.results = [];
    this.latency = null;
  }

  /** Load the runtime and the models once (the browser caches them for the next visit).
   * settings: createEngine's (or a promise of them): the live page passes the server's detector
   * settings. */
  load(settings = {}) {
    if (!this.loading) {
      const why = unsupported();
      this.loading = why
        ? Promise.reject(new Error(why))
        : Promise.resolve(settings).then((s) => createEngine({ ...enginePaths(), threads: threadsFor(), settings: s })).then((engine) => {
          this.engine = engine;
          return engine;
        });
      this.loading.catch(() => { this.loading = null; });  // a later Start may try again
    }
    return this.loading;
  }

  get fps() { return this.results.length / 2; }
  get size() { return this.picture.width ? `analysing ${this.picture.width}x${this.picture.height} here` : ""; }

  start() {
    this.engine.reset();
    this.results = [];
    this.latency = null;
    this.running = true;
    this.loop();
  }

  stop() {
    this.running = false;
  }

  nextFrame() {
    const video = this.video;
    if (video.requestVideoFrameCallback) return new Promise((resolve) => video.requestVideoFrameCallback(() => resolve()));
    return new Promise((resolve) => setTimeout(resolve, 15));
  }

  async loop() {
    while (this.running) {
      await this.nextFrame();
      if (!this.running) return;
      const video = this.video;
      if (!video.videoWidth) continue;
      const picture = this.picture;
      if (picture.width !== video.videoWidth || picture.height !== video.videoHeight) {
        picture.width = video.videoWidth;
        picture.height = video.videoHeight;
        this.context = picture.getContext("2d", { willReadFrequently: true });
      }
      this.context.drawImage(video, 0, 0);
      const t = performance.now();
      let result;
      try {
        result = await this.engine.process(this.context.getImageData(0, 0, picture.width, picture.height), t);
      } catch (error) {
        console.warn("moodlens: a frame could not be analysed", error);
        continue;
      }
      if (!this.running) return;
      const now = performance.now();
      this.latency = this.latency === null ? now - t : 0.8 * this.latency + 0.2 * (now - t);
      this.results.push(now);
      this.results = this.results.filter((x) => now - x < 2000);
      this.onResult(result, picture);
    }
  }
}

/** What the history keeps of one result: the confirmed faces (a track id), each with its shown
 * label and smoothed probabilities, and for the face read through a profile the model's own
 * reading (which the history keeps for it). Numbers in label space only. */
export function observations(result) {
  return {
    type: "observations",
    t: result.t,
    faces: result.faces.filter((f) => f.track_id != null).map((f) => ({
      track_id: f.track_id,
      stable_label: f.stable_label,
      smoothed_probabilities: f.smoothed_probabilities,
      ...(f.profile && f.model_probabilities
        ? {
            model_probabilities: f.model_probabilities,
            model_smoothed_probabilities: f.model_smoothed_probabilities,
            model_stable_label: f.model_stable_label,
          }
        : {}),
    })),
  };
}

// moodlens.summary: an observation lasts until the person's next one, unless that gap is longer
// than MAX_GAP_MS; then one typical frame period (their last gap under it; DEFAULT_PERIOD_MS first).
const MAX_GAP_MS = 500;
const DEFAULT_PERIOD_MS = 1000 / 30;

/** The stop summary of a session that is not recorded, counted in the page: per track, the time
 * each shown label held, as the server's summaries count it. */
export class LocalTally {
  constructor() { this.tracks = new Map(); this.frames = 0; }

  add(result) {
    this.frames++;
    for (const face of result.faces) {
      if (face.track_id == null) continue;
      let track = this.tracks.get(face.track_id);
      if (!track) { track = { last: null, label: null, period: DEFAULT_PERIOD_MS, ms: {}, total: 0 }; this.tracks.set(face.track_id, track); }
      if (track.last !== null) this.close(track, result.t - track.last);
      track.last = result.t;
      track.label = face.stable_label;
    }
  }

  close(track, gap) {
    let duration = track.period;
    if (gap > 0 && gap <= MAX_GAP_MS) { duration = gap; track.period = gap; }
    track.ms[track.label] = (track.ms[track.label] || 0) + duration;
    track.total += duration;
  }

  /** The stopped message's fields (tracks with shares, people, track_count) for summary.js. */
  summary() {
    const tracks = [];
    for (const [id, track] of this.tracks) {
      if (track.last !== null) { this.close(track, Infinity); track.last = null; }
      const shares = Object.fromEntries(Object.entries(track.ms).map(([label, ms]) => [label, ms / track.total]));
      tracks.push({ track_id: id, duration_ms: track.total, shares });
    }
    return { type: "stopped", frames: this.frames, tracks, track_count: tracks.length, people: tracks.length };
  }
}
