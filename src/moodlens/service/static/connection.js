// The live page's WebSocket: open it, tell why it closed (a server restart, a crash, a network
// loss), and open it again with back-off until it answers. Events: "open" (detail.reconnected),
// "message" (detail: the parsed message), "down" (detail: {kind, code}), "waiting" (detail:
// {kind, attempt, inMs}), "gaveup" (detail: {kind}).

// Waits between attempts (ms), the last one repeated; after GIVE_UP attempts the page stops trying
// on its own (about two minutes) and offers Retry.
export const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];
export const GIVE_UP = 8;

// Why a socket closed, from its close code (RFC 6455), whether it had opened and whether the
// browser is online: "restart" (the server said goodbye: 1000, 1001 going away, 1012 restart),
// "busy" (1013), "refused" (1008 or an application code), "crash" (no goodbye: 1006, or 1011),
// "network" (offline, or it never connected).
export function whyClosed(code, opened, online) {
  if (!online) return "network";
  if (!opened) return "network";
  if (code === 1000 || code === 1001 || code === 1012) return "restart";
  if (code === 1013) return "busy";
  if (code === 1008 || (code >= 4000 && code < 5000)) return "refused";
  return "crash";
}

export function backoff(attempt, random = Math.random) {
  const base = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
  return Math.round(base * (0.85 + 0.3 * random()));
}

export class Connection extends EventTarget {
  constructor(url) {
    super();
    this.url = url;
    this.ws = null;
    this.wanted = false;     // the page wants a connection (between connect() and close())
    this.attempt = 0;
    this.kind = null;        // why it is down, while it is down
    this.timer = null;
    this.everOpened = false;
    addEventListener("offline", () => this.lost("network", 0));
    addEventListener("online", () => { if (this.wanted && this.kind) this.retryNow(); });
  }

  get open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }

  emit(type, detail) { this.dispatchEvent(new CustomEvent(type, { detail })); }

  connect() {
    this.wanted = true;
    clearTimeout(this.timer);
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.kind = null;
      this.emit("open", { reconnected });
    };
    ws.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      this.emit("message", message);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;  // an older socket, replaced
      this.ws = null;
      if (!this.wanted) return;
      this.lost(whyClosed(event.code, opened, navigator.onLine), event.code);
    };
  }

  // Down: say why once (the first reason holds until it is back up), then wait and try again.
  lost(kind, code) {
    if (!this.wanted) return;
    if (this.ws) { const ws = this.ws; this.ws = null; ws.onclose = null; ws.close(); }
    if (!this.kind) {
      this.kind = kind;
      this.emit("down", { kind, code });
    }
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.attempt >= GIVE_UP) {
      this.wanted = false;
      this.emit("gaveup", { kind: this.kind });
      return;
    }
    const inMs = backoff(this.attempt);
    this.attempt += 1;
    this.emit("waiting", { kind: this.kind, attempt: this.attempt, inMs });
    this.timer = setTimeout(() => this.connect(), inMs);
  }

  retryNow() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.connect();
  }

  send(data) { if (this.open) this.ws.send(data); }

  // Closed by the page: no reconnecting. ``after``: ms to wait for the server's last message.
  close(after = 0) {
    this.wanted = false;
    this.kind = null;
    clearTimeout(this.timer);
    const ws = this.ws;
    if (!ws) return;
    if (after) setTimeout(() => ws.close(), after); else { this.ws = null; ws.close(); }
  }
}
