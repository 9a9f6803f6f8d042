// The speed page (benchmarks/bench_browser_engine.py): ?threads=N&seconds=S&width=W&height=H
// (&detect_every=K: 1 detects on every frame; the default follows faces between detections).
// From "start" (camera asked for and engine created at once) to the first result that shows a
// label, then S seconds of the camera's frames, each analysed once (requestVideoFrameCallback)
// or skipped while the engine is busy. The result lands in window.benchResult.
// The detector runs with the live page's settings: the server's, from /api/v1/health (as live.js).
// Memory: the JS heap every `memory_every` seconds (default 15) of the measured run, after a
// garbage collection where the browser offers one (Chromium with --js-flags=--expose-gc), with the
// page's whole memory, WebAssembly included, where the browser can measure it
// (performance.measureUserAgentSpecificMemory, in a cross-origin isolated page).
import { createEngine, serverDetectorSettings } from "./engine.js";

const params = new URLSearchParams(location.search);
const threads = Number(params.get("threads") ?? 1);
const seconds = Number(params.get("seconds") ?? 10);
const width = Number(params.get("width") ?? 640);
const height = Number(params.get("height") ?? 360);
const detectEvery = params.get("detect_every");
const memoryEvery = Number(params.get("memory_every") ?? 15);
const status = document.getElementById("status");
const video = document.getElementById("camera");

function nextFrame() {
  return new Promise((resolve) => video.requestVideoFrameCallback((now, meta) => resolve(meta)));
}

async function run() {
  const health = await fetch("/api/v1/health").then((r) => r.json()).catch(() => ({}));
  const detector = (shared) => serverDetectorSettings(health, shared.camera ?? shared.detector);
  const started = performance.now();
  const [stream, engine] = await Promise.all([
    navigator.mediaDevices.getUserMedia({ video: { width, height } }),
    createEngine({
      modelBase: "/models/",
      wasmPaths: "/engine/ort/",
      threads,
      settings: detectEvery ? { detector, detect_every: Number(detectEvery) } : { detector },
    }),
  ]);
  video.srcObject = stream;
  await video.play();
  const ready = performance.now();
  let firstLabel = null;
  let firstHeadline = null;
  while (firstLabel === null || firstHeadline === null) {
    await nextFrame();
    const result = await engine.process(video, performance.now());
    const now = performance.now() - started;
    if (firstLabel === null && result.faces.length > 0) firstLabel = now;
    if (firstHeadline === null && result.headline) firstHeadline = now;
    if (now > 20000) break;
  }
  const heapBefore = performance.memory?.usedJSHeapSize ?? null;
  const memory = [await reading(0)];
  const pageBefore = await pageMemory();
  const timings = {};
  let frames = 0;
  let faces = 0;
  const from = performance.now();
  let presented = null;
  let firstPresented = null;
  while (performance.now() - from < seconds * 1000) {
    const meta = await nextFrame();
    firstPresented ??= meta.presentedFrames;
    presented = meta.presentedFrames;
    const result = await engine.process(video, performance.now());
    frames++;
    faces += result.faces.length;
    for (const [k, v] of Object.entries(result.timings_ms)) timings[k] = (timings[k] ?? 0) + v;
    const at = (performance.now() - from) / 1000;
    if (at - memory[memory.length - 1].s >= memoryEvery) memory.push(await reading(at));
  }
  memory.push(await reading((performance.now() - from) / 1000));
  const pageAfter = await pageMemory();
  const elapsed = (performance.now() - from) / 1000;
  for (const track of stream.getTracks()) track.stop();
  await engine.dispose();
  return {
    info: engine.info,
    detect_every: engine.settings.detect_every,
    detector: engine.settings.detector,
    video: [video.videoWidth, video.videoHeight],
    camera_fps: presented !== null ? (presented - firstPresented) / elapsed : null,
    ready_ms: ready - started,
    first_label_ms: firstLabel,
    first_headline_ms: firstHeadline,
    frames,
    seconds: elapsed,
    fps: frames / elapsed,
    faces_per_frame: faces / Math.max(frames, 1),
    mean_ms: Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, v / Math.max(frames, 1)])),
    heap_mb: [heapBefore, performance.memory?.usedJSHeapSize ?? null].map((v) => (v === null ? null : v / 2 ** 20)),
    memory,
    page_memory_mb: [pageBefore, pageAfter],
  };
}

/** The JS heap in use (MB) `s` seconds into the run, after a collection where one can be asked for. */
async function reading(s) {
  const collected = typeof globalThis.gc === "function";
  if (collected) globalThis.gc();
  const used = performance.memory?.usedJSHeapSize;
  return { s, heap_mb: used === undefined ? null : used / 2 ** 20, after_gc: collected, page_mb: await pageMemory() };
}

// Whether the browser answers memory measurements here: with WebAssembly threads (workers) Chromium
// may not answer at all, and after one measurement that timed out none is asked for again.
let measurable = true;

/** The page's memory (MB), WebAssembly included, where the browser measures it; else null. */
async function pageMemory() {
  if (!measurable || !globalThis.crossOriginIsolated || typeof performance.measureUserAgentSpecificMemory !== "function") return null;
  try {
    const measured = await Promise.race([
      performance.measureUserAgentSpecificMemory(),
      new Promise((resolve) => setTimeout(() => resolve(null), 10000)),
    ]);
    if (!measured) measurable = false;
    return measured ? measured.bytes / 2 ** 20 : null;
  } catch {
    measurable = false;
    return null;
  }
}

status.textContent = "running";
run().then(
  (result) => {
    window.benchResult = result;
    status.textContent = `done: ${result.fps.toFixed(1)} frames/s`;
  },
  (error) => {
    window.benchResult = { error: String(error && error.stack ? error.stack : error) };
    status.textContent = `failed: ${error}`;
  },
);
