// Each person of a session as a table row, sortable by its column headers (buttons; the sorted
// header carries aria-sort). Short-lived people can be folded into one line ("12 tracks under 1 s").

import { el } from "./dom.js";
import { mostly, seconds, signed, tracksText } from "./format.js";
import { shareBar, nameParts } from "./shares.js";

const COLUMNS = [
  { key: "person", title: "person", value: (p) => p.number },
  { key: "tracks", title: "tracks", value: (p) => p.track_ids.length },
  { key: "time", title: "time on screen", value: (p) => onScreen(p) },
  { key: "shares", title: "share of time per expression", value: null },
  { key: "mostly", title: "mostly", value: (p) => mostly(p) },
  { key: "valence", title: "valence", value: (p) => p.valence },
];

export function onScreen(p) { return p.on_screen_ms ?? p.duration_ms ?? 0; }

export function sortPeople(people, key, direction) {
  const column = COLUMNS.find((c) => c.key === key);
  if (!column || !column.value) return [...people];
  const sign = direction === "descending" ? -1 : 1;
  return [...people].sort((a, b) => {
    const va = column.value(a), vb = column.value(b);
    const order = typeof va === "string" ? va.localeCompare(vb) : (va ?? -Infinity) - (vb ?? -Infinity);
    return sign * order || a.number - b.number;
  });
}

// ``sort``: {key, direction}, kept by the caller across redraws; ``onSort`` redraws.
export function drawPeopleTable(target, labels, people, sort, onSort) {
  target.textContent = "";
  const head = el("thead"), line = el("tr");
  for (const column of COLUMNS) {
    const th = el("th", { scope: "col" });
    if (column.value) {
      const on = sort.key === column.key;
      if (on) th.setAttribute("aria-sort", sort.direction);
      const button = el("button", { type: "button", class: "sort", "data-sort": column.key }, column.title);
      button.append(el("span", { class: "sort-mark", "aria-hidden": "true" }, on ? (sort.direction === "ascending" ? " ▲" : " ▼") : " ⇅"));
      button.addEventListener("click", () => {
        const direction = on && sort.direction === "ascending" ? "descending" : "ascending";
        onSort({ key: column.key, direction });
        const again = target.querySelector(`[data-sort="${column.key}"]`);
        if (again) again.focus();  // the table was drawn again: focus stays on this header
      });
      th.appendChild(button);
    } else {
      th.textContent = column.title;
    }
    line.appendChild(th);
  }
  head.appendChild(line);
  const body = el("tbody");
  for (const p of sortPeople(people, sort.key, sort.direction)) {
    const tr = el("tr");
    const cells = [p.label, tracksText(p), seconds(onScreen(p)), shareBar(labels, p.shares || {}, p.label), mostly(p),
      p.valence == null ? "–" : signed(p.valence)];
    for (const content of cells) {
      const td = el("td");
      if (content instanceof Node) td.appendChild(content); else td.textContent = content;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  target.append(head, body);
  requestAnimationFrame(() => nameParts(target));
}
