// The expression patterns as SVG <pattern>s (lanes, legend swatches): the fill colour with marks
// in its ink colour, so that a block is told apart without its colour.

import { svg } from "./dom.js";
import { PALETTE, PATTERN, inkOn } from "./palette.js";

const SIZE = 6;

function marks(kind, ink) {
  const line = (x1, y1, x2, y2) => svg("line", { x1, y1, x2, y2, stroke: ink, "stroke-width": 1.2, "stroke-opacity": 0.55 });
  switch (kind) {
    case "diagonal": return [line(0, SIZE, SIZE, 0), line(-1, 1, 1, -1), line(SIZE - 1, SIZE + 1, SIZE + 1, SIZE - 1)];
    case "antidiagonal": return [line(0, 0, SIZE, SIZE), line(-1, SIZE - 1, 1, SIZE + 1), line(SIZE - 1, -1, SIZE + 1, 1)];
    case "horizontal": return [line(0, SIZE / 2, SIZE, SIZE / 2)];
    case "vertical": return [line(SIZE / 2, 0, SIZE / 2, SIZE)];
    case "grid": return [line(0, SIZE / 2, SIZE, SIZE / 2), line(SIZE / 2, 0, SIZE / 2, SIZE)];
    case "dots": return [svg("circle", { cx: SIZE / 2, cy: SIZE / 2, r: 1.2, fill: ink, "fill-opacity": 0.6 })];
    default: return [];
  }
}

export function patternId(label) { return `pattern-${label}`; }

// <defs> with one pattern per expression, for an <svg> that uses fill="url(#pattern-happy)".
export function patternDefs() {
  const defs = svg("defs");
  for (const [label, colour] of Object.entries(PALETTE)) {
    const pattern = svg("pattern", { id: patternId(label), width: SIZE, height: SIZE, patternUnits: "userSpaceOnUse" });
    pattern.append(svg("rect", { width: SIZE, height: SIZE, fill: colour }), ...marks(PATTERN[label], inkOn(colour)));
    defs.appendChild(pattern);
  }
  return defs;
}

// An HTML element painted like a block (legend swatches, share bars, face list): the colour, and
// the pattern as CSS gradients (style.css, .pattern-*), in the ink colour of that fill.
export function paint(node, label) {
  const colour = PALETTE[label];
  node.style.backgroundColor = colour;
  node.style.color = inkOn(colour);
  node.classList.add("painted", `pattern-${PATTERN[label]}`, inkOn(colour) === "#000000" ? "ink-black" : "ink-white");
  return node;
}
