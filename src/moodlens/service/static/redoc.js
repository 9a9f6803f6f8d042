// Renders the API reference (/redoc) from /openapi.json with the vendored ReDoc, in colours that
// pass WCAG AA contrast (ReDoc's defaults do not everywhere), and with the system's fonts (ReDoc's
// own page would load them from Google).
"use strict";
Redoc.init(
  "/openapi.json",
  {
    expandResponses: "200,201",
    hideDownloadButton: false,
    theme: {
      colors: {
        primary: { main: "#1f5fc7" },
        success: { main: "#1b6e45" },
        warning: { main: "#8a4b00" },
        error: { main: "#b3261e" },
        text: { primary: "#1c1f24", secondary: "#4a5160" },
        http: {
          get: "#1565c0",
          post: "#1b6e45",
          put: "#8a4b00",
          delete: "#b3261e",
          options: "#4a5160",
          patch: "#0f6b64",
          basic: "#4a5160",
          link: "#1f5fc7",
          head: "#4a5160",
        },
      },
      typography: {
        fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        headings: { fontFamily: "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" },
        code: { fontFamily: "ui-monospace, 'DejaVu Sans Mono', monospace", color: "#8a2b1f" },
        links: { color: "#1f5fc7" },
      },
      sidebar: { textColor: "#1c1f24", backgroundColor: "#f4f5f7" },
      rightPanel: { backgroundColor: "#263238", textColor: "#ffffff" },
    },
  },
  document.getElementById("reference"),
);

// What ReDoc 2 lacks for assistive technology (axe-core finds no violation with these):
// - its schema and parameter headings are <h5> right under an operation's <h2>: a level-3 gap;
// - its menu items carry an aria-label without their visible method badge ("post"), so the name
//   a screen reader says is not the text a speech-input user sees and says.
new MutationObserver(() => {
  for (const heading of document.querySelectorAll("#reference h5:not([aria-level])")) {
    heading.setAttribute("aria-level", "3");
  }
  for (const item of document.querySelectorAll("#reference li[role='menuitem'][aria-label]")) {
    item.removeAttribute("aria-label"); // named by its content: the method and the summary
  }
}).observe(document.getElementById("reference"), { childList: true, subtree: true });
