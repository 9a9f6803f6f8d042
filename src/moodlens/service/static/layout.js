// Probability-panel placement: the rule of moodlens.render.layout (Python), line for line, so that
// the browser overlay and the CLI's drawings place panels the same way.
// 1. faces, largest first, try: right of the face, left, below, above;
// 2. a place is taken when inside the frame and clear of every face box (with a margin), every
//    face's label (above its box) and every panel placed before;
// 3. no free place: no panel (the face keeps its compact label).

const LAYOUT_GAP = 4;

function rectOverlaps(a, b) {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

export function placePanels(boxes, panel, frame, label) {
  const [pw, ph] = panel;
  const [fw, fh] = frame;
  const obstacles = boxes.map(([x1, y1, x2, y2]) => ({
    x: x1 - LAYOUT_GAP, y: y1 - LAYOUT_GAP, w: x2 - x1 + 2 * LAYOUT_GAP, h: y2 - y1 + 2 * LAYOUT_GAP,
  }));
  if (label && label[0] > 0 && label[1] > 0) {
    for (const [x1, y1] of boxes) obstacles.push({ x: x1, y: y1 - label[1] - 2, w: label[0], h: label[1] + 2 });
  }
  const taken = [];
  const out = boxes.map(() => null);
  const order = boxes.map((_, i) => i).sort((a, b) => area(boxes[b]) - area(boxes[a]));
  for (const i of order) {
    const [x1, y1, x2, y2] = boxes[i];
    const candidates = [
      { x: x2 + LAYOUT_GAP, y: y1, w: pw, h: ph },
      { x: x1 - LAYOUT_GAP - pw, y: y1, w: pw, h: ph },
      { x: x1, y: y2 + LAYOUT_GAP, w: pw, h: ph },
      { x: x1, y: y1 - LAYOUT_GAP - ph, w: pw, h: ph },
    ];
    for (const place of candidates) {
      const inside = place.x >= 0 && place.y >= 0 && place.x + place.w <= fw && place.y + place.h <= fh;
      if (inside && !obstacles.some((r) => rectOverlaps(place, r)) && !taken.some((r) => rectOverlaps(place, r))) {
        out[i] = place;
        taken.push(place);
        break;
      }
    }
  }
  return out;
}

function area([x1, y1, x2, y2]) { return (x2 - x1) * (y2 - y1); }
