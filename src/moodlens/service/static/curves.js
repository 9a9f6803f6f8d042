// One person's curves over the session (uPlot, vendored): the smoothed probability of each
// expression (each line its colour and its own dash), and the valence index below, on the lanes'
// time axis; the cursor is the crosshair the lanes share.

import { table } from "./dom.js";
import { percent } from "./format.js";
import { DASH, colourOf } from "./palette.js";
import { blockEnd } from "./lanes.js";

const AXIS_FONT = "12px system-ui, sans-serif";
const charts = [];

export function chartWidth(box) { return Math.max(260, Math.min(1100, box.clientWidth || 600)); }

export function clearCharts() { while (charts.length) charts.pop().destroy(); }

function plot(box, options, data, cross) {
  box.textContent = "";
  let chart = null;
  const follow = (ms) => {
    if (!chart) return;
    if (ms == null) chart.setCursor({ left: -10, top: -10 });
    else chart.setCursor({ left: chart.valToPos(ms / 1000, "x"), top: chart.bbox.height / devicePixelRatio / 2 });
  };
  chart = new uPlot({
    width: chartWidth(box), height: 260, ...options,
    cursor: { sync: { key: "session" } },
    hooks: { setCursor: [(u) => cross.set(u.cursor.left == null || u.cursor.left < 0 ? null : 1000 * u.posToVal(u.cursor.left, "x"), follow)] },
  }, data, box);
  const unsubscribe = cross.subscribe(follow);
  charts.push({ destroy: () => { unsubscribe(); chart.destroy(); } });
  keyboardLegend(chart, box);
  return chart;
}

// uPlot's legend entries hide or show a line on a click only: each becomes a toggle button a
// keyboard reaches (Tab) and presses (Enter or Space), whose pressed state says the line is shown.
function keyboardLegend(chart, box) {
  const rows = [...box.querySelectorAll(".u-legend tr.u-series")];
  rows.forEach((row, i) => {
    if (i === 0 || !chart.series[i]) return;  // the first entry is the time axis
    const sync = () => row.setAttribute("aria-pressed", String(Boolean(chart.series[i].show)));
    row.tabIndex = 0;
    row.setAttribute("role", "button");  // named by what it shows: the expression and its value
    sync();
    row.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      chart.setSeries(i, { show: !chart.series[i].show });
      sync();
    });
    row.addEventListener("click", () => setTimeout(sync));
  });
}

// The time window both charts show, for a keyboard as for a mouse: a drag zooms one chart, a
// double-click or "Whole session" shows all of it again, "Zoom in" and "Zoom out" halve or double
// the window around its middle; the other chart follows, and ``rangeNode`` says what is shown.
function zoomable(charts, whole, { zoomNode, rangeNode }) {
  let syncing = false;
  const view = () => { const s = charts[0].scales.x; return [s.min, s.max]; };
  const say = () => {
    // uPlot sets its scales after the task that built it: until then there is nothing to say.
    if (charts.some((c) => c.scales.x.min == null || c.scales.x.max == null)) return;
    // Each chart's box carries the window it shows ("from-to", seconds) for scripts and tests.
    for (const chart of charts) chart.root.parentNode.dataset.window = `${chart.scales.x.min.toFixed(2)}-${chart.scales.x.max.toFixed(2)}`;
    if (!rangeNode) return;
    const [lo, hi] = view();
    rangeNode.textContent = lo <= whole[0] && hi >= whole[1]
      ? `Showing the whole session (${whole[1].toFixed(1)} s).`
      : `Showing ${lo.toFixed(1)} s to ${hi.toFixed(1)} s of ${whole[1].toFixed(1)} s.`;
  };
  for (const chart of charts) {
    chart.hooks.setScale = [...(chart.hooks.setScale || []), (u, key) => {
      if (key !== "x" || syncing || u.scales.x.min == null) return;
      syncing = true;
      try { for (const other of charts) if (other !== u) other.setScale("x", { min: u.scales.x.min, max: u.scales.x.max }); }
      finally { syncing = false; }
      say();
    }];
  }
  const show = (lo, hi) => {
    const span = Math.min(whole[1] - whole[0], Math.max(hi - lo, 0.5));
    lo = Math.min(Math.max(whole[0], lo), whole[1] - span);
    charts[0].setScale("x", { min: lo, max: lo + span });
  };
  if (zoomNode) {
    zoomNode.onclick = (event) => {
      const how = event.target.closest("button")?.dataset.zoom;
      const [lo, hi] = view(), mid = (lo + hi) / 2, half = (hi - lo) / 2;
      if (how === "in") show(mid - half / 2, mid + half / 2);
      else if (how === "out") show(mid - half * 2, mid + half * 2);
      else if (how === "whole") show(whole[0], whole[1]);
    };
  }
  say();
}

// The time axis of one person's charts: ``whole`` is the session in seconds; ``range`` is uPlot's
// range function. A window asked for (a drag, the zoom buttons) is kept, within the session; uPlot
// asks for exactly the first and last points when it auto-ranges (a first draw, a double-click),
// and that is the whole session, not only the stretch this person was seen in.
export function timeWindow(xs, end) {
  const whole = [0, Math.max(end / 1000, xs.length ? xs[xs.length - 1] : 0, 0.5)];
  const auto = (min, max) => min == null || max == null || !(max > min) || (min === xs[0] && max === xs[xs.length - 1]);
  const range = (u, min, max) => (auto(min, max) ? whole : [Math.max(whole[0], min), Math.min(whole[1], max)]);
  return { whole, range };
}

// ``person``: who; ``rows``: their intervals; ``end``: the session's length (ms); ``zoom``: the
// zoom buttons' container and the line that says what is shown (both optional).
export function drawCurves({ curvesBox, valenceBox, tableNode, zoomNode, rangeNode }, labels, person, rows, end, cross) {
  clearCharts();
  const who = person ? person.label : "Nobody";
  rows = [...rows].sort((a, b) => a.start_ms - b.start_ms);
  // Each interval's mean holds from its first to its last frame (a step), and a gap of more than a
  // second between intervals (the person off screen) breaks the line.
  const xs = [], picks = [];
  rows.forEach((i, k) => {
    if (k > 0 && i.start_ms - rows[k - 1].end_ms > 1000) { xs.push((rows[k - 1].end_ms + i.start_ms) / 2000); picks.push(null); }
    xs.push(i.start_ms / 1000, blockEnd(i) / 1000);
    picks.push(i, i);
  });
  const values = (get) => picks.map((i) => (i === null ? null : get(i)));
  const { whole, range } = timeWindow(xs, end);
  const x = { time: false, range };
  const series = [{ label: "time (s)", value: (u, v) => (v == null ? "–" : `${v.toFixed(1)} s`) }];
  for (const l of labels) {
    series.push({ label: l.label, stroke: colourOf(l.label), width: 2, dash: DASH[l.label], value: (u, v) => (v == null ? "–" : percent(v)) });
  }
  const curves = plot(curvesBox, {
    title: `${who}: smoothed probabilities`,
    scales: { x, y: { range: [0, 1] } },
    axes: [
      { label: "media time (s)", font: AXIS_FONT, labelFont: AXIS_FONT },
      { label: "probability", font: AXIS_FONT, labelFont: AXIS_FONT, values: (u, ticks) => ticks.map((v) => percent(v)) },
    ],
    series,
  }, [xs, ...labels.map((l) => values((i) => i.probabilities[l.label]))], cross);
  const valence = plot(valenceBox, {
    scales: { x, y: { range: [-1, 1] } },
    axes: [{ label: "media time (s)", font: AXIS_FONT, labelFont: AXIS_FONT },
      { label: "valence index", font: AXIS_FONT, labelFont: AXIS_FONT }],
    series: [{ label: "time (s)" }, { label: `${who} valence`, stroke: "#1d2330", width: 2, value: (u, v) => (v == null ? "–" : v.toFixed(2)) }],
  }, [xs, values((i) => i.valence)], cross);
  zoomable([curves, valence], whole, { zoomNode, rangeNode });
  table(tableNode, ["from (s)", "to (s)", ...labels.map((l) => l.label), "valence"],
    rows.map((i) => [(i.start_ms / 1000).toFixed(1), (blockEnd(i) / 1000).toFixed(1),
      ...labels.map((l) => percent(i.probabilities[l.label])), i.valence.toFixed(2)]));
}
