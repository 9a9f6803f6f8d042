// A bar of the share of time per expression: each part painted (colour and pattern), named in it
// where its name fits whole (never cut to "surpris"), and the whole bar named for screen readers.

import { el } from "./dom.js";
import { percent } from "./format.js";
import { paint } from "./patterns.js";
import { SHORT } from "./palette.js";

export function shareBar(labels, shares, who) {
  const bar = el("div", { class: "share-bar", role: "img",
    "aria-label": `${who}: ` + labels.map((l) => `${l.label} ${percent(shares[l.label] || 0)}`).join(", ") });
  for (const l of labels) {
    const share = shares[l.label] || 0;
    if (share <= 0) continue;
    const part = paint(el("span", { title: `${l.label} ${percent(share)}`, "data-label": l.label }), l.label);
    part.style.width = `${100 * share}%`;
    part.dataset.texts = JSON.stringify([`${l.label} ${percent(share)}`, l.label, SHORT[l.label]]);
    bar.appendChild(part);
  }
  return bar;
}

// Once in the page: each part says the longest of its texts that fits, on a plate of its colour.
export function nameParts(root) {
  for (const part of root.querySelectorAll(".share-bar span[data-texts]")) {
    part.textContent = "";
    const room = part.clientWidth - 4;
    if (room <= 0) continue;
    const plate = el("b", { class: "plate" });
    part.appendChild(plate);
    const fits = JSON.parse(part.dataset.texts).find((text) => {
      plate.textContent = text;
      return plate.offsetWidth <= room;
    });
    if (!fits) plate.remove();
  }
}
