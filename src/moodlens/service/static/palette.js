// The pages' colours for the seven expressions, and the codes that do not need colour: a pattern
// for blocks and bars, a dash for lines, a short name. One place for all of them.
//
// The palette: hues as people expect them (red angry, green disgust, violet fear, amber happy, blue
// sad, teal surprise, grey neutral); lightness and chroma chosen to keep every pair apart under
// normal vision and simulated protanopia, deuteranopia and tritanopia (Machado et al. 2009,
// severity 1): the smallest CIEDE2000 difference of any pair, in any of the four, is 14 (the
// previous palette: 1.8, surprise and neutral under deuteranopia; Okabe-Ito: 6.2; Paul Tol's
// bright: 8.6). Every colour is at least 3:1 on white (WCAG 1.4.11), and text on it is black or
// white, whichever reaches 4.5:1 (inkOn). tests/test_dashboard_browser.py checks all of it.

export const PALETTE = {
  angry: "#cd2f4b",
  disgust: "#3b5b09",
  fear: "#8f80fa",
  happy: "#cc8216",
  sad: "#1f6da1",
  surprise: "#24a2ab",
  neutral: "#7a7a7a",
};

// An uncertain face: a white chip and a dashed box, apart from every expression.
export const UNCERTAIN = "#ffffff";

// Short names for blocks too narrow for the whole one.
export const SHORT = { angry: "ang", disgust: "dis", fear: "fear", happy: "hap", sad: "sad", surprise: "sur", neutral: "neu" };

// Patterns (drawn in the ink colour over the fill): stripes at four angles, a grid, dots, none.
export const PATTERN = {
  angry: "diagonal", disgust: "grid", fear: "antidiagonal", happy: "dots", sad: "horizontal", surprise: "vertical", neutral: "plain",
};

// Line dashes for the curves (canvas setLineDash), one per expression.
export const DASH = {
  angry: [10, 4], disgust: [2, 3], fear: [10, 3, 2, 3], happy: [], sad: [16, 5], surprise: [5, 5], neutral: [1, 6],
};

export function colourOf(label) { return PALETTE[label] || "#7a7a7a"; }

function channel(v) { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }

export function luminance(hex) {
  const n = parseInt(hex.slice(1), 16);
  return 0.2126 * channel((n >> 16) & 255) + 0.7152 * channel((n >> 8) & 255) + 0.0722 * channel(n & 255);
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// Black or white, whichever contrasts more with ``hex`` (one of them always reaches 4.58:1).
export function inkOn(hex) { return contrast(hex, "#000000") >= contrast(hex, "#ffffff") ? "#000000" : "#ffffff"; }
