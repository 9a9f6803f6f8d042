// moodlens dashboard: sessions, per-track timelines, distributions and the valence index.
"use strict";

const $ = (id) => document.getElementById(id);
let labels = [];
let current = null;
let intervals = [];

async function api(path, options) {
  const response = await fetch(`/api/v1${path}`, options);
  if (response.status === 204) return null;
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmtDuration(s) {
  if (!s.ended_at) return "running";
  const sec = (new Date(s.ended_at) - new Date(s.started_at)) / 1000;
  return sec < 90 ? `${sec.toFixed(0)} s` : `${(sec / 60).toFixed(1)} min`;
}

async function loadSessions() {
  let sessions;
  try {
    sessions = await api("/sessions");
  } catch (err) {
    $("notice").textContent = err.message;
    return;
  }
  const body = $("sessions");
  body.innerHTML = "";
  $("notice").textContent = sessions.length ? "" : "No sessions yet: record one from the Live page.";
  for (const s of sessions) {
    const row = document.createElement("tr");
    row.dataset.sessionId = s.id;
    for (const value of [s.id, s.name || "–", new Date(s.started_at).toLocaleString(), fmtDuration(s), s.tracks, s.frames, s.consent_given ? "yes" : "no"]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.appendChild(cell);
    }
    row.addEventListener("click", () => select(s.id));
    body.appendChild(row);
  }
  if (current !== null && !sessions.some((s) => s.id === current)) { current = null; $("detail").classList.add("hidden"); }
}

async function select(id) {
  current = id;
  for (const row of $("sessions").children) row.classList.toggle("selected", Number(row.dataset.sessionId) === id);
  const [info, timeline] = await Promise.all([api(`/sessions/${id}`), api(`/sessions/${id}/timeline`)]);
  intervals = timeline;
  $("detail").classList.remove("hidden");
  $("detail-title").textContent = `Session ${id}${info.name ? " · " + info.name : ""}`;
  $("export-csv").href = `/api/v1/sessions/${id}/export?format=csv`;
  $("export-json").href = `/api/v1/sessions/${id}/export?format=json`;
  const dist = info.distribution;
  $("detail-summary").textContent = dist
    ? `${dist.frames} face-frames · valence index ${dist.valence >= 0 ? "+" : ""}${dist.valence.toFixed(2)} · source: ${info.source}`
    : "nothing recorded in this session";
  const counts = new Map();
  for (const i of timeline) counts.set(i.track_id, (counts.get(i.track_id) || 0) + i.frames);
  const tracks = [...counts.keys()].sort((a, b) => counts.get(b) - counts.get(a));  // the most seen face first
  $("track").innerHTML = tracks.map((t) => `<option value="${t}">#${t} (${counts.get(t)} frames)</option>`).join("");
  drawTrack();
  barChart($("distribution-chart"), {
    bars: labels.map((l) => ({ name: l.label, value: dist ? dist.mean_probabilities[l.label] : 0, colour: l.colour })),
    yMax: 1,
  });
}

function drawTrack() {
  const track = Number($("track").value);
  const rows = intervals.filter((i) => i.track_id === track);
  const seconds = (i) => (i.start_ms + i.end_ms) / 2000;
  lineChart($("timeline-chart"), {
    series: labels.map((l) => ({ name: l.label, colour: l.colour, points: rows.map((i) => [seconds(i), i.probabilities[l.label]]) })),
    xLabel: "seconds",
  });
  lineChart($("valence-chart"), {
    series: [{ name: "valence", colour: "#2f6fde", points: rows.map((i) => [seconds(i), i.valence]) }],
    yMin: -1, yMax: 1, xLabel: "seconds",
  });
}

async function loadTrends() {
  const days = await api("/distribution?period=day").catch(() => []);
  lineChart($("trends-chart"), {
    series: [{ name: "valence", colour: "#2f6fde", points: days.map((d, i) => [i, d.valence]) }],
    yMin: -1, yMax: 1, xLabel: days.length ? `${days[0].key} … ${days[days.length - 1].key}` : "",
    xFormat: (v) => (days[Math.round(v)] ? days[Math.round(v)].key.slice(5) : ""),
  });
}

$("track").addEventListener("change", drawTrack);
$("delete-session").addEventListener("click", async () => {
  if (current === null || !confirm(`Delete session ${current} and everything recorded in it?`)) return;
  await api(`/sessions/${current}`, { method: "DELETE" });
  current = null;
  $("detail").classList.add("hidden");
  await loadSessions();
  await loadTrends();
});

(async () => {
  labels = await api("/labels");
  $("legend").innerHTML = labels.map((l) => `<span style="--swatch:${l.colour}">${l.label}</span>`).join("");
  await loadSessions();
  await loadTrends();
})();
