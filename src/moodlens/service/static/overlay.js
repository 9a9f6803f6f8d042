// The overlay on the analysed picture: each face's box, a chip with its id, label and probability,
// and (room permitting, on wide screens) a panel of its seven probabilities. Sizes are in CSS
// pixels of the picture as displayed: the canvas holds the frame's pixels, so a 640 px frame shown
// 360 px wide on a phone gets its text drawn 1.8 times larger in frame pixels.

import { placePanels } from "./layout.js";
import { colourOf, inkOn, UNCERTAIN } from "./palette.js";

export const CHIP_PX = 14;      // chip text, CSS px
export const PANEL_PX = 12;     // panel text, CSS px
export const PANELS_FROM = 480; // displayed width (CSS px) below which panels are dropped

export function faceLabel(face) { return face.shown_label || face.stable_label || face.label; }
export function faceProbs(face) { return face.smoothed_probabilities || face.probabilities; }

// Frame pixels per CSS pixel of the canvas as displayed.
export function frameScale(canvas, frameWidth) {
  const shown = canvas.getBoundingClientRect().width || frameWidth;
  return frameWidth / shown;
}

export function drawOverlay(canvas, picture, result, faces, labels, { panels = true } = {}) {
  if (canvas.width !== result.width || canvas.height !== result.height) {
    canvas.width = result.width;
    canvas.height = result.height;
  }
  const ctx = canvas.getContext("2d");
  ctx.drawImage(picture, 0, 0, result.width, result.height);
  const k = frameScale(canvas, result.width);
  const shownWidth = result.width / k;
  const chipFont = `bold ${Math.round(CHIP_PX * k)}px system-ui, sans-serif`;
  const panelFont = `${Math.round(PANEL_PX * k)}px system-ui, sans-serif`;
  const row = Math.round(PANEL_PX * 1.35 * k);
  ctx.font = panelFont;
  const labelColumn = ctx.measureText("surprise").width + 8 * k;
  const bar = 56 * k;
  const panel = [labelColumn + bar + 6 * k, row * labels.length + 6 * k];
  ctx.font = chipFont;
  const tag = [ctx.measureText("#00 surprise 100%").width + 8 * k, Math.round(CHIP_PX * 1.45 * k)];
  const withPanels = panels && shownWidth >= PANELS_FROM;
  const places = withPanels ? placePanels(faces.map((f) => f.box), panel, [result.width, result.height], tag) : faces.map(() => null);
  const drawn = [];
  faces.forEach((face, index) => {
    const [x1, y1, x2, y2] = face.box;
    const label = faceLabel(face);
    const probs = faceProbs(face);
    const shown = face.stable_label || face.label;
    const colour = face.uncertain ? UNCERTAIN : colourOf(shown);
    // The box: solid in the expression's colour, dashed when uncertain (not told by colour alone).
    ctx.lineWidth = Math.max(2, 2.5 * k);
    ctx.setLineDash(face.uncertain ? [6 * k, 4 * k] : []);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    ctx.setLineDash([]);
    const id = face.track_id == null ? "" : `#${face.track_id} `;
    const text = `${id}${label} ${Math.round(100 * (probs[shown] || 0))}%`;
    ctx.font = chipFont;
    const tw = ctx.measureText(text).width + 8 * k;
    const top = Math.max(0, y1 - tag[1]);
    const left = Math.max(0, Math.min(x1, result.width - tw));  // the whole chip inside the picture
    ctx.fillStyle = colour;
    ctx.fillRect(left, top, tw, tag[1]);
    ctx.fillStyle = inkOn(colour);
    ctx.textBaseline = "middle";
    ctx.fillText(text, left + 4 * k, top + tag[1] / 2);
    drawn.push({ track_id: face.track_id, box: face.box, label });
    const place = places[index];
    if (!place) return;  // no room beside this face, or a narrow screen: the chip alone
    ctx.fillStyle = "rgba(255,255,255,0.93)";
    ctx.fillRect(place.x, place.y, place.w, place.h);
    ctx.font = panelFont;
    labels.forEach((item, i) => {
      const y = place.y + 3 * k + i * row;
      ctx.fillStyle = "#1d2330";
      ctx.fillText(item.label, place.x + 4 * k, y + row / 2);
      ctx.fillStyle = colourOf(item.label);
      ctx.fillRect(place.x + labelColumn, y + 2 * k, bar * (probs[item.label] || 0), row - 4 * k);
    });
  });
  ctx.textBaseline = "alphabetic";
  return { faces: drawn, panels: places.filter(Boolean).length, scale: k };
}
