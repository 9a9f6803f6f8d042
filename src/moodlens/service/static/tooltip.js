// A tooltip beside a point or an element, inside a positioned container; hidden with Escape or when
// the pointer or focus leaves. It repeats what the element's accessible name already says, so it is
// hidden from screen readers.

export function tooltip(container) {
  const tip = document.createElement("div");
  tip.className = "tooltip hidden";
  tip.setAttribute("aria-hidden", "true");
  container.appendChild(tip);
  const hide = () => tip.classList.add("hidden");
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") hide(); });
  return {
    // ``x``, ``y``: the point to show it beside, in the container's pixels.
    show(lines, x, y) {
      tip.replaceChildren(...lines.map((line, i) => {
        const row = document.createElement(i ? "span" : "strong");
        row.textContent = line;
        return row;
      }));
      tip.classList.remove("hidden");
      const room = container.clientWidth;
      const w = tip.offsetWidth, h = tip.offsetHeight;
      const left = Math.max(0, Math.min(room - w, x + 12 + w > room ? x - w - 12 : x + 12));
      const top = Math.max(0, y - h - 10);
      tip.style.left = `${left}px`;
      tip.style.top = `${top}px`;
    },
    hide,
  };
}
