// Everyone over a session: one lane per person on one time axis (SVG), a block per interval. A
// block's colour and pattern say the expression, its height the confidence (full height: 100%),
// and the expression's name (or its short form) is written where the block has room for it.
// The lanes are one tab stop: a grid whose blocks take focus in turn (roving tabindex), moved
// with the arrow keys; hovering or focusing a block shows its values and the shared crosshair.

import { svg } from "./dom.js";
import { percent, seconds, tracksText } from "./format.js";
import { SHORT, colourOf, inkOn } from "./palette.js";
import { patternDefs, patternId } from "./patterns.js";

const LANE = 40, TOP = 6, BOTTOM = 34, INNER = LANE - 8;
const FONT = "11px system-ui, sans-serif";
let measurer = null;

function textWidth(text) {
  measurer = measurer || document.createElement("canvas").getContext("2d");
  measurer.font = FONT;
  return measurer.measureText(text).width;
}

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
}

export function blockEnd(i) { return i.end_ms + 33; }

// What a block says, in words (its accessible name and its tooltip).
export function blockWords(person, i) {
  const p = i.probabilities[i.dominant];
  return [`${person.label} (#${i.track_id})`, `${(i.start_ms / 1000).toFixed(1)}–${(blockEnd(i) / 1000).toFixed(1)} s`,
    `apparent ${i.dominant} ${percent(p)}`];
}

// Draws the lanes of ``people`` into ``box``. ``cross``: the shared crosshair; ``tip``: a tooltip;
// ``onChoose(person)``: Enter on a block; ``remember``: the block focused last ({person, start}).
export function drawLanes(box, { people, intervals, end, cross, tip, onChoose, remember }) {
  box.textContent = "";
  if (!people.length) {
    box.textContent = "No one to show: nothing was recorded, or every track is hidden.";
    return { destroy() {} };
  }
  const width = Math.max(280, box.clientWidth || 600);
  const left = Math.round(Math.min(160, Math.max(72, width * 0.2)));
  const fit = (text, px) => { const room = Math.max(4, Math.floor((left - 8) / px)); return text.length > room ? `${text.slice(0, room - 1)}…` : text; };
  const height = TOP + people.length * LANE + BOTTOM;
  const x = (ms) => left + (ms / end) * (width - left - 8);
  const ms = (px) => ((px - left) / (width - left - 8)) * end;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "grid", "aria-rowcount": people.length,
    "aria-label": `${people.length} ${people.length === 1 ? "person" : "people"} over ${seconds(end)}: arrow keys move between blocks, Enter shows a person's curves` });
  chart.appendChild(patternDefs());
  const axis = svg("g", { "aria-hidden": "true", class: "axis" });
  const step = niceStep(end / 1000, width / 90) * 1000;
  for (let t = 0; t <= end; t += step) {
    axis.appendChild(svg("line", { x1: x(t), x2: x(t), y1: TOP, y2: height - BOTTOM, stroke: "#d0d4da" }));
    axis.appendChild(svg("text", { x: x(t), y: height - BOTTOM + 14, "text-anchor": "middle", "font-size": 11, fill: "#333" }, `${Number((t / 1000).toFixed(2))}`));
  }
  axis.appendChild(svg("text", { x: left + (width - left) / 2, y: height - 4, "text-anchor": "middle", "font-size": 12, fill: "#222" },
    width < 500 ? "media time (s)" : "media time (s) from the start of the recording"));
  chart.appendChild(axis);

  const grid = [];  // per lane: its blocks in time order ({node, person, interval, mid})
  people.forEach((person, k) => {
    const y0 = TOP + k * LANE;
    const row = svg("g", { role: "row", "aria-rowindex": k + 1, class: "lane" });
    const label = svg("g", { role: "rowheader", class: "lane-label", "aria-label": `${person.label}, tracks ${tracksText(person)}` });
    label.append(
      svg("text", { x: 4, y: y0 + 15, "font-size": 12, fill: "#1d2330", class: "lane-name", "data-person": person.number }, fit(person.label, 7)),
      svg("text", { x: 4, y: y0 + 29, "font-size": 10, fill: "#4f5868", class: "lane-tracks" }, fit(tracksText(person), 6)),
    );
    row.appendChild(label);
    const blocks = [];
    const mine = intervals.filter((r) => r.person === person.number).sort((a, b) => a.start_ms - b.start_ms);
    for (const i of mine) {
      const p = i.probabilities[i.dominant];
      const bx = x(i.start_ms), bw = Math.max(2, x(blockEnd(i)) - bx);
      const bh = Math.max(4, Math.round(INNER * p));
      const by = y0 + 4 + INNER - bh;
      const words = blockWords(person, i);
      const node = svg("g", { role: "gridcell", class: "block", tabindex: -1, "aria-label": words.join(", "), "data-expression": i.dominant });
      node.appendChild(svg("rect", { class: "box", x: bx, y: by, width: bw > 3 ? bw - 1 : bw, height: bh, fill: `url(#${patternId(i.dominant)})` }));
      row.appendChild(node);
      blocks.push({ node, person, interval: i, mid: (i.start_ms + blockEnd(i)) / 2, x: bx, w: bw, y: by, h: bh, words });
    }
    names(row, blocks, y0);
    chart.appendChild(row);
    grid.push(blocks);
  });
  const line = svg("line", { class: "crosshair hidden", y1: TOP, y2: height - BOTTOM, "aria-hidden": "true" });
  chart.appendChild(line);
  box.appendChild(chart);

  // The crosshair at a moment (null hides it).
  function mark(at) {
    if (at == null || at < 0 || at > end) { line.classList.add("hidden"); return; }
    line.setAttribute("x1", x(at));
    line.setAttribute("x2", x(at));
    line.classList.remove("hidden");
  }
  const unsubscribe = cross.subscribe(mark);

  // Roving tabindex: one block takes Tab; the arrows move it.
  let active = null;
  const all = grid.flat();
  const find = (want) => want && all.find((b) => b.person.number === want.person && b.interval.start_ms === want.start);
  activate(find(remember && remember.current) || all[0], false);

  function activate(block, focus) {
    if (!block) return;
    if (active) active.node.setAttribute("tabindex", -1);
    active = block;
    block.node.setAttribute("tabindex", 0);
    if (remember) remember.current = { person: block.person.number, start: block.interval.start_ms };
    if (focus) block.node.focus();
  }

  function laneOf(block) { return grid.findIndex((blocks) => blocks.includes(block)); }

  function nearest(blocks, at) {
    return blocks.reduce((best, b) => (Math.abs(b.mid - at) < Math.abs(best.mid - at) ? b : best), blocks[0]);
  }

  chart.addEventListener("keydown", (event) => {
    if (!active) return;
    const lane = laneOf(active);
    const blocks = grid[lane];
    const index = blocks.indexOf(active);
    let next = null;
    const toLane = (dir) => {
      for (let k = lane + dir; k >= 0 && k < grid.length; k += dir) if (grid[k].length) return nearest(grid[k], active.mid);
      return null;
    };
    const filled = grid.filter((b) => b.length);
    switch (event.key) {
      case "ArrowRight": next = blocks[index + 1]; break;
      case "ArrowLeft": next = blocks[index - 1]; break;
      case "ArrowDown": next = toLane(1); break;
      case "ArrowUp": next = toLane(-1); break;
      case "Home": next = event.ctrlKey ? filled[0][0] : blocks[0]; break;
      case "End": next = event.ctrlKey ? filled[filled.length - 1].at(-1) : blocks[blocks.length - 1]; break;
      case "PageDown": next = blocks[Math.min(blocks.length - 1, index + 10)]; break;
      case "PageUp": next = blocks[Math.max(0, index - 10)]; break;
      case "Enter": case " ": event.preventDefault(); onChoose(active.person); return;
      case "Escape": tip.hide(); return;
      default: return;
    }
    event.preventDefault();
    if (next) activate(next, true);
  });

  chart.addEventListener("focusin", (event) => {
    const block = all.find((b) => b.node === event.target);
    if (!block) return;
    if (block !== active) activate(block, false);
    tip.show(block.words, block.x + block.w / 2, block.y);
    mark(block.mid);
    cross.set(block.mid, mark);
  });
  chart.addEventListener("focusout", () => { tip.hide(); mark(null); cross.set(null, mark); });

  // The pointer: the crosshair follows it over the time axis; a block under it shows its values.
  chart.addEventListener("pointermove", (event) => {
    const rect = chart.getBoundingClientRect();
    const px = event.clientX - rect.left, py = event.clientY - rect.top;
    const at = px >= left ? ms(px) : null;
    mark(at);
    cross.set(at, mark);
    const node = event.target.closest && event.target.closest(".block");
    const block = node && all.find((b) => b.node === node);
    if (block) tip.show(block.words, px, py); else tip.hide();
  });
  chart.addEventListener("pointerleave", () => { tip.hide(); mark(null); cross.set(null, mark); });
  chart.addEventListener("click", (event) => {
    const node = event.target.closest && event.target.closest(".block");
    const block = node && all.find((b) => b.node === node);
    if (block) activate(block, true);
  });

  return { destroy: unsubscribe };
}

// The expression's name (or short form) over each run of one expression wide enough to hold it:
// inside the run on a plate of its colour when the blocks are tall enough, above them otherwise.
function names(row, blocks, y0) {
  let k = 0;
  while (k < blocks.length) {
    let j = k;
    const label = blocks[k].interval.dominant;
    while (j + 1 < blocks.length && blocks[j + 1].interval.dominant === label && blocks[j + 1].x - (blocks[j].x + blocks[j].w) < 2) j += 1;
    const run = blocks.slice(k, j + 1);
    k = j + 1;
    const x0 = run[0].x, w = run.at(-1).x + run.at(-1).w - x0;
    const low = Math.min(...run.map((b) => b.h));
    const text = [label, SHORT[label]].find((t) => textWidth(t) + 8 <= w);
    if (!text) continue;
    const tw = textWidth(text) + 6;
    const group = svg("g", { class: "block-name", "aria-hidden": "true" });
    const high = Math.max(...run.map((b) => b.h));
    if (low < 15 && INNER - high >= 13) {  // short blocks: the name above them, on the white
      group.append(svg("text", { x: x0 + 2, y: y0 + 4 + INNER - high - 3, "font-size": 11, fill: "#1d2330" }, text));
    } else {  // on a plate of the expression's colour, in its ink
      const colour = colourOf(label);
      const base = y0 + 4 + INNER;
      group.append(svg("rect", { x: x0 + 1, y: base - 15, width: tw, height: 14, fill: colour, rx: 2 }),
        svg("text", { x: x0 + 4, y: base - 4, "font-size": 11, fill: inkOn(colour) }, text));
    }
    row.appendChild(group);
  }
}
