// A small SVG chart renderer: line charts and bar charts, no dependencies.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, parent) {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function frame(svg, pad) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const box = svg.getBoundingClientRect();
  const width = box.width || 600, height = box.height || 240;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  return { width, height, x0: pad.left, y0: pad.top, w: width - pad.left - pad.right, h: height - pad.top - pad.bottom };
}

function axes(svg, f, yMin, yMax, yTicks, xLabel, xMin, xMax, xFormat) {
  const g = svgEl("g", {}, svg);
  for (let i = 0; i <= yTicks; i++) {
    const v = yMin + (yMax - yMin) * (i / yTicks);
    const y = f.y0 + f.h - (f.h * (v - yMin)) / (yMax - yMin);
    svgEl("line", { x1: f.x0, x2: f.x0 + f.w, y1: y, y2: y, stroke: "#e4e7ee" }, g);
    svgEl("text", { x: f.x0 - 6, y: y + 4, "text-anchor": "end" }, g).textContent = v.toFixed(2).replace(/\.00$/, "");
  }
  if (xMax !== undefined) {
    for (let i = 0; i <= 4; i++) {
      const v = xMin + ((xMax - xMin) * i) / 4;
      const x = f.x0 + (f.w * i) / 4;
      const digits = xMax - xMin < 10 ? 1 : 0;
      svgEl("text", { x, y: f.y0 + f.h + 16, "text-anchor": "middle" }, g).textContent = xFormat ? xFormat(v) : v.toFixed(digits);
    }
  }
  if (xLabel) svgEl("text", { x: f.x0 + f.w, y: f.y0 + f.h + 30, "text-anchor": "end" }, g).textContent = xLabel;
}

function lineChart(svg, { series, yMin = 0, yMax = 1, xLabel = "", xFormat = null }) {
  const f = frame(svg, { left: 40, right: 12, top: 10, bottom: 34 });
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  if (!xs.length) {
    svgEl("text", { x: f.width / 2, y: f.height / 2, "text-anchor": "middle" }, svg).textContent = "no data";
    return;
  }
  let xMin = Math.min(...xs), xMax = Math.max(...xs);
  if (xMax === xMin) xMax = xMin + 1;
  axes(svg, f, yMin, yMax, 4, xLabel, xMin, xMax, xFormat);
  const px = (x) => f.x0 + (f.w * (x - xMin)) / (xMax - xMin);
  const py = (y) => f.y0 + f.h - (f.h * (y - yMin)) / (yMax - yMin);
  for (const s of series) {
    if (!s.points.length) continue;
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(" ");
    const path = svgEl("path", { d, fill: "none", stroke: s.colour, "stroke-width": 2 }, svg);
    path.setAttribute("data-series", s.name);
    if (s.points.length < 60) {
      // Few points (a short session): mark them, a single point draws no line.
      for (const p of s.points) svgEl("circle", { cx: px(p[0]), cy: py(p[1]), r: 3, fill: s.colour }, svg);
    }
  }
}

function barChart(svg, { bars, yMax = 1 }) {
  const f = frame(svg, { left: 40, right: 12, top: 10, bottom: 34 });
  if (!bars.length) return;
  axes(svg, f, 0, yMax, 4);
  const slot = f.w / bars.length;
  bars.forEach((b, i) => {
    const h = (f.h * b.value) / yMax;
    const rect = svgEl("rect", { x: f.x0 + i * slot + slot * 0.15, y: f.y0 + f.h - h, width: slot * 0.7, height: h, fill: b.colour }, svg);
    rect.setAttribute("data-bar", b.name);
    svgEl("text", { x: f.x0 + i * slot + slot / 2, y: f.y0 + f.h + 16, "text-anchor": "middle" }, svg).textContent = b.name;
  });
}
