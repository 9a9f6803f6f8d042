// moodlens live page: camera -> JPEG frames over a WebSocket -> overlay of the results.
// At most one frame is in flight; the send rate and JPEG quality adapt to the measured latency.
"use strict";

const $ = (id) => document.getElementById(id);
const TARGET_FPS = 15;
const state = {
  labels: [], colours: {}, ws: null, stream: null, inFlight: false, running: false,
  quality: 0.8, width: 640, latency: null, lastSend: 0, results: [], lastResult: null,
};

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
  $("stop").disabled = false;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}/api/v1/stream`);
  ws.binaryType = "arraybuffer";
  state.ws = ws;
  ws.onopen = () => ws.send(JSON.stringify({
    type: "start", consent: true, name: $("session-name").value, record: $("record").checked,
  }));
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
  ws.onclose = () => { if (state.running) setStatus("connection closed"); stopCamera(); };
  ws.onerror = () => setStatus("connection error");
}

function onMessage(msg) {
  if (msg.type === "started") {
    state.running = true;
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
    draw(msg);
    $("mood").textContent = `Mood detected: ${msg.mood ? "apparent " + msg.mood : "–"}`;
    $("fps").textContent = `${(state.results.length / 2).toFixed(1)} FPS`;
    $("latency").textContent = `latency ${Math.round(state.latency)} ms`;
    $("faces").textContent = `${msg.faces.length} face${msg.faces.length === 1 ? "" : "s"}`;
    listFaces(msg.faces);
    schedule();
  } else if (msg.type === "error") {
    if (["busy", "rate_limited", "bad_frame", "processing_failed"].includes(msg.code)) {
      state.inFlight = false;
      schedule();
    }
    setStatus(`server: ${msg.message}`);
  } else if (msg.type === "stopped") {
    const tracks = msg.tracks.map((t) => `#${t.track_id} mostly ${t.dominant}`).join(", ");
    setStatus(`stopped after ${msg.frames} frames${tracks ? ": " + tracks : ""}` +
      (msg.session_id ? ` (session ${msg.session_id} is in the dashboard)` : ""));
    if (state.ws) state.ws.close();
  }
}

function adapt() {
  // Slow answers: send smaller, lighter frames; fast ones: go back up.
  if (state.latency > 250) { state.quality = Math.max(0.5, state.quality - 0.05); state.width = Math.max(320, state.width - 80); }
  else if (state.latency < 100) { state.quality = Math.min(0.85, state.quality + 0.02); state.width = Math.min(640, state.width + 40); }
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
  state.inFlight = true;
  state.lastSend = performance.now();
  const t = state.lastSend;
  grab.toBlob(async (blob) => {
    if (!blob || ws.readyState !== WebSocket.OPEN) { state.inFlight = false; return; }
    const jpeg = new Uint8Array(await blob.arrayBuffer());
    const message = new Uint8Array(8 + jpeg.length);
    new DataView(message.buffer).setFloat64(0, t, true);
    message.set(jpeg, 8);
    ws.send(message.buffer);
  }, "image/jpeg", state.quality);
}

function draw(result) {
  const video = $("video");
  const canvas = $("overlay");
  const w = video.clientWidth, h = video.clientHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, w, h);
  const sx = w / result.width, sy = h / result.height;
  ctx.font = "bold 14px system-ui, sans-serif";
  for (const face of result.faces) {
    const [x1, y1, x2, y2] = face.box;
    const label = face.stable_label || face.label;
    const probs = face.smoothed_probabilities || face.probabilities;
    const colour = state.colours[label] || "#fff";
    const bx = x1 * sx, by = y1 * sy, bw = (x2 - x1) * sx, bh = (y2 - y1) * sy;
    ctx.lineWidth = 3;
    ctx.strokeStyle = colour;
    ctx.strokeRect(bx, by, bw, bh);
    const text = `#${face.track_id} ${label} ${Math.round(100 * probs[label])}%`;
    const tw = ctx.measureText(text).width + 8;
    ctx.fillStyle = colour;
    ctx.fillRect(bx, Math.max(0, by - 20), tw, 20);
    ctx.fillStyle = "#000";
    ctx.fillText(text, bx + 4, Math.max(14, by - 5));
    // Probability bars beside the face.
    const barX = bx + bw + 6 + 110 > w ? Math.max(0, bx - 116) : bx + bw + 6;
    ctx.fillStyle = "rgba(0,0,0,0.55)";
    ctx.fillRect(barX, by, 110, state.labels.length * 14 + 4);
    ctx.font = "11px system-ui, sans-serif";
    state.labels.forEach((item, i) => {
      const y = by + 4 + i * 14;
      ctx.fillStyle = "#fff";
      ctx.fillText(item.label.slice(0, 4), barX + 3, y + 10);
      ctx.fillStyle = item.colour;
      ctx.fillRect(barX + 36, y + 2, 70 * (probs[item.label] || 0), 9);
    });
    ctx.font = "bold 14px system-ui, sans-serif";
  }
}

function listFaces(faces) {
  const list = $("face-list");
  list.innerHTML = "";
  for (const face of faces) {
    const label = face.stable_label || face.label;
    const probs = face.smoothed_probabilities || face.probabilities;
    const item = document.createElement("li");
    item.style.setProperty("--swatch", state.colours[label] || "#999");
    item.textContent = `#${face.track_id}: apparent ${label} ${Math.round(100 * probs[label])}%`;
    list.appendChild(item);
  }
}

function stopCamera() {
  state.running = false;
  state.inFlight = false;
  if (state.stream) { state.stream.getTracks().forEach((t) => t.stop()); state.stream = null; }
  $("video").srcObject = null;
  $("camera-indicator").classList.add("hidden");
  $("face-list").innerHTML = "";
  $("start").disabled = false;
  $("stop").disabled = true;
  const canvas = $("overlay");
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
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
