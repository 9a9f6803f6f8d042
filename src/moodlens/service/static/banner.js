// The live page's connection banner: what happened to the connection (a server restart, a crash,
// a network loss), what the page does about it (tries again, with a countdown) and a Retry button.
// The banner is not a live region: its first line is announced once, through the announcer.

export const WHAT = {
  restart: {
    title: "The server restarted or was stopped: it closed the connection cleanly.",
    help: "What was recorded so far is saved. The page reconnects by itself as soon as the server is back.",
  },
  crash: {
    title: "The connection to the server broke off without a goodbye: the server may have crashed.",
    help: "The page reconnects by itself when the server answers again; if it does not come back, start it again (moodlens serve).",
  },
  network: {
    title: "Cannot reach the server: this computer is offline, or the server is not running.",
    help: "Check the network (or start moodlens serve); the page tries again by itself.",
  },
  busy: {
    title: "The server is busy: it serves as many cameras as it can.",
    help: "The page tries again by itself; closing another live page frees a place.",
  },
  refused: {
    title: "The server refused the connection.",
    help: "If it was started for other machines, open the address it printed, with its ?token=.",
  },
};

export function connectionBanner(root, { onRetry }) {
  const title = root.querySelector(".banner-title");
  const help = root.querySelector(".banner-help");
  const next = root.querySelector(".banner-next");
  const retry = root.querySelector("button");
  let ticker = null;
  retry.addEventListener("click", () => onRetry());

  function countdown(inMs, attempt) {
    clearInterval(ticker);
    const due = Date.now() + inMs;
    const tick = () => {
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      next.textContent = left ? `Next try in ${left} s (attempt ${attempt}).` : "Trying now…";
      if (!left) clearInterval(ticker);
    };
    tick();
    ticker = setInterval(tick, 500);
  }

  return {
    // Down: the banner says why; returns the one line to announce.
    down(kind) {
      const what = WHAT[kind] || WHAT.crash;
      root.dataset.kind = kind;
      title.textContent = what.title;
      help.textContent = what.help;
      next.textContent = "";
      root.classList.remove("hidden");
      return what.title;
    },
    waiting: countdown,
    gaveUp() { this.note("The page stopped trying on its own; press Retry when the server is back."); },
    note(text) { clearInterval(ticker); next.textContent = text; },
    hide() {
      clearInterval(ticker);
      root.classList.add("hidden");
      delete root.dataset.kind;
    },
    get shown() { return !root.classList.contains("hidden"); },
    retryButton: retry,
  };
}
