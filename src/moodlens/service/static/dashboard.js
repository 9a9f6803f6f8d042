// moodlens dashboard: sessions, everyone's expressions over a session, each person's summary and
// probability curves, who is who (tracks merged into people, split, named with consent, hidden),
// trends over days or weeks. Charts: uPlot (vendored from npm, MIT); the lanes are SVG of our own
// (uPlot draws series against one axis, not one lane per person).
"use strict";

const $ = (id) => document.getElementById(id);
// people: the visible people (a person is one track or tracks merged); everyone: hidden ones too.
const state = { labels: [], colours: {}, session: null, intervals: [], people: [], everyone: [], charts: [],
  lastAnnounce: 0, undo: null };

async function api(path, options) {
  if (options && options.json !== undefined) {
    options = { method: options.method || "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(options.json) };
  }
  const response = await fetch(`/api/v1${path}`, options);
  if (response.status === 204) return null;
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function announce(text) {
  // A live region, at most one announcement a second: screen readers are not flooded.
  const now = Date.now();
  const wait = Math.max(0, 1000 - (now - state.lastAnnounce));
  state.lastAnnounce = now + wait;
  setTimeout(() => { $("announce").textContent = text; }, wait);
}

function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

// "5 people (36 tracks)", "1 person (3 tracks, 1 hidden)".
function counts(people, tracks, hidden) {
  return `${plural(people, "person", "people")} (${plural(tracks, "track", "tracks")}${hidden ? `, ${hidden} hidden` : ""})`;
}

function tracksText(person) { return person.track_ids.map((t) => `#${t}`).join(" "); }

// The dominant expression in words: a near tie said as such when the summary says it.
function mostly(p) { return p.dominant_text || p.dominant || "–"; }

function seconds(ms) { return ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`; }

function length(s) {
  if (!s.ended_at) return "running";
  if (s.interrupted) return s.media_ms == null ? "interrupted" : `${seconds(s.media_ms)}, interrupted`;
  return s.media_ms == null ? "–" : seconds(s.media_ms);
}

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function table(target, headers, rows) {
  target.innerHTML = "";
  const head = el("thead"), line = el("tr");
  for (const h of headers) line.appendChild(el("th", { scope: "col" }, h));
  head.appendChild(line);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) {
      const td = el("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  target.append(head, body);
}

// --- sessions and navigation -------------------------------------------------------------------

async function loadSessions() {
  let sessions;
  try { sessions = await api("/sessions"); } catch (err) { $("notice").textContent = err.message; return []; }
  $("notice").textContent = sessions.length ? "" : "No sessions yet: record one from the Live page.";
  const rows = sessions.map((s) => {
    const link = el("a", { href: `/dashboard/sessions/${s.id}`, "data-session-id": s.id }, s.name || `session ${s.id}`);
    link.addEventListener("click", (event) => { event.preventDefault(); open(s.id, true); });
    return [String(s.id), link, new Date(s.started_at).toLocaleString(), length(s), counts(s.people, s.tracks, s.hidden_tracks), s.consent_given ? "yes" : "no"];
  });
  const body = $("sessions");
  body.innerHTML = "";
  for (const row of rows) {
    const tr = el("tr");
    for (const cell of row) { const td = el("td"); if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell; tr.appendChild(td); }
    body.appendChild(tr);
  }
  return sessions;
}

function sessionFromUrl() {
  const match = location.pathname.match(/^\/dashboard\/sessions\/(\d+)\/?$/);
  return match ? Number(match[1]) : null;
}

async function open(id, push) {
  if (push) history.pushState({ session: id }, "", `/dashboard/sessions/${id}`);
  if (id === null) { $("detail").classList.add("hidden"); state.session = null; return; }
  state.undo = null;
  $("undo-merge").classList.add("hidden");
  $("people-status").textContent = "";
  if (await load(id)) announce(`Session ${id} opened`);
}

// Fetch a session and draw everything about it; false when it cannot be read.
async function load(id) {
  let info, timeline, everyone;
  try {
    [info, timeline, everyone] = await Promise.all([api(`/sessions/${id}`), api(`/sessions/${id}/timeline`),
      api(`/sessions/${id}/people?include_hidden=true`)]);
  } catch (err) {
    $("detail").classList.add("hidden");
    $("notice").textContent = `Session ${id}: ${err.message}`;
    return false;
  }
  state.session = info;
  state.intervals = timeline;
  state.people = info.people || [];
  state.everyone = everyone;
  for (const link of document.querySelectorAll("#sessions a")) {
    if (Number(link.dataset.sessionId) === id) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  $("detail").classList.remove("hidden");
  $("detail-title").textContent = `Session ${id}${info.name ? " · " + info.name : ""}`;
  document.title = `moodlens · session ${id}`;
  $("export-csv").href = `/api/v1/sessions/${id}/export?format=csv`;
  $("export-json").href = `/api/v1/sessions/${id}/export?format=json`;
  const dist = info.distribution;
  const line = counts(state.people.length, info.tracks, info.hidden_tracks);
  $("detail-summary").textContent = dist
    ? `${line} · recording ${length(info)} · valence index ${dist.valence >= 0 ? "+" : ""}${dist.valence.toFixed(2)} · source: ${info.source || "–"}`
    : info.tracks ? `${line} · every track is hidden.` : "Nothing recorded in this session.";
  drawLanes();
  drawPeople();
  drawTools();
  drawShares($("distribution"), dist ? dist.dominant_shares : null, "the whole session");
  // The person seen longest first: the likeliest one to look at; the choice kept across redraws.
  const chosen = $("person").value;
  const byTime = [...state.people].sort((a, b) => b.duration_ms - a.duration_ms);
  fill($("person"), byTime.map((p) => [p.number, `${p.label} · ${tracksText(p)} (${seconds(p.duration_ms)} on screen)`]), chosen);
  drawPerson();
  return true;
}

// A <select>'s options from [value, text] pairs (text, never HTML: nicknames are anyone's typing).
function fill(select, options, keep) {
  select.textContent = "";
  for (const [value, text] of options) select.appendChild(el("option", { value: String(value) }, text));
  if (keep !== undefined && options.some(([value]) => String(value) === String(keep))) select.value = String(keep);
}

// --- everyone over the session: lanes ------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs) { const n = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); return n; }

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
}

function drawLanes() {
  const box = $("lanes");
  box.innerHTML = "";
  const people = state.people;
  const end = Math.max(1000, ...state.intervals.map((i) => i.end_ms + 100), state.session.media_ms || 0);
  const width = Math.max(280, box.clientWidth || 600), lane = 34, top = 6, bottom = 34;
  // The names column: a person's label, and under it the tracks it is made of.
  const left = Math.round(Math.min(160, Math.max(72, width * 0.2)));
  const fit = (text, px) => { const room = Math.max(4, Math.floor((left - 8) / px)); return text.length > room ? `${text.slice(0, room - 1)}…` : text; };
  const height = top + people.length * lane + bottom;
  const x = (ms) => left + (ms / end) * (width - left - 8);
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `${people.length} people over ${seconds(end)}` });
  const step = niceStep(end / 1000, width / 90) * 1000;
  for (let t = 0; t <= end; t += step) {
    chart.appendChild(svg("line", { x1: x(t), x2: x(t), y1: top, y2: height - bottom, stroke: "#d0d4da" }));
    const tick = svg("text", { x: x(t), y: height - bottom + 14, "text-anchor": "middle", "font-size": 11, fill: "#333" });
    tick.textContent = `${Number((t / 1000).toFixed(2))}`;
    chart.appendChild(tick);
  }
  const axis = svg("text", { x: left + (width - left) / 2, y: height - 4, "text-anchor": "middle", "font-size": 12, fill: "#222" });
  axis.textContent = width < 500 ? "media time (s)" : "media time (s) from the start of the recording";
  chart.appendChild(axis);
  const rows = [];
  people.forEach((person, k) => {
    const y = top + k * lane;
    const name = svg("text", { x: 4, y: y + 14, "font-size": 12, fill: "#222", class: "lane-name", "data-person": person.number });
    name.textContent = fit(person.label, 7);
    const tracks = svg("text", { x: 4, y: y + 27, "font-size": 10, fill: "#444", class: "lane-tracks" });
    tracks.textContent = fit(tracksText(person), 6);
    const full = svg("title", {});
    full.textContent = `${person.label}: tracks ${tracksText(person)}`;
    const label = svg("g", { class: "lane-label" });
    label.append(full, name, tracks);
    chart.appendChild(label);
    for (const i of state.intervals.filter((r) => r.person === person.number)) {
      const p = i.probabilities[i.dominant];
      const block = svg("rect", { x: x(i.start_ms), y: y + 4, width: Math.max(2, x(i.end_ms + 33) - x(i.start_ms)),
        height: lane - 8, fill: state.colours[i.dominant], "fill-opacity": (0.35 + 0.65 * p).toFixed(2), tabindex: 0 });
      const text = `${person.label} (#${i.track_id}) · ${(i.start_ms / 1000).toFixed(1)}–${((i.end_ms + 33) / 1000).toFixed(1)} s · apparent ${i.dominant} ${Math.round(100 * p)}%`;
      block.setAttribute("aria-label", text);
      const title = svg("title", {});
      title.textContent = text;
      block.appendChild(title);
      chart.appendChild(block);
      rows.push([person.label, `#${i.track_id}`, (i.start_ms / 1000).toFixed(1), ((i.end_ms + 33) / 1000).toFixed(1), i.dominant, `${Math.round(100 * p)}%`]);
    }
  });
  box.appendChild(chart);
  table($("lanes-table"), ["person", "track", "from (s)", "to (s)", "apparent expression", "probability"], rows);
}

function drawShares(target, shares, who) {
  target.innerHTML = "";
  if (!shares) return;
  const bar = el("div", { class: "share-bar", role: "img",
    "aria-label": `${who}: ` + state.labels.map((l) => `${l.label} ${Math.round(100 * (shares[l.label] || 0))}%`).join(", ") });
  for (const l of state.labels) {
    const share = shares[l.label] || 0;
    if (share <= 0) continue;
    const part = el("span", { title: `${l.label} ${Math.round(100 * share)}%` });
    part.style.width = `${100 * share}%`;
    part.style.background = state.colours[l.label];
    if (share >= 0.12) part.textContent = `${l.label} ${Math.round(100 * share)}%`;
    bar.appendChild(part);
  }
  target.appendChild(bar);
}

function drawPeople() {
  const rows = state.people.map((p) => {
    const shares = el("div");
    drawShares(shares, p.shares, p.label);
    return [p.label, tracksText(p), seconds(p.duration_ms), shares, mostly(p), `${p.valence >= 0 ? "+" : ""}${p.valence.toFixed(2)}`];
  });
  table($("people"), ["person", "tracks", "time on screen", "share of time per expression", "mostly", "valence"], rows);
}

// --- who is who: merge, split, name (with consent), hide ---------------------------------------------

function everyTrack(person) { return [...person.track_ids, ...person.hidden_track_ids].sort((a, b) => a - b); }

function drawTools() {
  const list = $("merge-choices");
  const picked = new Set([...list.querySelectorAll("input:checked")].map((box) => Number(box.value)));
  list.textContent = "";
  for (const p of state.people) {
    const id = `pick-${p.number}`;
    const item = el("li");
    const box = el("input", { type: "checkbox", id, value: String(p.number) });
    box.checked = picked.has(p.number);
    item.append(box, el("label", { for: id }, ` ${p.label} · ${tracksText(p)}`));
    list.appendChild(item);
  }
  const tracks = [];
  for (const p of state.everyone) {
    for (const t of everyTrack(p)) tracks.push([t, `#${t} · ${p.label}${p.hidden_track_ids.includes(t) ? " (hidden)" : ""}`]);
  }
  tracks.sort((a, b) => a[0] - b[0]);
  fill($("track-choice"), tracks, $("track-choice").value);
  fill($("rename-person"), state.people.map((p) => [p.number, `${p.label} · ${tracksText(p)}`]), $("rename-person").value);
  trackChosen();
}

function personOfTrack(track) { return state.everyone.find((p) => everyTrack(p).includes(track)); }

function trackChosen() {
  const track = Number($("track-choice").value);
  const person = personOfTrack(track);
  const hidden = person ? person.hidden_track_ids.includes(track) : false;
  $("hide").textContent = hidden ? "Show it again" : "Hide it";
  $("hide").dataset.hidden = hidden ? "yes" : "no";
}

function say(text) { $("people-status").textContent = text; }

// A change of who is who, then the whole session drawn again (counts, lanes, tables, choices).
async function change(path, options, done) {
  const id = state.session.id;
  let person;
  try {
    person = await api(`/sessions/${id}${path}`, options);
  } catch (err) {
    say(err.message);
    return null;
  }
  await load(id);
  await loadSessions();
  say(`${done(person)} ${counts(state.people.length, state.session.tracks, state.session.hidden_tracks)}.`);
  return person;
}

async function merge() {
  const numbers = [...$("merge-choices").querySelectorAll("input:checked")].map((box) => Number(box.value));
  if (numbers.length < 2) { say("Select two or more people to merge."); return; }
  const before = state.everyone.filter((p) => numbers.includes(p.number)).map((p) => everyTrack(p));
  const merged = await change("/people/merge", { json: { track_ids: numbers } }, (p) => `Merged into ${p.label} (${tracksText(p)}):`);
  if (!merged) return;
  for (const box of $("merge-choices").querySelectorAll("input")) box.checked = false;
  state.undo = { groups: before, number: merged.number };
  $("undo-merge").classList.remove("hidden");
}

// Undo a merge: every track that came from another person is split out, then those people are
// merged again (their nicknames are not restored: that would need their consent again).
async function undoMerge() {
  const undo = state.undo;
  if (!undo) return;
  const id = state.session.id;
  try {
    for (const group of undo.groups.filter((g) => !g.includes(undo.number))) {
      for (const track of group) await api(`/sessions/${id}/tracks/${track}/split`, { method: "POST" });
      if (group.length > 1) await api(`/sessions/${id}/people/merge`, { json: { track_ids: group } });
    }
  } catch (err) {
    say(err.message);
    return;
  }
  state.undo = null;
  $("undo-merge").classList.add("hidden");
  $("merge").focus();
  await load(id);
  await loadSessions();
  say(`Merge undone: ${counts(state.people.length, state.session.tracks, state.session.hidden_tracks)}.`);
}

async function split() {
  const track = Number($("track-choice").value);
  const person = personOfTrack(track);
  if (person && everyTrack(person).length === 1) { say(`#${track} is its own person already.`); return; }
  await change(`/tracks/${track}/split`, { method: "POST" }, (p) => `#${track} is its own person again (${p.label}):`);
}

async function hide() {
  const track = Number($("track-choice").value);
  const hidden = $("hide").dataset.hidden === "yes";
  await change(`/tracks/${track}/${hidden ? "unhide" : "hide"}`, { method: "POST" },
    () => (hidden ? `#${track} is shown again:` : `#${track} is hidden:`));
}

async function rename(event) {
  event.preventDefault();
  const number = Number($("rename-person").value);
  const nickname = $("nickname").value.trim();
  if (!nickname) { say("Type a nickname, or remove the one the person has."); $("nickname").focus(); return; }
  if (!$("nickname-consent").checked) {
    say("Tick the box to confirm they agree to the nickname being stored.");
    $("nickname-consent").focus();
    return;
  }
  const done = await change(`/people/${number}/nickname`, { method: "PUT", json: { nickname, consent: true } },
    (p) => `Person ${p.number} is now ${p.label}:`);
  if (done) { $("nickname").value = ""; $("nickname-consent").checked = false; }
}

async function clearNickname() {
  const number = Number($("rename-person").value);
  await change(`/people/${number}/nickname`, { method: "PUT", json: { nickname: null } },
    (p) => `${p.label} has no nickname now:`);
}

// --- one person's curves (uPlot) -----------------------------------------------------------------

function clearCharts() { for (const c of state.charts) c.destroy(); state.charts = []; }

function chartWidth(box) { return Math.max(260, Math.min(1100, box.clientWidth || 600)); }

function plot(box, options, data) {
  box.innerHTML = "";
  const chart = new uPlot({ width: chartWidth(box), height: 260, ...options }, data, box);
  state.charts.push(chart);
  return chart;
}

function drawPerson() {
  clearCharts();
  const number = Number($("person").value);
  const person = state.people.find((p) => p.number === number);
  const who = person ? person.label : `Person ${number}`;
  // A person of several tracks: their intervals in time order, whichever track they came from.
  const rows = state.intervals.filter((i) => i.person === number).sort((a, b) => a.start_ms - b.start_ms);
  // Each interval's mean holds from its first to its last frame (a step), and a gap of more than a
  // second between intervals (the person off screen) breaks the line.
  const xs = [], picks = [];
  rows.forEach((i, k) => {
    if (k > 0 && i.start_ms - rows[k - 1].end_ms > 1000) { xs.push((rows[k - 1].end_ms + i.start_ms) / 2000); picks.push(null); }
    xs.push(i.start_ms / 1000, (i.end_ms + 33) / 1000);
    picks.push(i, i);
  });
  const values = (get) => picks.map((i) => (i === null ? null : get(i)));
  const axisFont = "12px system-ui, sans-serif";
  const series = [{ label: "time (s)", value: (u, v) => (v == null ? "–" : `${v.toFixed(1)} s`) }];
  for (const l of state.labels) {
    series.push({ label: l.label, stroke: state.colours[l.label], width: 2, value: (u, v) => (v == null ? "–" : `${Math.round(100 * v)}%`) });
  }
  plot($("curves"), {
    title: `${who}: smoothed probabilities`,
    scales: { x: { time: false }, y: { range: [0, 1] } },
    axes: [
      { label: "media time (s)", font: axisFont, labelFont: axisFont },
      { label: "probability", font: axisFont, labelFont: axisFont, values: (u, ticks) => ticks.map((v) => `${Math.round(100 * v)}%`) },
    ],
    series,
  }, [xs, ...state.labels.map((l) => values((i) => i.probabilities[l.label]))]);
  plot($("valence"), {
    scales: { x: { time: false }, y: { range: [-1, 1] } },
    axes: [{ label: "media time (s)", font: axisFont, labelFont: axisFont },
      { label: "valence index", font: axisFont, labelFont: axisFont }],
    series: [{ label: "time (s)" }, { label: `${who} valence`, stroke: "#0b63a8", width: 2, value: (u, v) => (v == null ? "–" : v.toFixed(2)) }],
  }, [xs, values((i) => i.valence)]);
  table($("curves-table"), ["from (s)", "to (s)", ...state.labels.map((l) => l.label), "valence"],
    rows.map((i) => [(i.start_ms / 1000).toFixed(1), ((i.end_ms + 33) / 1000).toFixed(1),
      ...state.labels.map((l) => `${Math.round(100 * i.probabilities[l.label])}%`), i.valence.toFixed(2)]));
}

function savePng() {
  const canvas = $("curves").querySelector("canvas");
  if (!canvas) return;
  const link = el("a", { href: canvas.toDataURL("image/png"), download: `moodlens-session-${state.session.id}-person-${$("person").value}.png` });
  document.body.appendChild(link);
  link.click();
  link.remove();
}

// --- trends --------------------------------------------------------------------------------------

let trendsChart = null;

async function loadTrends() {
  const period = $("period").value;
  const buckets = await api(`/distribution?period=${period}`).catch(() => []);
  const xs = buckets.map((b) => Date.parse(`${b.key}T00:00:00Z`) / 1000);
  const axisFont = "12px system-ui, sans-serif";
  const dayFormat = (u, ticks) => ticks.map((t) => new Date(t * 1000).toISOString().slice(0, 10));
  if (trendsChart) trendsChart.destroy();
  $("trends").innerHTML = "";
  if (!buckets.length) { $("trends").textContent = "Nothing recorded yet."; table($("trends-table"), [], []); return; }
  // One bucket alone: a range of a day around it, so the axis reads as one date, not a repeat of it.
  const pad = period === "week" ? 4 * 86400 : 86400;
  trendsChart = new uPlot({
    width: chartWidth($("trends")), height: 240, padding: [12, 44, null, null],
    scales: { x: { time: true, range: () => [Math.min(...xs) - pad, Math.max(...xs) + pad] }, y: { range: [-1, 1] } },
    axes: [{ label: period === "week" ? "week starting (UTC)" : "day (UTC)", font: axisFont, labelFont: axisFont, values: dayFormat,
      space: 90, incrs: [86400, 7 * 86400, 28 * 86400, 91 * 86400, 365 * 86400] },
      { label: "valence index", font: axisFont, labelFont: axisFont }],
    series: [{ label: period, value: (u, v) => (v == null ? "–" : new Date(v * 1000).toISOString().slice(0, 10)) },
      { label: "valence index", stroke: "#0b63a8", width: 2, points: { show: true, size: 7 }, value: (u, v) => (v == null ? "–" : v.toFixed(2)) },
      { label: "share happy", stroke: state.colours.happy, width: 2, scale: "y", value: (u, v) => (v == null ? "–" : `${Math.round(100 * v)}%`) }],
  }, [xs, buckets.map((b) => b.valence), buckets.map((b) => b.dominant_shares.happy)], $("trends"));
  table($("trends-table"), [period, "time of faces", "valence index", ...state.labels.map((l) => l.label)],
    buckets.map((b) => [b.key, seconds(b.duration_ms || 0), b.valence.toFixed(2), ...state.labels.map((l) => `${Math.round(100 * b.dominant_shares[l.label])}%`)]));
}

// --- wiring ----------------------------------------------------------------------------------------

$("person").addEventListener("change", drawPerson);
$("merge").addEventListener("click", merge);
$("undo-merge").addEventListener("click", undoMerge);
$("split").addEventListener("click", split);
$("hide").addEventListener("click", hide);
$("track-choice").addEventListener("change", trackChosen);
$("rename-form").addEventListener("submit", rename);
$("clear-nickname").addEventListener("click", clearNickname);
$("rename-person").addEventListener("change", () => {
  const person = state.people.find((p) => p.number === Number($("rename-person").value));
  $("nickname").value = (person && person.nickname) || "";
});
$("period").addEventListener("change", loadTrends);
$("save-curves").addEventListener("click", savePng);
$("delete-session").addEventListener("click", async () => {
  const session = state.session;
  if (!session || !confirm(`Delete session ${session.id} and everything recorded in it?`)) return;
  await api(`/sessions/${session.id}`, { method: "DELETE" });
  history.pushState({ session: null }, "", "/dashboard");
  $("detail").classList.add("hidden");
  state.session = null;
  await loadSessions();
  await loadTrends();
  announce(`Session ${session.id} deleted`);
  const first = document.querySelector("#sessions a");
  (first || $("sessions-title")).focus();
});
window.addEventListener("popstate", () => open(sessionFromUrl(), false));
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (state.session) { drawLanes(); drawPerson(); } loadTrends(); }, 200);
});

(async () => {
  state.labels = await api("/labels");
  for (const l of state.labels) state.colours[l.label] = l.chart_colour;
  $("legend").innerHTML = state.labels.map((l) => `<span style="--swatch:${l.chart_colour}">${l.label}</span>`).join("");
  await loadSessions();
  await loadTrends();
  const id = sessionFromUrl();
  if (id !== null) await open(id, false);
})();
