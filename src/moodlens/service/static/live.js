// moodlens live page: the wiring. Consent, then Start: a connection to the server (connection.js,
// which reconnects by itself), the camera (camera.js), frames sent one at a time (frames.js), each
// result drawn on the picture it belongs to (overlay.js), a headline read out once it holds, and a
// one-line summary at Stop (summary.js). Status is announced politely, errors assertively, once.

import { announcer } from "./announce.js";
import { connectionBanner } from "./banner.js";
import { openCamera } from "./camera.js";
import { Connection } from "./connection.js";
import { $, el } from "./dom.js";
import { FrameSender } from "./frames.js";
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
const STREAM_URL = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/v1/stream`;

const say = announcer($("status"), $("alert"));
const state = {
  labels: [], health: {}, stream: null, running: false, wanted: false, results: [],
  held: new Map(), headline: "", headlineSince: 0, announced: "", announceTimer: null, lastAnnounce: -Infinity,
  startedAt: 0, sessions: [], options: null, stopping: false,
};
let profile = null;

const connection = new Connection(STREAM_URL);
const banner = connectionBanner($("connection"), { onRetry: retry });
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
});

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
}

// --- start, stop, and the connection between ---------------------------------------------------------

function setRunningControls(on) {
  $("start").disabled = on;
  $("stop").disabled = !on;
  for (const id of ["session-name", "link-people"]) $(id).disabled = on;
  $("record").disabled = on || state.health.history === false;
}

function showCameraHelp(problem) {
  $("camera-help-title").textContent = problem.title;
  $("camera-help-steps").replaceChildren(...problem.steps.map((step) => el("li", {}, step)));
  $("camera-help").classList.remove("hidden");
  $("camera-help").dataset.kind = problem.kind;
}

function start() {
  // The server first: the camera turns on only once the server answers.
  state.wanted = true;
  state.sessions = [];
  state.options = {
    name: $("session-name").value, record: $("record").checked, link_people: $("link-people").checked,
    profile: profile ? profile.chosen() : null,
  };
  $("camera-help").classList.add("hidden");
  say.clearError();
  setRunningControls(true);
  $("stop").focus();
  say.status("Connecting to the server…");
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
  say.status(state.stream ? "Paused: nothing is analysed until the server answers again." : "Waiting for the server…");
});

connection.addEventListener("waiting", (event) => banner.waiting(event.detail.inMs, event.detail.attempt));

connection.addEventListener("gaveup", () => {
  banner.gaveUp();
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

async function onMessage(msg) {
  if (profile && profile.message(msg)) return;
  if (msg.type === "started") {
    state.running = true;
    if (!state.sessions.length) state.startedAt = performance.now();
    const before = state.sessions[state.sessions.length - 1];
    if (msg.session_id) state.sessions.push(msg.session_id);
    if (profile) profile.started(msg.profile, (message) => connection.send(JSON.stringify(message)));
    const now = msg.recording ? `recording session ${msg.session_id} (labels only)` : "not recording";
    if (state.reconnected) {
      state.reconnected = false;
      const kept = before ? `; ${await savedState(before)}` : "";
      say.status(`Reconnected: ${now}${kept}.`);
    } else {
      say.status(`Camera on: ${now}.`);
    }
    frames.next();
  } else if (msg.type === "result") {
    const picture = frames.received(msg);
    const faces = withHeld(msg);
    if (picture) {
      const drawn = drawOverlay($("view"), picture, msg, faces, state.labels, { panels: $("panels").checked });
      // For tests and assistive tools: what is drawn, on which analysed picture.
      window.moodlensView = { t: msg.t, frame: msg.frame, width: msg.width, height: msg.height, faces: drawn.faces, panels: drawn.panels, scale: drawn.scale };
    }
    showHeadline(msg.headline);
    $("fps").textContent = `${frames.fps.toFixed(1)} FPS`;
    $("latency").textContent = `latency ${Math.round(frames.latency)} ms`;
    $("faces").textContent = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
    $("resolution").textContent = frames.size;
    listFaces(faces);
    if (profile) profile.result(msg.faces);
    frames.next();
  } else if (msg.type === "error") {
    if (["busy", "rate_limited", "bad_frame", "processing_failed"].includes(msg.code)) {
      frames.refused();
      frames.next();
      return;  // the next frame goes; nothing to tell
    }
    say.error(`The server says: ${msg.message}`);
  } else if (msg.type === "stopped") {
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

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
loadServer().catch(() => say.error(banner.down("network")));
