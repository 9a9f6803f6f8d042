// moodlens dashboard: the wiring. Sessions (a URL each), a session at a glance, everyone's lanes
// (lanes.js), each person (people-table.js), who is who (who.js), one person's curves (curves.js),
// trends (trends.js). Charts: uPlot (vendored from npm, MIT); the lanes are SVG of our own.

import { announcer } from "./announce.js";
import { api } from "./api.js";
import { connectionBanner } from "./banner.js";
import { crosshair } from "./crosshair.js";
import { clearCharts, drawCurves } from "./curves.js";
import { $, el, fill, focusOn, table } from "./dom.js";
import { counts, glance, plural, seconds, signed, tracksText } from "./format.js";
import { blockEnd, drawLanes } from "./lanes.js";
import { paint } from "./patterns.js";
import { drawPeopleTable, onScreen } from "./people-table.js";
import { nameParts, shareBar } from "./shares.js";
import { tooltip } from "./tooltip.js";
import { drawTrends } from "./trends.js";
import { whoIsWho } from "./who.js";

// A person seen for less than this is folded away with the others like them (when there are two
// or more): "12 tracks under 1 s".
const SHORT_MS = 1000;

const say = announcer($("announce"), $("alert"));
// people: the visible people (a person is one track or tracks merged); everyone: hidden ones too.
const state = { labels: [], info: null, intervals: [], people: [], everyone: [], unfolded: false,
  sort: { key: "person", direction: "ascending" }, lanes: null, remember: {} };
const cross = crosshair();
const tip = tooltip(document.querySelector(".plot-wrap"));
const banner = connectionBanner($("connection"), { onRetry: () => start() });
const who = whoIsWho({
  session: () => ({ info: state.info, people: state.people, everyone: state.everyone }),
  reload: async () => { await load(state.info.id); await loadSessions(); },
});

function length(s) {
  if (!s.ended_at) return "running";
  if (s.interrupted) return s.media_ms == null ? "interrupted" : `${seconds(s.media_ms)}, interrupted`;
  return s.media_ms == null ? "–" : seconds(s.media_ms);
}

// A failed call: the network banner when the server cannot be reached, else the message.
function failed(err, where) {
  if (err.status === 0) {
    say.error(banner.down("network"));
    banner.note("Press Retry when it is back; the page also tries when this computer comes back online.");
  } else {
    where.textContent = err.message;
  }
}

// --- sessions and navigation -------------------------------------------------------------------

async function loadSessions() {
  let sessions;
  try { sessions = await api("/sessions"); } catch (err) { failed(err, $("notice")); return []; }
  $("notice").textContent = sessions.length ? "" : "No sessions yet: record one from the Live page.";
  const body = $("sessions");
  body.textContent = "";
  for (const s of sessions) {
    const link = el("a", { href: `/dashboard/sessions/${s.id}`, "data-session-id": s.id }, s.name || `session ${s.id}`);
    link.addEventListener("click", (event) => { event.preventDefault(); open(s.id, true); });
    if (state.info && state.info.id === s.id) link.setAttribute("aria-current", "page");
    const tr = el("tr");
    for (const cell of [String(s.id), link, new Date(s.started_at).toLocaleString(), length(s),
      counts(s.people, s.tracks, s.hidden_tracks), s.consent_given ? "yes" : "no"]) {
      const td = el("td");
      if (cell instanceof Node) td.appendChild(cell); else td.textContent = cell;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  return sessions;
}

function sessionFromUrl() {
  const match = location.pathname.match(/^\/dashboard\/sessions\/(\d+)\/?$/);
  return match ? Number(match[1]) : null;
}

// ``moved``: opened by the person (a link, Back): the detail is scrolled to and focused.
async function open(id, push, moved = push) {
  if (push) history.pushState({ session: id }, "", `/dashboard/sessions/${id}`);
  if (id === null) { closeDetail(); return; }
  who.reset();
  state.remember = {};
  if (await load(id)) {
    say.status(`Session ${id} opened: ${$("glance").textContent}`);
    if (moved) focusOn($("detail-title"));
  }
}

function closeDetail() {
  $("detail").classList.add("hidden");
  state.info = null;
  document.title = "moodlens · dashboard";
  clearCharts();
}

// Fetch a session and draw everything about it; false when it cannot be read.
async function load(id) {
  let info, timeline, everyone;
  try {
    [info, timeline, everyone] = await Promise.all([api(`/sessions/${id}`), api(`/sessions/${id}/timeline`),
      api(`/sessions/${id}/people?include_hidden=true`)]);
  } catch (err) {
    closeDetail();
    // The page's own words for a missing session; nothing of the server's machine is shown.
    if (err.status === 404) $("notice").textContent = `There is no session ${id}: it may have been deleted. The sessions recorded are listed below.`;
    else failed(err, $("notice"));
    return false;
  }
  $("notice").textContent = "";
  Object.assign(state, { info, intervals: timeline, people: info.people || [], everyone });
  for (const link of document.querySelectorAll("#sessions a")) {
    if (Number(link.dataset.sessionId) === id) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
  }
  $("detail").classList.remove("hidden");
  $("detail-title").textContent = `Session ${id}${info.name ? " · " + info.name : ""}`;
  document.title = `moodlens · session ${id}`;
  $("export-csv").href = `/api/v1/sessions/${id}/export?format=csv`;
  $("export-json").href = `/api/v1/sessions/${id}/export?format=json`;
  const dist = info.distribution;
  $("glance").textContent = glance(info.media_ms, state.people.length, dist && dist.dominant_shares);
  const line = counts(state.people.length, info.tracks, info.hidden_tracks);
  $("detail-summary").textContent = dist
    ? `${line} · recording ${length(info)} · valence index ${signed(dist.valence)} · source: ${info.source || "–"}`
    : info.tracks ? `${line} · every track is hidden.` : "Nothing recorded in this session.";
  drawDetail();
  who.draw();
  return true;
}

function sessionEnd() {
  return Math.max(1000, ...state.intervals.map((i) => i.end_ms + 100), state.info.media_ms || 0);
}

// People seen under SHORT_MS, folded when there are two or more of them (and others to show).
function shortPeople() {
  const short = state.people.filter((p) => onScreen(p) < SHORT_MS);
  return short.length >= 2 && short.length < state.people.length ? short : [];
}

function shown() {
  const short = new Set(shortPeople());
  return state.unfolded ? state.people : state.people.filter((p) => !short.has(p));
}

function drawDetail() {
  const short = shortPeople();
  const tracks = short.reduce((n, p) => n + p.track_ids.length, 0);
  $("fold-row").classList.toggle("hidden", !short.length);
  $("fold").setAttribute("aria-expanded", String(state.unfolded));
  $("fold").textContent = state.unfolded ? `Fold the ${plural(tracks, "track", "tracks")} under 1 s` : `Show ${plural(tracks, "track", "tracks")} under 1 s (folded)`;
  drawLaneChart();
  drawPeople();
  $("distribution").textContent = "";
  if (state.info.distribution) $("distribution").appendChild(shareBar(state.labels, state.info.distribution.dominant_shares, "the whole session"));
  requestAnimationFrame(() => nameParts($("distribution")));
  // The person seen longest first: the likeliest one to look at; the choice kept across redraws.
  const byTime = [...state.people].sort((a, b) => onScreen(b) - onScreen(a));
  fill($("person"), byTime.map((p) => [p.number, `${p.label} · ${tracksText(p)} (${seconds(onScreen(p))} on screen)`]), $("person").value);
  drawPerson();
}

function drawPeople() {
  drawPeopleTable($("people"), state.labels, shown(), state.sort, (sort) => {
    state.sort = sort;
    drawPeople();
    const column = $("people").querySelector(`[data-sort="${sort.key}"]`);
    say.status(`People sorted by ${column ? column.firstChild.textContent : sort.key}, ${sort.direction}.`);
  });
}

function drawLaneChart() {
  if (state.lanes) state.lanes.destroy();
  const people = shown();
  state.lanes = drawLanes($("lanes"), {
    people, intervals: state.intervals, end: sessionEnd(), cross, tip, remember: state.remember,
    onChoose: (person) => {
      $("person").value = String(person.number);
      drawPerson();
      say.status(`Curves below: ${person.label}.`);
    },
  });
  const rows = [];
  for (const person of people) {
    for (const i of state.intervals.filter((r) => r.person === person.number)) {
      const p = i.probabilities[i.dominant];
      rows.push([person.label, `#${i.track_id}`, (i.start_ms / 1000).toFixed(1), (blockEnd(i) / 1000).toFixed(1), i.dominant, `${Math.round(100 * p)}%`]);
    }
  }
  table($("lanes-table"), ["person", "track", "from (s)", "to (s)", "apparent expression", "probability"], rows);
}

function drawPerson() {
  const number = Number($("person").value);
  const person = state.people.find((p) => p.number === number);
  drawCurves({ curvesBox: $("curves"), valenceBox: $("valence"), tableNode: $("curves-table"), zoomNode: $("curves-zoom"), rangeNode: $("curves-range") }, state.labels, person,
    state.intervals.filter((i) => i.person === number), sessionEnd(), cross);
}

function savePng() {
  const canvas = $("curves").querySelector("canvas");
  if (!canvas) return;
  const link = el("a", { href: canvas.toDataURL("image/png"), download: `moodlens-session-${state.info.id}-person-${$("person").value}.png` });
  document.body.appendChild(link);
  link.click();
  link.remove();
}

function loadTrends() {
  return drawTrends({ valenceBox: $("trends"), sharesBox: $("trends-shares"), tableNode: $("trends-table") }, state.labels, $("period").value);
}

function legend() {
  $("legend").replaceChildren(...state.labels.map((l) => {
    const item = el("li");
    item.append(paint(el("span", { class: "swatch", "aria-hidden": "true" }), l.label), l.label);
    return item;
  }));
}

// --- wiring ----------------------------------------------------------------------------------------

$("person").addEventListener("change", drawPerson);
$("period").addEventListener("change", loadTrends);
$("save-curves").addEventListener("click", savePng);
$("fold").addEventListener("click", () => {
  state.unfolded = !state.unfolded;
  drawDetail();
  say.status(state.unfolded ? "Short tracks shown." : "Short tracks folded.");
});
$("delete-session").addEventListener("click", async () => {
  const session = state.info;
  if (!session || !confirm(`Delete session ${session.id} and everything recorded in it?`)) return;
  try { await api(`/sessions/${session.id}`, { method: "DELETE" }); } catch (err) { failed(err, $("people-status")); return; }
  history.pushState({ session: null }, "", "/dashboard");
  closeDetail();
  await loadSessions();
  await loadTrends();
  say.status(`Session ${session.id} deleted`);
  const first = document.querySelector("#sessions a");
  if (first) first.focus(); else focusOn($("sessions-title"));
});
window.addEventListener("popstate", () => open(sessionFromUrl(), false, true));
let resizeTimer = null;
let lastWidth = innerWidth;
window.addEventListener("resize", () => {
  if (innerWidth === lastWidth) return;  // a phone's toolbar hiding changes the height only
  lastWidth = innerWidth;
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (state.info) drawDetail(); loadTrends(); }, 200);
});
addEventListener("offline", () => say.error(banner.down("network")));
addEventListener("online", () => start());

async function start() {
  try {
    state.labels = await api("/labels");
  } catch (err) {
    failed(err, $("notice"));
    return;
  }
  if (banner.shown) { banner.hide(); say.clearError(); say.status("The server answers again."); }
  legend();
  await loadSessions();
  await loadTrends();
  const id = sessionFromUrl();
  // A session's own address (a link from the live page, a bookmark): that session, focused.
  if (id !== null && (!state.info || state.info.id !== id)) await open(id, false, true);
}

start();
