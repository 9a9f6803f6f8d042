// moodlens live page: the wiring. Consent, then Start. Where the analysis runs is a choice:
// - on this device (the default where the browser can run it): the engine in the page (local.js,
//   engine/) analyses the camera's frames, which never leave the device; with Record history a
//   connection to the server (connection.js) carries only what the history keeps of each frame
//   ("observations": track ids, shown labels, smoothed probabilities) into a record-only session;
// - on the server (the choice, and the fallback when the engine cannot load, said why): the
//   connection carries the frames, one at a time (frames.js).
// Either way each result is drawn on the picture it belongs to (overlay.js), a headline is read
// out once it holds, and Stop gives a one-line summary (summary.js). Status is announced
// politely, errors assertively, once.
//
// Exported as static files (moodlens export-web: <meta name="moodlens-mode" content="static">),
// there is no server: the analysis runs on this device only, nothing opens a connection or calls
// /api/, and Record history keeps the observations in this browser (local-history.js).

import { announcer } from "./announce.js";
import { connectionBanner } from "./banner.js";
import { openCamera } from "./camera.js";
import { Connection } from "./connection.js";
import { $, el } from "./dom.js";
import { FrameSender } from "./frames.js";
import { serverDetectorSettings } from "./engine/engine.js";
import { KEEP_PER_SECOND, LocalHistory } from "./local-history.js";
import { LocalAnalysis, LocalTally, enginePaths, observations } from "./local.js";
import { drawOverlay, faceLabel, faceProbs } from "./overlay.js";
import { paint } from "./patterns.js";
import { profilePanel } from "./profile.js";
import { stopLine } from "./summary.js";

// A person's box survives a result without them (a missed detection) for this long.
const HOLD_MS = 250;
// The headline is read out only once its text has held this long, and never more often: the
// server's dwell (pipeline.headline.HeadlineSettings.dwell_ms; a test keeps the two equal). The
// server already holds a person's label for it; this also keeps the short states between two
// people (a shot cut, a newcomer not yet confirmed) from being read out.
const ANNOUNCE_HOLD_MS = 1000;
const NOBODY = "Apparent expression: –";
const STATIC = document.querySelector('meta[name="moodlens-mode"]')?.content === "static";
const browserHistory = STATIC ? new LocalHistory() : null;
const STREAM_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/stream`;

const say = announcer($("status"), $("alert"));
const state = {
  labels: [], health: {}, stream: null, running: false, wanted: false, results: [],
  held: new Map(), headline: "", headlineSince: 0, announced: "", announceTimer: null, lastAnnounce: -Infinity,
  startedAt: 0, sessions: [], options: null, stopping: false,
  // "browser" (this device) or "server": chosen at Start; the fallback's reason, once it happened.
  mode: "browser", fallback: null, tally: null, maxFps: 15, lastObservation: -Infinity, lastStopped: null,
  fullSaid: false,
};
let profile = null;

const connection = new Connection(STREAM_URL);
const banner = connectionBanner($("connection"), { onRetry: retry });
const local = new LocalAnalysis($("video"), { onResult: onLocalResult });
const frames = new FrameSender($("video"), {
  canSend: () => state.running && connection.open,
  send: (data) => connection.send(data),
  onSmaller: (width) => say.status(`Slow answers: sending smaller frames (${width} px wide; small faces may be missed).`),
});

// --- the headline, read out once it holds -----------------------------------------------------------

function spoken(text) {
  // What the region says for a headline: the same words, with the dash said in words.
  return text === NOBODY ? "Apparent expression: no one in view" : text;
}

function announce() {
  // The screen-reader region says what the visible headline says, once that has held for
  // ANNOUNCE_HOLD_MS, and at most once per ANNOUNCE_HOLD_MS: a change that does not hold is never read.
  clearTimeout(state.announceTimer);
  const due = Math.max(state.headlineSince, state.lastAnnounce) + ANNOUNCE_HOLD_MS;
  state.announceTimer = setTimeout(() => {
    state.announceTimer = null;
    if (!state.running || state.announced === state.headline) return;
    $("announce").textContent = spoken(state.headline);
    state.announced = state.headline;
    state.lastAnnounce = performance.now();
  }, Math.max(0, due - performance.now()));
}

function showHeadline(headline) {
  // Follows one person (the server's headline, which holds a label or "uncertain" for its dwell);
  // changes only when its text does, and is read out once it holds (announce).
  const text = headline
    ? `Apparent expression of #${headline.track_id}: ${headline.uncertain ? "uncertain" : headline.label}`
    : NOBODY;
  if (text === state.headline) return;
  state.headline = text;
  state.headlineSince = performance.now();
  $("headline").textContent = text;
  announce();
}

// --- consent, server capabilities ----------------------------------------------------------------

$("consent-check").addEventListener("change", (e) => { $("consent-accept").disabled = !e.target.checked; });
$("consent-accept").addEventListener("click", () => {
  $("consent").classList.add("hidden");
  $("live").classList.remove("hidden");
  $("session-name").focus();  // the next control: focus never falls back to the page
  if (chosenMode() === "browser") loadEngine();
});

// --- where the analysis runs ----------------------------------------------------------------------

function chosenMode() { return $("mode-server").checked ? "server" : "browser"; }

const WHERE = {
  browser: [el("b", {}, "Your camera frames stay on this device:"),
    " the analysis runs in this browser; with Record history or a profile, only labels and probabilities are sent to the server. Link people needs the analysis on the server."],
  server: [el("b", {}, "Camera frames are sent to the server:"), " it analyses them in memory and never stores them."],
  static: [el("b", {}, "No server: your frames and results stay in this browser."),
    " The analysis runs here; with Record history, labels and probabilities are kept in this browser's storage, which you can export or delete below."],
};

function showMode() {
  const mode = chosenMode();
  const where = [...WHERE[STATIC ? "static" : mode]].map((part) => (typeof part === "string" ? part : part.cloneNode(true)));
  if (mode === "server" && state.fallback) {
    where.unshift(`Analysing on the server: this browser could not run the analysis itself (${state.fallback}). `);
  }
  $("where").replaceChildren(...where);
  $("where").dataset.mode = mode;
  $("where").dataset.fallback = state.fallback && mode === "server" ? "true" : "false";
  $("profile-panel").classList.toggle("hidden", STATIC);  // no server keeps profiles
  if (profile) profile.reader(mode);
  setRunningControls(!!state.wanted);
}

function loadEngine() {
  // The runtime and the models, fetched once (then from the browser's cache): said while it lasts.
  if (local.engine) return Promise.resolve(local.engine);
  say.status("Loading the model…");
  return local.load(engineSettings()).then(
    (engine) => {
      if (!state.wanted) say.status("Model ready: the analysis runs on this device.");
      return engine;
    },
    (error) => { fallBack(error); return null; },
  );
}

function engineSettings() {
  // The engine detects as the server does for this page in server mode (its detector settings in
  // /api/v1/health: faces >= 40 px, frames scanned at <= 480 px), so both modes read a camera
  // alike; shared_constants.json's camera settings (else its detector's) where the server says none.
  const health = state.health && state.health.settings
    ? Promise.resolve(state.health)
    : fetch("/api/v1/health").then((r) => r.json()).catch(() => ({}));
  return health.then((h) => ({ detector: (shared) => serverDetectorSettings(h, shared.camera ?? shared.detector) }));
}

function fallBack(error) {
  // The engine could not load: the server analyses instead, and the page says why.
  const reason = /import|fetch|load/i.test(String(error && error.message))
    ? "its analysis engine could not be loaded"
    : String((error && error.message) || error).slice(0, 120);
  console.warn("moodlens: the in-browser engine could not load", error);
  if (STATIC) {  // no server to fall back to
    say.error(`This browser could not run the analysis (${reason}), and this page has no server to do it.`);
    return;
  }
  state.fallback = reason;
  $("mode-server").checked = true;
  showMode();
  say.status(`Analysing on the server: this browser could not run the analysis itself (${reason}).`);
}

for (const id of ["mode-device", "mode-server"]) {
  $(id).addEventListener("change", () => {
    if (chosenMode() === "browser") state.fallback = null;
    showMode();
    if (chosenMode() === "browser") loadEngine();
  });
}

async function loadServer() {
  const [labels, health] = await Promise.all([
    fetch("/api/v1/labels").then((r) => r.json()),
    fetch("/api/v1/health").then((r) => r.json()),
  ]);
  state.labels = labels;
  state.health = health;
  // A server without a database records nothing: the box says so instead of pretending.
  if (health.history === false) {
    $("record").checked = false;
    $("record").disabled = true;
    $("record-help").textContent = "Record history is off: this server keeps no database. Start it with moodlens serve --db to record sessions.";
    $("record-help").classList.remove("hidden");
  }
  profile = profilePanel(health);
  showMode();
}

// --- start, stop, and the connection between ---------------------------------------------------------

function setRunningControls(on) {
  $("start").disabled = on;
  $("stop").disabled = !on;
  for (const id of ["session-name", "mode-device", "mode-server"]) $(id).disabled = on;
  $("link-people").disabled = on || chosenMode() === "browser";
  $("record").disabled = on || state.health.history === false;
}

function showCameraHelp(problem) {
  $("camera-help-title").textContent = problem.title;
  $("camera-help-steps").replaceChildren(...problem.steps.map((step) => el("li", {}, step)));
  $("camera-help").classList.remove("hidden");
  $("camera-help").dataset.kind = problem.kind;
}

async function start() {
  // Server mode, or browser mode with recording: the server first; the camera turns on only once
  // it answers. Browser mode without recording needs no server at all.
  state.wanted = true;
  state.sessions = [];
  state.mode = chosenMode();
  const browser = state.mode === "browser";
  state.options = {
    name: $("session-name").value, record: $("record").checked && state.health.history !== false,
    link_people: !browser && $("link-people").checked, profile: profile ? profile.chosen() : null,
  };
  $("camera-help").classList.add("hidden");
  say.clearError();
  setRunningControls(true);
  $("stop").focus();
  if (browser && !(await loadEngine())) {
    if (!state.wanted) return;
    if (STATIC) { quit(); $("start").focus(); return; }  // fallBack said why
    state.mode = "server";  // fallBack said why
    state.options.link_people = $("link-people").checked;
  }
  if (!state.wanted) return;  // stopped while the model loaded
  if (state.mode === "browser" && state.options.profile) {
    // The engine reads the main face through the profile's fit for its own model.
    if (!(await profile.prepareLocal(state.options.profile, local.engine))) state.options.profile = null;
    if (!state.wanted) return;
  }
  state.tally = new LocalTally();
  state.lastObservation = -Infinity;
  if (state.mode === "browser" && (STATIC || !state.options.record)) {
    if (!(await cameraOn())) return;
    state.startedAt = performance.now();
    if (STATIC && state.options.record) browserHistory.begin(state.options.name, state.engineModel);
    local.start();
    if (profile && state.options.profile) profile.startedLocal(state.options.profile);
    say.status(STATIC && state.options.record
      ? "Camera on: analysing on this device, recording in this browser (labels only)."
      : "Camera on: analysing on this device, not recording.");
    return;
  }
  say.status(state.mode === "browser" ? "Connecting to the server to record…" : "Connecting to the server…");
  connection.connect();
}

async function cameraOn() {
  if (state.stream) return true;
  say.status("Asking for the camera…");
  try {
    state.stream = await openCamera();
  } catch (problem) {
    showCameraHelp(problem);
    say.error(`${problem.title} ${problem.steps[0]}`);
    say.status("Camera off.");
    connection.close();
    quit();
    $("start").focus();
    return false;
  }
  if (!state.wanted) { cameraOff(); return false; }  // stopped while the browser asked
  const video = $("video");
  video.srcObject = state.stream;
  await new Promise((resolve) => { if (video.readyState >= 1) resolve(); else video.onloadedmetadata = resolve; });
  await video.play().catch(() => {});
  $("camera-indicator").classList.remove("hidden");
  $("camera-off").classList.add("hidden");
  return true;
}

function sendStart() {
  const o = state.options;
  if (state.mode === "browser") {
    // A record-only session: the server gets what the history keeps, never a frame.
    connection.send(JSON.stringify({
      type: "start", consent: true, name: o.name, record: true, mode: "browser", ...(o.profile ? { profile: o.profile } : {}),
    }));
    return;
  }
  connection.send(JSON.stringify({
    type: "start", consent: true, name: o.name, record: o.record, link_people: o.link_people, ...(o.profile ? { profile: o.profile } : {}),
  }));
}

connection.addEventListener("open", async (event) => {
  if (!state.wanted) { connection.close(); return; }
  const reconnected = event.detail.reconnected && banner.shown;
  banner.hide();
  say.clearError();
  if (!(await cameraOn())) return;
  state.reconnected = reconnected;
  sendStart();
});

connection.addEventListener("down", (event) => {
  if (!state.wanted) return;
  state.running = false;
  frames.refused();
  const line = banner.down(event.detail.kind);
  say.error(line);
  if (local.running) say.status("Recording paused: the analysis goes on on this device; nothing is recorded until the server answers again.");
  else say.status(state.stream ? "Paused: nothing is analysed until the server answers again." : "Waiting for the server…");
});

connection.addEventListener("waiting", (event) => banner.waiting(event.detail.inMs, event.detail.attempt));

connection.addEventListener("gaveup", () => {
  banner.gaveUp();
  if (local.running) {
    say.status("Not recording: the server did not come back. The analysis goes on on this device.");
    return;
  }
  say.status("Stopped: the server did not come back.");
  quit();
  $("retry").focus();
});

function retry() {
  if (!state.labels.length) {  // the server was not reachable when the page loaded
    loadServer().then(() => { banner.hide(); say.clearError(); say.status("The server answers."); }).catch(() => {});
    return;
  }
  if (connection.wanted) { connection.retryNow(); return; }
  if (local.running) { connection.connect(); return; }  // browser mode: recording again
  start();
}

connection.addEventListener("message", (event) => onMessage(event.detail));

async function savedState(id) {
  // How a session cut off by a restart or a crash was kept: ended, or marked interrupted.
  try {
    const info = await fetch(`/api/v1/sessions/${id}`).then((r) => (r.ok ? r.json() : null));
    if (!info) return `session ${id} is not in the history`;
    if (info.interrupted) return `session ${id} was saved up to the break (marked interrupted)`;
    return `session ${id} was saved`;
  } catch {
    return `session ${id}: unknown`;
  }
}

// Errors that answer a start: the session did not begin, and the page must not wait for it.
const START_REFUSALS = ["consent_required", "no_history", "unknown_profile", "no_profiles", "bad_message"];

async function onMessage(msg) {
  if (msg.type === "error" && !state.running && state.wanted && START_REFUSALS.includes(msg.code)) {
    say.error(`The server did not start the session: ${msg.message}`);
    say.status("Camera off.");
    connection.close();
    quit();
    $("start").focus();
    return;
  }
  if (profile && profile.message(msg)) return;
  if (msg.type === "started") {
    state.fullSaid = false;
    state.running = true;
    if (!state.sessions.length) state.startedAt = performance.now();
    const before = state.sessions[state.sessions.length - 1];
    if (msg.session_id) state.sessions.push(msg.session_id);
    if (profile && state.mode === "browser") {
      if (msg.profile) profile.startedLocal(msg.profile);
    } else if (profile) {
      profile.started(msg.profile, (message) => connection.send(JSON.stringify(message)));
    }
    if (msg.max_fps) state.maxFps = msg.max_fps;
    const here = state.mode === "browser" ? "analysing on this device, " : "";
    const now = here + (msg.recording ? `recording session ${msg.session_id} (labels only)` : "not recording");
    if (state.reconnected) {
      state.reconnected = false;
      const kept = before ? `; ${await savedState(before)}` : "";
      say.status(`Reconnected: ${now}${kept}.`);
    } else {
      say.status(`Camera on: ${now}.`);
    }
    if (state.mode === "browser") {
      if (!local.running) { state.startedAt = performance.now(); local.start(); }
      return;
    }
    frames.next();
  } else if (msg.type === "result") {
    // A result still in flight when Stop was pressed belongs to the stopped session: the page
    // was reset, and must stay so.
    if (!state.running) return;
    render(msg, frames.received(msg), frames);
    if (profile) profile.result(msg.faces);
    frames.next();
  } else if (msg.type === "error") {
    if (["busy", "rate_limited", "bad_frame", "processing_failed", "bad_observations"].includes(msg.code)) {
      frames.refused();
      frames.next();
      return;  // the next frame goes; nothing to tell
    }
    if (msg.code === "session_full") {
      // Refused again for every frame with a new face: said once, and the session goes on.
      if (!state.fullSaid) say.error(`The server says: ${msg.message}`);
      state.fullSaid = true;
      return;
    }
    say.error(`The server says: ${msg.message}`);
  } else if (msg.type === "stopped") {
    state.lastStopped = msg;
    window.moodlensStopped = msg;  // for tests: the server's own account of the session
    const line = stopLine(msg, performance.now() - state.startedAt,
      { recording: state.options && state.options.record, history: state.health.history !== false });
    const extra = [];
    if (msg.session_id) {
      // The session is one click away, where people can be merged, renamed and hidden.
      extra.push(el("a", { href: `/dashboard/sessions/${msg.session_id}`, id: "open-session" }, "Open in dashboard"));
    }
    say.status(line, ...extra);
    connection.close();
  }
}

function render(msg, picture, stats) {
  // One result, from the server or from the engine in this page (the same shape), drawn on the
  // picture it belongs to.
  const faces = withHeld(msg);
  if (picture) {
    const drawn = drawOverlay($("view"), picture, msg, faces, state.labels, { panels: $("panels").checked });
    // For tests and assistive tools: what is drawn, on which analysed picture.
    window.moodlensView = { t: msg.t, frame: msg.frame, width: msg.width, height: msg.height, faces: drawn.faces, panels: drawn.panels, scale: drawn.scale, mode: state.mode };
  }
  showHeadline(msg.headline);
  $("fps").textContent = `${stats.fps.toFixed(1)} FPS`;
  $("latency").textContent = `latency ${Math.round(stats.latency)} ms`;
  $("faces").textContent = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
  $("resolution").textContent = stats.size;
  listFaces(faces);
}

function onLocalResult(result, picture) {
  if (!state.wanted) return;
  render(result, picture, local);
  if (profile) profile.result(result.faces, result.t);
  state.tally.add(result);
  if (STATIC && state.options.record && result.t - state.lastObservation >= 1000 / KEEP_PER_SECOND) {
    state.lastObservation = result.t;
    browserHistory.add(observations(result));
    return;
  }
  // Recording: what the history keeps of this frame, at most the server's frame rate.
  if (state.running && connection.open && result.t - state.lastObservation >= 1000 / state.maxFps) {
    state.lastObservation = result.t;
    connection.send(JSON.stringify(observations(result)));
  }
}

function withHeld(result) {
  // Confirmed people missing from this result keep their last box for HOLD_MS (no blinking);
  // a shot cut drops them all.
  if (result.cut) state.held.clear();
  const present = new Set();
  for (const face of result.faces) {
    if (face.track_id != null) { present.add(face.track_id); state.held.set(face.track_id, { face, t: result.t }); }
  }
  const faces = [...result.faces];
  for (const [id, item] of state.held) {
    if (present.has(id)) continue;
    if (result.t - item.t > HOLD_MS) state.held.delete(id);
    else faces.push(item.face);
  }
  return faces;
}

function listFaces(faces) {
  const list = $("face-list");
  list.textContent = "";
  for (const face of faces) {
    const label = faceLabel(face);
    const shown = face.stable_label || face.label;
    const probs = faceProbs(face);
    const item = el("li");
    const mark = el("span", { class: "face-swatch", "aria-hidden": "true" });
    if (face.uncertain) mark.classList.add("uncertain"); else paint(mark, shown);
    const who = (face.track_id == null ? "new face" : `#${face.track_id}`) + (face.profile ? ` (${face.profile})` : "");
    item.append(mark, `${who}: ${face.uncertain ? "uncertain" : "apparent " + label} ${Math.round(100 * (probs[shown] || 0))}%`);
    list.appendChild(item);
  }
}

function cameraOff() {
  if (state.stream) { state.stream.getTracks().forEach((t) => t.stop()); state.stream = null; }
  $("video").srcObject = null;
  $("camera-indicator").classList.add("hidden");
  $("camera-off").classList.remove("hidden");
}

// Back to the start: camera off, figures reset, Start enabled.
function quit() {
  state.wanted = false;
  state.running = false;
  local.stop();
  if (profile) profile.stopped();
  cameraOff();
  frames.reset();
  $("face-list").textContent = "";
  setRunningControls(false);
  state.held.clear();
  showHeadline(null);
  // Stop says so in the status line; the region is emptied (silently) for the next start.
  clearTimeout(state.announceTimer);
  state.announced = "";
  $("announce").textContent = "";
  $("fps").textContent = "– FPS";
  $("latency").textContent = "latency – ms";
  $("faces").textContent = "0 faces";
  $("resolution").textContent = "";
  const canvas = $("view");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  window.moodlensView = null;
}

function stop() {
  if (STATIC) {
    // No server: the summary is counted here, and the history kept in this browser.
    const msg = state.tally ? state.tally.summary() : { tracks: [], people: 0, track_count: 0 };
    const recording = !!(state.options && state.options.record);
    let line = stopLine(msg, performance.now() - state.startedAt, { recording, history: true });
    if (recording) {
      const saved = browserHistory.end();
      line = line.replace(/not saved\.$/, saved ? "kept in this browser's history." : "not kept: this browser's storage is full.");
      showBrowserHistory();
    }
    say.status(line);
    quit();
    $("start").focus();
    return;
  }
  if (state.mode === "browser" && !state.options.record) {
    // Nothing was sent anywhere: the summary is counted here.
    const msg = state.tally ? state.tally.summary() : { tracks: [], people: 0, track_count: 0 };
    say.status(stopLine(msg, performance.now() - state.startedAt, { recording: false, history: state.health.history !== false }));
    connection.close();
    quit();
    $("start").focus();
    return;
  }
  const open = connection.open && state.running;
  if (open) {
    connection.send(JSON.stringify({ type: "stop" }));
    connection.close(5000);  // the summary closes it sooner; this in case it never comes
    say.status("Stopping…");
  } else {
    connection.close();
    const last = state.sessions[state.sessions.length - 1];
    say.status(last ? `Stopped while the server was unreachable: what session ${last} recorded before is in the dashboard.` : "Stopped.");
    banner.hide();
  }
  quit();
  $("start").focus();
}

// --- the static export: no server --------------------------------------------------------------------

function showBrowserHistory() {
  const sessions = browserHistory.sessions();
  const count = sessions.length;
  $("browser-history-state").textContent = count
    ? `${count} session${count === 1 ? "" : "s"} kept in this browser (labels and probabilities over time, no picture).`
    : "Nothing kept in this browser.";
  $("browser-history-export").disabled = !count;
  $("browser-history-delete").disabled = !count;
}

async function loadStatic() {
  // What the server would say, from the files beside the page: the labels, and that there is no
  // server to choose, to link people on, or to keep profiles.
  // No server settings: the engine's detector keeps the shared constants' (set before any await,
  // so that the engine, loading as soon as the consent is given, never asks a server).
  state.health = { history: true, settings: {} };
  $("consent-where").replaceChildren("There is no server: the analysis runs ", el("b", {}, "in this browser"),
    ", and your camera frames and results ", el("b", {}, "stay in this browser"), "; frames are never stored.");
  $("consent-record").textContent = "If you choose to record the session, only the labels and probabilities over time are kept, in this browser's own storage (no image, no face); you can export or delete them on this page at any time.";
  const shared = await fetch(enginePaths().constants).then((r) => r.json());
  state.labels = shared.labels.map((label) => ({ label }));
  state.engineModel = shared.classifier.model;
  $("mode").classList.add("hidden");
  $("record").parentElement.lastChild.textContent = " Record history in this browser (labels only)";
  $("browser-history").classList.remove("hidden");
  $("browser-history-export").addEventListener("click", () => {
    const a = el("a", { href: browserHistory.exportUrl(), download: "moodlens-history.json" });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  });
  $("browser-history-delete").addEventListener("click", () => {
    browserHistory.clear();
    showBrowserHistory();
    say.status("The history kept in this browser was deleted.");
    $("start").focus();
  });
  showBrowserHistory();
  showMode();
}

// Analyse on this device by default (a profile applies in either mode); ?mode=server starts with
// the server chosen.
const params = new URLSearchParams(location.search);
if (!STATIC && params.get("mode") === "server") $("mode-server").checked = true;
showMode();
$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
if (STATIC) loadStatic().catch((error) => say.error(`The page's files could not be read (${error.message}).`));
else loadServer().catch(() => say.error(banner.down("network")));
