// moodlens live page: camera -> JPEG frames over a WebSocket -> the analysed frame with its result.
// At most one frame is in flight; the send rate and JPEG quality adapt to the measured latency.
// The page shows the frame that was analysed, with that frame's boxes: a box is always drawn on
// the picture it belongs to (never over a later picture where the head has moved, or after a cut).
"use strict";

const $ = (id) => document.getElementById(id);
const TARGET_FPS = 15;
// A person's box survives a result without them (a missed detection) for this long.
const HOLD_MS = 250;
// The headline is read out only once its text has held this long, and never more often: the
// server's dwell (pipeline.headline.HeadlineSettings.dwell_ms; a test keeps the two equal). The
// server already holds a person's label for it; this also keeps the short states between two
// people (a shot cut, a newcomer not yet confirmed) from being read out.
const ANNOUNCE_HOLD_MS = 1000;
const state = {
  labels: [], colours: {}, ws: null, stream: null, inFlight: false, running: false,
  quality: 0.8, width: 640, latency: null, lastSend: 0, results: [], lastResult: null,
  sent: new Map(), held: new Map(), headline: "", headlineSince: 0, announced: "", announceTimer: null,
  lastAnnounce: -Infinity,
};

const NOBODY = "Apparent expression: –";

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

async function loadLabels() {
  const response = await fetch("/api/v1/labels");
  state.labels = await response.json();
  for (const item of state.labels) state.colours[item.label] = item.colour;
}

function setStatus(text) { $("status").textContent = text; }

$("consent-check").addEventListener("change", (e) => { $("consent-accept").disabled = !e.target.checked; });
$("consent-accept").addEventListener("click", () => {
  $("consent").classList.add("hidden");
  $("live").classList.remove("hidden");
});

async function start() {
  $("start").disabled = true;
  setStatus("asking for the camera…");
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false,
    });
  } catch (err) {
    setStatus(`no camera: ${err.message || err}`);
    $("start").disabled = false;
    return;
  }
  const video = $("video");
  video.srcObject = state.stream;
  await new Promise((resolve) => { if (video.readyState >= 1) resolve(); else video.onloadedmetadata = resolve; });
  await video.play().catch(() => {});
  $("camera-indicator").classList.remove("hidden");
  $("camera-off").classList.add("hidden");
  $("stop").disabled = false;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  const profile = window.moodlensProfile ? window.moodlensProfile.chosen() : null;
  ws.onopen = () => ws.send(JSON.stringify({
    type: "start", consent: true, name: $("session-name").value, record: $("record").checked,
    link_people: $("link-people").checked,
    ...(profile ? { profile } : {}),
  }));
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => { if (state.running) setStatus("connection closed"); stopCamera(); };
  ws.onerror = () => setStatus("connection error");
}

function onMessage(msg) {
  const personal = window.moodlensProfile;
  if (personal && personal.message(msg)) return;
  if (msg.type === "started") {
    state.running = true;
    if (personal) personal.started(msg.profile, (message) => state.ws && state.ws.send(JSON.stringify(message)));
    setStatus(msg.recording ? `recording session ${msg.session_id} (labels only)` : "not recording");
    sendFrame();
  } else if (msg.type === "result") {
    state.inFlight = false;
    const now = performance.now();
    const latency = now - msg.t;
    state.latency = state.latency === null ? latency : 0.8 * state.latency + 0.2 * latency;
    adapt();
    state.results.push(now);
    state.results = state.results.filter((t) => now - t < 2000);
    state.lastResult = msg;
    const faces = withHeld(msg);
    draw(msg, faces);
    showHeadline(msg.headline);
    $("fps").textContent = `${(state.results.length / 2).toFixed(1)} FPS`;
    $("latency").textContent = `latency ${Math.round(state.latency)} ms`;
    $("faces").textContent = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
    listFaces(faces);
    if (personal) personal.result(msg.faces);
    schedule();
  } else if (msg.type === "error") {
    if (["busy", "rate_limited", "bad_frame", "processing_failed"].includes(msg.code)) {
      state.sent.clear();
      state.inFlight = false;
      schedule();
    }
    setStatus(`server: ${msg.message}`);
  } else if (msg.type === "stopped") {
    // A near tie reads "happy and fear, about equal" (moodlens.summary.dominant_phrase).
    const said = (t) => (t.near_tie ? t.dominant_text : "mostly " + t.dominant);
    const counted = `${msg.people} ${msg.people === 1 ? "person" : "people"} (${msg.track_count} track${msg.track_count === 1 ? "" : "s"})`;
    const each = msg.people_summaries
      ? msg.people_summaries.map((p) => `person ${p.person} (${p.track_ids.map((t) => "#" + t).join(" ")}) ${said(p)}`)
      : msg.tracks.map((t) => `#${t.track_id} ${said(t)}`);
    setStatus(`stopped after ${msg.frames} frames: ${counted}${each.length ? ": " + each.join(", ") : ""}`);
    if (msg.session_id) {
      // The session is one click away, where people can be merged, renamed and hidden.
      const link = document.createElement("a");
      link.href = `/dashboard/sessions/${msg.session_id}`;
      link.textContent = `open session ${msg.session_id} in the dashboard`;
      $("status").append(" ", link);
    }
    if (state.ws) state.ws.close();
  }
}

function adapt() {
  // Slow answers: send smaller, lighter frames; fast ones: go back up. The page says when it does.
  const before = state.width;
  if (state.latency > 250) { state.quality = Math.max(0.5, state.quality - 0.05); state.width = Math.max(320, state.width - 80); }
  else if (state.latency < 100) { state.quality = Math.min(0.85, state.quality + 0.02); state.width = Math.min(640, state.width + 40); }
  if (state.width < before) setStatus(`slow answers: sending smaller frames (${state.width} px wide; small faces may be missed)`);
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

function schedule() {
  if (!state.running) return;
  const wait = Math.max(0, 1000 / TARGET_FPS - (performance.now() - state.lastSend));
  setTimeout(sendFrame, wait);
}

const grab = document.createElement("canvas");

function sendFrame() {
  const ws = state.ws;
  const video = $("video");
  if (!state.running || state.inFlight || !ws || ws.readyState !== WebSocket.OPEN || !video.videoWidth) return;
  const scale = Math.min(1, state.width / video.videoWidth);
  grab.width = Math.round(video.videoWidth * scale);
  grab.height = Math.round(video.videoHeight * scale);
  grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
  $("resolution").textContent = `sending ${grab.width}x${grab.height}`;
  state.inFlight = true;
  state.lastSend = performance.now();
  const t = state.lastSend;
  // Keep this very picture: its result will be drawn on it.
  const kept = document.createElement("canvas");
  kept.width = grab.width;
  kept.height = grab.height;
  kept.getContext("2d").drawImage(grab, 0, 0);
  state.sent.clear();
  state.sent.set(t, kept);
  grab.toBlob(async (blob) => {
    if (!blob || ws.readyState !== WebSocket.OPEN) { state.inFlight = false; return; }
    const jpeg = new Uint8Array(await blob.arrayBuffer());
    const message = new Uint8Array(8 + jpeg.length);
    new DataView(message.buffer).setFloat64(0, t, true);
    message.set(jpeg, 8);
    ws.send(message.buffer);
  }, "image/jpeg", state.quality);
}

function faceLabel(face) {
  return face.shown_label || face.stable_label || face.label;
}

function faceProbs(face) {
  return face.smoothed_probabilities || face.probabilities;
}

function draw(result, faces) {
  const canvas = $("view");
  const picture = state.sent.get(result.t);
  state.sent.delete(result.t);
  if (!picture) return;  // not the frame we sent (a late result after Stop)
  if (canvas.width !== result.width || canvas.height !== result.height) {
    canvas.width = result.width;
    canvas.height = result.height;
  }
  const ctx = canvas.getContext("2d");
  ctx.drawImage(picture, 0, 0, result.width, result.height);
  const scale = Math.max(0.6, Math.min(2, result.width / 640));
  const row = Math.round(13 * scale);
  ctx.font = `${Math.round(11 * scale)}px system-ui, sans-serif`;
  const labelColumn = ctx.measureText("surprise").width + 8;
  const panel = [labelColumn + 60 * scale + 4, row * state.labels.length + 4];
  ctx.font = `bold ${Math.round(14 * scale)}px system-ui, sans-serif`;
  const tag = [ctx.measureText("#00 surprise 100%").width + 8, Math.round(20 * scale)];
  const places = placePanels(faces.map((f) => f.box), panel, [result.width, result.height], tag);
  const drawn = [];
  faces.forEach((face, index) => {
    const [x1, y1, x2, y2] = face.box;
    const label = faceLabel(face);
    const probs = faceProbs(face);
    const shown = face.stable_label || face.label;
    const colour = face.uncertain ? "#6e6e6e" : (state.colours[shown] || "#fff");
    ctx.lineWidth = Math.max(2, 3 * scale);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const id = face.track_id == null ? "" : `#${face.track_id} `;
    const text = `${id}${label} ${Math.round(100 * (probs[shown] || 0))}%`;
    ctx.font = `bold ${Math.round(14 * scale)}px system-ui, sans-serif`;
    const tw = ctx.measureText(text).width + 8;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, Math.max(0, y1 - tag[1]), tw, tag[1]);
    ctx.fillStyle = face.uncertain ? "#fff" : "#000";
    ctx.fillText(text, x1 + 4, Math.max(tag[1] - 5, y1 - 5));
    drawn.push({ track_id: face.track_id, box: face.box, label });
    const place = places[index];
    if (!place) return;  // no room beside this face: the compact form (label only)
    ctx.fillStyle = "rgba(0,0,0,0.65)";
    ctx.fillRect(place.x, place.y, place.w, place.h);
    ctx.font = `${Math.round(11 * scale)}px system-ui, sans-serif`;
    state.labels.forEach((item, i) => {
      const y = place.y + 2 + i * row;
      ctx.fillStyle = "#fff";
      ctx.fillText(item.label, place.x + 4, y + row - 3);
      ctx.fillStyle = item.colour;
      ctx.fillRect(place.x + labelColumn, y + 2, 60 * scale * (probs[item.label] || 0), row - 4);
    });
  });
  // For tests and assistive tools: what is drawn, on which analysed picture.
  window.moodlensView = { t: result.t, frame: result.frame, width: result.width, height: result.height, faces: drawn };
}

function listFaces(faces) {
  const list = $("face-list");
  list.innerHTML = "";
  for (const face of faces) {
    const label = faceLabel(face);
    const shown = face.stable_label || face.label;
    const probs = faceProbs(face);
    const item = document.createElement("li");
    item.style.setProperty("--swatch", face.uncertain ? "#6e6e6e" : (state.colours[shown] || "#999"));
    const who = (face.track_id == null ? "new face" : `#${face.track_id}`) + (face.profile ? ` (${face.profile})` : "");
    item.textContent = `${who}: ${face.uncertain ? "uncertain" : "apparent " + label} ${Math.round(100 * (probs[shown] || 0))}%`;
    list.appendChild(item);
  }
}

function stopCamera() {
  state.running = false;
  if (window.moodlensProfile) window.moodlensProfile.stopped();
  state.inFlight = false;
  if (state.stream) { state.stream.getTracks().forEach((t) => t.stop()); state.stream = null; }
  $("video").srcObject = null;
  $("camera-indicator").classList.add("hidden");
  $("camera-off").classList.remove("hidden");
  $("face-list").innerHTML = "";
  $("start").disabled = false;
  $("stop").disabled = true;
  state.sent.clear();
  state.held.clear();
  state.latency = null;
  state.results = [];
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
  const ws = state.ws;
  state.running = false;
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "stop" }));
    setTimeout(() => ws.close(), 5000);  // in case the summary never comes
  }
  stopCamera();
}

$("start").addEventListener("click", start);
$("stop").addEventListener("click", stop);
loadLabels().catch((err) => setStatus(`cannot reach the server: ${err}`));
