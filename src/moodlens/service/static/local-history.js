// History kept in this browser (the static export, which has no server): per session, what the
// server's history would keep of each analysed frame (observations: track ids, shown labels,
// smoothed probabilities, at most a few a second), never a picture. localStorage, one key; the
// page offers it as a JSON download and deletes it on request.

const KEY = "moodlens.history";
// Observations kept per second: enough for curves, small enough for the browser's few MB.
export const KEEP_PER_SECOND = 4;

function read() {
  try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { return []; }
}

export class LocalHistory {
  constructor() { this.session = null; }

  /** Every kept session, oldest first. */
  sessions() { return read(); }

  begin(name, model) {
    this.session = { name: name || "", started: new Date().toISOString(), model: model || null, observations: [] };
  }

  add(observation) {
    if (this.session) this.session.observations.push({ t: Math.round(observation.t), faces: observation.faces });
  }

  /** Keep the session: true, or false when the browser's storage is full (nothing kept). */
  end() {
    const session = this.session;
    this.session = null;
    if (!session) return true;
    try {
      localStorage.setItem(KEY, JSON.stringify([...read(), session]));
      return true;
    } catch {
      return false;
    }
  }

  clear() { localStorage.removeItem(KEY); }

  /** A download of every kept session, as JSON. */
  exportUrl() {
    const body = JSON.stringify({ format: "moodlens-browser-history/1", sessions: read() }, null, 1);
    return URL.createObjectURL(new Blob([body], { type: "application/json" }));
  }
}
