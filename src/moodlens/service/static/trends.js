// Trends per day or week: the valence index on its own axis (−1 … +1), and the share of time of
// each expression in a chart of its own (0 … 100%), each line its colour and its dash.

import { api } from "./api.js";
import { table } from "./dom.js";
import { percent, seconds } from "./format.js";
import { DASH, colourOf } from "./palette.js";
import { chartWidth } from "./curves.js";

const AXIS_FONT = "12px system-ui, sans-serif";
let drawn = [];

const day = (t) => new Date(t * 1000).toISOString().slice(0, 10);

export async function drawTrends({ valenceBox, sharesBox, tableNode }, labels, period) {
  const buckets = await api(`/distribution?period=${period}`).catch(() => []);
  for (const chart of drawn) chart.destroy();
  drawn = [];
  valenceBox.textContent = "";
  sharesBox.textContent = "";
  if (!buckets.length) { valenceBox.textContent = "Nothing recorded yet."; table(tableNode, [], []); return; }
  const xs = buckets.map((b) => Date.parse(`${b.key}T00:00:00Z`) / 1000);
  // One bucket alone: a range of a day around it, so the axis reads as one date, not a repeat of it.
  const pad = period === "week" ? 4 * 86400 : 86400;
  const xAxis = { label: period === "week" ? "week starting (UTC)" : "day (UTC)", font: AXIS_FONT, labelFont: AXIS_FONT,
    values: (u, ticks) => ticks.map(day), space: 90, incrs: [86400, 7 * 86400, 28 * 86400, 91 * 86400, 365 * 86400] };
  const scales = (y) => ({ x: { time: true, range: () => [Math.min(...xs) - pad, Math.max(...xs) + pad] }, y: { range: y } });
  const first = { label: period, value: (u, v) => (v == null ? "–" : day(v)) };
  const options = { width: chartWidth(valenceBox), height: 220, padding: [12, 44, null, null], cursor: { sync: { key: "trends" } } };
  drawn.push(new uPlot({
    ...options, title: "Valence index",
    scales: scales([-1, 1]),
    axes: [xAxis, { label: "valence index", font: AXIS_FONT, labelFont: AXIS_FONT }],
    series: [first, { label: "valence index", stroke: "#1d2330", width: 2, points: { show: true, size: 7 }, value: (u, v) => (v == null ? "–" : v.toFixed(2)) }],
  }, [xs, buckets.map((b) => b.valence)], valenceBox));
  drawn.push(new uPlot({
    ...options, title: "Share of time per expression",
    scales: scales([0, 1]),
    axes: [xAxis, { label: "share of time", font: AXIS_FONT, labelFont: AXIS_FONT, values: (u, ticks) => ticks.map((v) => percent(v)) }],
    series: [first, ...labels.map((l) => ({ label: l.label, stroke: colourOf(l.label), width: 2, dash: DASH[l.label],
      points: { show: true, size: 5 }, value: (u, v) => (v == null ? "–" : percent(v)) }))],
  }, [xs, ...labels.map((l) => buckets.map((b) => b.dominant_shares[l.label] || 0))], sharesBox));
  table(tableNode, [period, "time of faces", "valence index", ...labels.map((l) => l.label)],
    buckets.map((b) => [b.key, seconds(b.duration_ms || 0), b.valence.toFixed(2), ...labels.map((l) => percent(b.dominant_shares[l.label] || 0))]));
}
