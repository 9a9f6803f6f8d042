// Small DOM helpers shared by the pages: find by id, build elements (text, never HTML: names and
// nicknames are anyone's typing), SVG elements, <select> options and plain tables.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

const SVG = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

// A <select>'s options from [value, text] pairs, keeping the choice when it is still there.
export function fill(select, options, keep) {
  select.textContent = "";
  for (const [value, text] of options) select.appendChild(el("option", { value: String(value) }, text));
  if (keep !== undefined && options.some(([value]) => String(value) === String(keep))) select.value = String(keep);
}

function cell(tag, content, attrs = {}) {
  const node = el(tag, attrs);
  if (content instanceof Node) node.appendChild(content); else node.textContent = content;
  return node;
}

// A table's head and body from header texts (or nodes) and rows of texts or nodes.
export function table(target, headers, rows) {
  target.textContent = "";
  const head = el("thead"), line = el("tr");
  for (const h of headers) line.appendChild(cell("th", h, { scope: "col" }));
  head.appendChild(line);
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const content of row) tr.appendChild(cell("td", content));
    body.appendChild(tr);
  }
  target.append(head, body);
  return { head: line, body };
}

// Move focus to an element that is not a control (a heading, a section): it becomes focusable
// by script only, and is scrolled into view.
export function focusOn(node) {
  if (!node) return;
  if (!node.hasAttribute("tabindex")) node.setAttribute("tabindex", "-1");
  node.focus({ preventScroll: true });
  node.scrollIntoView({ block: "start" });
}
